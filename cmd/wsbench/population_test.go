package main

import (
	"context"
	"testing"
	"time"
)

func TestStagesTable(t *testing.T) {
	st, err := parseStages("1s:100, 2s:100,1s:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		t    time.Duration
		want int
	}{{0, 0}, {500 * time.Millisecond, 50}, {time.Second, 100}, {2500 * time.Millisecond, 100}, {3500 * time.Millisecond, 50}, {5 * time.Second, 0}} {
		if got := targetAt(st, tc.t); got != tc.want {
			t.Errorf("target at %v = %d, want %d", tc.t, got, tc.want)
		}
	}
	if d := stagesDuration(st); d != 4*time.Second {
		t.Errorf("duration %v", d)
	}
	for _, bad := range []string{"", "10s", "x:1", "1s:-1", "1s:y", "0s:5"} {
		if _, err := parseStages(bad); err == nil {
			t.Errorf("parseStages(%q) accepted", bad)
		}
	}
	// Shares of 10 connections over 3 processes: 4, 3, 3.
	if a, b, c := shareOf(10, 0, 3), shareOf(10, 1, 3), shareOf(10, 2, 3); a != 4 || b != 3 || c != 3 {
		t.Errorf("shares %d %d %d", a, b, c)
	}
}

func TestStages(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{})
	for _, procs := range []string{"1", "2"} {
		r, code, _ := runBench(t, "connect", "-url", s.url, "-procs", procs, "-stages", "300ms:20,300ms:20,200ms:0")
		wantExit(t, r, code, exitOK)
		p := r.Population
		if p == nil || r.Params.Conns != 20 {
			t.Fatalf("-procs %s: population %+v, conns %d", procs, p, r.Params.Conns)
		}
		if p.Peak != 20 || p.OpenAtEnd != 0 || p.TargetAtEnd != 0 || p.RampedDown != 20 || p.Churned != 0 {
			t.Errorf("-procs %s: population %+v", procs, p)
		}
		if c := r.Connections; c.Opened != 20 || c.ClosedClean != 20 || c.Failed != 0 || r.ErrorTotal != 0 {
			t.Errorf("-procs %s: connections %+v errors %v", procs, c, r.ErrorSamples)
		}
	}
}

func TestConnectRate(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	// 20 connections at 100/s: the last one may start after 190 ms, not
	// before (a limiter's lower bound, whatever the machine's speed).
	r, code, _ := runBench(t, "connect", "-url", s.url, "-conns", "20", "-connect-rate", "100", "-hold", "0s")
	wantExit(t, r, code, exitOK)
	if c := r.Connections; c.Opened != 20 || c.OpenS < 0.18 {
		t.Errorf("connections %+v: opened faster than 100/s", c)
	}
	// With stages, the rate limits the ramp too: 20 at 100/s need 190 ms
	// although the stage asks for them at once.
	r, code, _ = runBench(t, "connect", "-url", s.url, "-stages", "0s:20,300ms:20", "-connect-rate", "100")
	wantExit(t, r, code, exitOK)
	if p := r.Population; p.Peak != 20 || r.Latency["connect"].Count != 20 {
		t.Errorf("population %+v", p)
	}
}

func TestChurn(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "connect", "-url", s.url, "-conns", "10", "-churn", "40", "-hold", "600ms")
	wantExit(t, r, code, exitOK)
	p := r.Population
	if p.Churned < 5 || p.OpenAtEnd == 0 || p.OpenAtEnd > 10 || p.Peak != 10 {
		t.Errorf("population %+v", p)
	}
	// Every churned connection was replaced (but those still closing or
	// reopening when the run ended).
	if c := r.Connections; c.Opened < 10+p.Churned-3 || c.Failed != 0 || r.ErrorTotal != 0 {
		t.Errorf("connections %+v, churned %d, errors %v", c, p.Churned, r.ErrorSamples)
	}
}

func TestReconnect(t *testing.T) {
	// The server sends each client away with 1012 (service restart) 100 ms
	// after it arrives: with -reconnect the clients come back and the
	// closes are counted, not errors.
	s := newTestServer(t, serverMode{echo: true, closeAfter: 100 * time.Millisecond, closeCode: 1012})
	r, code, _ := runBench(t, "connect", "-url", s.url, "-conns", "5", "-reconnect", "-reconnect-delay", "50ms", "-hold", "600ms")
	wantExit(t, r, code, exitOK)
	p := r.Population
	if p.ServerCloses["1012"] < 5 || p.Reconnected < 5 || r.ErrorTotal != 0 {
		t.Errorf("population %+v errors %v", p, r.ErrorSamples)
	}
	if l := r.Latency["reconnect"]; l.Count != p.Reconnected || l.Max > 50_000+l.Min+500_000 {
		t.Errorf("reconnect latency %+v for %d reconnects", l, p.Reconnected)
	}
	if c := r.Connections; c.Opened != 5+p.Reconnected {
		t.Errorf("opened %d, want 5 + %d reconnects", c.Opened, p.Reconnected)
	}

	// Without -reconnect the same closes are errors.
	r, code, _ = runBench(t, "connect", "-url", s.url, "-conns", "5", "-hold", "300ms")
	wantExit(t, r, code, exitErrors)
	if r.Errors["server_close_1012"] != 5 {
		t.Errorf("errors %v", r.Errors)
	}
}

func TestReconnectAfterDrain(t *testing.T) {
	// Two wsloop servers; the first is drained: its clients get 1012 over
	// 200 ms and reconnect to the second, which the report counts as
	// reconnects, not errors. A dial the draining server refuses (503)
	// would be an error: there is none, as a reconnect tries the next
	// target first.
	a := newWsloopServer(t, wsloopOptions{})
	b := newWsloopServer(t, wsloopOptions{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = a.srv.Drain(context.Background(), 200*time.Millisecond)
	}()
	r, code, _ := runBench(t, "connect", "-url", a.url+","+b.url, "-conns", "10", "-reconnect", "-reconnect-delay", "50ms", "-hold", "1s")
	wantExit(t, r, code, exitOK)
	p := r.Population
	if p.ServerCloses["1012"] != 5 || p.Reconnected != 5 || p.OpenAtEnd != 10 || r.ErrorTotal != 0 {
		t.Errorf("population %+v errors %v", p, r.ErrorSamples)
	}
	if a.joined.Load() != 5 || b.joined.Load() != 10 {
		t.Errorf("the drained server took %d clients, the other %d; want 5 and 5+5", a.joined.Load(), b.joined.Load())
	}
}
