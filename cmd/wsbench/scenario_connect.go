package main

import (
	"context"
	"sync"
	"time"
)

// runConnect opens cfg.Conns connections, holds them idle (answering pings)
// for cfg.Hold and closes them with a close handshake.
func runConnect(ctx context.Context, b *bench) *result {
	if managedPopulation(b.cfg) {
		return runPopulation(ctx, b)
	}
	var wg sync.WaitGroup
	openTime := b.openConns(ctx, func(_ int, c *wsConn) {
		b.ops.Add(1)
		wg.Go(func() { b.readLoop(c, nil) })
	})
	if b.ready(ctx) {
		sleepCtx(ctx, b.cfg.Hold)
	}
	held := b.open.Load()
	b.closeAll()
	b.waitConns(&wg, b.cfg.CloseTimeout*2+time.Second)

	r := newResult(b)
	r.fillConnections(b, openTime)
	r.Connections.HeldAtEnd = held
	r.addLatency("connect", b.connLat)
	return r
}
