package main

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsloop/wsloop/wsproto"
)

// chunkConn is a net.Conn whose reads return a fixed byte stream in pieces
// of at most chunk bytes; writes are kept.
type chunkConn struct {
	net.Conn // nil: only the methods below are used
	data     []byte
	chunk    int
	written  bytes.Buffer
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data[:min(len(c.data), c.chunk)])
	c.data = c.data[n:]
	return n, nil
}

func (c *chunkConn) Write(p []byte) (int, error)      { return c.written.Write(p) }
func (c *chunkConn) SetWriteDeadline(time.Time) error { return nil }
func (c *chunkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *chunkConn) Close() error                     { return nil }
func (c *chunkConn) SetDeadline(t time.Time) error    { return nil }
func newChunkConn(data []byte, chunk, readBuf int) *wsConn {
	nc := &chunkConn{data: data, chunk: chunk}
	return &wsConn{nc: nc, rb: make([]byte, readBuf), norm: readBuf, maxMsg: 1 << 20}
}

func TestReadMessageLengths(t *testing.T) {
	// Frames at the length boundaries, fragmented and not, with a ping in
	// between, read through every chunk size that splits headers.
	lengths := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	var stream []byte
	for i, n := range lengths {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		if i%2 == 0 {
			stream = wsproto.AppendFrame(stream, ws.OpBinary, true, p)
		} else {
			half := n / 2
			stream = wsproto.AppendFrame(stream, ws.OpText, false, p[:half])
			stream = wsproto.AppendFrame(stream, ws.OpPing, true, []byte("ping"))
			stream = wsproto.AppendFrame(stream, ws.OpContinuation, true, p[half:])
		}
	}
	for _, chunk := range []int{1, 2, 3, 5, 9, 10, 11, 64, 1000, 1 << 20} {
		for _, readBuf := range []int{64, 1024} {
			c := newChunkConn(stream, chunk, readBuf)
			for i, n := range lengths {
				op, p, compressed, err := c.ReadMessage()
				wantOp := ws.OpBinary
				if i%2 == 1 {
					wantOp = ws.OpText
				}
				if err != nil || op != wantOp || compressed || len(p) != n || n > 0 && (p[0] != byte('a'+i) || p[n-1] != byte('a'+i)) {
					t.Fatalf("chunk %d buffer %d: message %d: %v %d bytes %v, want %v %d bytes", chunk, readBuf, i, op, len(p), err, wantOp, n)
				}
			}
			if _, _, _, err := c.ReadMessage(); !errors.Is(err, io.EOF) {
				t.Errorf("chunk %d: after the last frame: %v, want EOF", chunk, err)
			}
			if len(c.rb) > max(readBuf, maxReadGrow) {
				t.Errorf("chunk %d buffer %d: read buffer still %d bytes after the big frames", chunk, readBuf, len(c.rb))
			}
			if got := c.nc.(*chunkConn).written.Len(); got != 4*(2+4+4) {
				t.Errorf("chunk %d: %d bytes of pongs written, want 4 masked pongs", chunk, got)
			}
		}
	}
}

func TestReadMessageCompressed(t *testing.T) {
	msgs := []string{"hello hello hello hello", "second message, hello hello", ""}
	// Without context takeover: each message compressed on its own.
	var stream []byte
	for _, m := range msgs {
		stream = wsproto.AppendCompressedFrame(stream, ws.OpText, []byte(m), flate.BestSpeed)
	}
	c := newChunkConn(stream, 7, 64)
	c.deflate = &deflateState{level: flate.BestSpeed}
	for _, m := range msgs {
		_, p, compressed, err := c.ReadMessage()
		if err != nil || compressed || string(p) != m {
			t.Fatalf("got %q %v %v, want %q", p, compressed, err, m)
		}
	}

	// With context takeover: one compressor for all messages, so later
	// messages refer back to earlier ones.
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	stream = nil
	for _, m := range msgs[:2] {
		comp.Reset()
		fw.Write([]byte(m))
		fw.Flush()
		b := bytes.TrimSuffix(comp.Bytes(), []byte{0, 0, 0xff, 0xff})
		stream = wsproto.AppendHeader(stream, ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpText, Length: int64(len(b))})
		stream = append(stream, b...)
	}
	c = newChunkConn(stream, 1000, 64)
	c.deflate = &deflateState{takeover: true, level: flate.BestSpeed}
	c.keepCompressed = true // ignored with takeover
	for _, m := range msgs[:2] {
		_, p, compressed, err := c.ReadMessage()
		if err != nil || compressed || string(p) != m {
			t.Fatalf("takeover: got %q %v %v, want %q", p, compressed, err, m)
		}
	}

	// RSV1 without a negotiated extension is a protocol error.
	c = newChunkConn(wsproto.AppendCompressedFrame(nil, ws.OpText, []byte("x"), flate.BestSpeed), 1000, 64)
	if _, _, _, err := c.ReadMessage(); errorKind(err) != "protocol_error" {
		t.Errorf("RSV1 without deflate: %v", err)
	}
}

func TestAcceptDeflate(t *testing.T) {
	for _, tc := range []struct {
		answer   string
		offered  bool
		ok       bool
		takeover bool
		level    int
	}{
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, true, false, flate.BestSpeed},
		{"permessage-deflate", true, true, true, flate.BestSpeed},
		{"permessage-deflate; client_max_window_bits=10", true, true, true, flate.HuffmanOnly},
		{`permessage-deflate; server_max_window_bits="12"; server_no_context_takeover`, true, true, false, flate.BestSpeed},
		{"permessage-deflate", false, false, false, 0},
		{"x-webkit-deflate-frame", true, false, false, 0},
		{"permessage-deflate, permessage-deflate", true, false, false, 0},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", true, false, false, 0},
		{"permessage-deflate; client_max_window_bits=16", true, false, false, 0},
		{"permessage-deflate; client_max_window_bits", true, false, false, 0},
		{"permessage-deflate; server_no_context_takeover=1", true, false, false, 0},
		{"permessage-deflate; foo", true, false, false, 0},
	} {
		d, err := acceptDeflate([]string{tc.answer}, tc.offered)
		if tc.ok != (err == nil && d != nil) {
			t.Errorf("%q offered %v: %+v %v, want ok %v", tc.answer, tc.offered, d, err, tc.ok)
			continue
		}
		if err != nil {
			if k := errorKind(err); k != "handshake_bad_extension" {
				t.Errorf("%q: error kind %q", tc.answer, k)
			}
			continue
		}
		if d.takeover != tc.takeover || d.level != tc.level {
			t.Errorf("%q: takeover %v level %d, want %v %d", tc.answer, d.takeover, d.level, tc.takeover, tc.level)
		}
	}
}

// FuzzReadMessage feeds arbitrary server bytes, split at a chosen offset
// pattern, to the client's frame reader: it must return messages or an
// error, never panic or hang.
func FuzzReadMessage(f *testing.F) {
	f.Add(wsproto.AppendFrame(nil, ws.OpText, true, []byte("hello")), uint8(3), false)
	f.Add(wsproto.AppendFrame(wsproto.AppendFrame(nil, ws.OpText, false, []byte("he")), ws.OpContinuation, true, []byte("llo")), uint8(1), false)
	f.Add(wsproto.AppendCompressedFrame(nil, ws.OpBinary, []byte("compressed compressed"), flate.BestSpeed), uint8(2), true)
	f.Add([]byte{0x88, 0x02, 0x03, 0xe8}, uint8(1), false)
	f.Add([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0, 1, 0}, uint8(4), false)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, deflate bool) {
		c := newChunkConn(data, int(chunk)+1, 64)
		c.maxMsg = 1 << 16
		if deflate {
			c.deflate = &deflateState{level: flate.BestSpeed}
		}
		for range len(data) + 1 {
			if _, p, _, err := c.ReadMessage(); err != nil {
				return
			} else if int64(len(p)) > c.maxMsg {
				t.Fatalf("message of %d bytes over the limit", len(p))
			}
		}
		t.Fatal("more messages than bytes")
	})
}
