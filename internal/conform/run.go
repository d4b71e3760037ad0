package conform

import (
	"context"
	"crypto/tls"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Case is one conformance case.
type Case struct {
	// ID is the Autobahn case ID, for example "5.19".
	ID string
	// Group is the top-level group, for example "5".
	Group string
	// Description says what the case sends (Autobahn's DESCRIPTION).
	Description string
	// Expectation says what the server should do (Autobahn's EXPECTATION).
	Expectation string
	// Slow marks cases that only run with Options.Slow.
	Slow bool
	// Run runs the case against the target and judges it.
	Run func(ctx context.Context, t *Target) Result
}

// Groups names the top-level groups, as in the Autobahn reports.
var Groups = map[string]string{
	"1":  "Framing",
	"2":  "Pings/Pongs",
	"3":  "Reserved Bits",
	"4":  "Opcodes",
	"5":  "Fragmentation",
	"6":  "UTF-8 Handling",
	"7":  "Close Handling",
	"9":  "Limits/Performance",
	"10": "Auto-Fragmentation",
	"12": "WebSocket Compression (different payloads)",
	"13": "WebSocket Compression (different parameters)",
}

// GroupOrder lists the groups in report order.
var GroupOrder = []string{"1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"}

// Options select and tune a run.
type Options struct {
	// Cases selects cases by ID pattern; empty selects all. Each element
	// may be a comma separated list. A pattern is a case ID ("6.4.1"), an
	// ID prefix ending at a dot boundary ("6.4" selects 6.4.*), or a glob
	// in path.Match syntax ("6.4.*", "1.?.1", "*").
	Cases []string
	// Exclude removes cases matching these patterns (same syntax).
	Exclude []string
	// Slow also runs the 16 MiB cases of group 9 and sends the full 1000
	// messages per case in groups 12 and 13.
	Slow bool
	// Allow lists expected deviations: case ID pattern -> reason. A matching
	// case that ends NON-STRICT or UNIMPLEMENTED still counts as passed
	// (Result.OK), with the reason in Result.Allowed.
	Allow map[string]string
	// TimeScale multiplies every wait of the suite (1 when zero). Values
	// below 1 make runs against fast local servers quicker but judge
	// fail-fast behaviour by a shorter wait.
	TimeScale float64
	// TLS configures the client side of wss:// connections: RootCAs to
	// trust a test CA, InsecureSkipVerify to skip verification. Nil means
	// the system's roots; ServerName defaults to the URL's host.
	TLS *tls.Config
	// Progress, when set, is called after each case.
	Progress func(c Case, r Result)
}

// splitPatterns flattens comma separated pattern lists.
func splitPatterns(list []string) []string {
	var out []string
	for _, l := range list {
		for _, p := range strings.Split(l, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// CheckPatterns reports the first malformed case pattern in list.
func CheckPatterns(list []string) error {
	for _, p := range splitPatterns(list) {
		if _, err := path.Match(p, "1.1.1"); err != nil {
			return fmt.Errorf("bad case pattern %q: %v", p, err)
		}
	}
	return nil
}

// MatchID reports whether the case ID matches the pattern.
func MatchID(pattern, id string) bool {
	if pattern == id || strings.HasPrefix(id, pattern+".") {
		return true
	}
	ok, _ := path.Match(pattern, id)
	return ok
}

func matchAny(patterns []string, id string) bool {
	for _, p := range patterns {
		if MatchID(p, id) {
			return true
		}
	}
	return false
}

// Select returns the cases a run with opts would run, in Autobahn order.
func Select(opts Options) []Case {
	inc, exc := splitPatterns(opts.Cases), splitPatterns(opts.Exclude)
	var out []Case
	for _, c := range Cases() {
		if len(inc) > 0 && !matchAny(inc, c.ID) {
			continue
		}
		if matchAny(exc, c.ID) || (c.Slow && !opts.Slow) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// allowReason returns the Options.Allow reason for a case ID.
func (o Options) allowReason(id string) string {
	if r, ok := o.Allow[id]; ok {
		return r
	}
	for p, r := range o.Allow {
		if MatchID(p, id) {
			return r
		}
	}
	return ""
}

// Run runs the selected cases one after the other against the echo server
// at url (ws://host:port/path or wss://host:port/path) and returns their results in Autobahn order.
// It stops early when ctx is cancelled.
func Run(ctx context.Context, url string, opts Options) []Result {
	cases := Select(opts)
	t, err := NewTarget(url)
	var results []Result
	for _, c := range cases {
		if ctx.Err() != nil {
			break
		}
		var r Result
		if err != nil {
			r = openFailed(err)
		} else {
			tt := *t
			tt.Slow, tt.TimeScale, tt.TLS = opts.Slow, opts.TimeScale, opts.TLS
			start := time.Now()
			r = c.Run(ctx, &tt)
			if r.Duration == 0 {
				r.Duration = time.Since(start)
			}
		}
		r.ID = c.ID
		if r.Verdict == "" {
			r.Verdict = Combine(r.Behavior, r.BehaviorClose)
		}
		if reason := opts.allowReason(c.ID); reason != "" && r.Verdict != OK && r.Verdict != Failed {
			r.Allowed = reason
		}
		if r.Verdict == OK {
			r.Trace = nil
		}
		if opts.Progress != nil {
			opts.Progress(c, r)
		}
		results = append(results, r)
	}
	return results
}

// openFailed is the result of a case whose opening handshake failed.
func openFailed(err error) Result {
	return Result{
		Verdict:       Failed,
		Behavior:      string(Failed),
		BehaviorClose: string(Failed),
		Detail:        "The WebSocket opening handshake was never completed: " + err.Error(),
	}
}

// groupOf returns the top-level group of a case ID.
func groupOf(id string) string {
	g, _, _ := strings.Cut(id, ".")
	return g
}

// compareIDs orders case IDs numerically component by component.
func compareIDs(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x - y
		}
	}
	return len(as) - len(bs)
}

// Summary counts verdicts per group.
type Summary struct {
	// Group -> verdict -> count.
	Counts map[string]map[Verdict]int
	// Total counts verdicts over all groups.
	Total map[Verdict]int
	// Passed counts results whose OK() is true.
	Passed int
}

// Summarize counts the verdicts of results.
func Summarize(results []Result) Summary {
	s := Summary{Counts: map[string]map[Verdict]int{}, Total: map[Verdict]int{}}
	for _, r := range results {
		g := groupOf(r.ID)
		if s.Counts[g] == nil {
			s.Counts[g] = map[Verdict]int{}
		}
		s.Counts[g][r.Verdict]++
		s.Total[r.Verdict]++
		if r.OK() {
			s.Passed++
		}
	}
	return s
}
