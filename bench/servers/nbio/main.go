// Command nbio is the benchmark server on github.com/lesismal/nbio: the
// nbhttp engine (epoll, non-blocking, its default executor pool for
// handlers) with nbhttp/websocket's Upgrader, set up as in nbio's own
// examples (ReleaseWebsocketPayload on). Echo answers with WriteMessage;
// broadcast calls WriteMessage on every connection (nbio has no prepared
// message: each write encodes the frame again; writes never block, output
// the socket cannot take is buffered by nbio without limit).
package main

import (
	"net/http"
	"sync"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
	"github.com/wsloop/wsloop/bench/internal/srvutil"
)

var (
	mu    sync.RWMutex
	conns = map[*websocket.Conn]struct{}{}
)

func main() {
	o := srvutil.Parse("nbio")
	up := websocket.NewUpgrader()
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.OnOpen(func(c *websocket.Conn) {
		srvutil.Conns.Add(1)
		if o.Mode == srvutil.Broadcast {
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
		}
	})
	up.OnClose(func(c *websocket.Conn, err error) {
		srvutil.Conns.Add(-1)
		if o.Mode == srvutil.Broadcast {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}
	})
	up.OnMessage(func(c *websocket.Conn, op websocket.MessageType, data []byte) {
		if o.Mode == srvutil.Echo {
			c.WriteMessage(op, data)
			return
		}
		mu.RLock()
		for d := range conns {
			d.WriteMessage(op, data)
		}
		mu.RUnlock()
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		up.Upgrade(w, r, nil)
	})
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{o.Addr},
		MaxLoad:                 1_000_000,
		ReleaseWebsocketPayload: true,
		Handler:                 mux,
	})
	if err := engine.Start(); err != nil {
		srvutil.Fatalf("nbio: %v", err)
	}
	srvutil.Run(o, func() error { select {} })
	engine.Stop()
}
