package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsloop/wsloop/server"
)

// idleClients is how many idle clients TestIdleClientsCostNoGoroutines
// holds. The clients live in a subprocess: the server's side alone takes
// one descriptor each, and the process limit here is 20000.
const idleClients = 10000

// An idle client costs no goroutine: with 10,000 clients connected, the
// server runs as many goroutines as with none. With permessage-deflate
// negotiated it costs no more: no compression state is kept.
func TestIdleClientsCostNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 10,000 connections")
	}
	for _, compression := range []bool{false, true} {
		t.Run(fmt.Sprintf("compression=%v", compression), func(t *testing.T) {
			testIdleClients(t, compression)
		})
	}
}

func testIdleClients(t *testing.T, compression bool) {
	var joined, left sync.WaitGroup
	joined.Add(idleClients)
	left.Add(idleClients)
	srv := &server.Server{
		Compression:  compression,
		OnNewClient:  func(*server.Client) { joined.Done() },
		OnClientLeft: func(*server.Client, error) { left.Done() },
	}
	url := start(t, srv)
	dial(t, url).Close() // the server is up, its workers started
	waitFor(t, "the probe client to leave", func() bool { return srv.Len() == 0 })
	joined.Add(1)
	left.Add(1)
	runtime.GC()
	before := runtime.NumGoroutine()
	rssBefore := rss(t)
	heapBefore := heapInUse()

	stdin := startClientProcess(t, "TestIdleClientProcess", "WSLOOP_IDLE_URL="+url, "WSLOOP_IDLE_N="+strconv.Itoa(idleClients),
		"WSLOOP_IDLE_DEFLATE="+strconv.FormatBool(compression))
	joined.Wait()
	if n := srv.Len(); n != idleClients {
		t.Fatalf("server holds %d clients, want %d", n, idleClients)
	}
	runtime.GC()
	// Handshake goroutines end right after their client is handed over.
	var during int
	waitFor(t, "handshake goroutines to end", func() bool {
		during = runtime.NumGoroutine()
		return during <= before+2
	})
	rssDuring := rss(t)
	heapDuring := heapInUse()
	t.Logf("goroutines: %d with no client, %d with %d idle clients", before, during, idleClients)
	t.Logf("process RSS: %d KiB before, %d KiB with %d idle clients (%d B per client, test binary included)",
		rssBefore>>10, rssDuring>>10, idleClients, (rssDuring-rssBefore)/idleClients)
	t.Logf("live heap: %d B per idle client", (heapDuring-heapBefore)/idleClients)

	stdin.Close() // the client process closes its connections and exits
	left.Wait()
	if n := srv.Len(); n != 0 {
		t.Fatalf("%d clients still registered after all left", n)
	}
}

// TestIdleClientProcess is the client side of
// TestIdleClientsCostNoGoroutines, run in a subprocess.
func TestIdleClientProcess(t *testing.T) {
	url := os.Getenv("WSLOOP_IDLE_URL")
	if url == "" {
		t.Skip("runs as a subprocess of TestIdleClientsCostNoGoroutines")
	}
	n, _ := strconv.Atoi(os.Getenv("WSLOOP_IDLE_N"))
	deflate := os.Getenv("WSLOOP_IDLE_DEFLATE") == "true"
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	const dialers = 32
	for w := 0; w < dialers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += dialers {
				c, err := dialIdle(addr, i, deflate)
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

// dialIdle connects client i from source address 127.0.0.(2 + i%8), so the
// clients don't run out of ephemeral ports, and completes the handshake,
// with permessage-deflate negotiated if deflate is set.
func dialIdle(addr string, i int, deflate bool) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   10 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))},
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var extra []string
	if deflate {
		extra = append(extra, deflateOffer)
	}
	if _, err := io.WriteString(c, upgradeRequest("/", extra...)); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Extensions") != ""; got != deflate {
		c.Close()
		return nil, fmt.Errorf("permessage-deflate negotiated: %v, want %v", got, deflate)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// rss returns this process's resident set size in bytes.
func rss(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb << 10
		}
	}
	return 0
}

// heapInUse returns the bytes of live heap objects after a collection.
func heapInUse() int {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startClientProcess runs the test binary's test (a client process) with
// env added, waits until it prints its "ready" line, and returns its
// stdin: closing it tells the process to close its connections and exit.
func startClientProcess(t *testing.T, test string, env ...string) io.WriteCloser {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatal("client process ended before its clients were connected")
		}
		t.Log("client process:", line)
	case <-time.After(3 * time.Minute):
		t.Fatal("client process did not connect its clients in time")
	}
	return stdin
}
