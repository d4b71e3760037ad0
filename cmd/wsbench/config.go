package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"slices"
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
	// maxMessagesTotal bounds -messages times the publishers: the records
	// of every message are kept for the report.
	maxMessagesTotal = 100_000_000
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
	Series         string          `json:"series,omitempty"`
	SeriesInterval time.Duration   `json:"-"`
	Chart          string          `json:"chart,omitempty"`
	thresholds     []*threshold    // Thresholds parsed
	maxErrorsSet   bool            // -max-errors was given
	set            map[string]bool // the flags given
	Timeout        time.Duration   `json:"-"`
	CloseTimeout   time.Duration   `json:"-"`
	Drain          time.Duration   `json:"-"`
	Settle         time.Duration   `json:"-"`
	Headers        []string        `json:"headers,omitempty"`
	MaxErrors      int64           `json:"max_errors"`
	ReadBuf        int             `json:"read_buffer"`
	JSON           bool            `json:"-"`
	CPUProfile     string          `json:"-"`
	Quiet          bool            `json:"-"`
	Interval       time.Duration   `json:"-"`

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

// headerList collects repeated -header flags.
type headerList []string

func (h *headerList) String() string { return strings.Join(*h, ", ") }

func (h *headerList) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f }) ||
		strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return fmt.Errorf("want \"Name: value\", got %q", v)
	}
	switch strings.ToLower(name) {
	case "host":
		return fmt.Errorf("%s: wsbench sends the Host of -url", name)
	case "upgrade", "connection", "sec-websocket-key", "sec-websocket-version":
		return fmt.Errorf("%s: wsbench sends this handshake header itself", name)
	case "sec-websocket-extensions":
		return fmt.Errorf("%s: use -compress", name)
	case "sec-websocket-protocol":
		return fmt.Errorf("%s: use -subprotocol", name)
	}
	*h = append(*h, name+": "+strings.TrimSpace(value))
	return nil
}

func newFlagSet(cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, usage by printUsage
	fs.StringVar(&cfg.Scenario, "scenario", "", "the `scenario`: connect, echo, broadcast or handshake (or give it as the first argument)")
	fs.StringVar(&cfg.URL, "url", "", "the server's `URL`, ws://host:port/path or wss://host:port/path (required); several, separated by commas, share the connections in turn")
	fs.IntVar(&cfg.Conns, "conns", 100, "`N` connections (handshake: concurrent workers)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 100, "at most `N` dials (TCP, TLS and upgrade) under way at once")
	fs.DurationVar(&cfg.Hold, "hold", 5*time.Second, "connect: how long to hold the connections open (with -churn or -reconnect: how long the run lasts)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "echo, broadcast (without -messages), handshake: how long to send")
	fs.IntVar(&cfg.Inflight, "inflight", 1, "echo: `N` messages in flight per connection")
	fs.IntVar(&cfg.Size, "size", 64, "echo, broadcast: message size in `bytes`")
	fs.BoolVar(&cfg.Text, "text", false, "echo, broadcast: text messages (words of ASCII letters) instead of binary")
	cfg.Publishers = publishers{n: 1}
	fs.Var(&cfg.Publishers, "publishers", "broadcast: `N` of the connections publish, or \"all\"; with -rooms, N in each room")
	fs.Float64Var(&cfg.Rate, "rate", 10, "broadcast: `messages` per second per publisher; 0 = as fast as the socket takes them (the default with -messages)")
	fs.IntVar(&cfg.Messages, "messages", 0, "broadcast: each publisher sends `N` messages, then the run waits for every delivery; 0 = publish for -duration")
	fs.IntVar(&cfg.Rooms, "rooms", 0, "broadcast: spread the connections over `N` rooms (connection i joins room i mod N through -room-path); 0 = everyone on -url's path")
	fs.StringVar(&cfg.RoomPath, "room-path", "/room/{room}", "broadcast: the request `path` (and query) of a room; {room} is replaced by its name, r0, r1, ...")
	fs.IntVar(&cfg.Batch, "batch", 16<<10, "broadcast, flat out: a publisher writes its messages in batches of up to this many `bytes`, one write each; 0 = one write per message")
	fs.BoolVar(&cfg.Compress, "compress", false, "offer permessage-deflate (no context takeover either way); where the server accepts, messages are sent compressed")
	fs.BoolVar(&cfg.InflateEach, "inflate-each", false, "broadcast with -compress: inflate every delivery, instead of each distinct compressed message once (identical bytes hold identical messages)")
	fs.IntVar(&cfg.SrcIPs, "src-ips", -1, "loopback targets: bind the connections to `N` source addresses 127.0.0.2, 127.0.0.3, ..., dealt out among the processes; -1 = one per 20,000 connections of each process (Linux; the kernel's choice elsewhere), 0 = the kernel's choice")
	fs.StringVar(&cfg.SrcAddrs, "src-addrs", "", "bind the connections to these local `addresses`, dealt out among the processes: addresses, ranges FIRST-LAST and prefixes ADDR/BITS, comma separated (10.0.0.0/24, 127.0.1.1-127.0.1.40); overrides -src-ips")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", 0, "open at most `N` connections per second (an arrival rate, over all processes); 0 = as fast as -concurrency allows")
	fs.StringVar(&cfg.Stages, "stages", "", "connect: the connection count over time, `DURATION:TARGET,...` (30s:10000,60s:10000,10s:0); each stage moves in a straight line from the previous target (0 at first) to its own; replaces -hold; -conns defaults to the largest target")
	fs.Float64Var(&cfg.Churn, "churn", 0, "connect: close `N` connections per second (the oldest first) and open new ones in their place")
	fs.BoolVar(&cfg.Reconnect, "reconnect", false, "connect: reconnect the clients the server closes with 1001 (going away), 1012 (service restart) or 1013 (try again later), after a random delay up to -reconnect-delay, to the next -url; such closes are counted, not errors")
	fs.DurationVar(&cfg.ReconnDelay, "reconnect-delay", time.Second, "connect with -reconnect: the longest random delay before a reconnect (jitter spreads a storm); 0 = at once")
	fs.IntVar(&cfg.Procs, "procs", 0, "spread the run over `N` wsbench processes; 0 = as many as the open-file limit needs")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "the longest a dial may take: TCP connect, PROXY header, TLS handshake and HTTP upgrade")
	fs.DurationVar(&cfg.CloseTimeout, "close-timeout", 2*time.Second, "how long to wait for the server's close frame, and then its TCP close, at the end")
	fs.DurationVar(&cfg.Drain, "drain", 3*time.Second, "echo: how long to wait for the echoes still due after -duration; broadcast: the run ends when nothing was sent or received for this long")
	fs.DurationVar(&cfg.Settle, "settle", 200*time.Millisecond, "broadcast: pause between the last connection opening and the first publish (time for the server to seat everyone in their rooms)")
	fs.Var((*headerList)(&cfg.Headers), "header", "add `\"Name: value\"` to the upgrade request (repeatable): -header 'Origin: https://example.com' -header 'Authorization: Bearer T'")
	fs.StringVar(&cfg.Subprotocols, "subprotocol", "", "offer these `subprotocols` (Sec-WebSocket-Protocol), comma separated, most wanted first; a server that selects another fails the handshake")
	fs.StringVar(&cfg.CA, "ca", "", "wss://: verify the server's certificate with the CA certificates in this PEM `file` instead of the system's")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "wss://: do not verify the server's certificate")
	fs.BoolVar(&cfg.TLSResume, "tls-resume", false, "wss://: resume TLS sessions (as browsers do) instead of a full handshake for each connection")
	fs.StringVar(&cfg.ProxyProtocol, "proxy-protocol", "", "send a PROXY protocol header of this `version`, v1 or v2, first on each connection, as a load balancer in front of the server would")
	fs.StringVar(&cfg.ProxySrcAddrs, "proxy-src-addrs", "", "with -proxy-protocol: claim these client `addresses` in the header, in turn (as for -src-addrs); default: each socket's own")
	fs.Int64Var(&cfg.MaxErrors, "max-errors", 0, "fail (exit 1) when the run has more than `N` errors; with -threshold, only if given")
	fs.Var((*thresholdList)(&cfg.Thresholds), "threshold", "a pass/fail criterion `METRIC OP VALUE`, as in k6 (repeatable): p99<50ms, delivery.p(95)<=20ms, errors<0.1%, lost==0, deliveries_per_s>1e6, client_cpu<90; see THRESHOLDS")
	fs.IntVar(&cfg.ReadBuf, "read-buffer", 1024, "each connection's read buffer at first, in `bytes`; it doubles up to 16 KiB on connections whose reads fill it")
	fs.BoolVar(&cfg.JSON, "json", false, "write the report as one JSON object")
	fs.StringVar(&cfg.Series, "series", "", "write the run over time to this `file`, a point per -series-interval: t, open, opened, failed, ops, rate, errors, samples, p50_us, p99_us, max_us (that interval's latency); CSV if the name ends in .csv, JSON lines otherwise")
	fs.DurationVar(&cfg.SeriesInterval, "series-interval", time.Second, "the interval of -series and -chart")
	fs.StringVar(&cfg.Chart, "chart", "", "draw the run over time in this SVG `file`: connections open, rate, latency p50/p99, errors")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write wsbench's own CPU profile to this `file` (where a saturated wsbench spends its time); process N of several writes FILE.N")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no progress on standard error")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "how often progress is printed when standard error is not a terminal")
	return fs
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
	cfg.set = set
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
	case c.Concurrency < 1 || c.Concurrency > maxConns:
		return usagef("-concurrency %d: want 1..%d", c.Concurrency, maxConns)
	case c.Hold < 0:
		return usagef("-hold %v: must not be negative", c.Hold)
	case c.Duration <= 0:
		return usagef("-duration %v: must be positive", c.Duration)
	case c.Inflight < 1 || c.Inflight > 1<<16:
		return usagef("-inflight %d: want 1..%d", c.Inflight, 1<<16)
	case c.Size < 1 || c.Size > maxMsgSize:
		return usagef("-size %d: want 1..%d bytes", c.Size, maxMsgSize)
	case c.Rate < 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
		return usagef("-rate %v: want a number of messages per second, or 0 (as fast as possible)", c.Rate)
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
		case strings.ContainsFunc(c.RoomPath, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return usagef("-room-path %q: no spaces or control characters (escape them: %%20)", c.RoomPath)
		case c.InflateEach && !c.Compress:
			return usagef("-inflate-each needs -compress")
		}
		perRoom := (c.Conns + rooms - 1) / rooms
		pubs := int64(min(c.Publishers.n, perRoom)) * int64(rooms)
		if c.Publishers.all {
			pubs = int64(c.Conns)
		}
		if c.Messages > 0 && int64(c.Messages)*pubs > maxMessagesTotal {
			return usagef("-messages %d from %d publishers: %d messages, but wsbench keeps 24 B for each and takes at most %d",
				c.Messages, pubs, int64(c.Messages)*pubs, int64(maxMessagesTotal))
		}
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
	if c.ConnectRate < 0 || math.IsInf(c.ConnectRate, 0) || math.IsNaN(c.ConnectRate) {
		return usagef("-connect-rate %v: want a number of connections per second, or 0 (no limit)", c.ConnectRate)
	}
	if c.Churn < 0 || math.IsInf(c.Churn, 0) || math.IsNaN(c.Churn) {
		return usagef("-churn %v: want a number of connections per second", c.Churn)
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
	if err := c.validateScope(); err != nil {
		return err
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

// flagScenarios are the scenarios a scenario-specific flag is for.
var flagScenarios = map[string][]string{
	"hold":            {scConnect},
	"stages":          {scConnect},
	"churn":           {scConnect},
	"reconnect":       {scConnect},
	"reconnect-delay": {scConnect},
	"duration":        {scEcho, scBroadcast, scHandshake},
	"inflight":        {scEcho},
	"size":            {scEcho, scBroadcast},
	"text":            {scEcho, scBroadcast},
	"drain":           {scEcho, scBroadcast},
	"publishers":      {scBroadcast},
	"rate":            {scBroadcast},
	"messages":        {scBroadcast},
	"rooms":           {scBroadcast},
	"room-path":       {scBroadcast},
	"batch":           {scBroadcast},
	"settle":          {scBroadcast},
	"inflate-each":    {scBroadcast},
	"connect-rate":    {scConnect, scEcho, scBroadcast},
}

// validateScope refuses flags given to a scenario they do nothing for,
// rather than ignoring them.
func (c *config) validateScope() error {
	for _, name := range slices.Sorted(maps.Keys(flagScenarios)) {
		if sc := flagScenarios[name]; c.set[name] && !slices.Contains(sc, c.Scenario) {
			return usagef("-%s is for the %s scenario%s, not %s", name, strings.Join(sc, ", "), map[bool]string{true: "s", false: ""}[len(sc) > 1], c.Scenario)
		}
	}
	switch {
	case c.Scenario == scBroadcast && c.Messages > 0 && c.set["duration"]:
		return usagef("-duration and -messages: with -messages the run ends when every delivery is in; give one of them")
	case c.Scenario == scConnect && len(c.stages) > 0 && c.set["hold"]:
		return usagef("-hold and -stages: the stages say how long the run lasts; give one of them")
	case c.Rooms == 0 && c.set["room-path"]:
		return usagef("-room-path needs -rooms")
	}
	for flagName, path := range map[string]string{"series": c.Series, "chart": c.Chart, "cpuprofile": c.CPUProfile} {
		if path == "" || os.Getenv(childEnv) == "1" { // the parent checked
			continue
		}
		// Found out now, not after the run: the file can be written.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return usagef("-%s: %v", flagName, err)
		}
		f.Close()
	}
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
