//go:build linux

package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// When accept fails for lack of descriptors the server backs off instead of
// spinning, logs it, and serves again once descriptors free up. The server
// runs in a subprocess with a low descriptor limit.
func TestAcceptBacksOffWithoutDescriptors(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLowFDServerProcess$")
	cmd.Env = append(os.Environ(), "WSLOOP_LOWFD=1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url string
	for line := range lines {
		if addr, ok := strings.CutPrefix(line, "listening "); ok {
			url = "ws://" + addr + "/"
			break
		}
	}
	if url == "" {
		t.Fatal("server process did not start")
	}
	// Fill the server's descriptors with clients until it refuses one
	// (503: no descriptor to keep it), then hold a few more connections
	// in the accept queue.
	var held []*gorilla.Conn
	for {
		d := gorilla.Dialer{HandshakeTimeout: 2 * time.Second}
		c, resp, err := d.Dial(url, nil)
		if err != nil {
			if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("at the descriptor limit: %v (response %v), want 503", err, resp)
			}
			break
		}
		held = append(held, c)
		if len(held) > 100 {
			t.Fatal("the descriptor limit never bit")
		}
	}
	for i := 0; i < 5; i++ {
		dialTCP(t, url) // sends nothing: holds a descriptor until HandshakeTimeout
	}
	t.Logf("server holds %d clients at its descriptor limit", len(held))
	// Count the log lines about failed accepts for a second: a busy loop
	// would log thousands.
	failures := 0
	timeout := time.After(time.Second)
count:
	for {
		select {
		case line := <-lines:
			if strings.Contains(line, "accept failed") {
				failures++
			}
		case <-timeout:
			break count
		}
	}
	if failures == 0 || failures > 20 {
		t.Fatalf("%d accept failures logged in a second; want a few (backing off)", failures)
	}
	// Free descriptors: service resumes by itself.
	for _, c := range held[:10] { // more than the queued connections take
		c.Close()
	}
	d := gorilla.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("no service after descriptors freed: %v", err)
	}
	c.WriteMessage(gorilla.TextMessage, []byte("back"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "back" {
		t.Fatalf("%q %v", msg, err)
	}
}

// TestLowFDServerProcess is the server side of
// TestAcceptBacksOffWithoutDescriptors.
func TestLowFDServerProcess(t *testing.T) {
	if os.Getenv("WSLOOP_LOWFD") == "" {
		t.Skip("runs as a subprocess of TestAcceptBacksOffWithoutDescriptors")
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	limit := uint64(len(entries) + 24)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	srv := echoServer()
	srv.LogLevel = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening %s\n", ln.Addr())
	srv.Serve(ln)
}
