package wsproto

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// TestRoundTrip encodes frames at the boundaries of the length forms and
// decodes them again.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		length  int
		lenByte byte // the 7-bit length field
		hdr     int  // header size without mask
	}{
		{
			length:  0,
			lenByte: 0,
			hdr:     2,
		},
		{
			length:  1,
			lenByte: 1,
			hdr:     2,
		},
		{
			length:  125,
			lenByte: 125,
			hdr:     2,
		},
		{
			length:  126,
			lenByte: 126,
			hdr:     4,
		},
		{
			length:  127,
			lenByte: 126,
			hdr:     4,
		},
		{
			length:  65535,
			lenByte: 126,
			hdr:     4,
		},
		{
			length:  65536,
			lenByte: 127,
			hdr:     10,
		},
		{
			length:  70000,
			lenByte: 127,
			hdr:     10,
		},
	}
	for _, tt := range tests {
		for _, masked := range []bool{false, true} {
			for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
				t.Run(fmt.Sprintf("%d/masked=%v/op=%d", tt.length, masked, op), func(t *testing.T) {
					payload := []byte(strings.Repeat("é", tt.length/2) + strings.Repeat("a", tt.length%2))
					orig := bytes.Clone(payload)
					var f []byte
					if masked {
						f = AppendMaskedFrame([]byte("prefix"), op, true, payload, testMask)
					} else {
						f = AppendFrame([]byte("prefix"), op, true, payload)
					}
					if !bytes.Equal(payload, orig) {
						t.Fatal("the encoder modified the payload")
					}
					if !bytes.HasPrefix(f, []byte("prefix")) {
						t.Fatal("dst was overwritten")
					}
					f = f[len("prefix"):]
					if want := rawFrame(fin|byte(op), masked, payload); !bytes.Equal(f, want) {
						t.Fatalf(
							"encoded % x..., want % x...",
							f[:min(len(f), 16)], want[:min(len(want), 16)])
					}
					hdr := tt.hdr
					if masked {
						hdr += 4
					}
					if got := HeaderSize(tt.length, masked); got != hdr {
						t.Errorf(
							"HeaderSize(%d, %v) = %d, want %d",
							tt.length, masked, got, hdr)
					}
					if len(f) != hdr+tt.length || f[1]&0x7f != tt.lenByte {
						t.Fatalf(
							"frame of %d bytes with length field %d, want %d and %d",
							len(f), f[1]&0x7f, hdr+tt.length, tt.lenByte)
					}
					d := Decoder{RequireMask: masked}
					ev, n, err := d.Next(f)
					if err != nil || n != len(f) || ev.Kind != KindMessage || ev.Op != op || !bytes.Equal(ev.Payload, orig) {
						t.Errorf(
							"decoded %v op %d, n %d, err %v; want the message back",
							ev.Kind, ev.Op, n, err)
					}
				})
			}
		}
	}
}

func TestAppendHeader(t *testing.T) {
	tests := []struct {
		name string
		h    ws.Header
		want []byte
	}{
		{
			name: "RSV1 text",
			h:    ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpText, Length: 3},
			want: []byte{0xc1, 3},
		},
		{
			name: "all RSV bits, no FIN",
			h:    ws.Header{Rsv: ws.Rsv(true, true, true), OpCode: ws.OpBinary, Length: 200},
			want: []byte{0x72, 126, 0, 200},
		},
		{
			name: "masked ping",
			h:    ws.Header{Fin: true, OpCode: ws.OpPing, Masked: true, Mask: [4]byte{1, 2, 3, 4}},
			want: []byte{0x89, 0x80, 1, 2, 3, 4},
		},
		{
			name: "64-bit length",
			h:    ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 40},
			want: []byte{0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendHeader(nil, tt.h)
			if !bytes.Equal(got, tt.want) {
				t.Errorf(
					"got % x, want % x",
					got, tt.want)
			}
			if ws.HeaderSize(tt.h) != len(got) {
				t.Errorf(
					"ws.HeaderSize = %d, wrote %d bytes",
					ws.HeaderSize(tt.h), len(got))
			}
		})
	}

	defer func() {
		if recover() == nil {
			t.Error("AppendHeader with a negative length did not panic")
		}
	}()
	AppendHeader(nil, ws.Header{Length: -1})
}

func TestAppendClose(t *testing.T) {
	tests := []struct {
		name       string
		code       ws.StatusCode
		reason     string
		wantReason string
	}{
		{
			name:       "no code",
			code:       0,
			reason:     "ignored",
			wantReason: "",
		},
		{
			name:       "code only",
			code:       ws.StatusNormalClosure,
			wantReason: "",
		},
		{
			name:       "code and reason",
			code:       ws.StatusProtocolError,
			reason:     errReservedBits.Reason,
			wantReason: errReservedBits.Reason,
		},
		{
			name:       "longest reason",
			code:       4000,
			reason:     strings.Repeat("r", 123),
			wantReason: strings.Repeat("r", 123),
		},
		{
			name:       "ASCII reason cut",
			code:       4000,
			reason:     strings.Repeat("r", 200),
			wantReason: strings.Repeat("r", 123),
		},
		{
			name:       "cut before a 3-byte code point",
			code:       4000,
			reason:     "a" + strings.Repeat("€", 50),
			wantReason: "a" + strings.Repeat("€", 40),
		},
		{
			name:       "cut after a 3-byte code point",
			code:       4000,
			reason:     strings.Repeat("€", 42),
			wantReason: strings.Repeat("€", 41),
		},
		{
			name:       "cut before a 4-byte code point",
			code:       4000,
			reason:     "ab" + strings.Repeat("😀", 40),
			wantReason: "ab" + strings.Repeat("😀", 30),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := AppendClose(nil, tt.code, tt.reason)
			if f[0] != fin|opClose {
				t.Fatalf(
					"first byte %#x, want %#x",
					f[0], fin|opClose)
			}
			if len(f) > 2+125 {
				t.Fatalf(
					"close frame of %d bytes",
					len(f))
			}
			var d Decoder
			ev, n, err := d.Next(f)
			if err != nil || n != len(f) || ev.Kind != KindClose {
				t.Fatalf(
					"decoded %v, n %d, err %v",
					ev.Kind, n, err)
			}
			wantCode := tt.code
			if wantCode == 0 {
				wantCode = ws.StatusNoStatusRcvd
			}
			if ev.Code != wantCode || ev.Reason != tt.wantReason || !utf8.ValidString(ev.Reason) {
				t.Errorf(
					"got code %d, reason %q; want %d, %q",
					ev.Code, ev.Reason, wantCode, tt.wantReason)
			}
		})
	}
}
