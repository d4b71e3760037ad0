package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// chartSVG draws a run over time: connections open, the operations' rate,
// the latency of each interval (p50 and p99) and the errors, in four panels
// that share the time axis. It is plain SVG written by hand, as bench/
// draws its charts: no dependency, and it opens in any browser
// (rsvg-convert or Chromium turn it into a PNG).
func chartSVG(r *result) string {
	const (
		width  = 960
		left   = 80
		right  = 30
		top    = 70
		panelH = 150
		gap    = 50
	)
	ticks := r.series
	xs := make([]float64, len(ticks))
	open := make([]float64, len(ticks))
	rate := make([]float64, len(ticks))
	p50 := make([]float64, len(ticks))
	p99 := make([]float64, len(ticks))
	errs := make([]float64, len(ticks))
	for i, t := range ticks {
		xs[i] = t.T
		open[i] = float64(t.Open)
		rate[i] = t.Rate
		p50[i], p99[i] = math.NaN(), math.NaN() // no samples: no point
		if t.Samples > 0 {
			p50[i] = t.P50 / 1e3
			p99[i] = t.P99 / 1e3
		}
		errs[i] = float64(t.Errors)
	}
	label := progressLabel[r.Scenario]
	latName := defaultLatency[r.Scenario]
	if r.Scenario == scBroadcast {
		latName = "delivery"
	}
	panels := []struct {
		title  string
		names  []string
		colors []string
		ys     [][]float64
		bars   bool
	}{
		{"connections open", []string{"open"}, []string{"#4c6ef5"}, [][]float64{open}, false},
		{label + " per second", []string{label + "/s"}, []string{"#e8590c"}, [][]float64{rate}, false},
		{latName + " latency of each interval (ms)", []string{"p50", "p99"}, []string{"#2b8a3e", "#c2255c"}, [][]float64{p50, p99}, false},
		{"errors in each interval", []string{"errors"}, []string{"#e03131"}, [][]float64{errs}, true},
	}
	height := top + len(panels)*(panelH+gap) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", left, esc(fmt.Sprintf("wsbench %s  %s", r.Scenario, r.URL)))
	status := "ok"
	if !r.OK {
		status = "FAILED: " + strings.Join(r.Failures, "; ")
	}
	fmt.Fprintf(&b, `<text x="%d" y="44" fill="#495057">%s</text>`+"\n", left, esc(truncate(paramLine(r), 140)))
	fmt.Fprintf(&b, `<text x="%d" y="60" fill="#495057">%s</text>`+"\n", left, esc(truncate(fmt.Sprintf("%s, %d points every %v; result %s", r.Start.Format("2006-01-02 15:04:05"), len(ticks), r.Params.SeriesInterval, status), 140)))
	xmax := niceMax(maxOf(xs))
	for i, p := range panels {
		y0 := top + i*(panelH+gap) + 20
		drawSeriesPanel(&b, left, y0, width-left-right, panelH, p.title, p.names, p.colors, xs, p.ys, xmax, p.bars)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// drawSeriesPanel draws one panel: axes, grid, and the series as lines (or
// bars) over time.
func drawSeriesPanel(b *strings.Builder, x0, y0, w, h int, title string, names, colors []string, xs []float64, ys [][]float64, xmax float64, bars bool) {
	ymax := 0.0
	for _, y := range ys {
		ymax = max(ymax, maxOf(y))
	}
	ymax = niceMax(ymax)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0, y0-8, esc(title))
	lx := x0 + w
	for i := len(names) - 1; i >= 0; i-- {
		lx -= 70
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx, y0-14, colors[i], lx+16, y0-8, esc(names[i]))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#f8f9fa" stroke="#ced4da"/>`+"\n", x0, y0, w, h)
	px := func(x float64) float64 { return float64(x0) + x/xmax*float64(w) }
	py := func(y float64) float64 { return float64(y0+h) - y/ymax*float64(h) }
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		y := py(f * ymax)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#dee2e6"/>`+"\n", x0, x0+w, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, esc(shortNum(f*ymax)))
		x := px(f * xmax)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%ss</text>`+"\n", x, y0+h+16, esc(shortNum(f*xmax)))
	}
	if len(xs) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#868e96">no points</text>`+"\n", x0+w/2-30, y0+h/2)
		return
	}
	for k, y := range ys {
		if bars {
			bw := math.Max(1, float64(w)/float64(len(xs))*0.8)
			for i := range xs {
				if y[i] <= 0 {
					continue
				}
				fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n",
					px(xs[i])-bw, py(y[i]), bw, float64(y0+h)-py(y[i]), colors[k])
			}
			continue
		}
		// One polyline per run of points that have a value.
		var pts strings.Builder
		flush := func() {
			if pts.Len() > 0 {
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colors[k], strings.TrimSpace(pts.String()))
				pts.Reset()
			}
		}
		for i := range xs {
			if math.IsNaN(y[i]) {
				flush()
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(xs[i]), py(y[i]))
		}
		flush()
	}
}

func esc(s string) string { return html.EscapeString(s) }

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			m = max(m, x)
		}
	}
	return m
}

// niceMax rounds v up to a round number: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6
// or 8 times a power of ten (1 for nothing).
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// shortNum shows an axis value: 1.5k, 20M, 0.25.
func shortNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return strings.TrimSuffix(fmt.Sprintf("%.3g", v/1e9), ".0") + "G"
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}
