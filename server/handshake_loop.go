package server

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"time"
)

// linger bounds the time a refused client has to read its response before
// the connection is closed.
const linger = 500 * time.Millisecond

// handshake advances a client whose opening handshake is not done. It
// reads what arrived, and once the request head is complete answers it:
// the client opens (and the caller goes on to serve it in the same turn),
// waits for Authenticate, or is refused. more reports that input may wait
// in the socket; gone, that the client ended.
func (w *worker) handshake(c *Client, r *uint8) (more, gone bool) {
	s := w.s
	*r &^= needRead // this turn's read is the handshake's; upgrade decides on another
	switch c.state {
	case stAuth:
		if *r&needAuthed == 0 {
			return false, false
		}
		return w.authenticated(c, r), false
	case stLinger:
		// Discard what the refused client still sends until it closes.
		for {
			n, err := c.read(w.buf)
			if err == errWouldBlock {
				return false, false
			}
			if err != nil || n == 0 {
				w.finish(c, nil)
				return false, true
			}
		}
	}

	n, err := c.read(w.buf)
	switch {
	case err == errWouldBlock:
		n = 0
	case err != nil, n == 0:
		s.log.Debug("handshake not completed", "remote", c.addr, "err", err)
		w.finish(c, nil)
		return false, true
	}
	more = n == len(w.buf) || (c.hangup && n > 0) // after a hangup no event comes: read on to the end
	if c.in == nil {
		c.in = getBuffer(n)
	}
	c.appendInput(w.buf[:n])
	buf := *c.in
	hs := c.hs

	if s.ProxyProtocol && !hs.proxied {
		size, err := proxyHeaderSize(buf)
		if err != nil {
			s.log.Warn("PROXY protocol: no valid header; connection closed", "peer", c.addr, "err", err)
			w.finish(c, nil)
			return false, true
		}
		if size == 0 {
			return more, false
		}
		from, err := readProxyHeader(bufio.NewReaderSize(bytes.NewReader(buf[:size]), max(size, 16)), c.addr)
		if err != nil {
			s.log.Warn("PROXY protocol: no valid header; connection closed", "peer", c.addr, "err", err)
			w.finish(c, nil)
			return false, true
		}
		c.addr, hs.proxied = from, true
		*c.in = (*c.in)[:copy(*c.in, buf[size:])]
		buf = *c.in
	}

	headLen, err := scanHead(buf, hs.scanned, s.maxHeaderBytes())
	hs.scanned = len(buf)
	switch {
	case err != nil:
		w.refuse(c, headRefusal(err))
		return false, false
	case headLen == 0:
		return more, false
	}
	head := buf[:headLen]
	if s.Handler != nil && !wantsUpgrade(head) {
		w.handOver(c)
		return false, true
	}
	hs.req.RemoteAddr = net.TCPAddrFromAddrPort(c.addr)
	resp, deflate, err := s.answer(head, hs.req)
	if err != nil {
		w.refuse(c, resp)
		return false, false
	}
	*c.in = (*c.in)[:copy(*c.in, buf[headLen:])]
	if len(*c.in) == 0 {
		c.releaseInput()
	}
	c.addr = s.forwardedClient(c.addr, hs.req)
	hs.resp, hs.deflate = resp, deflate
	if s.Authenticate == nil {
		return w.upgrade(c, r) || more, false
	}
	// Authenticate may block: it runs on a goroutine of its own while the
	// client waits, holding no worker.
	c.state = stAuth
	req := hs.req
	go func() {
		err := s.Authenticate(req)
		c.mu.Lock()
		hs.authErr = err
		c.scheduleLocked(needAuthed)
		c.mu.Unlock()
	}()
	return more, false
}

// authenticated answers a client whose Authenticate returned.
func (w *worker) authenticated(c *Client, r *uint8) bool {
	c.mu.Lock()
	err := c.hs.authErr
	c.mu.Unlock()
	if resp, err := authRefusal(err); err != nil {
		w.s.log.Debug("handshake refused", "remote", c.addr, "err", err)
		w.refuse(c, resp)
		return false
	}
	return w.upgrade(c, r)
}

// upgrade opens a client whose request passed every check: the 101 is
// queued, the client is listed, and the turn goes on (r) to OnNewClient
// and the frames that came with the request. It reports whether input is
// waiting in the socket (it never knows of any).
func (w *worker) upgrade(c *Client, r *uint8) bool {
	s := w.s
	if s.state.Load() != serving {
		w.refuse(c, refusal(http.StatusServiceUnavailable, "server shutting down"))
		return false
	}
	c.readDeadline.Store(0)
	c.open(c.hs, nil)
	s.list(c)
	*r |= needOpen | needFlush
	if c.in != nil {
		// Frames came with the request. Otherwise the socket was read
		// until it had nothing more: reading again would only find that
		// out once more, and new bytes raise an event.
		*r |= needRead
	}
	return false
}

// refuse answers a handshake with an HTTP error: the response is queued,
// the output shut down once it is written, and the client's further bytes
// discarded until it closes or linger passes.
func (w *worker) refuse(c *Client, resp []byte) {
	w.s.stats.refused(resp)
	c.state = stLinger
	c.releaseInput()
	c.readDeadline.Store(w.s.deadline(linger))
	c.mu.Lock()
	c.out = append(c.out, chunk{b: resp})
	c.outBytes += len(resp)
	c.mu.Unlock()
}

// handOver passes a plain HTTP connection, with what was read from it, to
// Handler's http.Server: the socket leaves the poller for the Go runtime.
func (w *worker) handOver(c *Client) {
	s := w.s
	read := append([]byte(nil), *c.in...)
	fd := int(c.fd)
	// Out of the poller first: the Go runtime's descriptor will keep the
	// socket, and with it the registration, alive.
	s.poll.Remove(fd)
	nc, err := fileConn(fd)
	w.finish(c, errHandedOver) // closes fd; nc has a descriptor of its own
	if err != nil {
		s.log.Error("cannot pass a plain HTTP request to Handler", "err", err)
		return
	}
	s.handshakes.Add(1)
	go func() {
		defer s.handshakes.Done()
		s.serveHTTP(nc, read)
	}()
}
