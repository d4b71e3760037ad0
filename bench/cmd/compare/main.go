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

	"github.com/wsloop/wsloop/bench/internal/selfsigned"
)

// allServers in table order: ours, the peers, the floor.
var allServers = []string{"wsloop", "gorilla", "gobwas", "nbio", "gws", "rawtcp"}

// peers are the WebSocket libraries wsloop is compared with ("best peer").
var peers = []string{"gorilla", "gobwas", "nbio", "gws"}

const floor = "rawtcp"

// noTLS are the servers that cannot serve TLS, with the reason; TLS
// scenarios skip them.
var noTLS = map[string]string{}

// wsbenchTrustFlag is how wsbench is told to trust the run's self-signed
// certificate (its value: the certificate's PEM file).
const wsbenchTrustFlag = "-ca"

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
	BurstConns       int      `json:"burst_conns"`
	BurstSize        int      `json:"burst_size"`
	DeflateSize      int      `json:"deflate_size"`
	Rooms            int      `json:"rooms"`
	RoomMembers      int      `json:"room_members"`
	RoomMessages     int      `json:"room_messages"`
	RSSLimitMiB      int64    `json:"rss_limit_mib"`
	Profile          bool     `json:"profile"`
	Reps             int      `json:"reps"`
	Ports            string   `json:"ports,omitempty"`
	Note             string   `json:"note,omitempty"`
	Out              string   `json:"-"`
	SkipBuild        bool     `json:"-"`
	WsbenchDir       string   `json:"wsbench_dir,omitempty"`
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
	fs.BoolVar(&cfg.Quick, "quick", false, "3 s per timed scenario instead of -duration, 1 run, no profile runs, and (without -scenarios) a subset of the scenarios")
	fs.DurationVar(&dur, "duration", 10*time.Second, "how long each echo, broadcast and handshake run sends")
	fs.StringVar(&servers, "servers", strings.Join(allServers, ","), "comma-separated servers to run")
	fs.StringVar(&scenarios, "scenarios", strings.Join(scenarioKeys(false), ","), "comma-separated scenarios to run (-quick without it: "+strings.Join(scenarioKeys(true), ",")+")")
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
	fs.IntVar(&cfg.HandshakeWorkers, "handshake-workers", 64, "handshake scenarios: concurrent workers")
	fs.IntVar(&cfg.BurstConns, "burst-conns", 2000, "flat-out broadcast scenarios (burst*, deflate*): clients")
	fs.IntVar(&cfg.BurstSize, "burst-size", 64, "burst* and rooms scenarios: message size in bytes")
	fs.IntVar(&cfg.DeflateSize, "deflate-size", 1024, "deflate* scenarios: text message size in bytes")
	fs.IntVar(&cfg.Rooms, "rooms", 990, "rooms scenario: rooms (rooms x members must stay under the ~19,980 descriptors of one process)")
	fs.IntVar(&cfg.RoomMembers, "room-members", 20, "rooms scenario: members per room, every one of them publishing")
	fs.IntVar(&cfg.RoomMessages, "room-messages", 10, "rooms scenario: messages each member publishes")
	fs.Int64Var(&cfg.RSSLimitMiB, "rss-limit-mib", 6144, "kill a server whose RSS passes this (MiB) and mark the run aborted")
	fs.BoolVar(&cfg.Profile, "profile", true, "after the comparison, rerun wsloop with -cpuprofile for echo64, echo16k, broadcast and handshake (not counted in the tables)")
	fs.IntVar(&cfg.Reps, "reps", 3, "runs of every server × scenario, interleaved; the tables show the median (-quick: 1)")
	fs.StringVar(&cfg.Out, "out", "results", "output directory")
	fs.BoolVar(&cfg.SkipBuild, "skip-build", false, "use the binaries already in bin/")
	fs.StringVar(&cfg.WsbenchDir, "wsbench-dir", "..", "build wsbench from DIR/cmd/wsbench (a wsloop checkout: the default is the one bench/ is in)")
	fromJSON := fs.String("from-json", "", "run nothing: rewrite results.md and the chart from this results.json, or from several (comma-separated) merged into one, e.g. a long comparison run in parts of a few scenarios each (run the parts with the same settings: titles use the first part's)")
	fs.StringVar(&cfg.Ports, "ports", "", "take the servers' ports (two a run: WebSocket and /stats) in turn from FIRST-LAST, e.g. 21000-21999; default: free ports the kernel picks")
	fs.StringVar(&cfg.Note, "note", "", "a note for the top of results.md (e.g. what else ran on the machine)")
	fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "compare: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	scenariosSet := false
	fs.Visit(func(f *flag.Flag) { scenariosSet = scenariosSet || f.Name == "scenarios" })
	if cfg.Quick && !scenariosSet {
		scenarios = strings.Join(scenarioKeys(true), ",")
	}
	cfg.Duration = Duration(dur)
	cfg.IdleSettle = Duration(*idleSettle)
	if cfg.Quick {
		cfg.Duration = Duration(3 * time.Second)
		cfg.Profile = false
		cfg.Reps = 1
	}
	cfg.Reps = max(cfg.Reps, 1)
	cfg.Servers = splitList(servers, allServers, "server")
	// Tables and runs keep one order: ours, the peers, the floor.
	slices.SortStableFunc(cfg.Servers, func(a, b string) int {
		return slices.Index(allServers, a) - slices.Index(allServers, b)
	})
	cfg.Scenarios = splitList(scenarios, scenarioKeys(false), "scenario")
	if cfg.Rooms < 1 || cfg.RoomMembers < 1 || cfg.RoomMessages < 1 || cfg.BurstConns < 1 {
		fmt.Fprintln(os.Stderr, "compare: -rooms, -room-members, -room-messages and -burst-conns must be positive")
		os.Exit(2)
	}
	if cfg.Ports != "" {
		var err error
		if ports, err = parsePorts(cfg.Ports); err != nil {
			fmt.Fprintf(os.Stderr, "compare: %v\n", err)
			os.Exit(2)
		}
	}
	if *fromJSON != "" {
		if err := rewrite(*fromJSON, cfg); err != nil {
			fmt.Fprintf(os.Stderr, "compare: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	return cfg
}

// rewrite regenerates the report files from one results.json, or from
// several merged: their runs and profiles together, the scenarios and
// servers of all of them in table order, the configuration, date and
// machine of the first (only -note and -out are taken from the command
// line). A merged report says so, with the date of each part.
func rewrite(paths string, cli *config) error {
	var res *results
	var parts []string
	for path := range strings.SplitSeq(paths, ",") {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var r results
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		parts = append(parts, fmt.Sprintf("%s (%s, load %s → %s)", path, r.Date, r.LoadStart, r.LoadEnd))
		if res == nil {
			res = &r
			continue
		}
		res.Runs = append(res.Runs, r.Runs...)
		res.Profiles = append(res.Profiles, r.Profiles...)
		res.LoadEnd = r.LoadEnd
		for _, sc := range r.Config.Scenarios {
			if !slices.Contains(res.Config.Scenarios, sc) {
				res.Config.Scenarios = append(res.Config.Scenarios, sc)
			}
		}
		for _, s := range r.Servers {
			if !slices.Contains(res.Servers, s) {
				res.Servers = append(res.Servers, s)
			}
		}
		res.Config.Reps = max(res.Config.Reps, r.Config.Reps)
	}
	order := func(all []string) func(a, b string) int {
		return func(a, b string) int { return slices.Index(all, a) - slices.Index(all, b) }
	}
	slices.SortStableFunc(res.Servers, order(allServers))
	slices.SortStableFunc(res.Config.Scenarios, order(scenarioKeys(false)))
	res.Config.Servers = res.Servers
	if len(parts) > 1 {
		res.Command = "merged with -from-json from " + strings.Join(parts, "; ")
	}
	if cli.Note != "" {
		res.Config.Note = cli.Note
	}
	res.Config.Out = cli.Out
	return writeResults(res.Config, res)
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
		if err := build(ctx, cfg.Servers, cfg.WsbenchDir); err != nil {
			return err
		}
	}
	var tf *tlsFiles
	for _, key := range cfg.Scenarios {
		if scenarioByKey(key).TLS && tf == nil {
			// A certificate made for this run only, removed at the end.
			dir, err := os.MkdirTemp("", "compare-tls-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cert, key, err := selfsigned.Write(dir)
			if err != nil {
				return fmt.Errorf("making the test certificate: %w", err)
			}
			tf = &tlsFiles{Cert: cert, Key: key}
		}
	}
	for _, key := range cfg.Scenarios {
		sc := scenarioByKey(key)
		for rep := 1; rep <= cfg.Reps; rep++ {
			for _, srv := range cfg.Servers {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if why, ok := noTLS[srv]; ok && sc.TLS {
					if rep == 1 {
						res.Runs = append(res.Runs, runResult{Server: srv, Scenario: key, Rep: rep, Skipped: why})
						logf("%-13s %-8s skipped: %s", key, srv, why)
					}
					continue
				}
				r := runOne(ctx, cfg, srv, sc, tf, "", rep)
				res.Runs = append(res.Runs, r)
				summary := r.Error
				if summary == "" {
					summary = headline(r, sc)
				}
				logf("%-13s %d/%d %-8s %s", key, rep, cfg.Reps, srv, summary)
				time.Sleep(time.Second) // let TIME_WAIT and the scheduler settle a little
			}
		}
	}
	if cfg.Profile && slices.Contains(cfg.Servers, "wsloop") {
		for _, key := range []string{"echo64", "echo16k", "burst1000", "burst20x100", "handshake"} {
			if !slices.Contains(cfg.Scenarios, key) || ctx.Err() != nil {
				continue
			}
			sc := scenarioByKey(key)
			prof := filepath.Join(cfg.Out, "profiles", "wsloop-"+key+".pprof")
			os.MkdirAll(filepath.Dir(prof), 0o755)
			r := runOne(ctx, cfg, "wsloop", sc, tf, prof, 0)
			top := filepath.Join(cfg.Out, "profiles", "wsloop-"+key+".top.txt")
			out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=35", "bin/wsloop", prof).CombinedOutput()
			if err == nil {
				os.WriteFile(top, out, 0o644)
			}
			res.Profiles = append(res.Profiles, profileRun{Scenario: key, Profile: prof, Top: top, Headline: headline(r, sc)})
			logf("profile  %-13s %s -> %s", key, headline(r, sc), prof)
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

// tlsFiles is the run's throwaway certificate.
type tlsFiles struct{ Cert, Key string }

// build compiles the servers and wsbench into bin/.
func build(ctx context.Context, servers []string, wsbenchDir string) error {
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
	cmd.Dir = wsbenchDir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building wsbench: %w", err)
	}
	return nil
}

// runResult is the outcome of one server × scenario.
type runResult struct {
	Server        string             `json:"server"`
	Scenario      string             `json:"scenario"`
	Rep           int                `json:"rep"`
	ServerCommand string             `json:"server_command,omitempty"`
	BenchCommand  string             `json:"wsbench_command,omitempty"`
	Skipped       string             `json:"skipped,omitempty"`
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

// cpuSample is the server's CPU time over a window: from the moment every
// connection is open to the end of the wsbench run, or, for a flat-out
// broadcast, over the burst only (Window says which; see burstStart).
type cpuSample struct {
	Seconds float64 `json:"seconds"`
	WallS   float64 `json:"wall_s"`
	Percent float64 `json:"percent_of_one_core"`
	Window  string  `json:"window,omitempty"`
	// StartS is when the burst began, in seconds after every connection
	// was open: about burstSettle, wsbench's pause before it publishes.
	StartS float64 `json:"burst_start_s,omitempty"`
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

type latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
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
		Published          int64   `json:"published"`
		PublishedPerS      float64 `json:"published_per_s"`
		ExpectedDeliveries int64   `json:"expected_deliveries"`
		Deliveries         int64   `json:"deliveries"`
		DeliveriesPerS     float64 `json:"deliveries_per_s"`
		DeliveryS          float64 `json:"delivery_s"`
		FirstSendUnixNS    int64   `json:"first_send_unix_ns"`
		LastReceiptUnixNS  int64   `json:"last_receipt_unix_ns"`
		Lost               int64   `json:"lost"`
		Duplicates         int64   `json:"duplicates"`
		Reordered          int64   `json:"reordered"`
		Misrouted          int64   `json:"misrouted"`
		Deflate            int64   `json:"deflate"`
		CPU                *struct {
			Measured bool    `json:"measured"`
			Percent  float64 `json:"percent_of_one_core"`
		} `json:"client_cpu_publishing"`
	} `json:"broadcast"`
	Handshake *struct {
		Upgrades    int64   `json:"upgrades"`
		UpgradesPer float64 `json:"upgrades_per_s"`
	} `json:"handshake"`
	Latency    map[string]latency `json:"latency_us"`
	ErrorTotal int64              `json:"error_total"`
	CPU        struct {
		Percent float64 `json:"percent_of_one_core"`
	} `json:"client_cpu"`
	Warnings []string `json:"warnings"`
}

// portRange is -ports: the next port to try and the range.
type portRange struct{ first, last, next int }

var ports portRange // zero: the kernel picks

// parsePorts parses -ports FIRST-LAST.
func parsePorts(s string) (portRange, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(a)
	last, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || first < 1 || last > 65535 || last-first < 1 {
		return portRange{}, fmt.Errorf("-ports %q: want FIRST-LAST, at least two ports between 1 and 65535", s)
	}
	return portRange{first, last, first}, nil
}

// freePort returns a port no one listens on: the next of -ports (in
// turn, so a server's port rests while the next servers run), or one the
// kernel picks.
func freePort() (int, error) {
	if ports.first == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
	for range ports.last - ports.first + 1 {
		p := ports.next
		ports.next++
		if ports.next > ports.last {
			ports.next = ports.first
		}
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in -ports %d-%d", ports.first, ports.last)
}

// cpuPoint is the server's CPU time at a wall-clock instant.
type cpuPoint struct {
	at  time.Time
	cpu float64 // seconds
}

// cpuAt interpolates the CPU time at t from the samples (sorted by time).
func cpuAt(pts []cpuPoint, t time.Time) float64 {
	if len(pts) == 0 {
		return 0
	}
	if !t.After(pts[0].at) {
		return pts[0].cpu
	}
	for i := 1; i < len(pts); i++ {
		if t.After(pts[i].at) {
			continue
		}
		a, b := pts[i-1], pts[i]
		span := b.at.Sub(a.at).Seconds()
		if span <= 0 {
			return b.cpu
		}
		return a.cpu + (b.cpu-a.cpu)*t.Sub(a.at).Seconds()/span
	}
	return pts[len(pts)-1].cpu
}

// burstStart finds when a flat-out burst began from the server's CPU
// samples. wsbench reports how long the burst took (delivery_s: first send
// to last receipt) but not when it began; it publishes burstSettle after
// its last connection opened, and the server is idle until then. The
// burst begins in the first sampling interval, at or after the time
// after, in which the server ran for more than a tenth of the interval;
// within it, at the latest instant from which running flat out gives the
// CPU time the interval shows (never before the interval began). If the
// server ran less than flat out at first, the start is placed later than
// it was, by at most one interval (cpuSampleEvery).
func burstStart(pts []cpuPoint, after time.Time) (time.Time, bool) {
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if a.at.Before(after) {
			continue
		}
		span := b.at.Sub(a.at)
		ran := time.Duration((b.cpu - a.cpu) * float64(time.Second))
		if span <= 0 || ran*10 <= span {
			continue
		}
		return b.at.Add(-min(ran, span)), true
	}
	return time.Time{}, false
}

// cpuSampleEvery is how often the server's CPU time is read while a run
// goes on (a read of /proc/PID/task/*/schedstat: a few µs).
const cpuSampleEvery = 5 * time.Millisecond

// runOne starts server srv, runs scenario sc against it and stops it.
func runOne(ctx context.Context, cfg *config, srv string, sc *scenario, tf *tlsFiles, cpuprofile string, rep int) (r runResult) {
	r = runResult{Server: srv, Scenario: sc.Key, Rep: rep, Metrics: map[string]float64{}}
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
	logBase := filepath.Join(cfg.Out, "logs", srv+"-"+sc.Key+suffix)

	sargs := []string{"-c", cfg.ServerCPU, "bin/" + srv, "-addr", addr, "-mode", sc.Mode, "-stats-addr", statsAddr}
	if sc.Deflate {
		sargs = append(sargs, "-deflate")
	}
	if sc.TLS {
		sargs = append(sargs, "-tls-cert", tf.Cert, "-tls-key", tf.Key)
	}
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

	// Watch memory (kill a runaway server) and sample CPU time.
	var mu sync.Mutex
	peak := r.BaselineRSS
	var cpuPts []cpuPoint
	sampling := false
	watchDone := make(chan struct{})
	watchEnded := make(chan struct{})
	defer func() { close(watchDone); <-watchEnded }()
	go func() {
		defer close(watchEnded)
		t := time.NewTicker(cpuSampleEvery)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-watchDone:
				return
			case <-exited:
				return
			case <-t.C:
			}
			mu.Lock()
			if sampling {
				cpuPts = append(cpuPts, cpuPoint{time.Now(), readCPU(pid)})
			}
			mu.Unlock()
			if n%40 != 0 {
				continue
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

	scheme := "ws://"
	bench := sc.Args(cfg)
	if sc.TLS {
		scheme = "wss://"
		bench = append(bench, wsbenchTrustFlag, tf.Cert)
	}
	bench = append(bench, "-url", scheme+addr+"/", "-json", "-interval", "1s")
	bargs := append([]string{"-c", cfg.ClientCPU, "bin/wsbench"}, bench...)
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
	if want := int64(sc.Conns(cfg)); want > 0 {
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
	t0, cpu0 := time.Now(), readCPU(pid)
	mu.Lock()
	sampling = true
	cpuPts = append(cpuPts, cpuPoint{t0, cpu0})
	mu.Unlock()

	if sc.Kind == kindIdle {
		time.Sleep(time.Duration(cfg.IdleSettle))
		rss := readRSS(pid)
		st, err := fetchStats(statsAddr)
		r.StatsAfter = st
		n := float64(cfg.IdleConns)
		k := sc.Key + "."
		r.Metrics[k+"rss_per_conn"] = float64(rss-r.BaselineRSS) / n
		if err == nil && r.StatsBefore != nil {
			r.Metrics[k+"conns_held"] = float64(st.Conns)
			r.Metrics[k+"goroutines"] = float64(st.Goroutines)
			before := float64(r.StatsBefore.HeapInuse + r.StatsBefore.StackInuse)
			after := float64(st.HeapInuse + st.StackInuse)
			r.Metrics[k+"gomem_per_conn"] = (after - before) / n
		}
	}
	<-bdone
	wall := time.Since(t0)
	cpu1 := readCPU(pid)
	mu.Lock()
	sampling = false
	pts := append(cpuPts, cpuPoint{time.Now(), cpu1})
	mu.Unlock()
	if sc.Kind != kindIdle {
		r.StatsAfter, _ = fetchStats(statsAddr)
	}
	r.ServerCPU = cpuSample{Seconds: round(cpu1-cpu0, 4), WallS: round(wall.Seconds(), 3), Window: "run"}
	if wall > 0 {
		r.ServerCPU.Percent = round(100*(cpu1-cpu0)/wall.Seconds(), 1)
	}
	mu.Lock()
	r.PeakRSS = max(peak, readRSS(pid))
	mu.Unlock()
	r.BenchExit = bcmd.ProcessState.ExitCode()
	raw := strings.TrimSpace(bout.String())
	var wb wsbenchOut
	if err := json.Unmarshal([]byte(raw), &wb); err != nil {
		return fail("wsbench exit %d, no JSON report (see %s.wsbench.log): %v", r.BenchExit, logBase, err)
	}
	r.Wsbench = json.RawMessage(raw)
	if bc := wb.Broadcast; sc.Kind == kindBurst && bc != nil && bc.DeliveryS > 0 {
		// Count the burst only, not the connects and closes around it:
		// from wsbench's first send to its last receipt where it says
		// when they were (same machine, same wall clock), else from where
		// the server's CPU starts to climb, for as long as the burst took.
		var from, to time.Time
		ok := bc.FirstSendUnixNS > 0 && bc.LastReceiptUnixNS > bc.FirstSendUnixNS
		if ok {
			from, to = time.Unix(0, bc.FirstSendUnixNS), time.Unix(0, bc.LastReceiptUnixNS)
		} else if from, ok = burstStart(pts, t0.Add(burstSettle/2)); ok {
			to = from.Add(time.Duration(bc.DeliveryS * float64(time.Second)))
		}
		if ok {
			if !to.After(pts[len(pts)-1].at) {
				c := cpuAt(pts, to) - cpuAt(pts, from)
				w := to.Sub(from).Seconds()
				r.ServerCPU = cpuSample{Seconds: round(c, 4), WallS: round(w, 4), Percent: round(100*c/w, 1), Window: "burst",
					StartS: round(from.Sub(t0).Seconds(), 3)}
			}
		}
	}
	fillMetrics(&r, sc, &wb)
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
func fillMetrics(r *runResult, sc *scenario, wb *wsbenchOut) {
	m := r.Metrics
	k := sc.Key + "."
	m[k+"errors"] = float64(wb.ErrorTotal)
	m[k+"client_cpu_pct"] = wb.CPU.Percent
	m[k+"server_cpu_pct"] = r.ServerCPU.Percent
	m[k+"peak_rss_mib"] = float64(r.PeakRSS) / (1 << 20)
	cpuUS := r.ServerCPU.Seconds * 1e6
	lat := func(name, key string) {
		if l, ok := wb.Latency[name]; ok {
			m[k+key+"_p50_us"] = l.P50
			m[k+key+"_p99_us"] = l.P99
		}
	}
	switch sc.Kind {
	case kindIdle:
		m[k+"connect_per_s"] = wb.Connections.OpenPerS
	case kindEcho:
		if wb.Echo == nil {
			return
		}
		m[k+"msgs_per_s"] = wb.Echo.MsgsPerS
		if wb.Echo.Received > 0 {
			m[k+"cpu_us_per_msg"] = cpuUS / float64(wb.Echo.Received)
		}
		lat("rtt", "rtt")
	case kindRate, kindBurst:
		bc := wb.Broadcast
		if bc == nil {
			return
		}
		m[k+"deliveries_per_s"] = bc.DeliveriesPerS
		m[k+"published_per_s"] = bc.PublishedPerS
		m[k+"lost"] = float64(bc.Lost)
		m[k+"duplicates"] = float64(bc.Duplicates)
		m[k+"bad_order"] = float64(bc.Reordered + bc.Misrouted)
		if bc.Deliveries > 0 {
			m[k+"cpu_us_per_delivery"] = cpuUS / float64(bc.Deliveries)
			m[k+"cpu_ns_per_delivery"] = cpuUS * 1000 / float64(bc.Deliveries)
		}
		if bc.CPU != nil && bc.CPU.Measured {
			m[k+"client_cpu_pct"] = bc.CPU.Percent
		}
		if sc.Deflate {
			m[k+"deflate_conns"] = float64(bc.Deflate)
		}
		lat("delivery", "delivery")
		lat("last_receipt", "last_receipt")
	case kindHandshake:
		if wb.Handshake == nil {
			return
		}
		m[k+"upgrades_per_s"] = wb.Handshake.UpgradesPer
		if wb.Handshake.Upgrades > 0 {
			m[k+"cpu_us_per_upgrade"] = cpuUS / float64(wb.Handshake.Upgrades)
		}
		lat("handshake", "handshake")
	}
}

func headline(r runResult, sc *scenario) string {
	m := r.Metrics
	k := sc.Key + "."
	switch sc.Kind {
	case kindIdle:
		return fmt.Sprintf("%.0f B/conn RSS, %.0f goroutines, errors %.0f", m[k+"rss_per_conn"], m[k+"goroutines"], m[k+"errors"])
	case kindEcho:
		return fmt.Sprintf("%.0f msg/s, p99 %.0f µs, server cpu %.0f%%, %.2f µs/msg, wsbench cpu %.0f%%, errors %.0f",
			m[k+"msgs_per_s"], m[k+"rtt_p99_us"], m[k+"server_cpu_pct"], m[k+"cpu_us_per_msg"], m[k+"client_cpu_pct"], m[k+"errors"])
	case kindRate:
		return fmt.Sprintf("%.0f deliveries/s, p99 %.0f µs, lost %.0f, server cpu %.0f%%, peak RSS %.0f MiB, errors %.0f",
			m[k+"deliveries_per_s"], m[k+"delivery_p99_us"], m[k+"lost"], m[k+"server_cpu_pct"], m[k+"peak_rss_mib"], m[k+"errors"])
	case kindBurst:
		return fmt.Sprintf("%.0f deliveries/s, last receipt p99 %.0f µs, %.0f ns/delivery (server cpu %.0f%% of the %s), wsbench cpu %.0f%%, lost %.0f, dup %.0f, errors %.0f",
			m[k+"deliveries_per_s"], m[k+"last_receipt_p99_us"], m[k+"cpu_ns_per_delivery"], m[k+"server_cpu_pct"], r.ServerCPU.Window,
			m[k+"client_cpu_pct"], m[k+"lost"], m[k+"duplicates"], m[k+"errors"])
	case kindHandshake:
		return fmt.Sprintf("%.0f upgrades/s, p99 %.0f µs, server cpu %.0f%%, %.1f µs/upgrade, wsbench cpu %.0f%%, errors %.0f",
			m[k+"upgrades_per_s"], m[k+"handshake_p99_us"], m[k+"server_cpu_pct"], m[k+"cpu_us_per_upgrade"], m[k+"client_cpu_pct"], m[k+"errors"])
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

// readCPU returns the CPU seconds pid has run: the sum of its threads'
// run times in /proc/PID/task/*/schedstat (nanoseconds), or, where that is
// missing, user+system time from /proc/PID/stat (10 ms ticks).
func readCPU(pid int) float64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var ns int64
	ok := len(tasks) > 0
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			ok = false
			break
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			ok = false
			break
		}
		ns += v
	}
	if ok {
		return float64(ns) / 1e9
	}
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
