// Package natsbroker is a server.Broker on NATS (github.com/nats-io/nats.go):
// with it, BroadcastText, BroadcastBinary, PublishText and PublishBinary of
// a wsloop server reach the clients of every instance connected to the same
// NATS, not only its own.
//
//	b, err := natsbroker.Connect("nats://127.0.0.1:4222", natsbroker.Config{})
//	if err != nil {
//		log.Fatal(err) // NATS unreachable at start: a configuration error
//	}
//	srv := &server.Server{Broker: b}
//
// It is a package of its own so that programs that do not use NATS do not
// import it.
//
// # Subjects and messages
//
// Broadcasts go to the subject PREFIX.all, and a room's publications to
// PREFIX.room.NAME, with the bytes of NAME other than ASCII letters, digits,
// '-' and '_' written as %XX (so that "a.b" becomes "a%2Eb": dots, spaces
// and wildcards cannot reach NATS). PREFIX is Config.SubjectPrefix, "wsloop"
// by default; instances of different services on one NATS need different
// prefixes. A message is one byte, the WebSocket opcode (1 text, 2
// binary), followed by the data.
//
// An instance subscribes PREFIX.all from the start, and a room's subject
// while it has clients in the room. The connection is made with NoEcho, so
// NATS never sends an instance its own publications: the server delivered
// them to its clients already.
//
// # Guarantees
//
// Core NATS delivers at most once. Publications from one instance reach
// the others in the order it made them. While the connection to NATS is
// down, publications are dropped, not buffered for later (the server counts
// them in BrokerStats.Dropped), and whatever the other instances publish
// meanwhile is lost to this one; local delivery goes on. The loss is
// logged once when the connection drops and once when it is back: nats.go
// reconnects without end, resubscribes, and fan-out resumes. Missed
// messages are not replayed; that would take a stream with history
// (JetStream), which the server's Broker interface leaves room for.
package natsbroker

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/nats-io/nats.go"
	"github.com/wsloop/wsloop/server"
)

// DefaultSubjectPrefix is the subject prefix when Config.SubjectPrefix is
// empty.
const DefaultSubjectPrefix = "wsloop"

// DefaultPending is the number of received messages that may wait for
// delivery when Config.Pending is zero.
const DefaultPending = 1 << 16

// Config configures a Broker; the zero value works.
type Config struct {
	// SubjectPrefix starts every subject: one or more NATS tokens
	// ("wsloop", "chat.prod"), without wildcards or spaces. Empty means
	// DefaultSubjectPrefix.
	SubjectPrefix string
	// Logger receives the connection's events; nil means slog.Default().
	Logger *slog.Logger
	// Pending caps the messages received from NATS and not yet delivered
	// to local clients; past it NATS drops messages for this instance
	// (a slow consumer, logged once per episode). Zero means
	// DefaultPending.
	Pending int
	// Options are more nats.Connect options: credentials, TLS, a name,
	// reconnect timing. They are applied after the Broker's own (which
	// log the connection's events and reconnect without end), except
	// NoEcho, which the Broker always sets, and the reconnect buffer,
	// which it turns off so that publications fail at once while NATS is
	// away instead of arriving late.
	Options []nats.Option
}

// A Broker is a server.Broker on a NATS connection. Give it to one
// server.Server; the server starts and closes it.
type Broker struct {
	nc     *nats.Conn
	prefix string
	log    *slog.Logger
	msgs   chan *nats.Msg
	stop   chan struct{}
	done   chan struct{}

	started atomic.Bool
	subs    map[string]*nats.Subscription // owned by the server's broker goroutine
	scratch []byte                        // message being published; owned likewise

	closeOnce sync.Once
	badMsgs   atomic.Uint64 // messages that were not ours (wrong format); the first is logged
}

var _ server.Broker = (*Broker)(nil)

// Connect connects to the NATS server(s) at url (comma-separated URLs, as
// nats.Connect takes) and returns the Broker. It fails if none can be
// reached now, or if cfg is invalid; once connected, it reconnects without
// end.
func Connect(url string, cfg Config) (*Broker, error) {
	prefix := cfg.SubjectPrefix
	if prefix == "" {
		prefix = DefaultSubjectPrefix
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	pending := cfg.Pending
	if pending <= 0 {
		pending = DefaultPending
	}
	b := &Broker{
		prefix: prefix,
		log:    log,
		msgs:   make(chan *nats.Msg, pending),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		subs:   make(map[string]*nats.Subscription),
	}
	opts := []nats.Option{
		nats.Name("wsloop"),
		nats.MaxReconnects(-1),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // Close, not a loss
			}
			log.Warn("NATS connection lost: publications to and from other instances are lost until it is back; local clients are still served", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Warn("NATS connection back: fan-out across instances resumed", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				log.Warn("NATS: messages from other instances arrive faster than they are delivered; some are dropped", "subject", subject(sub))
				return
			}
			log.Error("NATS", "err", err, "subject", subject(sub))
		}),
	}
	opts = append(opts, cfg.Options...)
	opts = append(opts, nats.NoEcho(), nats.ReconnectBufSize(-1))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connecting to %s: %w", url, err)
	}
	b.nc = nc
	return b, nil
}

func subject(sub *nats.Subscription) string {
	if sub == nil {
		return ""
	}
	return sub.Subject
}

// checkPrefix accepts one or more non-empty NATS tokens without wildcards
// or whitespace.
func checkPrefix(prefix string) error {
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("natsbroker: bad subject prefix %q: want NATS tokens separated by dots, without wildcards or spaces", prefix)
		}
	}
	return nil
}

// Conn returns the Broker's NATS connection, for its status and
// statistics.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// Start starts delivering messages from other instances to the server.
func (b *Broker) Start(deliver func(server.Publication)) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("natsbroker: a Broker serves one server, and was started already")
	}
	go b.receive(deliver)
	return nil
}

// receive delivers received messages, in the order they arrived, until
// the Broker is closed.
func (b *Broker) receive(deliver func(server.Publication)) {
	defer close(b.done)
	for {
		select {
		case m := <-b.msgs:
			p, ok := b.decode(m)
			if !ok {
				if b.badMsgs.Add(1) == 1 {
					b.log.Warn("NATS: a message on a wsloop subject is not in wsloop's format; ignored (another program uses the subject prefix?)", "subject", m.Subject)
				}
				continue
			}
			deliver(p)
		case <-b.stop:
			return
		}
	}
}

// decode turns a message into the publication it carries.
func (b *Broker) decode(m *nats.Msg) (server.Publication, bool) {
	if len(m.Data) == 0 {
		return server.Publication{}, false
	}
	op := ws.OpCode(m.Data[0])
	if op != server.Text && op != server.Binary {
		return server.Publication{}, false
	}
	p := server.Publication{Op: op, Data: m.Data[1:]}
	rest, ok := strings.CutPrefix(m.Subject, b.prefix+".")
	switch {
	case !ok:
		return p, false
	case rest == "all":
	case strings.HasPrefix(rest, "room."):
		room, ok := unescapeRoom(rest[len("room."):])
		if !ok {
			return p, false
		}
		p.Room = room
	default:
		return p, false
	}
	return p, true
}

// Subject returns the NATS subject of a room; "" is the broadcast stream.
func (b *Broker) Subject(room string) string {
	if room == "" {
		return b.prefix + ".all"
	}
	return b.prefix + ".room." + escapeRoom(room)
}

// Publish sends p to the other instances.
func (b *Broker) Publish(p server.Publication) error {
	b.scratch = append(append(b.scratch[:0], byte(p.Op)), p.Data...)
	err := b.nc.Publish(b.Subject(p.Room), b.scratch)
	if cap(b.scratch) > 64<<10 {
		b.scratch = nil
	}
	return err
}

// Subscribe starts receiving a room's publications.
func (b *Broker) Subscribe(room string) error {
	if _, ok := b.subs[room]; ok {
		return nil
	}
	sub, err := b.nc.ChanSubscribe(b.Subject(room), b.msgs)
	if err != nil {
		return err
	}
	b.subs[room] = sub
	return nil
}

// Unsubscribe stops receiving a room's publications.
func (b *Broker) Unsubscribe(room string) error {
	sub, ok := b.subs[room]
	if !ok {
		return nil
	}
	delete(b.subs, room)
	return sub.Unsubscribe()
}

// Close sends what is buffered (for up to a second) and closes the
// connection.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if b.nc.IsConnected() {
			b.nc.FlushTimeout(time.Second)
		}
		b.nc.Close()
		close(b.stop)
		if b.started.Load() {
			<-b.done
		}
	})
	return nil
}

// escapeRoom writes a room name as one NATS token: ASCII letters, digits,
// '-' and '_' as they are, every other byte as %XX.
func escapeRoom(room string) string {
	n := 0
	for i := 0; i < len(room); i++ {
		if !plain(room[i]) {
			n++
		}
	}
	if n == 0 {
		return room
	}
	const hex = "0123456789ABCDEF"
	buf := make([]byte, 0, len(room)+2*n)
	for i := 0; i < len(room); i++ {
		if c := room[i]; plain(c) {
			buf = append(buf, c)
		} else {
			buf = append(buf, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(buf)
}

// unescapeRoom undoes escapeRoom; it rejects anything escapeRoom cannot
// have written.
func unescapeRoom(tok string) (string, bool) {
	if tok == "" {
		return "", false
	}
	if !strings.Contains(tok, "%") {
		for i := 0; i < len(tok); i++ {
			if !plain(tok[i]) {
				return "", false
			}
		}
		return tok, true
	}
	buf := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case plain(c):
			buf = append(buf, c)
		case c == '%' && i+2 < len(tok) && isHex(tok[i+1]) && isHex(tok[i+2]):
			v := unhex(tok[i+1])<<4 | unhex(tok[i+2])
			if plain(v) {
				return "", false // escapeRoom writes these as they are
			}
			buf = append(buf, v)
			i += 2
		default:
			return "", false
		}
	}
	return string(buf), true
}

func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
