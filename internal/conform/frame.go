package conform

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// WebSocket opcodes, including the reserved ones the cases send on purpose.
const (
	opCont   byte = 0x0
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xA
)

// Close codes used by the cases.
const (
	closeNormal         = 1000
	closeGoingAway      = 1001
	closeProtocolError  = 1002
	closeInvalidPayload = 1007
	closeMessageTooBig  = 1009
)

// noCode asks for a close frame without a status code (empty payload).
const noCode = -1

// maxIncomingFrame bounds what the client buffers for one server frame.
const maxIncomingFrame = 64 << 20

func opName(op byte) string {
	switch op {
	case opCont:
		return "cont"
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return fmt.Sprintf("op%d", op)
}

// frame describes one frame the client sends. The zero value of every field
// but op and payload gives a normal frame: FIN set, RSV 0, written together
// with the neighbouring frames.
type frame struct {
	op      byte
	payload []byte
	// more clears the FIN bit: more fragments of the message follow.
	more bool
	// rsv sets the three reserved bits (0-7).
	rsv byte
	// length, when > 0, repeats payload until the frame payload has this
	// many octets (Autobahn's payload_len).
	length int
	// chop, when > 0, writes the frame octets in pieces of this size, each
	// on its own (Autobahn's chopsize).
	chop int
	// sync writes the frame on its own, not coalesced with neighbours
	// (Autobahn's sync=True).
	sync bool
}

// repeatTo returns p repeated (and truncated) to n octets.
func repeatTo(p []byte, n int) []byte {
	out := make([]byte, n)
	if len(p) == 0 {
		return out
	}
	for i := 0; i < n; i += copy(out[i:], p) {
	}
	return out
}

// encode renders the frame as the client sends it: masked with a random key.
func (f frame) encode() []byte {
	payload := f.payload
	if f.length > 0 {
		payload = repeatTo(payload, f.length)
	}
	return encodeFrame(f.op, !f.more, f.rsv, payload)
}

// encodeFrame builds a masked client frame. It never validates anything: the
// cases use it to send malformed frames too.
func encodeFrame(op byte, fin bool, rsv byte, payload []byte) []byte {
	n := len(payload)
	hdr := make([]byte, 0, 14)
	b0 := op & 0x0F
	if fin {
		b0 |= 0x80
	}
	b0 |= (rsv & 0x7) << 4
	hdr = append(hdr, b0)
	switch {
	case n <= 125:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xFFFF:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	hdr = append(hdr, key[:]...)
	out := make([]byte, len(hdr)+n)
	copy(out, hdr)
	copy(out[len(hdr):], payload)
	ws.Cipher(out[len(hdr):], key, 0)
	return out
}

// closePayload builds a close frame payload: an optional code and a reason.
func closePayload(code int, reason []byte) []byte {
	var p []byte
	if code != noCode {
		p = binary.BigEndian.AppendUint16(p, uint16(code))
	}
	return append(p, reason...)
}

// rxFrame is a frame received from the server.
type rxFrame struct {
	fin     bool
	rsv     byte
	op      byte
	masked  bool
	payload []byte
}

var errFrameTooLarge = errors.New("server frame larger than 64 MiB")

// readFrame reads one frame from the server, unmasking it if it was masked
// (which a server must not do; the caller checks).
func readFrame(r *bufio.Reader) (rxFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return rxFrame{}, err
	}
	f := rxFrame{
		fin:    h[0]&0x80 != 0,
		rsv:    (h[0] >> 4) & 0x7,
		op:     h[0] & 0x0F,
		masked: h[1]&0x80 != 0,
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, err
		}
	}
	if n > maxIncomingFrame {
		return f, errFrameTooLarge
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		ws.Cipher(f.payload, key, 0)
	}
	return f, nil
}

// utf8Prefix reports whether b is valid UTF-8 or a valid beginning of it:
// only a truncated last code point is tolerated, the way an incremental
// validator fails as soon as an octet makes the text invalid.
func utf8Prefix(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			b = b[size:]
			continue
		}
		// Invalid or incomplete: acceptable only as an incomplete tail.
		if utf8.FullRune(b) {
			return false
		}
		return incompleteRuneOK(b)
	}
	return true
}

// incompleteRuneOK reports whether b (shorter than a full code point) can be
// completed to a valid UTF-8 encoded code point.
func incompleteRuneOK(b []byte) bool {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 2
	case lead == 0xE0:
		need, lo = 3, 0xA0
	case lead >= 0xE1 && lead <= 0xEC, lead == 0xEE, lead == 0xEF:
		need = 3
	case lead == 0xED:
		need, hi = 3, 0x9F
	case lead == 0xF0:
		need, lo = 4, 0x90
	case lead >= 0xF1 && lead <= 0xF3:
		need = 4
	case lead == 0xF4:
		need, hi = 4, 0x8F
	default:
		return false
	}
	if len(b) >= need {
		return false
	}
	for i, c := range b[1:] {
		if i == 0 {
			if c < lo || c > hi {
				return false
			}
			continue
		}
		if c < 0x80 || c > 0xBF {
			return false
		}
	}
	return true
}
