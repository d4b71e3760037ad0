// Command compare runs the server comparison: it builds every benchmark
// server under ../servers and wsbench (../../cmd/wsbench), then, for each
// server and scenario in turn, starts the server pinned to one CPU, runs
// wsbench pinned to another with -json, samples the server's memory, CPU
// time and /stats endpoint, and stops the server. It writes
// results/results.json, results/results.md and results/chart.svg (and
// chart.png when rsvg-convert or chromium is installed).
//
// Run it from the bench directory (bench/run.sh does):
//
//	go run ./cmd/compare [-quick] [-servers wsloop,gws] [-scenarios echo64,handshake]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// allServers in table order: ours, the peers, the floor.
var allServers = []string{"wsloop", "gorilla", "gobwas", "nbio", "gws", "rawtcp"}

// peers are the WebSocket libraries wsloop is compared with ("best peer").
var peers = []string{"gorilla", "gobwas", "nbio", "gws"}

const floor = "rawtcp"

var allScenarios = []string{"idle", "echo64", "echo16k", "broadcast", "bcastmax", "handshake"}

type config struct {
	Quick            bool     `json:"quick"`
	Duration         Duration `json:"duration"`
	Servers          []string `json:"servers"`
	Scenarios        []string `json:"scenarios"`
	ServerCPU        string   `json:"server_cpu"`
	ClientCPU        string   `json:"client_cpu"`
	IdleConns        int      `json:"idle_conns"`
	IdleSettle       Duration `json:"idle_settle"`
	EchoConns        int      `json:"echo_conns"`
	EchoInflight     int      `json:"echo_inflight"`
	BcastConns       int      `json:"broadcast_conns"`
	BcastPublishers  int      `json:"broadcast_publishers"`
	BcastRate        float64  `json:"broadcast_rate_per_publisher"`
	BcastSize        int      `json:"broadcast_size"`
	BcastMaxRate     float64  `json:"bcastmax_rate_per_publisher"`
	HandshakeWorkers int      `json:"handshake_workers"`
	RSSLimitMiB      int64    `json:"rss_limit_mib"`
	Profile          bool     `json:"profile"`
	Reps             int      `json:"reps"`
	Note             string   `json:"note,omitempty"`
	Out              string   `json:"-"`
	SkipBuild        bool     `json:"-"`
}

// Duration marshals as a string like "10s".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func main() {
	cfg := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags() *config {
	cfg := &config{}
	var servers, scenarios string
	var dur time.Duration
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	fs.BoolVar(&cfg.Quick, "quick", false, "3 s per timed scenario instead of -duration, no profile runs")
	fs.DurationVar(&dur, "duration", 10*time.Second, "how long each echo, broadcast and handshake run sends")
	fs.StringVar(&servers, "servers", strings.Join(allServers, ","), "comma-separated servers to run")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run")
	fs.StringVar(&cfg.ServerCPU, "server-cpu", "0", "taskset CPU list for the server")
	fs.StringVar(&cfg.ClientCPU, "client-cpu", "1", "taskset CPU list for wsbench")
	fs.IntVar(&cfg.IdleConns, "idle-conns", 10000, "idle scenario: connections held")
	idleSettle := fs.Duration("idle-settle", 2*time.Second, "idle scenario: wait after the last connection before sampling")
	fs.IntVar(&cfg.EchoConns, "echo-conns", 1000, "echo scenarios: connections")
	fs.IntVar(&cfg.EchoInflight, "echo-inflight", 4, "echo scenarios: messages in flight per connection")
	fs.IntVar(&cfg.BcastConns, "broadcast-conns", 2000, "broadcast scenario: clients")
	fs.IntVar(&cfg.BcastPublishers, "broadcast-publishers", 2, "broadcast scenario: publishers (among the clients)")
	fs.Float64Var(&cfg.BcastRate, "broadcast-rate", 200, "broadcast scenario: messages/s per publisher (0 = flat out; see README)")
	fs.IntVar(&cfg.BcastSize, "broadcast-size", 64, "broadcast scenarios: message size in bytes")
	fs.Float64Var(&cfg.BcastMaxRate, "bcastmax-rate", 600, "bcastmax scenario: messages/s per publisher, chosen above what any server sustains")
	fs.IntVar(&cfg.HandshakeWorkers, "handshake-workers", 64, "handshake scenario: concurrent workers")
	fs.Int64Var(&cfg.RSSLimitMiB, "rss-limit-mib", 6144, "kill a server whose RSS passes this (MiB) and mark the run aborted")
	fs.BoolVar(&cfg.Profile, "profile", true, "after the comparison, rerun wsloop with -cpuprofile for echo64, echo16k, broadcast and handshake (not counted in the tables)")
	fs.IntVar(&cfg.Reps, "reps", 3, "runs of every server × scenario, interleaved; the tables show the median (-quick: 1)")
	fs.StringVar(&cfg.Out, "out", "results", "output directory")
	fs.BoolVar(&cfg.SkipBuild, "skip-build", false, "use the binaries already in bin/")
	fromJSON := fs.String("from-json", "", "run nothing: rewrite results.md and the chart from this results.json")
	fs.StringVar(&cfg.Note, "note", "", "a note for the top of results.md (e.g. what else ran on the machine)")
	fs.Parse(os.Args[1:])
	cfg.Duration = Duration(dur)
	cfg.IdleSettle = Duration(*idleSettle)
	if cfg.Quick {
		cfg.Duration = Duration(3 * time.Second)
		cfg.Profile = false
		cfg.Reps = 1
	}
	cfg.Reps = max(cfg.Reps, 1)
	cfg.Servers = splitList(servers, allServers, "server")
	cfg.Scenarios = splitList(scenarios, allScenarios, "scenario")
	if *fromJSON != "" {
		if err := rewrite(*fromJSON, cfg); err != nil {
			fmt.Fprintf(os.Stderr, "compare: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	return cfg
}

// rewrite regenerates the report files from a results.json, keeping its
// configuration (only -note and -out are taken from the command line).
func rewrite(path string, cli *config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	if cli.Note != "" {
		res.Config.Note = cli.Note
	}
	res.Config.Out = cli.Out
	return writeResults(res.Config, &res)
}

func splitList(s string, valid []string, what string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(valid, f) {
			fmt.Fprintf(os.Stderr, "compare: unknown %s %q (want %s)\n", what, f, strings.Join(valid, ", "))
			os.Exit(2)
		}
		out = append(out, f)
	}
	return out
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, cfg *config) error {
	if _, err := os.Stat("servers/wsloop/main.go"); err != nil {
		return errors.New("run me from the bench directory (bench/run.sh does)")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("taskset not found (package util-linux)")
	}
	if err := os.MkdirAll(filepath.Join(cfg.Out, "logs"), 0o755); err != nil {
		return err
	}
	res := &results{
		Date:      time.Now().UTC().Format(time.RFC3339),
		Machine:   readMachine(),
		GoVersion: goVersion(),
		Command:   commandLine(),
		Config:    cfg,
		Servers:   cfg.Servers,
		LoadStart: loadAvg(),
		Wsloop:    wsloopVersion(),
	}
	if !cfg.SkipBuild {
		if err := build(ctx, cfg.Servers); err != nil {
			return err
		}
	}
	for _, sc := range cfg.Scenarios {
		for rep := 1; rep <= cfg.Reps; rep++ {
			for _, srv := range cfg.Servers {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r := runOne(ctx, cfg, srv, sc, "", rep)
				res.Runs = append(res.Runs, r)
				summary := r.Error
				if summary == "" {
					summary = headline(r)
				}
				logf("%-9s %d/%d %-8s %s", sc, rep, cfg.Reps, srv, summary)
				time.Sleep(time.Second) // let TIME_WAIT and the scheduler settle a little
			}
		}
	}
	if cfg.Profile && slices.Contains(cfg.Servers, "wsloop") {
		for _, sc := range []string{"echo64", "echo16k", "broadcast", "handshake"} {
			if !slices.Contains(cfg.Scenarios, sc) || ctx.Err() != nil {
				continue
			}
			prof := filepath.Join(cfg.Out, "profiles", "wsloop-"+sc+".pprof")
			os.MkdirAll(filepath.Dir(prof), 0o755)
			r := runOne(ctx, cfg, "wsloop", sc, prof, 0)
			top := filepath.Join(cfg.Out, "profiles", "wsloop-"+sc+".top.txt")
			out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=35", "bin/wsloop", prof).CombinedOutput()
			if err == nil {
				os.WriteFile(top, out, 0o644)
			}
			res.Profiles = append(res.Profiles, profileRun{Scenario: sc, Profile: prof, Top: top, Headline: headline(r)})
			logf("profile  %-9s %s -> %s", sc, headline(r), prof)
		}
	}
	res.LoadEnd = loadAvg()
	if err := writeResults(cfg, res); err != nil {
		return err
	}
	logf("wrote %s", strings.Join([]string{
		filepath.Join(cfg.Out, "results.json"), filepath.Join(cfg.Out, "results.md"), filepath.Join(cfg.Out, "chart.svg")}, ", "))
	return nil
}

// build compiles the servers and wsbench into bin/.
func build(ctx context.Context, servers []string) error {
	if err := os.MkdirAll("bin", 0o755); err != nil {
		return err
	}
	abs, _ := filepath.Abs("bin")
	for _, s := range servers {
		logf("building %s", s)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(abs, s), "./servers/"+s)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", s, err)
		}
	}
	logf("building wsbench")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(abs, "wsbench"), "./cmd/wsbench")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building wsbench: %w", err)
	}
	return nil
}

// run is the outcome of one server × scenario.
type runResult struct {
	Server        string             `json:"server"`
	Scenario      string             `json:"scenario"`
	Rep           int                `json:"rep"`
	ServerCommand string             `json:"server_command"`
	BenchCommand  string             `json:"wsbench_command"`
	Error         string             `json:"error,omitempty"`
	Aborted       string             `json:"aborted,omitempty"`
	BenchExit     int                `json:"wsbench_exit"`
	Metrics       map[string]float64 `json:"metrics"`
	ServerCPU     cpuSample          `json:"server_cpu"`
	PeakRSS       int64              `json:"peak_rss_bytes"`
	BaselineRSS   int64              `json:"baseline_rss_bytes"`
	StatsBefore   *serverStats       `json:"stats_before,omitempty"`
	StatsAfter    *serverStats       `json:"stats_after,omitempty"`
	Wsbench       json.RawMessage    `json:"wsbench,omitempty"`
}

type cpuSample struct {
	Seconds float64 `json:"seconds"`
	WallS   float64 `json:"wall_s"`
	Percent float64 `json:"percent_of_one_core"`
}

type serverStats struct {
	Goroutines int    `json:"goroutines"`
	Conns      int64  `json:"conns"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	NumGC      uint32 `json:"num_gc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// wsbenchOut is the part of wsbench's JSON report that compare reads.
type wsbenchOut struct {
	Connections struct {
		Opened   int64   `json:"opened"`
		OpenPerS float64 `json:"open_per_s"`
	} `json:"connections"`
	Echo *struct {
		Received int64   `json:"received"`
		MsgsPerS float64 `json:"msgs_per_s"`
	} `json:"echo"`
	Broadcast *struct {
		Published      int64   `json:"published"`
		PublishedPerS  float64 `json:"published_per_s"`
		Deliveries     int64   `json:"deliveries"`
		DeliveriesPerS float64 `json:"deliveries_per_s"`
		Lost           int64   `json:"lost"`
	} `json:"broadcast"`
	Handshake *struct {
		Upgrades    int64   `json:"upgrades"`
		UpgradesPer float64 `json:"upgrades_per_s"`
	} `json:"handshake"`
	Latency map[string]struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_us"`
	ErrorTotal int64 `json:"error_total"`
	CPU        struct {
		Percent float64 `json:"percent_of_one_core"`
	} `json:"client_cpu"`
	Warnings []string `json:"warnings"`
}

func modeOf(scenario string) string {
	if scenario == "broadcast" || scenario == "bcastmax" {
		return "broadcast"
	}
	return "echo"
}

// benchArgs is the wsbench command line of a scenario.
func benchArgs(cfg *config, scenario, url string) []string {
	d := time.Duration(cfg.Duration).String()
	common := []string{"-url", url, "-json", "-interval", "1s"}
	switch scenario {
	case "idle":
		hold := time.Duration(cfg.IdleSettle) + 4*time.Second
		return append([]string{"connect", "-conns", strconv.Itoa(cfg.IdleConns), "-concurrency", "200", "-hold", hold.String(), "-timeout", "10s"}, common...)
	case "echo64":
		return append([]string{"echo", "-conns", strconv.Itoa(cfg.EchoConns), "-inflight", strconv.Itoa(cfg.EchoInflight), "-size", "64", "-duration", d, "-drain", "5s", "-concurrency", "200"}, common...)
	case "echo16k":
		return append([]string{"echo", "-conns", strconv.Itoa(cfg.EchoConns), "-inflight", strconv.Itoa(cfg.EchoInflight), "-size", "16384", "-duration", d, "-drain", "5s", "-concurrency", "200"}, common...)
	case "broadcast", "bcastmax":
		rate := cfg.BcastRate
		if scenario == "bcastmax" {
			rate = cfg.BcastMaxRate
		}
		return append([]string{"broadcast", "-conns", strconv.Itoa(cfg.BcastConns), "-publishers", strconv.Itoa(cfg.BcastPublishers),
			"-rate", strconv.FormatFloat(rate, 'g', -1, 64), "-size", strconv.Itoa(cfg.BcastSize), "-duration", d,
			"-drain", "10s", "-settle", "1s", "-concurrency", "200"}, common...)
	case "handshake":
		return append([]string{"handshake", "-conns", strconv.Itoa(cfg.HandshakeWorkers), "-duration", d, "-src-ips", "8"}, common...)
	}
	panic("unknown scenario " + scenario)
}

// targetConns is how many connections the server holds once wsbench has
// opened them all (0: don't wait).
func targetConns(cfg *config, scenario string) int64 {
	switch scenario {
	case "idle":
		return int64(cfg.IdleConns)
	case "echo64", "echo16k":
		return int64(cfg.EchoConns)
	case "broadcast", "bcastmax":
		return int64(cfg.BcastConns)
	}
	return 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// runOne starts server srv, runs scenario sc against it and stops it.
func runOne(ctx context.Context, cfg *config, srv, sc, cpuprofile string, rep int) (r runResult) {
	r = runResult{Server: srv, Scenario: sc, Rep: rep, Metrics: map[string]float64{}}
	fail := func(format string, args ...any) runResult {
		r.Error = fmt.Sprintf(format, args...)
		return r
	}
	port, err := freePort()
	if err != nil {
		return fail("%v", err)
	}
	sport, err := freePort()
	if err != nil {
		return fail("%v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	statsAddr := fmt.Sprintf("127.0.0.1:%d", sport)
	suffix := fmt.Sprintf("-%d", rep)
	if cpuprofile != "" {
		suffix = "-profile"
	}
	logBase := filepath.Join(cfg.Out, "logs", srv+"-"+sc+suffix)

	sargs := []string{"-c", cfg.ServerCPU, "bin/" + srv, "-addr", addr, "-mode", modeOf(sc), "-stats-addr", statsAddr}
	if cpuprofile != "" {
		sargs = append(sargs, "-cpuprofile", cpuprofile)
	}
	r.ServerCommand = "taskset " + strings.Join(sargs, " ")
	slog, err := os.Create(logBase + ".server.log")
	if err != nil {
		return fail("%v", err)
	}
	defer slog.Close()
	scmd := exec.Command("taskset", sargs...)
	scmd.Stdout, scmd.Stderr = slog, slog
	if err := scmd.Start(); err != nil {
		return fail("starting %s: %v", srv, err)
	}
	pid := scmd.Process.Pid
	exited := make(chan struct{})
	go func() { scmd.Wait(); close(exited) }()
	defer stopServer(scmd, exited)

	if err := waitReady(ctx, addr, statsAddr, exited); err != nil {
		return fail("%s did not start: %v (see %s.server.log)", srv, err, logBase)
	}
	time.Sleep(500 * time.Millisecond)
	r.BaselineRSS = readRSS(pid)
	r.StatsBefore, _ = fetchStats(statsAddr)

	// Watch memory; kill a runaway server.
	var mu sync.Mutex
	peak := r.BaselineRSS
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-watchDone:
				return
			case <-exited:
				return
			case <-t.C:
			}
			rss := readRSS(pid)
			mu.Lock()
			peak = max(peak, rss)
			if rss > cfg.RSSLimitMiB<<20 && r.Aborted == "" {
				r.Aborted = fmt.Sprintf("server RSS %d MiB passed -rss-limit-mib %d: killed", rss>>20, cfg.RSSLimitMiB)
				scmd.Process.Kill()
			}
			mu.Unlock()
		}
	}()

	url := "ws://" + addr + "/"
	bargs := append([]string{"-c", cfg.ClientCPU, "bin/wsbench"}, benchArgs(cfg, sc, url)...)
	r.BenchCommand = "taskset " + strings.Join(bargs, " ")
	blog, err := os.Create(logBase + ".wsbench.log")
	if err != nil {
		return fail("%v", err)
	}
	defer blog.Close()
	var bout strings.Builder
	bcmd := exec.CommandContext(ctx, "taskset", bargs...)
	bcmd.Stdout, bcmd.Stderr = &bout, blog
	if err := bcmd.Start(); err != nil {
		return fail("starting wsbench: %v", err)
	}
	bdone := make(chan struct{})
	go func() { bcmd.Wait(); close(bdone) }()

	// Wait until every connection is open, then start the CPU clock.
	var t0 time.Time
	var cpu0 float64
	want := targetConns(cfg, sc)
	if want > 0 {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			st, err := fetchStats(statsAddr)
			if err == nil && st.Conns >= want {
				break
			}
			select {
			case <-bdone:
				deadline = time.Now()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	t0, cpu0 = time.Now(), readCPU(pid)

	if sc == "idle" {
		time.Sleep(time.Duration(cfg.IdleSettle))
		rss := readRSS(pid)
		st, err := fetchStats(statsAddr)
		r.StatsAfter = st
		n := float64(cfg.IdleConns)
		r.Metrics["idle.rss_per_conn"] = float64(rss-r.BaselineRSS) / n
		if err == nil && r.StatsBefore != nil {
			r.Metrics["idle.conns_held"] = float64(st.Conns)
			r.Metrics["idle.goroutines"] = float64(st.Goroutines)
			before := float64(r.StatsBefore.HeapInuse + r.StatsBefore.StackInuse)
			after := float64(st.HeapInuse + st.StackInuse)
			r.Metrics["idle.gomem_per_conn"] = (after - before) / n
		}
	}
	<-bdone
	wall := time.Since(t0)
	cpu1 := readCPU(pid)
	if sc != "idle" {
		r.StatsAfter, _ = fetchStats(statsAddr)
	}
	r.ServerCPU = cpuSample{Seconds: round(cpu1-cpu0, 3), WallS: round(wall.Seconds(), 3)}
	if wall > 0 {
		r.ServerCPU.Percent = round(100*(cpu1-cpu0)/wall.Seconds(), 1)
	}
	mu.Lock()
	r.PeakRSS = peak
	mu.Unlock()
	r.BenchExit = bcmd.ProcessState.ExitCode()
	raw := strings.TrimSpace(bout.String())
	var wb wsbenchOut
	if err := json.Unmarshal([]byte(raw), &wb); err != nil {
		return fail("wsbench exit %d, no JSON report (see %s.wsbench.log): %v", r.BenchExit, logBase, err)
	}
	r.Wsbench = json.RawMessage(raw)
	fillMetrics(&r, &wb)
	select {
	case <-exited:
		if r.Aborted == "" {
			r.Aborted = "server exited during the run (see " + logBase + ".server.log)"
		}
	default:
	}
	if r.Aborted != "" {
		r.Error = r.Aborted
	}
	return r
}

// fillMetrics derives the table's numbers from wsbench's report and the
// server's CPU time.
func fillMetrics(r *runResult, wb *wsbenchOut) {
	m := r.Metrics
	sc := r.Scenario
	m[sc+".errors"] = float64(wb.ErrorTotal)
	m[sc+".client_cpu_pct"] = wb.CPU.Percent
	m[sc+".server_cpu_pct"] = r.ServerCPU.Percent
	m[sc+".peak_rss_mib"] = float64(r.PeakRSS) / (1 << 20)
	cpuUS := r.ServerCPU.Seconds * 1e6
	lat := func(name, key string) {
		if l, ok := wb.Latency[name]; ok {
			m[sc+"."+key+"_p50_us"] = l.P50
			m[sc+"."+key+"_p99_us"] = l.P99
		}
	}
	switch {
	case sc == "idle":
		m["idle.connect_per_s"] = wb.Connections.OpenPerS
	case wb.Echo != nil:
		m[sc+".msgs_per_s"] = wb.Echo.MsgsPerS
		if wb.Echo.Received > 0 {
			m[sc+".cpu_us_per_msg"] = cpuUS / float64(wb.Echo.Received)
		}
		lat("rtt", "rtt")
	case wb.Broadcast != nil:
		m[sc+".deliveries_per_s"] = wb.Broadcast.DeliveriesPerS
		m[sc+".published_per_s"] = wb.Broadcast.PublishedPerS
		m[sc+".lost"] = float64(wb.Broadcast.Lost)
		if wb.Broadcast.Deliveries > 0 {
			m[sc+".cpu_us_per_delivery"] = cpuUS / float64(wb.Broadcast.Deliveries)
		}
		lat("delivery", "delivery")
	case wb.Handshake != nil:
		m[sc+".upgrades_per_s"] = wb.Handshake.UpgradesPer
		if wb.Handshake.Upgrades > 0 {
			m[sc+".cpu_us_per_upgrade"] = cpuUS / float64(wb.Handshake.Upgrades)
		}
		lat("handshake", "handshake")
	}
}

func headline(r runResult) string {
	m := r.Metrics
	switch r.Scenario {
	case "idle":
		return fmt.Sprintf("%.0f B/conn RSS, %.0f goroutines, errors %.0f", m["idle.rss_per_conn"], m["idle.goroutines"], m["idle.errors"])
	case "echo64", "echo16k":
		return fmt.Sprintf("%.0f msg/s, p99 %.0f µs, server cpu %.0f%%, %.2f µs/msg, errors %.0f",
			m[r.Scenario+".msgs_per_s"], m[r.Scenario+".rtt_p99_us"], m[r.Scenario+".server_cpu_pct"], m[r.Scenario+".cpu_us_per_msg"], m[r.Scenario+".errors"])
	case "broadcast", "bcastmax":
		k := r.Scenario + "."
		return fmt.Sprintf("%.0f deliveries/s, p99 %.0f µs, lost %.0f, server cpu %.0f%%, peak RSS %.0f MiB, errors %.0f",
			m[k+"deliveries_per_s"], m[k+"delivery_p99_us"], m[k+"lost"], m[k+"server_cpu_pct"], m[k+"peak_rss_mib"], m[k+"errors"])
	case "handshake":
		return fmt.Sprintf("%.0f upgrades/s, p99 %.0f µs, server cpu %.0f%%, errors %.0f",
			m["handshake.upgrades_per_s"], m["handshake.handshake_p99_us"], m["handshake.server_cpu_pct"], m["handshake.errors"])
	}
	return ""
}

func waitReady(ctx context.Context, addr, statsAddr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			if _, err := fetchStats(statsAddr); err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not listening after 15s")
}

func stopServer(cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

var statsClient = &http.Client{Timeout: 5 * time.Second}

func fetchStats(addr string) (*serverStats, error) {
	resp, err := statsClient.Get("http://" + addr + "/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st serverStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// readRSS returns VmRSS of pid in bytes (0 if unknown).
func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// readCPU returns the user+system CPU seconds of pid.
func readCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// Fields after the command: state is f[0], utime f[11], stime f[12].
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// wsloopVersion names the commit of the library under test (the parent
// module), with "+dirty" when server/, wsproto/ or poller/ have
// uncommitted changes.
func wsloopVersion() string {
	out, err := exec.Command("git", "-C", "..", "log", "-1", "--format=%h %cI %s").Output()
	if err != nil {
		return "unknown (no git)"
	}
	v := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", "..", "status", "--porcelain", "--", "server", "wsproto", "poller").Output(); err == nil && len(st) > 0 {
		v += " +dirty"
	}
	return v
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

type machine struct {
	NProc     int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	MemTotal  string `json:"mem_total"`
	NoFileMax string `json:"open_files_hard_limit"`
}

func readMachine() machine {
	m := machine{}
	if out, err := exec.Command("nproc").Output(); err == nil {
		m.NProc, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-srm").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		m.NoFileMax = strconv.FormatUint(lim.Max, 10)
	}
	return m
}

func goVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// commandLine is how this run was started, as the user typed it (run.sh
// sets COMPARE_COMMAND).
func commandLine() string {
	if c := os.Getenv("COMPARE_COMMAND"); c != "" {
		return c
	}
	return "cd bench && go run ./cmd/compare " + strings.Join(os.Args[1:], " ")
}

var _ = io.Discard
