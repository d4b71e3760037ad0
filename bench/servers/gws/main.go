// Command gws is the benchmark server on github.com/lxzan/gws: gws.Server
// (a goroutine per connection running ReadLoop, 4 KiB read buffer, no
// compression). Echo answers with WriteMessage from the reading goroutine;
// broadcast uses gws.Broadcaster, which encodes the frame once and queues a
// write on every connection's asynchronous write queue (a goroutine drains
// each queue while it has jobs; one write per frame; the queue has no
// limit).
package main

import (
	"net"
	"sync"

	"github.com/lxzan/gws"
	"github.com/wsloop/wsloop/bench/internal/srvutil"
)

type handler struct {
	gws.BuiltinEventHandler
	broadcast bool
	mu        sync.RWMutex
	conns     map[*gws.Conn]struct{}
}

func (h *handler) OnOpen(c *gws.Conn) {
	srvutil.Conns.Add(1)
	if h.broadcast {
		h.mu.Lock()
		h.conns[c] = struct{}{}
		h.mu.Unlock()
	}
}

func (h *handler) OnClose(c *gws.Conn, err error) {
	srvutil.Conns.Add(-1)
	if h.broadcast {
		h.mu.Lock()
		delete(h.conns, c)
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
	for d := range h.conns {
		b.Broadcast(d)
	}
	h.mu.RUnlock()
}

func main() {
	o := srvutil.Parse("gws")
	h := &handler{broadcast: o.Mode == srvutil.Broadcast, conns: map[*gws.Conn]struct{}{}}
	srv := gws.NewServer(h, &gws.ServerOption{})
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		srvutil.Fatalf("gws: %v", err)
	}
	srvutil.Run(o, func() error { return srv.RunListener(ln) })
}
