package wsproto

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Bits of the first header byte, for building frames by hand.
const (
	fin  = 0x80
	rsv1 = 0x40
	rsv2 = 0x20
	rsv3 = 0x10

	opCont   = byte(ws.OpContinuation)
	opText   = byte(ws.OpText)
	opBinary = byte(ws.OpBinary)
	opClose  = byte(ws.OpClose)
	opPing   = byte(ws.OpPing)
	opPong   = byte(ws.OpPong)
)

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// rawFrame builds a frame the long way, independently of the encoder under
// test: first byte b0 (FIN, RSV bits and opcode), the shortest length form,
// and the payload masked with testMask if masked.
func rawFrame(b0 byte, masked bool, payload []byte) []byte {
	out := []byte{b0}
	var m byte
	if masked {
		m = 0x80
	}
	n := len(payload)
	switch {
	case n < 126:
		out = append(out, m|byte(n))
	case n < 1<<16:
		out = append(out, m|126, byte(n>>8), byte(n))
	default:
		out = append(out, m|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if !masked {
		return append(out, payload...)
	}
	out = append(out, testMask[:]...)
	for i, c := range payload {
		out = append(out, c^testMask[i%4])
	}
	return out
}

// frame is a masked client frame with first byte b0 and payload p.
func frame(b0 byte, p string) []byte { return rawFrame(b0, true, []byte(p)) }

// closeFrame is a masked close frame with the given code and reason.
func closeFrame(code uint16, reason string) []byte {
	return frame(fin|opClose, string([]byte{byte(code >> 8), byte(code)})+reason)
}

// header is a masked frame header declaring length n, without payload.
func header(b0 byte, n int64) []byte {
	h := ws.Header{Fin: b0&fin != 0, Rsv: b0 >> 4 & 7, OpCode: ws.OpCode(b0 & 0x0f), Length: n, Masked: true, Mask: testMask}
	return AppendHeader(nil, h)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// record is an Event (or a consumed fragment) in a comparable form.
type record struct {
	Kind       Kind
	Op         ws.OpCode
	Compressed bool
	Code       ws.StatusCode
	Payload    string
	Reason     string
	N          int // bytes consumed
}

func (r record) String() string {
	p := r.Payload
	if len(p) > 40 {
		p = p[:40] + fmt.Sprintf("...(%d bytes)", len(r.Payload))
	}
	return fmt.Sprintf("{%v op=%d compressed=%v code=%d payload=%q reason=%q n=%d}",
		r.Kind, r.Op, r.Compressed, r.Code, p, r.Reason, r.N)
}

// result is everything a Decoder did with a stream.
type result struct {
	Events []record
	Rest   int   // bytes left unconsumed at the end, if no error
	Err    error // the error that stopped decoding, if any
}

func (r result) String() string {
	return fmt.Sprintf("events=%v rest=%d err=%v", r.Events, r.Rest, r.Err)
}

func (r result) equal(o result) bool {
	return slices.Equal(r.Events, o.Events) && r.Rest == o.Rest && r.Err == o.Err
}

// feed plays an event-loop server: the stream arrives in pieces ending at
// the offsets in cuts (ascending), each appended to the unconsumed bytes,
// and Next is called until it needs more. If move is set, the unconsumed
// bytes are copied to a new buffer after every piece. data is not modified.
func feed(d *Decoder, data []byte, cuts []int, move bool) result {
	var r result
	var buf []byte
	prev := 0
	for _, c := range append(slices.Clone(cuts), len(data)) {
		if move {
			buf = slices.Clone(buf)
		}
		buf = append(buf, data[prev:c]...)
		prev = c
		for {
			ev, n, err := d.Next(buf)
			if err != nil {
				if n != 0 || ev.Kind != KindNone {
					panic(fmt.Sprintf("error %v with n=%d kind=%v", err, n, ev.Kind))
				}
				// Rest stays 0: how many bytes had arrived when the
				// error was found depends on how they were split.
				r.Err = err
				return r
			}
			if n == 0 {
				if ev.Kind != KindNone {
					panic(fmt.Sprintf("n=0 with kind %v", ev.Kind))
				}
				break
			}
			if n > len(buf) {
				panic(fmt.Sprintf("consumed %d of %d bytes", n, len(buf)))
			}
			r.Events = append(r.Events, record{
				Kind:       ev.Kind,
				Op:         ev.Op,
				Compressed: ev.Compressed,
				Code:       ev.Code,
				Payload:    string(ev.Payload),
				Reason:     ev.Reason,
				N:          n,
			})
			buf = buf[n:]
		}
	}
	r.Rest = len(buf)
	return r
}

// whole decodes data presented all at once.
func whole(d *Decoder, data []byte) result { return feed(d, data, nil, false) }

// bytewise decodes data arriving one byte at a time.
func bytewise(d *Decoder, data []byte) result {
	cuts := make([]int, 0, len(data))
	for i := 1; i < len(data); i++ {
		cuts = append(cuts, i)
	}
	return feed(d, data, cuts, false)
}

// validPrefix is the reference for UTF8.Write: whether p is valid UTF-8 or a
// prefix of valid UTF-8.
func validPrefix(p []byte) bool {
	for len(p) > 0 {
		if !utf8.FullRune(p) {
			// What is left is a proper prefix of a valid encoding:
			// FullRune is only false for those.
			return true
		}
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			return false
		}
		p = p[size:]
	}
	return true
}
