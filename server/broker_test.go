package server_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/internal/testlog"
	"github.com/wsloop/wsloop/server"
)

// brokerServer is a server whose clients say what to do: "join NAME",
// "leave NAME", "all TEXT" (broadcast), "pub NAME TEXT" (publish to a
// room), "bin NAME TEXT" (publish binary), "burst NAME N" (N numbers,
// alternately broadcast and published to the room). Every command is answered "ok"
// once done, so a test knows its effect is in place.
func brokerServer(b server.Broker) *server.Server {
	srv := &server.Server{Broker: b, Logger: quietLogger()}
	srv.OnMessage = func(c *server.Client, m server.Message) {
		cmd, arg, _ := strings.Cut(string(m.Data), " ")
		switch cmd {
		case "join":
			c.Join(arg)
		case "leave":
			c.Leave(arg)
		case "all":
			srv.BroadcastText(arg)
		case "pub":
			room, text, _ := strings.Cut(arg, " ")
			srv.PublishText(room, text)
		case "burst": // "burst ROOM N": 0 to N-1, even to all, odd to ROOM
			room, count, _ := strings.Cut(arg, " ")
			n, _ := strconv.Atoi(count)
			for i := range n {
				if i%2 == 0 {
					srv.BroadcastText(strconv.Itoa(i))
				} else {
					srv.PublishText(room, strconv.Itoa(i))
				}
			}
		case "bin":
			room, text, _ := strings.Cut(arg, " ")
			srv.PublishBinary(room, []byte(text))
		default:
			c.SendText("unknown command " + cmd)
			return
		}
		c.SendText("ok")
	}
	return srv
}

// inbox reads a client's messages on a goroutine of its own, so that a
// test can wait for one with a timeout without breaking the connection.
type inbox struct {
	conn *websocket.Conn
	msgs chan inMsg
}

type inMsg struct {
	op   int
	text string
	err  error
}

func listen(t *testing.T, conn *websocket.Conn) *inbox {
	in := &inbox{conn: conn, msgs: make(chan inMsg, 1<<14)}
	conn.SetReadDeadline(time.Time{})
	go func() {
		for {
			op, data, err := conn.ReadMessage()
			in.msgs <- inMsg{op, string(data), err}
			if err != nil {
				return
			}
		}
	}()
	return in
}

// next returns the next message, failing the test after 10 s.
func (in *inbox) next(t *testing.T) inMsg {
	t.Helper()
	select {
	case m := <-in.msgs:
		if m.err != nil {
			t.Fatalf("reading: %v", m.err)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return inMsg{}
	}
}

// expect fails unless the next message is the text want.
func (in *inbox) expect(t *testing.T, want string) {
	t.Helper()
	if m := in.next(t); m.op != websocket.TextMessage || m.text != want {
		t.Fatalf("got %q (op %d), want text %q", m.text, m.op, want)
	}
}

// none fails if a message arrives within a short while.
func (in *inbox) none(t *testing.T) {
	t.Helper()
	select {
	case m := <-in.msgs:
		t.Fatalf("unexpected message %q (err %v)", m.text, m.err)
	case <-time.After(200 * time.Millisecond):
	}
}

// command sends cmd and waits for its "ok".
func (in *inbox) command(t *testing.T, cmd string) {
	t.Helper()
	if err := in.conn.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
		t.Fatal(err)
	}
	in.expect(t, "ok")
}

// waitSubscribed publishes probes to room from pub until member, a client
// of another instance in room, gets one: that instance's Broker has then
// subscribed room. Subscriptions follow membership asynchronously.
func waitSubscribed(t *testing.T, pub, member *inbox, room string) {
	t.Helper()
	for i := range 100 {
		pub.command(t, fmt.Sprintf("pub %s probe-%d", room, i))
		select {
		case m := <-member.msgs:
			if m.err != nil || !strings.HasPrefix(m.text, "probe-") {
				t.Fatalf("waiting for a probe: %q, %v", m.text, m.err)
			}
			// Late probes may follow; let them pass.
			for {
				select {
				case m := <-member.msgs:
					if !strings.HasPrefix(m.text, "probe-") {
						t.Fatalf("waiting for probes to pass: %q, %v", m.text, m.err)
					}
					continue
				case <-time.After(300 * time.Millisecond):
				}
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("room %s: no publication reached the other instance", room)
}

// Two servers linked by a LocalHub act as one: a broadcast or a room
// publication made on either reaches the clients of both, each exactly
// once, and a room's publications reach an instance only while it has
// members.
func TestBrokerFanOut(t *testing.T) {
	var hub server.LocalHub
	a, b := brokerServer(hub.Broker()), brokerServer(hub.Broker())
	urlA, urlB := start(t, a), start(t, b)
	a1, a2 := listen(t, dial(t, urlA)), listen(t, dial(t, urlA))
	b1 := listen(t, dial(t, urlB))

	// A broadcast from a1 reaches a1, a2 and b1 once each; a1 gets it
	// before the "ok".
	a1.conn.WriteMessage(websocket.TextMessage, []byte("all hello"))
	a1.expect(t, "hello")
	a1.expect(t, "ok")
	a2.expect(t, "hello")
	b1.expect(t, "hello")

	// Rooms: b1 and a2 join "x"; a publication to "x" from a1 (not a
	// member) reaches them and not a1.
	b1.command(t, "join x")
	waitSubscribed(t, a1, b1, "x")
	a2.command(t, "join x")
	a1.command(t, "pub x news")
	a2.expect(t, "news")
	b1.expect(t, "news")
	a1.command(t, "bin x raw")
	for _, in := range []*inbox{a2, b1} {
		if m := in.next(t); m.op != websocket.BinaryMessage || m.text != "raw" {
			t.Fatalf("binary publication: got %q (op %d), want binary \"raw\"", m.text, m.op)
		}
	}

	// b1 leaves "x": b has no member left, so it stops receiving x's
	// publications at all (its Broker unsubscribes), while a2 still gets
	// them. A broadcast behind each publication to x, through the same
	// ordered path, shows whether that publication reached b.
	b1.command(t, "leave x")
	for i := 0; ; i++ {
		before := b.BrokerStats().Received
		a1.command(t, fmt.Sprintf("pub x gone-%d", i))
		a2.expect(t, fmt.Sprintf("gone-%d", i))
		a1.conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("all mark-%d", i)))
		a1.expect(t, fmt.Sprintf("mark-%d", i))
		a1.expect(t, "ok")
		a2.expect(t, fmt.Sprintf("mark-%d", i))
		b1.expect(t, fmt.Sprintf("mark-%d", i)) // never gone-i: b1 left x
		if b.BrokerStats().Received-before == 1 {
			break
		}
		if i == 100 {
			t.Fatal("b still receives room x's publications long after its last member left")
		}
	}
	for _, in := range []*inbox{a1, a2, b1} {
		in.none(t)
	}
	if st := a.BrokerStats(); st.Dropped != 0 || st.Received != 0 {
		t.Errorf("a's BrokerStats = %+v, want none dropped or received", st)
	}
}

// Publications of one publisher arrive in order on every client of every
// instance, broadcasts and room publications interleaved.
func TestBrokerOrder(t *testing.T) {
	var hub server.LocalHub
	a, b := brokerServer(hub.Broker()), brokerServer(hub.Broker())
	urlA, urlB := start(t, a), start(t, b)
	sender := listen(t, dial(t, urlA))
	got := listen(t, dial(t, urlB))
	got.command(t, "join r")
	waitSubscribed(t, sender, got, "r")
	const n = 2000
	sender.conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("burst r %d", n)))
	for i := 0; i < n; i += 2 {
		sender.expect(t, fmt.Sprint(i)) // its own broadcasts
	}
	sender.expect(t, "ok")
	for i := range n {
		got.expect(t, fmt.Sprint(i))
	}
	got.none(t)
}

// gatedBroker is a LocalHub broker whose Publish waits while the gate is
// closed: a broker stuck on its network.
type gatedBroker struct {
	server.Broker
	mu   sync.Mutex
	open *sync.Cond
	shut bool
}

func newGatedBroker(b server.Broker) *gatedBroker {
	g := &gatedBroker{Broker: b, shut: true}
	g.open = sync.NewCond(&g.mu)
	return g
}

func (g *gatedBroker) Publish(p server.Publication) error {
	g.mu.Lock()
	for g.shut {
		g.open.Wait()
	}
	g.mu.Unlock()
	return g.Broker.Publish(p)
}

func (g *gatedBroker) release() {
	g.mu.Lock()
	g.shut = false
	g.mu.Unlock()
	g.open.Broadcast()
}

// A Broker that is stuck holds up nobody: broadcasts return, local clients
// get their messages, publications past the buffer are dropped and
// counted, and the episode is logged once when it starts and once when it
// ends, not per publication.
func TestBrokerStuck(t *testing.T) {
	var hub server.LocalHub
	gate := newGatedBroker(hub.Broker())
	defer gate.release()
	log := &testlog.Buffer{}
	a := &server.Server{Broker: gate, Logger: slog.New(slog.NewTextHandler(log, nil)), MaxPendingBytes: 64 << 20}
	b := brokerServer(hub.Broker())
	b.MaxPendingBytes = 64 << 20
	big := bytes.Repeat([]byte("x"), 64<<10)
	const publications = 400 // 25 MiB: past the 16 MiB buffer
	a.OnMessage = func(c *server.Client, m server.Message) {
		if string(m.Data) == "flood" {
			for range publications {
				a.BroadcastBinary(big)
			}
		}
		a.BroadcastText(string(m.Data)) // after the flood: local delivery still works
	}
	urlA, urlB := start(t, a), start(t, b)
	local := listen(t, dial(t, urlA))
	remote := listen(t, dial(t, urlB))
	local.conn.WriteMessage(websocket.TextMessage, []byte("flood"))
	for range publications {
		if m := local.next(t); len(m.text) != len(big) {
			t.Fatalf("local client: %d bytes, want the %d-byte broadcast", len(m.text), len(big))
		}
	}
	local.expect(t, "flood")
	st := a.BrokerStats()
	if st.Dropped == 0 || st.Dropped >= publications {
		t.Fatalf("with the broker stuck: %+v; want some of %d publications dropped, not all", st, publications+1)
	}
	if n := strings.Count(log.String(), "broker is not keeping up"); n != 1 {
		t.Fatalf("%d log lines for the start of the drops, want 1:\n%s", n, log.String())
	}
	remote.none(t)

	gate.release()
	// What was buffered reaches the other instance, then new publications.
	for range publications + 1 - int(st.Dropped) {
		remote.next(t)
	}
	local.conn.WriteMessage(websocket.TextMessage, []byte("after"))
	local.expect(t, "after")
	remote.expect(t, "after")
	waitFor(t, "the end of the episode to be logged", func() bool {
		return strings.Contains(log.String(), "broker is keeping up again")
	})
	if n := strings.Count(log.String(), "broker is"); n != 2 {
		t.Fatalf("%d log lines about the broker, want 2:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), fmt.Sprintf("dropped=%d", st.Dropped)) {
		t.Errorf("the end of the episode does not say %d were dropped:\n%s", st.Dropped, log.String())
	}
	if st := a.BrokerStats(); st.Published+st.Dropped != publications+2 {
		t.Errorf("a's BrokerStats = %+v: published and dropped add up to %d, want %d", st, st.Published+st.Dropped, publications+2)
	}
}

// Publishing to the empty room name is no broadcast: it reaches nobody,
// here or elsewhere.
func TestBrokerEmptyRoom(t *testing.T) {
	var hub server.LocalHub
	a, b := brokerServer(hub.Broker()), brokerServer(hub.Broker())
	urlA, urlB := start(t, a), start(t, b)
	a1, b1 := listen(t, dial(t, urlA)), listen(t, dial(t, urlB))
	a.PublishText("", "nobody")
	a.BroadcastText("everybody")
	a1.expect(t, "everybody")
	b1.expect(t, "everybody")
	// a counts a publication once the broker has taken it, which may be
	// after b delivered it; one for "nobody" would have come first.
	waitFor(t, "a to count its broadcast", func() bool { return a.BrokerStats().Published >= 1 })
	if st := a.BrokerStats(); st.Published != 1 {
		t.Errorf("a published %d publications, want 1", st.Published)
	}
}
