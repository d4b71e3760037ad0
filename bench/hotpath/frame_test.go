package hotpath

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

var sizes = []int{64, 16 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

var mask = [4]byte{0x12, 0x34, 0x56, 0x78}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*131 + 17)
	}
	return p
}

// BenchmarkDecode decodes one masked binary frame as a server receives it
// (the bytes are copied in first, since decoding unmasks in place).
func BenchmarkDecode(b *testing.B) {
	for _, size := range sizes {
		frame := wsproto.AppendMaskedFrame(nil, ws.OpBinary, true, payload(size), mask)
		buf := make([]byte, len(frame))
		b.Run("wsloop/"+sizeName(size), func(b *testing.B) {
			d := wsproto.Decoder{RequireMask: true}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, frame)
				ev, n, err := d.Next(buf)
				if err != nil || n != len(buf) || ev.Kind != wsproto.KindMessage {
					b.Fatalf("kind %v n %d err %v", ev.Kind, n, err)
				}
			}
		})
		b.Run("gobwas/"+sizeName(size), func(b *testing.B) {
			// ws.ReadHeader + ws.Cipher, the pieces a gobwas event-loop
			// server uses (no UTF-8 check: binary).
			var r bytes.Reader
			p := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, frame)
				r.Reset(buf)
				h, err := ws.ReadHeader(&r)
				if err != nil || h.Length != int64(size) {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(&r, p); err != nil {
					b.Fatal(err)
				}
				ws.Cipher(p, h.Mask, 0)
			}
		})
	}
}

// BenchmarkEncode appends one unmasked server frame to a reused buffer.
func BenchmarkEncode(b *testing.B) {
	for _, size := range sizes {
		p := payload(size)
		dst := make([]byte, 0, size+16)
		b.Run("wsloop/"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				dst = wsproto.AppendFrame(dst[:0], ws.OpBinary, true, p)
			}
		})
		b.Run("gobwas/"+sizeName(size), func(b *testing.B) {
			w := bytes.NewBuffer(dst[:0])
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				w.Reset()
				if err := ws.WriteFrame(w, ws.NewBinaryFrame(p)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMask XORs a payload with a mask key: gobwas's ws.Cipher (what
// wsloop's client tools use) against a plain byte loop.
func BenchmarkMask(b *testing.B) {
	for _, size := range append(sizes, 1<<20) {
		p := payload(size)
		b.Run("gobwas-Cipher/"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				ws.Cipher(p, mask, 0)
			}
		})
		b.Run("byteloop/"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for i := range p {
					p[i] ^= mask[i&3]
				}
			}
		})
	}
}
