package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// bench is the state shared by a run's connections, its progress reporter
// and its report.
type bench struct {
	cfg   *config
	tgts  []*target
	slots []int      // the connection numbers this process holds, in order
	child *childLink // the link to the parent process; nil when alone
	// childIndex and procs: which process of how many this is.
	childIndex, procs int
	// spanning: rooms have members in other processes too.
	spanning bool
	bcast    atomic.Pointer[bcastRun] // the broadcast under way, for progress
	rooms    []string                 // room names; one "" when there are no rooms
	eps      []*dialOptions           // per room and target: see endpoint
	srcIPs   []net.IP
	dialers  []*net.Dialer
	errs     *errorCounter
	connLat  *latencyRecorder // TCP connect + upgrade
	mainLat  *latencyRecorder // echo: round trips; broadcast: deliveries

	// Counters read by the progress line and the report.
	attempted   atomic.Int64 // dials started
	dialFailed  atomic.Int64 // dials or upgrades that failed
	opened      atomic.Int64 // connections upgraded
	open        atomic.Int64 // connections open now
	dropped     atomic.Int64 // connections that ended with an error
	closedClean atomic.Int64 // connections that ended with a clean close handshake
	ops         atomic.Int64 // the scenario's main counter (see progress)
	tlsConns    atomic.Int64 // connections over TLS
	tlsResumed  atomic.Int64 // of which resumed a TLS session

	forced atomic.Bool // sockets are being closed by force: their errors are ours

	mu        sync.Mutex
	conns     []*wsConn // open connections, for the closing phase
	byIdx     []*wsConn // the same by connection number (nil: did not open)
	warnings  []string
	protocols map[string]int64 // subprotocols selected by the server ("" none)
}

// snapshot returns the counters for a progress line or the parent.
func (b *bench) snapshot() progressSnap {
	s := progressSnap{
		Open:   b.open.Load(),
		Opened: b.opened.Load(),
		Failed: b.dialFailed.Load(),
		Ops:    b.ops.Load(),
		Errors: b.errs.Total(),
	}
	if br := b.bcast.Load(); br != nil && br.running.Load() {
		s.Unique = br.unique.Load()
		s.Publish = br.published()
		s.Expect = br.expectedDeliveries()
		s.PubDone = br.pubsDone.Load()
	}
	return s
}

// warn adds a warning to the report.
func (b *bench) warn(msg string) {
	b.mu.Lock()
	b.warnings = append(b.warnings, msg)
	b.mu.Unlock()
}

// newBench prepares a run of the connections numbered slots, bound to the
// source addresses ips (none: the kernel's choice).
func newBench(cfg *config, tgts []*target, slots []int, ips []net.IP) *bench {
	b := &bench{
		cfg:       cfg,
		tgts:      tgts,
		procs:     1,
		slots:     slots,
		srcIPs:    ips,
		dialers:   newDialers(ips, cfg.Timeout),
		errs:      newErrorCounter(),
		connLat:   newLatencyRecorder(),
		mainLat:   newLatencyRecorder(),
		protocols: map[string]int64{},
	}
	b.rooms = []string{""}
	if cfg.Scenario == scBroadcast && cfg.Rooms > 0 {
		b.rooms = make([]string, cfg.Rooms)
		for i := range b.rooms {
			b.rooms[i] = "r" + strconv.Itoa(i)
		}
	}
	for _, room := range b.rooms {
		for _, t := range tgts {
			uri := t.requestURI
			if room != "" {
				uri = strings.ReplaceAll(cfg.RoomPath, "{room}", url.PathEscape(room))
			}
			b.eps = append(b.eps, newDialOptions(t, uri, cfg))
		}
	}
	return b
}

// roomOf returns the room of connection i: i mod the number of rooms.
func (b *bench) roomOf(i int) int { return i % len(b.rooms) }

// memberOf returns connection i's place among its room's members.
func (b *bench) memberOf(i int) int { return i / len(b.rooms) }

// endpoint returns how connection i connects: the members of a room take
// the targets in turn; shift moves it that many targets on (a reconnect
// tries the next server).
func (b *bench) endpoint(i, shift int) *dialOptions {
	return b.eps[b.roomOf(i)*len(b.tgts)+(b.memberOf(i)+shift)%len(b.tgts)]
}

// dial opens connection number i, the pos-th of this process (which picks
// its source address), and records the outcome. hint picks a latency shard.
func (b *bench) dial(ctx context.Context, i, pos, hint int) (*wsConn, error) {
	return b.dialShift(ctx, i, pos, hint, 0)
}

// dialShift is dial to the target shift places after connection i's own.
// The pos-th connection of process k takes source address (pos+k) mod n of
// the process's n: processes that share addresses start at different ones,
// so that the addresses' loads differ by at most one connection overall.
func (b *bench) dialShift(ctx context.Context, i, pos, hint, shift int) (*wsConn, error) {
	b.attempted.Add(1)
	t0 := time.Now()
	c, err := dialWS(ctx, b.dialers[(pos+b.childIndex)%len(b.dialers)], b.endpoint(i, shift))
	if err != nil {
		if !ctxEnded(ctx) { // a dial cut short by the end of the run is no failure
			b.dialFailed.Add(1)
			b.errs.add(err)
		} else {
			b.attempted.Add(-1)
		}
		return nil, err
	}
	b.connLat.record(hint, time.Since(t0))
	b.opened.Add(1)
	b.open.Add(1)
	if tc, ok := c.nc.(*tls.Conn); ok {
		b.tlsConns.Add(1)
		if tc.ConnectionState().DidResume {
			b.tlsResumed.Add(1)
		}
	}
	if len(b.cfg.protocols) > 0 {
		b.mu.Lock()
		b.protocols[c.protocol]++
		b.mu.Unlock()
	}
	return c, nil
}

// openConns opens this process's connections, cfg.Concurrency at a time,
// and calls fn for each one that opened (fn must not block: it starts the
// connection's goroutines). Connections are remembered for closeAll. It
// returns when every dial has finished or ctx is done, with the time it
// took.
func (b *bench) openConns(ctx context.Context, fn func(idx int, c *wsConn)) time.Duration {
	t0 := time.Now()
	b.mu.Lock()
	if len(b.byIdx) < b.cfg.Conns {
		b.byIdx = make([]*wsConn, b.cfg.Conns)
	}
	b.mu.Unlock()
	n := len(b.slots)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(b.cfg.Concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				pos := int(next.Add(1) - 1)
				if pos >= n {
					return
				}
				if rate := b.connectRate(); rate > 0 {
					due := t0.Add(time.Duration(float64(pos) / rate * float64(time.Second)))
					if !sleepCtx(ctx, time.Until(due)) {
						return
					}
				}
				idx := b.slots[pos]
				c, err := b.dial(ctx, idx, pos, w)
				if err != nil {
					continue
				}
				b.mu.Lock()
				b.conns = append(b.conns, c)
				b.byIdx[idx] = c
				b.mu.Unlock()
				fn(idx, c)
			}
		})
	}
	wg.Wait()
	return time.Since(t0)
}

// connectRate is this process's share of -connect-rate (0: no limit).
func (b *bench) connectRate() float64 {
	if b.cfg.ConnectRate <= 0 {
		return 0
	}
	return b.cfg.ConnectRate * float64(len(b.slots)) / float64(b.cfg.Conns)
}

// openedConns returns the connections opened by openConns.
func (b *bench) openedConns() []*wsConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*wsConn(nil), b.conns...)
}

// openedConnsByIndex returns the connections opened by openConns by their
// number, nil for those that did not open.
func (b *bench) openedConnsByIndex() []*wsConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*wsConn(nil), b.byIdx...)
}

// readLoop reads (and discards, unless onMsg is set) messages until the
// connection ends, then accounts for how it ended.
func (b *bench) readLoop(c *wsConn, onMsg func(op ws.OpCode, p []byte, compressed bool)) {
	var err error
	for {
		var op ws.OpCode
		var p []byte
		var compressed bool
		if op, p, compressed, err = c.ReadMessage(); err != nil {
			break
		}
		if onMsg != nil {
			onMsg(op, p, compressed)
		}
	}
	b.endConn(c, err)
}

// endConn accounts for the end of a connection whose reading stopped with
// err, completes the close and releases the socket.
func (b *bench) endConn(c *wsConn, err error) {
	var wait time.Duration
	switch err = closeResult(c, err); {
	case err == nil:
		b.closedClean.Add(1)
		wait = b.cfg.CloseTimeout
	case b.forced.Load() && errors.Is(err, net.ErrClosed):
		b.dropped.Add(1)
		b.errs.addKind(kindCloseTimeout, 1, "connection still open after -close-timeout; closed by force")
	default:
		b.dropped.Add(1)
		b.errs.add(err)
	}
	c.finish(wait)
	b.open.Add(-1)
}

// closeAll starts the closing handshake on every opened connection: a close
// frame (1000) and a read deadline so that their readers end by themselves.
func (b *bench) closeAll() {
	conns := b.openedConns()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(64, len(conns)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				c := conns[i]
				deadline := time.Now().Add(b.cfg.CloseTimeout)
				_ = c.nc.SetReadDeadline(deadline)
				// A write still blocked (the server stopped reading) holds
				// the write lock: give it a deadline first.
				_ = c.nc.SetWriteDeadline(deadline)
				_ = c.SendClose(ws.StatusNormalClosure, b.cfg.CloseTimeout)
			}
		})
	}
	wg.Wait()
}

// forceClose closes every opened socket; used when goroutines did not end
// within their deadlines.
func (b *bench) forceClose() {
	b.forced.Store(true)
	for _, c := range b.openedConns() {
		c.nc.Close()
	}
}

// waitConns waits for wg; if that takes longer than d it closes all sockets
// by force and waits again (closing them ends every blocked read and write).
func (b *bench) waitConns(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		b.forceClose()
		<-done
	}
}

// ctxEnded reports whether ctx is done or its deadline has passed (a dial's
// own timer can fire on the deadline a moment before ctx reports it).
func ctxEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// sleepCtx sleeps for d or until ctx is done; it reports whether the full
// time passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// preflight returns warnings about the setup.
func (b *bench) preflight() []string {
	var w []string
	if b.cfg.SrcIPs > 0 && len(b.cfg.srcAddrs) == 0 && len(b.srcIPs) == 0 {
		w = append(w, fmt.Sprintf("-src-ips %d ignored: not every target is an IPv4 loopback address", b.cfg.SrcIPs))
	}
	return w
}
