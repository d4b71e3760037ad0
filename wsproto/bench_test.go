package wsproto

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gobwas/ws"
)

var benchSizes = []int{64, 16 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkDecode decodes a single masked frame, as a server receives it:
// the frame is copied into the read buffer, then unmasked, checked and, for
// text, validated as UTF-8.
func BenchmarkDecode(b *testing.B) {
	for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
		for _, size := range benchSizes {
			name := "binary/" + sizeName(size)
			if op == ws.OpText {
				name = "text/" + sizeName(size)
			}
			b.Run(name, func(b *testing.B) {
				payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
				template := AppendMaskedFrame(nil, op, true, payload, testMask)
				buf := make([]byte, len(template))
				d := Decoder{RequireMask: true}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf, template)
					ev, n, err := d.Next(buf)
					if err != nil || n != len(buf) || ev.Kind != KindMessage {
						b.Fatalf(
							"got %v, n %d, err %v",
							ev.Kind, n, err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeFragmented decodes a message of 16 frames.
func BenchmarkDecodeFragmented(b *testing.B) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64)
	var template []byte
	for i := range 16 {
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpText
		}
		template = AppendMaskedFrame(template, op, i == 15, payload, testMask)
	}
	buf := make([]byte, len(template))
	d := Decoder{RequireMask: true}
	b.SetBytes(16 * int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, template)
		for in := buf; len(in) > 0; {
			_, n, err := d.Next(in)
			if err != nil || n == 0 {
				b.Fatalf(
					"n %d, err %v",
					n, err)
			}
			in = in[n:]
		}
	}
}

// BenchmarkAppendFrame encodes a server frame into a buffer with room.
func BenchmarkAppendFrame(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			payload := bytes.Repeat([]byte("x"), size)
			dst := make([]byte, 0, size+16)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendFrame(dst[:0], ws.OpBinary, true, payload)
			}
		})
	}
}

// BenchmarkUTF8 validates 16 KiB of text in one Write.
func BenchmarkUTF8(b *testing.B) {
	for _, tt := range []struct {
		name string
		text string
	}{
		{
			name: "ASCII",
			text: "0123456789abcdef",
		},
		{
			name: "mixed",
			text: "κόσμε € 😀 ✓ a",
		},
	} {
		b.Run(tt.name, func(b *testing.B) {
			p := bytes.Repeat([]byte(tt.text), 16<<10/len(tt.text))
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			var v UTF8
			for b.Loop() {
				v.Reset()
				if !v.Write(p) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
