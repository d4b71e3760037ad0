package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Results over time: with -series (or -chart) a sampler takes the run's
// counters every -series-interval, with the main latency's histogram for
// that interval alone (the difference of two snapshots of the cumulative
// one, so recording costs nothing more), and the run writes the points as
// JSON lines or CSV, and draws them. In a run spread over processes every
// child samples on the same clock (the parent's start) and the parent
// adds the points up, merging their histograms.

// tick is one point of the series: what happened in the interval that
// ends T seconds after the start.
type tick struct {
	T       float64 `json:"t"`
	Open    int64   `json:"open"`    // connections open at T
	Opened  int64   `json:"opened"`  // connections opened in the interval
	Failed  int64   `json:"failed"`  // dials that failed in the interval
	Ops     int64   `json:"ops"`     // the scenario's operations in the interval: opened, msgs, deliveries, upgrades
	Rate    float64 `json:"rate"`    // ops per second
	Errors  int64   `json:"errors"`  // errors counted in the interval
	Samples int64   `json:"samples"` // latency samples in the interval
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	Max     float64 `json:"max_us"`

	Index int     `json:"i"`              // interval number, from 1
	Secs  float64 `json:"secs"`           // the interval's length (the last one may be short)
	Hist  string  `json:"hist,omitempty"` // child to parent: the interval's histogram
	hist  *hdrhistogram.Histogram
}

// seriesLatency is the latency the series follows: the scenario's main one.
func (b *bench) seriesLatency() *latencyRecorder {
	switch b.cfg.Scenario {
	case scEcho, scBroadcast:
		return b.mainLat
	}
	return b.connLat
}

// sampler takes the series of one process.
type sampler struct {
	b      *bench
	origin time.Time
	every  time.Duration
	emit   func(tick)

	prev       progressSnap
	prevCounts []int64
	last       time.Time
	k          int

	stop chan struct{}
	wg   sync.WaitGroup
}

// startSampler samples b every interval from origin, handing each point to
// emit; nil without -series and -chart.
func startSampler(b *bench, origin time.Time, emit func(tick)) *sampler {
	if !b.cfg.wantSeries() {
		return nil
	}
	s := &sampler{b: b, origin: origin, every: b.cfg.SeriesInterval, emit: emit, last: origin, stop: make(chan struct{})}
	s.wg.Go(s.loop)
	return s
}

func (s *sampler) loop() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		due := s.origin.Add(time.Duration(s.k+1) * s.every)
		t.Reset(time.Until(due))
		select {
		case <-t.C:
			s.sample(time.Now())
		case <-s.stop:
			return
		}
	}
}

// index is the number of the point taken at now: the intervals completed
// by then, or the next one for a last short interval. Points are numbered
// by the clock, so that a late sample skips the intervals it missed (and
// processes sampling the same clock agree).
func (s *sampler) index(now time.Time) int {
	return max(int(now.Sub(s.origin)/s.every), s.k+1)
}

// end stops the sampler after a last (short) point.
func (s *sampler) end() {
	if s == nil {
		return
	}
	close(s.stop)
	s.wg.Wait()
	s.sample(time.Now()) // the rest, so that the points add up to the run
}

// sample takes the point that ends at now.
func (s *sampler) sample(now time.Time) {
	s.k = s.index(now)
	snap := s.b.snapshot()
	h := s.b.seriesLatency().merged()
	cur := h.Export()
	diff := slices.Clone(cur.Counts)
	if len(s.prevCounts) == len(diff) {
		for i, n := range s.prevCounts {
			diff[i] -= n
		}
	}
	s.prevCounts = cur.Counts
	cur.Counts = diff
	ih := hdrhistogram.Import(cur)
	secs := now.Sub(s.last).Seconds()
	tk := tick{
		T:      round3(now.Sub(s.origin).Seconds()),
		Index:  s.k,
		Secs:   round3(secs),
		Open:   snap.Open,
		Opened: snap.Opened - s.prev.Opened,
		Failed: snap.Failed - s.prev.Failed,
		Ops:    snap.Ops - s.prev.Ops,
		Errors: snap.Errors - s.prev.Errors,
		hist:   ih,
	}
	if secs > 0 {
		tk.Rate = round3(float64(tk.Ops) / secs)
	}
	tk.summarize()
	s.prev, s.last = snap, now
	s.emit(tk)
}

// summarize fills the latency fields from the interval's histogram.
func (t *tick) summarize() {
	h := t.hist
	t.Samples = h.TotalCount()
	if t.Samples == 0 {
		t.P50, t.P99, t.Max = 0, 0, 0
		return
	}
	t.P50 = round3(float64(h.ValueAtQuantile(50)) / 1e3)
	t.P99 = round3(float64(h.ValueAtQuantile(99)) / 1e3)
	t.Max = round3(float64(h.Max()) / 1e3)
}

// seriesMerger adds up the points of several processes by interval.
type seriesMerger struct {
	byIndex map[int]*tick
}

func (m *seriesMerger) add(t tick) {
	if m.byIndex == nil {
		m.byIndex = map[int]*tick{}
	}
	if t.Hist != "" {
		if h, err := hdrhistogram.Decode([]byte(t.Hist)); err == nil {
			t.hist = h
		}
	}
	if t.hist == nil {
		t.hist = newHist()
	}
	t.Hist = ""
	dst := m.byIndex[t.Index]
	if dst == nil {
		m.byIndex[t.Index] = &t
		return
	}
	dst.T = max(dst.T, t.T)
	dst.Secs = max(dst.Secs, t.Secs)
	dst.Open += t.Open
	dst.Opened += t.Opened
	dst.Failed += t.Failed
	dst.Ops += t.Ops
	dst.Rate = round3(dst.Rate + t.Rate)
	dst.Errors += t.Errors
	dst.hist.Merge(t.hist)
}

// ticks returns the merged points in order.
func (m *seriesMerger) ticks() []tick {
	var out []tick
	for _, t := range m.byIndex {
		t.summarize()
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b tick) int { return a.Index - b.Index })
	return out
}

// wantSeries reports whether the run samples a series.
func (c *config) wantSeries() bool { return c.Series != "" || c.Chart != "" }

// writeSeries writes the points to path: CSV if it ends in .csv, JSON
// lines otherwise.
func writeSeries(path string, ticks []tick) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if strings.HasSuffix(strings.ToLower(path), ".csv") {
		fmt.Fprintln(w, "t,open,opened,failed,ops,rate,errors,samples,p50_us,p99_us,max_us")
		for _, t := range ticks {
			fmt.Fprintf(w, "%s,%d,%d,%d,%d,%s,%d,%d,%s,%s,%s\n", num(t.T), t.Open, t.Opened, t.Failed, t.Ops, num(t.Rate),
				t.Errors, t.Samples, num(t.P50), num(t.P99), num(t.Max))
		}
	} else {
		enc := json.NewEncoder(w)
		for _, t := range ticks {
			if err := enc.Encode(t); err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
