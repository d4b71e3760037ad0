// Command gorilla is the benchmark server on github.com/gorilla/websocket:
// net/http accepts (over crypto/tls with -tls-cert), each connection is
// upgraded and then served by its own goroutine (the handler's). Echo reads
// with ReadMessage and answers with WriteMessage. Broadcast encodes each
// message once as a PreparedMessage (which also compresses it at most once,
// with -deflate) and writes it to every member of the sender's room from
// the sender's goroutine, each connection's writes serialised by its own
// mutex (gorilla allows one writer at a time).
package main

import (
	"crypto/tls"
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
	rooms srvutil.Rooms[*conn] // guarded by mu
)

func main() {
	o := srvutil.Parse("gorilla")
	up := websocket.Upgrader{
		CheckOrigin:       func(*http.Request) bool { return true },
		EnableCompression: o.Deflate, // no context takeover, level 1 by default
	}
	broadcast := o.Mode == srvutil.Broadcast
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &conn{ws: ws}
		room := srvutil.RoomOf(r.URL.Path)
		srvutil.Conns.Add(1)
		if broadcast {
			mu.Lock()
			rooms.Join(c, room)
			mu.Unlock()
		}
		defer func() {
			if broadcast {
				mu.Lock()
				rooms.Leave(c, room)
				mu.Unlock()
			}
			srvutil.Conns.Add(-1)
			ws.Close()
		}()
		for {
			op, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if !broadcast {
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
			for _, d := range rooms.Members(room) {
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
	srv := &http.Server{Handler: handler}
	if o.TLS() {
		// WebSocket upgrades are HTTP/1.1: no h2 in ALPN.
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		srv.TLSConfig = o.TLSConfig()
		srvutil.Run(o, func() error { return srv.ServeTLS(ln, "", "") })
		return
	}
	srvutil.Run(o, func() error { return srv.Serve(ln) })
}
