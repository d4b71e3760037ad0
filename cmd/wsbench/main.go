// Command wsbench is a load tester for any WebSocket server reachable over a
// plain ws:// URL.
//
// It runs one of four scenarios against the server:
//
//	connect    open -conns connections (-concurrency dials at a time), hold
//	           them idle for -hold, then close them; reports how long opening
//	           took, the rate, dial latency and failures by kind.
//	echo       -conns connections each keep -inflight messages of -size bytes
//	           in flight for -duration against an echo server; every echo is
//	           checked byte for byte; reports messages/s, bytes/s and
//	           round-trip latency percentiles.
//	broadcast  -conns connections receive, -publishers of them also publish
//	           at -rate msg/s each (0 = flat out); the server must deliver every
//	           message to every connected client (publishers included); reports
//	           deliveries/s, per-delivery latency, send-to-last-receipt latency
//	           and lost/duplicate deliveries.
//	handshake  -conns workers repeatedly connect, upgrade and close for
//	           -duration; reports upgrades/s and handshake latency.
//
// The client is a small WebSocket implementation on raw net.Conn (see
// client.go): masked frames with random masks, pongs for pings, a 1000 close
// frame at the end and a short wait for the server's close. One goroutine (two
// for echo senders) runs per connection with small buffers, so tens of
// thousands of connections fit in one process; the open-file limit is checked
// before the run starts. For loopback targets, client sockets are spread over
// source addresses 127.0.0.2, 127.0.0.3, ... so that each source address needs
// at most ~20000 ephemeral ports.
//
// Results are printed as a table, or as one JSON object with -json. The exit
// status is 0 on success, 1 when the run had more errors than -max-errors and
// 2 for bad usage (including asking for more connections than the open-file
// limit allows). Run "wsbench -h" for flags and examples.
package main

import (
	"os"
)

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
