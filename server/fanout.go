package server

import (
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

// Fan-out. A message for many clients is encoded once (and compressed at
// most once per compression mode) into a shared block, and every
// recipient's queue refers to those bytes. Frames published one after
// another lie next to each other in their block, so a recipient's queue
// holds a run of them as one piece and its socket takes the whole run with
// one write.
//
// A broadcast (to every client) does not visit the clients at all: it
// appends its frame to the broadcast log, and a pass over the clients,
// queued on the run queue at the first broadcast after the last pass,
// gives each client the whole run it has not had yet as one piece and
// schedules its write. Every client has a position in the log; anything
// else queued for a client (a message of its own, a room's, a ping, a
// close frame) first catches the client up to the end of the log, so a
// client sees every publisher's messages in the order they were sent. The
// frames of a burst thus cost one append each, and each client costs one
// lock, one piece and one write per burst, not per message.

// sharedBlockSize is the size of the blocks broadcast frames are encoded
// into.
const sharedBlockSize = 64 << 10

// sharedFrameMax is the largest frame put into a shared block; a larger one
// gets an array of its own.
const sharedFrameMax = 16 << 10

// modes is the number of frame encodings: plain and the compression modes.
const modes = int(deflateHuffmanOnly) + 1

// broadcaster holds the broadcast logs, one per encoding: a client reads
// the log of its compression mode.
type broadcaster struct {
	mu      sync.Mutex
	logs    [modes]bcastLog
	clients [modes]int // registered clients reading each log; guarded by mu

	pending atomic.Bool // a pass is queued or due
	job     *Client     // the run queue entry that stands for a pass

	rooms blocks // frames published to rooms and other client lists
}

// bcastLog is one encoding of everything broadcast since the server
// started: a position is a byte offset into that stream. Only the part a
// client may still need is kept: from the position the last completed pass
// brought every client to.
type bcastLog struct {
	end       atomic.Int64 // position after the last frame; written with mu held
	segs      []segment    // the kept frames, oldest first; guarded by mu
	lastStart int64        // position of the last frame; guarded by mu
	cur       []byte       // the block being filled; guarded by mu
}

// segment is a stretch of the log held in one array: b[0] is at position
// start, and the stretch ends where the next segment (or the log) ends.
// Segments are never changed once added, and the bytes of the log are
// never changed once written.
type segment struct {
	start int64
	b     []byte
}

// logView is a snapshot of a log: the segments and the end at one moment.
type logView struct {
	segs      []segment
	end       int64
	lastStart int64
}

// append adds a frame to the log, copying it into the current block if it
// is small. b.mu must be held.
func (l *bcastLog) append(frame []byte) {
	end := l.end.Load()
	if len(frame) > sharedFrameMax {
		l.segs = append(l.segs, segment{start: end, b: frame})
		l.cur = nil // the next small frame starts a new block
	} else {
		l.room(end, len(frame))
		l.cur = append(l.cur, frame...)
	}
	l.lastStart = end
	l.end.Store(end + int64(len(frame)))
}

// appendEncoded encodes a plain frame straight into the current block if
// it is small. b.mu must be held.
func (l *bcastLog) appendEncoded(op ws.OpCode, payload []byte) {
	size := wsproto.HeaderSize(len(payload), false) + len(payload)
	if size > sharedFrameMax {
		l.append(encodeFrame(op, payload))
		return
	}
	end := l.end.Load()
	l.room(end, size)
	l.cur = wsproto.AppendFrame(l.cur, op, true, payload)
	l.lastStart = end
	l.end.Store(end + int64(size))
}

// room makes sure the current block has n bytes free, starting a new block
// (and segment, at position end) when it has not. b.mu must be held.
func (l *bcastLog) room(end int64, n int) {
	if cap(l.cur)-len(l.cur) >= n {
		return
	}
	l.cur = make([]byte, 0, sharedBlockSize)
	l.segs = append(l.segs, segment{start: end, b: l.cur[:cap(l.cur)]})
}

func (l *bcastLog) view() logView {
	return logView{segs: l.segs, end: l.end.Load(), lastStart: l.lastStart}
}

// prune forgets the segments that end at or before pos, keeping the last.
// b.mu must be held.
func (l *bcastLog) prune(pos int64) {
	k := 0
	for k+1 < len(l.segs) && l.segs[k+1].start <= pos {
		k++
	}
	if k > 0 {
		clear(l.segs[:k])
		l.segs = l.segs[k:]
	}
}

func (s *Server) broadcast(op ws.OpCode, payload []byte) {
	b := &s.bcast
	f := s.newFrames(op, payload)
	// Compress outside the lock, for the modes that have clients now.
	var enc [modes][]byte
	b.mu.Lock()
	counts := b.clients
	b.mu.Unlock()
	if f.compress {
		for m := deflateOn; int(m) < modes; m++ {
			if counts[m] > 0 {
				enc[m] = s.compressFrame(m, op, payload)
			}
		}
	}
	appended := false
	b.mu.Lock()
	s.stats.broadcast(b.readersLocked())
	for m := range b.logs {
		if b.clients[m] == 0 {
			continue
		}
		switch {
		case !f.compress || m == int(deflateOff):
			b.logs[m].appendEncoded(op, payload)
		case enc[m] != nil:
			b.logs[m].append(enc[m])
		default: // a client of this mode arrived meanwhile
			b.logs[m].append(s.compressFrame(deflateMode(m), op, payload))
		}
		appended = true
	}
	b.mu.Unlock()
	if appended && !b.pending.Swap(true) {
		s.runq.push(b.job)
	}
}

// joinLog starts c at the end of the broadcast log: it gets every
// broadcast from now on. s.mu must be held for writing, with c being
// listed, so that no pass can miss it.
func (s *Server) joinLog(c *Client) {
	b := &s.bcast
	c.mu.Lock()
	b.mu.Lock()
	b.clients[c.deflate]++
	c.logPos = b.logs[c.deflate].end.Load()
	c.inLog = true
	b.mu.Unlock()
	c.mu.Unlock()
}

// leaveLog counts c out of its log's readers, as it stops being listed.
// s.mu must be held.
func (s *Server) leaveLog(c *Client) {
	b := &s.bcast
	b.mu.Lock()
	b.clients[c.deflate]--
	b.mu.Unlock()
}

// pass brings every client up to the end of the broadcast log and
// schedules the write of what it got.
func (s *Server) pass() {
	b := &s.bcast
	b.pending.Store(false)
	var views [modes]logView
	b.mu.Lock()
	for m := range b.logs {
		views[m] = b.logs[m].view()
	}
	b.mu.Unlock()
	s.mu.RLock()
	for _, c := range s.table {
		if c != nil && c.listed {
			c.catchUpPass(&views[c.deflate])
		}
	}
	for c := range s.others {
		if c.listed {
			c.catchUpPass(&views[c.deflate])
		}
	}
	s.mu.RUnlock()
	// Every listed client is now at or past the views' ends, and a client
	// listed later starts past them.
	b.mu.Lock()
	for m := range b.logs {
		b.logs[m].prune(views[m].end)
	}
	b.mu.Unlock()
}

// catchUpPass brings c up to v for a pass and schedules the write.
func (c *Client) catchUpPass(v *logView) {
	c.mu.Lock()
	if c.logPos < v.end {
		c.catchUpToLocked(v)
		if c.outBytes > 0 && !c.aborting {
			c.scheduleLocked(needFlush)
		}
	}
	c.mu.Unlock()
}

// catchUpLocked queues for c the broadcasts it has not had yet. Whatever
// is queued for c must come after them. c.mu must be held.
func (c *Client) catchUpLocked() {
	b := &c.srv.bcast
	if !c.inLog || c.logPos == b.logs[c.deflate].end.Load() {
		return
	}
	b.mu.Lock()
	v := b.logs[c.deflate].view()
	b.mu.Unlock()
	c.catchUpToLocked(&v)
}

// catchUpToLocked queues for c the part of the log between its position
// and the view's end, as few pieces as the segments allow, and applies the
// pending-output cap as if each frame had been queued by itself. c.mu must
// be held.
func (c *Client) catchUpToLocked(v *logView) {
	from := c.logPos
	if !c.inLog || from >= v.end {
		return
	}
	c.logPos = v.end
	if c.closeSent || c.aborting || c.dead {
		return
	}
	before := c.outBytes
	for i, sg := range v.segs {
		end := v.end
		if i+1 < len(v.segs) {
			end = v.segs[i+1].start
		}
		if end <= from {
			continue
		}
		lo := max(from, sg.start) - sg.start
		c.queueShared(sg.b[lo : end-sg.start])
	}
	// One frame into an empty queue is always taken: the check of
	// afterQueueLocked, for the last frame of the run.
	single := from == v.lastStart && before == 0
	if c.outBytes > c.srv.maxPendingBytes() && !single {
		c.srv.log.Warn("disconnecting slow consumer", "client", c.id, "pending_bytes", c.outBytes)
		c.abortLocked(ErrSlowConsumer)
	}
}

// queueShared queues bytes that must never change (they may be shared by
// many clients), by reference. c.mu must be held.
func (c *Client) queueShared(p []byte) {
	if n := len(c.out); n > 0 && c.out[n-1].pooled == nil && follows(c.out[n-1].b, p) {
		// p starts right where the last piece ends: the piece grows.
		last := &c.out[n-1]
		last.b = last.b[:len(last.b)+len(p)]
	} else {
		c.out = append(c.out, chunk{b: p})
	}
	c.outBytes += len(p)
}

// follows reports whether next starts right where b ends, inside b's
// array: then b[:len(b)+len(next)] holds both.
func follows(b, next []byte) bool {
	return len(next) > 0 && cap(b)-len(b) >= len(next) && &b[:len(b)+1][len(b)] == &next[0]
}

// blocks hands out space in shared blocks for frames published to rooms
// (and other lists of clients), one block being filled per encoding, so
// that frames published one after another follow one another. A block is
// never reused: the garbage collector frees it once no queue refers to it.
type blocks struct {
	mu  sync.Mutex
	cur [modes][]byte // guarded by mu
}

// add copies frame, when it is small enough, into the current block of the
// encoding mode and returns the copy; a larger frame is returned as it is.
func (b *blocks) add(mode deflateMode, frame []byte) []byte {
	if len(frame) > sharedFrameMax {
		return frame
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.room(mode, len(frame))
	start := len(cur)
	b.cur[mode] = append(cur, frame...)
	return b.cur[mode][start:]
}

// encode encodes a final, unmasked, uncompressed frame into the current
// plain block and returns it.
func (b *blocks) encode(op ws.OpCode, payload []byte) []byte {
	size := wsproto.HeaderSize(len(payload), false) + len(payload)
	if size > sharedFrameMax {
		return encodeFrame(op, payload)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.room(deflateOff, size)
	start := len(cur)
	b.cur[deflateOff] = wsproto.AppendFrame(cur, op, true, payload)
	return b.cur[deflateOff][start:]
}

// room returns the current block of mode with at least n bytes free,
// starting a new block when the current one is full. b.mu must be held.
func (b *blocks) room(mode deflateMode, n int) []byte {
	if cur := b.cur[mode]; cap(cur)-len(cur) >= n {
		return cur
	}
	b.cur[mode] = make([]byte, 0, sharedBlockSize)
	return b.cur[mode]
}

// fanOut queues one message for each of clients, encoded once per
// compression mode.
func (s *Server) fanOut(clients []*Client, op ws.OpCode, payload []byte) {
	f := s.newFrames(op, payload)
	for _, c := range clients {
		c.enqueue(f.forClient(c))
	}
}

// frames is one message encoded for many clients: plain, and compressed
// once per compression mode, each the first time a client needs it.
type frames struct {
	s        *Server
	op       ws.OpCode
	payload  []byte
	compress bool
	enc      [modes][]byte // by deflateMode; nil until needed
}

func (s *Server) newFrames(op ws.OpCode, payload []byte) frames {
	return frames{
		s:        s,
		op:       op,
		payload:  payload,
		compress: s.Compression && len(payload) >= s.compressionThreshold(),
	}
}

// forClient returns the frame to queue for c; it must not be changed.
func (f *frames) forClient(c *Client) []byte {
	mode := c.deflate
	if !f.compress {
		mode = deflateOff
	}
	if f.enc[mode] == nil {
		if mode == deflateOff {
			f.enc[mode] = f.s.bcast.rooms.encode(f.op, f.payload)
		} else {
			f.enc[mode] = f.s.bcast.rooms.add(mode, f.s.compressFrame(mode, f.op, f.payload))
		}
	}
	return f.enc[mode]
}
