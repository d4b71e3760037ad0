package wsproto

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// HeaderSize returns the size in bytes of the header of a frame with a
// payload of payloadLen bytes: 2, 4 or 10, plus 4 for the mask if masked.
func HeaderSize(payloadLen int, masked bool) int {
	n := 2
	switch {
	case payloadLen > 0xffff:
		n = 10
	case payloadLen > ws.MaxControlFramePayloadSize:
		n = 4
	}
	if masked {
		n += 4
	}
	return n
}

// AppendHeader appends the encoded frame header h to dst and returns the
// extended slice. The length is written in its shortest form, and the mask
// h.Mask only if h.Masked. Only the low 3 bits of h.Rsv (RSV1 is 4, as in
// [ws.Rsv]) and the low 4 bits of h.OpCode are used.
//
// AppendHeader panics if h.Length is negative.
func AppendHeader(dst []byte, h ws.Header) []byte {
	b0 := h.Rsv&7<<4 | byte(h.OpCode)&0x0f
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length < 0:
		panic("wsproto: negative payload length")
	case h.Length <= ws.MaxControlFramePayloadSize:
		dst = append(dst, b0, b1|byte(h.Length))
	case h.Length <= 0xffff:
		dst = append(dst, b0, b1|126, byte(h.Length>>8), byte(h.Length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

// AppendFrame appends an unmasked frame, as a server sends them, with
// opcode op, the FIN bit set if fin, no RSV bits and the given payload to
// dst, and returns the extended slice. It does not allocate if dst has room
// for HeaderSize(len(payload), false) + len(payload) more bytes.
func AppendFrame(dst []byte, op ws.OpCode, fin bool, payload []byte) []byte {
	dst = AppendHeader(dst, ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload))})
	return append(dst, payload...)
}

// AppendMaskedFrame is like [AppendFrame] but masks the frame with mask, as a
// client does. payload itself is not modified. It is meant for tests and
// client tools.
func AppendMaskedFrame(dst []byte, op ws.OpCode, fin bool, payload []byte, mask [4]byte) []byte {
	dst = AppendHeader(dst, ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload)), Masked: true, Mask: mask})
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// AppendClose appends a whole unmasked close frame to dst and returns the
// extended slice. The payload is code followed by reason; reason should be
// valid UTF-8 and is cut, on a code point boundary, to fit the 125 bytes of
// a control frame. If code is 0, the payload is empty and reason is ignored.
func AppendClose(dst []byte, code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return AppendFrame(dst, ws.OpClose, true, nil)
	}
	const maxReason = ws.MaxControlFramePayloadSize - 2
	if len(reason) > maxReason {
		i := maxReason
		for i > 0 && !utf8.RuneStart(reason[i]) {
			i--
		}
		reason = reason[:i]
	}
	dst = AppendHeader(dst, ws.Header{Fin: true, OpCode: ws.OpClose, Length: int64(2 + len(reason))})
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}
