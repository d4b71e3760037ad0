// Command wsloop is the benchmark server built on our own library,
// github.com/wsloop/wsloop/server, with the echo and broadcast handlers of
// cmd/wsserver: an epoll event loop with GOMAXPROCS worker goroutines, one
// descriptor per client and no goroutine per connection. Echo answers with
// Client.SendBinary/SendText. Broadcast follows the project's convention: a
// client on "/" publishes to everyone with Server.BroadcastBinary/Text, a
// client on "/room/NAME" joins room NAME (Client.Join) and publishes to it
// with Server.PublishBinary/Text (the path is read from Client.Request in
// OnNewClient); either way the frame is encoded (and, with -deflate,
// compressed) once and shared by every member's queue. With -tls-cert it
// serves wss with Server.ServeTLS (crypto/tls driven by the event loop).
package main

import (
	"net"
	"sync"

	"github.com/wsloop/wsloop/bench/internal/srvutil"
	"github.com/wsloop/wsloop/server"
)

func main() {
	o := srvutil.Parse("wsloop")
	srv := &server.Server{
		Compression:  o.Deflate,
		OnNewClient:  func(*server.Client) { srvutil.Conns.Add(1) },
		OnClientLeft: func(*server.Client, error) { srvutil.Conns.Add(-1) },
	}
	switch o.Mode {
	case srvutil.Echo:
		srv.OnMessage = func(c *server.Client, m server.Message) {
			if m.Op == server.Text {
				c.SendText(string(m.Data))
			} else {
				c.SendBinary(m.Data)
			}
		}
	case srvutil.Broadcast:
		var roomOf sync.Map // *Client → room, for clients in a named room
		srv.OnNewClient = func(c *server.Client) {
			srvutil.Conns.Add(1)
			if room := srvutil.RoomOf(c.Request().Path); room != "" {
				roomOf.Store(c, room)
				c.Join(room)
			}
		}
		srv.OnClientLeft = func(c *server.Client, _ error) {
			srvutil.Conns.Add(-1)
			roomOf.Delete(c)
		}
		srv.OnMessage = func(c *server.Client, m server.Message) {
			room, ok := roomOf.Load(c)
			switch {
			case !ok && m.Op == server.Text:
				srv.BroadcastText(string(m.Data))
			case !ok:
				srv.BroadcastBinary(m.Data)
			case m.Op == server.Text:
				srv.PublishText(room.(string), string(m.Data))
			default:
				srv.PublishBinary(room.(string), m.Data)
			}
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		srvutil.Fatalf("wsloop: %v", err)
	}
	if o.TLS() {
		srv.TLSConfig = o.TLSConfig()
		srvutil.Run(o, func() error { return srv.ServeTLS(ln, "", "") })
	} else {
		srvutil.Run(o, func() error { return srv.Serve(ln) })
	}
	srv.Close()
}
