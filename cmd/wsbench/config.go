package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Scenario names.
const (
	scConnect   = "connect"
	scEcho      = "echo"
	scBroadcast = "broadcast"
	scHandshake = "handshake"
)

var scenarios = []string{scConnect, scEcho, scBroadcast, scHandshake}

// Limits on flag values that keep a typo from turning into an absurd run.
const (
	maxConns   = 10_000_000
	maxMsgSize = 64 << 20
	// perSrcIPConns is how many connections the automatic -src-ips choice
	// puts on one source address (each needs its own ephemeral port).
	perSrcIPConns = 20000
	// maxProcs bounds -procs.
	maxProcs = 256
)

// config holds the parsed and validated command line.
type config struct {
	Scenario       string        `json:"scenario"`
	URL            string        `json:"url"`
	URLs           []string      `json:"-"` // URL split at commas
	srcAddrs       []net.IP      // SrcAddrs parsed
	Conns          int           `json:"conns"`
	Concurrency    int           `json:"concurrency"`
	Hold           time.Duration `json:"-"`
	Duration       time.Duration `json:"-"`
	Inflight       int           `json:"inflight"`
	Size           int           `json:"size"`
	Text           bool          `json:"text"`
	Publishers     publishers    `json:"publishers"`
	Rate           float64       `json:"rate"`
	Messages       int           `json:"messages,omitempty"`
	Rooms          int           `json:"rooms,omitempty"`
	RoomPath       string        `json:"room_path,omitempty"`
	Batch          int           `json:"batch"`
	Compress       bool          `json:"compress,omitempty"`
	InflateEach    bool          `json:"inflate_each,omitempty"`
	SrcIPs         int           `json:"src_ips"`
	SrcAddrs       string        `json:"src_addrs,omitempty"`
	Procs          int           `json:"procs"`
	ConnectRate    float64       `json:"connect_rate,omitempty"`
	Stages         string        `json:"stages,omitempty"`
	Churn          float64       `json:"churn,omitempty"`
	Reconnect      bool          `json:"reconnect,omitempty"`
	ReconnDelay    time.Duration `json:"-"`
	stages         []stage       // Stages parsed
	Thresholds     []string      `json:"thresholds,omitempty"`
	CA             string        `json:"ca,omitempty"`
	Insecure       bool          `json:"insecure,omitempty"`
	TLSResume      bool          `json:"tls_resume,omitempty"`
	Subprotocols   string        `json:"subprotocols,omitempty"`
	ProxyProtocol  string        `json:"proxy_protocol,omitempty"`
	ProxySrcAddrs  string        `json:"proxy_src_addrs,omitempty"`
	caPool         *x509.CertPool
	protocols      []string   // Subprotocols split
	proxyVersion   byte       // 1, 2 or 0
	proxySrc       *addrCycle // ProxySrcAddrs parsed
	sessions       tls.ClientSessionCache
	Series         string        `json:"series,omitempty"`
	SeriesInterval time.Duration `json:"-"`
	Chart          string        `json:"chart,omitempty"`
	thresholds     []*threshold  // Thresholds parsed
	maxErrorsSet   bool          // -max-errors was given
	Timeout        time.Duration `json:"-"`
	CloseTimeout   time.Duration `json:"-"`
	Drain          time.Duration `json:"-"`
	Settle         time.Duration `json:"-"`
	Headers        []string      `json:"headers,omitempty"`
	MaxErrors      int64         `json:"max_errors"`
	ReadBuf        int           `json:"read_buffer"`
	JSON           bool          `json:"-"`
	CPUProfile     string        `json:"-"`
	Quiet          bool          `json:"-"`
	Interval       time.Duration `json:"-"`

	// Durations as seconds for the JSON report.
	HoldS         float64 `json:"hold_s"`
	DurationS     float64 `json:"duration_s"`
	TimeoutS      float64 `json:"timeout_s"`
	CloseTimeoutS float64 `json:"close_timeout_s"`
	DrainS        float64 `json:"drain_s"`
	SettleS       float64 `json:"settle_s"`
}

// usageError is a problem with the command line; it makes wsbench exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

const usageText = `wsbench - load tester for WebSocket servers (ws:// URLs)

Usage:
  wsbench SCENARIO -url ws://HOST:PORT/PATH [flags]
  wsbench -scenario SCENARIO -url ws://HOST:PORT/PATH [flags]

Scenarios:
  connect    open -conns connections, -concurrency dials at a time (at most
             -connect-rate per second), hold them idle for -hold, then close
             them. Reports time and rate to open them, dial latency and
             failures by kind (refused, timeout, handshake_status_N, reset,
             fd_limit, addr_unavailable, ...). With -stages the count follows
             a ramp (k6's stages: 30s:10000,60s:10000,10s:0 is up to 10,000
             in 30 s, 60 s there, down in 10 s); -churn replaces that many
             connections a second; -reconnect brings back the clients a
             server sends away with 1001, 1012 (a drain) or 1013, after a
             random delay up to -reconnect-delay and to the next -url if
             there are several: reports reconnects, their latency (from the
             server's close to the new connection) and closes by code, which
             are then not errors.
  echo       -conns connections each keep -inflight messages of -size bytes
             in flight for -duration against an echo server. Every echo is
             checked (order, length, content); mismatches are errors.
             Reports messages/s, bytes/s and round-trip latency.
  broadcast  -conns connections all receive; some also publish. With
             -messages N each publisher sends N messages as fast as its
             socket takes them (flat out) and the run ends when every
             delivery arrived (or nothing came for -drain); without it they
             publish at -rate msg/s for -duration. The server must send each
             message to every client of the publisher's room, publisher
             included. -rooms R spreads the clients over R rooms through
             -room-path (/room/r0, /room/r1, ...; connection i joins room
             i mod R) and -publishers counts per room ("all": every member).
             Messages carry publisher, sequence number and send time (-size
             >= 24, or 44 with -text). Every delivery is checked per receiver
             and per publisher: lost, duplicated, reordered, misrouted (to
             another room) and corrupt deliveries are errors. Reports
             deliveries/s (all deliveries / time from the first send to the
             last receipt), per-delivery latency, send-to-last-receipt latency
             per message and wsbench's own CPU while publishing.
  handshake  -conns workers repeatedly connect, upgrade and close (close frame
             1000) for -duration. Reports upgrades/s and handshake latency.

Thresholds:
  -threshold 'METRIC OP VALUE' (repeatable) is a pass/fail criterion, as in
  k6; the run fails (exit 1) if one does not hold, and the report lists
  each with what was observed. OP is <, <=, >, >=, == or !=.
  Latencies: p50, p90, p99, p99.9, p(N), min, max, mean (avg), med, of the
    scenario's main latency (echo rtt, broadcast last_receipt, connect
    connect, handshake handshake) or of a named one: delivery.p99,
    connect.max, reconnect.p99. VALUE is a duration (50ms, 1.5s, 200us);
    a bare number is milliseconds.
  Counts: errors, failed, opened, dropped; echo: lost (missing echoes),
    mismatches; broadcast: lost, duplicates, reordered, misrouted,
    corrupt, complete, deliveries; connect: reconnected, open_at_end.
    VALUE is a number, or a percentage of the whole: errors of the
    operations (dials, messages sent, expected deliveries), lost of the
    expected deliveries, failed of the dials, reconnected of the closes.
  Rates: rate (the scenario's main one), deliveries_per_s,
    published_per_s, msgs_per_s, bytes_per_s, open_per_s, upgrades_per_s.
  CPU: client_cpu, client_cpu_publishing (wsbench's own, % of one core).
  With thresholds, -max-errors only counts if given.
  Examples: -threshold 'p99<50ms' -threshold 'errors<0.1%'
            -threshold 'lost==0' -threshold 'client_cpu<90'

Many connections:
  One process holds as many connections as its open-file limit allows
  (ulimit -n; 20,000 on some machines). -procs N starts N wsbench processes
  from the same executable, each holding its share under its own limit, and
  merges what they report into one report: counts added up, latency
  histograms merged exactly (not averaged), each process's share and CPU
  listed. Without -procs, as many as the limit needs are started. A room
  stays in one process when there are at least as many rooms as processes;
  otherwise rooms span processes and the parent adds up every message's
  receipts. For loopback targets each process binds its own source
  addresses (127.0.0.2 up, -src-ips); elsewhere give them with -src-addrs.
  A run the limits cannot allow is refused before it starts (exit 2).
  -url takes several targets, separated by commas: connections take them in
  turn.

Flags:
`

const usageExamples = `
Examples:
  wsbench connect -url ws://127.0.0.1:9001/ -conns 10000 -concurrency 200 -hold 10s
  wsbench echo -url ws://127.0.0.1:9001/ -conns 1000 -size 64 -duration 10s
  wsbench echo -url ws://127.0.0.1:9001/ -conns 100 -inflight 8 -size 4096 -text -json
  wsbench broadcast -url ws://127.0.0.1:9001/ -conns 2000 -publishers 4 -rate 50 -duration 10s
  wsbench broadcast -url ws://127.0.0.1:9001/ -conns 2000 -messages 1000
  wsbench broadcast -url ws://127.0.0.1:9001/ -conns 2000 -publishers 20 -messages 100
  wsbench broadcast -url ws://127.0.0.1:9001/ -conns 19800 -rooms 990 -publishers all -messages 200
  wsbench broadcast -url ws://127.0.0.1:9001/ -conns 2000 -messages 1000 -compress -text -size 1024
  wsbench handshake -url ws://127.0.0.1:9001/ -conns 16 -duration 5s
  wsbench connect -url ws://127.0.0.1:9001/,ws://127.0.0.1:9002/,ws://127.0.0.1:9003/ -conns 50000 -hold 30s
  wsbench connect -url ws://127.0.0.1:9001/ -stages 30s:10000,60s:10000,10s:0 -connect-rate 1000
  wsbench connect -url ws://127.0.0.1:9001/ -conns 5000 -churn 100 -hold 60s
  wsbench connect -url ws://127.0.0.1:9001/,ws://127.0.0.1:9002/ -conns 10000 -reconnect -hold 60s
  wsbench broadcast -url ws://127.0.0.1:9001/ -conns 50000 -procs 3 -rate 1 -duration 30s
  go run ./cmd/wsbench echo -url ws://127.0.0.1:9001/ -conns 1000 -size 64 -duration 10s

Output:
  A table on stdout, or one JSON object with -json (scenario, params, counts,
  rates, latency percentiles in microseconds, errors by kind, client CPU use,
  thresholds, each process's share). Progress goes to stderr: a
  self-updating line on a terminal, one line per -interval otherwise,
  nothing with -quiet. -series FILE writes the run over time, a point per
  -series-interval (t, open, opened, failed, ops, rate, errors, samples,
  p50_us, p99_us, max_us: ops are what the scenario counts, latency is that
  interval's own), as CSV (FILE.csv) or JSON lines; -chart FILE.svg draws
  it.

Exit status:
  0  success.
  1  the run failed: a -threshold did not hold, or it had more than
     -max-errors errors (echo mismatches, failed dials, lost broadcasts,
     unexpected closes, ...); the report's last line says why.
  2  bad usage: a flag's value, or a run the limits cannot allow (open
     files per process, ephemeral ports per source address), refused
     before it starts.
`

// headerList collects repeated -header flags.
type headerList []string

func (h *headerList) String() string { return strings.Join(*h, ", ") }

func (h *headerList) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("want \"Name: value\", got %q", v)
	}
	*h = append(*h, name+": "+strings.TrimSpace(value))
	return nil
}

func newFlagSet(cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, usage by printUsage
	fs.StringVar(&cfg.Scenario, "scenario", "", "scenario: connect, echo, broadcast or handshake (or give it as the first argument)")
	fs.StringVar(&cfg.URL, "url", "", "server URL, ws://host:port/path (required); several, separated by commas, spread the connections over them")
	fs.IntVar(&cfg.Conns, "conns", 100, "number of connections (handshake: number of concurrent workers)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 100, "how many dials+upgrades run at the same time while opening connections")
	fs.DurationVar(&cfg.Hold, "hold", 5*time.Second, "connect: how long to hold the connections open")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "echo, broadcast, handshake: how long to send")
	fs.IntVar(&cfg.Inflight, "inflight", 1, "echo: messages in flight per connection")
	fs.IntVar(&cfg.Size, "size", 64, "echo, broadcast: message size in bytes")
	fs.BoolVar(&cfg.Text, "text", false, "echo, broadcast: send text messages (printable ASCII) instead of binary")
	cfg.Publishers = publishers{n: 1}
	fs.Var(&cfg.Publishers, "publishers", "broadcast: how many of the connections publish, or \"all\"; with -rooms, how many in each room")
	fs.Float64Var(&cfg.Rate, "rate", 10, "broadcast: messages per second per publisher; 0 = as fast as the socket takes them (the default with -messages)")
	fs.IntVar(&cfg.Messages, "messages", 0, "broadcast: each publisher sends this many messages, then the run waits for every delivery; 0 = publish for -duration")
	fs.IntVar(&cfg.Rooms, "rooms", 0, "broadcast: spread the connections over this many rooms (connection i joins room i mod N through -room-path); 0 = everyone on -url's path")
	fs.StringVar(&cfg.RoomPath, "room-path", "/room/{room}", "broadcast: request path (and query) of a room; {room} is replaced by the room's name, r0, r1, ...")
	fs.IntVar(&cfg.Batch, "batch", 16<<10, "broadcast, flat out: a publisher writes its messages in batches of up to this many bytes (one write each); 0 = one write per message")
	fs.BoolVar(&cfg.Compress, "compress", false, "offer permessage-deflate (no context takeover); if the server accepts, every message is sent compressed")
	fs.BoolVar(&cfg.InflateEach, "inflate-each", false, "broadcast with -compress: inflate every delivery, instead of each distinct compressed message once (identical bytes are checked once)")
	fs.IntVar(&cfg.SrcIPs, "src-ips", -1, "loopback targets: spread connections over this many source addresses 127.0.0.2, 127.0.0.3, ... (divided among the -procs processes); -1 = one per 20000 connections of each process on Linux (kernel's choice elsewhere), 0 = let the kernel choose")
	fs.StringVar(&cfg.SrcAddrs, "src-addrs", "", "bind connections to these local addresses, dealt out among the -procs processes: addresses, ranges FIRST-LAST and prefixes ADDR/BITS, comma separated (e.g. 10.0.0.0/24 or 127.0.1.1-127.0.1.40); overrides -src-ips")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", 0, "open at most this many connections per second (an arrival rate, over every process); 0 = as fast as -concurrency allows")
	fs.StringVar(&cfg.Stages, "stages", "", "connect: connection count over time, DURATION:TARGET,... (e.g. 30s:10000,60s:10000,10s:0): each stage moves linearly from the previous target (0 at first) to its own; replaces -hold; -conns defaults to the largest target")
	fs.Float64Var(&cfg.Churn, "churn", 0, "connect: close this many connections per second (the oldest first) and open new ones in their place, keeping the count")
	fs.BoolVar(&cfg.Reconnect, "reconnect", false, "connect: reconnect clients the server closes with 1001 (going away), 1012 (service restart) or 1013 (try again later), after a random delay up to -reconnect-delay; such closes are counted, not errors")
	fs.DurationVar(&cfg.ReconnDelay, "reconnect-delay", time.Second, "connect with -reconnect: the longest random delay before a reconnect (jitter spreads a reconnect storm); 0 = at once")
	fs.IntVar(&cfg.Procs, "procs", 0, "run this many wsbench processes that share the connections, each under its own open-file limit, and merge their reports; 0 = as many as the open-file limit needs")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "timeout for TCP connect plus the HTTP upgrade")
	fs.DurationVar(&cfg.CloseTimeout, "close-timeout", 2*time.Second, "how long to wait for the server's close frame and TCP close at the end")
	fs.DurationVar(&cfg.Drain, "drain", 3*time.Second, "echo, broadcast: after -duration, how long to wait for outstanding echoes / deliveries")
	fs.DurationVar(&cfg.Settle, "settle", 200*time.Millisecond, "broadcast: pause between the last connection opening and the first publish")
	fs.Var((*headerList)(&cfg.Headers), "header", "extra upgrade request header \"Name: value\" (repeatable), e.g. -header 'Origin: https://example.com' -header 'Authorization: Bearer T'")
	fs.StringVar(&cfg.Subprotocols, "subprotocol", "", "offer these subprotocols (Sec-WebSocket-Protocol), comma separated in order of preference; a server that selects another fails the handshake")
	fs.StringVar(&cfg.CA, "ca", "", "wss://: verify the server's certificate with the CA certificates in this PEM file instead of the system's")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "wss://: do not verify the server's certificate")
	fs.BoolVar(&cfg.TLSResume, "tls-resume", false, "wss://: resume TLS sessions across connections (as browsers do) instead of a full handshake each time")
	fs.StringVar(&cfg.ProxyProtocol, "proxy-protocol", "", "send a PROXY protocol header (v1 or v2), as a load balancer in front of the server would, before anything else on each connection")
	fs.StringVar(&cfg.ProxySrcAddrs, "proxy-src-addrs", "", "with -proxy-protocol: claim these client addresses in the header, in turn (addresses, ranges and prefixes as for -src-addrs); default: each socket's own")
	fs.Int64Var(&cfg.MaxErrors, "max-errors", 0, "exit 1 when the run has more errors than this (with -threshold, only if given)")
	fs.Var((*thresholdList)(&cfg.Thresholds), "threshold", "pass/fail criterion METRIC OP VALUE, as in k6 (repeatable): p99<50ms, delivery.p(95)<=20ms, errors<0.1%, lost==0, deliveries_per_s>1000000, client_cpu<90; the run fails (exit 1) if one does not hold; see THRESHOLDS in -h")
	fs.IntVar(&cfg.ReadBuf, "read-buffer", 1024, "per-connection read buffer in bytes at first; it doubles up to 16 KiB on connections whose reads fill it")
	fs.BoolVar(&cfg.JSON, "json", false, "write the results as one JSON object to stdout")
	fs.StringVar(&cfg.Series, "series", "", "write the run over time to this file, one point per -series-interval (connections open, opened, failed, operations and their rate, errors, latency p50/p99/max of the interval): CSV if the name ends in .csv, JSON lines otherwise")
	fs.DurationVar(&cfg.SeriesInterval, "series-interval", time.Second, "the interval of -series and -chart")
	fs.StringVar(&cfg.Chart, "chart", "", "draw the run over time as an SVG chart in this file (connections, rate and errors, latency)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write wsbench's own CPU profile to this file (to see where a saturated wsbench spends its time); with several processes, process N writes FILE.N")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no progress output on stderr")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "progress interval when stderr is not a terminal")
	return fs
}

func printUsage(w io.Writer) {
	var cfg config
	fs := newFlagSet(&cfg, w)
	fmt.Fprint(w, usageText)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, usageExamples)
}

// errHelp is returned by parseConfig for -h / -help.
var errHelp = errors.New("help requested")

// parseConfig parses and validates the command line (without program name).
func parseConfig(args []string) (*config, error) {
	cfg := &config{}
	fs := newFlagSet(cfg, io.Discard)
	var positional string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		positional, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, &usageError{msg: err.Error()}
	}
	rest := fs.Args()
	if positional == "" && len(rest) > 0 {
		positional, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return nil, usagef("unexpected arguments: %s", strings.Join(rest, " "))
	}
	switch {
	case positional != "" && cfg.Scenario != "" && positional != cfg.Scenario:
		return nil, usagef("scenario given twice: %q and -scenario %q", positional, cfg.Scenario)
	case positional != "":
		cfg.Scenario = positional
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.Messages > 0 && !set["rate"] {
		cfg.Rate = 0 // -messages means flat out unless a rate is asked for
	}
	cfg.maxErrorsSet = set["max-errors"]
	if cfg.Stages != "" {
		st, err := parseStages(cfg.Stages)
		if err != nil {
			return nil, usagef("-stages %q: %v", cfg.Stages, err)
		}
		cfg.stages = st
		if !set["conns"] {
			cfg.Conns = max(maxTarget(st), 1)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// publishers is the value of -publishers: a number, or "all".
type publishers struct {
	n   int
	all bool
}

func (p *publishers) String() string {
	if p.all {
		return "all"
	}
	return strconv.Itoa(p.n)
}

func (p *publishers) Set(v string) error {
	if v == "all" {
		*p = publishers{all: true}
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("want a number or \"all\", got %q", v)
	}
	*p = publishers{n: n}
	return nil
}

func (p publishers) MarshalJSON() ([]byte, error) {
	if p.all {
		return []byte(`"all"`), nil
	}
	return []byte(strconv.Itoa(p.n)), nil
}

func (p *publishers) UnmarshalJSON(b []byte) error {
	if string(b) == `"all"` {
		*p = publishers{all: true}
		return nil
	}
	n, err := strconv.Atoi(string(b))
	*p = publishers{n: n}
	return err
}

func (c *config) validate() error {
	switch c.Scenario {
	case scConnect, scEcho, scBroadcast, scHandshake:
	case "":
		return usagef("no scenario: give one of %s as the first argument or with -scenario", strings.Join(scenarios, ", "))
	default:
		return usagef("unknown scenario %q: want one of %s", c.Scenario, strings.Join(scenarios, ", "))
	}
	if c.URL == "" {
		return usagef("missing -url (for example -url ws://127.0.0.1:9001/)")
	}
	c.URLs = nil
	for u := range strings.SplitSeq(c.URL, ",") {
		if u = strings.TrimSpace(u); u == "" {
			return usagef("bad -url %q: empty URL in the list", c.URL)
		}
		if _, err := parseTargetURL(u); err != nil {
			return &usageError{msg: err.Error()}
		}
		c.URLs = append(c.URLs, u)
	}
	switch {
	case c.Conns < 1 || c.Conns > maxConns:
		return usagef("-conns %d: want 1..%d", c.Conns, maxConns)
	case c.Concurrency < 1:
		return usagef("-concurrency %d: want at least 1", c.Concurrency)
	case c.Hold < 0:
		return usagef("-hold %v: must not be negative", c.Hold)
	case c.Duration <= 0:
		return usagef("-duration %v: must be positive", c.Duration)
	case c.Inflight < 1 || c.Inflight > 1<<16:
		return usagef("-inflight %d: want 1..%d", c.Inflight, 1<<16)
	case c.Size < 1 || c.Size > maxMsgSize:
		return usagef("-size %d: want 1..%d bytes", c.Size, maxMsgSize)
	case c.Rate < 0:
		return usagef("-rate %v: must not be negative (0 = as fast as possible)", c.Rate)
	case c.SrcIPs < -1 || c.SrcIPs > 65536:
		return usagef("-src-ips %d: want -1 (auto), 0 (kernel's choice) or 1..65536", c.SrcIPs)
	case c.Procs < 0 || c.Procs > maxProcs:
		return usagef("-procs %d: want 0 (automatic) or 1..%d", c.Procs, maxProcs)
	case c.Timeout <= 0:
		return usagef("-timeout %v: must be positive", c.Timeout)
	case c.CloseTimeout <= 0:
		return usagef("-close-timeout %v: must be positive", c.CloseTimeout)
	case c.Drain < 0:
		return usagef("-drain %v: must not be negative", c.Drain)
	case c.Settle < 0:
		return usagef("-settle %v: must not be negative", c.Settle)
	case c.MaxErrors < 0:
		return usagef("-max-errors %d: must not be negative", c.MaxErrors)
	case c.ReadBuf < 64 || c.ReadBuf > 1<<20:
		return usagef("-read-buffer %d: want 64..%d bytes", c.ReadBuf, 1<<20)
	case c.Interval <= 0:
		return usagef("-interval %v: must be positive", c.Interval)
	case c.SeriesInterval < 10*time.Millisecond:
		return usagef("-series-interval %v: want at least 10ms", c.SeriesInterval)
	}
	if c.Scenario == scBroadcast {
		rooms := max(c.Rooms, 1)
		switch {
		case c.Rooms < 0 || c.Rooms > c.Conns:
			return usagef("-rooms %d: want 0 (no rooms) or 1..%d (at most one room per connection)", c.Rooms, c.Conns)
		case c.Messages < 0:
			return usagef("-messages %d: must not be negative (0 = publish for -duration)", c.Messages)
		case c.Batch < 0 || c.Batch > 64<<20:
			return usagef("-batch %d: want 0..%d bytes", c.Batch, 64<<20)
		case c.Rooms > 0 && !strings.Contains(c.RoomPath, "{room}"):
			return usagef("-room-path %q: must contain {room}", c.RoomPath)
		case c.Rooms > 0 && !strings.HasPrefix(c.RoomPath, "/"):
			return usagef("-room-path %q: must start with /", c.RoomPath)
		case c.InflateEach && !c.Compress:
			return usagef("-inflate-each needs -compress")
		}
		perRoom := (c.Conns + rooms - 1) / rooms
		if !c.Publishers.all && (c.Publishers.n < 1 || c.Publishers.n > perRoom) {
			if c.Rooms > 0 {
				return usagef("-publishers %d: want 1..%d or all (publishers per room, among its %d members)", c.Publishers.n, perRoom, perRoom)
			}
			return usagef("-publishers %d: want 1..%d or all (publishers are among the -conns connections)", c.Publishers.n, c.Conns)
		}
		if least := bcastMinSize(c.Text); c.Size < least {
			return usagef("-size %d is too small for broadcast: messages carry a marker, publisher, sequence number and timestamp in %d bytes (-text: %d)",
				c.Size, bcastMinSize(false), bcastMinSize(true))
		}
	}
	if c.ConnectRate < 0 {
		return usagef("-connect-rate %v: must not be negative (0 = no limit)", c.ConnectRate)
	}
	if c.Churn < 0 {
		return usagef("-churn %v: must not be negative", c.Churn)
	}
	if c.ReconnDelay < 0 {
		return usagef("-reconnect-delay %v: must not be negative", c.ReconnDelay)
	}
	if c.Scenario != scConnect {
		for name, on := range map[string]bool{"-stages": c.Stages != "", "-churn": c.Churn > 0, "-reconnect": c.Reconnect} {
			if on {
				return usagef("%s is for the connect scenario (connections over time)", name)
			}
		}
	}
	if m := maxTarget(c.stages); m > c.Conns {
		return usagef("-stages go up to %d connections but -conns is %d (leave -conns out to take the stages' largest target)", m, c.Conns)
	}
	if err := c.validateTransport(); err != nil {
		return err
	}
	c.thresholds = nil
	for _, expr := range c.Thresholds {
		t, err := parseThreshold(expr, c.Scenario)
		if err != nil {
			return usagef("-threshold %q: %v", expr, err)
		}
		c.thresholds = append(c.thresholds, t)
	}
	c.srcAddrs = nil
	if c.SrcAddrs != "" {
		ips, err := parseSrcAddrs(c.SrcAddrs)
		if err != nil {
			return usagef("-src-addrs %q: %v", c.SrcAddrs, err)
		}
		c.srcAddrs = ips
	}
	c.HoldS = c.Hold.Seconds()
	c.DurationS = c.Duration.Seconds()
	c.TimeoutS = c.Timeout.Seconds()
	c.CloseTimeoutS = c.CloseTimeout.Seconds()
	c.DrainS = c.Drain.Seconds()
	c.SettleS = c.Settle.Seconds()
	return nil
}

// validateTransport checks the TLS, subprotocol and PROXY protocol flags.
func (c *config) validateTransport() error {
	secure := false
	for _, u := range c.URLs {
		secure = secure || strings.HasPrefix(strings.ToLower(u), "wss:")
	}
	switch {
	case c.CA != "" && c.Insecure:
		return usagef("-ca and -insecure: choose one (verify with that CA, or do not verify)")
	case !secure && (c.CA != "" || c.Insecure || c.TLSResume):
		return usagef("-ca, -insecure and -tls-resume are for wss:// URLs")
	}
	c.caPool = nil
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return usagef("-ca: %v", err)
		}
		c.caPool = x509.NewCertPool()
		if !c.caPool.AppendCertsFromPEM(pem) {
			return usagef("-ca %s: no PEM certificate in it", c.CA)
		}
	}
	c.sessions = nil
	if c.TLSResume {
		c.sessions = tls.NewLRUClientSessionCache(max(c.Conns, 64))
	}
	c.protocols = nil
	if c.Subprotocols != "" {
		for p := range strings.SplitSeq(c.Subprotocols, ",") {
			p = strings.TrimSpace(p)
			if p == "" || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) {
				return usagef("-subprotocol %q: want tokens separated by commas, e.g. chat,superchat", c.Subprotocols)
			}
			c.protocols = append(c.protocols, p)
		}
	}
	switch c.ProxyProtocol {
	case "":
		c.proxyVersion = 0
	case "v1", "1":
		c.proxyVersion = 1
	case "v2", "2":
		c.proxyVersion = 2
	default:
		return usagef("-proxy-protocol %q: want v1 or v2", c.ProxyProtocol)
	}
	c.proxySrc = nil
	if c.ProxySrcAddrs != "" {
		if c.proxyVersion == 0 {
			return usagef("-proxy-src-addrs needs -proxy-protocol")
		}
		ips, err := parseSrcAddrs(c.ProxySrcAddrs)
		if err != nil {
			return usagef("-proxy-src-addrs %q: %v", c.ProxySrcAddrs, err)
		}
		c.proxySrc = &addrCycle{ips: ips}
	}
	return nil
}

// tlsConfig is the TLS client configuration for a wss:// target.
func (c *config) tlsConfig(serverName string) *tls.Config {
	return &tls.Config{
		ServerName:         serverName,
		RootCAs:            c.caPool, // nil: the system's
		InsecureSkipVerify: c.Insecure,
		NextProtos:         []string{"http/1.1"},
		ClientSessionCache: c.sessions,
		MinVersion:         tls.VersionTLS12,
	}
}

// maxMessage is the largest message the client accepts from the server.
func (c *config) maxMessage() int64 {
	return max(int64(c.Size)*2, 1<<20)
}

// fdReserve is what the process needs besides its WebSocket connections
// (stdio, the Go runtime's poller, resolver sockets, ...).
const fdReserve = 32
