package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress prints the state of a run to stderr while it runs: one line
// rewritten in place (carriage return) on a terminal, or a plain line every
// -interval otherwise.
type progress struct {
	w        io.Writer
	tty      bool
	every    time.Duration
	scenario string
	conns    int
	label    string // what ops counts, e.g. "msgs"

	mu     sync.Mutex
	source func() progressSnap // the counters: this process's, or the sum of the children's
	pushed bool                // source is called by update only, on its owner's goroutine
	snap   progressSnap        // the latest
	start  time.Time
	lastT  time.Time
	lastOp int64

	done chan struct{}
	wg   sync.WaitGroup
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress starts the reporter; it returns nil with -quiet.
func startProgress(w io.Writer, cfg *config, source func() progressSnap) *progress {
	if cfg.Quiet {
		return nil
	}
	p := &progress{w: w, tty: isTerminal(w), every: cfg.Interval, scenario: cfg.Scenario, conns: cfg.Conns,
		label: progressLabel[cfg.Scenario], source: source, done: make(chan struct{})}
	if p.tty {
		p.every = 250 * time.Millisecond
	}
	p.start = time.Now()
	p.lastT = p.start
	p.wg.Go(p.loop)
	return p
}

// setSource changes where the counters come from.
func (p *progress) setSource(source func() progressSnap) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.source, p.pushed = source, true
	p.mu.Unlock()
}

// update takes a new snapshot from the source now; for sources that must
// be read on their owner's goroutine.
func (p *progress) update() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.source != nil {
		p.snap = p.source()
	}
	p.mu.Unlock()
}

func (p *progress) loop() {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case now := <-t.C:
			line := p.line(now)
			if p.tty {
				fmt.Fprintf(p.w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(p.w, line)
			}
		}
	}
}

// line formats the current state, with the rate since the previous line.
func (p *progress) line(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.pushed && p.source != nil {
		p.snap = p.source()
	}
	s := p.snap
	rate := 0.0
	if dt := now.Sub(p.lastT).Seconds(); dt > 0 {
		rate = float64(s.Ops-p.lastOp) / dt
	}
	p.lastT, p.lastOp = now, s.Ops
	return fmt.Sprintf("%-9s %6.1fs  open %d/%d  %s/s %.0f  %s %d  failed %d  errors %d",
		p.scenario, now.Sub(p.start).Seconds(), s.Open, p.conns,
		p.label, rate, p.label, s.Ops, s.Failed, s.Errors)
}

// stop ends the reporter and clears the terminal line.
func (p *progress) stop() {
	if p == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
