package server_test

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// Drain turns readiness off and refuses new clients at once, then closes
// every client with 1012 after its queued output, spread over the window,
// and returns once they are all gone, each with a clean closing handshake.
func TestDrain(t *testing.T) {
	const clients = 20
	const window = time.Second
	var mu sync.Mutex
	var leftErrs []error
	srv := &server.Server{
		Logger:     quietLogger(),
		DrainDelay: 300 * time.Millisecond,
		OnClientLeft: func(c *server.Client, err error) {
			mu.Lock()
			leftErrs = append(leftErrs, err)
			mu.Unlock()
		},
	}
	url := start(t, srv)
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, url)
	}
	waitFor(t, "every client to join", func() bool { return srv.Len() == clients })
	if !srv.Ready() {
		t.Fatal("Ready() = false before Drain")
	}
	// Output queued before the drain goes out before the close frame.
	srv.BroadcastText("before")

	begin := time.Now()
	drained := make(chan error, 1)
	go func() { drained <- srv.Drain(context.Background(), window) }()
	waitFor(t, "Ready to turn false", func() bool { return !srv.Ready() })

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("a handshake while draining: err %v, status %d; want 503", err, status)
	}

	// Each client reads "before", then close 1012; its library answers.
	closedAt := make([]time.Duration, clients)
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "before" {
				t.Errorf("client %d: first message %q, %v; want \"before\"", i, msg, err)
				return
			}
			_, _, err := conn.ReadMessage()
			closedAt[i] = time.Since(begin)
			if !websocket.IsCloseError(err, int(server.StatusServiceRestart)) {
				t.Errorf("client %d: %v, want close 1012", i, err)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Drain did not return")
	}
	if n := srv.Len(); n != 0 {
		t.Fatalf("%d clients left after Drain", n)
	}
	mu.Lock()
	for _, err := range leftErrs {
		if err != nil {
			t.Errorf("OnClientLeft got %v, want nil (the client answered the close)", err)
		}
	}
	mu.Unlock()

	// Nobody was closed before DrainDelay, and the closes were spread over
	// the window, not sent at once: 20 clients at 50 ms intervals span
	// 950 ms; at once they would span a few.
	sort.Slice(closedAt, func(i, j int) bool { return closedAt[i] < closedAt[j] })
	if closedAt[0] < srv.DrainDelay {
		t.Errorf("first client closed %v after Drain began, before DrainDelay %v", closedAt[0], srv.DrainDelay)
	}
	if span := closedAt[clients-1] - closedAt[0]; span < window/2 {
		t.Errorf("closes spanned %v, want them spread over the %v window", span, window)
	}
	t.Logf("closes from %v to %v after Drain began", closedAt[0], closedAt[clients-1])

	if err := srv.Drain(context.Background(), window); !errors.Is(err, server.ErrDraining) {
		t.Errorf("second Drain: %v, want ErrDraining", err)
	}
	srv.Shutdown(ctxTimeout(t, 5*time.Second))
	if srv.Ready() {
		t.Error("Ready() = true after Shutdown")
	}
}

// Drain without clients returns at once; a Drain after Shutdown reports
// ErrServerClosed; DenyNewConnections turns Ready off.
func TestDrainEdges(t *testing.T) {
	srv := &server.Server{Logger: quietLogger()}
	start(t, srv)
	srv.DenyNewConnections(0, "")
	if srv.Ready() {
		t.Error("Ready() = true while denying new connections")
	}
	srv.AllowNewConnections()
	if !srv.Ready() {
		t.Error("Ready() = false after AllowNewConnections")
	}
	if err := srv.Drain(ctxTimeout(t, 5*time.Second), time.Hour); err != nil {
		t.Errorf("Drain with no clients: %v", err)
	}

	other := &server.Server{Logger: quietLogger()}
	start(t, other)
	other.Shutdown(ctxTimeout(t, 5*time.Second))
	if err := other.Drain(context.Background(), time.Second); !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Drain after Shutdown: %v, want ErrServerClosed", err)
	}
}
