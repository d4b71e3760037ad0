// Command nbio is the benchmark server on github.com/lesismal/nbio: the
// nbhttp engine (epoll, non-blocking, its default executor pool for
// handlers) with nbhttp/websocket's Upgrader, set up as in nbio's own
// examples (ReleaseWebsocketPayload on). With -tls-cert it serves TLS with
// nbio's own non-blocking TLS (github.com/lesismal/llib/std/crypto/tls, on
// AddrsTLS, as nbio's websocket_tls example does); with -deflate it
// negotiates permessage-deflate (level 1, no context takeover). Echo
// answers with WriteMessage; broadcast calls WriteMessage on every member of
// the sender's room (nbio has no prepared message: each write encodes, and
// with -deflate compresses, the frame again; writes never block, output the
// socket cannot take is buffered by nbio without limit).
package main

import (
	"net/http"
	"sync"

	"github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
	"github.com/wsloop/wsloop/bench/internal/srvutil"
)

var (
	mu    sync.RWMutex
	rooms srvutil.Rooms[*websocket.Conn] // guarded by mu

	// pending holds the room of a request between the handler and OnOpen
	// (called inside Upgrade), by remote address.
	pending sync.Map
)

func roomOf(c *websocket.Conn) string {
	s, _ := c.Session().(string)
	return s
}

func main() {
	o := srvutil.Parse("nbio")
	broadcast := o.Mode == srvutil.Broadcast
	up := websocket.NewUpgrader()
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.EnableCompression(o.Deflate)
	up.OnOpen(func(c *websocket.Conn) {
		srvutil.Conns.Add(1)
		if broadcast {
			room, _ := pending.LoadAndDelete(c.RemoteAddr().String())
			name, _ := room.(string)
			c.SetSession(name)
			mu.Lock()
			rooms.Join(c, name)
			mu.Unlock()
		}
	})
	up.OnClose(func(c *websocket.Conn, err error) {
		srvutil.Conns.Add(-1)
		if broadcast {
			mu.Lock()
			rooms.Leave(c, roomOf(c))
			mu.Unlock()
		}
	})
	up.OnMessage(func(c *websocket.Conn, op websocket.MessageType, data []byte) {
		if !broadcast {
			c.WriteMessage(op, data)
			return
		}
		mu.RLock()
		for _, d := range rooms.Members(roomOf(c)) {
			d.WriteMessage(op, data)
		}
		mu.RUnlock()
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if broadcast {
			if room := srvutil.RoomOf(r.URL.Path); room != "" {
				pending.Store(r.RemoteAddr, room)
			}
		}
		if _, err := up.Upgrade(w, r, nil); err != nil {
			pending.Delete(r.RemoteAddr)
		}
	})
	conf := nbhttp.Config{
		Network:                 "tcp",
		MaxLoad:                 1_000_000,
		ReleaseWebsocketPayload: true,
		Handler:                 mux,
	}
	if o.TLS() {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			srvutil.Fatalf("nbio: %v", err)
		}
		conf.AddrsTLS = []string{o.Addr}
		conf.TLSConfig = &tls.Config{
			Certificates:     []tls.Certificate{cert},
			CurvePreferences: []tls.CurveID{tls.X25519}, // as the crypto/tls servers (srvutil.TLSConfig)
		}
	} else {
		conf.Addrs = []string{o.Addr}
	}
	engine := nbhttp.NewEngine(conf)
	if err := engine.Start(); err != nil {
		srvutil.Fatalf("nbio: %v", err)
	}
	srvutil.Run(o, func() error { select {} })
	engine.Stop()
}
