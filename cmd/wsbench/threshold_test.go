package main

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseThreshold(t *testing.T) {
	for _, tc := range []struct {
		expr, scenario string
		op             string
		value          float64
		percent        bool
	}{
		{"p99<50ms", scEcho, "<", 50_000, false},
		{"p(95) <= 1.5s", scEcho, "<=", 1_500_000, false},
		{"delivery.p99.9<200", scBroadcast, "<", 200_000, false}, // a bare number is milliseconds
		{"rtt.max<250us", scEcho, "<", 250, false},
		{"errors<0.1%", scEcho, "<", 0.001, true},
		{"errors==0", scConnect, "==", 0, false},
		{"lost==0", scBroadcast, "==", 0, false},
		{"lost<=1%", scEcho, "<=", 0.01, true},
		{"deliveries_per_s>=1e6", scBroadcast, ">=", 1e6, false},
		{"rate>100", scHandshake, ">", 100, false},
		{"client_cpu<90%", scBroadcast, "<", 90, false},
		{"reconnect.p99<5s", scConnect, "<", 5e6, false},
		{"opened!=0", scConnect, "!=", 0, false},
	} {
		th, err := parseThreshold(tc.expr, tc.scenario)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if th.op != tc.op || th.value != tc.value || th.percent != tc.percent {
			t.Errorf("%q: op %q value %v percent %v, want %q %v %v", tc.expr, th.op, th.value, th.percent, tc.op, tc.value, tc.percent)
		}
	}
	for _, tc := range []struct{ expr, scenario, want string }{
		{"p99", scEcho, "METRIC OP VALUE"},
		{"p99<", scEcho, "METRIC OP VALUE"},
		{"p99<fast", scEcho, "bad duration"},
		{"p101<5ms", scEcho, "unknown metric"},
		{"latency<5ms", scEcho, "unknown metric"},
		{"lost==0", scConnect, "not measured by the connect scenario"},
		{"delivery.p99<5ms", scEcho, "unknown metric"},
		{"deliveries_per_s>5%", scBroadcast, "cannot be a percentage"},
		{"errors<lots", scEcho, "bad value"},
	} {
		_, err := parseThreshold(tc.expr, tc.scenario)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q for %s: error %v, want one mentioning %q", tc.expr, tc.scenario, err, tc.want)
		}
	}
}

// thresholdRun runs wsbench with thresholds and returns the report and
// the exit status.
func thresholdRun(t *testing.T, args ...string) (*result, int) {
	t.Helper()
	r, code, _ := runBench(t, args...)
	return r, code
}

func wantThresholds(t *testing.T, r *result, code int, pass ...bool) {
	t.Helper()
	if len(r.Thresholds) != len(pass) {
		t.Fatalf("%d thresholds in the report, want %d: %+v", len(r.Thresholds), len(pass), r.Thresholds)
	}
	allPass := true
	for i, want := range pass {
		if r.Thresholds[i].OK != want {
			t.Errorf("threshold %s: ok %v (observed %v%s %s), want %v", r.Thresholds[i].Expr, r.Thresholds[i].OK,
				r.Thresholds[i].Observed, r.Thresholds[i].Unit, r.Thresholds[i].Note, want)
		}
		allPass = allPass && want
	}
	if wantCode := map[bool]int{true: exitOK, false: exitErrors}[allPass]; code != wantCode {
		t.Errorf("exit %d, want %d (failures %q)", code, wantCode, r.Failures)
	}
	for i, want := range pass {
		named := false
		for _, f := range r.Failures {
			named = named || strings.HasPrefix(f, "threshold "+r.Thresholds[i].Expr+" failed")
		}
		if named == want {
			t.Errorf("failures %q: threshold %s named %v", r.Failures, r.Thresholds[i].Expr, named)
		}
	}
}

func TestThresholdsLatency(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{})
	// A loopback round trip takes more than a microsecond and less than a
	// minute, whatever the machine.
	r, code := thresholdRun(t, "echo", "-url", s.url, "-conns", "4", "-duration", "300ms",
		"-threshold", "p99<1m", "-threshold", "p(99.9)<1us", "-threshold", "rtt.max>=1us", "-threshold", "connect.p50<1ns", "-threshold", "mean<1m")
	wantThresholds(t, r, code, true, false, true, false, true)
	if r.Thresholds[0].Unit != "µs" || r.Thresholds[0].Observed <= 0 || r.Thresholds[0].Observed != r.Latency["rtt"].P99 {
		t.Errorf("p99 observed %v%s, report p99 %v", r.Thresholds[0].Observed, r.Thresholds[0].Unit, r.Latency["rtt"].P99)
	}
}

func TestThresholdsErrors(t *testing.T) {
	clean := newTestServer(t, serverMode{echo: true})
	r, code := thresholdRun(t, "echo", "-url", clean.url, "-conns", "2", "-duration", "200ms",
		"-threshold", "errors<0.1%", "-threshold", "errors==0")
	wantThresholds(t, r, code, true, true)

	// One echo in 7 corrupted: about 14% of messages are errors.
	bad := newTestServer(t, serverMode{echo: true, corruptEvery: 7})
	r, code = thresholdRun(t, "echo", "-url", bad.url, "-conns", "2", "-duration", "300ms",
		"-threshold", "errors<0.1%", "-threshold", "errors<50%", "-threshold", "mismatches>0")
	wantThresholds(t, r, code, false, true, true)
	if e := r.Thresholds[0].Observed; e < 8 || e > 20 {
		t.Errorf("error rate %v%%, want about 14%%", e)
	}
	// Without -max-errors, only the thresholds decide: errors<50% holds.
	r, code = thresholdRun(t, "echo", "-url", bad.url, "-conns", "2", "-duration", "300ms", "-threshold", "errors<50%")
	wantThresholds(t, r, code, true)
	// With -max-errors, it counts as well.
	r, code = thresholdRun(t, "echo", "-url", bad.url, "-conns", "2", "-duration", "300ms", "-threshold", "errors<50%", "-max-errors", "0")
	if code != exitErrors || len(r.Failures) != 1 || !strings.Contains(r.Failures[0], "-max-errors") {
		t.Errorf("exit %d failures %q", code, r.Failures)
	}
}

func TestThresholdsBroadcast(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{})
	r, code := thresholdRun(t, "broadcast", "-url", s.url, "-conns", "10", "-messages", "50", "-settle", "50ms",
		"-threshold", "lost==0", "-threshold", "duplicates==0", "-threshold", "reordered==0", "-threshold", "complete==50",
		"-threshold", "deliveries_per_s>1", "-threshold", "deliveries_per_s>1e15", "-threshold", "p99<1m", "-threshold", "delivery.p50<1ns")
	wantThresholds(t, r, code, true, true, true, true, true, false, true, false)

	// Lost deliveries: an echo server is no broadcast server.
	echo := newTestServer(t, serverMode{echo: true})
	r, code = thresholdRun(t, "broadcast", "-url", echo.url, "-conns", "4", "-messages", "10", "-settle", "50ms", "-drain", "200ms",
		"-threshold", "lost==0", "-threshold", "lost<=75%", "-threshold", "lost<50%", "-threshold", "last_receipt.p99<1m")
	wantThresholds(t, r, code, false, true, false, false)
	if r.Thresholds[1].Observed != 75 || r.Thresholds[3].Note == "" {
		t.Errorf("thresholds %+v", r.Thresholds)
	}

	// Merged over processes, the same thresholds.
	r, code = thresholdRun(t, "broadcast", "-url", s.url, "-procs", "2", "-conns", "10", "-messages", "50", "-settle", "50ms",
		"-threshold", "lost==0", "-threshold", "p99<1m", "-threshold", "p99<1ns")
	wantThresholds(t, r, code, true, true, false)
}

func TestThresholdsConnections(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	r, code := thresholdRun(t, "connect", "-url", s.url, "-conns", "5", "-hold", "0s",
		"-threshold", "opened==5", "-threshold", "failed==0", "-threshold", "opened>5", "-threshold", "client_cpu<100000", "-threshold", "rate>0")
	wantThresholds(t, r, code, true, true, false, true, true)

	r, code = thresholdRun(t, "handshake", "-url", s.url, "-conns", "2", "-duration", "200ms",
		"-threshold", "upgrades_per_s>1", "-threshold", "upgrades_per_s<1", "-threshold", "handshake.p99<1m")
	wantThresholds(t, r, code, true, false, true)
}

func TestThresholdTable(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	var stdout, stderr bytes.Buffer
	code := run([]string{"echo", "-url", s.url, "-conns", "2", "-duration", "200ms", "-quiet",
		"-threshold", "p99<1m", "-threshold", "p99<1us"}, &stdout, &stderr)
	out := stdout.String()
	if code != exitErrors || !strings.Contains(out, "FAILED  p99<1us") || !strings.Contains(out, "ok      p99<1m") ||
		!strings.Contains(out, "result            FAILED: threshold p99<1us failed (observed ") {
		t.Errorf("exit %d, table:\n%s", code, out)
	}
}

// TestThresholdKinds runs each kind of threshold against a live server,
// once where it holds and once where the server's behaviour breaks it,
// and reads the report a CI job would: the exit status, the threshold's
// row and the result line naming it.
func TestThresholdKinds(t *testing.T) {
	clean := newTestServer(t, serverMode{echo: true})
	slow := newTestServer(t, serverMode{echo: true, delay: 20 * time.Millisecond})
	corrupt := newTestServer(t, serverMode{echo: true, corruptEvery: 5})
	rejecting := newTestServer(t, serverMode{echo: true, rejectEvery: 2})
	leaving := newTestServer(t, serverMode{echo: true, closeAfter: 100 * time.Millisecond, closeCode: 1012})
	mangling := newTestServer(t, serverMode{broadcast: true, mangle: true})
	bcast := newWsloopServer(t, wsloopOptions{})
	slowUpgrade := newTestServer(t, serverMode{echo: true, upgradeDelay: 50 * time.Millisecond})

	echo := func(url string, more ...string) []string {
		return append([]string{"echo", "-url", url, "-conns", "2", "-duration", "300ms"}, more...)
	}
	connect := func(url string, more ...string) []string {
		return append([]string{"connect", "-url", url, "-conns", "6"}, more...)
	}
	broadcast := func(url string, more ...string) []string {
		return append([]string{"broadcast", "-url", url, "-conns", "4", "-messages", "20", "-settle", "50ms", "-drain", "300ms"}, more...)
	}
	for _, tc := range []struct {
		kind       string
		pass, fail []string // a run where the threshold holds, one where it does not
		threshold  string
	}{
		// Every round trip waits 20 ms on the server, every upgrade 50 ms on
		// slowUpgrade: a latency under that cannot be.
		{"latency percentile", echo(slow.url), echo(slow.url, "-threshold", "p99<20ms"), "p99<1m"},
		{"latency percentile, k6 syntax", echo(slow.url), echo(slow.url, "-threshold", "p(95)<20ms"), "p(95)<1m"},
		{"latency minimum", echo(slow.url), echo(clean.url), "rtt.min>=20ms"},
		{"connect latency", connect(clean.url, "-hold", "0s"), connect(slowUpgrade.url, "-hold", "0s", "-threshold", "p99<50ms"), "p99<1m"},
		{"error rate", echo(clean.url), echo(corrupt.url), "errors<0.1%"},
		{"error count", echo(clean.url), echo(corrupt.url), "errors==0"},
		{"mismatches", echo(clean.url), echo(corrupt.url), "mismatches==0"},
		// 2 connections, one message in flight each, 20 ms a round trip:
		// at most 100 messages a second.
		{"rate", echo(slow.url), echo(slow.url, "-threshold", "msgs_per_s>1000"), "msgs_per_s<1000"},
		{"failed dials", connect(clean.url, "-hold", "0s"), connect(rejecting.url, "-hold", "0s"), "failed==0"},
		{"failed share", connect(clean.url, "-hold", "0s"), connect(rejecting.url, "-hold", "0s"), "failed<10%"},
		{"dropped", connect(clean.url, "-hold", "400ms"), connect(leaving.url, "-hold", "400ms"), "dropped==0"},
		{"open at end", connect(clean.url, "-hold", "400ms"), connect(leaving.url, "-hold", "400ms"), "open_at_end==6"},
		{"reconnected", connect(leaving.url, "-hold", "400ms", "-reconnect", "-reconnect-delay", "20ms"), connect(clean.url, "-hold", "400ms", "-reconnect"), "reconnected>=6"},
		{"lost", broadcast(bcast.url), broadcast(clean.url), "lost==0"},
		{"lost share", broadcast(bcast.url), broadcast(clean.url), "lost<1%"},
		{"complete", broadcast(bcast.url), broadcast(clean.url), "complete==20"},
		{"duplicates", broadcast(bcast.url), broadcast(mangling.url), "duplicates==0"},
		{"reordered", broadcast(bcast.url), broadcast(mangling.url), "reordered==0"},
		{"client cpu", echo(clean.url), echo(clean.url, "-threshold", "client_cpu<0.0001"), "client_cpu<100000"},
	} {
		t.Run(tc.kind+" "+tc.threshold, func(t *testing.T) {
			out, code := textRun(t, append(tc.pass, "-threshold", tc.threshold)...)
			if code != exitOK || !rowMatches(out, "ok", tc.threshold) || !strings.Contains(out, "\nresult            ok\n") {
				t.Errorf("where it holds: exit %d, want 0 and an ok row; report:\n%s", code, out)
			}
			fail := tc.fail
			if !slices.Contains(fail, "-threshold") { // the case's own threshold is the one to fail
				fail = append(slices.Clone(fail), "-threshold", tc.threshold)
			}
			failing := fail[slices.Index(fail, "-threshold")+1]
			out, code = textRun(t, fail...)
			if code != exitErrors || !rowMatches(out, "FAILED", failing) ||
				!strings.Contains(out, "\nresult            FAILED: threshold "+failing+" failed (") {
				t.Errorf("where it fails: exit %d, want 1, a FAILED row and a result line naming %s; report:\n%s", code, failing, out)
			}
		})
	}
}

// textRun runs wsbench with its table report, as a CI job would read it.
func textRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append(args, "-quiet"), &stdout, &stderr)
	if code == exitUsage {
		t.Fatalf("wsbench %s: exit 2: %s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), code
}

// rowMatches reports whether the thresholds table has the row MARK EXPR.
func rowMatches(out, mark, expr string) bool {
	return regexp.MustCompile(`(?m)^  ` + mark + `\s+` + regexp.QuoteMeta(expr) + `\s+(observed|not measured)`).MatchString(out)
}
