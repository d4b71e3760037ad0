package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// handshakeConn runs on a goroutine of its own for a connection accepted
// by Serve's accept loop: TLS connections, listeners without a descriptor,
// and every connection where the system has no poller. It reads the PROXY
// header, completes TLS and reads the request with blocking calls, then
// hands the connection to the workers: as a descriptor when it has one, as
// a goroutine-driven transport otherwise.
func (s *Server) handshakeConn(nc net.Conn, tlsCfg *tls.Config) {
	defer s.handshakes.Done()
	s.stats.handshaking.Add(1)
	defer s.stats.handshaking.Add(-1)
	deadline := time.Now().Add(s.handshakeTimeout())
	nc.SetDeadline(deadline)
	hs := &handshakeState{req: &Request{}}
	peer := addrPort(nc.RemoteAddr())
	addr := peer

	var conn net.Conn = nc
	if s.ProxyProtocol {
		if !s.proxyTrusted(peer) {
			s.log.Warn("PROXY protocol: connection from an untrusted address closed", "peer", nc.RemoteAddr())
			s.stats.handshakeFailures.Add(1)
			nc.Close()
			return
		}
		br := bufio.NewReader(nc)
		from, err := readProxyHeader(br, peer)
		if err != nil {
			s.log.Warn("PROXY protocol: no valid header; connection closed", "peer", nc.RemoteAddr(), "err", err)
			s.stats.handshakeLost(err)
			nc.Close()
			return
		}
		addr, hs.proxied = from, true
		conn = &prefixConn{Conn: nc, r: br}
	}
	var pipe *tlsPipe
	if tlsCfg != nil {
		pipe = &tlsPipe{nc: conn}
		pipe.tc = tls.Server(pipe, tlsCfg)
		if err := pipe.tc.Handshake(); err != nil {
			s.tlsHandshakeFailed(nc, err)
			return
		}
		conn = pipe.tc
	}

	buf, headLen, err := readHead(conn, s.maxHeaderBytes())
	switch {
	case errors.Is(err, errHeadTooLarge), errors.Is(err, errBadRequestLine):
		s.refuseConn(conn, headRefusal(err), err)
		return
	case err != nil:
		s.log.Debug("handshake not completed", "remote", addr, "err", err)
		s.stats.handshakeLost(err)
		conn.Close()
		return
	}
	head, rest := buf[:headLen], buf[headLen:]
	if s.Handler != nil && !wantsUpgrade(head) {
		s.serveHTTP(conn, buf)
		return
	}
	hs.req.RemoteAddr = net.TCPAddrFromAddrPort(addr)
	resp, deflate, err := s.answer(head, hs.req)
	if err == nil {
		addr = s.forwardedClient(addr, hs.req)
		resp, err = s.authorize(hs.req, resp)
	}
	if err != nil {
		s.refuseConn(conn, resp, err)
		return
	}
	hs.resp, hs.deflate = resp, deflate
	if pc, ok := conn.(*prefixConn); ok {
		rest = append(rest, pc.buffered()...) // read past the PROXY header with it
	}
	c := s.newClient(addr, hs, rest)
	if err := s.takeConn(c, nc, pipe, conn); err != nil {
		s.log.Error("cannot take over upgraded connection", "remote", addr, "err", err)
		s.refuseConn(conn, refusal(http.StatusServiceUnavailable, "server out of resources"), err)
	}
}

// authorize runs Authenticate for a request that passed every other check
// and returns the response to send: resp, or the refusal.
func (s *Server) authorize(req *Request, resp []byte) ([]byte, error) {
	refused, err := s.authenticate(req)
	if err != nil {
		return refused, err
	}
	return resp, nil
}

// takeConn gives an upgraded connection to the workers. A plain connection
// with a descriptor, or a TLS one over such a connection, is detached from
// the Go runtime and watched by the poller; anything else gets a
// goroutine-driven transport over conn.
func (s *Server) takeConn(c *Client, nc net.Conn, pipe *tlsPipe, conn net.Conn) error {
	if s.poll != nil && (conn == nc || pipe != nil || isPrefixOf(conn, nc)) {
		var pending []byte
		if pipe != nil {
			if pc, ok := pipe.nc.(*prefixConn); ok {
				pending = pc.buffered()
			}
		}
		fd, err := detach(nc)
		switch {
		case err == nil:
			c.fd = int32(fd)
			if pipe != nil {
				c.tr = pipe.detach(fd, pending)
			}
			if err := s.register(c); err != nil {
				c.closeConn()
			}
			return nil
		case !errors.Is(err, errNoDescriptor):
			return err
		}
	}
	conn.SetDeadline(time.Time{})
	g := newGoConn(c, conn)
	c.tr = g
	if err := s.register(c); err != nil {
		conn.Close()
		return nil
	}
	g.start()
	return nil
}

// isPrefixOf reports whether conn is nc behind a prefixConn.
func isPrefixOf(conn, nc net.Conn) bool {
	pc, ok := conn.(*prefixConn)
	return ok && pc.Conn == nc
}

// tlsHandshakeFailed answers a failed TLS handshake: a plain HTTP request
// on the TLS port gets a 400 in plain HTTP, as net/http does; anything
// else has been sent its alert by crypto/tls and is closed.
func (s *Server) tlsHandshakeFailed(nc net.Conn, err error) {
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) && rec.Conn != nil && looksLikeHTTP(rec.RecordHeader[:]) {
		s.log.Debug("plain HTTP on the TLS port", "remote", nc.RemoteAddr())
		s.stats.refusedStatus(400)
		nc.SetDeadline(time.Now().Add(time.Second))
		io.WriteString(nc, "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		lingerClose(nc)
		return
	}
	s.log.Debug("TLS handshake failed", "remote", nc.RemoteAddr(), "err", err)
	s.stats.handshakeLost(err)
	nc.Close()
}

// looksLikeHTTP reports whether the first bytes of a connection are the
// start of an HTTP request line.
func looksLikeHTTP(b []byte) bool {
	for _, method := range []string{"GET ", "HEAD ", "POST ", "PUT ", "OPTIO", "DELET", "PATCH", "CONNE", "TRACE"} {
		if bytes.HasPrefix(b, []byte(method[:min(len(method), len(b))])) {
			return true
		}
	}
	return false
}

// refuseConn sends an HTTP error response and closes the connection.
func (s *Server) refuseConn(conn net.Conn, resp []byte, why error) {
	s.log.Debug("handshake refused", "remote", conn.RemoteAddr(), "err", why)
	s.stats.refused(resp)
	conn.Write(resp)
	lingerClose(conn)
}

// lingerClose closes the connection after the peer had a chance to read
// what was written: closing with unread input would send a reset that can
// destroy the response in flight.
func lingerClose(nc net.Conn) {
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
		nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.CopyN(io.Discard, nc, 256<<10)
	}
	nc.Close()
}

// serveHTTP passes a plain HTTP connection, with the bytes already read from
// it, to an http.Server running Handler.
func (s *Server) serveHTTP(nc net.Conn, read []byte) {
	nc.SetDeadline(time.Time{})
	s.mu.Lock()
	if s.state.Load() != serving {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.httpLn == nil {
		s.httpLn = &connListener{addr: nc.LocalAddr(), conns: make(chan net.Conn), done: make(chan struct{})}
		s.httpSrv = &http.Server{
			Handler:           s.Handler,
			ReadHeaderTimeout: s.handshakeTimeout(),
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		go s.httpSrv.Serve(s.httpLn)
	}
	ln := s.httpLn
	s.mu.Unlock()
	pc := &prefixConn{Conn: nc, r: io.MultiReader(bytes.NewReader(read), nc)}
	select {
	case ln.conns <- pc:
	case <-ln.done:
		nc.Close()
	}
}

// connListener is a net.Listener fed with connections that arrived on the
// server's own listener but turned out to be plain HTTP.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// buffered returns the bytes read from the connection and not yet taken
// from c.r, when c.r is a bufio.Reader.
func (c *prefixConn) buffered() []byte {
	if br, ok := c.r.(*bufio.Reader); ok {
		b, _ := br.Peek(br.Buffered())
		return b
	}
	return nil
}
