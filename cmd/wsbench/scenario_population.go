package main

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// The connect scenario with connections over time: -stages ramps the count
// up and down, -churn replaces connections at a rate, -reconnect brings
// back the clients a server sends away (a drain closes them with 1012), and
// the count is kept wherever the stages say, whatever closes. A controller
// looks every few milliseconds at how many connections are open, opening
// or waiting to reconnect, and opens or closes the difference, at most
// -connect-rate per second and -concurrency at a time.

// Close codes of RFC 6455's registry that gobwas/ws does not name.
const (
	statusServiceRestart ws.StatusCode = 1012
	statusTryAgainLater  ws.StatusCode = 1013
)

// reconnectCodes are the close codes after which a -reconnect client
// comes back: 1001 going away, 1012 service restart, 1013 try again later.
var reconnectCodes = []ws.StatusCode{ws.StatusGoingAway, statusServiceRestart, statusTryAgainLater}

// controlEvery is how often the controller compares the count with the
// target.
const controlEvery = 5 * time.Millisecond

// member is one open connection of the population.
type member struct {
	idx     int
	shift   int // its target: that many after the slot's own (see endpoint)
	c       *wsConn
	closing atomic.Bool // we started its closing handshake
}

// waiting is a slot that will be dialed at due: a reconnect (since is when
// the server closed it) or a retry after a failed dial. Both go to the next
// target of -url, if there are several: a client that a server sent away,
// or could not reach, tries another.
type waiting struct {
	idx   int
	shift int
	due   time.Time
	since time.Time // zero: not a reconnect
}

// population is the state of a connect run with connections over time.
type population struct {
	b    *bench
	rng  *mrand.Rand // guarded by mu
	wg   sync.WaitGroup
	recL *latencyRecorder // server close to reopened

	mu       sync.Mutex
	members  []*member // open, oldest first
	dialing  int
	waiting  []waiting
	free     []int       // slot numbers not in use
	fails    map[int]int // consecutive failed dials per slot
	closes   map[string]int64
	peak     int
	dialSeq  int
	reconned int64
	churned  int64
	rampDown int64
}

// managedPopulation reports whether the connect run keeps a population over
// time rather than opening, holding and closing.
func managedPopulation(cfg *config) bool {
	return len(cfg.stages) > 0 || cfg.Churn > 0 || cfg.Reconnect
}

// runPopulation runs the connect scenario with stages, churn or reconnects.
func runPopulation(ctx context.Context, b *bench) *result {
	cfg := b.cfg
	p := &population{
		b:      b,
		rng:    mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(b.slots)))),
		recL:   newLatencyRecorder(),
		fails:  map[int]int{},
		closes: map[string]int64{},
	}
	p.free = slices.Clone(b.slots)
	slices.Reverse(p.free) // pop from the end: lowest numbers first
	k, procs := 0, 1
	if b.child != nil {
		k, procs = b.childIndex, b.procs
	}
	total := cfg.Hold
	if len(cfg.stages) > 0 {
		total = stagesDuration(cfg.stages)
	}
	target := func(t time.Duration) int {
		n := cfg.Conns
		if len(cfg.stages) > 0 {
			n = targetAt(cfg.stages, t)
		}
		return shareOf(n, k, procs)
	}
	rate := b.connectRate()
	churn := cfg.Churn * float64(len(b.slots)) / float64(cfg.Conns)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !b.ready(ctx) {
		total = 0
	}
	start := time.Now()
	last := start
	dialBudget, churnBudget := 0.0, 0.0
	tick := time.NewTicker(controlEvery)
	defer tick.Stop()
	for {
		now := time.Now()
		t := now.Sub(start)
		if t >= total || ctx.Err() != nil {
			break
		}
		dt := now.Sub(last).Seconds()
		last = now
		if rate > 0 {
			dialBudget = min(dialBudget+rate*dt, max(rate*0.05, 1)) // bursts of at most 50 ms
		}
		churnBudget += churn * dt
		p.control(runCtx, target(t), rate > 0, false, &dialBudget, &churnBudget)
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	end := time.Since(start)
	targetAtEnd := target(min(end, total))
	if ctx.Err() == nil {
		// The last stage's target, exactly (a ramp down to 0 ends at 0).
		var none float64
		p.control(runCtx, targetAtEnd, false, true, &none, &none)
	}

	// The end: no more dials; close everything open.
	cancel()
	p.mu.Lock()
	openAtEnd := 0
	for _, m := range p.members {
		if !m.closing.Load() {
			openAtEnd++
		}
	}
	pendingAtEnd := len(p.waiting)
	p.waiting = nil
	var closing []*member
	for _, m := range p.members {
		if !m.closing.Swap(true) {
			closing = append(closing, m)
		}
	}
	p.mu.Unlock()
	closeMembers(closing, cfg.CloseTimeout)
	b.waitConns(&p.wg, 2*cfg.CloseTimeout+time.Second)

	r := newResult(b)
	r.fillConnections(b, end)
	r.Connections.HeldAtEnd = int64(openAtEnd)
	r.Population = &populationResult{
		DurationS:        round3(end.Seconds()),
		TargetAtEnd:      int64(targetAtEnd),
		OpenAtEnd:        int64(openAtEnd),
		Peak:             int64(p.peak),
		Churned:          p.churned,
		RampedDown:       p.rampDown,
		ServerCloses:     p.closes,
		Reconnected:      p.reconned,
		ReconnectPending: int64(pendingAtEnd),
	}
	r.addLatency("connect", b.connLat)
	r.addLatency("reconnect", p.recL)
	return r
}

// control brings the population toward target: due reconnects and retries
// first, then new connections, or closes the newest; then churn. With
// closeOnly it only closes.
func (p *population) control(ctx context.Context, target int, limited, closeOnly bool, dialBudget, churnBudget *float64) {
	cfg := p.b.cfg
	p.mu.Lock()
	defer p.mu.Unlock()
	live := p.dialing + len(p.waiting)
	for _, m := range p.members {
		if !m.closing.Load() {
			live++
		}
	}
	canDial := func() bool {
		return !closeOnly && p.dialing < cfg.Concurrency && (!limited || *dialBudget >= 1)
	}
	now := time.Now()
	for i := 0; i < len(p.waiting) && canDial(); {
		w := p.waiting[i]
		if now.Before(w.due) {
			i++
			continue
		}
		p.waiting = slices.Delete(p.waiting, i, i+1)
		p.startDial(ctx, w.idx, w.shift, w.since)
		*dialBudget--
	}
	for ; live < target && len(p.free) > 0 && canDial(); live++ {
		idx := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		p.startDial(ctx, idx, 0, time.Time{})
		*dialBudget--
	}
	var closing []*member
	for i := len(p.members) - 1; i >= 0 && live > target; i-- {
		if m := p.members[i]; !m.closing.Swap(true) {
			closing = append(closing, m)
			live--
			p.rampDown++
		}
	}
	for i := 0; i < len(p.members) && *churnBudget >= 1; i++ {
		if m := p.members[i]; !m.closing.Swap(true) {
			closing = append(closing, m)
			*churnBudget--
			p.churned++
		}
	}
	*churnBudget = min(*churnBudget, 1) // nothing to churn: no debt
	if len(closing) > 0 {
		go closeMembers(closing, cfg.CloseTimeout)
	}
}

// startDial dials slot idx (shift targets on) in the background. p.mu
// must be held.
func (p *population) startDial(ctx context.Context, idx, shift int, since time.Time) {
	p.dialing++
	seq := p.dialSeq
	p.dialSeq++
	p.wg.Go(func() {
		c, err := p.b.dialShift(ctx, idx, seq, seq, shift)
		p.mu.Lock()
		p.dialing--
		if err != nil {
			if ctx.Err() == nil {
				// Retry this slot later, backing off while it keeps failing.
				p.fails[idx]++
				backoff := min(failBackoff<<min(p.fails[idx], 10), 5*time.Second)
				p.waiting = append(p.waiting, waiting{idx: idx, shift: shift + 1, due: time.Now().Add(backoff), since: since})
			}
			p.mu.Unlock()
			return
		}
		delete(p.fails, idx)
		m := &member{idx: idx, shift: shift, c: c}
		p.members = append(p.members, m)
		p.peak = max(p.peak, len(p.members))
		if !since.IsZero() {
			p.reconned++
			p.recL.record(idx, time.Since(since))
		}
		p.mu.Unlock()
		p.b.ops.Add(1)
		p.b.mu.Lock()
		p.b.conns = append(p.b.conns, c)
		p.b.mu.Unlock()
		if ctx.Err() != nil && !m.closing.Swap(true) {
			go closeMembers([]*member{m}, p.b.cfg.CloseTimeout)
		}
		p.read(m)
	})
}

// read reads until m ends and accounts for how it ended.
func (p *population) read(m *member) {
	var err error
	for err == nil {
		_, _, _, err = m.c.ReadMessage()
	}
	var ce *closeError
	reconnect := p.b.cfg.Reconnect && !m.closing.Load() && errors.As(err, &ce) && slices.Contains(reconnectCodes, ce.code)
	closedAt := time.Now()
	if reconnect {
		// The server's close was answered by ReadMessage; wait for its TCP
		// close, as after any close handshake.
		m.c.finish(p.b.cfg.CloseTimeout)
		p.b.open.Add(-1)
	} else {
		p.b.endConn(m.c, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.members, m); i >= 0 {
		p.members = slices.Delete(p.members, i, i+1)
	}
	if reconnect {
		p.closes[strconv.Itoa(int(ce.code))]++
		var delay time.Duration
		if d := p.b.cfg.ReconnDelay; d > 0 {
			delay = time.Duration(p.rng.Int64N(int64(d)))
		}
		p.waiting = append(p.waiting, waiting{idx: m.idx, shift: m.shift + 1, due: closedAt.Add(delay), since: closedAt})
		return
	}
	p.free = append(p.free, m.idx)
}

// closeMembers starts the closing handshake of each member; its reader
// then sees the server's answer and ends.
func closeMembers(ms []*member, timeout time.Duration) {
	for _, m := range ms {
		deadline := time.Now().Add(timeout)
		_ = m.c.nc.SetReadDeadline(deadline)
		_ = m.c.nc.SetWriteDeadline(deadline)
		_ = m.c.SendClose(ws.StatusNormalClosure, timeout)
	}
}

// populationResult describes a connect run with connections over time.
type populationResult struct {
	DurationS        float64          `json:"duration_s"`
	TargetAtEnd      int64            `json:"target_at_end"`
	OpenAtEnd        int64            `json:"open_at_end"`
	Peak             int64            `json:"peak"` // most open at once (summed over processes)
	Churned          int64            `json:"churned"`
	RampedDown       int64            `json:"ramped_down"`
	ServerCloses     map[string]int64 `json:"server_closes,omitempty"` // -reconnect: closes by code that were followed by a reconnect
	Reconnected      int64            `json:"reconnected"`
	ReconnectPending int64            `json:"reconnect_pending"` // still waiting to reconnect at the end
}
