package main

import (
	"runtime"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 ns .. 1 h with 3 significant digits.
const (
	histMin    = 1
	histMax    = int64(time.Hour)
	histDigits = 3
)

// latencyRecorder is a set of HDR histograms, sharded so that thousands of
// connection goroutines do not all contend on one lock. A caller passes a
// hint (its connection or worker number) to pick a shard.
type latencyRecorder struct {
	shards []latencyShard
}

type latencyShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep shards' locks on separate cache lines
}

func newLatencyRecorder() *latencyRecorder {
	n := min(max(2*runtime.GOMAXPROCS(0), 2), 16)
	r := &latencyRecorder{shards: make([]latencyShard, n)}
	for i := range r.shards {
		r.shards[i].h = newHist()
	}
	return r
}

// record adds one latency sample.
func (r *latencyRecorder) record(hint int, d time.Duration) {
	v := int64(d)
	if v < histMin {
		v = histMin
	} else if v > histMax {
		v = histMax
	}
	s := &r.shards[uint(hint)%uint(len(r.shards))]
	s.mu.Lock()
	_ = s.h.RecordValue(v) // in range by construction
	s.mu.Unlock()
}

// merged returns the shards merged into one histogram.
func (r *latencyRecorder) merged() *hdrhistogram.Histogram {
	all := newHist()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		all.Merge(s.h)
		s.mu.Unlock()
	}
	return all
}

// newHist returns an empty histogram of wsbench's range and precision.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// summarize returns a histogram's percentiles in microseconds.
func summarize(h *hdrhistogram.Histogram) *latencySummary {
	if h.TotalCount() == 0 {
		return &latencySummary{}
	}
	us := func(v int64) float64 { return round3(float64(v) / 1e3) }
	return &latencySummary{
		Count: h.TotalCount(),
		Min:   us(h.Min()),
		Mean:  round3(h.Mean() / 1e3),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// latencySummary holds latency percentiles in microseconds.
type latencySummary struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func round3(f float64) float64 {
	if f >= 0 {
		return float64(int64(f*1000+0.5)) / 1000
	}
	return float64(int64(f*1000-0.5)) / 1000
}
