package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// echoRun is the state of an echo scenario.
type echoRun struct {
	b     *bench
	pat   *echoPattern
	k     int
	rtt   *latencyRecorder
	start chan struct{} // closed when every connection is open
	stop  chan struct{} // closed when -duration is over
	// drainUntil is when writers give up on outstanding echoes; written
	// before stop is closed.
	drainUntil time.Time

	mu    sync.Mutex
	conns []*echoConn
}

// echoConn is one connection's sender and receiver state.
type echoConn struct {
	c  *wsConn
	id int

	tokens    chan struct{} // one per message that may be sent now
	dead      chan struct{} // closed when the reader has ended
	sendTimes []atomic.Int64
	sent      atomic.Uint64 // messages sent so far = next sequence number
	writeErr  atomic.Bool   // the writer failed and counted the error

	// Owned by the reader until it ends.
	recv        uint64 // next expected sequence number
	received    int64
	bytesRecv   int64
	mismatches  int64
	unsolicited int64
	// Owned by the writer until it ends.
	missing int64
	hdr     [16]byte
	scratch [16]byte
}

// runEcho opens cfg.Conns connections; once all are open each keeps
// cfg.Inflight messages in flight for cfg.Duration, checking every echo.
func runEcho(ctx context.Context, b *bench) *result {
	e := &echoRun{
		b:     b,
		pat:   newEchoPattern(b.cfg.Size, b.cfg.Text),
		k:     b.cfg.Inflight,
		rtt:   b.mainLat,
		start: make(chan struct{}),
		stop:  make(chan struct{}),
	}
	var wg sync.WaitGroup
	openTime := b.openConns(ctx, func(idx int, c *wsConn) {
		ec := &echoConn{
			c:         c,
			id:        idx,
			tokens:    make(chan struct{}, e.k),
			dead:      make(chan struct{}),
			sendTimes: make([]atomic.Int64, e.k),
		}
		for range e.k {
			ec.tokens <- struct{}{}
		}
		e.mu.Lock()
		e.conns = append(e.conns, ec)
		e.mu.Unlock()
		wg.Go(func() { e.reader(ec) })
		wg.Go(func() { e.writer(ec) })
	})

	b.ready(ctx)
	t0 := time.Now()
	close(e.start)
	sleepCtx(ctx, b.cfg.Duration)
	window := time.Since(t0)
	receivedInWindow := b.ops.Load()
	e.drainUntil = time.Now().Add(b.cfg.Drain)
	close(e.stop)
	b.waitConns(&wg, b.cfg.Drain+2*b.cfg.CloseTimeout+time.Second)

	er := &echoResult{WindowS: round3(window.Seconds())}
	for _, ec := range e.conns {
		sent := int64(ec.sent.Load())
		er.Sent += sent
		er.BytesSent += sent * int64(b.cfg.Size)
		er.Received += ec.received
		er.BytesReceived += ec.bytesRecv
		er.Mismatches += ec.mismatches
		er.Unsolicited += ec.unsolicited
		er.Missing += ec.missing
	}
	if er.Missing > 0 {
		b.errs.addKind(kindNoEcho, er.Missing, fmt.Sprintf("%d messages still unanswered %v after the end of the run", er.Missing, b.cfg.Drain))
	}
	er.MsgsPerS = perSecond(receivedInWindow, window)
	er.BytesPerS = round3(er.MsgsPerS * float64(b.cfg.Size))

	r := newResult(b)
	r.fillConnections(b, openTime)
	r.Echo = er
	r.addLatency("rtt", e.rtt)
	r.addLatency("connect", b.connLat)
	return r
}

// writer sends a message whenever a token is available, from the start until
// stop; then it waits for the outstanding echoes and sends the close frame.
func (e *echoRun) writer(ec *echoConn) {
	select {
	case <-e.start:
	case <-ec.dead:
		return
	}
	op := e.pat.op
	k := uint64(e.k)
send:
	for {
		select {
		case <-e.stop:
			break send
		case <-ec.dead:
			return
		case <-ec.tokens:
		}
		select {
		case <-e.stop:
			ec.tokens <- struct{}{} // give it back; there is room
			break send
		default:
		}
		seq := ec.sent.Load()
		ec.sendTimes[seq%k].Store(nowNS())
		ec.sent.Store(seq + 1)
		if err := ec.c.WriteMessage(op, e.pat.header(ec.hdr[:], seq), e.pat.body()); err != nil {
			ec.sent.Store(seq)
			select {
			case <-ec.dead: // the reader has seen and counted the failure
			default:
				if e.b.forced.Load() {
					break // closed by force at the end; counted by the reader
				}
				if ec.writeErr.CompareAndSwap(false, true) {
					e.b.errs.add(err)
					ec.c.nc.Close() // ends the reader
				}
			}
			return
		}
	}

	// Wait for the echoes still in flight, then close.
	timer := time.NewTimer(time.Until(e.drainUntil))
	defer timer.Stop()
	for n := 0; n < e.k; {
		select {
		case <-ec.tokens:
			n++
		case <-timer.C:
			ec.missing = int64(e.k - n)
			n = e.k
		case <-ec.dead:
			return
		}
	}
	_ = ec.c.nc.SetReadDeadline(time.Now().Add(e.b.cfg.CloseTimeout))
	_ = ec.c.SendClose(ws.StatusNormalClosure, e.b.cfg.CloseTimeout)
}

// reader checks every echo against what was sent, in order.
func (e *echoRun) reader(ec *echoConn) {
	defer close(ec.dead)
	k := uint64(e.k)
	var err error
	for {
		op, msg, _, rerr := ec.c.ReadMessage()
		if rerr != nil {
			err = rerr
			break
		}
		now := ec.c.readNS
		ec.received++
		ec.bytesRecv += int64(len(msg))
		e.b.ops.Add(1)
		if ec.recv >= ec.sent.Load() {
			ec.unsolicited++
			e.b.errs.addKind(kindUnsolicited, 1, fmt.Sprintf("connection %d: got a message with no echo outstanding (%d bytes)", ec.id, len(msg)))
			continue
		}
		seq := ec.recv
		ec.recv++
		if why := e.pat.check(op, msg, seq, ec.scratch[:]); why != "" {
			ec.mismatches++
			e.b.errs.addKind(kindMismatch, 1, fmt.Sprintf("connection %d: %s", ec.id, why))
		} else {
			e.rtt.record(ec.id, time.Duration(now-ec.sendTimes[seq%k].Load()))
		}
		select {
		case ec.tokens <- struct{}{}:
		default:
		}
	}
	if ec.writeErr.Load() {
		e.b.dropped.Add(1)
		ec.c.finish(0)
		e.b.open.Add(-1)
		return
	}
	e.b.endConn(ec.c, err)
}
