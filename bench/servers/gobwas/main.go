// Command gobwas is the benchmark server on github.com/gobwas/ws: a
// goroutine per connection upgrades it with ws.Upgrade and reads frames with
// wsutil.Reader over a 4 KiB bufio.Reader into a buffer reused across
// messages. Echo writes the answer from the reading goroutine (header and
// payload in one write). Broadcast encodes the frame once and hands it to a
// writer goroutine per connection, which batches every frame waiting for
// it into one writev; its queue holds up to 1024 frames and a full queue
// makes the publisher wait (backpressure instead of unbounded memory).
package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/wsloop/wsloop/bench/internal/srvutil"
)

const queueLen = 1024

type conn struct {
	nc   net.Conn
	out  chan []byte   // broadcast frames for the writer goroutine
	done chan struct{} // closed when the reader ends
}

var (
	mu    sync.RWMutex
	conns = map[*conn]struct{}{}
)

func main() {
	o := srvutil.Parse("gobwas")
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		srvutil.Fatalf("gobwas: %v", err)
	}
	srvutil.Run(o, func() error {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return err
			}
			go serve(nc, o.Mode == srvutil.Broadcast)
		}
	})
}

func serve(nc net.Conn, broadcast bool) {
	defer nc.Close()
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	srvutil.Conns.Add(1)
	defer srvutil.Conns.Add(-1)
	c := &conn{nc: nc}
	if broadcast {
		c.out = make(chan []byte, queueLen)
		c.done = make(chan struct{})
		go c.writer()
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			close(c.done)
		}()
	}
	var wmu sync.Mutex // control frame answers vs. echo writes
	br := bufio.NewReaderSize(nc, 4096)
	rd := &wsutil.Reader{
		Source:          br,
		State:           ws.StateServerSide,
		CheckUTF8:       true,
		SkipHeaderCheck: false,
		OnIntermediate: func(h ws.Header, r io.Reader) error {
			wmu.Lock()
			defer wmu.Unlock()
			return wsutil.ControlFrameHandler(nc, ws.StateServerSide)(h, r)
		},
	}
	var msg bytes.Buffer
	var out []byte
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return
		}
		if h.OpCode.IsControl() {
			if err := rd.OnIntermediate(h, rd); err != nil {
				return // includes the close handshake (wsutil.ClosedError)
			}
			continue
		}
		msg.Reset()
		if _, err := msg.ReadFrom(rd); err != nil {
			return
		}
		out = appendFrame(out[:0], h.OpCode, msg.Bytes())
		if !broadcast {
			wmu.Lock()
			_, err = nc.Write(out)
			wmu.Unlock()
			if err != nil {
				return
			}
			continue
		}
		frame := append([]byte(nil), out...) // shared by every queue
		mu.RLock()
		for d := range conns {
			select {
			case d.out <- frame:
			case <-d.done:
			}
		}
		mu.RUnlock()
	}
}

// writer writes queued broadcast frames, all that are waiting in one writev.
func (c *conn) writer() {
	bufs := make(net.Buffers, 0, 64)
	for {
		var f []byte
		select {
		case f = <-c.out:
		case <-c.done:
			return
		}
		bufs = append(bufs[:0], f)
	more:
		for len(bufs) < cap(bufs) {
			select {
			case f = <-c.out:
				bufs = append(bufs, f)
			default:
				break more
			}
		}
		b := bufs
		if _, err := b.WriteTo(c.nc); err != nil {
			c.nc.Close()
			// Keep draining so that publishers never wait on a dead client.
			for {
				select {
				case <-c.out:
				case <-c.done:
					return
				}
			}
		}
	}
}

// appendFrame appends an unmasked final frame.
func appendFrame(dst []byte, op ws.OpCode, p []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}
	var hb [ws.MaxHeaderSize]byte
	w := bytes.NewBuffer(hb[:0])
	ws.WriteHeader(w, h)
	dst = append(dst, w.Bytes()...)
	return append(dst, p...)
}
