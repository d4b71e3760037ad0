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

// run is the whole command: it parses args, runs the scenario, writes the
// report to stdout and progress/diagnostics to stderr, and returns the exit
// status.
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
	if err := checkFileLimit(cfg); err != nil {
		fmt.Fprintf(stderr, "wsbench: %v\n", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tgts, err := resolveTargets(ctx, cfg.URLs)
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: %v\n", err)
		return exitUsage
	}
	b := newBench(cfg, tgts)
	warnings := b.preflight()
	for _, w := range warnings {
		fmt.Fprintf(stderr, "wsbench: warning: %s\n", w)
	}

	if cfg.CPUProfile != "" {
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
	user0, sys0, cpuOK := processCPU()
	t0 := time.Now()
	prog := startProgress(stderr, b, progressLabel[cfg.Scenario])
	var res *result
	switch cfg.Scenario {
	case scConnect:
		res = runConnect(ctx, b)
	case scEcho:
		res = runEcho(ctx, b)
	case scBroadcast:
		res = runBroadcast(ctx, b)
	case scHandshake:
		res = runHandshake(ctx, b)
	}
	prog.stop()
	elapsed := time.Since(t0)
	res.Start = t0
	res.Interrupted = ctx.Err() != nil
	res.Warnings = append(res.Warnings, warnings...)
	res.Warnings = append(res.Warnings, b.warnings...)
	res.finish(b, elapsed, measureCPU(user0, sys0, cpuOK, elapsed))

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

// progressLabel names what each scenario's progress counter counts.
var progressLabel = map[string]string{
	scConnect:   "opened",
	scEcho:      "msgs",
	scBroadcast: "deliveries",
	scHandshake: "upgrades",
}

// checkFileLimit raises the soft open-file limit to the hard one and fails
// when the run would need more descriptors than that.
func checkFileLimit(cfg *config) error {
	soft, hard, ok := raiseFileLimit()
	if !ok {
		return nil
	}
	need := cfg.fdsNeeded()
	if need <= soft {
		return nil
	}
	holdable := uint64(0)
	if soft > fdReserve {
		holdable = soft - fdReserve
	}
	what := "connections"
	if cfg.Scenario == scHandshake {
		what = "workers"
	}
	return fmt.Errorf("-conns %d needs about %d open files, but this process may open only %d (open-file limit, soft raised to hard %d); "+
		"one wsbench process can hold about %d %s here. Run several wsbench processes with fewer -conns each, "+
		"or raise the limit first (ulimit -n %d, LimitNOFILE= for services, or the hard limit in /etc/security/limits.conf)",
		cfg.Conns, need, soft, hard, holdable, what, need)
}
