package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Thresholds are pass/fail criteria on a run's results, as k6 has them:
// -threshold 'p99<50ms', -threshold 'errors<0.1%', -threshold 'lost==0'.
// Each is METRIC OP VALUE; the run fails (exit 1) if any does not hold, and
// the report says which.

// threshold is one parsed -threshold.
type threshold struct {
	expr    string
	metric  string  // as written, e.g. "p99", "delivery.p99.9", "errors"
	op      string  // <, <=, >, >=, ==, !=
	value   float64 // in the metric's unit (µs for latencies, a fraction for percentages)
	percent bool    // value given in %: compared with the metric as a share of its whole
	get     metricFunc
}

// metricFunc reads a metric from a result: its value and, for counts, the
// whole it is a share of (0 if it has none). ok is false when the run has
// no such value (a latency with no samples).
type metricFunc func(r *result) (v, whole float64, ok bool)

// thresholdResult is a threshold's outcome in the report.
type thresholdResult struct {
	Expr     string  `json:"expr"`
	Observed float64 `json:"observed"` // in the unit of the expression: µs, a percentage, a count, per second
	Unit     string  `json:"unit,omitempty"`
	OK       bool    `json:"ok"`
	Note     string  `json:"note,omitempty"`
}

// thresholdList collects repeated -threshold flags.
type thresholdList []string

func (t *thresholdList) String() string { return strings.Join(*t, ", ") }

func (t *thresholdList) Set(v string) error {
	*t = append(*t, v)
	return nil
}

var thresholdOps = []string{"<=", ">=", "==", "!=", "<", ">"}

// parseThreshold parses one expression for the scenario.
func parseThreshold(expr, scenario string) (*threshold, error) {
	t := &threshold{expr: expr}
	at, op := -1, ""
	for _, o := range thresholdOps {
		if i := strings.Index(expr, o); i >= 0 && (at < 0 || i < at || i == at && len(o) > len(op)) {
			at, op = i, o
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("want METRIC OP VALUE with OP one of < <= > >= == !=, e.g. p99<50ms")
	}
	t.op = op
	t.metric = strings.TrimSpace(expr[:at])
	rhs := strings.TrimSpace(expr[at+len(op):])
	if t.metric == "" || rhs == "" {
		return nil, fmt.Errorf("want METRIC OP VALUE, e.g. p99<50ms")
	}
	get, kind, err := lookupMetric(t.metric, scenario)
	if err != nil {
		return nil, err
	}
	t.get = get
	switch kind {
	case kindLatency:
		d, err := parseLatencyValue(rhs)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", t.metric, err)
		}
		t.value = float64(d) / 1e3
	case kindCount, kindRate, kindCPU:
		num := strings.TrimSuffix(rhs, "%")
		t.percent = num != rhs
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: bad value %q: want a number%s", t.metric, rhs, map[bool]string{true: " or a percentage", false: ""}[kind == kindCount])
		}
		switch {
		case kind == kindCPU:
			t.percent = false // CPU is a percentage of one core either way
		case t.percent && kind == kindRate:
			return nil, fmt.Errorf("%s: a rate per second cannot be a percentage", t.metric)
		case t.percent:
			v /= 100
		}
		t.value = v
	}
	return t, nil
}

// parseLatencyValue parses a duration ("50ms", "1.5s", "200us", "200µs");
// a bare number is milliseconds, as in k6.
func parseLatencyValue(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v < 0 || v > 1e9 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(v * float64(time.Millisecond)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q: want e.g. 50ms, 1.5s, 200us (a bare number is milliseconds)", s)
	}
	return d, nil
}

// Kinds of metrics.
const (
	kindLatency = iota // µs; the value is a duration
	kindCount          // a number of things; may be compared as a percentage of its whole
	kindRate           // per second
	kindCPU            // percent of one core
)

// defaultLatency is the latency a bare percentile refers to.
var defaultLatency = map[string]string{
	scConnect:   "connect",
	scEcho:      "rtt",
	scBroadcast: "last_receipt",
	scHandshake: "handshake",
}

// latencyNames are the latencies each scenario reports.
var latencyNames = map[string][]string{
	scConnect:   {"connect", "reconnect"},
	scEcho:      {"rtt", "connect"},
	scBroadcast: {"last_receipt", "delivery", "connect"},
	scHandshake: {"handshake"},
}

// countMetric is a count, its whole, and the scenarios that have it.
type countMetric struct {
	get       func(r *result) (v, whole float64)
	scenarios []string
}

func bc(r *result) *broadcastResult {
	if r.Broadcast == nil {
		return &broadcastResult{}
	}
	return r.Broadcast
}

func ec(r *result) *echoResult {
	if r.Echo == nil {
		return &echoResult{}
	}
	return r.Echo
}

func pop(r *result) *populationResult {
	if r.Population == nil {
		return &populationResult{}
	}
	return r.Population
}

// operations is what errors are a share of: dials for connect, upgrades
// for handshake, messages sent for echo, expected deliveries for broadcast.
func operations(r *result) float64 {
	switch r.Scenario {
	case scEcho:
		return float64(ec(r).Sent)
	case scBroadcast:
		return float64(bc(r).ExpectedDeliveries)
	}
	return float64(r.Connections.Attempted)
}

var countMetrics = map[string]countMetric{
	"errors": {func(r *result) (float64, float64) { return float64(r.ErrorTotal), operations(r) }, scenarios},
	"failed": {func(r *result) (float64, float64) {
		return float64(r.Connections.Failed), float64(r.Connections.Attempted)
	}, scenarios},
	"opened": {func(r *result) (float64, float64) {
		return float64(r.Connections.Opened), float64(r.Connections.Attempted)
	}, scenarios},
	"dropped": {func(r *result) (float64, float64) {
		return float64(r.Connections.Dropped), float64(r.Connections.Opened)
	}, scenarios},
	"lost": {func(r *result) (float64, float64) {
		if r.Scenario == scEcho {
			return float64(ec(r).Missing), float64(ec(r).Sent)
		}
		return float64(bc(r).Lost), float64(bc(r).ExpectedDeliveries)
	}, []string{scEcho, scBroadcast}},
	"mismatches": {func(r *result) (float64, float64) { return float64(ec(r).Mismatches), float64(ec(r).Received) }, []string{scEcho}},
	"duplicates": {func(r *result) (float64, float64) {
		return float64(bc(r).Duplicates), float64(bc(r).ExpectedDeliveries)
	}, []string{scBroadcast}},
	"reordered": {func(r *result) (float64, float64) {
		return float64(bc(r).Reordered), float64(bc(r).ExpectedDeliveries)
	}, []string{scBroadcast}},
	"misrouted": {func(r *result) (float64, float64) {
		return float64(bc(r).Misrouted), float64(bc(r).ExpectedDeliveries)
	}, []string{scBroadcast}},
	"corrupt": {func(r *result) (float64, float64) {
		return float64(bc(r).Corrupt), float64(bc(r).ExpectedDeliveries)
	}, []string{scBroadcast}},
	"complete": {func(r *result) (float64, float64) { return float64(bc(r).Complete), float64(bc(r).Published) }, []string{scBroadcast}},
	"deliveries": {func(r *result) (float64, float64) {
		return float64(bc(r).Deliveries), float64(bc(r).ExpectedDeliveries)
	}, []string{scBroadcast}},
	"reconnected": {func(r *result) (float64, float64) {
		var closes int64
		for _, n := range pop(r).ServerCloses {
			closes += n
		}
		return float64(pop(r).Reconnected), float64(closes)
	}, []string{scConnect}},
	"open_at_end": {func(r *result) (float64, float64) {
		return float64(r.Connections.HeldAtEnd), float64(r.Params.Conns)
	}, []string{scConnect}},
}

// rateMetrics are per-second rates; "rate" is the scenario's main one.
var rateMetrics = map[string]countMetric{
	"deliveries_per_s": {func(r *result) (float64, float64) { return bc(r).DeliveriesPerS, 0 }, []string{scBroadcast}},
	"published_per_s":  {func(r *result) (float64, float64) { return bc(r).PublishedPerS, 0 }, []string{scBroadcast}},
	"msgs_per_s":       {func(r *result) (float64, float64) { return ec(r).MsgsPerS, 0 }, []string{scEcho}},
	"bytes_per_s":      {func(r *result) (float64, float64) { return ec(r).BytesPerS, 0 }, []string{scEcho}},
	"open_per_s":       {func(r *result) (float64, float64) { return r.Connections.OpenPerS, 0 }, scenarios},
	"upgrades_per_s": {func(r *result) (float64, float64) {
		if r.Handshake == nil {
			return 0, 0
		}
		return r.Handshake.UpgradesPer, 0
	}, []string{scHandshake}},
}

var mainRate = map[string]string{
	scConnect:   "open_per_s",
	scEcho:      "msgs_per_s",
	scBroadcast: "deliveries_per_s",
	scHandshake: "upgrades_per_s",
}

// lookupMetric finds how to read metric in a result of the scenario.
func lookupMetric(metric, scenario string) (metricFunc, int, error) {
	wrap := func(m countMetric) metricFunc {
		return func(r *result) (float64, float64, bool) { v, w := m.get(r); return v, w, true }
	}
	if metric == "rate" {
		metric = mainRate[scenario]
	}
	if m, ok := countMetrics[metric]; ok {
		if !slices.Contains(m.scenarios, scenario) {
			return nil, 0, fmt.Errorf("%s: not measured by the %s scenario (it is for %s)", metric, scenario, strings.Join(m.scenarios, ", "))
		}
		return wrap(m), kindCount, nil
	}
	if m, ok := rateMetrics[metric]; ok {
		if !slices.Contains(m.scenarios, scenario) {
			return nil, 0, fmt.Errorf("%s: not measured by the %s scenario (it is for %s)", metric, scenario, strings.Join(m.scenarios, ", "))
		}
		return wrap(m), kindRate, nil
	}
	switch metric {
	case "client_cpu", "cpu":
		return func(r *result) (float64, float64, bool) { return r.CPU.Percent, 0, r.CPU.Measured }, kindCPU, nil
	case "client_cpu_publishing":
		if scenario != scBroadcast {
			return nil, 0, fmt.Errorf("%s: only the broadcast scenario has it", metric)
		}
		return func(r *result) (float64, float64, bool) {
			c := bc(r).CPU
			return c.Percent, 0, c != nil && c.Measured
		}, kindCPU, nil
	}

	// A latency: [NAME.]AGGREGATE.
	name, agg := defaultLatency[scenario], metric
	for _, n := range latencyNames[scenario] {
		if rest, ok := strings.CutPrefix(metric, n+"."); ok {
			name, agg = n, rest
			break
		}
	}
	q, err := parseAggregate(agg)
	if err != nil {
		return nil, 0, fmt.Errorf("unknown metric %q for the %s scenario: want a latency aggregate (p50, p99, p99.9, p(95), min, max, mean, med), optionally after one of %s and a dot, or one of %s",
			metric, scenario, strings.Join(latencyNames[scenario], ", "), strings.Join(metricNames(scenario), ", "))
	}
	return func(r *result) (float64, float64, bool) {
		h := r.hists[name]
		if h == nil || h.TotalCount() == 0 {
			return 0, 0, false
		}
		switch q {
		case aggMin:
			return float64(h.Min()) / 1e3, 0, true
		case aggMax:
			return float64(h.Max()) / 1e3, 0, true
		case aggMean:
			return h.Mean() / 1e3, 0, true
		}
		return float64(h.ValueAtQuantile(q)) / 1e3, 0, true
	}, kindLatency, nil
}

// Aggregates that are not quantiles.
const (
	aggMin  = -1
	aggMax  = -2
	aggMean = -3
)

// parseAggregate parses p99, p99.9, p(95), min, max, mean, avg, med.
func parseAggregate(s string) (float64, error) {
	switch s {
	case "min":
		return aggMin, nil
	case "max":
		return aggMax, nil
	case "mean", "avg":
		return aggMean, nil
	case "med":
		return 50, nil
	}
	num, ok := strings.CutPrefix(s, "p")
	if !ok {
		return 0, fmt.Errorf("not an aggregate")
	}
	if inner, ok := strings.CutPrefix(num, "("); ok {
		num, ok = strings.CutSuffix(inner, ")")
		if !ok {
			return 0, fmt.Errorf("not an aggregate")
		}
	}
	q, err := strconv.ParseFloat(num, 64)
	if err != nil || q < 0 || q > 100 {
		return 0, fmt.Errorf("not an aggregate")
	}
	return q, nil
}

// metricNames lists the non-latency metrics of a scenario.
func metricNames(scenario string) []string {
	var names []string
	for name, m := range countMetrics {
		if slices.Contains(m.scenarios, scenario) {
			names = append(names, name)
		}
	}
	for name, m := range rateMetrics {
		if slices.Contains(m.scenarios, scenario) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = append(names, "rate", "client_cpu")
	if scenario == scBroadcast {
		names = append(names, "client_cpu_publishing")
	}
	return names
}

// eval checks the threshold against r.
func (t *threshold) eval(r *result) thresholdResult {
	v, whole, ok := t.get(r)
	res := thresholdResult{Expr: t.expr}
	if !ok {
		res.Note = "not measured in this run"
		return res
	}
	observed := v
	switch {
	case t.percent && whole > 0:
		observed = v / whole
	case t.percent:
		observed = 0 // a share of nothing
		if v > 0 {
			observed = math.Inf(1)
		}
	}
	res.OK = compare(observed, t.op, t.value)
	res.Observed = observed
	_, kind, _ := lookupMetric(t.metric, r.Scenario)
	switch {
	case kind == kindLatency:
		res.Unit = "µs"
	case kind == kindCPU || t.percent:
		res.Unit = "%"
		if t.percent {
			res.Observed = observed * 100
		}
	case kind == kindRate:
		res.Unit = "/s"
	}
	if math.IsInf(res.Observed, 0) {
		res.Observed = 0
		res.Note = fmt.Sprintf("%g of a whole of 0", v)
	}
	res.Observed = round3(res.Observed)
	return res
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "==":
		return a == b
	case "!=":
		return a != b
	}
	return false
}

// formatObserved shows an observed value for people.
func formatObserved(t thresholdResult) string {
	switch t.Unit {
	case "µs":
		return time.Duration(t.Observed * 1e3).String()
	case "%":
		return strconv.FormatFloat(t.Observed, 'g', 6, 64) + "%"
	case "/s":
		return strconv.FormatFloat(t.Observed, 'f', 0, 64) + "/s"
	}
	return strconv.FormatFloat(t.Observed, 'g', -1, 64)
}
