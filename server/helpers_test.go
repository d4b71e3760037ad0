package server_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// start serves srv on a fresh loopback port, the way testMode says, and
// returns its ws:// (or wss://) URL. The server is closed when the test
// ends.
func start(t testing.TB, srv *server.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme, serve, stop := serveInMode(t, srv, ln)
	done := make(chan error, 1)
	go func() { done <- serve() }()
	t.Cleanup(func() {
		stop()
		if err := <-done; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return scheme + "://" + ln.Addr().String() + "/"
}

// echoServer answers every message with the same message.
func echoServer() *server.Server {
	return &server.Server{
		OnMessage: func(c *server.Client, m server.Message) {
			if m.Op == server.Text {
				c.SendText(string(m.Data))
			} else {
				c.SendBinary(m.Data)
			}
		},
	}
}

func dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	conn, _, err := dialer().Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// dialer is a gorilla client for the mode of the tests.
func dialer() *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDialContext:   dialContext,
		TLSClientConfig:  tlsKeys.clientOrNil(),
	}
}

// recorder collects callback events per client, in order.
type recorder struct {
	mu     sync.Mutex
	events map[uint64][]string
	left   chan error
	joined chan *server.Client
}

func newRecorder() *recorder {
	return &recorder{events: map[uint64][]string{}, left: make(chan error, 100), joined: make(chan *server.Client, 100)}
}

func (r *recorder) add(c *server.Client, ev string) {
	r.mu.Lock()
	r.events[c.ID()] = append(r.events[c.ID()], ev)
	r.mu.Unlock()
}

func (r *recorder) of(id uint64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events[id]...)
}

func (r *recorder) install(s *server.Server) {
	s.OnNewClient = func(c *server.Client) {
		r.add(c, "new")
		r.joined <- c
	}
	prev := s.OnMessage
	s.OnMessage = func(c *server.Client, m server.Message) {
		r.add(c, "msg:"+string(m.Data))
		if prev != nil {
			prev(c, m)
		}
	}
	s.OnClientLeft = func(c *server.Client, err error) {
		r.add(c, "left")
		r.left <- err
	}
}

func (r *recorder) waitLeft(t testing.TB) error {
	t.Helper()
	select {
	case err := <-r.left:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClientLeft")
		return nil
	}
}

func (r *recorder) waitJoined(t testing.TB) *server.Client {
	t.Helper()
	select {
	case c := <-r.joined:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no OnNewClient")
		return nil
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// quietLogger drops the server's log below errors.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
