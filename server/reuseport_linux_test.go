package server_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// serveOn serves srv on ln in the background; the returned channel gets
// Serve's result.
func serveOn(t *testing.T, srv *server.Server, ln net.Listener) <-chan error {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return done
}

// Two servers on one port, each with a ListenReusePort listener: the
// kernel spreads the clients over both.
func TestReusePortShares(t *testing.T) {
	lnA, err := server.ListenReusePort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lnA.Addr().String()
	lnB, err := server.ListenReusePort(addr)
	if err != nil {
		t.Fatalf("second listener on %s: %v", addr, err)
	}
	if _, err := net.Listen("tcp", addr); err == nil {
		t.Fatal("a listener without SO_REUSEPORT could bind the shared port too")
	}
	a, b := &server.Server{Logger: quietLogger()}, &server.Server{Logger: quietLogger()}
	serveOn(t, a, lnA)
	serveOn(t, b, lnB)
	const clients = 64
	for range clients {
		dial(t, "ws://"+addr+"/")
	}
	waitFor(t, "every client to join", func() bool { return a.Len()+b.Len() == clients })
	if a.Len() == 0 || b.Len() == 0 {
		t.Fatalf("clients: %d on one server, %d on the other; want them spread", a.Len(), b.Len())
	}
}

// A rolling restart on a shared port loses no handshake: with clients
// connecting all the time, a new server joins the port and the old one
// drains; every handshake succeeds, and the old server's clients, closed
// with 1012, reconnect to the new one.
func TestReusePortRollingRestart(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Skip("needs sysctl net.ipv4.tcp_migrate_req=1 (Linux 5.14+), so that connections queued on a closed listener move to the others on its port; .ci/run sets it")
	}
	lnOld, err := server.ListenReusePort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lnOld.Addr().String()
	var handshakesNew atomic.Int64
	old := &server.Server{Logger: quietLogger()}
	next := &server.Server{Logger: quietLogger(), OnNewClient: func(*server.Client) { handshakesNew.Add(1) }}
	oldServed := serveOn(t, old, lnOld)

	// Clients: each connects, stays a few milliseconds (four of them
	// until the server closes them), and connects again, until stop.
	var stop atomic.Bool
	var handshakes, failures, restarts atomic.Int64
	var failMu sync.Mutex
	var firstFailure error
	var wg, churners sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		if i >= 4 {
			churners.Add(1)
		}
		go func() {
			defer wg.Done()
			if i >= 4 {
				defer churners.Done()
			}
			d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
			for !stop.Load() {
				conn, _, err := d.Dial("ws://"+addr+"/", nil)
				if err != nil {
					failures.Add(1)
					failMu.Lock()
					if firstFailure == nil {
						firstFailure = err
					}
					failMu.Unlock()
					continue
				}
				handshakes.Add(1)
				stay := 5 * time.Millisecond
				if i < 4 {
					stay = time.Minute // until the server closes it
				}
				conn.SetReadDeadline(time.Now().Add(stay))
				_, _, err = conn.ReadMessage()
				if websocket.IsCloseError(err, int(server.StatusServiceRestart)) {
					restarts.Add(1)
				}
				conn.Close()
			}
		}()
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	time.Sleep(300 * time.Millisecond)

	lnNew, err := server.ListenReusePort(addr)
	if err != nil {
		t.Fatalf("new listener on %s: %v", addr, err)
	}
	serveOn(t, next, lnNew)
	time.Sleep(300 * time.Millisecond)
	beforeDrain := handshakes.Load()
	if err := old.Drain(ctxTimeout(t, 30*time.Second), 500*time.Millisecond); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	select {
	case err := <-oldServed:
		if !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("the old server's Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the old server's Serve did not return after Drain closed its listener")
	}
	atDrained := handshakesNew.Load()
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	churners.Wait()
	next.Close() // ends the long stays
	wg.Wait()

	t.Logf("%d handshakes, %d during and after the drain; %d clients closed with 1012", handshakes.Load(), handshakes.Load()-beforeDrain, restarts.Load())
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d handshakes failed; the first: %v", n, n+handshakes.Load(), firstFailure)
	}
	if old.Len() != 0 {
		t.Errorf("the old server still has %d clients", old.Len())
	}
	if restarts.Load() < 4 {
		t.Errorf("%d clients closed with 1012, want at least the 4 that stay", restarts.Load())
	}
	if handshakesNew.Load() == atDrained {
		t.Error("no client reached the new server after the drain")
	}
	if err := old.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after Drain: %v", err)
	}
}
