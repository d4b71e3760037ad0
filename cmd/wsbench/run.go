package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// Exit statuses.
const (
	exitOK     = 0
	exitErrors = 1
	exitUsage  = 2
)

// run is the whole command: it parses args, runs the scenario (in this
// process, or spread over several), writes the report to stdout and
// progress/diagnostics to stderr, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args)
	if errors.Is(err, errHelp) {
		printUsage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: %v\nRun 'wsbench -h' for usage.\n", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tgts, err := resolveTargets(ctx, cfg.URLs)
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: %v\n", err)
		return exitUsage
	}
	p, err := makePlan(cfg, tgts)
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: %v\n", err)
		return exitUsage
	}

	if cfg.CPUProfile != "" && p.procs == 1 { // processes of a spread run write FILE.N
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "wsbench: -cpuprofile: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "wsbench: -cpuprofile: %v\n", err)
			return exitUsage
		}
		defer pprof.StopCPUProfile()
	}

	var res *result
	if p.procs > 1 {
		prog := startProgress(stderr, cfg, nil)
		res, err = runParent(ctx, cfg, args, p, tgts, stderr, prog)
		prog.stop()
		if err != nil {
			fmt.Fprintf(stderr, "wsbench: %v\n", err)
			return exitErrors
		}
	} else {
		b := newBench(cfg, tgts, p.slots(cfg, 0), p.srcIPs[0])
		for _, w := range b.preflight() {
			fmt.Fprintf(stderr, "wsbench: warning: %s\n", w)
			b.warn(w)
		}
		prog := startProgress(stderr, cfg, b.snapshot)
		var ticks []tick
		smp := startSampler(b, time.Now(), func(t tick) { ticks = append(ticks, t) })
		res = runScenario(ctx, b)
		smp.end()
		prog.stop()
		res.series = ticks
	}

	judge(cfg, res)
	if cfg.Series != "" {
		if err := writeSeries(cfg.Series, res.series); err != nil {
			fmt.Fprintf(stderr, "wsbench: -series: %v\n", err)
			return exitErrors
		}
	}
	if cfg.Chart != "" {
		if err := os.WriteFile(cfg.Chart, []byte(chartSVG(res)), 0o644); err != nil {
			fmt.Fprintf(stderr, "wsbench: -chart: %v\n", err)
			return exitErrors
		}
	}
	if cfg.JSON {
		err = writeJSON(stdout, res)
	} else {
		err = writeTable(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: writing the report: %v\n", err)
		return exitErrors
	}
	if !res.OK {
		return exitErrors
	}
	return exitOK
}

// judge evaluates the thresholds and decides whether the run passed: every
// threshold holds and, unless thresholds were given without -max-errors,
// the errors are within -max-errors.
func judge(cfg *config, r *result) {
	r.Failures = nil
	if len(cfg.thresholds) == 0 || cfg.maxErrorsSet {
		if r.ErrorTotal > cfg.MaxErrors {
			r.Failures = append(r.Failures, fmt.Sprintf("%d errors > -max-errors %d", r.ErrorTotal, cfg.MaxErrors))
		}
	}
	r.Thresholds = nil
	for _, t := range cfg.thresholds {
		tr := t.eval(r)
		r.Thresholds = append(r.Thresholds, tr)
		if !tr.OK {
			why := "observed " + formatObserved(tr)
			if tr.Note != "" {
				why = tr.Note
			}
			r.Failures = append(r.Failures, fmt.Sprintf("threshold %s failed (%s)", t.expr, why))
		}
	}
	r.OK = len(r.Failures) == 0
}

// runScenario runs b's scenario in this process and returns its result,
// with errors, warnings and CPU use.
func runScenario(ctx context.Context, b *bench) *result {
	user0, sys0, cpuOK := processCPU()
	t0 := time.Now()
	var res *result
	switch b.cfg.Scenario {
	case scConnect:
		res = runConnect(ctx, b)
	case scEcho:
		res = runEcho(ctx, b)
	case scBroadcast:
		res = runBroadcast(ctx, b)
	case scHandshake:
		res = runHandshake(ctx, b)
	}
	elapsed := time.Since(t0)
	res.Start = t0
	res.Interrupted = ctx.Err() != nil
	res.Warnings = append(res.Warnings, b.warnings...)
	res.finish(b, elapsed, measureCPU(user0, sys0, cpuOK, elapsed))
	return res
}

// ready waits, when the run is spread over processes, until every process
// has opened its connections. It reports false if the run was stopped
// meanwhile.
func (b *bench) ready(ctx context.Context) bool {
	if b.child == nil {
		return ctx.Err() == nil
	}
	return b.child.ready(ctx, []int32{int32(b.opened.Load())}) != nil
}

// progressLabel names what each scenario's progress counter counts.
var progressLabel = map[string]string{
	scConnect:   "opened",
	scEcho:      "msgs",
	scBroadcast: "deliveries",
	scHandshake: "upgrades",
}
