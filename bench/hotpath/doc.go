// Package hotpath holds go test benchmarks of wsloop's hot paths next to
// what the peers do for the same job:
//
//	cd bench && go test -run '^$' -bench . -benchmem ./hotpath
//
// Frame decode and encode (wsproto.Decoder.Next and AppendFrame against
// gobwas/ws), masking (gobwas ws.Cipher against a byte loop), the upgrade
// (gobwas Upgrader on an in-memory request, and wsloop's and gobwas's
// handshake over loopback), broadcast to N real loopback clients through
// wsloop's server, and the cost of a forced GC while N idle clients are
// connected (clients in a subprocess, so the server process holds only one
// descriptor per client).
package hotpath
