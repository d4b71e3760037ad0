package server

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// goConn is the transport of a connection that has no descriptor the
// poller can watch: a *tls.Conn from a listener of the caller's or from an
// http.Server, or any connection where the system has neither epoll nor
// kqueue. Two goroutines stand in for the poller: one blocks in Read and
// hands what arrives to the workers, the other blocks in Write with what
// the workers queued. Everything else — decoding, callbacks, limits,
// timeouts — is the same as for a descriptor. Such a client costs its two
// goroutines (a few KiB of stack each) and a read buffer.
type goConn struct {
	c  *Client
	nc net.Conn

	mu       sync.Mutex
	cond     sync.Cond // signalled when in shrinks, out grows or the conn closes
	in       []byte    // read and not yet taken by a worker
	inErr    error     // how the input ended, once it did (io.EOF at the end)
	out      []byte    // taken from a worker, not yet written
	outErr   error     // why writing failed, once it did
	blocked  bool      // writev refused bytes: schedule a flush when out drains
	shutdown bool      // end the output once out is written
	closed   bool
}

// Bounds on the bytes a goConn holds on each side: input waits in the
// kernel beyond goConnInMax, and writev takes nothing while out is over
// goConnOutMax.
const (
	goConnInMax  = 64 << 10
	goConnOutMax = 256 << 10
	goConnReadSz = 16 << 10
)

func newGoConn(c *Client, nc net.Conn) *goConn {
	g := &goConn{c: c, nc: nc}
	g.cond.L = &g.mu
	return g
}

// start runs the goroutines; the client must be registered first, so that
// the events they raise find it.
func (g *goConn) start() {
	go g.readLoop()
	go g.writeLoop()
}

func (g *goConn) readLoop() {
	buf := make([]byte, goConnReadSz)
	for {
		g.mu.Lock()
		for len(g.in) >= goConnInMax && !g.closed {
			g.cond.Wait()
		}
		if g.closed {
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		n, err := g.nc.Read(buf)
		g.mu.Lock()
		g.in = append(g.in, buf[:n]...)
		if err != nil {
			g.inErr = err
		}
		g.mu.Unlock()
		g.c.schedule(needRead)
		if err != nil {
			return
		}
	}
}

func (g *goConn) writeLoop() {
	var buf []byte
	for {
		g.mu.Lock()
		for len(g.out) == 0 && !g.closed && !g.shutdown {
			g.cond.Wait()
		}
		switch {
		case len(g.out) == 0 && g.closed:
			g.mu.Unlock()
			g.nc.Close()
			return
		case len(g.out) == 0: // shutdown
			g.mu.Unlock()
			if cw, ok := g.nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			g.mu.Lock()
			for !g.closed {
				g.cond.Wait()
			}
			g.mu.Unlock()
			g.nc.Close()
			return
		}
		buf, g.out = g.out, buf[:0]
		g.mu.Unlock()
		_, err := g.nc.Write(buf)
		g.mu.Lock()
		if err != nil && g.outErr == nil {
			g.outErr = err
		}
		wake := g.blocked || err != nil
		g.blocked = false
		closed := g.closed
		g.mu.Unlock()
		if err != nil {
			g.nc.Close()
			if !closed {
				g.c.schedule(needFlush)
			}
			return
		}
		if wake && !closed {
			g.c.schedule(needFlush)
		}
	}
}

func (g *goConn) read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.in) > 0 {
		wasFull := len(g.in) >= goConnInMax
		n := copy(p, g.in)
		g.in = g.in[:copy(g.in, g.in[n:])]
		if wasFull {
			g.cond.Broadcast()
		}
		if g.inErr != nil {
			// No event will follow the end of the input: have the worker
			// read on until it sees it, as after a poller's hangup.
			g.c.hangup = true
		}
		return n, nil
	}
	switch {
	case g.inErr == nil:
		return 0, errWouldBlock
	case errors.Is(g.inErr, io.EOF):
		return 0, nil
	default:
		return 0, g.inErr
	}
}

func (g *goConn) writev(bufs [][]byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.outErr != nil {
		return 0, g.outErr
	}
	if len(g.out) >= goConnOutMax || (len(bufs) == 0 && len(g.out) > 0) {
		// Full, or asked whether everything went out: it has not yet.
		g.blocked = true
		return 0, errWouldBlock
	}
	n := 0
	for _, b := range bufs {
		if len(g.out) >= goConnOutMax {
			break
		}
		g.out = append(g.out, b...)
		n += len(b)
	}
	g.cond.Broadcast()
	return n, nil
}

func (g *goConn) shutdownWrite() {
	g.mu.Lock()
	g.shutdown = true
	g.mu.Unlock()
	g.cond.Broadcast()
}

// close ends the connection once the writer has sent what it was given
// (the close frame, often), allowing it closeLinger for that; the reader
// ends with it.
func (g *goConn) close() {
	g.mu.Lock()
	g.closed = true
	g.in = nil
	g.mu.Unlock()
	g.cond.Broadcast()
	g.nc.SetWriteDeadline(time.Now().Add(closeLinger))
}

// closeLinger bounds the time a closed goConn's writer has to send what it
// was given.
const closeLinger = time.Second

// schedule queues the client for a worker with reason r, as the poller
// does for a descriptor's events.
func (c *Client) schedule(r uint8) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scheduleLocked(r)
}
