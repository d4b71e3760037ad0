package wsproto

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// fuzzSizes are the message size limits FuzzDecoder picks from.
var fuzzSizes = [4]int64{0, 1, 16, 300}

// fuzzFlags encodes the settings of d for FuzzDecoder.
func fuzzFlags(d Decoder, move bool) byte {
	var f byte
	if d.AllowRSV1 {
		f |= 1
	}
	if d.RequireMask {
		f |= 2
	}
	for i, s := range fuzzSizes {
		if s == d.MaxMessageSize {
			f |= byte(i) << 2
		}
	}
	if move {
		f |= 16
	}
	return f
}

// fuzzCuts turns each byte of cuts into the size of the next piece, 1 to
// 256 bytes; the last piece is the rest. No cuts means byte by byte.
func fuzzCuts(n int, cuts []byte) []int {
	var offs []int
	if len(cuts) == 0 {
		for i := 1; i < n; i++ {
			offs = append(offs, i)
		}
		return offs
	}
	pos := 0
	for _, c := range cuts {
		pos += int(c) + 1
		if pos >= n {
			break
		}
		offs = append(offs, pos)
	}
	return offs
}

// FuzzDecoder decodes arbitrary bytes whole and in pieces: the Decoder must
// not panic, must give the same events and error both ways, and must keep
// messages within MaxMessageSize.
func FuzzDecoder(f *testing.F) {
	for _, s := range validStreams() {
		in := s.in
		if len(in) > 4096 {
			continue
		}
		f.Add(in, []byte{}, fuzzFlags(s.dec, false))
		f.Add(in, []byte{2, 0, 7, 3, 200}, fuzzFlags(s.dec, true))
	}
	f.Add(concat(frame(opText, "123456"), frame(fin|opPing, "p"), frame(fin|opCont, "7890123456789")), []byte{5, 5}, fuzzFlags(Decoder{RequireMask: true, MaxMessageSize: 16}, false))
	f.Add(concat(frame(fin|rsv1|opText, "\xff"), frame(rsv1|opCont, "")), []byte{1}, fuzzFlags(Decoder{RequireMask: true, AllowRSV1: true}, false))
	f.Add(frame(fin|opText, "\xf0\x9f\x98"), []byte{6, 0}, byte(2))
	f.Add(closeFrame(1000, "bye"), []byte{}, byte(2))
	f.Add(closeFrame(1005, ""), []byte{}, byte(2))
	f.Add([]byte{fin | opBinary, 0x80 | 127, 0x7f, 0, 0, 0, 0, 0, 0, 1}, []byte{3}, byte(2))
	f.Add(AppendFrame(nil, ws.OpText, true, []byte("unmasked")), []byte{}, byte(0))

	f.Fuzz(func(t *testing.T, data, cuts []byte, flags byte) {
		config := Decoder{
			AllowRSV1:      flags&1 != 0,
			RequireMask:    flags&2 != 0,
			MaxMessageSize: fuzzSizes[flags>>2&3],
		}
		checkReference(t, config, data)
		d := config
		want := whole(&d, data)
		d = config
		got := feed(&d, data, fuzzCuts(len(data), cuts), flags&16 != 0)
		if !got.equal(want) {
			t.Fatalf(
				"in pieces:\n%v\nwhole:\n%v",
				got, want)
		}

		limit := config.MaxMessageSize
		if limit == 0 {
			limit = DefaultMaxMessageSize
		}
		consumed := 0
		for _, ev := range want.Events {
			consumed += ev.N
			switch ev.Kind {
			case KindMessage:
				if int64(len(ev.Payload)) > limit {
					t.Fatalf(
						"message of %d bytes, MaxMessageSize %d",
						len(ev.Payload), limit)
				}
				if ev.Op != ws.OpText && ev.Op != ws.OpBinary {
					t.Fatalf(
						"message with opcode %d",
						ev.Op)
				}
				if ev.Op == ws.OpText && !ev.Compressed && !utf8.ValidString(ev.Payload) {
					t.Fatalf(
						"invalid UTF-8 text message %q",
						ev.Payload)
				}
				if ev.Compressed && !config.AllowRSV1 {
					t.Fatal("compressed message without AllowRSV1")
				}
			case KindPing, KindPong, KindClose:
				if len(ev.Payload) > 125 {
					t.Fatalf(
						"control frame payload of %d bytes",
						len(ev.Payload))
				}
				if ev.Kind == KindClose && ev.Code != ws.StatusNoStatusRcvd && (!ValidCloseCode(ev.Code) || !utf8.ValidString(ev.Reason)) {
					t.Fatalf(
						"close code %d, reason %q",
						ev.Code, ev.Reason)
				}
			}
		}
		if int64(d.Buffered()) > limit {
			t.Fatalf(
				"Buffered() = %d, MaxMessageSize %d",
				d.Buffered(), limit)
		}
		if want.Err != nil {
			var e *Error
			if !errors.As(want.Err, &e) {
				t.Fatalf(
					"error %v is not an *Error",
					want.Err)
			}
			switch e.Code {
			case ws.StatusProtocolError, ws.StatusInvalidFramePayloadData, ws.StatusMessageTooBig:
			default:
				t.Fatalf(
					"error with close code %d",
					e.Code)
			}
		} else if consumed+want.Rest != len(data) {
			t.Fatalf(
				"consumed %d and left %d of %d bytes",
				consumed, want.Rest, len(data))
		}
	})
}

// FuzzUTF8 checks the UTF8 validator against the standard library on
// arbitrary text cut into arbitrary pieces.
func FuzzUTF8(f *testing.F) {
	seeds := []string{
		"",
		"Hello, world",
		"κόσμε € 😀",
		"\xed\xa0\x80",
		"\xc0\x80",
		"\xe0\x80\x80",
		"\xf4\x90\x80\x80",
		"\xf4\x8f\xbf\xbf",
		"ab\xe2\x82",
		"\xe2\x82\xe2\x82\xac",
	}
	for _, s := range seeds {
		f.Add([]byte(s), []byte{})
		f.Add([]byte(s), []byte{0, 1, 0})
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		checkUTF8(t, data, fuzzCuts(len(data), cuts))
	})
}
