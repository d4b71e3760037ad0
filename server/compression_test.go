package server_test

import (
	"bytes"
	"compress/flate"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsproto"
)

const deflateOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"

// dialDeflate connects offering permessage-deflate and returns the client
// and the extension the server answered with.
func dialDeflate(t testing.TB, url string, offer string) (*rawClient, string) {
	t.Helper()
	nc := dialTCP(t, url)
	io.WriteString(nc, upgradeRequest("/", offer))
	resp, rest := readResponse(t, nc)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	c := &rawClient{t: t, nc: nc, in: rest}
	c.dec.AllowRSV1 = ext != ""
	return c, ext
}

// compressedFrame returns a masked client frame with RSV1 set whose payload
// is data deflated the way RFC 7692 says.
func compressedFrame(op ws.OpCode, data []byte) []byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	fw.Write(data)
	fw.Flush()
	payload := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
	f := frame(op, true, payload)
	f[0] |= 0x40 // RSV1
	return f
}

func compressingEcho() *server.Server {
	srv := echoServer()
	srv.Compression = true
	return srv
}

func TestCompressionIsNegotiatedOnlyWhenOn(t *testing.T) {
	_, ext := dialDeflate(t, start(t, echoServer()), deflateOffer)
	if ext != "" {
		t.Fatalf("compression off, but the server answered %q", ext)
	}
	url := start(t, compressingEcho())
	_, ext = dialDeflate(t, url, deflateOffer)
	if ext != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Fatalf("answer %q", ext)
	}
	// An offer that can't be honoured is declined, not refused.
	_, ext = dialDeflate(t, url, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99")
	if ext != "" {
		t.Fatalf("bad offer answered with %q", ext)
	}
	// A smaller server window is honoured by compressing without
	// back-references.
	c, ext := dialDeflate(t, url, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9")
	if !strings.Contains(ext, "server_max_window_bits=9") {
		t.Fatalf("answer %q", ext)
	}
	text := strings.Repeat("window bits ", 500)
	c.write(compressedFrame(ws.OpText, []byte(text)))
	ev, err := c.next()
	if err != nil || !ev.Compressed {
		t.Fatalf("%v %v, want a compressed echo", ev.Kind, err)
	}
	got, err := wsproto.InflateMessage(nil, ev.Payload, 1<<20, nil)
	if err != nil || string(got) != text {
		t.Fatalf("inflated %d bytes, %v", len(got), err)
	}
}

// Small messages go out uncompressed; larger ones compressed; both ways
// the payload arrives intact.
func TestCompressionThreshold(t *testing.T) {
	c, _ := dialDeflate(t, start(t, compressingEcho()), deflateOffer)
	for _, tc := range []struct {
		msg        string
		compressed bool
	}{
		{"tiny", false},
		{strings.Repeat("a", server.DefaultCompressionThreshold-1), false},
		{strings.Repeat("b", server.DefaultCompressionThreshold), true},
		{strings.Repeat("héllo ", 10000), true},
	} {
		c.write(compressedFrame(ws.OpText, []byte(tc.msg)))
		ev, err := c.next()
		if err != nil || ev.Kind != wsproto.KindMessage {
			t.Fatalf("%d bytes: %v %v", len(tc.msg), ev.Kind, err)
		}
		if ev.Compressed != tc.compressed {
			t.Fatalf("%d bytes: compressed %v, want %v", len(tc.msg), ev.Compressed, tc.compressed)
		}
		got := ev.Payload
		if ev.Compressed {
			if got, err = wsproto.InflateMessage(nil, got, 1<<20, nil); err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != tc.msg {
			t.Fatalf("%d bytes echoed as %d", len(tc.msg), len(got))
		}
	}
}

// A compressed message that inflates past MaxMessageSize is refused with
// 1009 without inflating it all: a decompression bomb.
func TestDecompressionBombIsRefused(t *testing.T) {
	srv := compressingEcho()
	srv.MaxMessageSize = 1 << 20
	c, _ := dialDeflate(t, start(t, srv), deflateOffer)
	bomb := compressedFrame(ws.OpBinary, make([]byte, 16<<20)) // 16 MiB of zeros
	t.Logf("16 MiB compressed to %d bytes", len(bomb))
	c.write(bomb)
	c.expectClose(ws.StatusMessageTooBig)
}

func TestCompressedMessageErrors(t *testing.T) {
	url := start(t, compressingEcho())
	t.Run("invalid UTF-8 after inflating", func(t *testing.T) {
		c, _ := dialDeflate(t, url, deflateOffer)
		c.write(compressedFrame(ws.OpText, []byte("caf\xc3(")))
		c.expectClose(ws.StatusInvalidFramePayloadData)
	})
	t.Run("corrupt deflate data", func(t *testing.T) {
		c, _ := dialDeflate(t, url, deflateOffer)
		f := frame(ws.OpBinary, true, []byte{0xff, 0xff, 0xff, 0xff, 0xff})
		f[0] |= 0x40
		c.write(f)
		c.expectClose(ws.StatusInvalidFramePayloadData)
	})
	t.Run("RSV1 without the extension", func(t *testing.T) {
		c := dialRaw(t, url)
		c.write(compressedFrame(ws.OpText, []byte("hello")))
		c.expectClose(ws.StatusProtocolError)
	})
}

// Broadcast compresses a message once for all clients, not once per
// client: compare plain and compressed broadcasts to the same clients.
func BenchmarkBroadcast(b *testing.B) {
	for _, compressed := range []bool{false, true} {
		name := "plain"
		if compressed {
			name = "compressed"
		}
		b.Run(name+"/200clients", func(b *testing.B) {
			srv := &server.Server{Compression: true, Logger: quietLogger()}
			url := start(b, srv)
			offer := "X-None: 1"
			if compressed {
				offer = deflateOffer
			}
			var wg sync.WaitGroup
			for i := 0; i < 200; i++ {
				c, _ := dialDeflate(b, url, offer)
				wg.Add(1)
				go func() {
					defer wg.Done()
					io.Copy(io.Discard, c.nc)
				}()
			}
			for srv.Len() < 200 {
				time.Sleep(time.Millisecond) // every client registered
			}
			msg := strings.Repeat("a broadcast message that compresses well ", 100) // 4 KiB
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				srv.BroadcastText(msg)
			}
		})
	}
}
