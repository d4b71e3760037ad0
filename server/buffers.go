package server

import "sync"

// Buffers for queued output and for partial input come from pools in a few
// size classes, so that a busy client does not allocate (and zero) a fresh
// buffer per message, and an idle one holds none.
var bufferClasses = [...]int{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

// smallBuffer is the smallest class: small frames for one client are packed
// into one of these.
const smallBuffer = 4 << 10

var bufferPools [len(bufferClasses)]sync.Pool

// getBuffer returns an empty buffer with room for at least n bytes: pooled
// up to the largest class, allocated beyond it.
func getBuffer(n int) *[]byte {
	for i, size := range bufferClasses {
		if n <= size {
			if pb, ok := bufferPools[i].Get().(*[]byte); ok {
				*pb = (*pb)[:0]
				return pb
			}
			b := make([]byte, 0, size)
			return &b
		}
	}
	b := make([]byte, 0, n)
	return &b
}

// putBuffer returns a buffer from getBuffer to its pool. The caller must
// not use it afterwards.
func putBuffer(pb *[]byte) {
	for i, size := range bufferClasses {
		if cap(*pb) == size {
			*pb = (*pb)[:0]
			bufferPools[i].Put(pb)
			return
		}
	}
}
