// Command wsloop is the benchmark server built on our own library,
// github.com/wsloop/wsloop/server, with the echo and broadcast handlers of
// cmd/wsserver: an epoll event loop with GOMAXPROCS worker goroutines, one
// descriptor per client and no goroutine per connection.
package main

import (
	"net"

	"github.com/wsloop/wsloop/bench/internal/srvutil"
	"github.com/wsloop/wsloop/server"
)

func main() {
	o := srvutil.Parse("wsloop")
	srv := &server.Server{
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
		srv.OnMessage = func(c *server.Client, m server.Message) {
			if m.Op == server.Text {
				srv.BroadcastText(string(m.Data))
			} else {
				srv.BroadcastBinary(m.Data)
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
