package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"

	"github.com/gobwas/ws"
)

// Message contents. Every message is a short header followed by filler that
// is the same for all messages of a run, so a message is built from a small
// per-message header plus a shared read-only slice, and checked by comparing
// both parts.

const textAlphabet = "abcdefghijklmnopqrstuvwxyz"

// makeFiller returns size bytes of filler: for text messages, words of
// printable ASCII picked by a fixed pseudo-random sequence, so that
// permessage-deflate finds about as much to compress as in prose; for binary
// ones, a varied byte pattern.
func makeFiller(size int, text bool) []byte {
	f := make([]byte, 0, size+16)
	if !text {
		for i := range size {
			f = append(f, byte(i*131+17))
		}
		return f
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for len(f) < size {
		n := 2 + rng.IntN(8)
		for range n {
			f = append(f, textAlphabet[rng.IntN(26)]) // lower-case letters
		}
		f = append(f, ' ')
	}
	return f[:size]
}

func dataOpCode(text bool) ws.OpCode {
	if text {
		return ws.OpText
	}
	return ws.OpBinary
}

// echoPattern builds and checks echo messages: the connection's message
// sequence number (8 bytes little endian, or those bytes as 16 hex digits for
// text) followed by filler, all cut to size. Little endian first, so that a
// message too short for the whole number still carries its low-order part.
type echoPattern struct {
	size   int
	text   bool
	op     ws.OpCode
	filler []byte
	hdrLen int // bytes of the sequence number that fit in size
}

func newEchoPattern(size int, text bool) *echoPattern {
	full := 8
	if text {
		full = 16
	}
	return &echoPattern{size: size, text: text, op: dataOpCode(text), filler: makeFiller(size, text), hdrLen: min(full, size)}
}

// header writes the message header for seq into dst (at least 16 bytes) and
// returns it; the message is header followed by p.body().
func (p *echoPattern) header(dst []byte, seq uint64) []byte {
	var raw [8]byte
	binary.LittleEndian.PutUint64(raw[:], seq)
	if p.text {
		hex.Encode(dst[:16], raw[:])
	} else {
		copy(dst, raw[:])
	}
	return dst[:p.hdrLen]
}

// body is the filler part of every message.
func (p *echoPattern) body() []byte { return p.filler[p.hdrLen:] }

// check compares an echo with message seq; it returns "" when they match or
// a description of the difference.
func (p *echoPattern) check(op ws.OpCode, msg []byte, seq uint64, scratch []byte) string {
	switch {
	case op != p.op:
		return fmt.Sprintf("echo of message %d has opcode %#x, sent %#x", seq, op, p.op)
	case len(msg) != p.size:
		return fmt.Sprintf("echo of message %d has %d bytes, sent %d", seq, len(msg), p.size)
	case !bytes.Equal(msg[:p.hdrLen], p.header(scratch, seq)):
		return fmt.Sprintf("echo of message %d starts with %q, want %q (reordered or corrupted)", seq, msg[:p.hdrLen], p.header(scratch, seq))
	case !bytes.Equal(msg[p.hdrLen:], p.body()):
		i := firstDiff(msg[p.hdrLen:], p.body()) + p.hdrLen
		return fmt.Sprintf("echo of message %d differs at byte %d: got %#02x, want %#02x", seq, i, msg[i], p.filler[i])
	}
	return ""
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Broadcast messages: marker, publisher, sequence, send time (nowNS, wall clock),
// binary or hex-encoded for text, then filler up to size.
const (
	bcastMarkerBin  = "WSB1"
	bcastMarkerText = "WSBT"
	bcastFields     = 4 + 8 + 8 // publisher, sequence, timestamp
)

func bcastMinSize(text bool) int {
	if text {
		return 4 + 2*bcastFields
	}
	return 4 + bcastFields
}

// bcastPattern builds and parses broadcast messages.
type bcastPattern struct {
	size   int
	text   bool
	op     ws.OpCode
	filler []byte
	hdrLen int
}

func newBcastPattern(size int, text bool) *bcastPattern {
	return &bcastPattern{size: size, text: text, op: dataOpCode(text), filler: makeFiller(size, text), hdrLen: bcastMinSize(text)}
}

// header writes the header for a message into dst (at least 44 bytes).
func (p *bcastPattern) header(dst []byte, pub uint32, seq uint64, ts int64) []byte {
	var raw [bcastFields]byte
	binary.BigEndian.PutUint32(raw[0:], pub)
	binary.BigEndian.PutUint64(raw[4:], seq)
	binary.BigEndian.PutUint64(raw[12:], uint64(ts))
	if p.text {
		copy(dst, bcastMarkerText)
		hex.Encode(dst[4:], raw[:])
	} else {
		copy(dst, bcastMarkerBin)
		copy(dst[4:], raw[:])
	}
	return dst[:p.hdrLen]
}

func (p *bcastPattern) body() []byte { return p.filler[p.hdrLen:] }

// bcastParse is the outcome of parsing a received message.
type bcastParse int

const (
	bcastOK      bcastParse = iota
	bcastForeign            // not one of ours (no marker): ignored
	bcastBad                // our marker but malformed or wrong content
)

// parse decodes a received message.
func (p *bcastPattern) parse(op ws.OpCode, msg []byte) parsedMsg {
	marker := bcastMarkerBin
	if p.text {
		marker = bcastMarkerText
	}
	if len(msg) < 4 || string(msg[:4]) != marker {
		return parsedMsg{res: bcastForeign}
	}
	bad := func(format string, args ...any) parsedMsg {
		return parsedMsg{res: bcastBad, why: fmt.Sprintf(format, args...)}
	}
	if op != p.op {
		return bad("broadcast message with opcode %#x, sent %#x", op, p.op)
	}
	if len(msg) != p.size {
		return bad("broadcast message of %d bytes, sent %d", len(msg), p.size)
	}
	var raw [bcastFields]byte
	if p.text {
		if _, err := hex.Decode(raw[:], msg[4:p.hdrLen]); err != nil {
			return bad("broadcast message header %q: %v", msg[:p.hdrLen], err)
		}
	} else {
		copy(raw[:], msg[4:p.hdrLen])
	}
	if !bytes.Equal(msg[p.hdrLen:], p.body()) {
		return bad("broadcast message differs at byte %d", firstDiff(msg[p.hdrLen:], p.body())+p.hdrLen)
	}
	return parsedMsg{
		pub: binary.BigEndian.Uint32(raw[0:]),
		seq: binary.BigEndian.Uint64(raw[4:]),
		ts:  int64(binary.BigEndian.Uint64(raw[12:])),
	}
}
