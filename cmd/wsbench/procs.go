package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// The parent side of a run spread over processes: it starts one child per
// share of the plan (the same executable, with childEnv set), waits until
// every child has opened its connections, sends "go" with the receivers per
// room over all of them, decides when a broadcast is over from their
// progress, and merges their reports into one.

// childProc is one child as its parent sees it.
type childProc struct {
	k    int
	cmd  *exec.Cmd
	enc  *json.Encoder
	in   io.WriteCloser
	mu   sync.Mutex // guards enc
	gone bool       // its output ended

	last    progressSnap
	ready   bool
	members []int32
	report  *childReport
	failed  string
}

func (c *childProc) command(cmd parentCmd) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.enc.Encode(cmd) // a child that is gone is noticed on its output
}

// childEvent is a line from a child, or the end of its output (err set).
type childEvent struct {
	k   int
	msg childMsg
	err error
}

// runParent runs the plan's children and returns the merged result.
func runParent(ctx context.Context, cfg *config, args []string, p *plan, tgts []*target, stderr io.Writer, prog *progress) (*result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding wsbench's own executable to start %d processes: %w", p.procs, err)
	}
	events := make(chan childEvent, 64)
	start := nowNS()
	var series seriesMerger
	kids := make([]*childProc, p.procs)
	var readers sync.WaitGroup
	for k := range kids {
		c := &childProc{k: k}
		c.cmd = exec.Command(exe)
		c.cmd.Env = append(os.Environ(), childEnv+"=1")
		c.cmd.Stderr = &prefixWriter{w: stderr, prefix: fmt.Sprintf("wsbench[%d]: ", k)}
		c.in, err = c.cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := c.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := c.cmd.Start(); err != nil {
			for _, o := range kids[:k] {
				_ = o.cmd.Process.Kill()
			}
			return nil, fmt.Errorf("starting process %d: %w", k, err)
		}
		c.enc = json.NewEncoder(c.in)
		_ = c.enc.Encode(childSpec{Args: args, Index: k, Procs: p.procs, Start: start})
		kids[k] = c
		readers.Go(func() {
			dec := json.NewDecoder(out)
			for {
				var m childMsg
				if err := dec.Decode(&m); err != nil {
					events <- childEvent{k: k, err: err}
					return
				}
				events <- childEvent{k: k, msg: m}
			}
		})
	}
	prog.setSource(func() progressSnap {
		var s progressSnap
		for _, c := range kids {
			s.Open += c.last.Open
			s.Opened += c.last.Opened
			s.Failed += c.last.Failed
			s.Ops += c.last.Ops
			s.Errors += c.last.Errors
		}
		return s
	})

	var (
		expected   []int32
		started    bool
		finished   bool
		stopped    bool
		stopTime   time.Time
		nReady     int
		nGone      int
		lastSum    int64 = -1
		lastChange       = time.Now()
	)
	all := func(cmd parentCmd) {
		for _, c := range kids {
			if !c.gone {
				c.command(cmd)
			}
		}
	}
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	done := ctx.Done()
	for nGone < len(kids) {
		select {
		case ev := <-events:
			c := kids[ev.k]
			switch {
			case ev.err != nil:
				c.gone = true
				nGone++
				if c.report == nil {
					c.failed = "ended without a report"
					if !stopped {
						// One share missing makes the rest meaningless.
						stopped, stopTime = true, time.Now()
						all(parentCmd{Cmd: cmdStop})
					}
				}
			case ev.msg.Type == "ready" && !c.ready:
				c.ready = true
				c.members = ev.msg.Members
				nReady++
			case ev.msg.Type == "progress" && ev.msg.Progress != nil:
				c.last = *ev.msg.Progress
			case ev.msg.Type == "tick" && ev.msg.Tick != nil:
				series.add(*ev.msg.Tick)
			case ev.msg.Type == "report":
				c.report = ev.msg.Report
			}
		case <-tick.C:
		case <-done:
			done = nil
			if !stopped {
				stopped, stopTime = true, time.Now()
				all(parentCmd{Cmd: cmdStop})
			}
		}
		prog.update()
		if !started && !stopped && nReady == len(kids) {
			started = true
			expected = make([]int32, p.rooms)
			for _, c := range kids {
				for room, n := range c.members {
					if room < len(expected) {
						expected[room] += n
					}
				}
			}
			if cfg.Scenario == scBroadcast {
				sleepCtx(ctx, cfg.Settle)
			}
			all(parentCmd{Cmd: cmdGo, Expected: expected, Start: nowNS()})
			lastChange = time.Now()
		}
		if started && !finished && cfg.Scenario == scBroadcast {
			var unique, expect, published int64
			pubsDone := true
			for _, c := range kids {
				unique += c.last.Unique
				expect += c.last.Expect
				published += c.last.Publish
				pubsDone = pubsDone && (c.last.PubDone || c.gone)
			}
			over := pubsDone && unique >= expect
			if sum := unique + published; sum != lastSum {
				lastSum, lastChange = sum, time.Now()
			} else if time.Since(lastChange) >= cfg.Drain && (pubsDone || cfg.Messages > 0) {
				over = true
			}
			if over || stopped {
				finished = true
				all(parentCmd{Cmd: cmdFinish})
			}
		}
		if stopped && time.Since(stopTime) > 2*cfg.CloseTimeout+cfg.Drain+10*time.Second {
			for _, c := range kids {
				if !c.gone {
					_ = c.cmd.Process.Kill()
				}
			}
		}
	}
	readers.Wait()
	reps := make([]*childReport, len(kids))
	failures := make([]string, len(kids))
	for k, c := range kids {
		c.in.Close()
		if err := c.cmd.Wait(); err != nil && c.report == nil {
			c.failed = fmt.Sprintf("%s (%v)", c.failed, err)
		}
		reps[k], failures[k] = c.report, c.failed
	}
	if expected == nil {
		expected = make([]int32, p.rooms)
	}
	res := mergeReports(cfg, tgts, p, reps, expected, failures)
	res.Interrupted = res.Interrupted || ctx.Err() != nil
	res.series = series.ticks()
	return res, nil
}

// prefixWriter writes each line with a prefix; it is how a child's
// standard error reaches the parent's.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimPrefix(p.buf[:i+1], []byte("wsbench: "))
		if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, line); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
