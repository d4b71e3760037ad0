package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// The client side of RFC 6455, kept small: one blocking net.Conn, a small
// bufio.Reader, a write buffer reused for every frame and a mutex so that the
// reader can answer pings while another goroutine writes messages.

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

// dialOptions are the per-target settings shared by all connections.
type dialOptions struct {
	addr     string
	timeout  time.Duration
	readBuf  int
	maxMsg   int64
	reqStart string // request line and fixed headers, up to the key header
}

func newDialOptions(t *target, cfg *config) *dialOptions {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", t.requestURI, t.host)
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
	for _, h := range cfg.Headers {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("Sec-WebSocket-Key: ")
	return &dialOptions{
		addr:     t.addr,
		timeout:  cfg.Timeout,
		readBuf:  cfg.ReadBuf,
		maxMsg:   cfg.maxMessage(),
		reqStart: b.String(),
	}
}

// wsConn is one client WebSocket connection.
type wsConn struct {
	nc     net.Conn
	br     *bufio.Reader
	maxMsg int64

	wmu       sync.Mutex
	wb        frameBuf
	whdr      [ws.MaxHeaderSize]byte
	closeSent atomic.Bool

	rhdr [ws.MaxHeaderSize]byte
	rbuf []byte
	ctrl [125]byte
}

// frameBuf is an io.Writer that appends to a reusable slice.
type frameBuf struct{ b []byte }

func (f *frameBuf) Write(p []byte) (int, error) {
	f.b = append(f.b, p...)
	return len(p), nil
}

// dialWS opens a TCP connection with d and upgrades it to a WebSocket.
// Errors are *phaseError values naming the phase that failed.
func dialWS(ctx context.Context, d *net.Dialer, o *dialOptions) (*wsConn, error) {
	nc, err := d.DialContext(ctx, "tcp", o.addr)
	if err != nil {
		return nil, &phaseError{phase: "dial", err: err}
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
	br := bufio.NewReaderSize(nc, o.readBuf)
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
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return nil, &handshakeError{kind: "handshake_bad_extension",
			msg: fmt.Sprintf("server selected extension %q that was not offered", ext)}
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return &wsConn{nc: nc, br: br, maxMsg: o.maxMsg}, nil
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

// writeFrame writes one masked, final frame whose payload is a followed by b.
// The caller holds c.wmu.
func (c *wsConn) writeFrame(op ws.OpCode, a, b []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: newMask(), Length: int64(len(a) + len(b))}
	c.wb.b = c.wb.b[:0]
	if err := ws.WriteHeaderBuffer(&c.wb, h, c.whdr[:]); err != nil {
		return err
	}
	hl := len(c.wb.b)
	c.wb.b = append(c.wb.b, a...)
	c.wb.b = append(c.wb.b, b...)
	ws.Cipher(c.wb.b[hl:], h.Mask, 0)
	_, err := c.nc.Write(c.wb.b)
	return err
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
	return c.writeFrame(op, a, b)
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
	return c.writeFrame(ws.OpClose, body[:], nil)
}

// CloseSent reports whether the client has sent its close frame.
func (c *wsConn) CloseSent() bool { return c.closeSent.Load() }

func (c *wsConn) writeControl(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		return nil // after our close frame only the server's close matters
	}
	return c.writeFrame(op, payload, nil)
}

// ReadMessage returns the next data message; the payload is valid until the
// next call. Pings are answered with pongs, pongs are dropped, fragmented
// messages are reassembled. When the server closes, it returns errCloseDone
// if the client had sent its close frame first, or a *closeError after
// answering the server's close frame.
func (c *wsConn) ReadMessage() (ws.OpCode, []byte, error) {
	var op ws.OpCode
	started := false
	c.rbuf = c.rbuf[:0]
	for {
		h, err := ws.ReadHeaderBuffer(c.br, c.rhdr[:])
		if err != nil {
			return 0, nil, err
		}
		if h.Masked {
			return 0, nil, &protocolError{"server sent a masked frame"}
		}
		if h.Rsv != 0 {
			return 0, nil, &protocolError{"reserved bits set without a negotiated extension"}
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				return 0, nil, &protocolError{fmt.Sprintf("control frame %#x with length %d fin %v", h.OpCode, h.Length, h.Fin)}
			}
			p := c.ctrl[:h.Length]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, err
			}
			switch h.OpCode {
			case ws.OpPing:
				if err := c.writeControl(ws.OpPong, p); err != nil {
					return 0, nil, err
				}
			case ws.OpPong:
			case ws.OpClose:
				return 0, nil, c.onClose(p)
			default:
				return 0, nil, &protocolError{fmt.Sprintf("reserved control opcode %#x", h.OpCode)}
			}
			continue
		}
		switch {
		case h.OpCode.IsReserved():
			return 0, nil, &protocolError{fmt.Sprintf("reserved opcode %#x", h.OpCode)}
		case !started && h.OpCode == ws.OpContinuation:
			return 0, nil, &protocolError{"continuation frame without a message"}
		case started && h.OpCode != ws.OpContinuation:
			return 0, nil, &protocolError{"new data frame inside a fragmented message"}
		}
		if !started {
			op, started = h.OpCode, true
		}
		n := int64(len(c.rbuf))
		if n+h.Length > c.maxMsg {
			_ = c.SendClose(ws.StatusMessageTooBig, time.Second)
			return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", errMessageTooBig, n+h.Length, c.maxMsg)
		}
		c.rbuf = grow(c.rbuf, int(n+h.Length))
		if _, err := io.ReadFull(c.br, c.rbuf[n:]); err != nil {
			return 0, nil, err
		}
		if h.Fin {
			return op, c.rbuf, nil
		}
	}
}

// grow returns b resized to n bytes, keeping its content.
func grow(b []byte, n int) []byte {
	if n <= cap(b) {
		return b[:n]
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
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
		_, _ = io.Copy(io.Discard, c.br)
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
			if _, _, err = c.ReadMessage(); err != nil {
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
