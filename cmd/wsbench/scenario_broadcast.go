package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// bcastChunk is how many per-message delivery counters are allocated at once.
const bcastChunk = 4096

// pubLog counts the deliveries of one publisher's messages, indexed by
// sequence number. Only the publisher appends; receivers look up counters.
type pubLog struct {
	chunks atomic.Pointer[[]*[bcastChunk]atomic.Int32]
	n      atomic.Uint64 // messages published
}

func newPubLog() *pubLog {
	l := &pubLog{}
	l.chunks.Store(&[]*[bcastChunk]atomic.Int32{})
	return l
}

// next makes room for the next message and returns its sequence number; the
// publisher calls publish(seq) just before sending it.
func (l *pubLog) next() uint64 {
	seq := l.n.Load()
	cs := *l.chunks.Load()
	if int(seq/bcastChunk) == len(cs) {
		grown := append(cs[:len(cs):len(cs)], new([bcastChunk]atomic.Int32))
		l.chunks.Store(&grown)
	}
	return seq
}

func (l *pubLog) publish(seq uint64) { l.n.Store(seq + 1) }

// counter returns the delivery counter of message seq, nil if it was never
// published.
func (l *pubLog) counter(seq uint64) *atomic.Int32 {
	if seq >= l.n.Load() {
		return nil
	}
	cs := *l.chunks.Load()
	return &cs[seq/bcastChunk][seq%bcastChunk]
}

// bcastRun is the state of a broadcast scenario.
type bcastRun struct {
	b        *bench
	pat      *bcastPattern
	logs     []*pubLog
	expected int32 // receivers per message; set before start
	delivery *latencyRecorder
	last     *latencyRecorder
	complete atomic.Int64
	corrupt  atomic.Int64
	foreign  atomic.Int64
	start    chan struct{}
	stop     chan struct{}
}

// runBroadcast opens cfg.Conns receivers, lets the first cfg.Publishers of
// them publish for cfg.Duration and checks that every receiver got every
// message exactly once.
func runBroadcast(ctx context.Context, b *bench) *result {
	br := &bcastRun{
		b:        b,
		pat:      newBcastPattern(b.cfg.Size, b.cfg.Text),
		delivery: newLatencyRecorder(),
		last:     newLatencyRecorder(),
		start:    make(chan struct{}),
		stop:     make(chan struct{}),
	}
	for range b.cfg.Publishers {
		br.logs = append(br.logs, newPubLog())
	}
	var wg sync.WaitGroup
	openTime := b.openConns(ctx, b.cfg.Conns, func(idx int, c *wsConn) {
		wg.Go(func() {
			b.readLoop(c, func(op ws.OpCode, p []byte) { br.receive(idx, op, p) })
		})
	})
	conns := b.openedConns()
	br.expected = int32(len(conns))
	pubs := min(b.cfg.Publishers, len(conns))
	for i := range pubs {
		wg.Go(func() { br.publisher(uint32(i), conns[i]) })
	}

	sleepCtx(ctx, b.cfg.Settle)
	t0 := time.Now()
	close(br.start)
	sleepCtx(ctx, b.cfg.Duration)
	close(br.stop)
	window := time.Since(t0)
	deliveriesInWindow := b.ops.Load()

	// Wait until every published message reached every receiver, or -drain.
	drainEnd := time.Now().Add(b.cfg.Drain)
	for time.Now().Before(drainEnd) && br.complete.Load() < br.published() {
		time.Sleep(5 * time.Millisecond)
	}
	b.closeAll()
	b.waitConns(&wg, 2*b.cfg.CloseTimeout+time.Second)

	res := &broadcastResult{
		Receivers:  int64(br.expected),
		Publishers: pubs,
		WindowS:    round3(window.Seconds()),
		Published:  br.published(),
		Deliveries: b.ops.Load(),
		Complete:   br.complete.Load(),
		Corrupt:    br.corrupt.Load(),
		Foreign:    br.foreign.Load(),
	}
	res.ExpectedDeliveries = res.Published * res.Receivers
	res.PublishedPerS = perSecond(res.Published, window)
	res.DeliveriesPerS = perSecond(deliveriesInWindow, window)
	for _, l := range br.logs {
		n := l.n.Load()
		for seq := range n {
			got := int64(l.counter(seq).Load())
			if got < res.Receivers {
				res.Lost += res.Receivers - got
			} else {
				res.Duplicates += got - res.Receivers
			}
		}
	}
	b.errs.addKind(kindLost, res.Lost, fmt.Sprintf("%d of %d expected deliveries never arrived (within -drain %v)", res.Lost, res.ExpectedDeliveries, b.cfg.Drain))
	b.errs.addKind(kindDuplicate, res.Duplicates, fmt.Sprintf("%d deliveries arrived more than once", res.Duplicates))

	r := newResult(b)
	r.fillConnections(b, openTime)
	r.Broadcast = res
	r.addLatency("delivery", br.delivery)
	r.addLatency("last_receipt", br.last)
	r.addLatency("connect", b.connLat)
	return r
}

func (br *bcastRun) published() int64 {
	var n int64
	for _, l := range br.logs {
		n += int64(l.n.Load())
	}
	return n
}

// publisher sends messages at cfg.Rate (or as fast as the connection takes
// them) from start until stop.
func (br *bcastRun) publisher(pub uint32, c *wsConn) {
	select {
	case <-br.start:
	case <-br.stop:
		return
	}
	log := br.logs[pub]
	rate := br.b.cfg.Rate
	var hdr [64]byte
	timer := time.NewTimer(0)
	<-timer.C
	t0 := time.Now()
	for i := 0; ; i++ {
		if rate > 0 {
			due := t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-br.stop:
					return
				}
			}
		}
		select {
		case <-br.stop:
			return
		default:
		}
		seq := log.next()
		log.publish(seq)
		if err := c.WriteMessage(br.pat.op, br.pat.header(hdr[:], pub, seq, monoNow()), br.pat.body()); err != nil {
			// The connection's reader reports why it ended; the message
			// that could not be sent shows up as lost deliveries.
			return
		}
	}
}

// receive accounts for one message received by connection idx.
func (br *bcastRun) receive(idx int, op ws.OpCode, p []byte) {
	now := monoNow()
	pub, seq, ts, res, why := br.pat.parse(op, p)
	switch res {
	case bcastForeign:
		br.foreign.Add(1)
		return
	case bcastBad:
		br.corrupt.Add(1)
		br.b.errs.addKind(kindCorrupt, 1, why)
		return
	}
	var ctr *atomic.Int32
	if int(pub) < len(br.logs) {
		ctr = br.logs[pub].counter(seq)
	}
	if ctr == nil {
		br.corrupt.Add(1)
		br.b.errs.addKind(kindCorrupt, 1, fmt.Sprintf("message from publisher %d seq %d that was never sent", pub, seq))
		return
	}
	br.b.ops.Add(1)
	lat := time.Duration(now - ts)
	br.delivery.record(idx, lat)
	if ctr.Add(1) == br.expected {
		br.last.record(idx, lat)
		br.complete.Add(1)
	}
}
