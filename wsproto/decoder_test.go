package wsproto

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
)

var server = Decoder{RequireMask: true}

// TestDecoderRules checks every rule of RFC 6455, section 5, that the
// Decoder enforces, with the close code it must answer.
func TestDecoderRules(t *testing.T) {
	deflate := Decoder{RequireMask: true, AllowRSV1: true}
	small := Decoder{RequireMask: true, MaxMessageSize: 10}
	type rule struct {
		name string
		dec  Decoder
		in   []byte
		code ws.StatusCode
	}
	rules := []rule{
		{
			name: "RSV1 without extension",
			dec:  server,
			in:   frame(fin|rsv1|opText, "a"),
			code: ws.StatusProtocolError,
		},
		{
			name: "RSV2",
			dec:  server,
			in:   frame(fin|rsv2|opBinary, "a"),
			code: ws.StatusProtocolError,
		},
		{
			name: "RSV3",
			dec:  server,
			in:   frame(fin|rsv3|opBinary, "a"),
			code: ws.StatusProtocolError,
		},
		{
			name: "RSV2 with permessage-deflate",
			dec:  deflate,
			in:   frame(fin|rsv2|opText, "a"),
			code: ws.StatusProtocolError,
		},
		{
			name: "RSV1 and RSV2 with permessage-deflate",
			dec:  deflate,
			in:   frame(fin|rsv1|rsv2|opText, "a"),
			code: ws.StatusProtocolError,
		},
		{
			name: "RSV1 on continuation with permessage-deflate",
			dec:  deflate,
			in:   concat(frame(rsv1|opText, "a"), frame(fin|rsv1|opCont, "b")),
			code: ws.StatusProtocolError,
		},
		{
			name: "RSV1 on ping with permessage-deflate",
			dec:  deflate,
			in:   frame(fin|rsv1|opPing, "a"),
			code: ws.StatusProtocolError,
		},
		{
			name: "RSV1 on close with permessage-deflate",
			dec:  deflate,
			in:   frame(fin|rsv1|opClose, ""),
			code: ws.StatusProtocolError,
		},
		{
			name: "unmasked frame",
			dec:  server,
			in:   rawFrame(fin|opText, false, []byte("a")),
			code: ws.StatusProtocolError,
		},
		{
			name: "unmasked control frame",
			dec:  server,
			in:   rawFrame(fin|opPing, false, nil),
			code: ws.StatusProtocolError,
		},
		{
			name: "64-bit length with most significant bit set",
			dec:  server,
			in:   []byte{fin | opBinary, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1},
			code: ws.StatusProtocolError,
		},
		{
			name: "ping payload of 126 bytes",
			dec:  server,
			in:   frame(fin|opPing, strings.Repeat("p", 126)),
			code: ws.StatusProtocolError,
		},
		{
			name: "close payload in 64-bit length form",
			dec:  server,
			in:   []byte{fin | opClose, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 2},
			code: ws.StatusProtocolError,
		},
		{
			name: "ping without FIN",
			dec:  server,
			in:   frame(opPing, "p"),
			code: ws.StatusProtocolError,
		},
		{
			name: "pong without FIN",
			dec:  server,
			in:   frame(opPong, ""),
			code: ws.StatusProtocolError,
		},
		{
			name: "close without FIN",
			dec:  server,
			in:   frame(opClose, ""),
			code: ws.StatusProtocolError,
		},
		{
			name: "continuation without message",
			dec:  server,
			in:   frame(fin|opCont, "a"),
			code: ws.StatusProtocolError,
		},
		{
			name: "continuation after a complete message",
			dec:  server,
			in:   concat(frame(fin|opText, "a"), frame(fin|opCont, "b")),
			code: ws.StatusProtocolError,
		},
		{
			name: "text inside fragmented text",
			dec:  server,
			in:   concat(frame(opText, "a"), frame(fin|opText, "b")),
			code: ws.StatusProtocolError,
		},
		{
			name: "binary inside fragmented text, after a ping",
			dec:  server,
			in:   concat(frame(opText, "a"), frame(fin|opPing, ""), frame(opBinary, "b")),
			code: ws.StatusProtocolError,
		},
		{
			name: "message over MaxMessageSize",
			dec:  small,
			in:   frame(fin|opBinary, "12345678901"),
			code: ws.StatusMessageTooBig,
		},
		{
			name: "fragments over MaxMessageSize",
			dec:  small,
			in:   concat(frame(opText, "123456"), frame(opCont, "789"), frame(fin|opCont, "01")),
			code: ws.StatusMessageTooBig,
		},
		{
			name: "compressed message over MaxMessageSize",
			dec:  Decoder{RequireMask: true, AllowRSV1: true, MaxMessageSize: 10},
			in:   frame(fin|rsv1|opBinary, "12345678901"),
			code: ws.StatusMessageTooBig,
		},
		{
			name: "invalid UTF-8 in text",
			dec:  server,
			in:   frame(fin|opText, "ok \xff"),
			code: ws.StatusInvalidFramePayloadData,
		},
		{
			name: "surrogate in text",
			dec:  server,
			in:   frame(fin|opText, "\xed\xa0\x80"),
			code: ws.StatusInvalidFramePayloadData,
		},
		{
			name: "text ending inside a code point",
			dec:  server,
			in:   frame(fin|opText, "\xe2\x82"),
			code: ws.StatusInvalidFramePayloadData,
		},
		{
			name: "invalid UTF-8 across fragments",
			dec:  server,
			in:   concat(frame(opText, "\xe2\x82"), frame(fin|opCont, "A")),
			code: ws.StatusInvalidFramePayloadData,
		},
		{
			name: "fragmented text ending inside a code point",
			dec:  server,
			in:   concat(frame(opText, "a"), frame(fin|opPing, ""), frame(fin|opCont, "\xf0\x9f\x98")),
			code: ws.StatusInvalidFramePayloadData,
		},
		{
			name: "close payload of 1 byte",
			dec:  server,
			in:   frame(fin|opClose, "\x03"),
			code: ws.StatusProtocolError,
		},
		{
			name: "close reason not UTF-8",
			dec:  server,
			in:   closeFrame(1000, "bye \xc0\x80"),
			code: ws.StatusInvalidFramePayloadData,
		},
		{
			name: "close reason with truncated code point",
			dec:  server,
			in:   closeFrame(1000, "\xe2\x82"),
			code: ws.StatusInvalidFramePayloadData,
		},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		rules = append(rules, rule{
			name: fmt.Sprintf("reserved opcode %#x", op),
			dec:  server,
			in:   frame(fin|op, ""),
			code: ws.StatusProtocolError,
		})
	}
	for _, code := range []uint16{0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		rules = append(rules, rule{
			name: fmt.Sprintf("close code %d", code),
			dec:  server,
			in:   closeFrame(code, ""),
			code: ws.StatusProtocolError,
		})
	}

	for _, tt := range rules {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.dec
			r := whole(&d, tt.in)
			var e *Error
			if !errors.As(r.Err, &e) {
				t.Fatalf(
					"got %v, want an *Error with code %d",
					r, tt.code)
			}
			if e.Code != tt.code {
				t.Errorf(
					"got code %d (%v), want %d",
					e.Code, e, tt.code)
			}
			checkReference(t, tt.dec, tt.in)
			// The same error, however the bytes arrive.
			d = tt.dec
			if r2 := bytewise(&d, tt.in); !r2.equal(r) {
				t.Errorf(
					"byte by byte: %v\nwhole: %v",
					r2, r)
			}
		})
	}
}

// TestDecoderEvents checks the events of valid streams.
func TestDecoderEvents(t *testing.T) {
	for _, tt := range validStreams() {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.dec
			got := whole(&d, tt.in)
			if got.Err != nil || got.Rest != 0 {
				t.Fatalf(
					"got %v, want no error and nothing left",
					got)
			}
			if !equalEvents(got.Events, tt.want) {
				t.Errorf(
					"got  %v\nwant %v",
					got.Events, tt.want)
			}
		})
	}
}

type stream struct {
	name string
	dec  Decoder
	in   []byte
	want []record // N is not compared, KindNone records are skipped
}

func validStreams() []stream {
	long := strings.Repeat("long ✓ ", 10000) // 16-bit and 64-bit length forms
	return []stream{
		{
			name: "text",
			dec:  server,
			in:   frame(fin|opText, "hello"),
			want: []record{{Kind: KindMessage, Op: ws.OpText, Payload: "hello"}},
		},
		{
			name: "empty binary and text",
			dec:  server,
			in:   concat(frame(fin|opBinary, ""), frame(fin|opText, "")),
			want: []record{
				{Kind: KindMessage, Op: ws.OpBinary},
				{Kind: KindMessage, Op: ws.OpText},
			},
		},
		{
			name: "long messages",
			dec:  server,
			in:   concat(frame(fin|opText, long[:300]), frame(fin|opBinary, long)),
			want: []record{
				{Kind: KindMessage, Op: ws.OpText, Payload: long[:300]},
				{Kind: KindMessage, Op: ws.OpBinary, Payload: long},
			},
		},
		{
			name: "control frames",
			dec:  server,
			in: concat(
				frame(fin|opPing, "are you there?"),
				frame(fin|opPong, ""),
				frame(fin|opPing, strings.Repeat("x", 125)),
				frame(fin|opClose, ""),
			),
			want: []record{
				{Kind: KindPing, Op: ws.OpPing, Payload: "are you there?"},
				{Kind: KindPong, Op: ws.OpPong},
				{Kind: KindPing, Op: ws.OpPing, Payload: strings.Repeat("x", 125)},
				{Kind: KindClose, Op: ws.OpClose, Code: ws.StatusNoStatusRcvd},
			},
		},
		{
			name: "close with code and reason",
			dec:  server,
			in:   closeFrame(4999, "bye ✓"),
			want: []record{{Kind: KindClose, Op: ws.OpClose, Code: 4999, Reason: "bye ✓", Payload: "\x13\x87bye ✓"}},
		},
		{
			name: "fragmented text with interleaved control frames",
			dec:  server,
			in: concat(
				frame(opText, "Hel"),
				frame(fin|opPing, "1"),
				frame(opCont, "lo \xe2\x82"), // "€" split across fragments
				frame(fin|opPong, "2"),
				frame(opCont, ""),
				frame(fin|opCont, "\xac!"),
				frame(fin|opText, "next"),
			),
			want: []record{
				{Kind: KindPing, Op: ws.OpPing, Payload: "1"},
				{Kind: KindPong, Op: ws.OpPong, Payload: "2"},
				{Kind: KindMessage, Op: ws.OpText, Payload: "Hello €!"},
				{Kind: KindMessage, Op: ws.OpText, Payload: "next"},
			},
		},
		{
			name: "fragmented binary with empty first fragments",
			dec:  server,
			in:   concat(frame(opBinary, ""), frame(opCont, ""), frame(fin|opCont, "\xff")),
			want: []record{{Kind: KindMessage, Op: ws.OpBinary, Payload: "\xff"}},
		},
		{
			name: "compressed messages",
			dec:  Decoder{RequireMask: true, AllowRSV1: true},
			in: concat(
				frame(fin|rsv1|opText, "\xff\x00"), // not UTF-8: still compressed
				frame(rsv1|opBinary, "a"),
				frame(fin|opPing, ""),
				frame(fin|opCont, "\xc0"),
				frame(fin|opText, "plain"),
			),
			want: []record{
				{Kind: KindMessage, Op: ws.OpText, Compressed: true, Payload: "\xff\x00"},
				{Kind: KindPing, Op: ws.OpPing},
				{Kind: KindMessage, Op: ws.OpBinary, Compressed: true, Payload: "a\xc0"},
				{Kind: KindMessage, Op: ws.OpText, Payload: "plain"},
			},
		},
		{
			name: "server frames",
			dec:  Decoder{},
			in: concat(
				AppendFrame(nil, ws.OpText, true, []byte("from server")),
				AppendClose(nil, ws.StatusGoingAway, "restart"),
			),
			want: []record{
				{Kind: KindMessage, Op: ws.OpText, Payload: "from server"},
				{Kind: KindClose, Op: ws.OpClose, Code: ws.StatusGoingAway, Reason: "restart", Payload: "\x03\xe9restart"},
			},
		},
	}
}

func equalEvents(got, want []record) bool {
	var g []record
	for _, r := range got {
		if r.Kind != KindNone {
			r.N = 0
			g = append(g, r)
		}
	}
	if len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

// TestSplitEveryOffset feeds streams split at every offset, in growing
// prefixes and with the buffer moved between reads: the events must not
// depend on how the bytes arrive.
func TestSplitEveryOffset(t *testing.T) {
	streams := validStreams()
	streams = append(streams,
		stream{
			name: "error after events",
			dec:  server,
			in:   concat(frame(fin|opText, "a"), frame(opText, "b€"), frame(fin|opPing, "c"), frame(fin|opCont, "d\xe2\x28")),
		},
		stream{
			name: "incomplete frame at end",
			dec:  server,
			in:   concat(frame(fin|opBinary, "a"), frame(fin|opText, "bcdef")[:5]),
		},
	)
	for _, tt := range streams {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if len(in) > 2000 {
				in = in[:2000] // keep the quadratic loops short
			}
			d := tt.dec
			want := whole(&d, in)
			for k := 0; k <= len(in); k++ {
				d := tt.dec
				if got := feed(&d, in, []int{k}, k%2 == 0); !got.equal(want) {
					t.Fatalf(
						"split at %d:\ngot  %v\nwant %v",
						k, got, want)
				}
			}
			d = tt.dec
			if got := bytewise(&d, in); !got.equal(want) {
				t.Fatalf(
					"byte by byte:\ngot  %v\nwant %v",
					got, want)
			}
		})
	}
}

// TestFragmentedWithPing follows a fragmented message step by step.
func TestFragmentedWithPing(t *testing.T) {
	d := Decoder{RequireMask: true}
	in := concat(frame(opText, "Hello, "), frame(fin|opPing, "p"), frame(fin|opCont, "world"))
	steps := []struct {
		kind     Kind
		n        int
		payload  string
		buffered int
	}{
		{
			kind:     KindNone,
			n:        6 + 7,
			buffered: 7,
		},
		{
			kind:     KindPing,
			n:        6 + 1,
			payload:  "p",
			buffered: 7,
		},
		{
			kind:     KindMessage,
			n:        6 + 5,
			payload:  "Hello, world",
			buffered: 0,
		},
		{
			kind: KindNone,
			n:    0,
		},
	}
	for i, s := range steps {
		ev, n, err := d.Next(in)
		if err != nil || ev.Kind != s.kind || n != s.n || string(ev.Payload) != s.payload {
			t.Fatalf(
				"step %d: got kind %v, n %d, payload %q, err %v; want %v, %d, %q",
				i, ev.Kind, n, ev.Payload, err, s.kind, s.n, s.payload)
		}
		if d.Buffered() != s.buffered {
			t.Errorf(
				"step %d: Buffered() = %d, want %d",
				i, d.Buffered(), s.buffered)
		}
		in = in[n:]
	}
}

// TestEarlyUTF8 checks that invalid text is reported before the rest of its
// frame has arrived.
func TestEarlyUTF8(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{
			name: "invalid byte in the first half of a frame",
			in:   frame(fin|opText, strings.Repeat("a", 10)+"\xff"+strings.Repeat("b", 100))[:6+50],
		},
		{
			name: "surrogate at the end of what arrived",
			in:   frame(fin|opText, "abc\xed\xa0"+strings.Repeat("b", 100))[:6+5],
		},
		{
			name: "code point above U+10FFFF, incomplete",
			in:   frame(fin|opText, "\xf4\x90"+strings.Repeat("b", 100))[:6+2],
		},
		{
			name: "invalid continuation in the second fragment",
			in:   concat(frame(opText, "ok \xe2\x82"), frame(fin|opCont, "(rest of the message")[:6+1]),
		},
		{
			name: "invalid byte in a non-final fragment",
			in:   frame(opText, "\xc0"+strings.Repeat("b", 1000))[:8+4],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{RequireMask: true}
			r := whole(&d, tt.in)
			if r.Err != errTextUTF8 {
				t.Errorf(
					"got %v, want %v",
					r, errTextUTF8)
			}
			d.Reset()
			if r := bytewise(&d, tt.in); r.Err != errTextUTF8 {
				t.Errorf(
					"byte by byte: got %v, want %v",
					r, errTextUTF8)
			}
		})
	}
}

// TestIncompleteFrameIsUnmaskedOnce presents a growing frame again and
// again: bytes unmasked in an earlier call must not be unmasked twice.
func TestIncompleteFrameIsUnmaskedOnce(t *testing.T) {
	payload := strings.Repeat("0123456789abcdef", 100)
	in := frame(fin|opBinary, payload)
	d := Decoder{RequireMask: true}
	for _, k := range []int{1, 5, 8, 9, 10, 100, 101, 1000, len(in) - 1} {
		ev, n, err := d.Next(in[:k])
		if n != 0 || err != nil || ev.Kind != KindNone {
			t.Fatalf(
				"prefix of %d bytes: got %v, %d, %v; want need more",
				k, ev.Kind, n, err)
		}
	}
	ev, n, err := d.Next(in)
	if err != nil || n != len(in) || string(ev.Payload) != payload {
		t.Fatalf(
			"got %v, n %d, err %v; want the payload",
			ev.Kind, n, err)
	}
	if &ev.Payload[0] != &in[8] {
		t.Errorf("a single-frame payload is copied, want it in place")
	}
}

func TestMaxMessageSize(t *testing.T) {
	d := Decoder{RequireMask: true, MaxMessageSize: 100}
	r := whole(&d, concat(
		frame(fin|opBinary, strings.Repeat("a", 100)),
		frame(opText, strings.Repeat("b", 60)),
		frame(fin|opCont, strings.Repeat("c", 40)),
	))
	if r.Err != nil || len(r.Events) != 3 {
		t.Fatalf(
			"messages of exactly MaxMessageSize: got %v, want 3 events",
			r)
	}

	// The header is enough to reject a message.
	tests := []struct {
		name string
		dec  Decoder
		in   []byte
		want error
	}{
		{
			name: "101 bytes",
			dec:  Decoder{RequireMask: true, MaxMessageSize: 100},
			in:   header(fin|opBinary, 101),
			want: errTooBig,
		},
		{
			name: "60 + 41 bytes",
			dec:  Decoder{RequireMask: true, MaxMessageSize: 100},
			in:   concat(frame(opBinary, strings.Repeat("b", 60)), header(fin|opCont, 41)),
			want: errTooBig,
		},
		{
			name: "16 MiB by default",
			dec:  Decoder{RequireMask: true},
			in:   header(fin|opBinary, 16<<20),
		},
		{
			name: "DefaultMaxMessageSize",
			dec:  Decoder{RequireMask: true},
			in:   header(fin|opText, DefaultMaxMessageSize),
		},
		{
			name: "DefaultMaxMessageSize + 1",
			dec:  Decoder{RequireMask: true},
			in:   header(fin|opText, DefaultMaxMessageSize+1),
			want: errTooBig,
		},
		{
			name: "largest 64-bit length",
			dec:  Decoder{RequireMask: true, MaxMessageSize: 1<<63 - 1},
			in:   header(fin|opText, 1<<63-1),
			want: errTooBig,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.dec
			r := whole(&d, tt.in)
			if r.Err != tt.want {
				t.Errorf(
					"got %v, want error %v",
					r, tt.want)
			}
		})
	}
}

// TestLargeMessages decodes 16 MiB messages, whole and fragmented, arriving
// in 1 MiB reads, with the default size limit.
func TestLargeMessages(t *testing.T) {
	const size, read = 16 << 20, 1 << 20
	payload := bytes.Repeat([]byte("16 MiB of text ✓"), size/16)[:size-2]
	payload = append(payload, "ok"...)
	var frag []byte
	for i := 0; i < size; i += read {
		op, b0 := ws.OpContinuation, byte(0)
		if i == 0 {
			op = ws.OpText
		}
		if i+read == size {
			b0 = fin
		}
		frag = AppendMaskedFrame(frag, op, b0 != 0, payload[i:i+read], testMask)
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{
			name: "one frame",
			in:   AppendMaskedFrame(nil, ws.OpText, true, payload, testMask),
		},
		{
			name: "16 fragments",
			in:   frag,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{RequireMask: true}
			var cuts []int
			for i := read; i < len(tt.in); i += read {
				cuts = append(cuts, i)
			}
			r := feed(&d, tt.in, cuts, false)
			if r.Err != nil || r.Rest != 0 {
				t.Fatalf("got %v", r)
			}
			last := r.Events[len(r.Events)-1]
			if last.Kind != KindMessage || last.Payload != string(payload) {
				t.Fatalf(
					"got %v, want the 16 MiB message",
					last)
			}
			if d.buf != nil {
				t.Errorf(
					"after the message the Decoder keeps a buffer of %d bytes",
					cap(d.buf))
			}
		})
	}
}

// TestBufferRelease checks that an idle Decoder keeps no big buffer.
func TestBufferRelease(t *testing.T) {
	d := Decoder{RequireMask: true}
	big := strings.Repeat("x", 64<<10)
	r := whole(&d, concat(frame(opBinary, big), frame(fin|opCont, big)))
	if r.Err != nil || len(r.Events) != 2 || len(r.Events[1].Payload) != 128<<10 {
		t.Fatalf("got %v", r)
	}
	if d.Buffered() != 0 || d.buf != nil {
		t.Errorf(
			"after a 128 KiB fragmented message: Buffered() = %d, cap %d; want 0, 0",
			d.Buffered(), cap(d.buf))
	}

	// A small buffer is kept for the next fragmented message.
	whole(&d, concat(frame(opText, "a"), frame(fin|opCont, "b")))
	if d.Buffered() != 0 || cap(d.buf) == 0 || cap(d.buf) > keepBufCap {
		t.Errorf(
			"after a small fragmented message: Buffered() = %d, cap %d",
			d.Buffered(), cap(d.buf))
	}

	whole(&d, frame(opText, "partial"))
	if d.Buffered() != 7 {
		t.Errorf(
			"Buffered() = %d, want 7",
			d.Buffered())
	}
	d.Reset()
	if d.Buffered() != 0 || d.buf != nil || !d.RequireMask {
		t.Errorf("Reset keeps a buffer or loses the settings")
	}
}

// TestDecoderSize keeps the per-connection cost of an idle Decoder in check.
func TestDecoderSize(t *testing.T) {
	if size := unsafe.Sizeof(Decoder{}); size > 64 {
		t.Errorf(
			"Decoder is %d bytes, want at most 64",
			size)
	}
}

func TestErrorIsSticky(t *testing.T) {
	d := Decoder{RequireMask: true, MaxMessageSize: 5}
	in := concat(frame(opText, "abc"), frame(fin|rsv1|opCont, "d"))
	r := whole(&d, in)
	if r.Err != errReservedBits {
		t.Fatalf(
			"got %v, want %v",
			r, errReservedBits)
	}
	if _, n, err := d.Next(frame(fin|opText, "ok")); err != errReservedBits || n != 0 {
		t.Errorf(
			"after an error: got n %d, err %v; want the same error",
			n, err)
	}
	d.Reset()
	if d.MaxMessageSize != 5 || !d.RequireMask {
		t.Errorf("Reset lost the settings")
	}
	ev, n, err := d.Next(frame(fin|opText, "ok"))
	if err != nil || ev.Kind != KindMessage || n != 8 || string(ev.Payload) != "ok" {
		t.Errorf(
			"after Reset: got %v %q, n %d, err %v",
			ev.Kind, ev.Payload, n, err)
	}
}

// TestResetMidFrame drops a partly received, partly validated text frame.
func TestResetMidFrame(t *testing.T) {
	d := Decoder{RequireMask: true}
	in := frame(opText, "abc\xe2\x82")
	whole(&d, in[:len(in)-1])
	d.Reset()
	r := whole(&d, frame(fin|opText, "fresh"))
	if r.Err != nil || len(r.Events) != 1 || r.Events[0].Payload != "fresh" {
		t.Errorf("after Reset: got %v", r)
	}
}

func TestNoAllocs(t *testing.T) {
	template := frame(fin|opText, strings.Repeat("text ", 1000))
	in := make([]byte, len(template))
	d := Decoder{RequireMask: true}
	allocs := testing.AllocsPerRun(100, func() {
		copy(in, template)
		if _, _, err := d.Next(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf(
			"Next on a single frame: %v allocations, want 0",
			allocs)
	}

	dst := make([]byte, 0, 16<<10)
	payload := make([]byte, 8<<10)
	allocs = testing.AllocsPerRun(100, func() {
		dst = AppendFrame(dst[:0], ws.OpBinary, true, payload)
		dst = AppendClose(dst, ws.StatusGoingAway, "bye")
	})
	if allocs != 0 {
		t.Errorf(
			"AppendFrame and AppendClose: %v allocations, want 0",
			allocs)
	}
}

func TestValidCloseCode(t *testing.T) {
	valid := []ws.StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}
	invalid := []ws.StatusCode{0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	for _, c := range valid {
		if !ValidCloseCode(c) {
			t.Errorf(
				"ValidCloseCode(%d) = false, want true",
				c)
		}
	}
	for _, c := range invalid {
		if ValidCloseCode(c) {
			t.Errorf(
				"ValidCloseCode(%d) = true, want false",
				c)
		}
	}
}

func TestErrorString(t *testing.T) {
	got := errReservedBits.Error()
	want := "websocket: protocol error 1002: reserved bits set"
	if got != want {
		t.Errorf(
			"got %q, want %q",
			got, want)
	}
	for _, e := range []*Error{
		errReservedBits, errRSV1Continuation, errRSV1Control, errReservedOpcode,
		errFragmentedControl, errControlTooLong, errUnmasked, errLengthMSB,
		errNoMessage, errExpectContinuation, errCloseLength, errCloseCode,
		errTooBig, errTextUTF8, errReasonUTF8,
	} {
		// The reason must fit in a close frame next to the code.
		if len(e.Reason) > 123 || e.Reason == "" {
			t.Errorf(
				"reason %q does not fit a close frame",
				e.Reason)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range []string{"none", "message", "ping", "pong", "close", "Kind(5)"} {
		if got := Kind(k).String(); got != want {
			t.Errorf(
				"Kind(%d).String() = %q, want %q",
				k, got, want)
		}
	}
}
