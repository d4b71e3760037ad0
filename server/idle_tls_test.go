package server_test

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
)

var (
	idleTLSProfile = flag.String("idle.heapprofile", "", "write a heap profile (every allocation) of the server holding the idle wss:// clients of TestIdleTLSClientCost to this `file`")
	idleTLSEcho    = flag.Int("idle.echo", 64, "bytes each idle client of TestIdleTLSClientCost echoes once before it goes idle (0: none)")
)

// maxIdleTLSHeap bounds the live heap an idle wss:// client may cost the
// server. Measured 7.0 KB, most of it crypto/tls's (see the README's wss
// section); a buffer kept per client by mistake (a 16 KiB record, the
// TLS pipe's 64 KiB read buffer) goes over it.
const maxIdleTLSHeap = 12 << 10

// What an idle wss:// client costs the server, beside an idle ws:// one:
// the same 10,000 clients (2,000 under the race detector), each having completed its handshake and echoed
// one message, then silent; the clients live in a subprocess. The live
// heap per client is bounded by maxIdleTLSHeap; RSS is reported.
func TestIdleTLSClientCost(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 10,000 connections, twice")
	}
	if *idleTLSProfile != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact account
	}
	n := idleClients
	if raceEnabled {
		n = 2000 // the race detector makes each TLS handshake ten times slower; the heap per client is the same
	}
	cost := map[string]idleCost{}
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			c := measureIdle(t, scheme, n, *idleTLSEcho)
			cost[scheme] = c
			t.Logf("%s: %d goroutines, %d B of RSS and %d B of live heap per idle client", scheme, c.goroutines, c.rss, c.heap)
		})
	}
	ws, wss := cost["ws"], cost["wss"]
	if ws.heap == 0 || wss.heap == 0 {
		return // a subtest failed
	}
	t.Logf("an idle wss client costs %d B more live heap (%.1fx) and %d B more RSS (%.1fx) than an idle ws client",
		wss.heap-ws.heap, float64(wss.heap)/float64(ws.heap), wss.rss-ws.rss, float64(wss.rss)/float64(max(ws.rss, 1)))
	if wss.heap > maxIdleTLSHeap {
		t.Errorf("an idle wss client holds %d B of live heap, more than %d", wss.heap, maxIdleTLSHeap)
	}
}

type idleCost struct {
	goroutines int // the server's, with every client connected
	rss, heap  int // per client
}

// measureIdle serves an echo server over scheme (ws or wss) and measures
// it before and after n idle clients, each of which has echoed a message
// of echo bytes, have connected from a subprocess.
func measureIdle(t *testing.T, scheme string, n, echo int) idleCost {
	var joined, left sync.WaitGroup
	srv := echoServer()
	srv.Logger = quietLogger()
	srv.OnNewClient = func(*server.Client) { joined.Done() }
	srv.OnClientLeft = func(*server.Client, error) { left.Done() }
	var url string
	if scheme == "wss" {
		srv.TLSConfig = testTLS(t).server
		url = "wss://" + startTLS(t, srv) + "/"
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		url = "ws://" + ln.Addr().String() + "/"
	}
	// A probe client starts the workers and the crypto/tls tables.
	joined.Add(1)
	left.Add(1)
	probe, err := dialIdleClient(url, 0, echo)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	left.Wait()
	joined.Add(n)
	left.Add(n)
	waitFor(t, "handshake goroutines to end", func() bool { return srv.Len() == 0 })
	runtime.GC()
	goroutinesBefore := runtime.NumGoroutine()
	rssBefore := rss(t)
	heapBefore := heapInUse()

	stdin := startClientProcess(t, "TestIdleTLSClientProcess", "WSLOOP_IDLE_TLS_URL="+url, "WSLOOP_IDLE_N="+strconv.Itoa(n), "WSLOOP_IDLE_ECHO="+strconv.Itoa(echo))
	joined.Wait()
	if got := srv.Len(); got != n {
		t.Fatalf("server holds %d clients, want %d", got, n)
	}
	var c idleCost
	waitFor(t, "handshake goroutines to end", func() bool {
		runtime.GC()
		c.goroutines = runtime.NumGoroutine()
		return c.goroutines <= goroutinesBefore+2
	})
	c.rss = (rss(t) - rssBefore) / n
	c.heap = (heapInUse() - heapBefore) / n
	if *idleTLSProfile != "" && scheme == "wss" {
		f, err := os.Create(*idleTLSProfile)
		if err != nil {
			t.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	stdin.Close() // the client process closes its connections and exits
	left.Wait()
	return c
}

// TestIdleTLSClientProcess is the client side of TestIdleTLSClientCost,
// run in a subprocess.
func TestIdleTLSClientProcess(t *testing.T) {
	url := os.Getenv("WSLOOP_IDLE_TLS_URL")
	if url == "" {
		t.Skip("runs as a subprocess of TestIdleTLSClientCost")
	}
	n, _ := strconv.Atoi(os.Getenv("WSLOOP_IDLE_N"))
	echo, _ := strconv.Atoi(os.Getenv("WSLOOP_IDLE_ECHO"))
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	const dialers = 32
	for w := 0; w < dialers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += dialers {
				c, err := dialIdleClient(url, i, echo)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				conns[i] = c
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Printf("ready %d\n", n)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// dialIdleClient connects client i from source address 127.0.0.(2 + i%8),
// over TLS for a wss:// URL, completes the handshake and, if echo > 0,
// has a message of echo bytes echoed.
func dialIdleClient(url string, i, echo int) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   10 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))},
	}
	c, err := d.Dial("tcp", hostOf(url))
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if strings.HasPrefix(url, "wss://") {
		// This process did not make the server's certificate: it checks
		// nothing, it only loads the server.
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	}
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, err
	}
	if _, err := io.WriteString(c, upgradeRequest("/")); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(c, 256)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fail(fmt.Errorf("status %d", resp.StatusCode))
	}
	if echo > 0 {
		if _, err := c.Write(frame(ws.OpBinary, true, make([]byte, echo))); err != nil {
			return fail(err)
		}
		h, err := ws.ReadHeader(br)
		if err != nil {
			return fail(err)
		}
		if h.OpCode != ws.OpBinary || h.Length != int64(echo) {
			return fail(fmt.Errorf("echo: %v of %d bytes", h.OpCode, h.Length))
		}
		if _, err := io.CopyN(io.Discard, br, h.Length); err != nil {
			return fail(err)
		}
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
