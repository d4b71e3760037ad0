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
// number. Only the publisher appends; receivers look records up. A remote
// log is that of a publisher in another process (rooms spanning
// processes): its records are made as its messages arrive, up to limit.
type msgLog struct {
	chunks atomic.Pointer[[]*[recChunk]msgRec]
	n      atomic.Uint64 // messages published (remote: one past the highest seen)

	remote bool
	limit  uint64     // remote: the highest sequence number accepted, plus one
	grow   sync.Mutex // remote: held to add chunks

	// Owned by the publisher until it ends.
	firstSent int64 // wall clock (ns) of the first send, 0 before
	lastSent  int64 // when the last write returned
}

func newMsgLog(expect int) *msgLog {
	l := &msgLog{}
	expect = min(expect, 1<<20) // more are added as they come
	cs := make([]*[recChunk]msgRec, 0, (expect+recChunk-1)/recChunk)
	for range cap(cs) {
		cs = append(cs, new([recChunk]msgRec))
	}
	l.chunks.Store(&cs)
	return l
}

// newRemoteLog returns the log of a publisher in another process.
func newRemoteLog(messages int) *msgLog {
	l := newMsgLog(messages)
	l.remote = true
	l.limit = uint64(messages)
	if messages == 0 {
		l.limit = remoteLimit
	}
	return l
}

// remoteLimit bounds the sequence numbers accepted from a publisher of
// another process when the number of messages is not known.
const remoteLimit = 1 << 28

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

// rec returns the record of message seq, nil if it was never published
// (remote: if it is past the limit).
func (l *msgLog) rec(seq uint64) *msgRec {
	if !l.remote {
		if seq >= l.n.Load() {
			return nil
		}
		cs := *l.chunks.Load()
		return &cs[seq/recChunk][seq%recChunk]
	}
	if seq >= l.limit {
		return nil
	}
	cs := *l.chunks.Load()
	if int(seq/recChunk) >= len(cs) {
		l.grow.Lock()
		cs = *l.chunks.Load()
		if int(seq/recChunk) >= len(cs) {
			grown := cs[:len(cs):len(cs)]
			for int(seq/recChunk) >= len(grown) {
				grown = append(grown, new([recChunk]msgRec))
			}
			l.chunks.Store(&grown)
			cs = grown
		}
		l.grow.Unlock()
	}
	for {
		n := l.n.Load()
		if seq < n || l.n.CompareAndSwap(n, seq+1) {
			break
		}
	}
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
	recvs    []*receiver // per connection number; nil if it did not open here
	local    []int32     // per room: members that opened in this process
	expected []int32     // per room: members that opened in every process
	cache    *inflateCache
	delivery *latencyRecorder

	armed    atomic.Bool  // set once the logs are ready: receivers may look them up
	running  atomic.Bool  // set once expected is known: progress may read it
	unique   atomic.Int64 // first copies received, all receivers
	pubsDone atomic.Bool
	start    chan struct{}
	stop     chan struct{}
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
		local:    make([]int32, nRooms),
		delivery: b.mainLat,
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
	b.bcast.Store(br)

	var readers sync.WaitGroup
	var deflated atomic.Int64
	openTime := b.openConns(ctx, func(idx int, c *wsConn) {
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

	// Who is here: the receivers per room and the publishers.
	conns := b.openedConnsByIndex()
	var pubs []int
	for idx, c := range conns {
		if c == nil {
			continue
		}
		room := b.roomOf(idx)
		br.local[room]++
		if b.memberOf(idx) < br.pubsPer[room] {
			pubs = append(pubs, idx)
			br.logs[idx] = newMsgLog(cfg.Messages)
		}
	}
	if b.spanning {
		// Publishers of other processes whose messages come here too.
		mine := make([]bool, cfg.Conns)
		for _, idx := range b.slots {
			mine[idx] = true
		}
		for idx := range cfg.Conns {
			if !mine[idx] && b.memberOf(idx) < br.pubsPer[b.roomOf(idx)] {
				br.logs[idx] = newRemoteLog(cfg.Messages)
			}
		}
	}
	// Armed before telling the parent: nobody publishes until every
	// process is ready.
	br.armed.Store(true)
	br.expected = br.local
	if b.child != nil {
		br.expected = b.child.ready(ctx, br.local)
	}
	var cpu cpuResult
	if br.expected != nil { // nil: stopped before the start
		br.running.Store(true)
		var publishers sync.WaitGroup
		for _, idx := range pubs {
			publishers.Go(func() { br.publisher(idx, conns[idx]) })
		}
		pubsDone := make(chan struct{})
		go func() { publishers.Wait(); br.pubsDone.Store(true); close(pubsDone) }()

		if b.child == nil {
			sleepCtx(ctx, cfg.Settle)
		}
		user0, sys0, cpuOK := processCPU()
		t0 := time.Now()
		close(br.start)
		if cfg.Messages == 0 {
			sleepCtx(ctx, cfg.Duration)
			close(br.stop)
		}
		if b.child != nil {
			b.child.waitFinish(ctx)
		} else {
			br.wait(ctx, pubsDone)
		}
		cpu = measureCPU(user0, sys0, cpuOK, time.Since(t0))
		b.closeAll()
		b.waitConns(&readers, 2*cfg.CloseTimeout+time.Second)
		select {
		case <-pubsDone:
		default:
			// A publisher still blocked in a write (the server stopped
			// reading) ends when its socket is closed.
			b.forceClose()
			<-pubsDone
		}
	} else {
		br.expected = br.local
		b.closeAll()
		b.waitConns(&readers, 2*cfg.CloseTimeout+time.Second)
	}

	res, part := br.tally(len(pubs))
	res.Deflate = deflated.Load()
	res.CPU = &cpu
	if cfg.Compress && res.Deflate == 0 && res.Receivers > 0 {
		b.warn("-compress: the server declined permessage-deflate on every connection; messages went uncompressed")
	}
	r := newResult(b)
	r.fillConnections(b, openTime)
	r.Broadcast = res
	r.bcast = part
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

// published is how many messages this process's publishers sent.
func (br *bcastRun) published() int64 {
	var n int64
	for _, l := range br.logs {
		if l != nil && !l.remote {
			n += int64(l.n.Load())
		}
	}
	return n
}

// expectedDeliveries is every message this process's publishers sent
// times its room's members (in every process).
func (br *bcastRun) expectedDeliveries() int64 {
	var n int64
	for idx, l := range br.logs {
		if l != nil && !l.remote {
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
	if pub < len(br.logs) {
		if room := br.b.roomOf(pub); room != r.room {
			r.misrouted++
			br.b.errs.addKind(kindMisrouted, 1, fmt.Sprintf("connection %d in room %s got a message published in room %s",
				r.idx, br.b.rooms[r.room], br.b.rooms[room]))
			return
		}
	}
	var rec *msgRec
	if pub < len(br.logs) && br.logs[pub] != nil {
		rec = br.logs[pub].rec(m.seq)
	}
	if rec == nil {
		r.corrupt++
		br.b.errs.addKind(kindCorrupt, 1, fmt.Sprintf("message from publisher %d seq %d that was never sent", pub, m.seq))
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

// tally adds up the run once every reader has ended. The counts are this
// process's: its receivers' deliveries and the deliveries owed for its
// publishers' messages, which add up over processes. When rooms span
// processes, the messages' records go to the parent in the part instead of
// being judged here.
func (br *bcastRun) tally(pubs int) (*broadcastResult, *bcastPart) {
	cfg := br.b.cfg
	res := &broadcastResult{
		Rooms:                cfg.Rooms,
		Publishers:           pubs,
		MessagesPerPublisher: cfg.Messages,
	}
	for _, n := range br.local {
		res.Receivers += int64(n)
	}
	part := &bcastPart{FirstSent: math.MaxInt64}
	for idx, l := range br.logs {
		if l == nil {
			continue
		}
		n := l.n.Load()
		want := br.expected[br.b.roomOf(idx)]
		var pr *pubRecords
		if br.b.spanning && n > 0 {
			pr = &pubRecords{Pub: idx, N: n, Own: !l.remote}
			part.Pubs = append(part.Pubs, pr)
		}
		if !l.remote {
			res.Published += int64(n)
			res.ExpectedDeliveries += int64(n) * int64(want)
			if n > 0 {
				part.FirstSent = min(part.FirstSent, l.firstSent)
				part.LastSent = max(part.LastSent, l.lastSent)
			}
		}
		counts := make([]int32, 0, n*btou(pr != nil))
		lasts := make([]int64, 0, n*btou(pr != nil))
		var sent []int64
		if pr != nil && pr.Own {
			sent = make([]int64, 0, n)
		}
		for seq := range n {
			rec := l.rec(seq)
			got, last := rec.count.Load(), rec.last.Load()
			part.LastRecv = max(part.LastRecv, last)
			if pr != nil {
				counts = append(counts, got)
				lasts = append(lasts, last)
				if sent != nil {
					sent = append(sent, rec.sent.Load())
				}
			} else if got == want {
				res.Complete++
			}
		}
		if pr != nil {
			pr.Counts, pr.Lasts, pr.Sent = encodeInt32s(counts), encodeInt64s(lasts), encodeInt64s(sent)
		}
	}
	for _, r := range br.recvs {
		if r == nil {
			continue
		}
		res.Deliveries += r.first
		res.Duplicates += r.dups
		res.Reordered += r.late
		res.Misrouted += r.misrouted
		res.Corrupt += r.corrupt
		res.Foreign += r.foreign + r.early
	}
	if part.FirstSent == math.MaxInt64 {
		part.FirstSent = 0
	}
	part.finish(res)
	if !br.b.spanning {
		br.b.errs.addKind(kindLost, res.Lost, lostSample(res, cfg))
	}
	return res, part
}

func btou(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// finish computes what follows from the counts and times: lost deliveries,
// rates and windows.
func (part *bcastPart) finish(res *broadcastResult) {
	res.Lost = res.ExpectedDeliveries - res.Deliveries
	res.PublishS, res.PublishedPerS, res.DeliveryS, res.DeliveriesPerS = 0, 0, 0, 0
	res.FirstSendUnixNS, res.LastReceiptUnixNS = 0, 0
	if res.Published > 0 && part.FirstSent > 0 {
		res.PublishS = round3(float64(part.LastSent-part.FirstSent) / 1e9)
		res.PublishedPerS = perSecond(res.Published, time.Duration(part.LastSent-part.FirstSent))
	}
	if res.Deliveries > 0 && part.FirstSent > 0 {
		res.DeliveryS = round3(float64(part.LastRecv-part.FirstSent) / 1e9)
		res.DeliveriesPerS = perSecond(res.Deliveries, time.Duration(part.LastRecv-part.FirstSent))
		res.FirstSendUnixNS, res.LastReceiptUnixNS = part.FirstSent, part.LastRecv
	}
}

func lostSample(res *broadcastResult, cfg *config) string {
	return fmt.Sprintf("%d of %d expected deliveries never arrived (nothing more came for -drain %v)", res.Lost, res.ExpectedDeliveries, cfg.Drain)
}

// lastReceipt is the histogram of each complete message's time from its
// send to its last receipt (empty when rooms span processes: the parent
// computes it).
func (br *bcastRun) lastReceipt() *latencyRecorder {
	lr := newLatencyRecorder()
	if br.b.spanning {
		return lr
	}
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

// bcastPart is what a process knows of a broadcast beyond its counts: the
// times, and for rooms that span processes every message's records.
type bcastPart struct {
	FirstSent int64         `json:"first_sent"` // wall clock (ns); 0: nothing sent
	LastSent  int64         `json:"last_sent"`
	LastRecv  int64         `json:"last_recv"`
	Pubs      []*pubRecords `json:"pubs,omitempty"`
}

// pubRecords are one publisher's messages as one process saw them:
// receivers of the process that got each (first copies), the latest
// receipt, and from the publisher's own process the send times.
type pubRecords struct {
	Pub    int    `json:"pub"`
	Own    bool   `json:"own"`
	N      uint64 `json:"n"`
	Counts string `json:"counts"` // int32 little endian, base64
	Lasts  string `json:"lasts"`  // int64 little endian, base64
	Sent   string `json:"sent,omitempty"`
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
