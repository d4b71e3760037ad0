package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The child side of a run spread over processes. The parent starts each
// child with childEnv set and writes one childSpec line to its standard
// input; the child opens its share of the connections, says it is ready,
// waits for "go", runs, and writes its report. Lines on standard output
// are childMsg values in JSON; commands on standard input are parentCmd
// values. A child that loses its parent (standard input ends) stops as if
// told to.

// childEnv marks a wsbench process started by another one.
const childEnv = "WSBENCH_CHILD"

// childSpec tells a child what to do: the parent's command line, and which
// of the processes it is.
type childSpec struct {
	Args  []string `json:"args"`
	Index int      `json:"index"`
	Procs int      `json:"procs"`
	Start int64    `json:"start"` // the parent's start (wall clock, ns): the series' origin
}

// childMsg is one line a child writes to its parent.
type childMsg struct {
	Type     string        `json:"type"`              // "ready", "progress", "tick" or "report"
	Members  []int32       `json:"members,omitempty"` // ready: connections open per room
	Progress *progressSnap `json:"progress,omitempty"`
	Tick     *tick         `json:"tick,omitempty"`
	Report   *childReport  `json:"report,omitempty"`
}

// parentCmd is one line a parent writes to a child.
type parentCmd struct {
	Cmd      string  `json:"cmd"`                // "go", "finish" or "stop"
	Expected []int32 `json:"expected,omitempty"` // go: receivers per room in the whole run
	Start    int64   `json:"start,omitempty"`    // go: the run's time origin (wall clock, ns)
}

// Child commands.
const (
	cmdGo     = "go"     // every process is ready: start
	cmdFinish = "finish" // broadcast: every delivery is in (or -drain passed): close
	cmdStop   = "stop"   // interrupted: stop now and report
)

// progressSnap is a process's counters, sent to the parent every
// progressEvery.
type progressSnap struct {
	Open    int64 `json:"open"`
	Opened  int64 `json:"opened"`
	Failed  int64 `json:"failed"`
	Ops     int64 `json:"ops"`
	Errors  int64 `json:"errors"`
	Phase   int   `json:"phase"`
	Unique  int64 `json:"unique,omitempty"`    // broadcast: first copies received
	Expect  int64 `json:"expected,omitempty"`  // broadcast: deliveries owed for what this process published
	Publish int64 `json:"published,omitempty"` // broadcast: messages published
	PubDone bool  `json:"pubs_done,omitempty"` // broadcast: this process's publishers are done
}

// progressEvery is how often a child sends its counters.
const progressEvery = 50 * time.Millisecond

// childLink is a child's connection to its parent.
type childLink struct {
	mu  sync.Mutex
	enc *json.Encoder

	goCmd  chan parentCmd // the go command
	finish chan struct{}  // closed by the finish command
	start  int64          // the run's time origin, from the go command
}

// send writes one message to the parent.
func (l *childLink) send(m childMsg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.enc.Encode(m) // a parent that went away is noticed on stdin
}

// ready tells the parent that this process's connections are open, with
// how many per room, and waits for every process: it returns the receivers
// per room over the whole run, or nil if ctx ended first.
func (l *childLink) ready(ctx context.Context, members []int32) []int32 {
	l.send(childMsg{Type: "ready", Members: members})
	select {
	case c := <-l.goCmd:
		l.start = c.Start
		return c.Expected
	case <-ctx.Done():
		return nil
	}
}

// waitFinish waits for the parent's finish command.
func (l *childLink) waitFinish(ctx context.Context) {
	select {
	case <-l.finish:
	case <-ctx.Done():
	}
}

// runChild is main for a child process.
func runChild(stdin io.Reader, stdout, stderr io.Writer) int {
	// Interrupts go to the whole process group; the parent decides.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	var spec childSpec
	if err == nil {
		err = json.Unmarshal(line, &spec)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: child: reading the spec from the parent: %v\n", err)
		return exitUsage
	}
	cfg, err := parseConfig(spec.Args)
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: child: %v\n", err)
		return exitUsage
	}
	cfg.Procs = spec.Procs
	cfg.Quiet = true
	if cfg.CPUProfile != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", cfg.CPUProfile, spec.Index))
		if err == nil {
			defer f.Close()
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "wsbench: -cpuprofile: %v\n", err)
			return exitUsage
		}
		defer pprof.StopCPUProfile()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	link := &childLink{enc: json.NewEncoder(stdout), goCmd: make(chan parentCmd, 1), finish: make(chan struct{})}
	go func() {
		dec := json.NewDecoder(in)
		finished := false
		for {
			var c parentCmd
			if err := dec.Decode(&c); err != nil {
				cancel() // the parent is gone
				return
			}
			switch c.Cmd {
			case cmdGo:
				link.goCmd <- c
			case cmdFinish:
				if !finished {
					finished = true
					close(link.finish)
				}
			case cmdStop:
				cancel()
			}
		}
	}()

	tgts, err := resolveTargets(ctx, cfg.URLs)
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: %v\n", err)
		return exitUsage
	}
	p, err := makePlan(cfg, tgts)
	if err == nil && (spec.Index < 0 || spec.Index >= p.procs) {
		err = fmt.Errorf("child %d of %d processes", spec.Index, p.procs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: child: %v\n", err)
		return exitUsage
	}
	b := newBench(cfg, tgts, p.slots(cfg, spec.Index), p.srcIPs[spec.Index])
	b.child = link
	b.childIndex, b.procs = spec.Index, p.procs
	b.spanning = p.spanning()
	for _, w := range b.preflight() {
		fmt.Fprintf(stderr, "wsbench: warning: %s\n", w)
	}

	stopProgress := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				snap := b.snapshot()
				link.send(childMsg{Type: "progress", Progress: &snap})
			}
		}
	})
	smp := startSampler(b, time.Unix(0, spec.Start), func(t tick) {
		if b, err := t.hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
			t.Hist = string(b)
		}
		link.send(childMsg{Type: "tick", Tick: &t})
	})
	res := runScenario(ctx, b)
	smp.end()
	close(stopProgress)
	wg.Wait()
	rep, err := res.childReport()
	if err != nil {
		fmt.Fprintf(stderr, "wsbench: child: encoding the report: %v\n", err)
		return exitErrors
	}
	link.send(childMsg{Type: "report", Report: rep})
	return exitOK
}
