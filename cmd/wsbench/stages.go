package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// stage is one step of -stages: over d, the connection count moves
// linearly from the previous stage's target (0 before the first) to target.
type stage struct {
	d      time.Duration
	target int
}

// maxStages bounds the -stages list.
const maxStages = 1000

// parseStages parses "30s:10000,60s:10000,10s:0".
func parseStages(s string) ([]stage, error) {
	var st []stage
	for item := range strings.SplitSeq(s, ",") {
		ds, ts, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			return nil, fmt.Errorf("stage %q: want DURATION:TARGET, e.g. 30s:1000", item)
		}
		d, err := time.ParseDuration(strings.TrimSpace(ds))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("stage %q: bad duration %q", item, ds)
		}
		n, err := strconv.Atoi(strings.TrimSpace(ts))
		if err != nil || n < 0 || n > maxConns {
			return nil, fmt.Errorf("stage %q: target %q: want 0..%d connections", item, ts, maxConns)
		}
		st = append(st, stage{d, n})
		if len(st) > maxStages {
			return nil, fmt.Errorf("more than %d stages", maxStages)
		}
	}
	if stagesDuration(st) <= 0 {
		return nil, fmt.Errorf("the stages last no time")
	}
	return st, nil
}

func maxTarget(st []stage) int {
	m := 0
	for _, s := range st {
		m = max(m, s.target)
	}
	return m
}

func stagesDuration(st []stage) time.Duration {
	var d time.Duration
	for _, s := range st {
		d += s.d
	}
	return d
}

// targetAt returns the connection count the stages ask for at t from the
// start (rounded down); past the end, the last target.
func targetAt(st []stage, t time.Duration) int {
	prev := 0
	for _, s := range st {
		if t < s.d {
			return prev + int(float64(s.target-prev)*float64(t)/float64(s.d))
		}
		t -= s.d
		prev = s.target
	}
	return prev
}

// shareOf returns how many of the first n connections process k of procs
// holds (connections are dealt out in turn).
func shareOf(n, k, procs int) int {
	if n <= k {
		return 0
	}
	return (n - k + procs - 1) / procs
}
