// Command gws is the benchmark server on github.com/lxzan/gws: gws.Server
// (a goroutine per connection running ReadLoop, 4 KiB read buffer; over
// crypto/tls with -tls-cert, as gws's own RunTLS does; permessage-deflate
// without context takeover with -deflate). Echo answers with WriteMessage
// from the reading goroutine. Broadcast uses gws.Broadcaster, which encodes
// (and, for clients that negotiated it, compresses) the frame once and
// queues a write on every member's asynchronous write queue (a goroutine
// drains each queue while it has jobs; one write per frame; the queue has
// no limit). The room is read from the request path in Authorize and kept
// in the connection's session, as gws intends.
package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"

	"github.com/lxzan/gws"
	"github.com/wsloop/wsloop/bench/internal/srvutil"
)

const roomKey = "room"

type handler struct {
	gws.BuiltinEventHandler
	broadcast bool
	mu        sync.RWMutex
	rooms     srvutil.Rooms[*gws.Conn] // guarded by mu
}

func roomOf(c *gws.Conn) string {
	v, _ := c.Session().Load(roomKey)
	s, _ := v.(string)
	return s
}

func (h *handler) OnOpen(c *gws.Conn) {
	srvutil.Conns.Add(1)
	if h.broadcast {
		h.mu.Lock()
		h.rooms.Join(c, roomOf(c))
		h.mu.Unlock()
	}
}

func (h *handler) OnClose(c *gws.Conn, err error) {
	srvutil.Conns.Add(-1)
	if h.broadcast {
		h.mu.Lock()
		h.rooms.Leave(c, roomOf(c))
		h.mu.Unlock()
	}
}

func (h *handler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	if !h.broadcast {
		c.WriteMessage(m.Opcode, m.Bytes())
		return
	}
	b := gws.NewBroadcaster(m.Opcode, m.Bytes())
	defer b.Close()
	h.mu.RLock()
	for _, d := range h.rooms.Members(roomOf(c)) {
		b.Broadcast(d)
	}
	h.mu.RUnlock()
}

func main() {
	o := srvutil.Parse("gws")
	h := &handler{broadcast: o.Mode == srvutil.Broadcast}
	opt := &gws.ServerOption{
		Authorize: func(r *http.Request, s gws.SessionStorage) bool {
			if room := srvutil.RoomOf(r.URL.Path); room != "" {
				s.Store(roomKey, room)
			}
			return true
		},
	}
	if o.Deflate {
		opt.PermessageDeflate.Enabled = true // level 1, no context takeover by default
	}
	srv := gws.NewServer(h, opt)
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		srvutil.Fatalf("gws: %v", err)
	}
	if o.TLS() {
		cfg := o.TLSConfig()
		cfg.NextProtos = []string{"http/1.1"} // as gws.Server.RunTLS sets it
		ln = tls.NewListener(ln, cfg)
	}
	srvutil.Run(o, func() error { return srv.RunListener(ln) })
}
