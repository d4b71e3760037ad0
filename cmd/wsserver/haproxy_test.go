//go:build linux

package main

// TestBehindHAProxy runs wsserver the way an operator would behind a load
// balancer: real HAProxy (Debian's haproxy) in front of three wsserver
// processes, with PROXY protocol v2 to them and health checks on /readyz,
// and a real NATS server (in the test process) fanning messages out
// between them. Without haproxy the test is skipped, except when CI is
// set, where it fails: .ci/run installs it.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/wsloop/wsloop/internal/testlog"
)

// findHAProxy returns the haproxy binary, or skips (fails under CI).
func findHAProxy(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("haproxy is not installed; CI must install it: apt-get install haproxy")
	}
	t.Skip("needs haproxy: apt-get install haproxy")
	return ""
}

const haproxyConfig = `global
    maxconn 2000
    log stderr format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 1m
    timeout server 1m
    timeout tunnel 1h
    timeout http-request 5s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503
frontend ws
    bind %s
    default_backend wsservers
backend wsservers
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server check inter 100ms fall 1 rise 2 send-proxy-v2 check-send-proxy
%s`

// haproxy is a running HAProxy; its log lines are timestamped as they
// arrive.
type haproxy struct {
	addr string
	log  *testlog.Buffer

	mu       sync.Mutex
	downAt   map[string]time.Time // when each server was reported DOWN
	upServer map[string]bool
}

func startHAProxy(t *testing.T, bin string, servers []string) *haproxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var lines strings.Builder
	for i, s := range servers {
		fmt.Fprintf(&lines, "    server s%d %s\n", i+1, s)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(haproxyConfig, addr, lines.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", cfg)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &haproxy{addr: addr, log: &testlog.Buffer{}, downAt: map[string]time.Time{}, upServer: map[string]bool{}}
	state := regexp.MustCompile(`Server wsservers/(s\d+) is (UP|DOWN)`)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(h.log, sc.Text())
			if m := state.FindStringSubmatch(sc.Text()); m != nil {
				h.mu.Lock()
				if m[2] == "DOWN" {
					if _, ok := h.downAt[m[1]]; !ok {
						h.downAt[m[1]] = time.Now()
					}
				}
				h.upServer[m[1]] = m[2] == "UP"
				h.mu.Unlock()
			}
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("HAProxy log (tail):\n%s", h.log.Tail(60))
		}
	})
	waitUntil(t, "HAProxy to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return h
}

// client is a WebSocket client through HAProxy, from its own source
// address, reading on a goroutine of its own.
type client struct {
	conn *websocket.Conn
	msgs chan string
}

func dialFrom(ip string, url string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDial: func(network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
			return nd.Dial(network, addr)
		},
	}
	c, _, err := d.Dial(url, nil)
	return c, err
}

func newClient(t *testing.T, ip, url string) *client {
	t.Helper()
	conn, err := dialFrom(ip, url)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", url, ip, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{conn: conn, msgs: make(chan string, 1024)}
	go func() {
		defer close(c.msgs)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			c.msgs <- string(msg)
		}
	}()
	return c
}

// collect reads every message arriving on c until none came for quiet.
func (c *client) collect(quiet time.Duration) []string {
	var got []string
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return got
			}
			got = append(got, m)
		case <-time.After(quiet):
			return got
		}
	}
}

// collectAll collects from every client at once.
func collectAll(clients []*client, quiet time.Duration) [][]string {
	got := make([][]string, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = c.collect(quiet)
		}()
	}
	wg.Wait()
	return got
}

func TestBehindHAProxy(t *testing.T) {
	bin := findHAProxy(t)
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	var procs []*proc
	var backends []string
	for range 3 {
		p := startWSServer(t, "-addr", "127.0.0.1:0", "-mode", "broadcast", "-nats", ns.ClientURL(),
			"-proxy-protocol", "-trusted-proxies", "127.0.0.1/32", "-drain", "1500ms", "-drain-delay", "600ms")
		procs = append(procs, p)
		backends = append(backends, p.addr)
	}
	hap := startHAProxy(t, bin, backends)
	front := "ws://" + hap.addr

	// 1. Twelve clients from 127.0.0.10-21, half in the common room, half
	// in room "r". Each instance logs the client's own address, not
	// HAProxy's.
	var clients []*client
	ips := map[string]bool{}
	for i := range 12 {
		ip := fmt.Sprintf("127.0.0.%d", 10+i)
		path := "/"
		if i%2 == 1 {
			path = "/room/r"
		}
		clients = append(clients, newClient(t, ip, front+path))
		ips[ip] = true
	}
	joinedRE := regexp.MustCompile(`msg="client joined" id=\d+ remote=([0-9.]+):(\d+)`)
	waitUntil(t, "every client to be logged by an instance", func() bool {
		n := 0
		for _, p := range procs {
			n += len(joinedRE.FindAllString(p.log.String(), -1))
		}
		return n == len(clients)
	})
	for i, p := range procs {
		seen := joinedRE.FindAllStringSubmatch(p.log.String(), -1)
		if len(seen) == 0 {
			t.Errorf("instance %d got no client", i)
		}
		for _, m := range seen {
			if !ips[m[1]] {
				t.Errorf("instance %d logged a client from %s:%s, not a client's own address", i, m[1], m[2])
			}
		}
	}
	for _, c := range clients {
		local := c.conn.LocalAddr().String()
		n := 0
		for _, p := range procs {
			n += strings.Count(p.log.String(), "remote="+local+" ")
		}
		if n != 1 {
			t.Errorf("client %s logged by %d instances, want exactly 1", local, n)
		}
	}

	// 2. Exactly once across instances, through NATS. Subscriptions
	// follow joins asynchronously: probe until every client hears.
	probe := func(from *client, members []*client) {
		t.Helper()
		for i := 0; ; i++ {
			from.conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("probe-%d", i)))
			all := true
			for _, got := range collectAll(members, 150*time.Millisecond) {
				if len(got) == 0 {
					all = false
				}
			}
			if all {
				collectAll(clients, 300*time.Millisecond)
				return
			}
			if i == 50 {
				t.Fatal("probes do not reach every client")
			}
		}
	}
	var room []*client
	for i, c := range clients {
		if i%2 == 1 {
			room = append(room, c)
		}
	}
	probe(clients[0], clients)
	probe(clients[1], room)
	clients[0].conn.WriteMessage(websocket.TextMessage, []byte("to everyone"))
	clients[3].conn.WriteMessage(websocket.TextMessage, []byte("to room r"))
	received := collectAll(clients, 500*time.Millisecond)
	for i := range clients {
		got := strings.Join(received[i], "|")
		want := "to everyone"
		if i%2 == 1 {
			want = "to everyone|to room r" // one publisher each: either order
			if got == "to room r|to everyone" {
				got = want
			}
		}
		if got != want {
			t.Errorf("client %d received %q, want %q (each message exactly once)", i, got, want)
		}
	}
	for _, c := range clients {
		c.conn.Close()
	}

	// 3. Drain instance 0 under load: 30 clients that reconnect when
	// closed, and 4 dialing again and again. HAProxy must mark it DOWN
	// before it closes anyone; its clients reconnect to the others; no
	// handshake fails; it exits 0 and the others keep running.
	var stop atomic.Bool
	var handshakes, failures, restarts atomic.Int64
	var firstRestart atomic.Int64 // unix nanoseconds
	var failMu sync.Mutex
	var firstFailure error
	fail := func(err error) {
		failures.Add(1)
		failMu.Lock()
		if firstFailure == nil {
			firstFailure = err
		}
		failMu.Unlock()
	}
	var wg sync.WaitGroup
	for i := range 34 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := fmt.Sprintf("127.0.1.%d", 1+i)
			for !stop.Load() {
				conn, err := dialFrom(ip, front+"/")
				if err != nil {
					if !stop.Load() {
						fail(err)
					}
					continue
				}
				handshakes.Add(1)
				stay := time.Minute
				if i >= 30 {
					stay = 20 * time.Millisecond
				}
				conn.SetReadDeadline(time.Now().Add(stay))
				var rerr error
				for rerr == nil {
					_, _, rerr = conn.ReadMessage()
				}
				if websocket.IsCloseError(rerr, 1012) {
					restarts.Add(1)
					firstRestart.CompareAndSwap(0, time.Now().UnixNano())
				}
				conn.Close()
			}
		}()
	}
	waitUntil(t, "the load to connect", func() bool { return handshakes.Load() >= 60 })
	drainStart := time.Now()
	procs[0].cmd.Process.Signal(syscall.SIGTERM)
	if code := procs[0].wait(t, 15*time.Second); code != 0 {
		t.Errorf("the drained instance exited %d, want 0", code)
	}
	drained := time.Since(drainStart)
	before := handshakes.Load()
	time.Sleep(500 * time.Millisecond)
	after := handshakes.Load()
	stop.Store(true)
	for _, p := range procs[1:] {
		p.cmd.Process.Signal(os.Interrupt) // ends the long stays: the load stops
	}
	wg.Wait()

	t.Logf("%d handshakes through HAProxy; %d clients closed with 1012 and reconnected; instance 0 exited %v after SIGTERM",
		handshakes.Load(), restarts.Load(), drained.Round(time.Millisecond))
	if n := failures.Load(); n > 0 {
		t.Errorf("%d handshakes failed; the first: %v", n, firstFailure)
	}
	if restarts.Load() == 0 {
		t.Error("no client was closed with 1012 by the drained instance")
	}
	if after == before {
		t.Error("no handshake succeeded after the drained instance exited")
	}
	hap.mu.Lock()
	down, ok := hap.downAt["s1"]
	hap.mu.Unlock()
	first := time.Unix(0, firstRestart.Load())
	switch {
	case !ok:
		t.Error("HAProxy never marked the draining instance DOWN")
	case !down.Before(first):
		t.Errorf("HAProxy marked the draining instance DOWN %v after it closed its first client", down.Sub(first))
	default:
		t.Logf("HAProxy marked it DOWN %v after SIGTERM, %v before its first client was closed",
			down.Sub(drainStart).Round(time.Millisecond), first.Sub(down).Round(time.Millisecond))
	}
	// No client joined the draining instance after the SIGTERM.
	log0 := procs[0].log.String()
	if i := strings.Index(log0, "SIGTERM: draining"); i < 0 || strings.Contains(log0[i:], "client joined") {
		t.Errorf("the draining instance took clients after SIGTERM:\n%s", log0)
	}
	for i, p := range procs[1:] {
		if code := p.wait(t, 15*time.Second); code != 0 {
			t.Errorf("instance %d exited %d after SIGINT, want 0:\n%s", i+1, code, p.log.Tail(20))
		}
	}
}
