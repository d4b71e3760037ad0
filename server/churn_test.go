package server_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsproto"
	"go.uber.org/goleak"
)

// counting wraps a server with join and leave counters.
type counting struct {
	joins, leaves atomic.Int64
	perClient     sync.Map // id -> *atomic.Int32 of OnClientLeft calls
}

func (k *counting) install(srv *server.Server) {
	srv.OnNewClient = func(c *server.Client) {
		k.joins.Add(1)
		k.perClient.Store(c.ID(), new(atomic.Int32))
	}
	srv.OnClientLeft = func(c *server.Client, err error) {
		k.leaves.Add(1)
		if n, ok := k.perClient.Load(c.ID()); ok {
			n.(*atomic.Int32).Add(1)
		}
	}
}

// checkOneLeavePerJoin fails unless every client that joined left exactly once.
func (k *counting) checkOneLeavePerJoin(t *testing.T) {
	t.Helper()
	if j, l := k.joins.Load(), k.leaves.Load(); j != l {
		t.Errorf("%d joins, %d leaves", j, l)
	}
	k.perClient.Range(func(id, n any) bool {
		if got := n.(*atomic.Int32).Load(); got != 1 {
			t.Errorf("client %v left %d times", id, got)
		}
		return true
	})
}

func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// Churn: thousands of connect / message / disconnect cycles, half ending
// with a close handshake and half with a TCP reset. Every client gets
// exactly one OnClientLeft, and descriptors, goroutines and memory return
// to where they were.
func TestChurnLeaksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of connections")
	}
	ignore := goleak.IgnoreCurrent()
	cycles := 4000
	if raceEnabled {
		cycles = 1500
	}
	var k counting
	srv := echoServer()
	srv.Compression = true
	k.install(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "ws://" + ln.Addr().String() + "/"
	dial(t, url).Close() // warm up: workers and poller running
	waitFor(t, "the warm-up client to leave", func() bool { return k.leaves.Load() == 1 })
	fdsBefore, heapBefore := openFDs(), heapInUse()

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	const parallel = 16
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < cycles; i += parallel {
				if err := churnOnce(url, i); err != nil {
					errs <- fmt.Errorf("cycle %d: %w", i, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "every client to leave", func() bool { return k.leaves.Load() == int64(cycles+1) && srv.Len() == 0 })
	k.checkOneLeavePerJoin(t)
	waitFor(t, "descriptors to return", func() bool { return openFDs() <= fdsBefore })
	if grown := heapInUse() - heapBefore; grown > 4<<20 {
		t.Errorf("live heap grew by %d KiB over %d cycles", grown>>10, cycles)
	}
	srv.Close()
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

// churnOnce connects, echoes a message, and leaves: even cycles with a
// close handshake, odd ones with a reset.
func churnOnce(url string, i int) error {
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	nc, err := dialIdle(addr, i, i%4 == 0)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	msg := []byte("cycle " + strconv.Itoa(i))
	if _, err := nc.Write(frame(ws.OpText, true, msg)); err != nil {
		return err
	}
	c := &rawClient{nc: nc}
	c.dec.AllowRSV1 = true
	ev, err := c.next()
	if err != nil || ev.Kind != wsproto.KindMessage || string(ev.Payload) != string(msg) {
		return fmt.Errorf("echo: %v %q %v", ev.Kind, ev.Payload, err)
	}
	if i%2 == 1 {
		nc.(*net.TCPConn).SetLinger(0)
		return nil // Close sends a reset
	}
	if _, err := nc.Write(frame(ws.OpClose, true, closePayload(1000, ""))); err != nil {
		return err
	}
	for {
		ev, err := c.next()
		if err != nil {
			return fmt.Errorf("before the close answer: %w", err)
		}
		if ev.Kind == wsproto.KindClose {
			return nil
		}
	}
}

// soakDuration is how long TestSoak runs: a short while by default, longer
// with WSLOOP_SOAK=10m.
func soakDuration(t *testing.T) time.Duration {
	if s := os.Getenv("WSLOOP_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("WSLOOP_SOAK=%q: %v", s, err)
		}
		return d
	}
	return 20 * time.Second
}

// Soak: a thousand long-lived clients echo and receive broadcasts while
// others come and go at random. At the end every long-lived client got
// every echo and every broadcast, in order, and joins equal leaves.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test")
	}
	duration := soakDuration(t)
	const longLived = 1000
	var k counting
	srv := echoServer()
	srv.Compression = true
	k.install(srv)
	url := start(t, srv)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")

	type stats struct {
		echoesSent, echoesGot int
		lastBroadcast         int
		err                   error
	}
	results := make([]stats, longLived)
	stop := make(chan struct{})
	var clients sync.WaitGroup
	var broadcasts atomic.Int64
	for i := 0; i < longLived; i++ {
		nc, err := dialIdle(addr, i, i%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		clients.Add(2)
		st := &results[i]
		st.lastBroadcast = -1
		sent := make(chan int, 1024) // echo numbers sent, for the reader to check order
		go func() {                  // writer: an echo now and then, until stop
			defer clients.Done()
			defer close(sent)
			tick := time.NewTicker(time.Duration(300+rand.IntN(400)) * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				sent <- n
				if _, err := nc.Write(frame(ws.OpText, true, []byte("echo "+strconv.Itoa(n)))); err != nil {
					return
				}
			}
		}()
		go func() { // reader: echoes in order, broadcasts in order
			defer clients.Done()
			c := &rawClient{nc: nc}
			c.dec.AllowRSV1 = true
			nc.SetReadDeadline(time.Now().Add(duration + time.Minute))
			for {
				ev, err := c.next()
				if err != nil {
					st.err = err
					return
				}
				if ev.Kind != wsproto.KindMessage {
					continue
				}
				payload := ev.Payload
				if ev.Compressed {
					if payload, err = wsproto.InflateMessage(nil, payload, 1<<20, nil); err != nil {
						st.err = err
						return
					}
				}
				text := string(payload)
				switch {
				case strings.HasPrefix(text, "echo "):
					want, ok := <-sent
					if !ok || text != "echo "+strconv.Itoa(want) {
						st.err = fmt.Errorf("echo %q, want %d", text, want)
						return
					}
					st.echoesGot++
				case strings.HasPrefix(text, "bcast "):
					n, _ := strconv.Atoi(strings.Fields(text)[1])
					if n != st.lastBroadcast+1 {
						st.err = fmt.Errorf("broadcast %d after %d", n, st.lastBroadcast)
						return
					}
					st.lastBroadcast = n
					if text == "bcast "+strconv.Itoa(n)+" end" {
						return
					}
				}
			}
		}()
	}
	waitFor(t, "long-lived clients to join", func() bool { return srv.Len() >= longLived })

	// Others come and go, ending every way there is.
	var churn sync.WaitGroup
	var churned atomic.Int64
	for w := 0; w < 8; w++ {
		churn.Add(1)
		go func(w int) {
			defer churn.Done()
			for i := w; ; i += 8 {
				select {
				case <-stop:
					return
				default:
				}
				if err := churnOnce(url, longLived+i); err == nil {
					churned.Add(1)
				}
			}
		}(w)
	}
	// Broadcasts, some long enough to be compressed.
	deadline := time.Now().Add(duration)
	padding := strings.Repeat("x", 300)
	for n := 0; time.Now().Before(deadline); n++ {
		msg := "bcast " + strconv.Itoa(n) + " "
		if n%3 == 0 {
			msg += padding
		}
		srv.BroadcastText(msg)
		broadcasts.Store(int64(n + 1))
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	churn.Wait()
	last := int(broadcasts.Load())
	srv.BroadcastText("bcast " + strconv.Itoa(last) + " end")
	clients.Wait()

	echoes := 0
	for i, st := range results {
		if st.err != nil {
			t.Fatalf("long-lived client %d: %v", i, st.err)
		}
		if st.lastBroadcast != last {
			t.Fatalf("long-lived client %d got broadcasts up to %d of %d", i, st.lastBroadcast, last)
		}
		echoes += st.echoesGot
	}
	t.Logf("%v: %d long-lived clients, %d echoes, %d broadcasts each; %d clients came and went",
		duration, longLived, echoes, last+1, churned.Load())
	srv.Close()
	k.checkOneLeavePerJoin(t)
}
