package wsproto

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzInflate inflates arbitrary bytes with an arbitrary dictionary and a
// small limit: InflateMessage must not panic, must keep to the limit, must
// leave dst alone on error, and must agree with compress/flate reading the
// same stream.
func FuzzInflate(f *testing.F) {
	for _, tt := range rfcHello {
		f.Add(tt.compressed, uint16(5), []byte(nil))
		f.Add(tt.compressed, uint16(4), []byte(nil))
	}
	f.Add([]byte{0xf2, 0x00, 0x11, 0x00, 0x00}, uint16(100), []byte("Hello"))
	f.Add(CompressMessage(nil, jsonText(3000, 7), flate.BestSpeed), uint16(4000), []byte(nil))
	f.Add(CompressMessage(nil, jsonText(3000, 7), flate.BestCompression), uint16(2999), jsonText(100, 7))
	f.Add(CompressMessage(nil, make([]byte, 60000), flate.BestCompression), uint16(1000), []byte(nil))
	f.Add([]byte{0x00, 0x00, 0x01, 0xff, 0xfe, 'H', 'e'}, uint16(300), []byte(nil))
	f.Add([]byte{0x07}, uint16(10), []byte(nil))

	f.Fuzz(func(t *testing.T, compressed []byte, limit16 uint16, dict []byte) {
		limit := int64(limit16) + 1
		dst := []byte("dst")
		out, err := InflateMessage(dst, compressed, limit, dict)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || (e.Code != ws.StatusInvalidFramePayloadData && e.Code != ws.StatusMessageTooBig) {
				t.Fatalf("error %v, want an *Error with code 1007 or 1009", err)
			}
			if string(out) != "dst" {
				t.Fatalf("dst changed to %q on error", out)
			}
		} else {
			if !bytes.HasPrefix(out, dst) {
				t.Fatalf("dst changed: %q", out)
			}
			if int64(len(out)-len(dst)) > limit {
				t.Fatalf("%d bytes for a limit of %d", len(out)-len(dst), limit)
			}
		}
		if len(compressed) == 0 {
			return // taken as an empty message, which compress/flate does not do
		}

		// compress/flate, on the same stream, must agree.
		in := append(bytes.Clone(compressed), inflateTail[:]...)
		ref, refErr := io.ReadAll(io.LimitReader(flate.NewReaderDict(bytes.NewReader(in), dict), limit+1))
		switch {
		case int64(len(ref)) > limit:
			if !isCode(err, ws.StatusMessageTooBig) {
				t.Fatalf("compress/flate inflates more than %d bytes, we got %d, %v", limit, len(out)-len(dst), err)
			}
		case refErr != nil:
			if !isCode(err, ws.StatusInvalidFramePayloadData) {
				t.Fatalf("compress/flate fails with %v, we got %d bytes, %v", refErr, len(out)-len(dst), err)
			}
		default:
			if err != nil || !bytes.Equal(out[len(dst):], ref) {
				t.Fatalf("compress/flate inflates %q, we %q, %v", ref, out[len(dst):], err)
			}
		}
	})
}

// FuzzDeflateRoundTrip compresses arbitrary payloads at every level and
// inflates them back, in a message and in a frame.
func FuzzDeflateRoundTrip(f *testing.F) {
	f.Add([]byte(""), int8(1))
	f.Add([]byte("Hello"), int8(9))
	f.Add([]byte("a"), int8(-2))
	f.Add(jsonText(5000, 1), int8(1))
	f.Add(jsonText(300, 2), int8(0))
	f.Add(bytes.Repeat([]byte{0}, 70000), int8(-1))

	f.Fuzz(func(t *testing.T, payload []byte, level8 int8) {
		level := int(level8)%12 - 2 // -2 (HuffmanOnly) to 9
		if level < flate.HuffmanOnly {
			level += 12
		}
		c := CompressMessage([]byte("x"), payload, level)
		if c[0] != 'x' {
			t.Fatal("dst changed")
		}
		c = c[1:]
		limit := int64(max(len(payload), 1))
		got, err := InflateMessage(nil, c, limit, nil)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("level %d: %d bytes round trip to %d, %v", level, len(payload), len(got), err)
		}
		if len(payload) > 1 {
			if _, err := InflateMessage(nil, c, limit-1, nil); !isCode(err, ws.StatusMessageTooBig) {
				t.Fatalf("level %d: limit %d: err %v, want 1009", level, limit-1, err)
			}
		}

		op := ws.OpBinary
		if level%2 == 0 {
			op = ws.OpText
		}
		fr := AppendCompressedFrame(nil, op, payload, level)
		d := Decoder{AllowRSV1: true}
		ev, n, err := d.Next(fr)
		if err != nil || n != len(fr) || ev.Kind != KindMessage || ev.Op != op || !ev.Compressed || !bytes.Equal(ev.Payload, c) {
			t.Fatalf("level %d: frame decodes to %+v, %d, %v", level, ev, n, err)
		}
	})
}

// FuzzNegotiateDeflate checks that any Sec-WebSocket-Extensions value gets
// either a decline or a well-formed answer whose parameters agree with it.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, seed := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=9, permessage-deflate",
		`x-foo; a="b,c", permessage-deflate; server_no_context_takeover`,
		"permessage-deflate; client_max_window_bits=16",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, offer string) {
		resp, p, ok := NegotiateDeflate([]string{offer})
		if !ok {
			if resp != "" || p != (DeflateParams{}) {
				t.Fatalf("declined %q with %q %+v", offer, resp, p)
			}
			return
		}
		if !strings.HasPrefix(resp, "permessage-deflate; server_no_context_takeover; client_no_context_takeover") {
			t.Fatalf("answer %q to %q", resp, offer)
		}
		if p.ServerMaxWindowBits < 8 || p.ServerMaxWindowBits > 15 || !p.ServerNoContextTakeover || !p.ClientNoContextTakeover {
			t.Fatalf("params %+v for %q", p, offer)
		}
		if want := p.ServerMaxWindowBits != 15 || strings.Contains(resp, "server_max_window_bits=15"); want != strings.Contains(resp, "server_max_window_bits") {
			t.Fatalf("answer %q disagrees with params %+v", resp, p)
		}
	})
}
