package wsproto

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// DefaultMaxMessageSize is the largest message payload, in bytes, that a
// [Decoder] accepts when its MaxMessageSize is zero. It accepts the 16 MiB
// messages of the Autobahn TestSuite with room to spare, also when they are
// compressed, which can make incompressible data slightly bigger.
const DefaultMaxMessageSize = 32 << 20

// keepBufCap is the largest message buffer a Decoder keeps for the next
// fragmented message. Bigger buffers are dropped as soon as their message is
// delivered, so an idle Decoder holds little memory.
const keepBufCap = 4 << 10

const maxInt = int(^uint(0) >> 1)

// Kind says what [Decoder.Next] found.
type Kind uint8

// The kinds of [Event].
const (
	// KindNone means no event: Next needs more bytes (when it consumed
	// none) or consumed a frame that does not end a message.
	KindNone Kind = iota
	// KindMessage is a complete text or binary message.
	KindMessage
	// KindPing is a ping frame; the answer is a pong with the same payload.
	KindPing
	// KindPong is a pong frame.
	KindPong
	// KindClose is a close frame.
	KindClose
)

// String returns the name of k, such as "message".
func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindMessage:
		return "message"
	case KindPing:
		return "ping"
	case KindPong:
		return "pong"
	case KindClose:
		return "close"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is what [Decoder.Next] found: a whole message or a control frame.
type Event struct {
	// Kind says what was found; the other fields are set as it requires.
	Kind Kind

	// Op is ws.OpText or ws.OpBinary for KindMessage, and the control
	// opcode for KindPing, KindPong and KindClose.
	Op ws.OpCode

	// Compressed, for KindMessage only, reports that the first frame of
	// the message had RSV1 set (permessage-deflate): Payload is still
	// compressed and, for text, its UTF-8 is not validated yet.
	Compressed bool

	// Code is, for KindClose, the close code from the payload, or
	// ws.StatusNoStatusRcvd (1005) if the payload was empty.
	Code ws.StatusCode

	// Payload is the unmasked payload of the message, ping or pong (and of
	// the close frame, code included). It is valid until the next call to
	// Next or Reset and may point into the buffer given to Next.
	Payload []byte

	// Reason is, for KindClose, the reason text after the code, checked to
	// be valid UTF-8.
	Reason string
}

// Decoder turns the bytes a WebSocket server receives into events,
// enforcing the rules of RFC 6455, section 5. It never blocks and never
// reads from a connection: the caller hands it the bytes it has and gets back
// how many were used.
//
// The zero value is ready to use, with no extension and a message size limit
// of [DefaultMaxMessageSize]; a server must set RequireMask. An idle Decoder
// is small: it holds no buffer unless a fragmented message is in progress,
// or the last one was at most a few KiB.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxMessageSize is the largest payload, in bytes, of a text or binary
	// message; fragmented messages count their fragments together, and
	// compressed messages their compressed size. A frame whose header
	// makes the message bigger is an error with code 1009, reported
	// before its payload arrives. Zero or less means
	// DefaultMaxMessageSize. Control frames are limited to 125 bytes by
	// the protocol instead.
	MaxMessageSize int64

	// AllowRSV1 allows RSV1 on the first frame of a text or binary
	// message, which permessage-deflate uses to mark compressed messages
	// (RFC 7692). Set it when that extension was negotiated.
	AllowRSV1 bool

	// RequireMask makes unmasked frames an error with code 1002, as
	// RFC 6455 requires of servers. Leave it false to decode frames sent
	// by a server.
	RequireMask bool

	op         ws.OpCode // opcode of the fragmented message in progress, or 0
	compressed bool      // the fragmented message in progress is compressed
	text       UTF8      // the text message being validated
	done       int       // payload bytes of the frame at b[0] already unmasked and validated
	buf        []byte    // the fragments received so far of the message in progress
	err        *Error    // the error that stopped the Decoder
}

// Next decodes the next event from b, which must start with the first byte
// not consumed yet, and returns the number of bytes it consumed.
//
// The caller keeps the bytes Next did not consume and presents them again,
// with more bytes appended, on the next call. It may move them to another
// buffer between calls but must not change them: Next unmasks b in place,
// also when the frame is still incomplete, and remembers how far it got.
//
// With a nil error, n is 0 exactly when Next needs more bytes to make
// progress; ev.Kind is then KindNone. Next also returns KindNone with n > 0
// when it consumed a frame that does not finish a message (the fragment is
// copied into a buffer of the Decoder, see Buffered).
//
// A message that arrived in a single frame is delivered without copying:
// ev.Payload then points into b.
//
// A text message is checked to be valid UTF-8 as its bytes arrive, so that
// invalid text is found as early as possible, even in the first half of a
// frame whose second half has not been received.
//
// Every error is an [*Error] naming the broken rule and the close code to
// answer with. After an error, Next keeps returning it until Reset.
func (d *Decoder) Next(b []byte) (ev Event, n int, err error) {
	if d.err != nil {
		return Event{}, 0, d.err
	}
	if len(b) == 0 {
		return Event{}, 0, nil
	}

	// The checks below come in the order of the bytes they need, and each
	// runs as soon as its bytes are there, so a broken rule is reported as
	// early as possible and the same way however the bytes are split.
	b0 := b[0]
	fin := b0&0x80 != 0
	rsv := b0 >> 4 & 7
	op := ws.OpCode(b0 & 0x0f)
	const rsv1 = 4
	compressed := false
	switch {
	case op.IsReserved():
		return d.fail(errReservedOpcode)
	case op.IsControl():
		if rsv == rsv1 && d.AllowRSV1 {
			return d.fail(errRSV1Control)
		}
		if rsv != 0 {
			return d.fail(errReservedBits)
		}
		if !fin {
			return d.fail(errFragmentedControl)
		}
	case op == ws.OpContinuation:
		if d.op == 0 {
			return d.fail(errNoMessage)
		}
		if rsv == rsv1 && d.AllowRSV1 {
			return d.fail(errRSV1Continuation)
		}
		if rsv != 0 {
			return d.fail(errReservedBits)
		}
	default: // text or binary
		if d.op != 0 {
			return d.fail(errExpectContinuation)
		}
		if rsv == rsv1 && d.AllowRSV1 {
			compressed = true
		} else if rsv != 0 {
			return d.fail(errReservedBits)
		}
	}

	if len(b) < 2 {
		return Event{}, 0, nil
	}
	masked := b[1]&0x80 != 0
	if d.RequireMask && !masked {
		return d.fail(errUnmasked)
	}
	length := int64(b[1] & 0x7f)
	if op.IsControl() {
		if length > ws.MaxControlFramePayloadSize {
			return d.fail(errControlTooLong)
		}
		if op == ws.OpClose && length == 1 {
			return d.fail(errCloseLength)
		}
	}
	hdr := 2
	switch length {
	case 126:
		if len(b) < 4 {
			return Event{}, 0, nil
		}
		length = int64(binary.BigEndian.Uint16(b[2:]))
		hdr = 4
	case 127:
		if len(b) < 3 {
			return Event{}, 0, nil
		}
		if b[2]&0x80 != 0 {
			return d.fail(errLengthMSB)
		}
		if len(b) < 10 {
			return Event{}, 0, nil
		}
		length = int64(binary.BigEndian.Uint64(b[2:]))
		hdr = 10
	}
	if op.IsData() && length > d.maxSize()-int64(len(d.buf)) {
		return d.fail(errTooBig)
	}
	// The frame must fit in a slice: this matters on 32-bit platforms or
	// with a huge MaxMessageSize.
	if length > int64(maxInt-ws.MaxHeaderSize) {
		return d.fail(errTooBig)
	}
	var mask [4]byte
	if masked {
		if len(b) < hdr+4 {
			return Event{}, 0, nil
		}
		mask = [4]byte(b[hdr : hdr+4])
		hdr += 4
	}

	// Unmask and validate the payload bytes that arrived since last time.
	size := int(length)
	avail := min(len(b)-hdr, size)
	validate := op == ws.OpText && !compressed ||
		op == ws.OpContinuation && d.op == ws.OpText && !d.compressed
	if d.done < avail {
		p := b[hdr+d.done : hdr+avail]
		if masked {
			ws.Cipher(p, mask, d.done)
		}
		if validate && !d.text.Write(p) {
			return d.fail(errTextUTF8)
		}
		d.done = avail
	}
	if avail < size {
		return Event{}, 0, nil
	}
	d.done = 0
	payload := b[hdr : hdr+size]
	n = hdr + size

	switch op {
	case ws.OpPing:
		return Event{Kind: KindPing, Op: op, Payload: payload}, n, nil
	case ws.OpPong:
		return Event{Kind: KindPong, Op: op, Payload: payload}, n, nil
	case ws.OpClose:
		return d.closeEvent(payload, n)
	}

	if !fin {
		if op != ws.OpContinuation {
			d.op = op
			d.compressed = compressed
		}
		d.buf = append(d.buf, payload...)
		return Event{}, n, nil
	}
	if validate {
		if !d.text.Done() {
			return d.fail(errTextUTF8)
		}
		d.text.Reset()
	}
	if op != ws.OpContinuation {
		return Event{Kind: KindMessage, Op: op, Compressed: compressed, Payload: payload}, n, nil
	}

	// The last fragment of a fragmented message.
	ev = Event{Kind: KindMessage, Op: d.op, Compressed: d.compressed, Payload: payload}
	if len(d.buf) > 0 {
		d.buf = append(d.buf, payload...)
		ev.Payload = d.buf
		if cap(d.buf) > keepBufCap {
			d.buf = nil
		} else {
			d.buf = d.buf[:0]
		}
	}
	d.op = 0
	d.compressed = false
	return ev, n, nil
}

// closeEvent checks the payload of a close frame and returns its event.
func (d *Decoder) closeEvent(p []byte, n int) (Event, int, error) {
	ev := Event{Kind: KindClose, Op: ws.OpClose, Code: ws.StatusNoStatusRcvd, Payload: p}
	if len(p) == 0 {
		return ev, n, nil
	}
	ev.Code = ws.StatusCode(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(ev.Code) {
		return d.fail(errCloseCode)
	}
	if !utf8.Valid(p[2:]) {
		return d.fail(errReasonUTF8)
	}
	ev.Reason = string(p[2:])
	return ev, n, nil
}

// fail stops the Decoder with e and drops its buffer.
func (d *Decoder) fail(e *Error) (Event, int, error) {
	d.err = e
	d.buf = nil
	return Event{}, 0, e
}

func (d *Decoder) maxSize() int64 {
	if d.MaxMessageSize <= 0 {
		return DefaultMaxMessageSize
	}
	return d.MaxMessageSize
}

// Reset returns d to its initial state, keeping only its settings
// (MaxMessageSize, AllowRSV1, RequireMask): it forgets any error, drops the
// partial message and frame, and releases its buffer. Use it to reuse a
// Decoder for a new connection, or after an error.
func (d *Decoder) Reset() {
	*d = Decoder{
		MaxMessageSize: d.MaxMessageSize,
		AllowRSV1:      d.AllowRSV1,
		RequireMask:    d.RequireMask,
	}
}

// Buffered returns the number of payload bytes of a fragmented message in
// progress that d holds in its own buffer, for memory accounting. It is 0
// when no fragmented message is in progress. It never exceeds the message
// size limit.
func (d *Decoder) Buffered() int { return len(d.buf) }

// ValidCloseCode reports whether a peer may send code in a close frame:
// 1000-1003, 1007-1011 and 3000-4999, as the Autobahn TestSuite expects.
// Codes 1005, 1006 and 1015 are reserved for reporting and must never be
// sent; the others are not in use or not assigned.
func ValidCloseCode(code ws.StatusCode) bool {
	switch {
	case 1000 <= code && code <= 1003,
		1007 <= code && code <= 1011,
		3000 <= code && code <= 4999:
		return true
	}
	return false
}
