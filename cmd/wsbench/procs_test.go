package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProcsBroadcast(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{})
	// One room over three processes: every message's receivers are in all
	// of them, and the parent adds up their records.
	for _, procs := range []string{"1", "3"} {
		before := time.Now().UnixNano()
		r, code, _ := runBench(t, "broadcast", "-url", s.url, "-procs", procs, "-conns", "40", "-publishers", "2",
			"-messages", "100", "-settle", "50ms")
		after := time.Now().UnixNano()
		wantExit(t, r, code, exitOK)
		b := r.Broadcast
		checkBurstWindow(t, b, before, after)
		if b.Receivers != 40 || b.Publishers != 2 || b.Published != 200 || b.ExpectedDeliveries != 200*40 ||
			b.Deliveries != 200*40 || b.Complete != 200 || b.Lost != 0 || b.Reordered != 0 || b.Duplicates != 0 {
			t.Errorf("-procs %s: broadcast %+v errors %v", procs, b, r.ErrorSamples)
		}
		if l := r.Latency["last_receipt"]; l.Count != 200 || l.P50 <= 0 || l.P50 > l.Max {
			t.Errorf("-procs %s: last receipt %+v", procs, l)
		}
		if l := r.Latency["delivery"]; l.Count != 200*40 {
			t.Errorf("-procs %s: delivery %+v", procs, l)
		}
		if b.DeliveriesPerS <= 0 || b.DeliveryS <= 0 || b.CPU == nil || !b.CPU.Measured {
			t.Errorf("-procs %s: rates %+v", procs, b)
		}
		if procs == "3" {
			if len(r.Procs) != 3 || r.Procs[0].Conns != 14 || r.Procs[1].Conns != 13 || r.Procs[2].Opened != 13 {
				t.Errorf("processes %+v", r.Procs)
			}
			if r.Connections.Opened != 40 || r.Connections.ClosedClean != 40 {
				t.Errorf("connections %+v", r.Connections)
			}
		}
	}
}

func TestProcsRooms(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{})
	// 6 rooms over 3 processes: each room stays in one process. 2 rooms
	// over 3 processes: each room spans them.
	for _, rooms := range []string{"6", "2"} {
		r, code, _ := runBench(t, "broadcast", "-url", s.url, "-procs", "3", "-conns", "30", "-rooms", rooms,
			"-publishers", "all", "-messages", "10", "-settle", "100ms")
		wantExit(t, r, code, exitOK)
		b := r.Broadcast
		perRoom := int64(30 / len(rooms))
		if rooms == "6" {
			perRoom = 5
		} else {
			perRoom = 15
		}
		nRooms := 30 / perRoom
		if want := 10 * perRoom * perRoom * nRooms; b.Published != 300 || b.ExpectedDeliveries != want || b.Deliveries != want ||
			b.Complete != 300 || b.Misrouted != 0 || r.Latency["last_receipt"].Count != 300 {
			t.Errorf("-rooms %s: broadcast %+v, want %d deliveries; last receipt %+v", rooms, b, want, r.Latency["last_receipt"])
		}
	}
}

func TestProcsRoomsMisrouted(t *testing.T) {
	// Misrouted deliveries are found across processes too.
	s := newWsloopServer(t, wsloopOptions{ignoreRoom: true})
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-procs", "2", "-conns", "8", "-rooms", "2", "-messages", "5",
		"-settle", "50ms", "-drain", "300ms")
	wantExit(t, r, code, exitErrors)
	if b := r.Broadcast; b.Deliveries != 2*5*4 || b.Lost != 0 || b.Misrouted != 2*5*4 {
		t.Errorf("broadcast %+v errors %v", b, r.Errors)
	}
}

func TestProcsLost(t *testing.T) {
	// An echo server: only the publisher gets its messages; the other
	// receivers, in both processes, lose them all.
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-procs", "2", "-conns", "4", "-messages", "10",
		"-settle", "50ms", "-drain", "200ms")
	wantExit(t, r, code, exitErrors)
	if b := r.Broadcast; b.Deliveries != 10 || b.Lost != 30 || b.Complete != 0 || r.Errors[kindLost] != 30 {
		t.Errorf("broadcast %+v errors %v", b, r.Errors)
	}
}

func TestProcsOtherScenarios(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "echo", "-url", s.url, "-procs", "2", "-conns", "6", "-duration", "300ms")
	wantExit(t, r, code, exitOK)
	if e := r.Echo; e.Received == 0 || e.Received != e.Sent || r.Latency["rtt"].Count != e.Received || len(r.Procs) != 2 {
		t.Errorf("echo %+v rtt %+v procs %d", e, r.Latency["rtt"], len(r.Procs))
	}
	r, code, _ = runBench(t, "connect", "-url", s.url, "-procs", "2", "-conns", "7", "-hold", "100ms")
	wantExit(t, r, code, exitOK)
	if c := r.Connections; c.Opened != 7 || c.HeldAtEnd != 7 || c.ClosedClean != 7 || r.Latency["connect"].Count != 7 {
		t.Errorf("connect %+v", c)
	}
	r, code, _ = runBench(t, "handshake", "-url", s.url, "-procs", "2", "-conns", "3", "-duration", "300ms")
	wantExit(t, r, code, exitOK)
	if h := r.Handshake; h.Workers != 3 || h.Upgrades == 0 || r.Latency["handshake"].Count != h.Upgrades {
		t.Errorf("handshake %+v", h)
	}
}

func TestProcsSourceAddresses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("binds 127.0.0.2-5, which only Linux has without configuration")
	}
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "connect", "-url", s.url, "-procs", "2", "-conns", "20", "-hold", "0s", "-src-ips", "4")
	wantExit(t, r, code, exitOK)
	ips := s.ips()
	slices.Sort(ips)
	if want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}; !slices.Equal(ips, want) {
		t.Errorf("server saw %v, want %v", ips, want)
	}
	if len(r.Procs) != 2 || !slices.Equal(r.Procs[0].SourceIPs, []string{"127.0.0.2", "127.0.0.4"}) ||
		!slices.Equal(r.Procs[1].SourceIPs, []string{"127.0.0.3", "127.0.0.5"}) {
		t.Errorf("processes %+v", r.Procs)
	}

	r, code, _ = runBench(t, "connect", "-url", s.url, "-procs", "2", "-conns", "4", "-hold", "0s", "-src-addrs", "127.0.0.9-127.0.0.10")
	wantExit(t, r, code, exitOK)
	if len(r.Procs) != 2 || !slices.Equal(r.Procs[1].SourceIPs, []string{"127.0.0.10"}) {
		t.Errorf("processes %+v", r.Procs)
	}
}

func TestPlanRefusesBeforeTheRun(t *testing.T) {
	ports := ephemeralPorts()
	soft, _, ok := raiseFileLimit()
	if ports == 0 || !ok {
		t.Skip("the ephemeral port range or the open-file limit is unknown on this OS")
	}
	// Enough processes that no one of them is over its open-file limit:
	// the runs below are refused for their ports alone.
	perProc := int(soft) - fdReserve
	procsFor := func(conns int) string { return strconv.Itoa(max(4, (conns+perProc-1)/perProc)) }
	over2 := 2*ports + 1 // one more than two addresses' ports
	over1 := ports + 1   // one more than one address's ports
	s := newTestServer(t, serverMode{echo: true})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-procs", procsFor(over2), "-conns", strconv.Itoa(over2), "-src-ips", "2"},
			"but the kernel hands out only " + strconv.Itoa(ports) + " ephemeral ports"},
		{[]string{"-procs", procsFor(over1), "-conns", strconv.Itoa(over1), "-src-addrs", "127.0.0.2"},
			"from source address 127.0.0.2 to one target, but the kernel hands out only"},
		{[]string{"-procs", procsFor(over1), "-conns", strconv.Itoa(over1), "-src-ips", "0"},
			"to one target from one source address, but the kernel hands out only"},
		{[]string{"-procs", "3", "-conns", "2"}, "more processes than"},
		{[]string{"-procs", "300", "-conns", "400"}, "-procs 300"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"connect", "-url", s.url}, tc.args...), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 mentioning %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	if n := len(s.ips()); n != 0 {
		t.Errorf("the server saw connections from %d addresses", n)
	}
}

// TestPlanLimitsExact checks the plan at the limits themselves: as many
// connections as a process may open, or as an address has ports, are
// allowed; one more is refused (or, for descriptors without -procs, spread
// over another process).
func TestPlanLimitsExact(t *testing.T) {
	ports := ephemeralPorts()
	soft, _, ok := raiseFileLimit()
	if ports == 0 || !ok {
		t.Skip("the ephemeral port range or the open-file limit is unknown on this OS")
	}
	perProc := int(soft) - fdReserve
	plan := func(args ...string) (*plan, error) {
		t.Helper()
		cfg, err := parseConfig(append([]string{"connect", "-url", "ws://127.0.0.1:9/"}, args...))
		if err != nil {
			t.Fatal(err)
		}
		tgts, err := resolveTargets(context.Background(), cfg.URLs)
		if err != nil {
			t.Fatal(err)
		}
		return makePlan(cfg, tgts)
	}
	n := strconv.Itoa
	ips := n(2*perProc/ports + 2) // source addresses enough for the ports
	if p, err := plan("-conns", n(perProc), "-src-ips", ips); err != nil || p.procs != 1 {
		t.Errorf("%d connections, a process's limit: %v, %+v", perProc, err, p)
	}
	if p, err := plan("-conns", n(perProc+1), "-src-ips", ips); err != nil || p.procs != 2 {
		t.Errorf("%d connections without -procs: %v, want 2 processes: %+v", perProc+1, err, p)
	}
	if _, err := plan("-conns", n(perProc+1), "-procs", "1", "-src-ips", ips); err == nil ||
		!strings.Contains(err.Error(), "may open only "+n(int(soft))+" files") {
		t.Errorf("%d connections in one process: %v", perProc+1, err)
	}
	procs := n(max(2, (2*ports+1+perProc-1)/perProc))
	if _, err := plan("-conns", n(2*ports), "-procs", procs, "-src-ips", "2"); err != nil {
		t.Errorf("%d connections from 2 addresses of %d ports: %v", 2*ports, ports, err)
	}
	if _, err := plan("-conns", n(2*ports+1), "-procs", procs, "-src-ips", "2"); err == nil || !strings.Contains(err.Error(), "ephemeral ports") {
		t.Errorf("%d connections from 2 addresses of %d ports: %v", 2*ports+1, ports, err)
	}
	// Two targets: ports are per (source, target) pair.
	two := "ws://127.0.0.1:9/,ws://127.0.0.1:10/"
	if _, err := plan("-url", two, "-conns", n(2*ports), "-procs", procs, "-src-addrs", "127.0.0.2"); (err == nil) != portsPerTarget {
		t.Errorf("%d connections from one address to 2 targets: %v", 2*ports, err)
	}
}

func TestMergedHistogramsExact(t *testing.T) {
	// Samples spread over three recorders, sent as a child sends them and
	// merged: the same percentiles as one histogram of every sample.
	rng := rand.New(rand.NewPCG(7, 8))
	one := newHist()
	var reps []*childReport
	for range 3 {
		rec := newLatencyRecorder()
		for range 20000 {
			v := int64(rng.ExpFloat64()*2e6) + 1000
			rec.record(rng.IntN(100), durationNS(v))
			_ = one.RecordValue(v)
		}
		r := &result{Latency: map[string]*latencySummary{}}
		r.addLatency("rtt", rec)
		rep, err := r.childReport()
		if err != nil {
			t.Fatal(err)
		}
		// As the parent receives it: through JSON.
		reps = append(reps, roundTripJSON(t, rep))
	}
	cfg := &config{Scenario: scEcho, Conns: 3}
	p := &plan{procs: 3, rooms: 1, conns: []int{1, 1, 1}, srcIPs: make([][]net.IP, 3)}
	for _, rep := range reps {
		rep.Result.Scenario = scEcho
	}
	r := mergeReports(cfg, nil, p, reps, nil, make([]string, 3))
	got, want := r.hists["rtt"], one
	if !got.Equals(want) {
		t.Errorf("merged histogram differs from the histogram of all samples")
	}
	for _, q := range []float64{50, 90, 99, 99.9, 100} {
		if g, w := got.ValueAtQuantile(q), want.ValueAtQuantile(q); g != w {
			t.Errorf("p%v: merged %d, all samples %d", q, g, w)
		}
	}
	if s := r.Latency["rtt"]; s.Count != 60000 || s.P99 != summarize(one).P99 {
		t.Errorf("summary %+v", s)
	}
}

func durationNS(v int64) time.Duration { return time.Duration(v) }

func roundTripJSON(t *testing.T, rep *childReport) *childReport {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var out childReport
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestProcsQuantilesMatchOneProcess runs the same load in one process and
// in two, and checks that the two-process report's quantiles are those of
// every sample together, as one process measures them, not a mix of each
// process's own. The server answers the upgrades from one source address
// of four after 500 ms: 5 connections of 20 are slow, all of them in the
// second process when there are two. Of 20 samples the 75th percentile is
// the 15th (fast) and the 80th the 16th (slow) in both runs; averaging the
// processes' p90 (fast and slow) would give a value between them, and
// either process alone would give the wrong side of the boundary.
func TestProcsQuantilesMatchOneProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("binds 127.0.0.2-5, which only Linux has without configuration")
	}
	const delay = 500 * time.Millisecond
	s := newTestServer(t, serverMode{echo: true, slowFrom: "127.0.0.5", upgradeDelay: delay})
	slowUS := float64(delay / time.Microsecond)
	boundaries := []string{"p50<500ms", "p(75)<500ms", "p(80)>=500ms", "p90>=500ms", "min<500ms", "max>=500ms", "mean>=125ms"}
	var reports []*result
	for _, procs := range []string{"1", "2"} {
		args := []string{"connect", "-url", s.url, "-procs", procs, "-conns", "20", "-src-ips", "4", "-hold", "0s"}
		for _, b := range boundaries {
			args = append(args, "-threshold", b)
		}
		r, code, _ := runBench(t, args...)
		wantExit(t, r, code, exitOK)
		for _, th := range r.Thresholds {
			if !th.OK {
				t.Errorf("-procs %s: %s does not hold: observed %v%s", procs, th.Expr, th.Observed, th.Unit)
			}
		}
		l := r.Latency["connect"]
		if l.Count != 20 || l.P50 >= slowUS || l.P90 < slowUS || l.Max < slowUS {
			t.Errorf("-procs %s: connect latency %+v", procs, l)
		}
		if procs == "2" && (len(r.Procs) != 2 || !slices.Contains(r.Procs[1].SourceIPs, "127.0.0.5")) {
			t.Errorf("processes %+v: the slow address is not the second process's", r.Procs)
		}
		reports = append(reports, r)
	}
	one, two := reports[0].Latency["connect"], reports[1].Latency["connect"]
	if one.Count != two.Count {
		t.Errorf("counts: one process %d, two %d", one.Count, two.Count)
	}
}
