package main

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestCPUAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	pts := []cpuPoint{{t0, 1}, {t0.Add(10 * time.Millisecond), 1.010}, {t0.Add(20 * time.Millisecond), 1.030}}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{-time.Second, 1},
		{0, 1},
		{5 * time.Millisecond, 1.005},
		{15 * time.Millisecond, 1.020},
		{20 * time.Millisecond, 1.030},
		{time.Second, 1.030},
	} {
		if got := cpuAt(pts, t0.Add(c.at)); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("cpuAt(+%v) = %v, want %v", c.at, got, c.want)
		}
	}
}

// TestReadCPU checks that the schedstat sum grows with the CPU this
// process burns, in seconds: never more than the wall time that passed
// (the test spins on one goroutine), and it does move.
func TestReadCPU(t *testing.T) {
	pid := os.Getpid()
	start, c0 := time.Now(), readCPU(pid)
	x := 0
	for readCPU(pid)-c0 < 0.02 && time.Since(start) < 20*time.Second {
		for range 100000 {
			x++
		}
	}
	d, wall := readCPU(pid)-c0, time.Since(start).Seconds()
	if d < 0.02 {
		t.Fatalf("CPU time did not move: %.4f s in %.1f s of spinning (x=%d)", d, wall, x)
	}
	if procs := float64(runtime.GOMAXPROCS(0)); d > wall*procs+0.05 {
		t.Fatalf("%.4f s of CPU in %.4f s of wall time on %v CPUs", d, wall, procs)
	}
}

func TestBurstStart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }
	// Idle but for a blip before after (t0+10ms), a little background
	// work, then flat out from t0+32ms (3 of the interval's 5 ms).
	pts := []cpuPoint{
		{t0, 1}, {t0.Add(ms(5)), 1.004}, {t0.Add(ms(10)), 1.004},
		{t0.Add(ms(15)), 1.0041}, {t0.Add(ms(20)), 1.0042}, {t0.Add(ms(25)), 1.0042},
		{t0.Add(ms(30)), 1.0042}, {t0.Add(ms(35)), 1.0072}, {t0.Add(ms(40)), 1.0122},
	}
	got, ok := burstStart(pts, t0.Add(ms(10)))
	if !ok || got.Sub(t0) != ms(32) {
		t.Errorf("burstStart = +%v, %v; want +32ms, true", got.Sub(t0), ok)
	}
	// The blip before after is not the burst; from t0 it is.
	if got, ok := burstStart(pts, t0); !ok || got.Sub(t0) != ms(1) {
		t.Errorf("burstStart from t0 = +%v, %v; want +1ms, true", got.Sub(t0), ok)
	}
	// Busy for the whole first interval: it began at the interval's start.
	busy := []cpuPoint{{t0, 1}, {t0.Add(ms(5)), 1.006}}
	if got, ok := burstStart(busy, t0); !ok || got != t0 {
		t.Errorf("burstStart(busy) = +%v, %v; want +0, true", got.Sub(t0), ok)
	}
	// Never busy: not found.
	if _, ok := burstStart(pts[:7], t0.Add(ms(10))); ok {
		t.Error("burstStart found a burst in idle samples")
	}
}
