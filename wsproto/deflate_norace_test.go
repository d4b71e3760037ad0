//go:build !race

package wsproto

// deflateRace is set when the race detector is on: sync.Pool then drops
// objects at random, so allocation counts mean nothing.
const deflateRace = false
