package wsproto

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// refDecode is a plain reference for a Decoder given a whole buffer: it
// walks the frames one at a time, not incrementally, and checks each rule of
// RFC 6455 as soon as the bytes it needs are in data. It returns the
// records the Decoder must produce, the number of bytes left, and the close
// code of the first violation, or 0.
func refDecode(cfg Decoder, data []byte) (recs []record, rest int, code ws.StatusCode) {
	data = bytes.Clone(data)
	limit := cfg.MaxMessageSize
	if limit <= 0 {
		limit = DefaultMaxMessageSize
	}
	var (
		msgOp         ws.OpCode // message in progress
		msg           []byte
		msgCompressed bool
	)
	for len(data) > 0 {
		isFin := data[0]&0x80 != 0
		rsv := data[0] >> 4 & 7
		op := ws.OpCode(data[0] & 0x0f)
		isData := op == ws.OpText || op == ws.OpBinary
		control := op == ws.OpClose || op == ws.OpPing || op == ws.OpPong
		compressed := isData && cfg.AllowRSV1 && rsv == 4
		switch {
		case !isData && !control && op != ws.OpContinuation:
			return recs, 0, ws.StatusProtocolError // reserved opcode
		case rsv != 0 && !compressed:
			return recs, 0, ws.StatusProtocolError
		case control && !isFin:
			return recs, 0, ws.StatusProtocolError
		case op == ws.OpContinuation && msgOp == 0:
			return recs, 0, ws.StatusProtocolError
		case isData && msgOp != 0:
			return recs, 0, ws.StatusProtocolError
		}
		if len(data) < 2 {
			return recs, len(data), 0
		}
		masked := data[1]&0x80 != 0
		length := int64(data[1] & 0x7f)
		switch {
		case cfg.RequireMask && !masked:
			return recs, 0, ws.StatusProtocolError
		case control && length > 125:
			return recs, 0, ws.StatusProtocolError
		case op == ws.OpClose && length == 1:
			return recs, 0, ws.StatusProtocolError
		}
		hdr := 2
		if length == 126 {
			hdr = 4
		}
		if length == 127 {
			hdr = 10
			if len(data) > 2 && data[2]&0x80 != 0 {
				return recs, 0, ws.StatusProtocolError
			}
		}
		if len(data) < hdr {
			return recs, len(data), 0
		}
		if hdr == 4 {
			length = int64(binary.BigEndian.Uint16(data[2:]))
		}
		if hdr == 10 {
			length = int64(binary.BigEndian.Uint64(data[2:]))
		}
		if !control && int64(len(msg))+length > limit {
			return recs, 0, ws.StatusMessageTooBig
		}
		var mask [4]byte
		if masked {
			if len(data) < hdr+4 {
				return recs, len(data), 0
			}
			copy(mask[:], data[hdr:])
			hdr += 4
		}
		payload := data[hdr:]
		if int64(len(payload)) > length {
			payload = payload[:length]
		}
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
		text := op == ws.OpText && !compressed ||
			op == ws.OpContinuation && msgOp == ws.OpText && !msgCompressed
		if text && !validPrefix(append(bytes.Clone(msg), payload...)) {
			return recs, 0, ws.StatusInvalidFramePayloadData
		}
		if int64(len(payload)) < length {
			return recs, len(data), 0
		}
		n := hdr + len(payload)
		data = data[n:]

		r := record{Op: op, Payload: string(payload), N: n}
		switch {
		case op == ws.OpPing:
			r.Kind = KindPing
		case op == ws.OpPong:
			r.Kind = KindPong
		case op == ws.OpClose:
			r.Kind = KindClose
			r.Code = ws.StatusNoStatusRcvd
			if len(payload) > 0 {
				r.Code = ws.StatusCode(binary.BigEndian.Uint16(payload))
				r.Reason = string(payload[2:])
				if !ValidCloseCode(r.Code) {
					return recs, 0, ws.StatusProtocolError
				}
				if !utf8.ValidString(r.Reason) {
					return recs, 0, ws.StatusInvalidFramePayloadData
				}
			}
		default:
			if isData {
				msgOp, msgCompressed = op, compressed
			}
			msg = append(msg, payload...)
			if !isFin {
				r = record{N: n}
				break
			}
			if text && !utf8.Valid(msg) {
				return recs, 0, ws.StatusInvalidFramePayloadData
			}
			r = record{Kind: KindMessage, Op: msgOp, Compressed: msgCompressed, Payload: string(msg), N: n}
			msgOp, msg, msgCompressed = 0, nil, false
		}
		recs = append(recs, r)
	}
	return recs, 0, 0
}

// checkReference compares a Decoder with refDecode on data.
func checkReference(t *testing.T, cfg Decoder, data []byte) {
	t.Helper()
	d := cfg
	got := whole(&d, data)
	recs, rest, code := refDecode(cfg, data)
	var gotCode ws.StatusCode
	if e, ok := got.Err.(*Error); ok {
		gotCode = e.Code
	}
	if !slices.Equal(got.Events, recs) || gotCode != code || (code == 0 && got.Rest != rest) {
		t.Fatalf(
			"Decoder:   %v\nreference: events=%v rest=%d code=%d",
			got, recs, rest, code)
	}
}

// TestReference runs the reference on the valid streams of the other tests
// (the rules are in TestDecoderRules), so that it is checked too.
func TestReference(t *testing.T) {
	for _, s := range validStreams() {
		t.Run(s.name, func(t *testing.T) {
			checkReference(t, s.dec, s.in)
			// And on every prefix of the first bytes.
			for k := range min(len(s.in), 300) {
				checkReference(t, s.dec, s.in[:k])
			}
		})
	}
}
