package main

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// The broadcast scenario. Connections are spread over rooms (one room
// without -rooms); the first -publishers members of each room publish, and
// the server must deliver each message to every member of the publisher's
// room, the publisher included. Every delivery is accounted for per
// receiver and per publisher: first copies, copies of a message already
// received (duplicates), messages that arrive after a later one of the same
// publisher (reordered), messages for another room (misrouted), and at the
// end the deliveries that never came (lost).

// msgRec is what the run knows about one published message.
type msgRec struct {
	sent  atomic.Int64 // wall clock (ns) when it was framed to be sent
	count atomic.Int32 // receivers that got it (first copies only)
	last  atomic.Int64 // the latest first-copy receipt (wall clock, ns)
}

// recChunk is how many message records are allocated at once.
const recChunk = 1024

// msgLog is the record of one publisher's messages, indexed by sequence
// number. Only the publisher appends; receivers look records up.
type msgLog struct {
	chunks atomic.Pointer[[]*[recChunk]msgRec]
	n      atomic.Uint64 // messages published

	// Owned by the publisher until it ends.
	firstSent int64 // wall clock (ns) of the first send, 0 before
	lastSent  int64 // when the last write returned
}

func newMsgLog(expect int) *msgLog {
	l := &msgLog{}
	cs := make([]*[recChunk]msgRec, 0, (expect+recChunk-1)/recChunk)
	for range cap(cs) {
		cs = append(cs, new([recChunk]msgRec))
	}
	l.chunks.Store(&cs)
	return l
}

// next makes room for the next message and returns its sequence number and
// record; publish(seq) makes it visible to receivers.
func (l *msgLog) next() (uint64, *msgRec) {
	seq := l.n.Load()
	cs := *l.chunks.Load()
	if int(seq/recChunk) == len(cs) {
		grown := append(cs[:len(cs):len(cs)], new([recChunk]msgRec))
		l.chunks.Store(&grown)
		cs = grown
	}
	return seq, &cs[seq/recChunk][seq%recChunk]
}

func (l *msgLog) publish(seq uint64) { l.n.Store(seq + 1) }

// rec returns the record of message seq, nil if it was never published.
func (l *msgLog) rec(seq uint64) *msgRec {
	if seq >= l.n.Load() {
		return nil
	}
	cs := *l.chunks.Load()
	return &cs[seq/recChunk][seq%recChunk]
}

// span is a run [lo, hi) of sequence numbers not received yet although a
// later message was.
type span struct{ lo, hi uint64 }

// seqState follows one publisher's messages on one receiver.
type seqState struct {
	next uint64 // one past the highest sequence number received
	gaps []span // sequence numbers below next still missing, in order
}

// accept takes message seq and reports whether it is the first copy, and
// whether it came after a later message of the same publisher.
func (st *seqState) accept(seq uint64) (first, late bool) {
	switch {
	case seq == st.next:
		st.next++
		return true, false
	case seq > st.next:
		st.gaps = append(st.gaps, span{st.next, seq})
		st.next = seq + 1
		return true, false
	}
	for i := range st.gaps {
		g := &st.gaps[i]
		if seq < g.lo || seq >= g.hi {
			continue
		}
		switch {
		case g.hi-g.lo == 1:
			st.gaps = append(st.gaps[:i], st.gaps[i+1:]...)
		case seq == g.lo:
			g.lo++
		case seq == g.hi-1:
			g.hi--
		default:
			rest := span{seq + 1, g.hi}
			g.hi = seq
			st.gaps = append(st.gaps, span{})
			copy(st.gaps[i+2:], st.gaps[i+1:])
			st.gaps[i+1] = rest
		}
		return true, true
	}
	return false, false
}

// receiver is one connection's view of the broadcast. Its counters are
// owned by the connection's reading goroutine until it ends.
type receiver struct {
	idx  int
	room int
	seqs []seqState // per publisher of the room, by member number

	first, dups, late, misrouted, corrupt, foreign, early int64
}

// bcastRun is the state of a broadcast scenario.
type bcastRun struct {
	b        *bench
	pat      *bcastPattern
	pubsPer  []int       // publishers per room (members 0..n-1)
	members  []int       // connections per room, as asked
	logs     []*msgLog   // per connection number; nil for non-publishers
	recvs    []*receiver // per connection number; nil if it did not open
	expected []int32     // per room: members that opened
	cache    *inflateCache
	delivery *latencyRecorder

	armed  atomic.Bool  // set once logs and expected are ready
	unique atomic.Int64 // first copies received, all receivers
	start  chan struct{}
	stop   chan struct{}
}

// runBroadcast opens the connections, has the publishers publish -messages
// each (or for -duration), waits for every delivery and checks them all.
func runBroadcast(ctx context.Context, b *bench) *result {
	cfg := b.cfg
	nRooms := len(b.rooms)
	br := &bcastRun{
		b:        b,
		pat:      newBcastPattern(cfg.Size, cfg.Text),
		pubsPer:  make([]int, nRooms),
		members:  make([]int, nRooms),
		logs:     make([]*msgLog, cfg.Conns),
		recvs:    make([]*receiver, cfg.Conns),
		expected: make([]int32, nRooms),
		delivery: newLatencyRecorder(),
		start:    make(chan struct{}),
		stop:     make(chan struct{}),
	}
	if cfg.Compress && !cfg.InflateEach {
		br.cache = newInflateCache()
	}
	for room := range nRooms {
		br.members[room] = (cfg.Conns - room + nRooms - 1) / nRooms
		br.pubsPer[room] = br.members[room]
		if !cfg.Publishers.all {
			br.pubsPer[room] = min(cfg.Publishers.n, br.members[room])
		}
	}

	var readers sync.WaitGroup
	var deflated atomic.Int64
	openTime := b.openConns(ctx, cfg.Conns, func(idx int, c *wsConn) {
		if c.deflate != nil {
			deflated.Add(1)
			c.keepCompressed = br.cache != nil
		}
		room := b.roomOf(idx)
		r := &receiver{idx: idx, room: room, seqs: make([]seqState, br.pubsPer[room])}
		br.recvs[idx] = r
		readers.Go(func() {
			b.readLoop(c, func(op ws.OpCode, p []byte, compressed bool) { br.receive(r, c, op, p, compressed) })
		})
	})

	// Who is here: the expected receivers per room and the publishers.
	conns := b.openedConnsByIndex()
	var pubs []int
	for idx, c := range conns {
		if c == nil {
			continue
		}
		room := b.roomOf(idx)
		br.expected[room]++
		if b.memberOf(idx) < br.pubsPer[room] {
			pubs = append(pubs, idx)
			br.logs[idx] = newMsgLog(cfg.Messages)
		}
	}
	br.armed.Store(true)

	var publishers sync.WaitGroup
	for _, idx := range pubs {
		publishers.Go(func() { br.publisher(idx, conns[idx]) })
	}
	pubsDone := make(chan struct{})
	go func() { publishers.Wait(); close(pubsDone) }()

	sleepCtx(ctx, cfg.Settle)
	user0, sys0, cpuOK := processCPU()
	t0 := time.Now()
	close(br.start)
	if cfg.Messages == 0 {
		sleepCtx(ctx, cfg.Duration)
		close(br.stop)
	}
	br.wait(ctx, pubsDone)
	cpu := measureCPU(user0, sys0, cpuOK, time.Since(t0))
	b.closeAll()
	b.waitConns(&readers, 2*cfg.CloseTimeout+time.Second)
	select {
	case <-pubsDone:
	default:
		// A publisher still blocked in a write (the server stopped reading)
		// ends when its socket is closed.
		b.forceClose()
		<-pubsDone
	}

	res := br.tally(len(pubs))
	res.Deflate = deflated.Load()
	res.CPU = &cpu
	if cfg.Compress && res.Deflate == 0 && res.Receivers > 0 {
		b.warn("-compress: the server declined permessage-deflate on every connection; messages went uncompressed")
	}
	r := newResult(b)
	r.fillConnections(b, openTime)
	r.Broadcast = res
	r.addLatency("delivery", br.delivery)
	r.addLatency("last_receipt", br.lastReceipt())
	r.addLatency("connect", b.connLat)
	return r
}

// wait returns when the publishers are done and every delivery arrived, or
// when nothing was sent or received for -drain, or ctx ends.
func (br *bcastRun) wait(ctx context.Context, pubsDone chan struct{}) {
	drain := br.b.cfg.Drain
	progress := func() int64 { return br.unique.Load() + br.published() }
	last, lastT := progress(), time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		done := false
		select {
		case <-pubsDone:
			done = true
		default:
		}
		if done && br.unique.Load() >= br.expectedDeliveries() {
			return
		}
		if p := progress(); p != last {
			last, lastT = p, time.Now()
		} else if time.Since(lastT) >= drain && (done || br.b.cfg.Messages > 0) {
			return
		}
	}
}

func (br *bcastRun) published() int64 {
	var n int64
	for _, l := range br.logs {
		if l != nil {
			n += int64(l.n.Load())
		}
	}
	return n
}

// expectedDeliveries is every message published times its room's members.
func (br *bcastRun) expectedDeliveries() int64 {
	var n int64
	for idx, l := range br.logs {
		if l != nil {
			n += int64(l.n.Load()) * int64(br.expected[br.b.roomOf(idx)])
		}
	}
	return n
}

// publisher sends messages from start: -messages of them (or until stop),
// at -rate or as fast as the connection takes them, in batches of up to
// -batch bytes when flat out.
func (br *bcastRun) publisher(idx int, c *wsConn) {
	select {
	case <-br.start:
	case <-br.stop:
		return
	}
	cfg := br.b.cfg
	log := br.logs[idx]
	pub := uint32(idx)
	rate := cfg.Rate
	batch := cfg.Batch
	if rate > 0 {
		batch = 0
	}
	limit := uint64(cfg.Messages)
	if limit == 0 {
		limit = math.MaxUint64
	}
	var hdr [64]byte
	var buf []byte
	timer := time.NewTimer(0)
	<-timer.C
	t0 := time.Now()
	defer func() { log.lastSent = nowNS() }()
	for sent := uint64(0); sent < limit; {
		if rate > 0 {
			due := t0.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
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
		frame := func() (a, b []byte) {
			seq, rec := log.next()
			ts := nowNS()
			rec.sent.Store(ts)
			if seq == 0 {
				log.firstSent = ts
			}
			log.publish(seq)
			sent++
			return br.pat.header(hdr[:], pub, seq, ts), br.pat.body()
		}
		var err error
		if batch == 0 {
			a, b := frame()
			err = c.WriteMessage(br.pat.op, a, b)
		} else {
			buf = buf[:0]
			for len(buf) < batch && sent < limit {
				a, b := frame()
				buf = c.AppendFrame(buf, br.pat.op, a, b)
			}
			err = c.WriteFrames(buf)
		}
		if err != nil {
			// The connection's reader reports why it ended; the messages
			// that could not be sent show up as lost deliveries.
			return
		}
	}
}

// receive accounts for one message received by r.
func (br *bcastRun) receive(r *receiver, c *wsConn, op ws.OpCode, p []byte, compressed bool) {
	now := c.readNS
	br.b.ops.Add(1)
	if !br.armed.Load() {
		r.early++ // before anyone published: not one of ours
		return
	}
	var m parsedMsg
	if compressed {
		m = br.cache.lookup(c, op, p, br.pat)
	} else {
		m = br.pat.parse(op, p)
	}
	switch m.res {
	case bcastForeign:
		r.foreign++
		return
	case bcastBad:
		r.corrupt++
		br.b.errs.addKind(kindCorrupt, 1, m.why)
		return
	}
	pub := int(m.pub)
	var rec *msgRec
	if pub < len(br.logs) && br.logs[pub] != nil {
		rec = br.logs[pub].rec(m.seq)
	}
	if rec == nil {
		r.corrupt++
		br.b.errs.addKind(kindCorrupt, 1, fmt.Sprintf("message from publisher %d seq %d that was never sent", pub, m.seq))
		return
	}
	if room := br.b.roomOf(pub); room != r.room {
		r.misrouted++
		br.b.errs.addKind(kindMisrouted, 1, fmt.Sprintf("connection %d in room %s got a message published in room %s",
			r.idx, br.b.rooms[r.room], br.b.rooms[room]))
		return
	}
	first, late := r.seqs[br.b.memberOf(pub)].accept(m.seq)
	if !first {
		r.dups++
		br.b.errs.addKind(kindDuplicate, 1, fmt.Sprintf("connection %d got message %d of publisher %d again", r.idx, m.seq, pub))
		return
	}
	if late {
		r.late++
		br.b.errs.addKind(kindReordered, 1, fmt.Sprintf("connection %d got message %d of publisher %d after a later one", r.idx, m.seq, pub))
	}
	r.first++
	br.unique.Add(1)
	rec.count.Add(1)
	for {
		prev := rec.last.Load()
		if now <= prev || rec.last.CompareAndSwap(prev, now) {
			break
		}
	}
	br.delivery.record(r.idx, time.Duration(now-m.ts))
}

// tally adds up the run once every reader has ended.
func (br *bcastRun) tally(pubs int) *broadcastResult {
	cfg := br.b.cfg
	res := &broadcastResult{
		Rooms:                len(br.b.rooms),
		Publishers:           pubs,
		MessagesPerPublisher: cfg.Messages,
	}
	if cfg.Rooms == 0 {
		res.Rooms = 0
	}
	for _, e := range br.expected {
		res.Receivers += int64(e)
	}
	var firstSent, lastSent, lastRecv int64 = math.MaxInt64, 0, 0
	for idx, l := range br.logs {
		if l == nil {
			continue
		}
		n := l.n.Load()
		res.Published += int64(n)
		want := br.expected[br.b.roomOf(idx)]
		res.ExpectedDeliveries += int64(n) * int64(want)
		if n > 0 {
			firstSent = min(firstSent, l.firstSent)
			lastSent = max(lastSent, l.lastSent)
		}
		for seq := range n {
			rec := l.rec(seq)
			got := rec.count.Load()
			res.Deliveries += int64(got)
			if got == want {
				res.Complete++
			}
			lastRecv = max(lastRecv, rec.last.Load())
		}
	}
	res.Lost = res.ExpectedDeliveries - res.Deliveries
	for _, r := range br.recvs {
		if r == nil {
			continue
		}
		res.Duplicates += r.dups
		res.Reordered += r.late
		res.Misrouted += r.misrouted
		res.Corrupt += r.corrupt
		res.Foreign += r.foreign + r.early
	}
	if res.Published > 0 {
		res.PublishS = round3(float64(lastSent-firstSent) / 1e9)
		res.PublishedPerS = perSecond(res.Published, time.Duration(lastSent-firstSent))
	}
	if res.Deliveries > 0 {
		res.DeliveryS = round3(float64(lastRecv-firstSent) / 1e9)
		res.DeliveriesPerS = perSecond(res.Deliveries, time.Duration(lastRecv-firstSent))
	}
	br.b.errs.addKind(kindLost, res.Lost, fmt.Sprintf("%d of %d expected deliveries never arrived (nothing more came for -drain %v)", res.Lost, res.ExpectedDeliveries, cfg.Drain))
	return res
}

// lastReceipt is the histogram of each complete message's time from its
// send to its last receipt.
func (br *bcastRun) lastReceipt() *latencyRecorder {
	lr := newLatencyRecorder()
	for idx, l := range br.logs {
		if l == nil {
			continue
		}
		want := br.expected[br.b.roomOf(idx)]
		for seq := range l.n.Load() {
			rec := l.rec(seq)
			if rec.count.Load() == want {
				lr.record(0, time.Duration(rec.last.Load()-rec.sent.Load()))
			}
		}
	}
	return lr
}

// parsedMsg is a received broadcast message, decoded.
type parsedMsg struct {
	pub uint32
	seq uint64
	ts  int64
	res bcastParse
	why string
}

// inflateCache remembers what compressed messages held, by their exact
// bytes: a server that compresses a broadcast once sends every receiver the
// same bytes, and inflating them once checks them all (same bytes, same
// content). Two generations per shard bound its size.
type inflateCache struct {
	seed   maphash.Seed
	shards [16]cacheShard
}

type cacheShard struct {
	mu       sync.Mutex
	cur, old map[string]parsedMsg
	_        [32]byte
}

// cacheGeneration is how many messages a shard's generation holds.
const cacheGeneration = 4096

func newInflateCache() *inflateCache {
	c := &inflateCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].cur = map[string]parsedMsg{}
	}
	return c
}

// lookup decodes compressed message p received on c.
func (ic *inflateCache) lookup(c *wsConn, op ws.OpCode, p []byte, pat *bcastPattern) parsedMsg {
	s := &ic.shards[maphash.Bytes(ic.seed, p)%uint64(len(ic.shards))]
	cacheable := op == pat.op
	if cacheable {
		s.mu.Lock()
		m, ok := s.cur[string(p)]
		if !ok {
			m, ok = s.old[string(p)]
		}
		s.mu.Unlock()
		if ok {
			return m
		}
	}
	data, err := c.inflate(p)
	if err != nil {
		return parsedMsg{res: bcastBad, why: err.Error()}
	}
	m := pat.parse(op, data)
	if cacheable {
		s.mu.Lock()
		if len(s.cur) >= cacheGeneration {
			s.old, s.cur = s.cur, make(map[string]parsedMsg, cacheGeneration)
		}
		s.cur[string(p)] = m
		s.mu.Unlock()
	}
	return m
}
