package server_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/wsloop/wsloop/internal/conform"
)

var slowConformance = flag.Bool("conform.slow", false, "also run the 16 MiB cases of the conformance suite")

// The Autobahn-equivalent suite (internal/conform) against the echo
// server, with permessage-deflate on, over ws:// and over wss:// (the
// server's own TLS on the event loop): every case must be OK.
// Informational cases (7.1.6, 7.13.x) have no pass or fail.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite takes half a minute")
	}
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel() // mostly waiting for the cases' timers
			testConformance(t, scheme)
		})
	}
}

func testConformance(t *testing.T, scheme string) {
	srv := echoServer()
	srv.Compression = true
	srv.MaxMessageSize = 16 << 20
	srv.Logger = quietLogger()
	opts := conform.Options{Slow: *slowConformance}
	var url string
	if scheme == "wss" {
		srv.TLSConfig = testTLS(t).server
		url = "wss://" + startTLS(t, srv) + "/"
		opts.TLS = clientTLS(t)
	} else {
		url = start(t, srv)
	}

	want := 500
	if raceEnabled {
		// Under the race detector the bulk cases (large messages, and
		// compression of many messages) take minutes; they run without
		// it, here and in .ci/run's wsconform pass over the demo server.
		opts.Exclude = []string{"9.*", "12.2.*", "12.3.*", "12.4.*", "12.5.*", "13.2.*", "13.3.*", "13.4.*", "13.5.*", "13.6.*", "13.7.*"}
		want = 250
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	results := conform.Run(ctx, url, opts)
	if len(results) < want {
		t.Fatalf("only %d cases ran", len(results))
	}
	counts := map[conform.Verdict]int{}
	for _, r := range results {
		counts[r.Verdict]++
		if !r.OK() {
			t.Errorf("case %s: %s (%s / %s) %s", r.ID, r.Verdict, r.Behavior, r.BehaviorClose, r.Detail)
		}
	}
	t.Logf("%d cases: %v", len(results), counts)
}
