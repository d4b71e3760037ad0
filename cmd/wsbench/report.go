package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// result is everything a run reports; with -json it is written as is.
type result struct {
	Scenario     string                     `json:"scenario"`
	URL          string                     `json:"url"`
	TargetAddr   string                     `json:"target_addr"`
	SourceIPs    []string                   `json:"source_ips,omitempty"`
	Params       *config                    `json:"params"`
	Start        time.Time                  `json:"start"`
	ElapsedS     float64                    `json:"elapsed_s"`
	Interrupted  bool                       `json:"interrupted,omitempty"`
	Connections  connResult                 `json:"connections"`
	Echo         *echoResult                `json:"echo,omitempty"`
	Broadcast    *broadcastResult           `json:"broadcast,omitempty"`
	Handshake    *handshakeResult           `json:"handshake,omitempty"`
	Population   *populationResult          `json:"population,omitempty"` // connect with -stages, -churn or -reconnect
	Latency      map[string]*latencySummary `json:"latency_us"`
	Errors       map[string]int64           `json:"errors"`
	ErrorSamples map[string]string          `json:"error_samples,omitempty"`
	ErrorTotal   int64                      `json:"error_total"`
	OK           bool                       `json:"ok"` // error_total <= max_errors
	CPU          cpuResult                  `json:"client_cpu"`
	Warnings     []string                   `json:"warnings,omitempty"`
	Procs        []procResult               `json:"processes,omitempty"` // a run spread over processes: each one's share
	Thresholds   []thresholdResult          `json:"thresholds,omitempty"`
	Failures     []string                   `json:"failures,omitempty"` // why the run failed (ok false)

	latencyOrder []string                           // table order of Latency keys
	hists        map[string]*hdrhistogram.Histogram // what Latency summarizes
	bcast        *bcastPart                         // broadcast: times and records for the parent
	series       []tick                             // -series, -chart: the run over time
}

type connResult struct {
	Attempted   int64   `json:"attempted"`
	Opened      int64   `json:"opened"`
	Failed      int64   `json:"failed"`
	OpenS       float64 `json:"open_s"`               // time to open them all
	OpenPerS    float64 `json:"open_per_s"`           // opened / open_s
	HeldAtEnd   int64   `json:"held_at_end,omitzero"` // connect: still open when -hold ended
	Dropped     int64   `json:"dropped"`              // ended with an error (server close, reset, no close reply...)
	ClosedClean int64   `json:"closed_clean"`         // ended with a clean close handshake
	TLS         int64   `json:"tls,omitzero"`         // opened over TLS (wss://)
	TLSResumed  int64   `json:"tls_resumed,omitzero"` // of which resumed a TLS session
	// Subprotocols counts the subprotocols the server selected ("" for
	// none), when -subprotocol offered some.
	Subprotocols map[string]int64 `json:"subprotocols,omitempty"`
}

type echoResult struct {
	Sent          int64   `json:"sent"`
	Received      int64   `json:"received"`
	BytesSent     int64   `json:"bytes_sent"`
	BytesReceived int64   `json:"bytes_received"`
	WindowS       float64 `json:"window_s"` // time all connections were sending
	MsgsPerS      float64 `json:"msgs_per_s"`
	BytesPerS     float64 `json:"bytes_per_s"` // echoed payload bytes per second
	Mismatches    int64   `json:"mismatches"`
	Unsolicited   int64   `json:"unsolicited"`
	Missing       int64   `json:"missing"` // still unanswered after -drain
}

type broadcastResult struct {
	Receivers            int64   `json:"receivers"` // connections that opened, publishers included
	Rooms                int     `json:"rooms"`     // 0: everyone in one room (-url's path)
	Publishers           int     `json:"publishers"`
	MessagesPerPublisher int     `json:"messages_per_publisher,omitempty"`
	Published            int64   `json:"published"`
	PublishS             float64 `json:"publish_s"` // first send to the end of the last write
	PublishedPerS        float64 `json:"published_per_s"`
	ExpectedDeliveries   int64   `json:"expected_deliveries"` // each message times its room's receivers
	Deliveries           int64   `json:"deliveries"`          // first copies received
	DeliveryS            float64 `json:"delivery_s"`          // first send to the last receipt
	DeliveriesPerS       float64 `json:"deliveries_per_s"`    // deliveries / delivery_s
	// FirstSendUnixNS and LastReceiptUnixNS place that window on the wall
	// clock (Unix nanoseconds), so a tool sampling the server can count its
	// CPU over the burst alone.
	FirstSendUnixNS   int64 `json:"first_send_unix_ns,omitempty"`
	LastReceiptUnixNS int64 `json:"last_receipt_unix_ns,omitempty"`
	Complete          int64 `json:"complete"` // messages every receiver of their room got
	Lost              int64 `json:"lost"`
	Duplicates        int64 `json:"duplicates"`
	Reordered         int64 `json:"reordered"` // came after a later message of the same publisher
	Misrouted         int64 `json:"misrouted"` // delivered outside the publisher's room
	Corrupt           int64 `json:"corrupt"`
	Foreign           int64 `json:"foreign"` // messages not sent by wsbench (ignored)
	Deflate           int64 `json:"deflate"` // connections with permessage-deflate
	// CPU is wsbench's own CPU use while publishing and receiving (from
	// the first send to the last receipt or the end of -drain).
	CPU *cpuResult `json:"client_cpu_publishing"`
}

type handshakeResult struct {
	Workers     int     `json:"workers"`
	WindowS     float64 `json:"window_s"`
	Upgrades    int64   `json:"upgrades"`
	Failed      int64   `json:"failed"`
	UpgradesPer float64 `json:"upgrades_per_s"`
}

type cpuResult struct {
	Measured bool    `json:"measured"`
	UserS    float64 `json:"user_s"`
	SysS     float64 `json:"sys_s"`
	WallS    float64 `json:"wall_s"`
	Percent  float64 `json:"percent_of_one_core"`
	Cores    int     `json:"cores_available"`
}

// newResult fills the parts every scenario has.
func newResult(b *bench) *result {
	r := &result{
		Scenario:   b.cfg.Scenario,
		URL:        b.cfg.URL,
		TargetAddr: targetAddrs(b.tgts),
		Params:     b.cfg,
		Latency:    map[string]*latencySummary{},
	}
	for _, ip := range b.srcIPs {
		r.SourceIPs = append(r.SourceIPs, ip.String())
	}
	return r
}

func targetAddrs(ts []*target) string {
	addrs := make([]string, len(ts))
	for i, t := range ts {
		addrs[i] = t.addr
	}
	return strings.Join(addrs, ",")
}

// addLatency adds a latency histogram and its summary under name.
func (r *result) addLatency(name string, l *latencyRecorder) {
	r.setLatency(name, l.merged())
}

// setLatency sets (or adds) the histogram and summary of name.
func (r *result) setLatency(name string, h *hdrhistogram.Histogram) {
	if r.hists == nil {
		r.hists = map[string]*hdrhistogram.Histogram{}
	}
	if _, ok := r.hists[name]; !ok {
		r.latencyOrder = append(r.latencyOrder, name)
	}
	r.hists[name] = h
	r.Latency[name] = summarize(h)
}

// fillConnections copies the connection counters.
func (r *result) fillConnections(b *bench, openTime time.Duration) {
	r.Connections = connResult{
		Attempted:   b.attempted.Load(),
		Opened:      b.opened.Load(),
		Failed:      b.dialFailed.Load(),
		OpenS:       round3(openTime.Seconds()),
		Dropped:     b.dropped.Load(),
		ClosedClean: b.closedClean.Load(),
		TLS:         b.tlsConns.Load(),
		TLSResumed:  b.tlsResumed.Load(),
	}
	b.mu.Lock()
	if len(b.protocols) > 0 {
		r.Connections.Subprotocols = maps.Clone(b.protocols)
	}
	b.mu.Unlock()
	if s := openTime.Seconds(); s > 0 {
		r.Connections.OpenPerS = round3(float64(r.Connections.Opened) / s)
	}
}

// finish adds errors, CPU use and warnings.
func (r *result) finish(b *bench, elapsed time.Duration, cpu cpuResult) {
	r.ElapsedS = round3(elapsed.Seconds())
	r.Errors, r.ErrorSamples, r.ErrorTotal = b.errs.snapshot()
	r.CPU = cpu
	if w := saturation(cpu, "the load generator"); w != "" {
		r.Warnings = append(r.Warnings, w)
	}
}

// saturation returns the warning for a generator (who) that used over 90%
// of the cores it had, "" if it did not.
func saturation(cpu cpuResult, who string) string {
	// Below a second of wall time the ratio is mostly start-up noise.
	if !cpu.Measured || cpu.WallS < 1 || cpu.Percent <= 90*float64(cpu.Cores) {
		return ""
	}
	return fmt.Sprintf("%s used %.0f%% CPU of %d available cores: it is saturated, so the numbers measure wsbench as much as the server; "+
		"use fewer connections or run wsbench on more cores / several processes / other machines", who, cpu.Percent, cpu.Cores)
}

// measureCPU returns the CPU used since (user0, sys0) over wall time.
func measureCPU(user0, sys0 time.Duration, ok0 bool, wall time.Duration) cpuResult {
	user1, sys1, ok1 := processCPU()
	c := cpuResult{Cores: runtime.GOMAXPROCS(0), WallS: round3(wall.Seconds())}
	if !ok0 || !ok1 || wall <= 0 {
		return c
	}
	u, s := user1-user0, sys1-sys0
	c.Measured = true
	c.UserS = round3(u.Seconds())
	c.SysS = round3(s.Seconds())
	c.Percent = round3(100 * (u + s).Seconds() / wall.Seconds())
	return c
}

func writeJSON(w io.Writer, r *result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints the result for people.
func writeTable(w io.Writer, r *result) error {
	field := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-18s"+format+"\n", append([]any{label}, args...)...)
	}
	p := r.Params
	fmt.Fprintf(w, "wsbench %s  %s (%s)\n", r.Scenario, r.URL, r.TargetAddr)
	field("params", "%s", paramLine(r))
	if len(r.SourceIPs) > 0 {
		field("source addresses", "%s", ipRange(r.SourceIPs))
	}
	if r.Interrupted {
		field("interrupted", "yes (results so far)")
	}
	c := r.Connections
	if r.Handshake == nil {
		field("connections", "opened %d of %d, failed %d, in %.3fs (%.0f/s)", c.Opened, p.Conns, c.Failed, c.OpenS, c.OpenPerS)
		if pop := r.Population; pop != nil {
			field("population", "%d open at the end (target %d), at most %d, over %.3fs", pop.OpenAtEnd, pop.TargetAtEnd, pop.Peak, pop.DurationS)
			field("turnover", "%d closed by the ramp down, %d by -churn", pop.RampedDown, pop.Churned)
			if p.Reconnect {
				field("reconnects", "%d reconnected after server closes %v, %d still waiting at the end", pop.Reconnected, pop.ServerCloses, pop.ReconnectPending)
			}
		} else if r.Scenario == scConnect {
			field("held", "%d open when -hold %v ended", c.HeldAtEnd, p.Hold)
		}
		field("closed", "%d cleanly, %d dropped or unclean", c.ClosedClean, c.Dropped)
	}
	if c.TLS > 0 {
		field("tls", "%d connections over TLS, %d resumed a session", c.TLS, c.TLSResumed)
	}
	if len(c.Subprotocols) > 0 {
		field("subprotocols", "%v (\"\": none selected)", c.Subprotocols)
	}
	if e := r.Echo; e != nil {
		field("messages", "sent %d, received %d in %.3fs", e.Sent, e.Received, e.WindowS)
		field("throughput", "%.0f msgs/s, %s/s", e.MsgsPerS, humanBytes(e.BytesPerS))
		field("verification", "%d mismatches, %d unsolicited, %d missing", e.Mismatches, e.Unsolicited, e.Missing)
	}
	if bc := r.Broadcast; bc != nil {
		rooms := "one room"
		if bc.Rooms > 0 {
			rooms = fmt.Sprintf("%d rooms", bc.Rooms)
		}
		field("publishing", "%d publishers sent %d in %.3fs (%.0f/s)", bc.Publishers, bc.Published, bc.PublishS, bc.PublishedPerS)
		field("deliveries", "%d of %d expected (%d receivers, %s) in %.3fs from the first send to the last receipt: %.0f/s",
			bc.Deliveries, bc.ExpectedDeliveries, bc.Receivers, rooms, bc.DeliveryS, bc.DeliveriesPerS)
		field("verification", "%d messages complete, %d lost, %d duplicates, %d reordered, %d misrouted, %d corrupt, %d foreign",
			bc.Complete, bc.Lost, bc.Duplicates, bc.Reordered, bc.Misrouted, bc.Corrupt, bc.Foreign)
		if c := bc.CPU; c != nil && c.Measured {
			field("client cpu", "%.0f%% of one core while publishing and receiving (%.2fs)", c.Percent, c.WallS)
		}
		if p.Compress {
			field("compression", "permessage-deflate on %d of %d connections", bc.Deflate, bc.Receivers)
		}
	}
	if h := r.Handshake; h != nil {
		field("upgrades", "%d ok, %d failed in %.3fs with %d workers: %.0f/s", h.Upgrades, h.Failed, h.WindowS, h.Workers, h.UpgradesPer)
		field("closed", "%d cleanly, %d unclean", c.ClosedClean, c.Dropped)
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-14s %9s %9s %9s %9s %9s %9s %9s %9s\n", "latency (µs)", "count", "min", "mean", "p50", "p90", "p99", "p99.9", "max")
	for _, name := range r.latencyOrder {
		l := r.Latency[name]
		if l.Count == 0 {
			fmt.Fprintf(w, "%-14s %9d %9s\n", name, 0, "-")
			continue
		}
		fmt.Fprintf(w, "%-14s %9d %9s %9s %9s %9s %9s %9s %9s\n", name, l.Count,
			us(l.Min), us(l.Mean), us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max))
	}
	fmt.Fprintln(w)

	if r.ErrorTotal == 0 {
		field("errors", "none")
	} else {
		field("errors", "%d in total", r.ErrorTotal)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range sortedKinds(r.Errors) {
			line := fmt.Sprintf("  %s\t%d", k, r.Errors[k])
			if s := r.ErrorSamples[k]; s != "" {
				line += "\te.g. " + truncate(s, 120)
			}
			if h := kindHints[k]; h != "" {
				line += "\t(" + h + ")"
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	if r.CPU.Measured {
		field("client cpu", "%.0f%% of one core (%d cores available): user %.2fs, sys %.2fs over %.2fs",
			r.CPU.Percent, r.CPU.Cores, r.CPU.UserS, r.CPU.SysS, r.CPU.WallS)
	} else {
		field("client cpu", "not measured on this OS")
	}
	for _, pr := range r.Procs {
		line := fmt.Sprintf("%d: %d of %d connections opened", pr.Index, pr.Opened, pr.Conns)
		if len(pr.SourceIPs) > 0 {
			line += " from " + ipRange(pr.SourceIPs)
		}
		if pr.CPU.Measured {
			line += fmt.Sprintf(", cpu %.0f%%", pr.CPU.Percent)
		}
		if c := pr.CPUPublish; c != nil && c.Measured {
			line += fmt.Sprintf(" (%.0f%% while publishing)", c.Percent)
		}
		if pr.Failed != "" {
			line += ", FAILED: " + pr.Failed
		}
		field("process", "%s", line)
	}
	for _, wm := range r.Warnings {
		field("WARNING", "%s", wm)
	}
	if len(r.Thresholds) > 0 {
		field("thresholds", "")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range r.Thresholds {
			mark := "ok    "
			if !t.OK {
				mark = "FAILED"
			}
			line := fmt.Sprintf("  %s\t%s\tobserved %s", mark, t.Expr, formatObserved(t))
			if t.Note != "" {
				line = fmt.Sprintf("  %s\t%s\t%s", mark, t.Expr, t.Note)
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	status := "ok"
	if !r.OK {
		status = "FAILED: " + strings.Join(r.Failures, "; ")
	}
	_, err := fmt.Fprintf(w, "%-18s%s\n", "result", status)
	return err
}

func paramLine(r *result) string {
	p := r.Params
	kind := "binary"
	if p.Text {
		kind = "text"
	}
	switch r.Scenario {
	case scConnect:
		line := fmt.Sprintf("conns %d, concurrency %d, hold %v", p.Conns, p.Concurrency, p.Hold)
		if p.Stages != "" {
			line = fmt.Sprintf("conns up to %d, concurrency %d, stages %s", p.Conns, p.Concurrency, p.Stages)
		}
		if p.ConnectRate > 0 {
			line += fmt.Sprintf(", at most %g connections/s", p.ConnectRate)
		}
		if p.Churn > 0 {
			line += fmt.Sprintf(", churn %g/s", p.Churn)
		}
		if p.Reconnect {
			line += fmt.Sprintf(", reconnect within %v", p.ReconnDelay)
		}
		return line
	case scEcho:
		return fmt.Sprintf("conns %d, inflight %d, size %d B %s, duration %v", p.Conns, p.Inflight, p.Size, kind, p.Duration)
	case scBroadcast:
		rate := "flat out"
		if p.Rate > 0 {
			rate = fmt.Sprintf("%g msg/s each", p.Rate)
		}
		amount := fmt.Sprintf("for %v", p.Duration)
		if p.Messages > 0 {
			amount = fmt.Sprintf("%d messages each", p.Messages)
		}
		pubs := p.Publishers.String()
		if p.Rooms > 0 {
			pubs = fmt.Sprintf("%s per room of %d rooms", pubs, p.Rooms)
		}
		comp := ""
		if p.Compress {
			comp = ", permessage-deflate offered"
		}
		return fmt.Sprintf("conns %d, publishers %s, %s at %s, size %d B %s%s", p.Conns, pubs, amount, rate, p.Size, kind, comp)
	case scHandshake:
		return fmt.Sprintf("workers %d, duration %v", p.Conns, p.Duration)
	}
	return ""
}

// ipRange shows a list of consecutive addresses compactly.
func ipRange(ips []string) string {
	if len(ips) <= 3 {
		return strings.Join(ips, ", ")
	}
	return fmt.Sprintf("%s .. %s (%d)", ips[0], ips[len(ips)-1], len(ips))
}

func us(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func humanBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.2f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// perSecond returns n/d in 1/s (0 for an empty interval), rounded.
func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round3(float64(n) / d.Seconds())
}
