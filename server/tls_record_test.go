package server

import (
	"math/rand/v2"
	"testing"
)

// records returns n TLS records of random lengths (empty, small and the
// largest a header can say), back to back, and where each ends.
func records(rng *rand.Rand, n int) (stream []byte, ends map[int]bool) {
	ends = map[int]bool{}
	for i := 0; i < n; i++ {
		var size int
		switch rng.IntN(4) {
		case 0:
			size = 0
		case 1:
			size = rng.IntN(300)
		case 2:
			size = 16384 + 256
		default:
			size = 65535
		}
		stream = append(stream, 0x17, 0x03, 0x03, byte(size>>8), byte(size))
		for j := 0; j < size; j++ {
			stream = append(stream, byte(j))
		}
		ends[len(stream)] = true
	}
	return stream, ends
}

// Given the stream in pieces of any size, a Read handed at most limit
// bytes stops at every record's end and never past one, and the cursor
// follows bytes given without a limit too (the handshake's reads).
func TestRecordCursor(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		stream, ends := records(rng, 1+rng.IntN(6))
		var r recordCursor
		pos := 0
		// The handshake's reads: any length, the cursor follows.
		if rng.IntN(2) == 0 {
			k := rng.IntN(len(stream) + 1)
			r.advance(stream[:k])
			pos = k
		}
		for pos < len(stream) {
			piece := stream[pos:min(len(stream), pos+1+rng.IntN(40000))]
			n := min(r.limit(piece), 1+rng.IntN(20000)) // the reader's buffer may be smaller
			if n == 0 {
				t.Fatalf("round %d: limit 0 at %d of %d", round, pos, len(stream))
			}
			for i := pos + 1; i < pos+n; i++ {
				if ends[i] {
					t.Fatalf("round %d: a read of %d bytes at %d crosses the record end at %d", round, n, pos, i)
				}
			}
			if full := r.limit(piece); full < len(piece) && !ends[pos+full] {
				t.Fatalf("round %d: limit stops at %d, not at a record's end (piece %d, cursor %+v, ends %v)", round, pos+full, len(piece), r, ends)
			}
			r.advance(piece[:n])
			pos += n
		}
		if r.hdrN != 0 || r.left != 0 {
			t.Fatalf("round %d: the cursor is not at a boundary at the end of the stream: %+v", round, r)
		}
	}
}
