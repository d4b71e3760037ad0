package server_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsproto"
)

// leftErrors collects OnClientLeft errors.
type leftErrors struct {
	mu   sync.Mutex
	errs []error
}

func (l *leftErrors) add(_ *server.Client, err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *leftErrors) count(target error) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if errors.Is(err, target) {
			n++
		}
	}
	return n
}

// Slowloris on frames: more stalled clients than workers, each holding part
// of a frame, delay nobody, and are closed with 1008 after ReadTimeout.
func TestSlowlorisFramesAreTimedOut(t *testing.T) {
	srv := echoServer()
	srv.Workers = 2
	srv.ReadTimeout = 700 * time.Millisecond
	var left leftErrors
	srv.OnClientLeft = left.add
	url := start(t, srv)

	const stalled = 40
	var clients []*rawClient
	for i := 0; i < stalled; i++ {
		c := dialRaw(t, url)
		f := frame(ws.OpBinary, true, make([]byte, 4000))
		c.write(f[:1+i%12]) // a piece of the header, or the header and a little payload
		clients = append(clients, c)
	}
	// A well-behaved client keeps echoing meanwhile.
	good := dial(t, url)
	for i := 0; i < 200; i++ {
		msg := []byte("hello " + strconv.Itoa(i))
		good.WriteMessage(gorilla.BinaryMessage, msg)
		if _, got, err := good.ReadMessage(); err != nil || string(got) != string(msg) {
			t.Fatalf("echo %d: %q %v", i, got, err)
		}
	}
	for _, c := range clients {
		c.expectClose(ws.StatusPolicyViolation)
	}
	waitFor(t, "stalled clients to leave", func() bool { return left.count(server.ErrReadTimeout) == stalled })
	if srv.Len() != 1 {
		t.Fatalf("%d clients connected, want only the good one", srv.Len())
	}
	// Trickling one byte at a time does not extend the deadline.
	c := dialRaw(t, url)
	f := frame(ws.OpBinary, true, make([]byte, 4000))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(f)-1; i++ {
			if _, err := c.nc.Write(f[i : i+1]); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	c.expectClose(ws.StatusPolicyViolation)
	<-done
}

// Slowloris on handshakes: stalled half-requests don't keep others from
// connecting, and are dropped after HandshakeTimeout.
func TestSlowlorisHandshakesAreTimedOut(t *testing.T) {
	srv := echoServer()
	srv.HandshakeTimeout = 500 * time.Millisecond
	url := start(t, srv)
	const stalled = 200
	var conns []net.Conn
	half := upgradeRequest("/")[:40]
	for i := 0; i < stalled; i++ {
		nc := dialTCP(t, url)
		io.WriteString(nc, half)
		conns = append(conns, nc)
	}
	// Others connect at once.
	for i := 0; i < 5; i++ {
		c := dial(t, url)
		c.WriteMessage(gorilla.TextMessage, []byte("hi"))
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
			t.Fatalf("%q %v", msg, err)
		}
	}
	for i, nc := range conns {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(nc)
		// Mounted on an http.Server, its ReadHeaderTimeout answers with
		// an HTTP error before closing; the server's own listeners just
		// close.
		if isTimeout(err) || (len(got) > 0 && (testMode != "http" || !bytes.HasPrefix(got, []byte("HTTP/1.1 4")))) {
			t.Fatalf("stalled handshake %d: read %q, %v; want the connection closed", i, got, err)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A client that sends a lot and never reads: reading from it pauses once
// its queued echoes pass half of MaxPendingBytes (backpressure), the server
// holds no more than that, and the client is cut off after WriteTimeout.
func TestSlowConsumerBackpressure(t *testing.T) {
	srv := echoServer()
	srv.MaxPendingBytes = 1 << 20
	srv.WriteTimeout = 1 * time.Second
	var left leftErrors
	srv.OnClientLeft = left.add
	url := start(t, srv)

	c := dialRaw(t, url)
	// Keep the kernel's buffers small so backpressure shows early.
	tcpConn(c.nc).SetReadBuffer(64 << 10)
	payload := make([]byte, 32<<10)
	f := frame(ws.OpBinary, true, payload)
	sent := 0
	c.nc.SetWriteDeadline(time.Now().Add(3 * time.Second))
	for sent < 64<<20 {
		n, err := c.nc.Write(f)
		sent += n
		if err != nil {
			break
		}
	}
	if sent >= 64<<20 {
		t.Fatalf("the server read all %d bytes of a client that never reads its echoes", sent)
	}
	t.Logf("the server stopped reading after %d KiB", sent>>10)
	waitFor(t, "the slow consumer to be cut off", func() bool { return left.count(server.ErrWriteTimeout) == 1 })
	// Others are unaffected.
	good := dial(t, url)
	good.WriteMessage(gorilla.TextMessage, []byte("fine"))
	if _, msg, err := good.ReadMessage(); err != nil || string(msg) != "fine" {
		t.Fatalf("%q %v", msg, err)
	}
}

// Garbage gets its defined answer, the server's memory does not spike, and
// it keeps serving.
func TestGarbageGetsDefinedAnswers(t *testing.T) {
	srv := echoServer()
	url := start(t, srv)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	t.Run("random bytes instead of a handshake", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			nc := dialTCP(t, url)
			junk := make([]byte, 300)
			rand.Read(junk)
			junk = append(junk, "\r\n\r\n"...)
			nc.Write(junk)
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatalf("no HTTP answer to garbage: %v", err)
			}
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
		}
	})
	t.Run("a 64 KiB header line", func(t *testing.T) {
		skipIn(t, "the http.Server's own MaxHeaderBytes applies", "http")
		resp := roundTrip(t, url, upgradeRequest("/", "X-Junk: "+strings.Repeat("x", 64<<10)))
		if resp.StatusCode != 431 {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("a frame header promising 2^62 bytes", func(t *testing.T) {
		c := dialRaw(t, url)
		hdr := wsproto.AppendHeader(nil, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 62, Masked: true})
		c.write(hdr)
		c.expectClose(ws.StatusMessageTooBig)
	})
	t.Run("fuzzed frames on many connections", func(t *testing.T) {
		var wg sync.WaitGroup
		codes := make(chan ws.StatusCode, 200)
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := dialRaw(t, url)
				junk := make([]byte, 2000)
				rand.Read(junk)
				c.nc.Write(junk)
				for {
					ev, err := c.next()
					if err != nil {
						codes <- 0 // the server dropped the connection
						return
					}
					if ev.Kind == wsproto.KindClose {
						codes <- ev.Code
						return
					}
				}
			}()
		}
		wg.Wait()
		close(codes)
		for code := range codes {
			switch code {
			case ws.StatusProtocolError, ws.StatusInvalidFramePayloadData, ws.StatusMessageTooBig:
			default:
				t.Errorf("answer to random frames: close %d, want 1002, 1007 or 1009", code)
			}
		}
	})
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 256<<20 {
		t.Errorf("the server allocated %d MiB answering garbage", grown>>20)
	}
	c := dial(t, url)
	c.WriteMessage(gorilla.TextMessage, []byte("still up"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "still up" {
		t.Fatalf("%q %v", msg, err)
	}
}

// Dead peers: a client that vanishes without a FIN (here: one that stops
// answering) is pinged and cut off; a live one that answers pings stays.
func TestSilentClientsArePingedAndDropped(t *testing.T) {
	srv := echoServer()
	srv.PingInterval = 200 * time.Millisecond
	srv.PingTimeout = 300 * time.Millisecond
	var left leftErrors
	srv.OnClientLeft = left.add
	url := start(t, srv)

	dead := dialRaw(t, url) // reads nothing, answers nothing
	live := dial(t, url)
	pings := make(chan struct{}, 100)
	live.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return live.WriteControl(gorilla.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := live.ReadMessage(); err != nil {
				return
			}
		}
	}()
	waitFor(t, "the silent client to be dropped", func() bool { return left.count(server.ErrPingTimeout) == 1 })
	time.Sleep(500 * time.Millisecond)
	if srv.Len() != 1 || len(pings) < 2 {
		t.Fatalf("%d clients connected, the live one got %d pings; want it connected and pinged", srv.Len(), len(pings))
	}
	// The dead one saw a ping and then the connection end.
	ev, err := dead.next()
	if err != nil || ev.Kind != wsproto.KindPing {
		t.Fatalf("silent client got %v %v, want a ping", ev.Kind, err)
	}
	dead.expectEOF()
}

func TestOriginCheck(t *testing.T) {
	srv := echoServer()
	srv.AllowedOrigins = []string{"https://example.test", "https://*.example.test"}
	url := start(t, srv)
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://example.test", 101},
		{"https://chat.example.test", 101},
		{"HTTPS://EXAMPLE.TEST", 101},
		{"https://evil.test", 403},
		{"http://example.test", 403},
		{"", 101}, // not a browser
	} {
		var extra []string
		if tc.origin != "" {
			extra = append(extra, "Origin: "+tc.origin)
		}
		if resp := roundTrip(t, url, upgradeRequest("/", extra...)); resp.StatusCode != tc.status {
			t.Errorf("origin %q: status %d, want %d", tc.origin, resp.StatusCode, tc.status)
		}
	}
	bad := &server.Server{AllowedOrigins: []string{"[bad"}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := bad.Serve(ln); err == nil || !strings.Contains(err.Error(), "AllowedOrigins") {
		t.Fatalf("Serve with a bad pattern: %v", err)
	}
}
