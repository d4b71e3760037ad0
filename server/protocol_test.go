package server_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsproto"
)

// Frames that break RFC 6455 get the close code the RFC (and the Autobahn
// TestSuite) asks for, and the server then closes the TCP connection.
func TestProtocolViolationsGetTheirCloseCode(t *testing.T) {
	srv := echoServer()
	srv.MaxMessageSize = 1000
	rec := newRecorder()
	rec.install(srv)
	url := start(t, srv)

	unmasked := wsproto.AppendFrame(nil, ws.OpText, true, []byte("hi"))
	withRSV := func(bits byte) []byte {
		f := frame(ws.OpText, true, []byte("hi"))
		f[0] |= bits << 4
		return f
	}
	rawOp := func(op byte) []byte {
		f := frame(ws.OpText, true, nil)
		f[0] = 0x80 | op
		return f
	}
	cases := []struct {
		name   string
		frames [][]byte
		want   ws.StatusCode
	}{
		{"unmasked client frame", [][]byte{unmasked}, ws.StatusProtocolError},
		{"RSV1 without extension", [][]byte{withRSV(4)}, ws.StatusProtocolError},
		{"RSV2", [][]byte{withRSV(2)}, ws.StatusProtocolError},
		{"RSV3", [][]byte{withRSV(1)}, ws.StatusProtocolError},
		{"reserved data opcode 3", [][]byte{rawOp(3)}, ws.StatusProtocolError},
		{"reserved control opcode 0xB", [][]byte{rawOp(0xB)}, ws.StatusProtocolError},
		{"ping over 125 bytes", [][]byte{frame(ws.OpPing, true, make([]byte, 126))}, ws.StatusProtocolError},
		{"fragmented ping", [][]byte{frame(ws.OpPing, false, []byte("a"))}, ws.StatusProtocolError},
		{"continuation with nothing to continue", [][]byte{frame(ws.OpContinuation, true, []byte("a"))}, ws.StatusProtocolError},
		{"new message inside a fragmented one", [][]byte{frame(ws.OpText, false, []byte("a")), frame(ws.OpText, true, []byte("b"))}, ws.StatusProtocolError},
		{"close payload of one byte", [][]byte{frame(ws.OpClose, true, []byte{3})}, ws.StatusProtocolError},
		{"close code 999", [][]byte{frame(ws.OpClose, true, closePayload(999, ""))}, ws.StatusProtocolError},
		{"close code 1005", [][]byte{frame(ws.OpClose, true, closePayload(1005, ""))}, ws.StatusProtocolError},
		{"close code 1006", [][]byte{frame(ws.OpClose, true, closePayload(1006, ""))}, ws.StatusProtocolError},
		{"close code 2000", [][]byte{frame(ws.OpClose, true, closePayload(2000, ""))}, ws.StatusProtocolError},
		{"close code 5000", [][]byte{frame(ws.OpClose, true, closePayload(5000, ""))}, ws.StatusProtocolError},
		{"close reason not UTF-8", [][]byte{frame(ws.OpClose, true, closePayload(1000, "\xff\xfe"))}, ws.StatusInvalidFramePayloadData},
		{"text not UTF-8", [][]byte{frame(ws.OpText, true, []byte("caf\xc3"))}, ws.StatusInvalidFramePayloadData},
		{"text not UTF-8 across fragments", [][]byte{frame(ws.OpText, false, []byte("\xce")), frame(ws.OpContinuation, true, []byte("\xff"))}, ws.StatusInvalidFramePayloadData},
		{"surrogate in text", [][]byte{frame(ws.OpText, true, []byte("\xed\xa0\x80"))}, ws.StatusInvalidFramePayloadData},
		{"message over MaxMessageSize", [][]byte{frame(ws.OpBinary, true, make([]byte, 1001))}, ws.StatusMessageTooBig},
		{"fragments adding up over MaxMessageSize", [][]byte{frame(ws.OpBinary, false, make([]byte, 600)), frame(ws.OpContinuation, true, make([]byte, 600))}, ws.StatusMessageTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, url)
			rec.waitJoined(t)
			c.write(tc.frames...)
			c.expectClose(tc.want)
			err := rec.waitLeft(t)
			var perr *wsproto.Error
			if !errors.As(err, &perr) || perr.Code != tc.want {
				t.Fatalf("OnClientLeft got %v, want a *wsproto.Error with code %d", err, tc.want)
			}
		})
	}
}

// A message too big is refused as soon as its header arrives, before the
// payload is sent.
func TestTooBigRefusedOnHeader(t *testing.T) {
	srv := echoServer()
	srv.MaxMessageSize = 1 << 20
	c := dialRaw(t, start(t, srv))
	f := frame(ws.OpBinary, true, make([]byte, 2<<20))
	c.write(f[:14]) // header only; the 2 MiB never follow
	c.expectClose(ws.StatusMessageTooBig)
}

// Invalid UTF-8 is caught as early as possible: inside a frame whose rest
// has not arrived yet.
func TestInvalidUTF8FailsFast(t *testing.T) {
	c := dialRaw(t, start(t, echoServer()))
	payload := append([]byte("hello\xc0\xafworld"), bytes.Repeat([]byte("a"), 200)...)
	f := frame(ws.OpText, true, payload)
	c.write(f[:2+2+4+12]) // header and the first 12 payload bytes, with the bad sequence
	c.expectClose(ws.StatusInvalidFramePayloadData)
}

func TestPingIsAnsweredWithPong(t *testing.T) {
	c := dialRaw(t, start(t, echoServer()))
	c.write(frame(ws.OpPing, true, []byte("are you there")))
	ev, err := c.next()
	if err != nil || ev.Kind != wsproto.KindPong || string(ev.Payload) != "are you there" {
		t.Fatalf("got %v %q %v, want pong with the ping's payload", ev.Kind, ev.Payload, err)
	}
	c.write(frame(ws.OpPing, true, nil))
	if ev, err := c.next(); err != nil || ev.Kind != wsproto.KindPong || len(ev.Payload) != 0 {
		t.Fatalf("got %v %q %v, want empty pong", ev.Kind, ev.Payload, err)
	}
}

// Control frames may come between the fragments of a message.
func TestFragmentedMessageWithPingInside(t *testing.T) {
	c := dialRaw(t, start(t, echoServer()))
	c.write(
		frame(ws.OpText, false, []byte("frag")),
		frame(ws.OpPing, true, []byte("p")),
		frame(ws.OpContinuation, false, []byte("men")),
		frame(ws.OpContinuation, true, []byte("ted ✓")),
	)
	ev, err := c.next()
	if err != nil || ev.Kind != wsproto.KindPong {
		t.Fatalf("got %v %v, want the pong first", ev.Kind, err)
	}
	c.expectMessage(ws.OpText, []byte("fragmented ✓"))
}

// Bytes split at every offset, in separate writes, make the same message.
func TestFramesSplitAcrossReads(t *testing.T) {
	c := dialRaw(t, start(t, echoServer()))
	payload := []byte("split me anywhere: ünïcödé")
	f := frame(ws.OpText, true, payload)
	for cut := 1; cut < len(f); cut++ {
		c.write(f[:cut])
		time.Sleep(time.Millisecond)
		c.write(f[cut:])
		c.expectMessage(ws.OpText, payload)
	}
}

// The closing handshake: the server echoes the client's code and closes the
// TCP connection; OnClientLeft gets the client's code and reason.
func TestClientCloseIsEchoed(t *testing.T) {
	srv := echoServer()
	rec := newRecorder()
	rec.install(srv)
	url := start(t, srv)

	c := dialRaw(t, url)
	rec.waitJoined(t)
	c.write(frame(ws.OpClose, true, closePayload(ws.StatusNormalClosure, "bye")))
	c.expectClose(ws.StatusNormalClosure)
	var cerr *server.CloseError
	if err := rec.waitLeft(t); !errors.As(err, &cerr) || cerr.Code != 1000 || cerr.Reason != "bye" {
		t.Fatalf("OnClientLeft got %v, want close 1000 bye", err)
	}

	// An empty close is answered with an empty close.
	c = dialRaw(t, url)
	rec.waitJoined(t)
	c.write(frame(ws.OpClose, true, nil))
	c.expectClose(ws.StatusNoStatusRcvd)
	rec.waitLeft(t)

	// Valid application codes are echoed too.
	c = dialRaw(t, url)
	rec.waitJoined(t)
	c.write(frame(ws.OpClose, true, closePayload(4000, "")))
	c.expectClose(4000)
	rec.waitLeft(t)
}

// Client.Close sends queued output, then the close frame, and ends the
// connection once the client answers.
func TestServerInitiatedClose(t *testing.T) {
	srv := echoServer()
	rec := newRecorder()
	rec.install(srv)
	c := dialRaw(t, start(t, srv))
	sc := rec.waitJoined(t)
	sc.SendText("first")
	if err := sc.Close(ws.StatusPolicyViolation, "go away"); err != nil {
		t.Fatal(err)
	}
	if err := sc.SendText("too late"); !errors.Is(err, server.ErrClientClosed) {
		t.Fatalf("Send after Close: %v, want ErrClientClosed", err)
	}
	c.expectMessage(ws.OpText, []byte("first"))
	ev, err := c.next()
	if err != nil || ev.Kind != wsproto.KindClose || ev.Code != ws.StatusPolicyViolation || ev.Reason != "go away" {
		t.Fatalf("got %v %d %q %v, want close 1008 go away", ev.Kind, ev.Code, ev.Reason, err)
	}
	c.write(frame(ws.OpClose, true, closePayload(ws.StatusPolicyViolation, "")))
	c.expectEOF()
	if err := rec.waitLeft(t); err != nil {
		t.Fatalf("OnClientLeft got %v, want nil after an answered close", err)
	}
}

// A client that never answers the server's close frame is cut off after
// CloseTimeout.
func TestUnansweredCloseTimesOut(t *testing.T) {
	srv := echoServer()
	srv.CloseTimeout = 300 * time.Millisecond
	rec := newRecorder()
	rec.install(srv)
	c := dialRaw(t, start(t, srv))
	sc := rec.waitJoined(t)
	sc.Close(ws.StatusNormalClosure, "")
	if err := rec.waitLeft(t); !errors.Is(err, server.ErrCloseTimeout) {
		t.Fatalf("OnClientLeft got %v, want ErrCloseTimeout", err)
	}
	ev, err := c.next()
	if err != nil || ev.Kind != wsproto.KindClose {
		t.Fatalf("got %v %v, want the close frame", ev.Kind, err)
	}
	c.expectEOF()
}

// Frames sent right behind the handshake request, in the same write, are
// not lost.
func TestFramesPipelinedWithHandshake(t *testing.T) {
	url := start(t, echoServer())
	nc := dialTCP(t, url)
	req := upgradeRequest("/")
	msg := frame(ws.OpText, true, []byte("eager"))
	if _, err := nc.Write(append([]byte(req), msg...)); err != nil {
		t.Fatal(err)
	}
	resp, rest := readResponse(t, nc)
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c := &rawClient{t: t, nc: nc, in: rest}
	c.expectMessage(ws.OpText, []byte("eager"))
}
