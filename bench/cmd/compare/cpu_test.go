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
