package main

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wsloop/wsloop/server"
)

// wsloopServer runs the project's own server in broadcast mode, as
// cmd/wsserver -mode broadcast does: a client on /room/NAME joins room NAME
// and its messages go to that room; on any other path they go to everyone.
type wsloopServer struct {
	srv *server.Server
	url string // ws://127.0.0.1:port/

	joined atomic.Int64 // clients that completed the handshake
}

type wsloopOptions struct {
	compress   bool
	ignoreRoom bool // publish to everyone whatever the path
}

func newWsloopServer(t *testing.T, o wsloopOptions) *wsloopServer {
	t.Helper()
	s := &wsloopServer{}
	s.srv = &server.Server{Compression: o.compress}
	s.srv.OnNewClient = func(c *server.Client) {
		s.joined.Add(1)
		if room, ok := strings.CutPrefix(c.Request().Path, "/room/"); ok && !o.ignoreRoom {
			_ = c.Join(room)
		}
	}
	s.srv.OnMessage = func(c *server.Client, m server.Message) {
		rooms := c.Rooms()
		switch {
		case len(rooms) > 0 && m.Op == server.Text:
			s.srv.PublishText(rooms[0], string(m.Data))
		case len(rooms) > 0:
			s.srv.PublishBinary(rooms[0], m.Data)
		case m.Op == server.Text:
			s.srv.BroadcastText(string(m.Data))
		default:
			s.srv.BroadcastBinary(m.Data)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(ln) }()
	t.Cleanup(func() {
		s.srv.Close()
		if err := <-done; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	s.url = "ws://" + ln.Addr().String() + "/"
	return s
}
