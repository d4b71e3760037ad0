package main

import (
	"fmt"
	"html"
	"slices"
	"strings"
)

const (
	chartCols = 4
	panelW    = 430
	panelH    = 270
	chartTop  = 64
	chartW    = chartCols*panelW + 20
)

// chartHeight is the height of a chart of n panels.
func chartHeight(n int) int { return chartTop + max(1, (n+chartCols-1)/chartCols)*panelH + 30 }

type panel struct {
	Key   string
	Title string
	Unit  string
	Div   float64 // shown value = metric / Div
	Fmt   string
}

var panels = []panel{
	{"idle.rss_per_conn", "Idle memory per connection", "KiB RSS", 1024, "%.1f"},
	{"echo64.msgs_per_s", "Echo 64 B, 1000 conns", "k msgs/s", 1000, "%.0f"},
	{"echo16k.msgs_per_s", "Echo 16 KiB, 1000 conns", "k msgs/s", 1000, "%.1f"},
	{"echo64.cpu_us_per_msg", "Server CPU per 64 B echo", "µs per message", 1, "%.2f"},
	{"burst1000.deliveries_per_s", "Flat-out broadcast 1×1000 to 2000", "M deliveries/s", 1e6, "%.2f"},
	{"burst1000.cpu_ns_per_delivery", "Server CPU per delivery, 1×1000", "ns per delivery", 1, "%.0f"},
	{"burst20x100.deliveries_per_s", "Flat-out broadcast 20×100 to 2000", "M deliveries/s", 1e6, "%.2f"},
	{"deflate1000.deliveries_per_s", "Compressed 1 KiB text, 1×1000", "M deliveries/s", 1e6, "%.2f"},
	{"rooms.deliveries_per_s", "990 rooms × 20, all publishing", "M deliveries/s", 1e6, "%.2f"},
	{"handshake.upgrades_per_s", "Handshakes, 64 workers", "upgrades/s", 1, "%.0f"},
	{"handshake.cpu_us_per_upgrade", "Server CPU per upgrade", "µs per upgrade", 1, "%.1f"},
	{"idle-tls.rss_per_conn", "Idle memory per wss connection", "KiB RSS", 1024, "%.1f"},
	{"echo64-tls.msgs_per_s", "Echo 64 B over wss, 1000 conns", "k msgs/s", 1000, "%.0f"},
	{"handshake-tls.upgrades_per_s", "TLS handshakes + upgrades", "upgrades/s", 1, "%.0f"},
}

// shownPanels are the panels of the scenarios that ran.
func shownPanels(cfg *config) []panel {
	var ps []panel
	for _, p := range panels {
		sc, _, _ := strings.Cut(p.Key, ".")
		if slices.Contains(cfg.Scenarios, sc) {
			ps = append(ps, p)
		}
	}
	return ps
}

var barColor = map[string]string{
	"wsloop":  "#e8590c",
	"gorilla": "#4c6ef5",
	"gobwas":  "#4c6ef5",
	"nbio":    "#4c6ef5",
	"gws":     "#4c6ef5",
	"rawtcp":  "#868e96",
}

func metricBetter(cfg *config, key string) better { return metricByKey(cfg, key).Better }

func metricByKey(cfg *config, key string) metricDef {
	for _, sd := range scenarioDefs(cfg) {
		for _, m := range sd.Metrics {
			if m.Key == key {
				return m
			}
		}
	}
	return metricDef{Key: key, Label: key, Format: "%g"}
}

// chartSVG draws one horizontal bar chart per panel, servers as bars.
func chartSVG(cfg *config, res *results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	shown := shownPanels(cfg)
	chartH := chartHeight(len(shown))
	w(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n",
		chartW, chartH, chartW, chartH)
	w(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	w(`<text x="20" y="30" font-size="20" font-weight="bold">wsloop vs. Go WebSocket servers (server on 1 core, wsbench on another; median of %d runs)</text>`+"\n", cfg.Reps)
	w(`<text x="20" y="52" font-size="13" fill="#555">%s · %s · %d CPUs %s · orange = wsloop, blue = peers, grey = rawtcp floor (no WebSocket)</text>`+"\n",
		html.EscapeString(res.Date[:10]), html.EscapeString(res.GoVersion), res.Machine.NProc, html.EscapeString(res.Machine.CPUModel))
	for i, p := range shown {
		x0 := 10 + (i%chartCols)*panelW
		y0 := chartTop + (i/chartCols)*panelH
		drawPanel(&b, cfg, res, p, x0, y0)
	}
	w("</svg>\n")
	return b.String()
}

func drawPanel(b *strings.Builder, cfg *config, res *results, p panel, x0, y0 int) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	dir := ""
	switch metricBetter(cfg, p.Key) {
	case higher:
		dir = "higher is better"
	case lower:
		dir = "lower is better"
	}
	w(`<rect x="%d" y="%d" width="%d" height="%d" fill="#f8f9fa" stroke="#dee2e6"/>`+"\n", x0, y0, panelW-10, panelH-12)
	w(`<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", x0+12, y0+24, html.EscapeString(p.Title))
	w(`<text x="%d" y="%d" font-size="12" fill="#555">%s, %s</text>`+"\n", x0+12, y0+42, html.EscapeString(p.Unit), dir)
	maxV := 0.0
	vals := map[string]float64{}
	for _, s := range res.Servers {
		if v, ok := res.value(s, p.Key); ok {
			vals[s] = v / p.Div
			maxV = max(maxV, v/p.Div)
		}
	}
	labelW, barX := 70, x0+80
	barMax := float64(panelW - 10 - 80 - 70)
	rowH := (panelH - 12 - 60) / max(1, len(res.Servers))
	for k, s := range res.Servers {
		y := y0 + 56 + k*rowH
		w(`<text x="%d" y="%d" font-size="13" text-anchor="end">%s</text>`+"\n", x0+labelW, y+rowH/2+4, s)
		v, ok := vals[s]
		if !ok {
			w(`<text x="%d" y="%d" font-size="12" fill="#c92a2a">failed / not run</text>`+"\n", barX+4, y+rowH/2+4)
			continue
		}
		wd := 0.0
		if maxV > 0 {
			wd = barMax * v / maxV
		}
		w(`<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", barX, y+3, max(wd, 1), rowH-6, barColor[s])
		w(`<text x="%.1f" y="%d" font-size="12">%s</text>`+"\n", float64(barX)+max(wd, 1)+5, y+rowH/2+4, fmt.Sprintf(p.Fmt, v))
	}
}
