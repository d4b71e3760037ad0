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
	w     io.Writer
	tty   bool
	every time.Duration
	b     *bench
	label string // what b.ops counts, e.g. "msgs"

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
func startProgress(w io.Writer, b *bench, label string) *progress {
	if b.cfg.Quiet {
		return nil
	}
	p := &progress{w: w, tty: isTerminal(w), every: b.cfg.Interval, b: b, label: label, done: make(chan struct{})}
	if p.tty {
		p.every = 250 * time.Millisecond
	}
	p.start = time.Now()
	p.lastT = p.start
	p.wg.Go(p.loop)
	return p
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
	b := p.b
	ops := b.ops.Load()
	rate := 0.0
	if dt := now.Sub(p.lastT).Seconds(); dt > 0 {
		rate = float64(ops-p.lastOp) / dt
	}
	p.lastT, p.lastOp = now, ops
	return fmt.Sprintf("%-9s %6.1fs  open %d/%d  %s/s %.0f  %s %d  failed %d  errors %d",
		b.cfg.Scenario, now.Sub(p.start).Seconds(), b.open.Load(), b.cfg.Conns,
		p.label, rate, p.label, ops, b.dialFailed.Load(), b.errs.Total())
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
