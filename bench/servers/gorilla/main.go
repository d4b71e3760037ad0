// Command gorilla is the benchmark server on github.com/gorilla/websocket:
// net/http accepts, each connection is upgraded and then served by its own
// goroutine (the handler's). Echo reads with ReadMessage and answers with
// WriteMessage; broadcast encodes the message once as a PreparedMessage and
// writes it to every connection from the publisher's goroutine, each
// connection's writes serialised by its own mutex (gorilla allows one writer
// at a time).
package main

import (
	"net"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/bench/internal/srvutil"
)

type conn struct {
	ws *websocket.Conn
	mu sync.Mutex // one writer at a time
}

var (
	mu    sync.RWMutex
	conns = map[*conn]struct{}{}
)

func main() {
	o := srvutil.Parse("gorilla")
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &conn{ws: ws}
		srvutil.Conns.Add(1)
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			srvutil.Conns.Add(-1)
			ws.Close()
		}()
		for {
			op, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if o.Mode == srvutil.Echo {
				c.mu.Lock()
				err = ws.WriteMessage(op, data)
				c.mu.Unlock()
				if err != nil {
					return
				}
				continue
			}
			pm, err := websocket.NewPreparedMessage(op, data)
			if err != nil {
				return
			}
			mu.RLock()
			for d := range conns {
				d.mu.Lock()
				d.ws.WritePreparedMessage(pm)
				d.mu.Unlock()
			}
			mu.RUnlock()
		}
	})
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		srvutil.Fatalf("gorilla: %v", err)
	}
	srvutil.Run(o, func() error { return http.Serve(ln, handler) })
}
