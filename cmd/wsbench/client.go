package main

import (
	"bufio"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/pires/go-proxyproto"

	"github.com/wsloop/wsloop/wsproto"
)

// The client side of RFC 6455, kept small: one blocking net.Conn, a read
// buffer that frames are decoded from in place, a write buffer reused for
// every frame and a mutex so that the reader can answer pings while another
// goroutine writes messages. permessage-deflate (RFC 7692) is supported when
// offered with -compress.

const wsAcceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

var (
	// errCloseDone is returned by ReadMessage when the server answered our
	// close frame: the normal end of a connection.
	errCloseDone = errors.New("websocket closed normally")
	// errClosing is returned by writes after the close frame was sent.
	errClosing = errors.New("websocket is closing: close frame already sent")
	// errMessageTooBig is returned when the server sends a message larger than
	// the client accepts.
	errMessageTooBig = errors.New("message from server too big")
)

// handshakeError is a failed HTTP upgrade; kind names it in the report.
type handshakeError struct {
	kind string
	msg  string
}

func (e *handshakeError) Error() string { return e.msg }

// closeError is a close frame the server sent on its own.
type closeError struct {
	code   ws.StatusCode
	reason string
}

func (e *closeError) Error() string {
	if e.reason != "" {
		return fmt.Sprintf("server sent close frame %d %q", e.code, e.reason)
	}
	return fmt.Sprintf("server sent close frame %d", e.code)
}

// protocolError is a frame the client cannot accept.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "protocol error: " + e.msg }

// phaseError marks in which phase of a connection an error happened.
type phaseError struct {
	phase string // "dial" or "handshake"
	err   error
}

func (e *phaseError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// deflateOffer is what -compress offers: no context takeover either way, so
// that a connection keeps no compression state between messages and a
// message the server compressed once for many clients reaches each of them
// as the same bytes.
const deflateOffer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// dialOptions are the settings shared by the connections to one endpoint
// (a target address and request path).
type dialOptions struct {
	addr      string
	timeout   time.Duration
	readBuf   int
	maxMsg    int64
	deflate   bool        // permessage-deflate offered
	protocols []string    // subprotocols offered
	tls       *tls.Config // wss://
	proxy     byte        // PROXY protocol version to send first: 1, 2, or 0 for none
	proxySrc  *addrCycle  // the PROXY header's source addresses; nil: the socket's own
	reqStart  string      // request line and fixed headers, up to the key header
}

func newDialOptions(t *target, requestURI string, cfg *config) *dialOptions {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", requestURI, t.host)
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
	if cfg.Compress {
		b.WriteString("Sec-WebSocket-Extensions: " + deflateOffer + "\r\n")
	}
	if len(cfg.protocols) > 0 {
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(cfg.protocols, ", ") + "\r\n")
	}
	for _, h := range cfg.Headers {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("Sec-WebSocket-Key: ")
	o := &dialOptions{
		addr:      t.addr,
		timeout:   cfg.Timeout,
		readBuf:   cfg.ReadBuf,
		maxMsg:    cfg.maxMessage(),
		deflate:   cfg.Compress,
		protocols: cfg.protocols,
		proxy:     cfg.proxyVersion,
		proxySrc:  cfg.proxySrc,
		reqStart:  b.String(),
	}
	if t.tls {
		o.tls = cfg.tlsConfig(t.hostname)
	}
	return o
}

// addrCycle hands out addresses from a list in turn.
type addrCycle struct {
	ips  []net.IP
	next atomic.Uint64
}

func (a *addrCycle) take() net.IP { return a.ips[(a.next.Add(1)-1)%uint64(len(a.ips))] }

// writeProxyHeader sends the PROXY protocol header (v1 or v2) that a
// proxy in front of the server would: from the socket's own address, or
// from the next -proxy-src-addrs address with the socket's port.
func writeProxyHeader(nc net.Conn, o *dialOptions) error {
	src, dst := nc.LocalAddr(), nc.RemoteAddr()
	if o.proxySrc != nil {
		port := 0
		if a, ok := src.(*net.TCPAddr); ok {
			port = a.Port
		}
		src = &net.TCPAddr{IP: o.proxySrc.take(), Port: port}
	}
	_, err := proxyproto.HeaderProxyFromAddrs(o.proxy, src, dst).WriteTo(nc)
	return err
}

// deflateState is what a connection that negotiated permessage-deflate
// needs to know about it.
type deflateState struct {
	// takeover: the server keeps its LZ77 window across messages, so each
	// message is inflated with the previous ones' output as dictionary.
	takeover bool
	// level is the compress/flate level for our messages: HuffmanOnly
	// when the server limited our window below 32 KiB.
	level  int
	window []byte // takeover only: the last 32 KiB inflated
}

// wsConn is one client WebSocket connection.
type wsConn struct {
	nc       net.Conn
	maxMsg   int64
	deflate  *deflateState // nil: not negotiated
	protocol string        // the subprotocol the server selected

	// Owned by the reading goroutine.
	rb     []byte // read buffer; rb[r:w] is unread
	r, w   int
	norm   int    // the read buffer's usual size
	filled bool   // the last read filled the buffer
	readNS int64  // wall clock (ns) when the last read from the socket returned
	msg    []byte // a fragmented message being reassembled
	infl   []byte // inflated message
	ctrl   [125]byte
	// keepCompressed makes ReadMessage return compressed messages as they
	// came (compressed true) instead of inflating them; ignored with
	// context takeover.
	keepCompressed bool

	wmu       sync.Mutex
	wb        []byte // frame being written; guarded by wmu
	scratch   []byte // payload being compressed; guarded by wmu
	comp      []byte // its compressed form; guarded by wmu
	closeSent atomic.Bool
}

// dialWS opens a TCP connection with d and upgrades it to a WebSocket.
// Errors are *phaseError values naming the phase that failed.
func dialWS(ctx context.Context, d *net.Dialer, o *dialOptions) (*wsConn, error) {
	nc, err := d.DialContext(ctx, "tcp", o.addr)
	if err != nil {
		return nil, &phaseError{phase: "dial", err: err}
	}
	if err := nc.SetDeadline(time.Now().Add(o.timeout)); err != nil {
		nc.Close()
		return nil, &phaseError{phase: "dial", err: err}
	}
	if o.proxy != 0 {
		if err := writeProxyHeader(nc, o); err != nil {
			nc.Close()
			return nil, &phaseError{phase: "proxy", err: err}
		}
	}
	if o.tls != nil {
		tc := tls.Client(nc, o.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, &phaseError{phase: "tls", err: err}
		}
		nc = tc
	}
	c, err := clientHandshake(nc, o)
	if err != nil {
		nc.Close()
		return nil, &phaseError{phase: "handshake", err: err}
	}
	return c, nil
}

// clientHandshake sends the upgrade request and checks the 101 response.
func clientHandshake(nc net.Conn, o *dialOptions) (*wsConn, error) {
	if err := nc.SetDeadline(time.Now().Add(o.timeout)); err != nil {
		return nil, err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand panics instead)
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := make([]byte, 0, len(o.reqStart)+len(key)+4)
	req = append(req, o.reqStart...)
	req = append(req, key...)
	req = append(req, "\r\n\r\n"...)
	if _, err := nc.Write(req); err != nil {
		return nil, fmt.Errorf("sending upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(nc, max(o.readBuf, 512))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("reading upgrade response: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, &handshakeError{
			kind: fmt.Sprintf("handshake_status_%d", resp.StatusCode),
			msg:  fmt.Sprintf("server answered the upgrade with %q instead of 101", resp.Status),
		}
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") || !headerHasToken(resp.Header, "Connection", "upgrade") {
		return nil, &handshakeError{kind: "handshake_bad_headers",
			msg: fmt.Sprintf("101 response without Upgrade: websocket / Connection: upgrade (got %q / %q)",
				resp.Header.Get("Upgrade"), resp.Header.Get("Connection"))}
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key); got != want {
		return nil, &handshakeError{kind: "handshake_bad_accept",
			msg: fmt.Sprintf("wrong Sec-WebSocket-Accept %q, want %q", got, want)}
	}
	c := &wsConn{nc: nc, maxMsg: o.maxMsg, norm: o.readBuf}
	if p := strings.TrimSpace(resp.Header.Get("Sec-WebSocket-Protocol")); p != "" {
		if !slices.Contains(o.protocols, p) {
			return nil, &handshakeError{kind: "handshake_bad_subprotocol",
				msg: fmt.Sprintf("server selected subprotocol %q, offered %q", p, strings.Join(o.protocols, ", "))}
		}
		c.protocol = p
	}
	if exts := resp.Header.Values("Sec-WebSocket-Extensions"); len(exts) > 0 {
		d, err := acceptDeflate(exts, o.deflate)
		if err != nil {
			return nil, err
		}
		c.deflate = d
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	// Bytes the server sent right behind its response are the first frames.
	n := br.Buffered()
	c.rb = make([]byte, max(o.readBuf, n))
	if n > 0 {
		p, _ := br.Peek(n)
		c.w = copy(c.rb, p)
	}
	return c, nil
}

// acceptDeflate checks the server's Sec-WebSocket-Extensions answer: one
// permessage-deflate element, and only if it was offered.
func acceptDeflate(values []string, offered bool) (*deflateState, error) {
	bad := func(format string, args ...any) error {
		return &handshakeError{kind: "handshake_bad_extension", msg: fmt.Sprintf(format, args...)}
	}
	var elems []string
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				elems = append(elems, e)
			}
		}
	}
	if len(elems) == 0 {
		return nil, nil
	}
	if !offered {
		return nil, bad("server selected extension %q that was not offered", strings.Join(values, ", "))
	}
	if len(elems) > 1 {
		return nil, bad("server selected %d extensions %q, only permessage-deflate was offered", len(elems), strings.Join(elems, ", "))
	}
	params := strings.Split(elems[0], ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" {
		return nil, bad("server selected extension %q that was not offered", elems[0])
	}
	d := &deflateState{takeover: true, level: flate.BestSpeed}
	seen := map[string]bool{}
	for _, p := range params[1:] {
		name, value, hasValue := strings.Cut(strings.TrimSpace(p), "=")
		name = strings.TrimSpace(name)
		value = strings.Trim(strings.TrimSpace(value), `"`)
		if seen[name] {
			return nil, bad("permessage-deflate parameter %q twice in %q", name, elems[0])
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return nil, bad("permessage-deflate parameter %q with a value in %q", name, elems[0])
			}
			if name == "server_no_context_takeover" {
				d.takeover = false
			}
		case "server_max_window_bits", "client_max_window_bits":
			bits, err := strconv.Atoi(value)
			if !hasValue || err != nil || bits < 8 || bits > 15 {
				return nil, bad("permessage-deflate parameter %q needs a value 8..15 in %q", name, elems[0])
			}
			if name == "client_max_window_bits" && bits < 15 {
				// compress/flate always uses a 32 KiB window; Huffman-only
				// output uses none at all.
				d.level = flate.HuffmanOnly
			}
		default:
			return nil, bad("unknown permessage-deflate parameter %q in %q", name, elems[0])
		}
	}
	return d, nil
}

// acceptKey computes the Sec-WebSocket-Accept value for a key.
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsAcceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// headerHasToken reports whether a comma-separated header contains token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// newMask returns a random masking key. math/rand/v2's global generator is
// ChaCha8 seeded by the runtime: unpredictable enough for masking, and cheap.
func newMask() (m [4]byte) {
	binary.LittleEndian.PutUint32(m[:], mrand.Uint32())
	return m
}

// appendFrame appends to dst one masked, final frame whose payload is a
// followed by b, compressed if the connection negotiated permessage-deflate
// and op is a data opcode. The caller holds c.wmu.
func (c *wsConn) appendFrame(dst []byte, op ws.OpCode, a, b []byte) []byte {
	var rsv byte
	if c.deflate != nil && (op == ws.OpText || op == ws.OpBinary) {
		c.scratch = append(append(c.scratch[:0], a...), b...)
		c.comp = wsproto.CompressMessage(c.comp[:0], c.scratch, c.deflate.level)
		a, b, rsv = c.comp, nil, ws.Rsv(true, false, false)
	}
	h := ws.Header{Fin: true, Rsv: rsv, OpCode: op, Masked: true, Mask: newMask(), Length: int64(len(a) + len(b))}
	dst = wsproto.AppendHeader(dst, h)
	start := len(dst)
	dst = append(dst, a...)
	dst = append(dst, b...)
	ws.Cipher(dst[start:], h.Mask, 0)
	return dst
}

// WriteMessage sends a data message whose payload is a followed by b (two
// parts so that callers can send a header plus shared filler without
// copying it first).
func (c *wsConn) WriteMessage(op ws.OpCode, a, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return errClosing
	}
	c.wb = c.appendFrame(c.wb[:0], op, a, b)
	_, err := c.nc.Write(c.wb)
	return err
}

// WriteFrames sends frames built with AppendFrame in one write.
func (c *wsConn) WriteFrames(frames []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return errClosing
	}
	_, err := c.nc.Write(frames)
	return err
}

// AppendFrame appends a data frame to dst for WriteFrames; see appendFrame.
func (c *wsConn) AppendFrame(dst []byte, op ws.OpCode, a, b []byte) []byte {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.appendFrame(dst, op, a, b)
}

// SendClose sends a close frame with code unless one was already sent. The
// write gives up after timeout (a server that stopped reading must not hang
// the end of the run).
func (c *wsConn) SendClose(code ws.StatusCode, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Swap(true) {
		return nil
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	var body [2]byte
	binary.BigEndian.PutUint16(body[:], uint16(code))
	c.wb = c.appendFrame(c.wb[:0], ws.OpClose, body[:], nil)
	_, err := c.nc.Write(c.wb)
	return err
}

// CloseSent reports whether the client has sent its close frame.
func (c *wsConn) CloseSent() bool { return c.closeSent.Load() }

func (c *wsConn) writeControl(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return nil // after our close frame only the server's close matters
	}
	c.wb = c.appendFrame(c.wb[:0], op, payload, nil)
	_, err := c.nc.Write(c.wb)
	return err
}

// maxReadGrow is the size up to which a connection's read buffer doubles
// while reads fill it: idle connections keep their small buffer, busy ones
// read more per system call.
const maxReadGrow = 16 << 10

// fill makes sure that at least n unread bytes are in the read buffer,
// reading from the socket as needed; every read stamps c.readNS.
func (c *wsConn) fill(n int) error {
	if c.w-c.r >= n {
		return nil
	}
	if len(c.rb)-c.r < n {
		// Move what is unread to the front, into a buffer of the usual size
		// if that holds n (back to it after a big message), grown if reads
		// kept filling it.
		if c.filled && c.norm < maxReadGrow {
			c.norm = min(2*c.norm, maxReadGrow)
		}
		c.filled = false
		size := max(c.norm, n, c.w-c.r)
		if size != len(c.rb) {
			nb := make([]byte, size)
			c.w = copy(nb, c.rb[c.r:c.w])
			c.rb = nb
		} else {
			c.w = copy(c.rb, c.rb[c.r:c.w])
		}
		c.r = 0
	}
	for c.w-c.r < n {
		k, err := c.nc.Read(c.rb[c.w:])
		if k > 0 {
			c.readNS = nowNS()
			c.filled = c.w+k == len(c.rb)
			c.w += k
			continue
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		if err == io.EOF && c.w > c.r {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// frameHeader decodes the frame header at the start of the unread bytes,
// reading more as needed; it returns the header and its size.
func (c *wsConn) frameHeader() (ws.Header, int, error) {
	if err := c.fill(2); err != nil {
		return ws.Header{}, 0, err
	}
	b0, b1 := c.rb[c.r], c.rb[c.r+1]
	h := ws.Header{
		Fin:    b0&0x80 != 0,
		Rsv:    (b0 >> 4) & 7,
		OpCode: ws.OpCode(b0 & 0x0f),
		Masked: b1&0x80 != 0,
		Length: int64(b1 & 0x7f),
	}
	size := 2
	switch h.Length {
	case 126:
		size = 4
	case 127:
		size = 10
	}
	lenSize := size
	if h.Masked {
		size += 4
	}
	if err := c.fill(size); err != nil {
		return h, 0, err
	}
	p := c.rb[c.r+2:]
	switch lenSize {
	case 4:
		h.Length = int64(binary.BigEndian.Uint16(p))
	case 10:
		u := binary.BigEndian.Uint64(p)
		if u > 1<<62 {
			return h, 0, &protocolError{fmt.Sprintf("frame length %d", u)}
		}
		h.Length = int64(u)
	}
	return h, size, nil
}

// ReadMessage returns the next data message; the payload is valid until the
// next call. Pings are answered with pongs, pongs are dropped, fragmented
// messages are reassembled, compressed messages inflated (unless
// keepCompressed: then compressed is true and the payload is as sent). When
// the server closes, it returns errCloseDone if the client had sent its
// close frame first, or a *closeError after answering the server's close
// frame. c.readNS tells when the message's last bytes were read.
func (c *wsConn) ReadMessage() (op ws.OpCode, payload []byte, compressed bool, err error) {
	started := false
	c.msg = c.msg[:0]
	for {
		h, hlen, err := c.frameHeader()
		if err != nil {
			return 0, nil, false, err
		}
		if h.Masked {
			return 0, nil, false, &protocolError{"server sent a masked frame"}
		}
		rsv1 := h.Rsv&4 != 0
		if h.Rsv&3 != 0 || rsv1 && (c.deflate == nil || h.OpCode.IsControl() || h.OpCode == ws.OpContinuation) {
			return 0, nil, false, &protocolError{fmt.Sprintf("reserved bits %03b set on %#x frame without a negotiated extension", h.Rsv, h.OpCode)}
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				return 0, nil, false, &protocolError{fmt.Sprintf("control frame %#x with length %d fin %v", h.OpCode, h.Length, h.Fin)}
			}
			if err := c.fill(hlen + int(h.Length)); err != nil {
				return 0, nil, false, err
			}
			p := c.ctrl[:copy(c.ctrl[:], c.rb[c.r+hlen:c.r+hlen+int(h.Length)])]
			c.r += hlen + int(h.Length)
			switch h.OpCode {
			case ws.OpPing:
				if err := c.writeControl(ws.OpPong, p); err != nil {
					return 0, nil, false, err
				}
			case ws.OpPong:
			case ws.OpClose:
				return 0, nil, false, c.onClose(p)
			default:
				return 0, nil, false, &protocolError{fmt.Sprintf("reserved control opcode %#x", h.OpCode)}
			}
			continue
		}
		switch {
		case h.OpCode.IsReserved():
			return 0, nil, false, &protocolError{fmt.Sprintf("reserved opcode %#x", h.OpCode)}
		case !started && h.OpCode == ws.OpContinuation:
			return 0, nil, false, &protocolError{"continuation frame without a message"}
		case started && h.OpCode != ws.OpContinuation:
			return 0, nil, false, &protocolError{"new data frame inside a fragmented message"}
		}
		if !started {
			op, compressed, started = h.OpCode, rsv1, true
		}
		if total := int64(len(c.msg)) + h.Length; total > c.maxMsg {
			_ = c.SendClose(ws.StatusMessageTooBig, time.Second)
			return 0, nil, false, fmt.Errorf("%w: %d bytes, limit %d", errMessageTooBig, total, c.maxMsg)
		}
		n := hlen + int(h.Length)
		if err := c.fill(n); err != nil {
			return 0, nil, false, err
		}
		p := c.rb[c.r+hlen : c.r+n]
		c.r += n
		if h.Fin && len(c.msg) == 0 {
			payload = p // the common case: one frame, no copy
		} else {
			c.msg = append(c.msg, p...)
			payload = c.msg
		}
		if !h.Fin {
			continue
		}
		if compressed && (!c.keepCompressed || c.deflate.takeover) {
			if payload, err = c.inflate(payload); err != nil {
				return 0, nil, false, err
			}
			compressed = false
		}
		return op, payload, compressed, nil
	}
}

// inflate decompresses a message, with the previous messages as dictionary
// when the server takes over its context.
func (c *wsConn) inflate(p []byte) ([]byte, error) {
	d := c.deflate
	var dict []byte
	if d.takeover {
		dict = d.window
	}
	out, err := wsproto.InflateMessage(c.infl[:0], p, c.maxMsg, dict)
	if err != nil {
		var we *wsproto.Error
		if errors.As(err, &we) && we.Code == ws.StatusMessageTooBig {
			_ = c.SendClose(ws.StatusMessageTooBig, time.Second)
			return nil, fmt.Errorf("%w: inflated message over %d bytes", errMessageTooBig, c.maxMsg)
		}
		return nil, &protocolError{"compressed message: " + err.Error()}
	}
	c.infl = out
	if d.takeover {
		const window = 32 << 10
		d.window = append(d.window, out...)
		if len(d.window) > window {
			d.window = append(d.window[:0], d.window[len(d.window)-window:]...)
		}
	}
	return out, nil
}

// onClose handles a close frame from the server.
func (c *wsConn) onClose(p []byte) error {
	if c.closeSent.Load() {
		return errCloseDone
	}
	code, reason := ws.StatusNoStatusRcvd, ""
	if len(p) >= 2 {
		code = ws.StatusCode(binary.BigEndian.Uint16(p))
		reason = string(p[2:])
	}
	reply := code
	if len(p) < 2 {
		reply = ws.StatusNormalClosure
	}
	_ = c.SendClose(reply, time.Second)
	return &closeError{code: code, reason: reason}
}

// finish ends the connection: after a clean close handshake (wait > 0) it
// waits at most wait for the server to close TCP first, as RFC 6455 asks, so
// that the TIME_WAIT state lands on the server; then it closes the socket.
func (c *wsConn) finish(wait time.Duration) {
	if wait > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(wait))
		_, _ = io.Copy(io.Discard, c.nc)
	}
	c.nc.Close()
}

// closeAndWait performs the whole closing handshake for a connection that has
// no reader goroutine: close frame, wait for the server's close frame (data
// messages are skipped), wait for TCP close. It returns nil on a clean close.
func (c *wsConn) closeAndWait(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	err := c.SendClose(ws.StatusNormalClosure, timeout)
	if err == nil {
		_ = c.nc.SetReadDeadline(deadline)
		for {
			if _, _, _, err = c.ReadMessage(); err != nil {
				break
			}
		}
		err = closeResult(c, err)
	}
	if err == nil {
		c.finish(time.Until(deadline))
	} else {
		c.finish(0)
	}
	return err
}

// closeResult turns the error that ended a connection's reading after the
// client sent its close frame into nil (clean close) or the problem.
func closeResult(c *wsConn, err error) error {
	switch {
	case errors.Is(err, errCloseDone):
		return nil
	case c.CloseSent() && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)):
		return nil // the server dropped TCP instead of answering; acceptable
	case c.CloseSent() && isTimeout(err):
		return errCloseTimeout
	}
	return err
}

// errCloseTimeout: the server did not answer the close frame in time.
var errCloseTimeout = errors.New("no close frame from the server within -close-timeout")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// nowNS is the wall clock in nanoseconds: what messages carry as their send
// time and what receipts are stamped with. Being the wall clock, it is the
// same in every wsbench process on a machine.
func nowNS() int64 { return time.Now().UnixNano() }
