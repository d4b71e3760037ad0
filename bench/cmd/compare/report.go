package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

type results struct {
	Date      string       `json:"date"`
	Machine   machine      `json:"machine"`
	GoVersion string       `json:"go_version"`
	Command   string       `json:"command"`
	Config    *config      `json:"config"`
	Servers   []string     `json:"servers"`
	Runs      []runResult  `json:"runs"`
	Profiles  []profileRun `json:"profiles,omitempty"`
	Wsloop    string       `json:"wsloop_commit,omitempty"`
	LoadStart string       `json:"loadavg_start,omitempty"`
	LoadEnd   string       `json:"loadavg_end,omitempty"`
}

type profileRun struct {
	Scenario string `json:"scenario"`
	Profile  string `json:"profile"`
	Top      string `json:"top"`
	Headline string `json:"headline"`
}

// better says which direction of a metric is good.
type better int

const (
	info better = iota // not ranked
	higher
	lower
)

type metricDef struct {
	Key    string
	Label  string
	Format string // fmt verb for values
	Better better
}

type scenarioDef struct {
	Key     string
	Title   string
	Metrics []metricDef
}

func scenarioDefs(cfg *config) []scenarioDef {
	var defs []scenarioDef
	for i := range scenarios {
		sc := &scenarios[i]
		defs = append(defs, scenarioDef{sc.Key, sc.Title(cfg), sc.metrics()})
	}
	return defs
}

func offered(cfg *config, rate float64) string {
	if rate == 0 {
		return "unbounded"
	}
	return groupDigits(fmt.Sprintf("%.0f", rate*float64(cfg.BcastPublishers)*float64(cfg.BcastConns)))
}

// values returns a metric of every successful run of server (one per rep).
func (res *results) values(server, key string) []float64 {
	sc, _, _ := strings.Cut(key, ".")
	var vs []float64
	for i := range res.Runs {
		r := &res.Runs[i]
		if r.Server != server || r.Scenario != sc {
			continue
		}
		if r.Skipped != "" || (r.Error != "" && !strings.HasSuffix(key, ".errors")) {
			continue
		}
		if v, ok := r.Metrics[key]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// value returns the median of a metric over the successful runs; ok is
// false when there is none.
func (res *results) value(server, key string) (float64, bool) {
	vs := res.values(server, key)
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

// bestPeer returns the best peer value of a metric and its server.
func (res *results) bestPeer(m metricDef) (float64, string, bool) {
	best, who, found := 0.0, "", false
	for _, p := range peers {
		v, ok := res.value(p, m.Key)
		if !ok {
			continue
		}
		if !found || (m.Better == higher && v > best) || (m.Better == lower && v < best) {
			best, who, found = v, p, true
		}
	}
	return best, who, found
}

func writeResults(cfg *config, res *results) error {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "results.md"), []byte(markdown(cfg, res)), 0o644); err != nil {
		return err
	}
	svg := chartSVG(cfg, res)
	svgPath := filepath.Join(cfg.Out, "chart.svg")
	if err := os.WriteFile(svgPath, []byte(svg), 0o644); err != nil {
		return err
	}
	renderPNG(svgPath, filepath.Join(cfg.Out, "chart.png"), chartHeight(len(shownPanels(cfg))))
	return nil
}

// renderPNG converts the SVG with rsvg-convert, or headless Chromium, when
// one is installed; the PNG is a convenience, the SVG is the chart.
func renderPNG(svg, png string, height int) {
	if p, err := exec.LookPath("rsvg-convert"); err == nil {
		if out, err := exec.Command(p, "-b", "white", "-o", png, svg).CombinedOutput(); err != nil {
			logf("rsvg-convert: %v: %s", err, out)
		}
		return
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			abs, _ := filepath.Abs(svg)
			absPNG, _ := filepath.Abs(png)
			out, err := exec.Command(p, "--headless", "--no-sandbox", "--disable-gpu", "--screenshot="+absPNG,
				fmt.Sprintf("--window-size=%d,%d", chartW, height), "file://"+abs).CombinedOutput()
			if err != nil {
				logf("%s: %v: %s", name, err, out)
			}
			return
		}
	}
	logf("no rsvg-convert or chromium: chart.png not written (the SVG is)")
}

func fmtVal(m metricDef, v float64) string {
	s := fmt.Sprintf(m.Format, v)
	if math.Abs(v) >= 10000 && strings.HasSuffix(m.Format, ".0f") {
		s = groupDigits(s)
	}
	return s
}

// groupDigits inserts thin separators into a plain integer string.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtRatio prints a ratio with two significant digits at least.
func fmtRatio(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

func ratioCell(m metricDef, ours, ref float64, okOurs, okRef bool) string {
	if m.Better == info || !okOurs || !okRef || ref == 0 {
		return ""
	}
	r := ours / ref
	good := (m.Better == higher && r >= 1) || (m.Better == lower && r <= 1)
	mark := ""
	if good {
		mark = " ✓"
	}
	return fmt.Sprintf("%.2f×%s", r, mark)
}

func markdown(cfg *config, res *results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# wsloop server comparison\n\n")
	w("- date: %s\n", res.Date)
	w("- machine: %d CPUs (%s), %s, memory %s, open-file hard limit %s\n", res.Machine.NProc, res.Machine.CPUModel, res.Machine.Kernel, res.Machine.MemTotal, res.Machine.NoFileMax)
	w("- %s\n", res.GoVersion)
	if res.Wsloop != "" {
		w("- wsloop under test: %s\n", res.Wsloop)
	}
	if res.LoadStart != "" {
		w("- load average (1, 5, 15 min) at the start: %s, at the end: %s (2 cores: above 2 means other work competed for them)\n", res.LoadStart, res.LoadEnd)
	}
	w("- command: `%s`\n", res.Command)
	w("- servers pinned to CPU %s (`taskset -c %s`), wsbench pinned to CPU %s; the machine is shared with other work, so single runs vary by 10–30 %% (see the spread table)\n",
		cfg.ServerCPU, cfg.ServerCPU, cfg.ClientCPU)
	w("- every server × scenario ran %d time(s), interleaved across servers; the tables show the median, the spread is below\n", cfg.Reps)
	w("- every server is restarted for every scenario; server CPU is the run time of its threads (/proc/PID/task/*/schedstat), counted from the moment every connection is open to the end of the wsbench run; for the flat-out broadcasts, over the burst only: from wsbench's first send to its last receipt as its report places them on the clock (first_send_unix_ns, last_receipt_unix_ns), or, from a wsbench that does not report them, as long as wsbench's first send to last receipt (delivery_s), from where the server's CPU time, idle during wsbench's %v pause before publishing, starts to climb (sampled every %v and interpolated; a run whose burst was not found counts the whole run, its headline says \"of the run\")\n", burstSettle, cpuSampleEvery)
	w("- the floor (rawtcp) is an epoll server that frames nothing; in the TLS scenarios it is crypto/tls with a goroutine per connection and the same framing (see bench/README.md)\n\n")
	if cfg.Note != "" {
		w("> **Note:** %s\n\n", cfg.Note)
	}
	w("Columns: the servers, each ranked value followed by its ratio to the floor (rawtcp) in brackets, then **wsloop / best peer** (best of gorilla, gobwas, nbio, gws for that row) and **wsloop / floor**. ")
	w("↑ rows: higher is better, a ratio above 1 favours wsloop; ↓ rows: lower is better, a ratio below 1 favours wsloop; ✓ marks a row where wsloop wins. Rows without an arrow are context, not ranked. A blank cell: the run failed or is missing (see the notes).\n\n")

	defs := scenarioDefs(cfg)
	hasFloor := slices.Contains(res.Servers, floor)
	for _, sd := range defs {
		if !slices.Contains(cfg.Scenarios, sd.Key) {
			continue
		}
		w("## %s\n\n", sd.Title)
		w("| metric |")
		for _, s := range res.Servers {
			w(" %s |", s)
		}
		w(" wsloop / best peer |")
		if hasFloor {
			w(" wsloop / floor |")
		}
		w("\n|---|")
		for range res.Servers {
			w("---:|")
		}
		w("---:|")
		if hasFloor {
			w("---:|")
		}
		w("\n")
		for _, m := range sd.Metrics {
			arrow := ""
			switch m.Better {
			case higher:
				arrow = " ↑"
			case lower:
				arrow = " ↓"
			}
			w("| %s%s |", m.Label, arrow)
			fv, okF := res.value(floor, m.Key)
			for _, s := range res.Servers {
				v, ok := res.value(s, m.Key)
				switch {
				case !ok:
					w("  |")
				case m.Better != info && s != floor && okF && fv != 0:
					w(" %s (%s×) |", fmtVal(m, v), fmtRatio(v/fv))
				default:
					w(" %s |", fmtVal(m, v))
				}
			}
			ours, okOurs := res.value("wsloop", m.Key)
			bp, who, okBP := res.bestPeer(m)
			cell := ratioCell(m, ours, bp, okOurs, okBP)
			if cell != "" {
				cell += " (" + who + ")"
			}
			w(" %s |", cell)
			if hasFloor {
				w(" %s |", ratioCell(m, ours, fv, okOurs, okF))
			}
			w("\n")
		}
		w("\n")
	}

	if cfg.Reps > 1 {
		w("## Spread over the %d runs (min – max)\n\n", cfg.Reps)
		w("| metric |")
		for _, s := range res.Servers {
			w(" %s |", s)
		}
		w("\n|---|")
		for range res.Servers {
			w("---:|")
		}
		w("\n")
		for _, p := range panels {
			sc, _, _ := strings.Cut(p.Key, ".")
			if !slices.Contains(cfg.Scenarios, sc) {
				continue
			}
			m := metricByKey(cfg, p.Key)
			w("| %s: %s |", sc, m.Label)
			for _, s := range res.Servers {
				vs := res.values(s, p.Key)
				if len(vs) == 0 {
					w("  |")
					continue
				}
				w(" %s – %s |", fmtVal(m, slices.Min(vs)), fmtVal(m, slices.Max(vs)))
			}
			w("\n")
		}
		w("\n")
	}
	w("## Notes\n\n")
	any := false
	for _, r := range res.Runs {
		if r.Skipped != "" {
			w("- %s / %s: not run: %s\n", r.Server, r.Scenario, r.Skipped)
			any = true
			continue
		}
		if r.Error != "" {
			w("- %s / %s run %d: %s\n", r.Server, r.Scenario, r.Rep, r.Error)
			any = true
		}
		if v, ok := r.Metrics[r.Scenario+".client_cpu_pct"]; ok && v >= 90 && r.Error == "" {
			w("- %s / %s run %d: wsbench at %.0f%% of its core: the load generator, not the server, may set this row's rate\n", r.Server, r.Scenario, r.Rep, v)
			any = true
		}
		var wb struct {
			Warnings []string         `json:"warnings"`
			Errors   map[string]int64 `json:"errors"`
		}
		if len(r.Wsbench) > 0 && json.Unmarshal(r.Wsbench, &wb) == nil {
			if len(wb.Errors) > 0 {
				var kinds []string
				for k, v := range wb.Errors {
					kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
				}
				slices.Sort(kinds)
				w("- %s / %s run %d: wsbench errors: %s\n", r.Server, r.Scenario, r.Rep, strings.Join(kinds, ", "))
				any = true
			}
			for _, wm := range wb.Warnings {
				if strings.Contains(wm, "saturated") {
					wm = "wsbench was CPU-saturated: this row measures the load generator as much as the server"
				}
				w("- %s / %s run %d: wsbench warning: %s\n", r.Server, r.Scenario, r.Rep, wm)
				any = true
			}
		}
	}
	if !any {
		w("- no failed runs and no wsbench errors or warnings\n")
	}
	if len(res.Profiles) > 0 {
		w("\n## wsloop CPU profiles (separate runs with -cpuprofile, not in the tables)\n\n")
		for _, p := range res.Profiles {
			w("- %s: %s — `%s`, top functions in `%s`\n", p.Scenario, p.Headline, p.Profile, p.Top)
		}
	}
	w("\n## Commands\n\n")
	w("Each run, as started (ports are picked free per run):\n\n")
	for _, r := range res.Runs {
		if r.Rep == 1 && r.Skipped == "" {
			w("- %s / %s: `%s` then `%s`\n", r.Server, r.Scenario, r.ServerCommand, r.BenchCommand)
		}
	}
	w("\nRaw wsbench reports and server samples: results.json. Chart: chart.svg (chart.png).\n")
	return b.String()
}
