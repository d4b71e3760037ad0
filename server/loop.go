package server

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

// runQueue is the FIFO of clients waiting for a worker. A client is in it
// at most once (Client.sched), so its length is bounded by the number of
// clients. Requeued clients go to the back, which keeps a busy client from
// starving the rest.
type runQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	items  []*Client // guarded by mu; items[head:] are waiting
	head   int       // guarded by mu
	closed bool      // guarded by mu
	done   chan struct{}
}

func (q *runQueue) init() {
	q.cond.L = &q.mu
	q.done = make(chan struct{})
}

func (q *runQueue) push(c *Client) {
	q.mu.Lock()
	q.items = append(q.items, c)
	q.mu.Unlock()
	q.cond.Signal()
}

// pop waits for a client; it returns nil once the queue is closed.
func (q *runQueue) pop() *Client {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.items) {
		if q.closed {
			return nil
		}
		q.cond.Wait()
	}
	c := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	return c
}

func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
	close(q.done)
}

// maxIovecs caps the buffers handed to one writev call.
const maxIovecs = 64

// readChunk is how much a worker reads from one client per turn: the
// client's share before the others get theirs.
const readChunk = 64 << 10

// worker holds one worker goroutine's scratch space.
type worker struct {
	s        *Server
	buf      []byte // read buffer, lent to decoding for one turn
	inflated []byte // inflated message, lent to OnMessage
	// iov is flushLocked's list of buffers for one writev. It lives here
	// because a transport's writev is an interface call, through which a
	// local array would escape: one heap allocation per flush.
	iov [maxIovecs][]byte
	st  workerStats
}

// maxKeptInflateBuffer is the largest inflate buffer a worker keeps for the
// next message.
const maxKeptInflateBuffer = 1 << 20

func (s *Server) work() {
	defer s.workers.Done()
	w := &worker{s: s, buf: make([]byte, readChunk)}
	s.stats.addWorker(&w.st)
	for {
		w.st.publish()
		c := s.runq.pop()
		if c == nil {
			return
		}
		if c == s.bcast.job {
			s.pass()
			continue
		}
		w.turn(c)
	}
}

// turn does what a scheduled client needs: its handshake until it is done,
// its OnNewClient, one bounded read with every complete frame in it
// handled, and one write of all its queued output. The client is requeued
// if more remains.
func (w *worker) turn(c *Client) {
	if c.isListener {
		w.acceptTurn(c)
		return
	}
	s := w.s
	c.mu.Lock()
	r := c.reasons
	c.reasons = 0
	if c.dead {
		c.sched = false
		c.mu.Unlock()
		return
	}
	if r&needKill != 0 || (r&needAbort != 0 && c.state != stOpen) {
		c.mu.Unlock()
		w.finish(c, nil)
		return
	}
	if r&needAbort != 0 {
		c.dropUnsentLocked()
		code, reason := closeFor(c.leftErr)
		c.mu.Unlock()
		w.closeNow(c, code, reason)
		return
	}
	if r&needRead != 0 && c.outBytes > s.maxPendingBytes()/2 {
		// Backpressure: leave the input in the socket until the client
		// takes its output.
		c.readPaused = true
		r &^= needRead
	}
	c.mu.Unlock()

	if r&needHangup != 0 {
		c.hangup = true
	}
	more := false
	if c.state != stOpen {
		var gone bool
		more, gone = w.handshake(c, &r)
		if gone {
			return
		}
	}
	if c.state == stOpen {
		if r&needOpen != 0 {
			c.joined = true
			if s.OnNewClient != nil && !w.call(c, cbNewClient, func() { s.OnNewClient(c) }) {
				return
			}
			c.hs = nil // the Request was only for OnNewClient
		}
		if r&needRead != 0 && !c.gotEOF {
			var err error
			more, err = w.read(c)
			if err != nil {
				w.fail(c, err)
				return
			}
		}
	}

	c.mu.Lock()
	c.catchUpLocked()
	if err := w.flushLocked(c); err != nil {
		c.mu.Unlock()
		w.finish(c, fmt.Errorf("%w: %v", ErrConnectionLost, err))
		return
	}
	if c.state == stLinger && c.outBytes == 0 && !c.hs.shut {
		c.hs.shut = true
		c.shutdownWrite()
	}
	if c.readPaused && c.outBytes <= s.maxPendingBytes()/4 {
		c.readPaused = false
		more = true
	}
	done := c.closeAfter && c.outBytes == 0
	lost := c.gotEOF && !c.closeAfter
	if !done && !lost && (more || c.reasons != 0) {
		if more {
			c.reasons |= needRead
		}
		s.runq.push(c) // still sched: back of the queue
		c.mu.Unlock()
		return
	}
	if !done && !lost {
		c.sched = false
	}
	c.mu.Unlock()
	switch {
	case done:
		w.finish(c, nil)
	case lost:
		w.finish(c, ErrConnectionLost)
	}
}

// read reads once from the client's socket and handles every complete frame
// in its buffered input. more reports that more input may wait in the
// socket.
func (w *worker) read(c *Client) (more bool, err error) {
	n, err := c.read(w.buf)
	switch {
	case err == errWouldBlock:
		n = 0
	case err != nil:
		c.gotEOF = true // reset or another socket error: the client is gone
		return false, nil
	case n == 0:
		c.gotEOF = true
	}
	if n > 0 {
		c.lastSeen.Store(w.s.now())
		w.st.read(n)
	}
	data := w.buf[:n]
	if c.in != nil {
		c.appendInput(data)
		data = *c.in
	}
	used, err := w.decode(c, data)
	if err != nil {
		c.releaseInput()
		return false, err
	}
	// Keep the undecoded tail (part of a frame) for the next turn.
	switch rest := data[used:]; {
	case len(rest) == 0:
		c.releaseInput()
	case c.in != nil:
		*c.in = (*c.in)[:copy(*c.in, rest)]
	default:
		c.in = getBuffer(len(rest))
		*c.in = append(*c.in, rest...)
	}
	// A frame or fragmented message that was started must be finished
	// within ReadTimeout of its start; trickling bytes does not extend it.
	if c.in != nil || c.dec.Buffered() > 0 {
		if c.readDeadline.Load() == 0 {
			c.readDeadline.Store(w.s.deadline(w.s.readTimeout()))
		}
	} else if c.readDeadline.Load() != 0 {
		c.readDeadline.Store(0)
	}
	// Edge-triggered: a short read normally means the socket is drained
	// and new bytes will bring a new event. After a hangup no further event
	// comes, so keep reading until the end of stream or the error shows.
	return n == len(w.buf) || (c.hangup && n > 0), nil
}

// appendInput adds data to the client's partial input, moving it to a
// larger pooled buffer when it does not fit.
func (c *Client) appendInput(data []byte) {
	in := *c.in
	if cap(in)-len(in) < len(data) {
		bigger := getBuffer(max(2*cap(in), len(in)+len(data)))
		*bigger = append(*bigger, in...)
		putBuffer(c.in)
		c.in = bigger
	}
	*c.in = append(*c.in, data...)
}

// releaseInput drops the client's partial input.
func (c *Client) releaseInput() {
	if c.in != nil {
		putBuffer(c.in)
		c.in = nil
	}
}

// decode handles the frames in data and returns how many bytes were used.
func (w *worker) decode(c *Client, data []byte) (int, error) {
	s := w.s
	used := 0
	for used < len(data) && !c.gotClose {
		ev, n, err := c.dec.Next(data[used:])
		used += n
		w.st.frame(n)
		if err != nil {
			return used, err
		}
		switch ev.Kind {
		case wsproto.KindNone:
			if n == 0 {
				return used, nil
			}
		case wsproto.KindMessage:
			payload := ev.Payload
			if ev.Compressed {
				if payload, err = w.inflate(ev); err != nil {
					return used, err
				}
			}
			w.st.message()
			if s.OnMessage != nil {
				m := Message{Op: ev.Op, Data: payload}
				if !w.call(c, cbMessage, func() { s.OnMessage(c, m) }) {
					return used, errCallbackFailed
				}
			}
		case wsproto.KindPing:
			c.mu.Lock()
			if !c.closeSent {
				c.catchUpLocked()
				c.out = append(c.out, chunk{b: wsproto.AppendFrame(nil, ws.OpPong, true, ev.Payload)})
				c.outBytes += len(c.out[len(c.out)-1].b)
			}
			c.mu.Unlock()
		case wsproto.KindPong:
		case wsproto.KindClose:
			c.gotClose = true
			c.mu.Lock()
			if !c.closeSent {
				// Echo the client's code, after the output already queued.
				code := ev.Code
				if code == ws.StatusNoStatusRcvd {
					code = 0
				}
				c.queueCloseLocked(code, "")
				c.leftErr = &CloseError{Code: ev.Code, Reason: ev.Reason}
			}
			c.closeAfter = true
			c.mu.Unlock()
		}
	}
	return used, nil
}

var errCallbackFailed = errors.New("callback failed")

var errInflatedUTF8 = &wsproto.Error{Code: ws.StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in text message"}

// inflate decompresses a compressed message into the worker's buffer,
// stopping at MaxMessageSize, and checks the text of a text message.
func (w *worker) inflate(ev wsproto.Event) ([]byte, error) {
	if cap(w.inflated) > maxKeptInflateBuffer {
		w.inflated = nil
	}
	out, err := wsproto.InflateMessage(w.inflated[:0], ev.Payload, w.s.maxMessageSize(), nil)
	if err != nil {
		return nil, err
	}
	w.inflated = out
	if ev.Op == ws.OpText && !utf8.Valid(out) {
		return nil, errInflatedUTF8
	}
	return out, nil
}

// call runs a callback for c, recovering a panic: the panic is logged and
// the client closed with 1011. It reports whether the callback returned
// normally. kind says which callback it is, for Stats.
func (w *worker) call(c *Client, kind int, fn func()) (ok bool) {
	defer func() {
		if ok {
			return
		}
		v := recover()
		w.s.log.Error("callback panicked; closing its client", "client", c.id, "panic", v, "stack", string(debug.Stack()))
		c.mu.Lock()
		if c.leftErr == nil {
			c.leftErr = fmt.Errorf("%w: %v", ErrCallbackPanic, v)
		}
		c.mu.Unlock()
		w.closeNow(c, ws.StatusInternalServerError, "internal error")
	}()
	defer w.st.took(w.st.call(kind))
	fn()
	return true
}

// fail answers a protocol violation (or a callback failure) with its close
// code and ends the client without waiting for an answer.
func (w *worker) fail(c *Client, err error) {
	if errors.Is(err, errCallbackFailed) {
		return // call already closed the client
	}
	var perr *wsproto.Error
	if errors.As(err, &perr) {
		c.mu.Lock()
		if err == wsproto.ErrCloseCode && c.closeSent {
			// The answer to our close frame, echoing a code only a server
			// may send (1012 from Drain): the closing handshake is done.
			c.mu.Unlock()
			w.finish(c, nil)
			return
		}
		if c.leftErr == nil {
			c.leftErr = perr
		}
		c.mu.Unlock()
		w.s.log.Debug("protocol error", "client", c.id, "err", err)
		w.closeNow(c, perr.Code, perr.Reason)
		return
	}
	w.finish(c, err)
}

// closeNow queues a close frame (unless one was sent), makes one attempt to
// write the queued output, and ends the client.
func (w *worker) closeNow(c *Client, code ws.StatusCode, reason string) {
	c.mu.Lock()
	if !c.closeSent {
		c.queueCloseLocked(code, reason)
	}
	w.flushLocked(c)
	c.mu.Unlock()
	w.finish(c, nil)
}

// flushLocked writes queued output until it is all gone or the socket's
// buffer is full, listing the buffers in iov (the worker's). c.mu must be
// held.
func (c *Client) flushLocked(iov *[maxIovecs][]byte) error {
	c.writeBlocked = false
	for len(c.out) > 0 {
		k := 0
		for ; k < len(c.out) && k < maxIovecs; k++ {
			iov[k] = c.out[k].b[c.out[k].off:]
		}
		n, err := c.writev(iov[:k])
		clear(iov[:k]) // keep no queued bytes alive
		if err == errWouldBlock {
			c.writeBlocked = true
			if c.writeStall.Load() == 0 {
				c.writeStall.Store(c.srv.now())
			}
			return nil
		}
		if err != nil {
			c.releaseOutLocked()
			return err
		}
		c.outBytes -= n
		if n > 0 && c.writeStall.Load() != 0 {
			c.writeStall.Store(0)
		}
		i := 0
		for ; i < len(c.out) && n > 0; i++ {
			ch := &c.out[i]
			left := len(ch.b) - ch.off
			if n < left {
				ch.off += n
				n = 0
				break
			}
			n -= left
			if ch.pooled != nil {
				putBuffer(ch.pooled)
			}
			*ch = chunk{}
		}
		if i > 0 {
			m := copy(c.out, c.out[i:])
			clear(c.out[m:])
			c.out = c.out[:m]
		}
	}
	c.out = nil // an idle client keeps no queue array
	if c.tr != nil {
		// A transport may hold output of its own (ciphertext, bytes for
		// its writer goroutine): the flush is done when it has none.
		if _, err := c.tr.writev(nil); err == errWouldBlock {
			c.writeBlocked = true
			if c.writeStall.Load() == 0 {
				c.writeStall.Store(c.srv.now())
			}
			return nil
		} else if err != nil {
			return err
		}
	}
	if c.writeStall.Load() != 0 {
		c.writeStall.Store(0)
	}
	return nil
}

// finish ends the client: the socket is closed, the client leaves the table
// and OnClientLeft runs. Only the worker that has c scheduled calls it.
func (w *worker) finish(c *Client, err error) {
	s := w.s
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	c.sched = false
	if c.leftErr != nil {
		err = c.leftErr
	}
	w.st.ended(c, err)
	c.releaseOutLocked()
	c.out = nil
	c.mu.Unlock()
	c.closeDeadline.Store(0)
	c.readDeadline.Store(0)
	c.writeStall.Store(0)

	s.unregisterFD(c)
	s.leaveAllRooms(c)
	c.releaseInput()
	c.dec.Reset()
	s.log.Debug("client left", "client", c.id, "err", err)
	if s.OnClientLeft != nil && c.joined {
		func() {
			defer func() {
				if v := recover(); v != nil {
					s.log.Error("OnClientLeft panicked", "client", c.id, "panic", v, "stack", string(debug.Stack()))
				}
			}()
			defer w.st.took(w.st.call(cbClientLeft))
			s.OnClientLeft(c, err)
		}()
	}
	s.unregister(c)
}

// unregisterFD takes c out of the server and closes its connection. The
// table entry goes first so that a new client given the same descriptor
// number is never mistaken for c.
func (s *Server) unregisterFD(c *Client) {
	s.forget(c)
	c.closeConn()
}

// forget takes c out of the table (or others) and the connected clients.
func (s *Server) forget(c *Client) {
	s.mu.Lock()
	if c.tr != nil && c.fd < 0 {
		delete(s.others, c)
	} else if fd := int(c.fd); fd < len(s.table) && s.table[fd] == c {
		s.table[fd] = nil
	}
	if c.listed {
		c.listed = false
		s.nclients--
		s.leaveLog(c)
	}
	s.mu.Unlock()
}
