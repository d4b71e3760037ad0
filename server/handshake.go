package server

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

// The opening handshake has three ways in, all ending in answer and
// authenticate below:
//
//   - on the event loop (handshake_loop.go): a connection accepted by the
//     workers from a listener the poller watches; its request is read as
//     it arrives, with no goroutine and nothing but its bytes held;
//   - on a goroutine of its own (handshake_conn.go): TLS, listeners without
//     a descriptor, and systems without a poller;
//   - from an http.Server (http.go): Upgrade and ServeHTTP hijack the
//     connection once net/http has parsed the request.

var (
	errHeadTooLarge   = errors.New("request header too large")
	errBadRequestLine = errors.New("malformed request line")
)

// handshakeState is what a client holds while its handshake is under way;
// it is dropped once OnNewClient has returned.
type handshakeState struct {
	req     *Request
	resp    []byte      // the 101 response, once the request passed every check
	deflate deflateMode // the permessage-deflate mode agreed
	authErr error       // Authenticate's answer; written before needAuthed is raised
	scanned int         // bytes of input already searched for the end of the head
	proxied bool        // the PROXY protocol header was read
	shut    bool        // a refused client's output was shut down
}

// scanHead looks for the end of the request head at the start of buf,
// which holds every byte read so far; from is how much of buf earlier
// calls searched. It returns the head's length once it is complete, 0 while
// more is needed, errBadRequestLine as soon as a malformed first line is
// complete, and errHeadTooLarge once buf passes limit without a complete
// head.
func scanHead(buf []byte, from, limit int) (int, error) {
	if i := bytes.IndexByte(buf, '\n'); i >= 0 && (from <= i) {
		if !validRequestLine(buf[:i]) {
			return 0, errBadRequestLine
		}
	}
	start := max(0, from-3)
	if i := bytes.Index(buf[start:], []byte("\r\n\r\n")); i >= 0 && start+i+4 <= limit {
		return start + i + 4, nil
	}
	if len(buf) > limit {
		return 0, errHeadTooLarge
	}
	return 0, nil
}

// readHead reads until the end of the request head. It returns every byte
// read, with the head being the first headLen of them.
func readHead(r io.Reader, limit int) (buf []byte, headLen int, err error) {
	buf = make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		from := len(buf)
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		headLen, err := scanHead(buf, from, limit)
		if err != nil || headLen > 0 {
			return buf, headLen, err
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

// headRefusal is the response to a head that scanHead rejected.
func headRefusal(err error) []byte {
	if errors.Is(err, errHeadTooLarge) {
		return refusal(http.StatusRequestHeaderFieldsTooLarge, "handshake error: request header over the size limit")
	}
	return refusal(http.StatusBadRequest, "handshake error: malformed request line")
}

// answer checks a complete request head and decides the response: a 101
// with the permessage-deflate mode agreed, or, with a non-nil error saying
// why, an HTTP error response. It fills req from the head. Authenticate is
// not called here (see authenticate): it may block, and the event loop
// runs it elsewhere.
func (s *Server) answer(head []byte, req *Request) (resp []byte, deflate deflateMode, err error) {
	if !bytes.HasPrefix(head, []byte("GET ")) {
		return refusal(http.StatusBadRequest, "handshake error: method must be GET"), 0, errNotGET
	}
	if d := s.denied.Load(); d != nil {
		return refusal(d.Status, d.Reason), 0, d
	}
	if s.state.Load() != serving {
		return refusal(http.StatusServiceUnavailable, "server shutting down"), 0, ErrServerClosed
	}
	u := ws.Upgrader{}
	s.collectRequest(&u, req)
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

// collectRequest makes the upgrader fill req with the request and run the
// origin check before it answers.
func (s *Server) collectRequest(u *ws.Upgrader, req *Request) {
	req.Header = make(http.Header)
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
		return nil, nil
	}
}

// authenticate runs Authenticate, if set, and returns the refusal to send
// when it says no, or nil.
func (s *Server) authenticate(req *Request) (refused []byte, err error) {
	if s.Authenticate == nil {
		return nil, nil
	}
	return authRefusal(s.Authenticate(req))
}

// authRefusal is the response to Authenticate's error, nil for none.
func authRefusal(err error) ([]byte, error) {
	if err == nil {
		return nil, nil
	}
	status, reason := http.StatusForbidden, "forbidden"
	var rej *RejectError
	if errors.As(err, &rej) {
		status, reason = rej.Status, rej.Reason
	}
	return refusal(status, reason), err
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

// refusal is an HTTP error response.
func refusal(status int, reason string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(reason), reason)
}

// newClient makes the client for a connection whose handshake succeeded:
// the 101 response is its first output and rest, the bytes that followed
// the request, its first input.
func (s *Server) newClient(addr netip.AddrPort, hs *handshakeState, rest []byte) *Client {
	c := &Client{id: s.nextID.Add(1), addr: addr, srv: s, fd: -1, hs: hs}
	c.open(hs, rest)
	return c
}

// open makes a client whose request passed every check ready for frames:
// its 101 is queued and the bytes behind the request become its input.
func (c *Client) open(hs *handshakeState, rest []byte) {
	s := c.srv
	c.state = stOpen
	c.dec.RequireMask = true
	c.dec.MaxMessageSize = s.maxMessageSize()
	c.dec.AllowRSV1 = hs.deflate != deflateOff
	c.deflate = hs.deflate
	c.out = append(c.out, chunk{b: hs.resp})
	c.outBytes += len(hs.resp)
	hs.resp = nil
	if len(rest) > 0 && c.in == nil {
		c.in = getBuffer(len(rest))
		*c.in = append(*c.in, rest...)
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
