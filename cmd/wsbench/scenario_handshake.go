package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// failBackoff is how long a handshake worker pauses after a failed dial, so
// that a server that refuses connections is not hammered in a tight loop.
const failBackoff = 10 * time.Millisecond

// runHandshake has cfg.Conns workers connect, upgrade and close (with a
// close handshake) over and over for cfg.Duration.
func runHandshake(ctx context.Context, b *bench) *result {
	b.ready(ctx)
	t0 := time.Now()
	runCtx, cancel := context.WithDeadline(ctx, t0.Add(b.cfg.Duration))
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w, idx := range b.slots {
		wg.Go(func() {
			for runCtx.Err() == nil {
				c, err := b.dial(runCtx, idx, int(next.Add(1)-1), w)
				if err != nil {
					sleepCtx(runCtx, failBackoff)
					continue
				}
				b.ops.Add(1)
				if err := c.closeAndWait(b.cfg.CloseTimeout); err != nil {
					b.dropped.Add(1)
					b.errs.add(err)
				} else {
					b.closedClean.Add(1)
				}
				b.open.Add(-1)
			}
		})
	}
	<-runCtx.Done()
	window := time.Since(t0)
	wg.Wait()

	r := newResult(b)
	r.fillConnections(b, window)
	r.Handshake = &handshakeResult{
		Workers:     len(b.slots),
		WindowS:     round3(window.Seconds()),
		Upgrades:    b.opened.Load(),
		Failed:      b.dialFailed.Load(),
		UpgradesPer: perSecond(b.opened.Load(), window),
	}
	r.addLatency("handshake", b.connLat)
	return r
}
