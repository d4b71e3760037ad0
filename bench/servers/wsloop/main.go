// Command wsloop is the benchmark server built on our own library,
// github.com/wsloop/wsloop/server, with the echo and broadcast handlers of
// cmd/wsserver: an epoll event loop with GOMAXPROCS worker goroutines, one
// descriptor per client and no goroutine per connection. Echo answers with
// Client.SendBinary/SendText. Broadcast follows the project's convention: a
// client on "/" publishes to everyone with Server.BroadcastBinary/Text, a
// client on "/room/NAME" joins room NAME (Client.Join) and publishes to it
// with Server.PublishBinary/Text; either way the frame is encoded (and, with
// -deflate, compressed) once and shared by every member's queue.
package main

import (
	"net"
	"sync"

	"github.com/wsloop/wsloop/bench/internal/srvutil"
	"github.com/wsloop/wsloop/server"
)

func main() {
	o := srvutil.Parse("wsloop")
	if o.TLS() {
		srvutil.Usagef("wsloop: -tls-cert: the library does not serve TLS yet")
	}
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
		// The room a client asked for is read in Authenticate (it sees the
		// request) and picked up by OnNewClient by remote address.
		var pending, roomOf sync.Map // remote address → room; *Client → room
		srv.Authenticate = func(r *server.Request) error {
			if room := srvutil.RoomOf(r.Path); room != "" {
				pending.Store(r.RemoteAddr.String(), room)
			}
			return nil
		}
		srv.OnNewClient = func(c *server.Client) {
			srvutil.Conns.Add(1)
			if room, ok := pending.LoadAndDelete(c.RemoteAddr().String()); ok {
				roomOf.Store(c, room)
				c.Join(room.(string))
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
	srvutil.Run(o, func() error { return srv.Serve(ln) })
	srv.Close()
}
