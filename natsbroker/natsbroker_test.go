package natsbroker_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/wsloop/wsloop/internal/testlog"
	"github.com/wsloop/wsloop/natsbroker"
	"github.com/wsloop/wsloop/server"
)

// startNATS runs a real NATS server in the test process, on port (0: any
// free port), and returns it; it is shut down when the test ends.
func startNATS(t *testing.T, port int) *natsserver.Server {
	t.Helper()
	if port == 0 {
		port = -1 // nats-server's "any free port"
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// instance is one wsloop server with a NATS Broker, as an instance of a
// service behind a load balancer. Its clients speak a small protocol:
// "join NAME", "all TEXT" (broadcast), "pub NAME TEXT", "burst NAME N" (N
// numbers, alternately broadcast and published to the room); each is
// answered "ok" once done.
type instance struct {
	srv *server.Server
	b   *natsbroker.Broker
	url string
	log *testlog.Buffer
}

func newInstance(t *testing.T, natsURL string) *instance {
	t.Helper()
	log := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := natsbroker.Connect(natsURL, natsbroker.Config{
		Logger:  logger,
		Options: []nats.Option{nats.ReconnectWait(20 * time.Millisecond), nats.ReconnectJitter(0, 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Broker: b, Logger: logger}
	srv.OnMessage = func(c *server.Client, m server.Message) {
		cmd, arg, _ := strings.Cut(string(m.Data), " ")
		room, text, _ := strings.Cut(arg, " ")
		switch cmd {
		case "join":
			c.Join(arg)
		case "all":
			srv.BroadcastText(arg)
		case "pub":
			srv.PublishText(room, text)
		case "burst":
			n, _ := strconv.Atoi(text)
			for i := range n {
				if i%2 == 0 {
					srv.BroadcastText(strconv.Itoa(i))
				} else {
					srv.PublishText(room, strconv.Itoa(i))
				}
			}
		}
		c.SendText("ok")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		if !b.Conn().IsClosed() {
			t.Error("the server did not close its Broker")
		}
	})
	return &instance{srv: srv, b: b, url: "ws://" + ln.Addr().String() + "/", log: log}
}

// inbox reads a client's messages on a goroutine of its own.
type inbox struct {
	conn *websocket.Conn
	msgs chan string
}

func (in *instance) dial(t *testing.T) *inbox {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(in.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	box := &inbox{conn: conn, msgs: make(chan string, 1<<14)}
	go func() {
		defer close(box.msgs)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			box.msgs <- string(data)
		}
	}()
	return box
}

func (in *inbox) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got, ok := <-in.msgs:
		if !ok {
			t.Fatalf("connection ended waiting for %q", want)
		}
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no message within 10s; want %q", want)
	}
}

func (in *inbox) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-in.msgs:
		t.Fatalf("unexpected message %q", got)
	case <-time.After(200 * time.Millisecond):
	}
}

// send sends a command without waiting for its "ok".
func (in *inbox) send(t *testing.T, cmd string) {
	t.Helper()
	if err := in.conn.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
		t.Fatal(err)
	}
}

// waitFanOut broadcasts probes from pub until every client in others got
// one: every instance then receives broadcasts from pub's. The probes are
// read off every inbox.
func waitFanOut(t *testing.T, pub *inbox, others ...*inbox) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		probe := fmt.Sprintf("probe-%d", i)
		pub.send(t, "all "+probe)
		pub.expect(t, probe)
		pub.expect(t, "ok")
		all := true
		for _, o := range others {
			select {
			case got := <-o.msgs:
				for got != probe && strings.HasPrefix(got, "probe-") {
					got = <-o.msgs // an earlier probe that arrived late
				}
				if got != probe {
					t.Fatalf("waiting for %q: got %q", probe, got)
				}
			case <-time.After(100 * time.Millisecond):
				all = false
			}
		}
		if all {
			return
		}
	}
	t.Fatal("broadcasts do not reach every instance")
}

// Three instances on one NATS act as one server: a broadcast or a room
// publication from a client of one reaches the clients of all, each
// exactly once, and in the order it was made.
func TestFanOutAcrossInstances(t *testing.T) {
	ns := startNATS(t, 0)
	a, b, c := newInstance(t, ns.ClientURL()), newInstance(t, ns.ClientURL()), newInstance(t, ns.ClientURL())
	a1, a2, b1, c1 := a.dial(t), a.dial(t), b.dial(t), c.dial(t)
	waitFanOut(t, a1, b1, c1)
	for _, in := range []*inbox{a2} {
		for len(in.msgs) > 0 {
			<-in.msgs
		}
	}

	b1.send(t, "all hello from b")
	for _, in := range []*inbox{a1, a2, b1, c1} {
		in.expect(t, "hello from b")
	}
	b1.expect(t, "ok")

	// Rooms: c1 and a2 join "news"; b has no member and no subscription.
	c1.send(t, "join news")
	c1.expect(t, "ok")
	a2.send(t, "join news")
	a2.expect(t, "ok")
	// c's subscription follows the join asynchronously: publish until it
	// lands.
	for i := 0; ; i++ {
		b1.send(t, fmt.Sprintf("pub news n%d", i))
		b1.expect(t, "ok")
		a2.expect(t, fmt.Sprintf("n%d", i))
		select {
		case got := <-c1.msgs:
			if got != fmt.Sprintf("n%d", i) {
				t.Fatalf("c1 got %q, want n%d", got, i)
			}
		case <-time.After(200 * time.Millisecond):
			if i < 50 {
				continue
			}
			t.Fatal("room publications do not reach c")
		}
		break
	}

	// Order: a burst from b of 1,000 numbers, alternately broadcast and
	// published to "news", arrives in order on c1 and a2 (members), and
	// the broadcast half in order on a1.
	const n = 1000
	b1.send(t, fmt.Sprintf("burst news %d", n))
	for i := range n {
		c1.expect(t, strconv.Itoa(i))
		a2.expect(t, strconv.Itoa(i))
		if i%2 == 0 {
			a1.expect(t, strconv.Itoa(i))
			b1.expect(t, strconv.Itoa(i))
		}
	}
	b1.expect(t, "ok")
	for _, in := range []*inbox{a1, a2, b1, c1} {
		in.none(t)
	}
	for _, inst := range []*instance{a, b, c} {
		if st := inst.srv.BrokerStats(); st.Dropped != 0 {
			t.Errorf("BrokerStats %+v: publications dropped", st)
		}
	}
}

// NATS going away: local delivery goes on, the loss is logged once (not
// per publication) and publications are counted as dropped; when NATS is
// back the broker reconnects, resubscribes, and fan-out resumes.
func TestNATSOutage(t *testing.T) {
	ns := startNATS(t, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	a, b := newInstance(t, ns.ClientURL()), newInstance(t, ns.ClientURL())
	a1, b1 := a.dial(t), b.dial(t)
	waitFanOut(t, a1, b1)

	ns.Shutdown()
	for _, inst := range []*instance{a, b} {
		deadline := time.Now().Add(10 * time.Second)
		for inst.b.Conn().IsConnected() {
			if time.Now().After(deadline) {
				t.Fatal("the broker did not notice NATS was gone")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	dropped := a.srv.BrokerStats().Dropped
	const during = 20
	for i := range during {
		a1.send(t, fmt.Sprintf("all during-%d", i))
		a1.expect(t, fmt.Sprintf("during-%d", i)) // local clients still get it
		a1.expect(t, "ok")
	}
	b1.none(t)
	if got := a.srv.BrokerStats().Dropped - dropped; got != during {
		t.Errorf("%d publications counted as dropped during the outage, want %d", got, during)
	}
	for _, inst := range []*instance{a, b} {
		if n := strings.Count(inst.log.String(), "NATS connection lost"); n != 1 {
			t.Errorf("%d log lines for the lost connection, want 1:\n%s", n, inst.log.String())
		}
	}
	if n := strings.Count(a.log.String(), "broker is not keeping up"); n != 1 {
		t.Errorf("%d log lines for the dropped publications, want 1:\n%s", n, a.log.String())
	}

	startNATS(t, port)
	waitFanOut(t, a1, b1)
	for _, inst := range []*instance{a, b} {
		if !strings.Contains(inst.log.String(), "NATS connection back") {
			t.Errorf("no log line for the reconnection:\n%s", inst.log.String())
		}
	}
	// Room subscriptions are back too.
	b1.send(t, "join r")
	b1.expect(t, "ok")
	for i := 0; ; i++ {
		a1.send(t, fmt.Sprintf("pub r m%d", i))
		a1.expect(t, "ok")
		select {
		case got := <-b1.msgs:
			if got != fmt.Sprintf("m%d", i) {
				t.Fatalf("b1 got %q", got)
			}
		case <-time.After(200 * time.Millisecond):
			if i < 50 {
				continue
			}
			t.Fatal("room publications do not reach b after the outage")
		}
		break
	}
}

// An unreachable NATS is an error at once, and so is a bad prefix.
func TestConnectErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	start := time.Now()
	if _, err := natsbroker.Connect("nats://"+addr, natsbroker.Config{}); err == nil {
		t.Error("Connect to a port nobody listens on succeeded")
	} else {
		t.Logf("%v (after %v)", err, time.Since(start).Round(time.Millisecond))
	}
	ns := startNATS(t, 0)
	for _, prefix := range []string{"a b", "a.*", "a.>", ".a", "a.", "a..b", ">"} {
		if _, err := natsbroker.Connect(ns.ClientURL(), natsbroker.Config{SubjectPrefix: prefix}); err == nil {
			t.Errorf("prefix %q accepted", prefix)
		}
	}
	b, err := natsbroker.Connect(ns.ClientURL(), natsbroker.Config{SubjectPrefix: "chat.prod"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Subject("a.b c*>"); got != "chat.prod.room.a%2Eb%20c%2A%3E" {
		t.Errorf("Subject = %q", got)
	}
	if got := b.Subject(""); got != "chat.prod.all" {
		t.Errorf("broadcast subject = %q", got)
	}
}
