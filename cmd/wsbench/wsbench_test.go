package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runBench runs the command with args plus -json -quiet and decodes the
// report.
func runBench(t *testing.T, args ...string) (*result, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append(args, "-json", "-quiet")
	code := run(args, &stdout, &stderr)
	if code == exitUsage {
		t.Fatalf("wsbench %s: exit 2: %s", strings.Join(args, " "), stderr.String())
	}
	var r result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("wsbench %s: bad JSON report (%v):\n%s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return &r, code, stderr.String()
}

func wantExit(t *testing.T, r *result, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("exit status %d, want %d; errors %v samples %v", got, want, r.Errors, r.ErrorSamples)
	}
}

func TestEcho(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "echo", "-url", s.url, "-conns", "20", "-inflight", "4", "-size", "100", "-duration", "1s")
	wantExit(t, r, code, exitOK)
	e := r.Echo
	if e == nil {
		t.Fatal("no echo section in the report")
	}
	if e.Received == 0 || e.Sent == 0 || e.MsgsPerS <= 0 || e.BytesPerS <= 0 {
		t.Errorf("no traffic: %+v", e)
	}
	if e.Received != e.Sent || e.Mismatches != 0 || e.Missing != 0 || e.Unsolicited != 0 {
		t.Errorf("echo accounting off: %+v", e)
	}
	if e.BytesReceived != e.Received*100 || e.BytesSent != e.Sent*100 {
		t.Errorf("byte counts off: %+v", e)
	}
	if r.ErrorTotal != 0 || len(r.Errors) != 0 {
		t.Errorf("errors: %v %v", r.Errors, r.ErrorSamples)
	}
	if r.Connections.Opened != 20 || r.Connections.ClosedClean != 20 {
		t.Errorf("connections: %+v", r.Connections)
	}
	rtt := r.Latency["rtt"]
	if rtt == nil || rtt.Count != e.Received || rtt.P50 <= 0 || rtt.P50 > rtt.P99 || rtt.P99 > rtt.Max {
		t.Errorf("rtt latency: %+v", rtt)
	}
	if !r.CPU.Measured || r.CPU.Percent <= 0 || r.CPU.Cores < 1 {
		t.Errorf("client cpu: %+v", r.CPU)
	}
	s.waitCloses(t, 1000, 20)
	if s.pongs.Load() < 20 {
		t.Errorf("server got %d pongs for 20 pings", s.pongs.Load())
	}
}

func TestEchoTextFragmented(t *testing.T) {
	// The server sends each echo in 100-byte frames; the client reassembles.
	s := newTestServer(t, serverMode{echo: true, fragment: 100})
	r, code, _ := runBench(t, "echo", "-url", s.url, "-conns", "5", "-inflight", "2", "-size", "3000", "-text", "-duration", "500ms")
	wantExit(t, r, code, exitOK)
	if r.Echo.Received == 0 || r.Echo.Mismatches != 0 {
		t.Errorf("echo: %+v, errors %v", r.Echo, r.ErrorSamples)
	}
	s.waitCloses(t, 1000, 5)
}

func TestEchoTinyMessages(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "-scenario", "echo", "-url", s.url, "-conns", "3", "-size", "1", "-duration", "300ms")
	wantExit(t, r, code, exitOK)
	if r.Echo.Received == 0 || r.Echo.Mismatches != 0 {
		t.Errorf("echo: %+v", r.Echo)
	}
}

func TestEchoDetectsCorruption(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true, corruptEvery: 7})
	r, code, _ := runBench(t, "echo", "-url", s.url, "-conns", "4", "-size", "32", "-duration", "500ms")
	wantExit(t, r, code, exitErrors)
	if r.Echo.Mismatches == 0 || r.Errors[kindMismatch] != r.Echo.Mismatches {
		t.Errorf("mismatches %d, errors %v", r.Echo.Mismatches, r.Errors)
	}
	if want := r.Echo.Received / 7; r.Echo.Mismatches < want-4 || r.Echo.Mismatches > want+4 {
		t.Errorf("%d mismatches in %d echoes, want about 1 in 7", r.Echo.Mismatches, r.Echo.Received)
	}
	if r.OK {
		t.Error("report says ok")
	}
	// With a tolerance the same run passes.
	r, code, _ = runBench(t, "echo", "-url", s.url, "-conns", "1", "-size", "32", "-duration", "200ms", "-max-errors", "1000000")
	wantExit(t, r, code, exitOK)
}

func TestBroadcast(t *testing.T) {
	s := newTestServer(t, serverMode{broadcast: true})
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-conns", "10", "-publishers", "2", "-rate", "100", "-duration", "1s", "-settle", "100ms")
	wantExit(t, r, code, exitOK)
	b := r.Broadcast
	if b == nil {
		t.Fatal("no broadcast section")
	}
	if b.Receivers != 10 || b.Publishers != 2 {
		t.Errorf("receivers %d publishers %d", b.Receivers, b.Publishers)
	}
	// 2 publishers at 100/s for 1 s: about 200 messages.
	if b.Published < 150 || b.Published > 220 {
		t.Errorf("published %d, want about 200", b.Published)
	}
	if b.Deliveries != b.Published*10 || b.ExpectedDeliveries != b.Deliveries || b.Complete != b.Published {
		t.Errorf("deliveries %d of %d (published %d, complete %d)", b.Deliveries, b.ExpectedDeliveries, b.Published, b.Complete)
	}
	if b.Lost != 0 || b.Duplicates != 0 || b.Corrupt != 0 || r.ErrorTotal != 0 {
		t.Errorf("lost %d dup %d corrupt %d errors %v", b.Lost, b.Duplicates, b.Corrupt, r.ErrorSamples)
	}
	if l := r.Latency["last_receipt"]; l == nil || l.Count != b.Published {
		t.Errorf("last_receipt latency %+v, want %d samples", l, b.Published)
	}
	if l := r.Latency["delivery"]; l == nil || l.Count != b.Deliveries || l.P50 > r.Latency["last_receipt"].Max {
		t.Errorf("delivery latency %+v", l)
	}
	s.waitCloses(t, 1000, 10)
}

func TestBroadcastFlatOutText(t *testing.T) {
	s := newTestServer(t, serverMode{broadcast: true})
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-conns", "4", "-publishers", "1", "-rate", "0",
		"-size", "64", "-text", "-duration", "300ms", "-settle", "100ms")
	wantExit(t, r, code, exitOK)
	b := r.Broadcast
	if b.Published < 10 || b.Deliveries != b.Published*4 || b.Lost != 0 || b.Duplicates != 0 {
		t.Errorf("broadcast: %+v", b)
	}
}

func TestBroadcastCountsLostDeliveries(t *testing.T) {
	// An echo server is not a broadcast server: only the publisher gets its
	// own messages back, every other receiver misses them.
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-conns", "3", "-rate", "50", "-duration", "300ms",
		"-settle", "50ms", "-drain", "200ms")
	wantExit(t, r, code, exitErrors)
	b := r.Broadcast
	if b.Published == 0 || b.Deliveries != b.Published || b.Lost != 2*b.Published || r.Errors[kindLost] != b.Lost {
		t.Errorf("broadcast: %+v errors %v", b, r.Errors)
	}
}

func TestConnect(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("binds 127.0.0.2-4, which only Linux has without configuration")
	}
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "connect", "-url", s.url, "-conns", "60", "-concurrency", "10", "-hold", "300ms", "-src-ips", "3")
	wantExit(t, r, code, exitOK)
	c := r.Connections
	if c.Attempted != 60 || c.Opened != 60 || c.Failed != 0 || c.HeldAtEnd != 60 || c.ClosedClean != 60 || c.Dropped != 0 {
		t.Errorf("connections: %+v", c)
	}
	if c.OpenS <= 0 || c.OpenPerS <= 0 {
		t.Errorf("open time/rate: %+v", c)
	}
	if l := r.Latency["connect"]; l == nil || l.Count != 60 {
		t.Errorf("connect latency: %+v", l)
	}
	ips := s.ips()
	slices.Sort(ips)
	if want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}; !slices.Equal(ips, want) {
		t.Errorf("server saw clients from %v, want %v", ips, want)
	}
	if want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}; !slices.Equal(r.SourceIPs, want) {
		t.Errorf("report source_ips %v, want %v", r.SourceIPs, want)
	}
	s.waitCloses(t, 1000, 60)
	if s.pongs.Load() != 60 {
		t.Errorf("server got %d pongs for 60 pings", s.pongs.Load())
	}
}

func TestConnectServerGoesAway(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true, closeAfter: 100 * time.Millisecond})
	r, code, _ := runBench(t, "connect", "-url", s.url, "-conns", "5", "-hold", "500ms")
	wantExit(t, r, code, exitErrors)
	if r.Errors["server_close_1001"] != 5 || r.Connections.Dropped != 5 || r.Connections.HeldAtEnd != 0 {
		t.Errorf("errors %v connections %+v", r.Errors, r.Connections)
	}
}

func TestConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, code, _ := runBench(t, "connect", "-url", "ws://"+addr+"/", "-conns", "5", "-hold", "0s")
	wantExit(t, r, code, exitErrors)
	if r.Errors["refused"] != 5 || r.Connections.Failed != 5 || r.Connections.Opened != 0 {
		t.Errorf("errors %v connections %+v", r.Errors, r.Connections)
	}
}

func TestHandshakeStatus(t *testing.T) {
	s := newTestServer(t, serverMode{status: 403})
	r, code, _ := runBench(t, "connect", "-url", s.url, "-conns", "3", "-hold", "0s")
	wantExit(t, r, code, exitErrors)
	if r.Errors["handshake_status_403"] != 3 {
		t.Errorf("errors %v", r.Errors)
	}
}

func TestHandshake(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	r, code, _ := runBench(t, "handshake", "-url", s.url, "-conns", "4", "-duration", "1s")
	wantExit(t, r, code, exitOK)
	h := r.Handshake
	if h == nil || h.Upgrades == 0 || h.Failed != 0 || h.UpgradesPer <= 0 || h.Workers != 4 {
		t.Fatalf("handshake: %+v", h)
	}
	if r.Connections.ClosedClean != h.Upgrades || r.ErrorTotal != 0 {
		t.Errorf("closed clean %d of %d upgrades; errors %v", r.Connections.ClosedClean, h.Upgrades, r.ErrorSamples)
	}
	if l := r.Latency["handshake"]; l == nil || l.Count != h.Upgrades {
		t.Errorf("handshake latency %+v", l)
	}
	s.waitCloses(t, 1000, int(h.Upgrades))
}

func TestFileLimit(t *testing.T) {
	soft, hard, ok := raiseFileLimit()
	if !ok {
		t.Skip("open-file limit unknown on this OS")
	}
	conns := max(uint64(1_000_000), hard+1)
	if conns > maxConns {
		t.Skipf("hard open-file limit %d is above -conns' maximum", hard)
	}
	// Nothing listens at the URL: the run must be refused before any dial.
	for _, procs := range []string{"1", "2"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"connect", "-url", "ws://127.0.0.1:9/", "-procs", procs, "-conns", strconv.FormatUint(conns, 10)}, &stdout, &stderr)
		if code != exitUsage {
			t.Fatalf("-procs %s: exit %d, want 2; stderr %s", procs, code, stderr.String())
		}
		msg := stderr.String()
		for _, want := range []string{"may open only " + strconv.FormatUint(soft, 10) + " files", "connections in one process", "-procs", "ulimit -n"} {
			if !strings.Contains(msg, want) {
				t.Errorf("-procs %s: message %q does not mention %q", procs, msg, want)
			}
		}
		if stdout.Len() != 0 {
			t.Errorf("stdout not empty: %s", stdout.String())
		}
	}
}

func TestBadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-conns", "x"}, "-conns"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-nosuchflag"}, "nosuchflag"},
		{[]string{"-url", "ws://127.0.0.1:9/"}, "no scenario"},
		{[]string{"flood", "-url", "ws://127.0.0.1:9/"}, `unknown scenario "flood"`},
		{[]string{"echo"}, "missing -url"},
		{[]string{"echo", "-url", "http://127.0.0.1:9/"}, "ws://"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-insecure"}, "for wss:// URLs"},
		{[]string{"echo", "-url", "wss://127.0.0.1:9/", "-insecure", "-ca", "x.pem"}, "choose one"},
		{[]string{"echo", "-url", "wss://127.0.0.1:9/", "-ca", "/nonexistent/ca.pem"}, "-ca"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-proxy-protocol", "v3"}, "want v1 or v2"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-proxy-src-addrs", "10.0.0.1"}, "needs -proxy-protocol"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-subprotocol", "a b"}, "-subprotocol"},
		{[]string{"echo", "-url", "ftp://127.0.0.1:9/"}, "wss://"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-messages", "10"}, "-messages is for the broadcast scenario, not echo"},
		{[]string{"connect", "-url", "ws://127.0.0.1:9/", "-size", "10"}, "-size is for the echo, broadcast scenarios"},
		{[]string{"handshake", "-url", "ws://127.0.0.1:9/", "-connect-rate", "10"}, "-connect-rate"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-messages", "10", "-duration", "1s"}, "give one of them"},
		{[]string{"connect", "-url", "ws://127.0.0.1:9/", "-stages", "1s:5", "-hold", "1s"}, "give one of them"},
		{[]string{"connect", "-url", "ws://127.0.0.1:9/", "-stages", "1s:5", "-conns", "2"}, "-conns is 2"},
		{[]string{"connect", "-url", "ws://127.0.0.1:9/", "-stages", "5"}, "DURATION:TARGET"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-room-path", "/r/{room}"}, "needs -rooms"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-rooms", "2", "-room-path", "/r/"}, "{room}"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-publishers", "some"}, "all"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-inflate-each"}, "needs -compress"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-series", "/nonexistent/dir/run.csv"}, "-series"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-threshold", "p99<<5"}, "-threshold"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-procs", "-1"}, "-procs"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-src-addrs", "10.0.0.9-10.0.0.1"}, "-src-addrs"},
		{[]string{"connect", "-url", "ws://127.0.0.1:9/", "-churn", "-1"}, "-churn"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-series-interval", "1ms"}, "-series-interval"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-header", "Host: example.com"}, "Host of -url"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-header", "Sec-WebSocket-Protocol: x"}, "use -subprotocol"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-header", "X-A: b\x01"}, "Name: value"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-rate", "inf"}, "-rate"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-rooms", "2", "-room-path", "/room/{room} HTTP/1.0"}, "no spaces"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-conns", "1000", "-publishers", "all", "-messages", "1000000"}, "at most"},
		{[]string{"echo", "-url", "ws://127.0.0.1:99999/"}, "port"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-conns", "0"}, "-conns 0"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-size", "-5"}, "-size"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-duration", "0s"}, "-duration"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-size", "10"}, "too small"},
		{[]string{"broadcast", "-url", "ws://127.0.0.1:9/", "-conns", "2", "-publishers", "3"}, "-publishers 3"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "extra"}, "unexpected arguments"},
		{[]string{"echo", "-scenario", "connect", "-url", "ws://127.0.0.1:9/"}, "scenario given twice"},
		{[]string{"echo", "-url", "ws://127.0.0.1:9/", "-header", "nocolon"}, "Name: value"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("wsbench %s: exit %d, stderr %q; want exit 2 mentioning %q", strings.Join(tc.args, " "), code, stderr.String(), tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	out := stdout.String()
	for _, want := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "SCENARIOS", "OPTIONS", "THRESHOLDS", "EXAMPLES", "OUTPUT", "EXIT STATUS",
		"    -url URL\n", "    -stages DURATION:TARGET,...\n", "(default 100)"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage does not contain %q", want)
		}
	}
	// Every flag is in exactly one group, and every group's flag exists.
	var cfg config
	fs := newFlagSet(&cfg, io.Discard)
	listed := map[string]int{}
	for _, g := range optionGroups {
		for _, name := range g.names {
			listed[name]++
			if fs.Lookup(name) == nil {
				t.Errorf("group %q lists -%s, which is no flag", g.title, name)
			}
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if listed[f.Name] != 1 {
			t.Errorf("-%s is listed %d times in the options", f.Name, listed[f.Name])
		}
	})
	for i, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > 80 {
			t.Errorf("line %d is %d characters long: %q", i+1, len([]rune(line)), line)
		}
	}
}

func TestTableOutput(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	var stdout, stderr bytes.Buffer
	code := run([]string{"echo", "-url", s.url, "-conns", "2", "-duration", "300ms", "-interval", "100ms"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"wsbench echo", "throughput", "msgs/s", "rtt", "p99.9", "errors", "none", "client cpu", "result", "ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Not a terminal: plain progress lines.
	if !strings.Contains(stderr.String(), "echo ") || strings.Contains(stderr.String(), "\r") {
		t.Errorf("progress output: %q", stderr.String())
	}
}

func TestCPUWarning(t *testing.T) {
	b := &bench{cfg: &config{}, errs: newErrorCounter()}
	r := &result{}
	r.finish(b, 2*time.Second, cpuResult{Measured: true, WallS: 2, Percent: 190, Cores: 2})
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "saturated") {
		t.Errorf("warnings %q", r.Warnings)
	}
	r = &result{}
	r.finish(b, 2*time.Second, cpuResult{Measured: true, WallS: 2, Percent: 120, Cores: 2})
	if len(r.Warnings) != 0 {
		t.Errorf("warnings %q at 60%% of the cores", r.Warnings)
	}

	// Three processes at 70% of one core each: none saturated alone, all
	// three together on two cores.
	reps := make([]*childReport, 3)
	for k := range reps {
		reps[k] = &childReport{Result: &result{Scenario: scConnect, CPU: cpuResult{Measured: true, WallS: 2, Percent: 70, Cores: 2}}}
	}
	cfg := &config{Scenario: scConnect, Conns: 3}
	p := &plan{procs: 3, rooms: 1, conns: []int{1, 1, 1}, srcIPs: make([][]net.IP, 3)}
	r = mergeReports(cfg, nil, p, reps, nil, make([]string, 3))
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "3 processes together used 210% CPU of 2 available cores: it is saturated") {
		t.Errorf("merged warnings %q", r.Warnings)
	}
	reps = reps[:2]
	p = &plan{procs: 2, rooms: 1, conns: []int{1, 1}, srcIPs: make([][]net.IP, 2)}
	if r = mergeReports(cfg, nil, p, reps, nil, make([]string, 2)); len(r.Warnings) != 0 {
		t.Errorf("warnings %q at 70%% of the cores", r.Warnings)
	}
}

func TestEchoSilentServer(t *testing.T) {
	// A server that takes the messages but never echoes nor closes: every
	// message is missing and every close times out.
	s := newTestServer(t, serverMode{silent: true})
	r, code, _ := runBench(t, "echo", "-url", s.url, "-conns", "3", "-inflight", "2", "-duration", "300ms",
		"-drain", "200ms", "-close-timeout", "200ms")
	wantExit(t, r, code, exitErrors)
	if r.Echo.Received != 0 || r.Echo.Missing != 6 || r.Errors[kindNoEcho] != 6 || r.Errors[kindCloseTimeout] != 3 {
		t.Errorf("echo %+v errors %v", r.Echo, r.Errors)
	}
	if r.Connections.Dropped != 3 || r.Connections.ClosedClean != 0 {
		t.Errorf("connections %+v", r.Connections)
	}
	if r.ElapsedS > 2 {
		t.Errorf("run took %.1fs: timeouts not bounded", r.ElapsedS)
	}
}
