package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/wsloop/wsloop/internal/testlog"
	"github.com/wsloop/wsloop/natsbroker"
	"github.com/wsloop/wsloop/server"
)

// TestMain lets the test binary run as wsserver itself (WSSERVER_ARGS set:
// the arguments, one per line), so that tests can start real wsserver
// processes and signal them.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("WSSERVER_ARGS"); ok {
		os.Exit(run(strings.Split(args, "\n"), os.Stderr))
	}
	os.Exit(m.Run())
}

// Every bad flag, and a NATS server nobody runs, exits 2 with a message
// that names the flag.
func TestBadFlags(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "shout"}, `-mode "shout": want chat, echo or broadcast`},
		{[]string{"-log-level", "loud"}, `-log-level "loud"`},
		{[]string{"-addr", "nowhere"}, `-addr "nowhere": want host:port`},
		{[]string{"-drain", "-1s"}, "-drain -1s: must not be negative"},
		{[]string{"-drain", "soon"}, `invalid value "soon" for flag -drain`},
		{[]string{"-drain-delay", "-2s"}, "-drain-delay -2s: must not be negative"},
		{[]string{"-trusted-proxies", "10.0.0.0/33"}, `-trusted-proxies: "10.0.0.0/33" is not a CIDR`},
		{[]string{"-trusted-proxies", "10.0.0.0/8,,"}, `-trusted-proxies: "" is not a CIDR`},
		{[]string{"-trusted-proxies", "proxy.example"}, `-trusted-proxies: "proxy.example" is not a CIDR`},
		{[]string{"-nats-subject-prefix", ""}, "-nats-subject-prefix: must not be empty"},
		{[]string{"-nats", "nats://" + deadAddr}, "-nats nats://" + deadAddr + ": natsbroker: connecting"},
		{[]string{"-nats", "nats://" + deadAddr, "-nats-subject-prefix", "a b"}, `bad subject prefix "a b"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-no-such-flag"}, "flag provided but not defined: -no-such-flag"},
	} {
		var stderr bytes.Buffer
		code := run(tt.args, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("wsserver %q: exit %d, stderr %q; want exit 2 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
	if p, err := parsePrefixes(" 10.0.0.1/8, 192.0.2.7 ,fd00::/8"); err != nil || fmt.Sprint(p) != "[10.0.0.0/8 192.0.2.7/32 fd00::/8]" {
		t.Errorf("parsePrefixes: %v, %v", p, err)
	}
}

// proc is a wsserver process started by a test.
type proc struct {
	cmd  *exec.Cmd
	addr string // host:port it listens on
	log  *testlog.Buffer
	done chan struct{}
	code int
}

var listeningRE = regexp.MustCompile(`msg=listening url=https?://([^/ ]+)/`)

// startWSServer runs wsserver with args (add -addr 127.0.0.1:0 for a free
// port) and waits until it listens.
func startWSServer(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WSSERVER_ARGS="+strings.Join(args, "\n"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: &testlog.Buffer{}, done: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.log, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-listening:
	case <-p.done:
		t.Fatalf("wsserver %q exited with %d before listening:\n%s", args, p.code, p.log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("wsserver %q did not listen within 20s:\n%s", args, p.log.String())
	}
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		t.Fatalf("wsserver still running after %v:\n%s", within, p.log.String())
		return -1
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// SIGTERM drains: /readyz turns 503 and handshakes are refused at once,
// the clients are closed with 1012 spread over the window after the
// delay, and the process exits 0 once they are gone.
func TestSIGTERMDrains(t *testing.T) {
	const clients = 10
	p := startWSServer(t, "-addr", "127.0.0.1:0", "-mode", "broadcast", "-drain", "1s", "-drain-delay", "300ms")
	base := "http://" + p.addr
	if got := httpStatus(t, base+"/healthz"); got != 200 {
		t.Fatalf("/healthz: %d", got)
	}
	if got := httpStatus(t, base+"/readyz"); got != 200 {
		t.Fatalf("/readyz before SIGTERM: %d", got)
	}
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		path := "/"
		if i%2 == 1 {
			path = "/room/odd"
		}
		c, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	// A message in the common room reaches everyone, one in a room only
	// its members: the server is fully up.
	conns[0].WriteMessage(websocket.TextMessage, []byte("to all"))
	conns[1].WriteMessage(websocket.TextMessage, []byte("to odd"))
	for i, c := range conns {
		want := map[string]bool{"to all": true}
		if i%2 == 1 {
			want["to odd"] = true
		}
		for len(want) > 0 {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, msg, err := c.ReadMessage()
			if err != nil || !want[string(msg)] {
				t.Fatalf("client %d: %q, %v; still want %v", i, msg, err, want)
			}
			delete(want, string(msg))
		}
	}

	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for httpStatus(t, base+"/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/", nil); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("handshake while draining: %v, %v; want 503", resp, err)
	}
	var mu sync.Mutex
	var closedAt []time.Duration
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, _, err := c.ReadMessage()
			if !websocket.IsCloseError(err, 1012) {
				t.Errorf("client %d: %v, want close 1012", i, err)
			}
			mu.Lock()
			closedAt = append(closedAt, time.Since(start))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, p.log.String())
	}
	first, last := closedAt[0], closedAt[0]
	for _, d := range closedAt {
		first, last = min(first, d), max(last, d)
	}
	t.Logf("closes from %v to %v after SIGTERM; exited after %v", first, last, time.Since(start))
	if first < 300*time.Millisecond {
		t.Errorf("first close %v after SIGTERM, before the 300ms -drain-delay", first)
	}
	if last-first < 400*time.Millisecond {
		t.Errorf("closes spanned %v; want them spread over the 1s window", last-first)
	}
}

// SIGINT stays the quick graceful shutdown: every client gets 1001 at
// once and the process exits 0.
func TestSIGINTShutsDown(t *testing.T) {
	p := startWSServer(t, "-addr", "127.0.0.1:0", "-drain", "1m")
	c, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.ReadMessage() // its own join announcement
	p.cmd.Process.Signal(os.Interrupt)
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, 1001) {
		t.Errorf("client: %v, want close 1001", err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT, want 0:\n%s", code, p.log.String())
	}
}

// A path that names no room is refused with 404; / and /room/NAME serve
// the page to a browser.
func TestPaths(t *testing.T) {
	srv := newServer("chat", slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	for _, path := range []string{"/nope", "/room/", "/room/a/b", "/room"} {
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+path, nil)
		if err == nil || resp == nil || resp.StatusCode != 404 {
			t.Errorf("handshake on %s: %v; want 404", path, err)
		}
	}
	for _, path := range []string{"/", "/room/blue"} {
		if got := httpStatus(t, "http://"+addr+path); got != 200 {
			t.Errorf("GET %s: %d, want the page", path, got)
		}
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/room/caf%C3%A9", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitUntil(t, "the client to join its room", func() bool { return srv.RoomLen("café") == 1 })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two wsserver instances on one NATS, in broadcast mode: a message from a
// client of either reaches the clients of its room on both, once.
func TestTwoInstancesOnNATS(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	var urls []string
	for range 2 {
		srv := newServer("broadcast", slog.New(slog.NewTextHandler(io.Discard, nil)))
		b, err := natsbroker.Connect(ns.ClientURL(), natsbroker.Config{})
		if err != nil {
			t.Fatal(err)
		}
		srv.Broker = b
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		t.Cleanup(func() { // after the clients' cleanups: they close first
			srv.Shutdown(context.Background())
			if err := <-served; !errors.Is(err, server.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		})
		urls = append(urls, "ws://"+ln.Addr().String())
	}
	dial := func(url string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	read := func(c *websocket.Conn, within time.Duration) (string, error) {
		c.SetReadDeadline(time.Now().Add(within))
		_, msg, err := c.ReadMessage()
		return string(msg), err
	}
	a, b := dial(urls[0]+"/room/r"), dial(urls[1]+"/room/r")
	common := dial(urls[1] + "/")
	// Room subscriptions follow joins asynchronously: send until b gets one.
	for i := 0; ; i++ {
		msg := fmt.Sprintf("probe-%d", i)
		a.WriteMessage(websocket.TextMessage, []byte(msg))
		if got, err := read(a, 10*time.Second); err != nil || got != msg {
			t.Fatalf("a: %q, %v", got, err)
		}
		got, err := read(b, 200*time.Millisecond)
		if err == nil {
			if got != msg {
				t.Fatalf("b got %q, want %q", got, msg)
			}
			break
		}
		if i == 20 {
			t.Fatal("room messages do not reach the other instance")
		}
		b = dial(urls[1] + "/room/r") // a timed-out gorilla connection is spent
	}
	b.WriteMessage(websocket.TextMessage, []byte("from b"))
	for name, c := range map[string]*websocket.Conn{"a": a, "b": b} {
		if got, err := read(c, 10*time.Second); err != nil || got != "from b" {
			t.Fatalf("%s: %q, %v; want \"from b\"", name, got, err)
		}
	}
	common.WriteMessage(websocket.TextMessage, []byte("everyone"))
	for name, c := range map[string]*websocket.Conn{"a": a, "b": b, "common": common} {
		if got, err := read(c, 10*time.Second); err != nil || got != "everyone" {
			t.Fatalf("%s: %q, %v; want \"everyone\"", name, got, err)
		}
	}
	for name, c := range map[string]*websocket.Conn{"a": a, "b": b, "common": common} {
		if got, err := read(c, 300*time.Millisecond); err == nil {
			t.Errorf("%s got %q once more", name, got)
		}
	}
}
