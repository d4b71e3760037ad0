package server

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

var errHeadTooLarge = errors.New("request header too large")
var errBadRequestLine = errors.New("malformed request line")

// handshake runs on a goroutine of its own for each accepted connection,
// with the Go runtime waiting for its bytes, until the connection is
// upgraded (and handed to the poller), refused, or passed to Handler.
func (s *Server) handshake(nc net.Conn) {
	defer s.handshakes.Done()
	nc.SetDeadline(time.Now().Add(s.handshakeTimeout()))

	buf, headLen, err := readHead(nc, s.maxHeaderBytes())
	switch {
	case errors.Is(err, errHeadTooLarge):
		s.refuse(nc, http.StatusRequestHeaderFieldsTooLarge, "handshake error: request header over the size limit")
		return
	case errors.Is(err, errBadRequestLine):
		s.refuse(nc, http.StatusBadRequest, "handshake error: malformed request line")
		return
	case err != nil:
		s.log.Debug("handshake not completed", "remote", nc.RemoteAddr(), "err", err)
		nc.Close()
		return
	}
	head, rest := buf[:headLen], buf[headLen:]
	if s.Handler != nil && !wantsUpgrade(head) {
		s.serveHTTP(nc, buf)
		return
	}

	// The response is not written yet: a refusal goes out on the Go
	// connection, and a 101 only once the socket is ours, so that a client
	// never sees a 101 for a connection that cannot be kept.
	resp, deflate, err := s.answer(head, nc.RemoteAddr())
	if err != nil {
		s.log.Debug("handshake refused", "remote", nc.RemoteAddr(), "err", err)
		nc.Write(resp)
		lingerClose(nc)
		return
	}
	remote := nc.RemoteAddr()
	fd, err := detach(nc)
	if err != nil {
		s.log.Error("cannot take over upgraded connection", "remote", remote, "err", err)
		s.refuse(nc, http.StatusServiceUnavailable, "server out of resources")
		return
	}
	c := &Client{id: s.nextID.Add(1), addr: addrPort(remote), srv: s, fd: int32(fd)}
	c.dec.RequireMask = true
	c.dec.MaxMessageSize = s.maxMessageSize()
	c.dec.AllowRSV1 = deflate != deflateOff
	c.deflate = deflate
	c.out = append(c.out, chunk{b: resp})
	c.outBytes = len(resp)
	if len(rest) > 0 {
		// Frames the client sent right behind its request.
		c.in = getBuffer(len(rest))
		*c.in = append(*c.in, rest...)
	}
	if err := s.register(c); err != nil {
		closeFD(fd)
	}
}

// addrPort returns a TCP address by value; other addresses give the zero
// AddrPort.
func addrPort(a net.Addr) netip.AddrPort {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.AddrPort()
	}
	return netip.AddrPort{}
}

// answer decides the response to a complete request header: a 101 with
// the permessage-deflate mode agreed, or, with a non-nil error saying why,
// an HTTP error response.
func (s *Server) answer(head []byte, remote net.Addr) (resp []byte, deflate deflateMode, err error) {
	if !bytes.HasPrefix(head, []byte("GET ")) {
		return refusal(http.StatusBadRequest, "handshake error: method must be GET"), 0, errNotGET
	}
	if d := s.denied.Load(); d != nil {
		return refusal(d.Status, d.Reason), 0, d
	}
	u := ws.Upgrader{}
	if s.Authenticate != nil || len(s.AllowedOrigins) > 0 {
		s.inspectRequest(&u, remote)
	}
	if s.Compression {
		deflate = s.negotiateDeflate(&u, head)
	}
	var out bytes.Buffer
	rw := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(head), &out}
	if _, err := u.Upgrade(rw); err != nil {
		if out.Len() == 0 {
			// The upgrader gives up without a response on a request it
			// cannot parse at all.
			return refusal(http.StatusBadRequest, "handshake error: malformed request"), 0, err
		}
		return out.Bytes(), 0, err
	}
	return out.Bytes(), deflate, nil
}

var errNotGET = errors.New("handshake error: method must be GET")

// inspectRequest makes the upgrader collect the request for the origin
// check and Authenticate, and run them before it answers.
func (s *Server) inspectRequest(u *ws.Upgrader, remote net.Addr) {
	req := &Request{RemoteAddr: remote, Header: make(http.Header)}
	u.OnRequest = func(uri []byte) error {
		req.URI = string(uri)
		parsed, err := url.ParseRequestURI(req.URI)
		if err != nil {
			return ws.RejectConnectionError(ws.RejectionStatus(http.StatusBadRequest),
				ws.RejectionReason("handshake error: bad request URI"))
		}
		req.Path, req.Query = parsed.Path, parsed.Query()
		return nil
	}
	u.OnHost = func(host []byte) error {
		req.Host = string(host)
		return nil
	}
	u.OnHeader = func(key, value []byte) error {
		req.Header.Add(string(key), string(value))
		return nil
	}
	u.OnBeforeUpgrade = func() (ws.HandshakeHeader, error) {
		if origin := req.Header.Get("Origin"); origin != "" && !s.originAllowed(origin) {
			return nil, ws.RejectConnectionError(ws.RejectionStatus(http.StatusForbidden),
				ws.RejectionReason("handshake error: origin not allowed"))
		}
		if s.Authenticate == nil {
			return nil, nil
		}
		err := s.Authenticate(req)
		if err == nil {
			return nil, nil
		}
		status, reason := http.StatusForbidden, "forbidden"
		var rej *RejectError
		if errors.As(err, &rej) {
			status, reason = rej.Status, rej.Reason
		}
		return nil, ws.RejectConnectionError(ws.RejectionStatus(status), ws.RejectionReason(reason))
	}
}

// negotiateDeflate answers the client's permessage-deflate offers, if any
// can be accepted, in the upgrade response.
func (s *Server) negotiateDeflate(u *ws.Upgrader, head []byte) deflateMode {
	resp, params, ok := wsproto.NegotiateDeflate(headerValues(head, "Sec-WebSocket-Extensions"))
	if !ok {
		return deflateOff
	}
	header := ws.HandshakeHeaderString("Sec-WebSocket-Extensions: " + resp + "\r\n")
	before := u.OnBeforeUpgrade
	u.OnBeforeUpgrade = func() (ws.HandshakeHeader, error) {
		if before != nil {
			if _, err := before(); err != nil {
				return nil, err
			}
		}
		return header, nil
	}
	if wsproto.CompressionLevel(params, flate.BestSpeed) == flate.HuffmanOnly {
		return deflateHuffmanOnly
	}
	return deflateOn
}

// headerValues returns the values of every header line called name.
func headerValues(head []byte, name string) []string {
	var values []string
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			values = append(values, string(bytes.TrimSpace(v)))
		}
	}
	return values
}

// originAllowed reports whether origin matches AllowedOrigins (always true
// when the list is empty).
func (s *Server) originAllowed(origin string) bool {
	if len(s.AllowedOrigins) == 0 {
		return true
	}
	for _, pattern := range s.AllowedOrigins {
		if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(origin)); ok {
			return true
		}
	}
	return false
}

// readHead reads until the end of the request header. It returns every byte
// read, with the header being the first headLen of them. A malformed request
// line is reported as soon as the line is complete.
func readHead(r io.Reader, limit int) (buf []byte, headLen int, err error) {
	buf = make([]byte, 0, 1024)
	lineChecked := false
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		from := max(0, len(buf)-3)
		buf = buf[:len(buf)+n]
		if !lineChecked {
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				if !validRequestLine(buf[:i]) {
					return nil, 0, errBadRequestLine
				}
				lineChecked = true
			}
		}
		if i := bytes.Index(buf[from:], []byte("\r\n\r\n")); i >= 0 && from+i+4 <= limit {
			return buf, from + i + 4, nil
		}
		if len(buf) > limit {
			return nil, 0, errHeadTooLarge
		}
		if rerr != nil {
			return nil, 0, rerr
		}
	}
}

// validRequestLine checks the shape "METHOD SP target SP HTTP/1.x" (with the
// line's CR, if any).
func validRequestLine(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\r"))
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 {
		return false
	}
	for _, b := range method {
		if b < 'A' || b > 'Z' {
			return false
		}
	}
	return bytes.HasPrefix(proto, []byte("HTTP/1."))
}

// wantsUpgrade reports whether the request header has an Upgrade header
// naming websocket.
func wantsUpgrade(head []byte) bool {
	for _, v := range headerValues(head, "Upgrade") {
		if strings.Contains(strings.ToLower(v), "websocket") {
			return true
		}
	}
	return false
}

// refuse answers a handshake with an HTTP error and closes the connection.
func (s *Server) refuse(nc net.Conn, status int, reason string) {
	s.log.Debug("handshake refused", "remote", nc.RemoteAddr(), "status", status, "reason", reason)
	nc.Write(refusal(status, reason))
	lingerClose(nc)
}

// refusal is an HTTP error response.
func refusal(status int, reason string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(reason), reason)
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
