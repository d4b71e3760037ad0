package server

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// A Broker carries publications between the instances of one service: the
// servers, usually in separate processes, that share its clients behind a
// load balancer. With a Broker set, BroadcastText, BroadcastBinary,
// PublishText and PublishBinary reach the clients of every instance: the
// server delivers to its own clients itself, as without a Broker, and hands
// the publication to the Broker once; every other instance receives it from
// its Broker and delivers it to its own clients, encoded once there.
//
// The server calls Start once, before any other method, with the function
// that delivers to its clients a publication from another instance. It then
// calls Subscribe and Unsubscribe so that the Broker receives the rooms it
// has members in: the broadcast stream, room "", from the start to the end,
// and a room from the moment it gets its first local member until it loses
// its last. It calls Publish for every publication made on it, and Close
// once when it stops. These calls come from one goroutine of the server's,
// one at a time, in the order the publications were made; a Broker method
// may block (on the network) without holding up the server's clients:
// publications wait in a bounded buffer meanwhile, and past it they are
// dropped.
//
// A Broker must:
//   - never deliver an instance's own publications back to it (the server
//     has delivered them already);
//   - deliver the publications of one instance in the order it published
//     them, one after another (deliver may be called from any goroutine, and
//     concurrently for publications from different instances);
//   - treat p.Data as read-only; it stays valid and unchanged for as long as
//     the Broker keeps it.
//
// The delivery guarantee is at most once: a publication reaches each
// instance at most once, and may not reach it at all when the Broker is
// slow or cut off (the server counts those it could not hand over in
// BrokerStats.Dropped and logs each such episode once), or when it was
// published before the instance's subscription to the room took effect.
// Nothing is replayed after an outage.
//
// Room for more: per-room history and recovery after a reconnect, so that
// a client moved by a drain to another instance misses nothing, would come
// as an optional interface a Broker may also implement (found by a type
// assertion, as net/http finds an http.Flusher) and as a stream position
// (epoch and offset) added to Publication. Brokers written against this
// interface keep working unchanged.
type Broker interface {
	// Start connects the Broker to its server. deliver hands the server a
	// publication from another instance; it does not block.
	Start(deliver func(Publication)) error
	// Publish sends p to the other instances.
	Publish(p Publication) error
	// Subscribe starts receiving the publications of a room from other
	// instances; the room "" is the broadcast stream.
	Subscribe(room string) error
	// Unsubscribe stops receiving a room's publications.
	Unsubscribe(room string) error
	// Close releases the Broker; the server makes no call after it.
	Close() error
}

// A Publication is a message for every client of a room, or of every
// client (Room ""), on every instance.
type Publication struct {
	// Room is the room's name, or "" for a broadcast to every client.
	Room string
	// Op is Text or Binary.
	Op ws.OpCode
	// Data is the message; it must not be modified.
	Data []byte
}

// BrokerStats counts a server's traffic through its Broker.
type BrokerStats struct {
	// Published counts publications the Broker took.
	Published uint64
	// Dropped counts publications that never reached the Broker: its
	// buffer was full, or Publish failed.
	Dropped uint64
	// Received counts publications from other instances delivered to this
	// server's clients.
	Received uint64
}

// BrokerStats returns the counts of the server's Broker traffic; all zero
// without a Broker.
func (s *Server) BrokerStats() BrokerStats {
	l := s.link.Load()
	if l == nil {
		return BrokerStats{}
	}
	return BrokerStats{Published: l.published.Load(), Dropped: l.dropped.Load(), Received: l.received.Load()}
}

// brokerBuffer is how many bytes of publications may wait for a slow
// Broker; past it new publications are dropped.
const brokerBuffer = 16 << 20

// brokerEntryCost is what a waiting publication costs beyond its payload.
const brokerEntryCost = 64

// brokerCloseWait bounds how long stopping the server waits for the Broker
// to take the publications still buffered.
const brokerCloseWait = 2 * time.Second

// brokerLink feeds the server's publications and subscription changes to
// its Broker from one goroutine (the pump), so that callers never wait for
// the Broker.
type brokerLink struct {
	s *Server
	b Broker

	mu      sync.Mutex
	cond    sync.Cond
	queue   []Publication       // waiting for the pump; guarded by mu
	bytes   int                 // size of queue, with brokerEntryCost each; guarded by mu
	dirty   map[string]struct{} // rooms whose subscription may be out of date; guarded by mu
	closing bool                // stop once the queue is empty; guarded by mu
	done    chan struct{}       // closed when the pump returns

	subscribed map[string]struct{} // rooms the Broker has subscribed; owned by the pump

	published, dropped, received atomic.Uint64
	dropping                     atomic.Bool   // an episode of drops is under way
	droppedBefore                atomic.Uint64 // dropped when the episode began
}

// startBroker starts the server's Broker, if it has one, and subscribes
// the broadcast stream.
func (s *Server) startBroker() error {
	if s.Broker == nil {
		return nil
	}
	l := &brokerLink{s: s, b: s.Broker, done: make(chan struct{}), subscribed: make(map[string]struct{})}
	l.cond.L = &l.mu
	if err := s.Broker.Start(l.deliver); err != nil {
		return errors.New("server: starting Broker: " + err.Error())
	}
	if err := s.Broker.Subscribe(""); err != nil {
		s.Broker.Close()
		return errors.New("server: Broker subscribing to broadcasts: " + err.Error())
	}
	l.subscribed[""] = struct{}{}
	s.link.Store(l)
	go l.pump()
	return nil
}

// stopBroker hands the Broker what is still buffered, for a short while,
// and closes it.
func (s *Server) stopBroker() {
	l := s.link.Load()
	if l == nil {
		return
	}
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.cond.Signal()
	select {
	case <-l.done:
	case <-time.After(brokerCloseWait):
		s.log.Warn("broker did not take the last publications in time; closing it", "wait", brokerCloseWait)
	}
	if err := l.b.Close(); err != nil {
		s.log.Warn("closing broker", "err", err)
	}
}

// forward queues a publication made on this server for the other
// instances. payload is copied: the caller may reuse it.
func (s *Server) forward(room string, op ws.OpCode, payload []byte) {
	l := s.link.Load()
	if l == nil {
		return
	}
	size := len(payload) + brokerEntryCost
	l.mu.Lock()
	if l.closing || l.bytes+size > brokerBuffer {
		l.mu.Unlock()
		l.drop("buffer full", nil)
		return
	}
	l.queue = append(l.queue, Publication{Room: room, Op: op, Data: append([]byte(nil), payload...)})
	l.bytes += size
	l.mu.Unlock()
	l.cond.Signal()
}

// roomChanged notes that a room got its first member or lost its last, so
// that the pump brings the Broker's subscription in line. s.roomsMu is
// held by the caller.
func (s *Server) roomChanged(room string) {
	l := s.link.Load()
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.dirty == nil {
		l.dirty = make(map[string]struct{})
	}
	l.dirty[room] = struct{}{}
	l.mu.Unlock()
	l.cond.Signal()
}

// pump runs on a goroutine of its own: it brings subscriptions in line
// with the rooms that have members and hands queued publications to the
// Broker, in order, until the link is closing and nothing is left.
func (l *brokerLink) pump() {
	defer close(l.done)
	var spare []Publication
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && len(l.dirty) == 0 && !l.closing {
			l.cond.Wait()
		}
		batch, dirty := l.queue, l.dirty
		l.queue, l.dirty, l.bytes = spare[:0], nil, 0
		closing := l.closing
		l.mu.Unlock()

		for room := range dirty {
			l.sync(room)
		}
		// An episode of drops ends with a batch handed over whole while
		// nothing was dropped for want of room.
		droppedBefore, failed := l.dropped.Load(), false
		for i, p := range batch {
			if err := l.b.Publish(p); err != nil {
				failed = true
				l.drop("publish failed", err)
			} else {
				l.published.Add(1)
			}
			batch[i] = Publication{}
		}
		if len(batch) > 0 && !failed && l.dropped.Load() == droppedBefore {
			l.recovered()
		}
		spare = batch
		if closing {
			l.mu.Lock()
			empty := len(l.queue) == 0
			l.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// sync subscribes or unsubscribes a room as its local membership now
// requires.
func (l *brokerLink) sync(room string) {
	want := l.s.RoomLen(room) > 0
	_, have := l.subscribed[room]
	switch {
	case want && !have:
		if err := l.b.Subscribe(room); err != nil {
			l.s.log.Error("broker cannot subscribe to room: its publications from other instances are lost", "room", room, "err", err)
			return
		}
		l.subscribed[room] = struct{}{}
	case !want && have:
		if err := l.b.Unsubscribe(room); err != nil {
			l.s.log.Warn("broker cannot unsubscribe from room", "room", room, "err", err)
		}
		delete(l.subscribed, room)
	}
}

// drop counts a publication that will not reach the other instances and
// logs the first of an episode.
func (l *brokerLink) drop(why string, err error) {
	n := l.dropped.Add(1)
	if l.dropping.CompareAndSwap(false, true) {
		l.droppedBefore.Store(n - 1)
		l.s.log.Warn("broker is not keeping up: publications to other instances are being dropped (local clients still get them)",
			"reason", why, "err", err)
	}
}

// recovered ends an episode of drops, if one is under way, and logs it.
func (l *brokerLink) recovered() {
	if l.dropping.Load() && l.dropping.CompareAndSwap(true, false) {
		l.s.log.Warn("broker is keeping up again", "dropped", l.dropped.Load()-l.droppedBefore.Load())
	}
}

// deliver gives this server's clients a publication from another
// instance.
func (l *brokerLink) deliver(p Publication) {
	if p.Op != Text && p.Op != Binary {
		return
	}
	l.received.Add(1)
	if p.Room == "" {
		l.s.broadcast(p.Op, p.Data)
	} else {
		l.s.publish(p.Room, p.Op, p.Data)
	}
}

// LocalHub links Servers in one process as a Broker links instances: a
// publication made on one of them reaches the clients of all. Each Server
// gets its own Broker from the hub. It is what a Broker must do, in a few
// lines, and useful where several Servers share a process.
type LocalHub struct {
	mu   sync.RWMutex
	ends map[*localEnd]struct{} // started ends; guarded by mu
}

// Broker returns a new Broker on the hub, for one Server.
func (h *LocalHub) Broker() Broker {
	return &localEnd{hub: h, rooms: make(map[string]struct{})}
}

// localEnd is one Server's Broker on a LocalHub.
type localEnd struct {
	hub     *LocalHub
	deliver func(Publication)   // set by Start
	rooms   map[string]struct{} // rooms subscribed; guarded by hub.mu
}

func (e *localEnd) Start(deliver func(Publication)) error {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	if e.deliver != nil {
		return errors.New("server: LocalHub broker started twice")
	}
	e.deliver = deliver
	if e.hub.ends == nil {
		e.hub.ends = make(map[*localEnd]struct{})
	}
	e.hub.ends[e] = struct{}{}
	return nil
}

// Publish delivers p to every other Server on the hub that subscribed its
// room, on the caller's goroutine: in order.
func (e *localEnd) Publish(p Publication) error {
	e.hub.mu.RLock()
	defer e.hub.mu.RUnlock()
	for other := range e.hub.ends {
		if other == e {
			continue
		}
		if _, ok := other.rooms[p.Room]; ok {
			other.deliver(p)
		}
	}
	return nil
}

func (e *localEnd) Subscribe(room string) error {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	e.rooms[room] = struct{}{}
	return nil
}

func (e *localEnd) Unsubscribe(room string) error {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	delete(e.rooms, room)
	return nil
}

func (e *localEnd) Close() error {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	delete(e.hub.ends, e)
	return nil
}
