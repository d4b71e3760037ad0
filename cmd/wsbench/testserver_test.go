package main

import (
	"cmp"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testServer is a gorilla/websocket server on a real loopback socket that
// records what the clients did.
type testServer struct {
	*httptest.Server
	url string

	pongs    atomic.Int64
	requests atomic.Int64 // upgrade requests, for rejectEvery

	mu         sync.Mutex
	closeCodes map[int]int        // close codes received from clients
	remoteIPs  map[string]int     // client source addresses
	clients    map[*bcClient]bool // broadcast hub
}

type serverMode struct {
	echo         bool
	broadcast    bool
	corruptEvery int           // echo: flip a byte in every n-th echo
	fragment     int           // echo: send echoes in frames of this many bytes
	closeAfter   time.Duration // close each connection with closeCode (1001 if 0) after this
	closeCode    int
	status       int           // answer the upgrade with this HTTP status instead
	silent       bool          // read messages but never answer (not even close frames)
	mangle       bool          // broadcast: of every 10 messages, send the 4th after the 5th and the 8th twice
	delay        time.Duration // echo: wait this long before each echo
	rejectEvery  int           // answer every n-th upgrade request 503
	slowFrom     string        // answer upgrades from this client address (all if empty) after upgradeDelay
	upgradeDelay time.Duration
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 256,
	CheckOrigin:     func(*http.Request) bool { return true },
}

func newTestServer(t *testing.T, mode serverMode) *testServer {
	t.Helper()
	s := &testServer{closeCodes: map[int]int{}, remoteIPs: map[string]int{}, clients: map[*bcClient]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mode.status != 0 {
			http.Error(w, "go away", mode.status)
			return
		}
		if n := s.requests.Add(1); mode.rejectEvery > 0 && n%int64(mode.rejectEvery) == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if host, _, _ := net.SplitHostPort(r.RemoteAddr); mode.upgradeDelay > 0 && (mode.slowFrom == "" || host == mode.slowFrom) {
			time.Sleep(mode.upgradeDelay)
		}
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		s.mu.Lock()
		s.remoteIPs[host]++
		s.mu.Unlock()
		c.SetPongHandler(func(string) error { s.pongs.Add(1); return nil })
		if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
			return
		}
		if mode.closeAfter > 0 {
			time.AfterFunc(mode.closeAfter, func() {
				msg := websocket.FormatCloseMessage(cmp.Or(mode.closeCode, websocket.CloseGoingAway), "test server going away")
				_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			})
		}
		switch {
		case mode.silent:
			// Read raw bytes so that gorilla answers nothing, not even a close.
			_, _ = io.Copy(io.Discard, c.NetConn())
		case mode.broadcast:
			s.serveBroadcast(c, mode)
		default:
			s.serveEcho(c, mode)
		}
	}))
	s.url = "ws://" + s.Listener.Addr().String() + "/"
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) recordClose(err error) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		s.mu.Lock()
		s.closeCodes[ce.Code]++
		s.mu.Unlock()
	}
}

func (s *testServer) serveEcho(c *websocket.Conn, mode serverMode) {
	n := 0
	for {
		mt, p, err := c.ReadMessage()
		if err != nil {
			s.recordClose(err)
			return
		}
		n++
		time.Sleep(mode.delay)
		if mode.corruptEvery > 0 && n%mode.corruptEvery == 0 {
			p[len(p)-1] ^= 0x01
		}
		if mode.fragment > 0 {
			w, err := c.NextWriter(mt)
			if err != nil {
				return
			}
			for len(p) > 0 {
				k := min(mode.fragment, len(p))
				if _, err := w.Write(p[:k]); err != nil {
					return
				}
				p = p[k:]
			}
			if err := w.Close(); err != nil {
				return
			}
			continue
		}
		if err := c.WriteMessage(mt, p); err != nil {
			return
		}
	}
}

// bcClient is one connection of the broadcast hub.
type bcClient struct {
	c    *websocket.Conn
	send chan wsMsg
	done chan struct{}
}

type wsMsg struct {
	mt int
	p  []byte
}

func (s *testServer) serveBroadcast(c *websocket.Conn, mode serverMode) {
	cl := &bcClient{c: c, send: make(chan wsMsg, 256), done: make(chan struct{})}
	s.mu.Lock()
	s.clients[cl] = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case m := <-cl.send:
				if err := c.WriteMessage(m.mt, m.p); err != nil {
					return
				}
			case <-cl.done:
				return
			}
		}
	})
	defer func() {
		s.mu.Lock()
		delete(s.clients, cl)
		s.mu.Unlock()
		close(cl.done)
		wg.Wait()
	}()
	var held *wsMsg
	for k := 0; ; k++ {
		mt, p, err := c.ReadMessage()
		if err != nil {
			s.recordClose(err)
			return
		}
		s.mu.Lock()
		targets := make([]*bcClient, 0, len(s.clients))
		for other := range s.clients {
			targets = append(targets, other)
		}
		s.mu.Unlock()
		m := wsMsg{mt, p}
		out := []wsMsg{m}
		if mode.mangle {
			switch k % 10 {
			case 3:
				held, out = &m, nil
			case 4:
				out = append(out, *held)
			case 7:
				out = append(out, m)
			}
		}
		for _, other := range targets {
			for _, m := range out {
				select {
				case other.send <- m:
				case <-other.done:
				}
			}
		}
	}
}

func (s *testServer) codes() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for k, v := range s.closeCodes {
		out[k] = v
	}
	return out
}

func (s *testServer) ips() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for ip := range s.remoteIPs {
		out = append(out, ip)
	}
	return out
}

// waitCloses waits until the server has recorded n close frames (its
// handlers run a little after the client's run returns).
func (s *testServer) waitCloses(t *testing.T, code, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s.codes()[code] >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("server saw close codes %v, want %d x %d", s.codes(), n, code)
}
