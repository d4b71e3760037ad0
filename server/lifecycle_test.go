package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// For each client: new client first, its messages in order, never two at
// once, and client left exactly once and last — however it leaves.
func TestCallbackOrderPerClient(t *testing.T) {
	var (
		mu      sync.Mutex
		seen    = map[uint64][]string{}
		busy    = map[uint64]bool{}
		overlap = 0
	)
	enter := func(c *server.Client, ev string) {
		mu.Lock()
		if busy[c.ID()] {
			overlap++
		}
		busy[c.ID()] = true
		seen[c.ID()] = append(seen[c.ID()], ev)
		mu.Unlock()
	}
	exit := func(c *server.Client) {
		mu.Lock()
		busy[c.ID()] = false
		mu.Unlock()
	}
	left := make(chan uint64, 100)
	srv := &server.Server{
		Workers:     4,
		OnNewClient: func(c *server.Client) { enter(c, "new"); time.Sleep(time.Millisecond); exit(c) },
		OnMessage: func(c *server.Client, m server.Message) {
			enter(c, string(m.Data))
			exit(c)
		},
		OnClientLeft: func(c *server.Client, err error) {
			enter(c, "left")
			exit(c)
			left <- c.ID()
		},
	}
	url := start(t, srv)

	const clients, messages = 12, 200
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := dialRaw(t, url)
			var batch []byte
			for j := 0; j < messages; j++ {
				batch = append(batch, frame(ws.OpText, true, []byte(strconv.Itoa(j)))...)
				if j%17 == 0 {
					c.write(batch)
					batch = nil
				}
			}
			c.write(batch)
			switch i % 3 {
			case 0: // close handshake
				c.write(frame(ws.OpClose, true, closePayload(1000, "")))
			case 1: // abrupt reset
				resetConn(c.nc)
			case 2: // protocol error
				c.write(frame(ws.OpText, true, []byte{0xff}))
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < clients; i++ {
		select {
		case <-left:
		case <-time.After(15 * time.Second):
			mu.Lock()
			for id, evs := range seen {
				t.Logf("client %d: %d events, last %q", id, len(evs), evs[len(evs)-1])
			}
			for _, c := range srv.Clients() {
				t.Logf("still connected: client %d from %v", c.ID(), c.RemoteAddr())
			}
			mu.Unlock()
			t.Fatalf("only %d of %d clients left", i, clients)
		}
	}
	time.Sleep(50 * time.Millisecond) // a second OnClientLeft would show up now
	mu.Lock()
	defer mu.Unlock()
	if overlap != 0 {
		t.Errorf("%d callbacks overlapped another of the same client", overlap)
	}
	for id, evs := range seen {
		if evs[0] != "new" || evs[len(evs)-1] != "left" {
			t.Errorf("client %d: first %q last %q", id, evs[0], evs[len(evs)-1])
		}
		n := 0
		for _, ev := range evs[1 : len(evs)-1] {
			if ev != strconv.Itoa(n) {
				t.Errorf("client %d: message %q where %d was due", id, ev, n)
				break
			}
			n++
		}
		// The reset client may lose its tail in flight; the others deliver all.
		if n != messages && n == 0 {
			t.Errorf("client %d: no messages", id)
		}
	}
	if len(seen) != clients {
		t.Errorf("%d clients seen, want %d", len(seen), clients)
	}
}

// A panic in a callback closes that client with 1011 and nobody else.
func TestPanicInCallbackClosesOnlyThatClient(t *testing.T) {
	srv := echoServer()
	echo := srv.OnMessage
	srv.OnMessage = func(c *server.Client, m server.Message) {
		if string(m.Data) == "boom" {
			panic("boom")
		}
		echo(c, m)
	}
	left := make(chan error, 2)
	srv.OnClientLeft = func(c *server.Client, err error) { left <- err }
	url := start(t, srv)

	victim := dialRaw(t, url)
	bystander := dial(t, url)
	victim.write(frame(ws.OpText, true, []byte("boom")))
	victim.expectClose(ws.StatusInternalServerError)
	if err := <-left; !errors.Is(err, server.ErrCallbackPanic) {
		t.Fatalf("OnClientLeft got %v, want ErrCallbackPanic", err)
	}
	bystander.WriteMessage(gorilla.TextMessage, []byte("fine"))
	if _, msg, err := bystander.ReadMessage(); err != nil || string(msg) != "fine" {
		t.Fatalf("bystander: %q %v", msg, err)
	}
}

// Interop with two independent client libraries.
func TestInteropWithCoderWebsocket(t *testing.T) {
	url := start(t, echoServer())
	ctx := ctxTimeout(t, 10*time.Second)
	c, _, err := websocket.Dial(ctx, url, coderOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(4 << 20)
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i)
		}
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageBinary || len(got) != size {
			t.Fatalf("size %d: %v %d %v", size, typ, len(got), err)
		}
	}
	// coder/websocket reads pongs only while something reads the connection.
	ctx = c.CloseRead(ctx)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}

func TestBroadcastReachesEveryClientOnce(t *testing.T) {
	srv := &server.Server{}
	joined := make(chan struct{}, 100)
	srv.OnNewClient = func(*server.Client) { joined <- struct{}{} }
	url := start(t, srv)
	const n = 20
	conns := make([]*gorilla.Conn, n)
	for i := range conns {
		conns[i] = dial(t, url)
		<-joined
	}
	if got := len(srv.Clients()); got != n {
		t.Fatalf("Clients() has %d, want %d", got, n)
	}
	for i := 0; i < 50; i++ {
		srv.BroadcastText("b" + strconv.Itoa(i))
	}
	srv.BroadcastBinary([]byte{1, 2, 3})
	for _, c := range conns {
		for i := 0; i < 50; i++ {
			typ, msg, err := c.ReadMessage()
			if err != nil || typ != gorilla.TextMessage || string(msg) != "b"+strconv.Itoa(i) {
				t.Fatalf("broadcast %d: %d %q %v", i, typ, msg, err)
			}
		}
		if typ, msg, err := c.ReadMessage(); err != nil || typ != gorilla.BinaryMessage || len(msg) != 3 {
			t.Fatalf("binary broadcast: %d %v %v", typ, msg, err)
		}
	}
}

// Shutdown flushes queued output, then sends 1001, waits for every client's
// answer, runs OnClientLeft for each, and makes Serve return ErrServerClosed.
func TestShutdownIsGraceful(t *testing.T) {
	srv := &server.Server{}
	joined := make(chan *server.Client, 10)
	var leftMu sync.Mutex
	leftCount := 0
	srv.OnNewClient = func(c *server.Client) { joined <- c }
	srv.OnClientLeft = func(*server.Client, error) { leftMu.Lock(); leftCount++; leftMu.Unlock() }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "ws://" + ln.Addr().String() + "/"

	const clients, queued = 5, 1000
	var readers sync.WaitGroup
	for i := 0; i < clients; i++ {
		c := dial(t, url)
		sc := <-joined
		for j := 0; j < queued; j++ {
			sc.SendText(fmt.Sprint(j))
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			for j := 0; j < queued; j++ {
				_, msg, err := c.ReadMessage()
				if err != nil || string(msg) != fmt.Sprint(j) {
					t.Errorf("message %d: %q %v", j, msg, err)
					return
				}
			}
			_, _, err := c.ReadMessage()
			var ce *gorilla.CloseError
			if !errors.As(err, &ce) || ce.Code != gorilla.CloseGoingAway {
				t.Errorf("after the queued messages: %v, want close 1001", err)
			}
		}()
	}
	if err := srv.Shutdown(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	readers.Wait()
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	leftMu.Lock()
	defer leftMu.Unlock()
	if leftCount != clients {
		t.Fatalf("OnClientLeft ran %d times, want %d", leftCount, clients)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
}

// Shutdown gives up at the context's deadline when a client never answers,
// and still ends every client.
func TestShutdownDeadline(t *testing.T) {
	srv := &server.Server{CloseTimeout: time.Minute}
	left := make(chan error, 1)
	joined := make(chan struct{}, 1)
	srv.OnNewClient = func(*server.Client) { joined <- struct{}{} }
	srv.OnClientLeft = func(_ *server.Client, err error) { left <- err }
	url := start(t, srv)
	dialRaw(t, url) // never answers the close frame
	<-joined
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	if err := <-left; !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("OnClientLeft got %v, want ErrServerClosed", err)
	}
}

// A client that stops reading is disconnected once its queue passes the
// limit; the others are not slowed down.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	srv := &server.Server{MaxPendingBytes: 256 << 10}
	joined := make(chan *server.Client, 2)
	left := make(chan error, 2)
	srv.OnNewClient = func(c *server.Client) { joined <- c }
	srv.OnClientLeft = func(_ *server.Client, err error) { left <- err }
	url := start(t, srv)

	slow := dialRaw(t, url) // never reads
	slowClient := <-joined
	fast := dial(t, url)
	<-joined
	go func() {
		for {
			if _, _, err := fast.ReadMessage(); err != nil {
				return
			}
		}
	}()
	chunk := make([]byte, 16<<10)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = slowClient.SendBinary(chunk)
	}
	if !errors.Is(err, server.ErrSlowConsumer) {
		t.Fatalf("SendBinary: %v, want ErrSlowConsumer", err)
	}
	if err := <-left; !errors.Is(err, server.ErrSlowConsumer) {
		t.Fatalf("OnClientLeft got %v, want ErrSlowConsumer", err)
	}
	if got := srv.Len(); got != 1 {
		t.Fatalf("%d clients left connected, want 1", got)
	}
	_ = slow
	fast.WriteMessage(gorilla.TextMessage, []byte("x"))
}

// A client that sends half a frame and stalls holds no worker: with a
// single worker, another client still gets its echoes.
func TestStalledHalfFrameDoesNotBlockOthers(t *testing.T) {
	srv := echoServer()
	srv.Workers = 1
	url := start(t, srv)
	type half struct {
		c    *rawClient
		rest []byte
	}
	var stalled []half
	for i := 0; i < 10; i++ {
		c := dialRaw(t, url)
		f := frame(ws.OpBinary, true, make([]byte, 1000))
		cut := 1 + i%6 // part of a header, or a header and no payload
		c.write(f[:cut])
		stalled = append(stalled, half{c, f[cut:]})
	}
	c := dialRaw(t, url)
	for i := 0; i < 100; i++ {
		p := []byte("ping " + strconv.Itoa(i))
		c.write(frame(ws.OpText, true, p))
		c.expectMessage(ws.OpText, p)
	}
	// The stalled clients finish their frames later and are served too.
	for _, h := range stalled {
		h.c.write(h.rest)
		h.c.expectMessage(ws.OpBinary, make([]byte, 1000))
	}
}
