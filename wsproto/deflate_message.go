package wsproto

import (
	"bytes"
	"compress/flate"
	"io"
	"strconv"
	"sync"

	"github.com/gobwas/ws"
)

// This file compresses and decompresses the messages of permessage-deflate
// (RFC 7692, section 7.2). No state survives a message: compressors and
// decompressors come from pools, are reset, and go back to their pool when
// the message is done, so a connection holds none while it is idle.

// The errors of InflateMessage.
//
// Data that does not inflate is reported with close code 1007 (invalid
// frame payload data) rather than 1002 (protocol error): the frames were
// well formed, it is their payload that is inconsistent with the message,
// as for invalid UTF-8 in a text message. The Autobahn TestSuite accepts
// either, as long as the connection is failed.
var (
	errInflateTooBig    = &Error{ws.StatusMessageTooBig, "decompressed message too big"}
	errInflateCorrupt   = &Error{ws.StatusInvalidFramePayloadData, "invalid deflate data in compressed message"}
	errInflateTruncated = &Error{ws.StatusInvalidFramePayloadData, "compressed message ends inside a deflate block"}
)

// deflateTail is the empty stored block that a sync flush ends with. RFC
// 7692, section 7.2.1, has the sender remove its last 4 bytes, which are
// always the same, and section 7.2.2 has the receiver put them back.
var deflateTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// inflateTail is what InflateMessage appends to a compressed message: the
// 4 bytes the sender removed, then a final empty stored block, so that a
// message that ends at a block boundary, as it must, ends the deflate
// stream cleanly (io.EOF), while one that ends inside a block is found to
// be truncated (io.ErrUnexpectedEOF) or corrupt.
var inflateTail = [9]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// CompressMessage appends to dst the payload of a compressed message, to be
// sent with RSV1 set on its first frame, and returns the extended slice.
//
// It implements RFC 7692, section 7.2.1, without context takeover: payload
// is compressed on its own with a compress/flate compressor at the given
// level, ending with a sync flush whose final 4 bytes 0x00 0x00 0xff 0xff
// are removed. The result can be sent to any number of connections that
// negotiated permessage-deflate with [NegotiateDeflate]; see
// [AppendCompressedFrame] to frame it once for all of them.
//
// level is a compress/flate level, from flate.HuffmanOnly (-2) to
// flate.BestCompression (9), or flate.DefaultCompression (-1); any other
// value panics. flate.BestSpeed (1) suits a server best: the levels from 2
// up clear 640 KiB of hash tables for every message, which makes a short
// message about three times as costly to compress. Compression rarely
// pays off for messages of a few dozen bytes; a server may send those
// uncompressed (RSV1 clear), which permessage-deflate allows for any
// message.
//
// The compressor is taken from a pool for the call and returned to it;
// CompressMessage allocates only when dst has too little room, and is safe
// for concurrent use.
func CompressMessage(dst, payload []byte, level int) []byte {
	c := getCompressor(level)
	c.out.b = dst
	// Writing to an appendWriter cannot fail, so neither can these.
	c.fw.Write(payload)
	c.fw.Flush()
	dst = c.out.b
	c.out.b = nil
	c.pool.Put(c)

	// A sync flush ends with an empty stored block, and at least its
	// 4 bytes of LEN and NLEN follow what was there before.
	if !bytes.HasSuffix(dst, deflateTail[:]) {
		panic("wsproto: compress/flate did not end its output with a sync flush")
	}
	return dst[:len(dst)-len(deflateTail)]
}

// AppendCompressedFrame appends to dst a whole unmasked frame, as a server
// sends it, holding payload compressed by [CompressMessage] at the given
// level, and returns the extended slice. The frame has FIN and RSV1 set and
// opcode op, which must be ws.OpText or ws.OpBinary; any other opcode
// panics, as does an invalid level.
//
// As the server never takes over compression context (see
// [NegotiateDeflate]), the frame does not depend on the connection: to
// broadcast a message, compress and frame it once and write the same bytes
// to every connection that negotiated permessage-deflate.
func AppendCompressedFrame(dst []byte, op ws.OpCode, payload []byte, level int) []byte {
	if op != ws.OpText && op != ws.OpBinary {
		panic("wsproto: compressed frame with opcode " + strconv.Itoa(int(op)) + ", not text or binary")
	}
	// Compress after room for the longest header, then write the header
	// and move the payload down to it.
	start := len(dst)
	const room = 10 // the header of an unmasked frame with a 64-bit length
	dst = append(dst, make([]byte, room)...)
	dst = CompressMessage(dst, payload, level)
	n := len(dst) - start - room
	var hdr [room]byte
	h := AppendHeader(hdr[:0], ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: op, Length: int64(n)})
	copy(dst[start+len(h):], dst[start+room:])
	copy(dst[start:], h)
	return dst[:start+len(h)+n]
}

// InflateMessage decompresses the payload of a compressed message, as in
// RFC 7692, section 7.2.2, appends it to dst and returns the extended
// slice. compressed is the whole payload of the message: with a fragmented
// message, the payloads of its frames concatenated, as [Decoder.Next]
// delivers it in an [Event] with Compressed set.
//
// The decompressed payload may be at most limit bytes; zero or less means
// [DefaultMaxMessageSize]. InflateMessage stops as soon as the output
// passes the limit and returns an [*Error] with code 1009 (message too
// big): it never inflates more than limit+1 bytes, whatever the ratio of
// the compressed data (a decompression bomb inflates about 1000 times).
// Data that is not valid deflate is an *Error with code 1007 (invalid frame
// payload data). On error it returns dst unchanged, although bytes past
// its length may have been written.
//
// dict is the preset dictionary when the client takes over compression
// context: the last 32 KiB (at least 2^client_max_window_bits bytes) of
// the decompressed payloads of the client's previous compressed messages,
// concatenated. It is nil without context takeover, which is what
// [NegotiateDeflate] negotiates.
//
// A compressed payload that ends inside a deflate block is an error. An
// empty compressed payload is taken as an empty message, as zlib-based
// peers take it. Anything after a deflate block with BFINAL set (RFC 7692,
// section 7.2.3.4) is ignored.
//
// InflateMessage does not check UTF-8: the payload of a text message must
// be checked after it, with a [UTF8] or utf8.Valid.
//
// The decompressor is taken from a pool for the call and returned to it;
// InflateMessage is safe for concurrent use. What does not fit in the room
// left in dst goes to pooled 32 KiB chunks, and only a message that fits
// the limit is then copied, with dst, to a new buffer of its exact size:
// a message over the limit costs no allocation, nor does one inflated
// into a buffer with room enough, such as one the server reuses. Only
// compress/flate itself makes a few small allocations (about 200 bytes) for
// the tables of messages with dynamic Huffman codes, the usual case past a
// few hundred bytes.
func InflateMessage(dst, compressed []byte, limit int64, dict []byte) ([]byte, error) {
	if len(compressed) == 0 {
		return dst, nil
	}
	if limit <= 0 {
		limit = DefaultMaxMessageSize
	}
	start := len(dst)
	// end is where the output becomes too big: limit+1 bytes past start.
	end := maxInt
	if limit < int64(maxInt-start) {
		end = start + int(limit) + 1
	}

	d := decompressorPool.Get().(*decompressor)
	defer d.release()
	d.src = msgReader{p: compressed}
	if err := d.reset.Reset(&d.src, dict); err != nil {
		return dst, errInflateCorrupt // compress/flate never fails here
	}

	// The output goes to the room left in dst, then, if there is not
	// enough, to pooled chunks that are copied into a new buffer of the
	// exact size at the end. A message that is too big thus costs no
	// allocation once the pool is warm, and one that fits costs a single
	// allocation of its size.
	total := start  // the length of the output so far, with dst
	var last []byte // the room left in the last chunk
	for {
		var b []byte
		if len(d.chunks) == 0 && len(dst) < cap(dst) {
			b = dst[len(dst):min(cap(dst), end)]
		} else {
			if len(last) == 0 {
				c := chunkPool.Get().(*inflateChunk)
				d.chunks = append(d.chunks, c)
				last = c[:]
			}
			b = last[:min(len(last), end-total)]
		}
		n, err := d.fr.Read(b)
		if len(d.chunks) == 0 {
			dst = dst[:len(dst)+n]
		} else {
			last = last[n:]
		}
		total += n
		switch {
		case total >= end:
			return dst[:start], errInflateTooBig
		case err == io.EOF:
			return d.gather(dst, total), nil
		case err == io.ErrUnexpectedEOF:
			return dst[:start], errInflateTruncated
		case err != nil:
			return dst[:start], errInflateCorrupt
		}
	}
}

// inflateChunk is a piece of the output of InflateMessage when dst has
// too little room. The pool keeps the chunks of the largest messages
// inflated at the same time, at most their limits, until garbage
// collection drops them.
type inflateChunk [32 << 10]byte

var chunkPool = sync.Pool{New: func() any { return new(inflateChunk) }}

// gather returns dst followed by the output in d's chunks, total bytes in
// all, in a new buffer of that size.
func (d *decompressor) gather(dst []byte, total int) []byte {
	if total == len(dst) {
		return dst // no chunk, or one taken only to find the end
	}
	out := make([]byte, total)
	n := copy(out, dst)
	for _, c := range d.chunks {
		n += copy(out[n:], c[:])
	}
	if n != total {
		panic("wsproto: inflate output lost")
	}
	return out
}

// msgReader reads a compressed message followed by inflateTail. It is an
// io.ByteReader, so compress/flate reads it directly, with no bufio.Reader
// and no read-ahead.
type msgReader struct {
	p    []byte // the rest of the message
	tail int    // how much of inflateTail was read
}

func (r *msgReader) ReadByte() (byte, error) {
	if len(r.p) > 0 {
		c := r.p[0]
		r.p = r.p[1:]
		return c, nil
	}
	if r.tail < len(inflateTail) {
		c := inflateTail[r.tail]
		r.tail++
		return c, nil
	}
	return 0, io.EOF
}

func (r *msgReader) Read(b []byte) (int, error) {
	if len(r.p) > 0 {
		n := copy(b, r.p)
		r.p = r.p[n:]
		return n, nil
	}
	if r.tail < len(inflateTail) {
		n := copy(b, inflateTail[r.tail:])
		r.tail += n
		return n, nil
	}
	return 0, io.EOF
}

// decompressor is a pooled compress/flate decompressor (about 40 KiB, most
// of it the 32 KiB window) with the reader it reads from and the chunks it
// inflates into.
type decompressor struct {
	src    msgReader
	fr     io.ReadCloser
	reset  flate.Resetter
	chunks []*inflateChunk
}

var decompressorPool = sync.Pool{New: func() any {
	d := new(decompressor)
	d.fr = flate.NewReader(&d.src)
	d.reset = d.fr.(flate.Resetter)
	return d
}}

// release forgets the message, returns d's chunks to their pool and d to
// its own.
func (d *decompressor) release() {
	d.src = msgReader{}
	for i, c := range d.chunks {
		chunkPool.Put(c)
		d.chunks[i] = nil
	}
	d.chunks = d.chunks[:0]
	decompressorPool.Put(d)
}

// compressor is a pooled compress/flate compressor for one level, with the
// buffer it writes to. A compressor takes about 790 KiB (levels 2 to 9),
// 1.15 MiB (level 1, flate.BestSpeed) or 720 KiB (levels 0 and -2); a pool
// holds about one per goroutine compressing at the same time.
type compressor struct {
	fw   *flate.Writer
	out  appendWriter
	pool *sync.Pool
}

// compressorPools holds a pool per level, from flate.HuffmanOnly (-2) up.
var compressorPools [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

// getCompressor returns a compressor of the given level from its pool,
// reset to write to its own out. It panics if level is not a
// compress/flate level.
func getCompressor(level int) *compressor {
	if level < flate.HuffmanOnly || level > flate.BestCompression {
		panic("wsproto: invalid compression level " + strconv.Itoa(level))
	}
	pool := &compressorPools[level-flate.HuffmanOnly]
	if c, _ := pool.Get().(*compressor); c != nil {
		c.fw.Reset(&c.out)
		return c
	}
	c := &compressor{pool: pool}
	c.fw, _ = flate.NewWriter(&c.out, level) // level is valid
	return c
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
