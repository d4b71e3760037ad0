package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestAcceptKey(t *testing.T) {
	// The example from RFC 6455 section 1.3.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("acceptKey = %q", got)
	}
}

// pipeConn returns a client wsConn and the server's end of a pipe.
func pipeConn(t *testing.T) (*wsConn, net.Conn) {
	t.Helper()
	cli, srv := net.Pipe()
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return &wsConn{nc: cli, rb: make([]byte, 64), norm: 64, maxMsg: 1 << 20}, srv
}

func serverFrame(t *testing.T, w io.Writer, fin bool, op ws.OpCode, p string) {
	t.Helper()
	if err := ws.WriteFrame(w, ws.NewFrame(op, fin, []byte(p))); err != nil {
		t.Error(err)
	}
}

// readClientFrame reads one frame from the client, checks it is masked and
// returns it unmasked.
func readClientFrame(t *testing.T, r io.Reader) ws.Frame {
	t.Helper()
	h, err := ws.ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Masked {
		t.Errorf("client frame %v is not masked", h.OpCode)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	ws.Cipher(p, h.Mask, 0)
	return ws.Frame{Header: h, Payload: p}
}

func TestReadMessageFragmentsAndPing(t *testing.T) {
	c, srv := pipeConn(t)
	go func() {
		serverFrame(t, srv, false, ws.OpText, "hello, ")
		serverFrame(t, srv, true, ws.OpPing, "p1")
		serverFrame(t, srv, false, ws.OpContinuation, "wide ")
		serverFrame(t, srv, true, ws.OpContinuation, "world")
	}()
	pong := make(chan ws.Frame, 1)
	go func() { pong <- readClientFrame(t, srv) }()
	op, msg, _, err := c.ReadMessage()
	if err != nil || op != ws.OpText || string(msg) != "hello, wide world" {
		t.Fatalf("ReadMessage = %v %q %v", op, msg, err)
	}
	select {
	case f := <-pong:
		if f.Header.OpCode != ws.OpPong || string(f.Payload) != "p1" {
			t.Errorf("answer to ping: %v %q", f.Header.OpCode, f.Payload)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no pong")
	}
}

func TestWriteMessageMasks(t *testing.T) {
	c, srv := pipeConn(t)
	got := make(chan ws.Frame, 2)
	go func() {
		got <- readClientFrame(t, srv)
		got <- readClientFrame(t, srv)
	}()
	big := bytes.Repeat([]byte("x"), 70000) // 64-bit length header
	if err := c.WriteMessage(ws.OpBinary, []byte("head-"), big); err != nil {
		t.Fatal(err)
	}
	f := <-got
	if f.Header.OpCode != ws.OpBinary || !f.Header.Fin || !bytes.Equal(f.Payload, append([]byte("head-"), big...)) {
		t.Errorf("frame %+v with %d bytes", f.Header, len(f.Payload))
	}
	if err := c.SendClose(ws.StatusNormalClosure, time.Second); err != nil {
		t.Fatal(err)
	}
	f = <-got
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusNormalClosure {
		t.Errorf("close frame %+v code %d", f.Header, code)
	}
	if err := c.WriteMessage(ws.OpBinary, nil, nil); !errors.Is(err, errClosing) {
		t.Errorf("write after close: %v", err)
	}
}

func TestServerInitiatedClose(t *testing.T) {
	c, srv := pipeConn(t)
	go serverFrame(t, srv, true, ws.OpClose, string(ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")))
	reply := make(chan ws.Frame, 1)
	go func() { reply <- readClientFrame(t, srv) }()
	_, _, _, err := c.ReadMessage()
	var ce *closeError
	if !errors.As(err, &ce) || ce.code != ws.StatusGoingAway || ce.reason != "bye" {
		t.Fatalf("ReadMessage error %v", err)
	}
	if k := errorKind(err); k != "server_close_1001" {
		t.Errorf("kind %q", k)
	}
	f := <-reply
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusGoingAway {
		t.Errorf("reply %v code %d", f.Header.OpCode, code)
	}
}

func TestProtocolErrors(t *testing.T) {
	for name, send := range map[string]func(w io.Writer){
		"masked": func(w io.Writer) {
			_ = ws.WriteFrame(w, ws.MaskFrame(ws.NewTextFrame([]byte("x"))))
		},
		"continuation first": func(w io.Writer) {
			_ = ws.WriteFrame(w, ws.NewFrame(ws.OpContinuation, true, []byte("x")))
		},
		"long ping": func(w io.Writer) {
			_ = ws.WriteFrame(w, ws.NewPingFrame(bytes.Repeat([]byte("x"), 126)))
		},
	} {
		c, srv := pipeConn(t)
		go send(srv)
		_, _, _, err := c.ReadMessage()
		if k := errorKind(err); k != "protocol_error" {
			t.Errorf("%s: error %v kind %q", name, err, k)
		}
	}
}

func TestEchoPattern(t *testing.T) {
	for _, text := range []bool{false, true} {
		for _, size := range []int{1, 8, 15, 16, 17, 100} {
			p := newEchoPattern(size, text)
			var h, scratch [16]byte
			msg := append(append([]byte{}, p.header(h[:], 12345)...), p.body()...)
			if len(msg) != size {
				t.Fatalf("size %d text %v: message of %d bytes", size, text, len(msg))
			}
			if why := p.check(p.op, msg, 12345, scratch[:]); why != "" {
				t.Errorf("size %d text %v: %s", size, text, why)
			}
			msg[len(msg)-1] ^= 1
			if why := p.check(p.op, msg, 12345, scratch[:]); why == "" {
				t.Errorf("size %d text %v: corruption not detected", size, text)
			}
			if size >= 8 {
				msg[len(msg)-1] ^= 1
				if why := p.check(p.op, msg, 12346, scratch[:]); why == "" {
					t.Errorf("size %d text %v: wrong sequence not detected", size, text)
				}
			}
		}
	}
}

func TestBcastPattern(t *testing.T) {
	for _, text := range []bool{false, true} {
		p := newBcastPattern(100, text)
		var h [64]byte
		msg := append(append([]byte{}, p.header(h[:], 7, 99, 123456789)...), p.body()...)
		m := p.parse(p.op, msg)
		if m.res != bcastOK || m.pub != 7 || m.seq != 99 || m.ts != 123456789 {
			t.Errorf("text %v: parse = %+v", text, m)
		}
		if m := p.parse(p.op, []byte("hello")); m.res != bcastForeign {
			t.Errorf("text %v: foreign message parsed as %v", text, m.res)
		}
		msg[60] ^= 1
		if m := p.parse(p.op, msg); m.res != bcastBad {
			t.Errorf("text %v: corrupt message parsed as %v", text, m.res)
		}
	}
}
