package wsproto

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

func TestNegotiateDeflate(t *testing.T) {
	const (
		plain = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
		w15   = plain + "; server_max_window_bits=15"
		w8    = plain + "; server_max_window_bits=8"
	)
	tests := []struct {
		name   string
		offers []string
		want   string // "" to decline
	}{
		{"Chromium", []string{"permessage-deflate; client_max_window_bits"}, plain},
		{"Firefox", []string{"permessage-deflate"}, plain},
		{"Python websockets", []string{"permessage-deflate; client_max_window_bits"}, plain},
		{"Node ws", []string{"permessage-deflate; client_max_window_bits"}, plain},
		{"gorilla", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, plain},
		{"Autobahn default", []string{"permessage-deflate; client_no_context_takeover; client_max_window_bits"}, plain},
		{"client window value", []string{"permessage-deflate; client_max_window_bits=10"}, plain},
		{"client window 8", []string{"permessage-deflate; client_max_window_bits=8"}, plain},
		{"server window 15", []string{"permessage-deflate; server_max_window_bits=15"}, w15},
		{"server window 15 quoted", []string{`permessage-deflate; server_max_window_bits="15"`}, w15},
		{"quoted with escape", []string{`permessage-deflate; client_max_window_bits="1\5"`}, plain},
		{"whitespace", []string{"\tpermessage-deflate ;\tclient_max_window_bits = 10 ; server_no_context_takeover "}, plain},
		{"first unacceptable", []string{"permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits"}, plain},
		{"first unacceptable, second 15", []string{"permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=15"}, w15},
		{"Autobahn 13.7", []string{"permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=8, permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, permessage-deflate; client_no_context_takeover; client_max_window_bits"}, w8},
		{"second header line", []string{"permessage-deflate; server_max_window_bits=x", "permessage-deflate; client_max_window_bits=12"}, plain},
		{"server window 8", []string{"permessage-deflate; server_max_window_bits=8"}, w8},
		{"server window 14", []string{"permessage-deflate; server_max_window_bits=14"}, plain + "; server_max_window_bits=14"},
		{"unknown extension first", []string{"x-foo, permessage-deflate; client_max_window_bits"}, plain},
		{"unknown extension with params first", []string{`x-foo; a=1; b="x;y"`, "permessage-deflate"}, plain},
		{"empty elements", []string{" , ,permessage-deflate,"}, plain},

		{"nil", nil, ""},
		{"empty", []string{""}, ""},
		{"only commas", []string{" , ,"}, ""},
		{"unknown extension only", []string{"x-foo; a=1"}, ""},
		{"comma inside quotes", []string{`x-foo; p="1,permessage-deflate,2"`}, ""},
		{"other case", []string{"Permessage-Deflate"}, ""},
		{"name prefix", []string{"permessage-deflatex"}, ""},
		{"server window without value", []string{"permessage-deflate; server_max_window_bits"}, ""},
		{"client window 16", []string{"permessage-deflate; client_max_window_bits=16"}, ""},
		{"client window 7", []string{"permessage-deflate; client_max_window_bits=7"}, ""},
		{"client window abc", []string{"permessage-deflate; client_max_window_bits=abc"}, ""},
		{"client window leading zero", []string{"permessage-deflate; client_max_window_bits=08"}, ""},
		{"client window sign", []string{"permessage-deflate; client_max_window_bits=+9"}, ""},
		{"client window empty quotes", []string{`permessage-deflate; client_max_window_bits=""`}, ""},
		{"client window missing value", []string{"permessage-deflate; client_max_window_bits="}, ""},
		{"unterminated quote", []string{`permessage-deflate; client_max_window_bits="10`}, ""},
		{"duplicate client window", []string{"permessage-deflate; client_max_window_bits; client_max_window_bits=10"}, ""},
		{"duplicate server window", []string{"permessage-deflate; server_max_window_bits=15; server_max_window_bits=15"}, ""},
		{"duplicate server no context", []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, ""},
		{"duplicate client no context", []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, ""},
		{"value on flag", []string{"permessage-deflate; server_no_context_takeover=1"}, ""},
		{"empty value on flag", []string{`permessage-deflate; client_no_context_takeover=""`}, ""},
		{"unknown parameter", []string{"permessage-deflate; foo=bar"}, ""},
		{"trailing semicolon", []string{"permessage-deflate;"}, ""},
		{"empty parameter", []string{"permessage-deflate; ; client_max_window_bits"}, ""},
		{"space in value", []string{"permessage-deflate; client_max_window_bits=1 0"}, ""},
		{"garbage", []string{"permessage-deflate; =10"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, p, ok := NegotiateDeflate(tt.offers)
			if resp != tt.want || ok != (tt.want != "") {
				t.Fatalf("NegotiateDeflate(%q) = %q, %v; want %q", tt.offers, resp, ok, tt.want)
			}
			want := DeflateParams{}
			if ok {
				bits := 15
				if _, v, found := strings.Cut(resp, "server_max_window_bits="); found {
					bits, _ = strconv.Atoi(v)
				}
				want = DeflateParams{true, true, bits, 15}
			}
			if p != want {
				t.Errorf("params = %+v, want %+v", p, want)
			}
		})
	}
}

func TestNegotiateDeflateAllocs(t *testing.T) {
	offers := []string{"x-foo, permessage-deflate; client_max_window_bits"}
	if n := testing.AllocsPerRun(100, func() { NegotiateDeflate(offers) }); n != 0 {
		t.Errorf("NegotiateDeflate allocates %v times", n)
	}
}

// The examples of RFC 7692, section 7.2.3.
var rfcHello = []struct {
	name       string
	compressed []byte
}{
	{"7.2.3.1 literal", []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}},
	{"7.2.3.3 stored", []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}},
	{"7.2.3.4 BFINAL", []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}},
	{"7.2.3.5 two blocks", []byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}},
}

func TestInflateRFCExamples(t *testing.T) {
	for _, tt := range rfcHello {
		got, err := InflateMessage([]byte("<"), tt.compressed, 5, nil)
		if err != nil || string(got) != "<Hello" {
			t.Errorf("%s: got %q, %v; want \"<Hello\"", tt.name, got, err)
		}
	}
	// 7.2.3.2: the second message refers to the first, with context
	// takeover.
	second := []byte{0xf2, 0x00, 0x11, 0x00, 0x00}
	if got, err := InflateMessage(nil, second, 0, []byte("Hello")); err != nil || string(got) != "Hello" {
		t.Errorf("7.2.3.2 with dictionary: got %q, %v", got, err)
	}
	if got, err := InflateMessage(nil, second, 0, nil); err == nil {
		t.Errorf("7.2.3.2 without dictionary: got %q, want an error", got)
	}
	// 7.2.3.1: a message compressed by us is what the RFC shows.
	if got := CompressMessage(nil, []byte("Hello"), flate.BestCompression); !bytes.Equal(got, rfcHello[0].compressed) {
		t.Errorf("CompressMessage(Hello) = % x, want % x", got, rfcHello[0].compressed)
	}
}

// testPayloads returns messages of the given size: random bytes, a
// repeated byte, and JSON-like text.
func testPayloads(size int) map[string][]byte {
	r := rand.New(rand.NewPCG(uint64(size), 1))
	random := make([]byte, size)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	return map[string][]byte{
		"random":     random,
		"repetitive": bytes.Repeat([]byte{'a'}, size),
		"text":       jsonText(size, uint64(size)),
	}
}

// jsonText returns size bytes of JSON-like records, as a server might
// send, made from seed.
func jsonText(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	names := []string{"alice", "bob", "carol", "dave", "eve", "mallory", "trent"}
	var b []byte
	for len(b) < size {
		b = fmt.Appendf(b, `{"id":%d,"user":%q,"price":%d.%02d,"side":%q,"ts":%d},`,
			r.IntN(1e6), names[r.IntN(len(names))], r.IntN(1000), r.IntN(100),
			[]string{"buy", "sell"}[r.IntN(2)], 1700000000000+r.Int64N(1e9))
	}
	return b[:size]
}

var testSizes = []int{0, 1, 64, 16 << 10, 1 << 20}

// flateInflate is the reference: compress/flate reading the message with
// the 4 bytes of a sync flush put back, as zlib-based receivers do. The
// stream then ends without a final block, which compress/flate reports as
// io.ErrUnexpectedEOF once all is read.
func flateInflate(compressed, dict []byte) ([]byte, error) {
	r := flate.NewReaderDict(bytes.NewReader(append(compressed[:len(compressed):len(compressed)], 0, 0, 0xff, 0xff)), dict)
	out, err := io.ReadAll(r)
	if err == io.ErrUnexpectedEOF {
		err = nil
	}
	return out, err
}

// flateCompress is the reference compressor: compress/flate with a sync
// flush, the tail removed.
func flateCompress(t testing.TB, payload []byte, level int) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(payload)
	w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

func TestCompressMessageInterop(t *testing.T) {
	for _, size := range testSizes {
		for kind, payload := range testPayloads(size) {
			levels := []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, 2, 5, flate.BestCompression}
			if size > 64<<10 {
				levels = []int{flate.BestSpeed, flate.DefaultCompression}
			}
			for _, level := range levels {
				name := fmt.Sprintf("%s/%s/level%d", sizeName(size), kind, level)
				prefix := []byte("prefix")
				c := CompressMessage(prefix, payload, level)
				if !bytes.HasPrefix(c, []byte("prefix")) {
					t.Fatalf("%s: dst overwritten", name)
				}
				c = c[len(prefix):]
				if bytes.HasSuffix(c, []byte{0, 0, 0xff, 0xff}) && size > 0 {
					t.Errorf("%s: the tail was not removed", name)
				}
				if got, err := flateInflate(c, nil); err != nil || !bytes.Equal(got, payload) {
					t.Errorf("%s: compress/flate inflates it to %d bytes, %v", name, len(got), err)
				}
				if got, err := wsflate.DefaultHelper.Decompress(c); err != nil || !bytes.Equal(got, payload) {
					t.Errorf("%s: wsflate inflates it to %d bytes, %v", name, len(got), err)
				}
				if got, err := InflateMessage(nil, c, int64(max(size, 1)), nil); err != nil || !bytes.Equal(got, payload) {
					t.Errorf("%s: InflateMessage inflates it to %d bytes, %v", name, len(got), err)
				}
				if kind == "repetitive" && size >= 16<<10 && level != flate.NoCompression && len(c) > size/4 {
					t.Errorf("%s: %d bytes compressed to %d", name, size, len(c))
				}
			}
		}
	}
}

func TestInflateMessageInterop(t *testing.T) {
	for _, size := range testSizes {
		for kind, payload := range testPayloads(size) {
			refs := map[string][]byte{
				"flate1": flateCompress(t, payload, flate.BestSpeed),
				"flate9": flateCompress(t, payload, flate.BestCompression),
				"huff":   flateCompress(t, payload, flate.HuffmanOnly),
			}
			c, err := wsflate.DefaultHelper.Compress(payload)
			if err != nil {
				t.Fatal(err)
			}
			refs["wsflate"] = c
			for ref, c := range refs {
				name := fmt.Sprintf("%s/%s/%s", sizeName(size), kind, ref)
				dst := make([]byte, 3, 10)
				got, err := InflateMessage(dst, c, int64(max(size, 1)), nil)
				if err != nil || !bytes.Equal(got[:3], dst) || !bytes.Equal(got[3:], payload) {
					t.Errorf("%s: got %d bytes, %v; want %d", name, len(got)-3, err, size)
				}
				if size > 1 {
					if _, err := InflateMessage(nil, c, int64(size-1), nil); !isCode(err, ws.StatusMessageTooBig) {
						t.Errorf("%s: limit %d: err = %v, want 1009", name, size-1, err)
					}
				}
			}
		}
	}
}

func isCode(err error, code ws.StatusCode) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// TestContextTakeover inflates the messages of a client that keeps its
// compression context: one flate stream, flushed after each message. The
// server carries the last 32 KiB of output over as the dictionary.
func TestContextTakeover(t *testing.T) {
	var stream bytes.Buffer
	w, _ := flate.NewWriter(&stream, flate.DefaultCompression)
	var history []byte
	sizes := []int{5, 64, 1000, 40 << 10, 3, 16 << 10, 70 << 10, 100, 0, 2000}
	for i, size := range sizes {
		msg := jsonText(size, uint64(i%3)) // repeats, so the window matters
		stream.Reset()
		w.Write(msg)
		w.Flush()
		c := bytes.TrimSuffix(stream.Bytes(), []byte{0, 0, 0xff, 0xff})

		dict := history[max(0, len(history)-32<<10):]
		got, err := InflateMessage(nil, c, 1<<20, dict)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bytes): got %d bytes, %v", i, size, len(got), err)
		}
		if ref, err := flateInflate(c, dict); err != nil || !bytes.Equal(ref, msg) {
			t.Fatalf("message %d: the reference got %d bytes, %v", i, len(ref), err)
		}
		if i > 0 && size >= 1000 {
			if _, err := InflateMessage(nil, c, 1<<20, nil); err == nil {
				t.Errorf("message %d inflates without the dictionary", i)
			}
		}
		history = append(history, msg...)
	}
}

func TestInflateBomb(t *testing.T) {
	// Allocations are not measurable with the race detector, whose
	// sync.Pool drops objects at random.
	const limit = 1 << 20
	bomb := flateCompress(t, make([]byte, 10<<20), flate.BestCompression)
	t.Logf("10 MiB of zeros compressed to %d bytes", len(bomb))

	// The first time, the pool of chunks may be empty.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	InflateMessage(nil, bomb, limit, nil)
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; !deflateRace && allocated > limit+128<<10 {
		t.Errorf("allocated %d bytes for a limit of %d, with a cold pool", allocated, limit)
	}

	began := time.Now()
	runtime.ReadMemStats(&before)
	_, err := InflateMessage(nil, bomb, limit, nil)
	runtime.ReadMemStats(&after)
	took := time.Since(began)
	if !isCode(err, ws.StatusMessageTooBig) {
		t.Fatalf("err = %v, want code 1009", err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("refused in %v, allocating %d bytes", took, allocated)
	if !deflateRace && allocated > 64<<10 {
		t.Errorf("allocated %d bytes for a limit of %d", allocated, limit)
	}
	if took > time.Second {
		t.Errorf("took %v", took)
	}

	// With room in dst, as a server that reuses its buffer has, it
	// allocates nothing.
	dst := make([]byte, 0, limit+1)
	if n := testing.AllocsPerRun(10, func() {
		if _, err := InflateMessage(dst, bomb, limit, nil); err == nil {
			t.Fatal("no error")
		}
	}); !deflateRace && n != 0 {
		t.Errorf("%v allocations with room in dst", n)
	}

	// A message that fits costs one buffer of its size, with dst.
	fits := flateCompress(t, make([]byte, limit), flate.BestSpeed)
	dst = []byte("abc")
	runtime.ReadMemStats(&before)
	got, err := InflateMessage(dst, fits, limit, nil)
	runtime.ReadMemStats(&after)
	if err != nil || len(got) != 3+limit || cap(got) > 3+limit+16<<10 || string(got[:3]) != "abc" {
		t.Errorf("exactly at the limit: len %d, cap %d, %v", len(got), cap(got), err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; !deflateRace && allocated > limit+64<<10 {
		t.Errorf("allocated %d bytes for a message of %d", allocated, limit)
	}
}

func TestInflateDefaultLimit(t *testing.T) {
	c := flateCompress(t, make([]byte, DefaultMaxMessageSize+1), flate.BestSpeed)
	if _, err := InflateMessage(nil, c, 0, nil); !isCode(err, ws.StatusMessageTooBig) {
		t.Errorf("limit 0: err = %v, want 1009", err)
	}
}

func TestInflateCorrupt(t *testing.T) {
	long := flateCompress(t, jsonText(5000, 1), flate.DefaultCompression)
	tests := []struct {
		name string
		in   []byte
		err  *Error
	}{
		{"reserved block type", []byte{0x07}, errInflateCorrupt},
		{"reserved block type, final", []byte{0xff, 0xff}, errInflateCorrupt},
		{"stored length mismatch", []byte{0x00, 0x05, 0x00, 0xfa, 0xfe, 'H', 'e', 'l', 'l', 'o'}, errInflateCorrupt},
		{"stored block cut short", []byte{0x00, 0x00, 0x01, 0xff, 0xfe, 'H', 'e'}, errInflateTruncated},
		{"distance before start", []byte{0xf2, 0x00, 0x11, 0x00, 0x00}, errInflateCorrupt},
		{"bad dynamic header", []byte{0x05, 0xff, 0xff, 0xff, 0xff}, errInflateCorrupt},
		{"one byte", []byte{0x01}, nil}, // a final empty stored block: an empty message, then our tail is ignored
	}
	for _, tt := range tests {
		got, err := InflateMessage([]byte("x"), tt.in, 1<<20, nil)
		if tt.err == nil {
			if err != nil || string(got) != "x" {
				t.Errorf("%s: got %q, %v", tt.name, got, err)
			}
			continue
		}
		if err != tt.err || string(got) != "x" {
			t.Errorf("%s: got %q, %v; want %v", tt.name, got, err, tt.err)
		}
	}
	// Cut anywhere, or with bytes flipped, a message must fail with 1007
	// or decode to something, never panic.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		in := bytes.Clone(long[:r.IntN(len(long))])
		if i%2 == 1 && len(in) > 0 {
			in[r.IntN(len(in))] ^= byte(1 << r.IntN(8))
		}
		if _, err := InflateMessage(nil, in, 1<<20, nil); err != nil && !isCode(err, ws.StatusInvalidFramePayloadData) {
			t.Fatalf("err = %v, want code 1007", err)
		}
	}
}

func TestInflateEmpty(t *testing.T) {
	if got, err := InflateMessage([]byte("x"), nil, 10, nil); err != nil || string(got) != "x" {
		t.Errorf("empty: got %q, %v", got, err)
	}
	c := CompressMessage(nil, nil, flate.BestSpeed)
	if got, err := InflateMessage(nil, c, 10, nil); err != nil || len(got) != 0 {
		t.Errorf("compressed empty message % x: got %q, %v", c, got, err)
	}
}

func TestAppendCompressedFrame(t *testing.T) {
	for _, size := range []int{0, 10, 120, 300, 70000} {
		for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
			payload := testPayloads(size)["random"]
			if op == ws.OpText {
				payload = jsonText(size, 3)
			}
			name := fmt.Sprintf("%v/%d", op, size)
			b := AppendCompressedFrame([]byte("before"), op, payload, flate.BestSpeed)
			if !bytes.HasPrefix(b, []byte("before")) {
				t.Fatalf("%s: dst overwritten", name)
			}
			b = b[len("before"):]

			// gobwas/ws reads the frame.
			f, err := ws.ReadFrame(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: ws.ReadFrame: %v", name, err)
			}
			if !f.Header.Fin || f.Header.Rsv != ws.Rsv(true, false, false) || f.Header.OpCode != op || f.Header.Masked {
				t.Errorf("%s: header %+v", name, f.Header)
			}
			if want := CompressMessage(nil, payload, flate.BestSpeed); !bytes.Equal(f.Payload, want) {
				t.Errorf("%s: payload differs from CompressMessage's", name)
			}
			if got, err := wsflate.DefaultHelper.Decompress(f.Payload); err != nil || !bytes.Equal(got, payload) {
				t.Errorf("%s: wsflate inflates %d bytes, %v", name, len(got), err)
			}

			// So does our Decoder.
			d := Decoder{AllowRSV1: true}
			ev, n, err := d.Next(b)
			if err != nil || n != len(b) || ev.Kind != KindMessage || ev.Op != op || !ev.Compressed {
				t.Fatalf("%s: Next = %+v, %d, %v", name, ev, n, err)
			}
			if got, err := InflateMessage(nil, ev.Payload, int64(size+1), nil); err != nil || !bytes.Equal(got, payload) {
				t.Errorf("%s: inflated %d bytes, %v", name, len(got), err)
			}
		}
	}
}

func TestDeflatePanics(t *testing.T) {
	for _, f := range []func(){
		func() { CompressMessage(nil, []byte("x"), 10) },
		func() { CompressMessage(nil, []byte("x"), -3) },
		func() { AppendCompressedFrame(nil, ws.OpPing, []byte("x"), 1) },
		func() { AppendCompressedFrame(nil, ws.OpContinuation, []byte("x"), 1) },
	} {
		func() {
			defer func() {
				if e := recover(); e == nil || !strings.HasPrefix(fmt.Sprint(e), "wsproto: ") {
					t.Errorf("recovered %v", e)
				}
			}()
			f()
		}()
	}
}

func TestDeflateNoAllocs(t *testing.T) {
	if deflateRace {
		t.Skip("allocations are not measurable with the race detector")
	}
	msg := jsonText(64, 1)
	c := CompressMessage(nil, msg, flate.BestSpeed)
	dst := make([]byte, 0, 1024)
	for _, level := range []int{flate.BestSpeed, flate.DefaultCompression} {
		if n := testing.AllocsPerRun(100, func() { CompressMessage(dst, msg, level) }); n != 0 {
			t.Errorf("CompressMessage level %d: %v allocations", level, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { AppendCompressedFrame(dst, ws.OpText, msg, flate.BestSpeed) }); n != 0 {
		t.Errorf("AppendCompressedFrame: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { InflateMessage(dst, c, 1024, nil) }); n != 0 {
		t.Errorf("InflateMessage: %v allocations", n)
	}
	// Also when the message fills dst exactly.
	exact := make([]byte, 0, len(msg))
	if n := testing.AllocsPerRun(100, func() { InflateMessage(exact, c, int64(len(msg)), nil) }); n != 0 {
		t.Errorf("InflateMessage into a buffer of the exact size: %v allocations", n)
	}
}

func TestDeflateConcurrent(t *testing.T) {
	done := make(chan error)
	for g := range 4 {
		go func() {
			for i := range 50 {
				msg := jsonText(100+g*1000+i*37, uint64(g))
				c := CompressMessage(nil, msg, []int{flate.BestSpeed, flate.DefaultCompression}[i%2])
				got, err := InflateMessage(nil, c, 1<<20, nil)
				if err == nil && !bytes.Equal(got, msg) {
					err = errors.New("round trip differs")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkCompressMessage(b *testing.B) {
	for _, level := range []int{flate.BestSpeed, flate.DefaultCompression} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("level%d/%s", level, sizeName(size)), func(b *testing.B) {
				msg := jsonText(size, 1)
				dst := make([]byte, 0, 2*size+64)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var n int
				for b.Loop() {
					n = len(CompressMessage(dst, msg, level))
				}
				b.ReportMetric(float64(n)/float64(size), "ratio")
			})
		}
	}
}

func BenchmarkInflateMessage(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			msg := jsonText(size, 1)
			c := CompressMessage(nil, msg, flate.BestSpeed)
			dst := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := InflateMessage(dst, c, int64(size), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
