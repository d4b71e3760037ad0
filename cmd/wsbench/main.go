// Command wsbench is a load tester for WebSocket servers, ws:// and wss://.
//
// It drives one of four scenarios and checks every message:
//
//	connect    open connections and hold them idle; or, with -stages,
//	           -churn and -reconnect, keep a count of them over time
//	           (ramps, turnover, reconnect storms after a server drain).
//	echo       keep messages in flight against an echo server; every echo
//	           is checked for order, length and content.
//	broadcast  publishers send to everyone (or to their room), at a rate or
//	           flat out (-messages); every delivery is checked per receiver
//	           and publisher: lost, duplicated, reordered, misrouted.
//	handshake  connect, upgrade and close over and over.
//
// Latencies go to HDR histograms. A run past one process's open-file
// limit is spread over several wsbench processes (-procs) that report as
// one, histograms merged exactly. -threshold makes a run a pass/fail gate
// as in k6; -series and -chart record it over time. wsbench reports its
// own CPU, so that a saturated load generator is seen for what it is.
//
//	wsbench broadcast -url ws://127.0.0.1:9001/ -conns 2000 -messages 1000
//	wsbench echo -url wss://example.com/ws -conns 1000 -threshold 'p99<50ms'
//
// The client is a small WebSocket implementation on net.Conn (client.go):
// masked frames, pongs for pings, permessage-deflate when offered, frames
// decoded in place from a read buffer. Run "wsbench -h" for the manual:
// every option, the thresholds, examples and exit statuses.
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
