package server_test

import (
	"runtime"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

func TestRequestIsThereDuringOnNewClient(t *testing.T) {
	type seen struct {
		path, room, trace string
		during, after     bool
	}
	got := make(chan seen, 2)
	srv := &server.Server{Logger: quietLogger()}
	srv.OnNewClient = func(c *server.Client) {
		r := c.Request()
		got <- seen{path: r.Path, room: r.Query.Get("room"), trace: r.Header.Get("X-Trace"), during: r.RemoteAddr != nil}
	}
	srv.OnMessage = func(c *server.Client, m server.Message) {
		got <- seen{after: c.Request() == nil}
	}
	u := start(t, srv)
	conn, _, err := dialer().Dial(u+"chat/x?room=blue", map[string][]string{"X-Trace": {"7"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if s := <-got; s.path != "/chat/x" || s.room != "blue" || s.trace != "7" || !s.during {
		t.Fatalf("in OnNewClient: %+v", s)
	}
	conn.WriteMessage(gorilla.TextMessage, []byte("x"))
	if s := <-got; !s.after {
		t.Fatal("Request is still held after OnNewClient")
	}
}

// On the event loop a handshake in progress is its bytes and nothing
// else: no goroutine per stalled client.
func TestStalledHandshakesHoldNoGoroutine(t *testing.T) {
	skipIn(t, "handshakes have goroutines there", "goroutines", "tls", "http")
	srv := echoServer()
	url := start(t, srv)
	dial(t, url) // the workers and the poller are running
	before := runtime.NumGoroutine()
	half := upgradeRequest("/")[:40]
	for i := 0; i < 200; i++ {
		nc := dialTCP(t, url)
		nc.Write([]byte(half))
	}
	time.Sleep(100 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+10 {
		t.Fatalf("goroutines %d with 200 stalled handshakes, %d before", after, before)
	}
}

// Authenticate may block without holding a worker: with one worker, a
// client whose Authenticate waits does not stop another from connecting
// and being served.
func TestBlockingAuthenticateHoldsNoWorker(t *testing.T) {
	release := make(chan struct{})
	srv := echoServer()
	srv.Workers = 1
	srv.Authenticate = func(r *server.Request) error {
		if r.Path == "/slow" {
			<-release
		}
		return nil
	}
	base := start(t, srv)
	slow := make(chan error, 1)
	go func() {
		c, _, err := dialer().Dial(base+"slow", nil)
		if err == nil {
			c.Close()
		}
		slow <- err
	}()
	time.Sleep(50 * time.Millisecond) // the slow one is in Authenticate
	fast := dial(t, base+"fast")
	fast.WriteMessage(gorilla.TextMessage, []byte("not blocked"))
	if _, msg, err := fast.ReadMessage(); err != nil || string(msg) != "not blocked" {
		t.Fatalf("%q %v", msg, err)
	}
	select {
	case err := <-slow:
		t.Fatalf("the slow handshake ended before Authenticate returned: %v", err)
	default:
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("slow client after Authenticate returned: %v", err)
	}
}
