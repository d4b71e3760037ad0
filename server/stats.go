package server

import (
	"errors"
	"maps"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

// Stats is a snapshot of a server's counters and gauges, for monitoring:
// Server.Stats returns one. Counters (uint64) only grow from the server's
// start; gauges (int) are the state at the time of the snapshot. The
// wsprom package exports them to Prometheus.
//
// Counting costs the event loop nearly nothing: the workers count in
// plain integers of their own and publish them after each turn, so a
// snapshot includes every event of a turn that has ended. Direct sends are
// counted on the client and taken by the worker that writes them;
// broadcasts and room publishes cost one atomic addition each, whatever
// the number of recipients.
type Stats struct {
	// Clients is the number of upgraded clients connected (Len).
	Clients int
	// Handshaking is the number of connections in their opening
	// handshake: accepted and not yet upgraded, or refused and not yet
	// closed.
	Handshaking int
	// QueuedBytes is the output queued for clients and not yet taken by
	// their sockets, broadcasts a client has yet to be handed included.
	QueuedBytes int64

	// Upgrades counts handshakes answered 101 Switching Protocols: every
	// client that was ever connected.
	Upgrades uint64
	// Refusals counts handshakes answered with an HTTP error, by status:
	// 400 for a malformed request, 403 for a refused Origin or a plain
	// error from Authenticate, 426 for an unsupported version, 431 for a
	// request head over MaxHeaderBytes, 503 while denying connections or
	// shutting down or out of descriptors, the status of a RejectError
	// from Authenticate or DenyNewConnections. The map is the caller's.
	Refusals map[int]uint64
	// HandshakeTimeouts counts connections closed because their request
	// did not arrive within HandshakeTimeout.
	HandshakeTimeouts uint64
	// HandshakeFailures counts connections that ended during the handshake
	// without an answer: the client went away, its PROXY protocol header
	// was missing or invalid, or its TLS handshake failed. (Behind
	// ServeHTTP and Upgrade, the http.Server answers bad requests and
	// times out slow ones itself; those are not counted here.)
	HandshakeFailures uint64

	// FramesReceived counts frames received from clients: data frames
	// (each fragment once), pings, pongs and close frames.
	FramesReceived uint64
	// MessagesReceived counts complete text and binary messages received
	// (a fragmented message once), each passed to OnMessage.
	MessagesReceived uint64
	// BytesReceived counts bytes read from upgraded clients after their
	// request head: frames, before inflating, after TLS decryption.
	BytesReceived uint64
	// MessagesSent counts text and binary messages queued for clients,
	// one for each recipient: direct sends (SendText, SendBinary),
	// broadcast recipients and room members.
	MessagesSent uint64
	// BytesSent counts bytes written to clients from their 101 response
	// on: frames, before TLS encryption.
	BytesSent uint64

	// Broadcasts counts messages broadcast (BroadcastText, BroadcastBinary
	// and broadcasts from the Broker); BroadcastRecipients adds up the
	// clients connected at each.
	Broadcasts          uint64
	BroadcastRecipients uint64
	// RoomPublishes counts messages published to rooms with members here
	// (PublishText, PublishBinary and room messages from the Broker);
	// RoomRecipients adds up the members each was published to.
	RoomPublishes  uint64
	RoomRecipients uint64

	// Disconnects counts upgraded clients that left, by cause (see
	// DisconnectCause): Disconnects[DisconnectSlowConsumer] and so on.
	Disconnects [numDisconnectCauses]uint64

	// Time spent in each callback. Authenticate, which runs on a
	// goroutine of its own and may block, is not timed.
	OnNewClient, OnMessage, OnClientLeft CallbackStats

	// Broker is the Broker's traffic (see BrokerStats); zero without one.
	Broker BrokerStats
}

// CallbackStats counts the calls of one callback and the time spent in
// them, as a histogram. Timing a call costs two reads of the clock, about
// as much as all other counting of a message, so one call in 16 is timed:
// the first call on each worker and every 16th after it.
type CallbackStats struct {
	// Calls counts the calls, including those that panicked.
	Calls uint64
	// Timed counts the calls that were timed; Time and Buckets are theirs.
	Timed uint64
	// Time is the time spent in the calls timed, added up. The time spent
	// in all calls is about Time * Calls / Timed.
	Time time.Duration
	// Buckets[i] counts the timed calls that took more than
	// CallbackBuckets()[i-1] and at most CallbackBuckets()[i]. Calls
	// longer than the last bound count only in Timed.
	Buckets [len(callbackBounds)]uint64
}

// callbackBounds are the upper bounds of the callback time buckets.
var callbackBounds = [...]time.Duration{
	time.Microsecond, 5 * time.Microsecond, 10 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 5 * time.Second,
}

// CallbackBuckets returns the upper bounds of CallbackStats.Buckets, from
// 1 µs to 5 s.
func CallbackBuckets() []time.Duration { return callbackBounds[:] }

// A DisconnectCause says why a client left; it indexes Stats.Disconnects.
// DisconnectCauseOf gives the cause of an error passed to OnClientLeft.
type DisconnectCause int

// The causes of a client's leaving.
const (
	// DisconnectClientClose: the client sent a close frame (a *CloseError).
	DisconnectClientClose DisconnectCause = iota
	// DisconnectServerClose: the client answered the server's close
	// frame (Client.Close, Shutdown, Drain); OnClientLeft got nil.
	DisconnectServerClose
	// DisconnectProtocolError: the client broke the protocol and was sent
	// close code 1002 (a *wsproto.Error).
	DisconnectProtocolError
	// DisconnectInvalidData: the client sent invalid UTF-8 or bad
	// compressed data and was sent close code 1007.
	DisconnectInvalidData
	// DisconnectMessageTooBig: a message over MaxMessageSize; close code
	// 1009.
	DisconnectMessageTooBig
	// DisconnectSlowConsumer: ErrSlowConsumer.
	DisconnectSlowConsumer
	// DisconnectWriteTimeout: ErrWriteTimeout.
	DisconnectWriteTimeout
	// DisconnectReadTimeout: ErrReadTimeout.
	DisconnectReadTimeout
	// DisconnectPingTimeout: ErrPingTimeout.
	DisconnectPingTimeout
	// DisconnectCloseTimeout: ErrCloseTimeout.
	DisconnectCloseTimeout
	// DisconnectServerClosed: ErrServerClosed (Close, or the end of a
	// Shutdown that ran out of time).
	DisconnectServerClosed
	// DisconnectConnectionLost: the connection ended without a close
	// frame (ErrConnectionLost).
	DisconnectConnectionLost
	// DisconnectCallbackPanic: a callback panicked (ErrCallbackPanic).
	DisconnectCallbackPanic
	// DisconnectOther: any other error.
	DisconnectOther

	numDisconnectCauses = iota
)

var causeNames = [numDisconnectCauses]string{
	"client_close", "server_close", "protocol_error", "invalid_data", "message_too_big",
	"slow_consumer", "write_timeout", "read_timeout", "ping_timeout", "close_timeout",
	"server_closed", "connection_lost", "callback_panic", "other",
}

// String returns the cause's name in snake case, such as "slow_consumer",
// as metrics label it.
func (d DisconnectCause) String() string {
	if d < 0 || d >= numDisconnectCauses {
		return "DisconnectCause(" + strconv.Itoa(int(d)) + ")"
	}
	return causeNames[d]
}

// CloseCode returns the close code the server sends for the cause: 1002,
// 1007 or 1009 for the protocol errors, 1008 for the slow consumer and the
// read and write timeouts, 1011 for a callback panic; 0 when the server
// sends none of its own (the client closed, the connection was cut or
// lost, or the server's own close was answered).
func (d DisconnectCause) CloseCode() ws.StatusCode {
	switch d {
	case DisconnectProtocolError:
		return ws.StatusProtocolError
	case DisconnectInvalidData:
		return ws.StatusInvalidFramePayloadData
	case DisconnectMessageTooBig:
		return ws.StatusMessageTooBig
	case DisconnectSlowConsumer, DisconnectWriteTimeout, DisconnectReadTimeout:
		return ws.StatusPolicyViolation
	case DisconnectCallbackPanic:
		return ws.StatusInternalServerError
	}
	return 0
}

// DisconnectCauseOf returns the cause of err, an error OnClientLeft got.
func DisconnectCauseOf(err error) DisconnectCause {
	var ce *CloseError
	var pe *wsproto.Error
	switch {
	case err == nil:
		return DisconnectServerClose
	case errors.As(err, &ce):
		return DisconnectClientClose
	case errors.As(err, &pe):
		switch pe.Code {
		case ws.StatusInvalidFramePayloadData:
			return DisconnectInvalidData
		case ws.StatusMessageTooBig:
			return DisconnectMessageTooBig
		}
		return DisconnectProtocolError
	case errors.Is(err, ErrSlowConsumer):
		return DisconnectSlowConsumer
	case errors.Is(err, ErrWriteTimeout):
		return DisconnectWriteTimeout
	case errors.Is(err, ErrReadTimeout):
		return DisconnectReadTimeout
	case errors.Is(err, ErrPingTimeout):
		return DisconnectPingTimeout
	case errors.Is(err, ErrCloseTimeout):
		return DisconnectCloseTimeout
	case errors.Is(err, ErrServerClosed):
		return DisconnectServerClosed
	case errors.Is(err, ErrConnectionLost):
		return DisconnectConnectionLost
	case errors.Is(err, ErrCallbackPanic):
		return DisconnectCallbackPanic
	}
	return DisconnectOther
}

// Stats returns a snapshot of the server's counters and gauges. It is
// cheap enough for every scrape of a monitoring system: it visits each
// client once, under the client's lock, to add up its queued output.
func (s *Server) Stats() Stats {
	var st Stats
	var sum counters
	s.stats.mu.Lock()
	for _, w := range s.stats.workers {
		w.mu.Lock()
		sum.add(&w.pub)
		w.mu.Unlock()
	}
	st.Refusals = maps.Clone(s.stats.refusals)
	s.stats.mu.Unlock()
	if st.Refusals == nil {
		st.Refusals = map[int]uint64{}
	}
	ss := &s.stats
	st.Upgrades = ss.upgrades.Load()
	st.HandshakeTimeouts = sum.handshakeTimeouts + ss.handshakeTimeouts.Load()
	st.HandshakeFailures = sum.handshakeFailures + ss.handshakeFailures.Load()
	st.FramesReceived = sum.framesIn
	st.MessagesReceived = sum.messagesIn
	st.BytesReceived = sum.bytesIn
	st.BytesSent = sum.bytesOut
	st.Broadcasts = ss.broadcasts.Load()
	st.BroadcastRecipients = ss.broadcastRecipients.Load()
	st.RoomPublishes = ss.roomPublishes.Load()
	st.RoomRecipients = ss.roomRecipients.Load()
	st.MessagesSent = sum.messagesOut + ss.sentWrapped.Load() + st.BroadcastRecipients
	st.Disconnects = sum.disconnects
	st.OnNewClient = sum.callbacks[cbNewClient].stats()
	st.OnMessage = sum.callbacks[cbMessage].stats()
	st.OnClientLeft = sum.callbacks[cbClientLeft].stats()
	st.Broker = s.BrokerStats()

	b := &s.bcast
	var ends [modes]int64
	for m := range ends {
		ends[m] = b.logs[m].end.Load()
	}
	s.mu.RLock()
	st.Clients = s.nclients
	s.eachClientLocked(func(c *Client) {
		if !c.listed {
			st.Handshaking++
		}
		c.mu.Lock()
		st.QueuedBytes += int64(c.outBytes)
		if c.inLog && !c.dead && c.logPos < ends[c.deflate] {
			st.QueuedBytes += ends[c.deflate] - c.logPos
		}
		c.mu.Unlock()
	})
	s.mu.RUnlock()
	st.Handshaking += int(ss.handshaking.Load())
	return st
}

// serverStats holds the counts that are not a worker's: those of
// handshakes on goroutines, of publications from any goroutine, and the
// workers' own, to add up.
type serverStats struct {
	mu       sync.Mutex
	workers  []*workerStats // every worker's, also after it ended; guarded by mu
	refusals map[int]uint64 // handshakes refused, by HTTP status; guarded by mu

	handshaking                     atomic.Int64 // handshakes under way on goroutines
	upgrades                        atomic.Uint64
	handshakeTimeouts               atomic.Uint64
	handshakeFailures               atomic.Uint64
	broadcasts, broadcastRecipients atomic.Uint64
	roomPublishes, roomRecipients   atomic.Uint64
	sentWrapped                     atomic.Uint64 // messages sent that Client.sent could not hold
}

// addWorker lists a worker's counts for Stats.
func (ss *serverStats) addWorker(w *workerStats) {
	ss.mu.Lock()
	ss.workers = append(ss.workers, w)
	ss.mu.Unlock()
}

// refused counts a handshake answered with resp, an HTTP error response.
func (ss *serverStats) refused(resp []byte) {
	ss.refusedStatus(responseStatus(resp))
}

// refusedStatus counts a handshake answered with an HTTP error status.
func (ss *serverStats) refusedStatus(status int) {
	ss.mu.Lock()
	if ss.refusals == nil {
		ss.refusals = make(map[int]uint64)
	}
	ss.refusals[status]++
	ss.mu.Unlock()
}

// handshakeLost counts a handshake on a goroutine that ended with err
// before it was answered: a timeout, or a failure.
func (ss *serverStats) handshakeLost(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		ss.handshakeTimeouts.Add(1)
	} else {
		ss.handshakeFailures.Add(1)
	}
}

// broadcast counts a broadcast queued for n clients.
func (ss *serverStats) broadcast(n int) {
	ss.broadcasts.Add(1)
	ss.broadcastRecipients.Add(uint64(n))
}

// readersLocked returns the number of clients that read the broadcast
// logs. b.mu must be held.
func (b *broadcaster) readersLocked() int {
	n := 0
	for _, k := range b.clients {
		n += k
	}
	return n
}

// published counts a room message published to n members.
func (ss *serverStats) published(n int) {
	ss.roomPublishes.Add(1)
	ss.roomRecipients.Add(uint64(n))
}

// responseStatus reads the status code of an HTTP response; 0 if it has
// none.
func responseStatus(resp []byte) int {
	// "HTTP/1.1 403 ..."
	if len(resp) < 12 || resp[8] != ' ' {
		return 0
	}
	n := 0
	for _, b := range resp[9:12] {
		if b < '0' || b > '9' {
			return 0
		}
		n = 10*n + int(b-'0')
	}
	return n
}

// The callbacks that are timed, indexing counters.callbacks.
const (
	cbNewClient = iota
	cbMessage
	cbClientLeft
	numCallbacks
)

// timeEvery is how often a callback is timed: the first call of each
// callback on each worker, and every timeEvery-th after it. Reading the
// clock twice costs about as much as all other counting of a message.
const timeEvery = 16

// counters are the counts a worker keeps. The worker counts in its own
// copy without synchronization and adds it to the published copy, under
// a lock, once per turn.
type counters struct {
	framesIn, messagesIn, bytesIn uint64
	messagesOut, bytesOut         uint64

	// Counted once per client, not per message.
	handshakeTimeouts uint64
	handshakeFailures uint64
	disconnects       [numDisconnectCauses]uint64

	callbacks [numCallbacks]callbackCounts
}

type callbackCounts struct {
	calls   uint64
	timed   uint64
	ns      int64
	buckets [len(callbackBounds)]uint64
}

func (h *callbackCounts) observe(d time.Duration) {
	h.timed++
	h.ns += int64(d)
	for i, b := range callbackBounds {
		if d <= b {
			h.buckets[i]++
			return
		}
	}
}

func (h *callbackCounts) add(g *callbackCounts) {
	h.calls += g.calls
	if g.timed == 0 {
		return
	}
	h.timed += g.timed
	h.ns += g.ns
	for i, n := range g.buckets {
		h.buckets[i] += n
	}
}

func (h *callbackCounts) stats() CallbackStats {
	return CallbackStats{Calls: h.calls, Timed: h.timed, Time: time.Duration(h.ns), Buckets: h.buckets}
}

// addMessages adds the per-message counts of b to a's.
func (a *counters) addMessages(b *counters) {
	a.framesIn += b.framesIn
	a.messagesIn += b.messagesIn
	a.bytesIn += b.bytesIn
	a.messagesOut += b.messagesOut
	a.bytesOut += b.bytesOut
}

// addClients adds the per-client counts of b to a's.
func (a *counters) addClients(b *counters) {
	a.handshakeTimeouts += b.handshakeTimeouts
	a.handshakeFailures += b.handshakeFailures
	for i, n := range b.disconnects {
		a.disconnects[i] += n
	}
}

// add adds all of b's counts to a's.
func (a *counters) add(b *counters) {
	a.addMessages(b)
	a.addClients(b)
	for k := range b.callbacks {
		a.callbacks[k].add(&b.callbacks[k])
	}
}

// workerStats is one worker's counts: its own, and those it published.
type workerStats struct {
	// Owned by the worker.
	counters
	dirty   bool               // counters holds counts not yet published
	clients bool               // ... among them per-client counts
	called  uint8              // ... and callbacks, a bit for each kind
	skip    [numCallbacks]int8 // calls of each kind to go before the next is timed

	mu  sync.Mutex
	pub counters // guarded by mu
}

// publish makes the counts of the turn that ended visible to Stats. It
// touches only the parts that changed: after a turn that echoed a message,
// five sums and a callback count.
func (w *workerStats) publish() {
	if !w.dirty {
		return
	}
	w.mu.Lock()
	w.pub.addMessages(&w.counters)
	if w.clients {
		w.pub.addClients(&w.counters)
	}
	for k := range w.callbacks {
		if w.called&(1<<k) != 0 {
			w.pub.callbacks[k].add(&w.callbacks[k])
		}
	}
	w.mu.Unlock()
	w.framesIn, w.messagesIn, w.bytesIn, w.messagesOut, w.bytesOut = 0, 0, 0, 0, 0
	if w.clients {
		w.handshakeTimeouts, w.handshakeFailures = 0, 0
		w.disconnects = [numDisconnectCauses]uint64{}
		w.clients = false
	}
	for k := range w.callbacks {
		if w.called&(1<<k) != 0 {
			w.callbacks[k] = callbackCounts{}
		}
	}
	w.called = 0
	w.dirty = false
}

// read counts n bytes read from an upgraded client.
func (w *workerStats) read(n int) {
	w.bytesIn += uint64(n)
	w.dirty = true
}

// frame counts a frame decoded, when n, the bytes the decoder took, is not
// zero.
func (w *workerStats) frame(n int) {
	if n > 0 {
		w.framesIn++
		w.dirty = true
	}
}

// message counts a message received.
func (w *workerStats) message() {
	w.messagesIn++
	w.dirty = true
}

// callback is a callback being run: its kind, and when it started if it
// is timed (see timeEvery), else -1.
type callback struct {
	kind  int
	start time.Duration
}

// call starts counting a callback of kind; took ends it:
//
//	defer w.st.took(w.st.call(kind))
func (w *workerStats) call(kind int) callback {
	if w.skip[kind]--; w.skip[kind] >= 0 {
		return callback{kind, -1}
	}
	w.skip[kind] = timeEvery - 1
	return callback{kind, monotime()}
}

// took counts a callback that returned (or panicked).
func (w *workerStats) took(cb callback) {
	h := &w.callbacks[cb.kind]
	h.calls++
	if cb.start >= 0 {
		h.observe(monotime() - cb.start)
	}
	w.called |= 1 << cb.kind
	w.dirty = true
}

// monoBase is the origin of monotime.
var monoBase = time.Now()

// monotime reads the monotonic clock: one clock read, where time.Now takes
// two.
func monotime() time.Duration { return time.Since(monoBase) }

// flushLocked writes c's queued output (see Client.flushLocked) and counts
// the bytes that left and the messages queued for c since it last did.
// c.mu must be held.
func (w *worker) flushLocked(c *Client) error {
	queued := c.outBytes
	err := c.flushLocked(&w.iov)
	w.st.flushed(c, queued, err)
	return err
}

// flushed counts a flush of c's output, which had queued bytes before it
// and ended with err, and takes the count of messages queued for c. c.mu
// must be held.
func (w *workerStats) flushed(c *Client, queued int, err error) {
	if err == nil && c.state == stOpen {
		w.bytesOut += uint64(queued - c.outBytes)
	}
	w.messagesOut += uint64(c.sent)
	c.sent = 0
	w.dirty = true
}

// countSent counts a message queued for c. c.sent is small, to fit where
// Client has room: a count past its range goes to the server's. c.mu must
// be held.
func (c *Client) countSent() {
	if c.sent++; c.sent == 0 {
		c.srv.stats.sentWrapped.Add(1 << 16)
	}
}

// errHandedOver ends a connection in its handshake that turned out to be a
// plain HTTP request, handed to Handler.
var errHandedOver = errors.New("server: plain HTTP request handed to Handler")

// ended counts a client that finished with err: an upgraded client's
// disconnect by its cause, or a handshake that ended without an answer.
// c.mu must be held.
func (w *workerStats) ended(c *Client, err error) {
	w.messagesOut += uint64(c.sent)
	c.sent = 0
	w.dirty = true
	w.clients = true
	switch {
	case c.state == stOpen:
		w.disconnects[DisconnectCauseOf(err)]++
	case c.state == stLinger || err == errHandedOver: // answered
	case errors.Is(err, ErrReadTimeout):
		w.handshakeTimeouts++
	default:
		w.handshakeFailures++
	}
}
