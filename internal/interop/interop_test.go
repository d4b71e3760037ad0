// Package interop runs WebSocket clients that nobody on this project wrote
// against the server, over real loopback sockets: Python's websockets
// (Debian package python3-websockets), Node's ws (from npm, see node/),
// headless Chromium (Debian package chromium) and the Go libraries
// gorilla/websocket and coder/websocket.
//
// Every client plays the same scenario (see scenario below), over ws://
// and over wss:// (the server's own TLS), with the server's compression
// off and on, and reports
// what happened as a report; the Go test checks the report and what the
// server's callbacks saw.
//
// A client that is not installed skips its test with the install hint,
// except when the environment variable CI is set, where it is a failure.
package interop

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsloop/wsloop/internal/testlog"
	"github.com/wsloop/wsloop/server"
)

// mode is how a test's server runs: over ws:// or wss:// (the server's
// own TLS, with a certificate the test makes), with its permessage-deflate
// support off or on.
type mode struct {
	tls         bool
	compression bool
}

func (m mode) String() string {
	scheme := "ws"
	if m.tls {
		scheme = "wss"
	}
	return fmt.Sprintf("%s/compression=%v", scheme, m.compression)
}

// modes are the modes every client runs the scenario in.
var modes = []mode{{false, false}, {false, true}, {true, false}, {true, true}}

// configure applies a mode's compression to a server under test: the one
// place that knows how the server is told to negotiate permessage-deflate.
func configure(s *server.Server, m mode) {
	s.Compression = m.compression
}

// forEachMode runs test as a subtest per mode.
func forEachMode(t *testing.T, test func(t *testing.T, m mode)) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			test(t, m)
		})
	}
}

// The scenario, the same for every client (client.py, node/client.js,
// testdata/browser.js and goclient_test.go spell it out again in their
// languages). Connection 1:
//
//   - connect: note the negotiated extensions (Sec-WebSocket-Extensions);
//   - each echoed back identical and with the same type: text-utf8
//     ("héllo wörld ✓ 😀"), text-64k-mixed ("aé€😀" 6553 times then
//     "abcdef": 65536 bytes of 1- to 4-byte characters), binary-all-bytes
//     (0..255), text-empty, binary-empty, binary-64k and binary-1m
//     (65536 and 1<<20 bytes, byte i being i%251);
//   - burst-1000: 1000 messages sent without waiting, message i being the
//     text "burst i ✓" for even i and the binary UTF-8 of "burst i" for odd
//     i; all echoed back in order;
//   - ping: a ping with payload "wsloop-ping", answered by a pong with the
//     same payload (clients that cannot ping report "skipped: why");
//   - broadcast: the text "broadcast-me" makes the server broadcast the
//     text broadcastText then broadcastBinaryLen bytes of the i%251 pattern;
//   - client-close: the client closes with 4001 "client bye" and reports
//     the close code (and reason) the server answered with.
//
// Connection 2:
//
//   - server-close: the client sends "close-me"; the server closes with
//     4002 "server bye"; the client reports the code and reason it got.
var wantSteps = []string{
	"connect",
	"text-utf8", "text-64k-mixed", "binary-all-bytes", "text-empty", "binary-empty", "binary-64k", "binary-1m",
	"burst-1000",
	"ping",
	"broadcast",
	"client-close",
	"server-close",
}

const (
	closeMeText        = "close-me"
	broadcastMeText    = "broadcast-me"
	broadcastText      = "broadcast ✓ to all"
	broadcastBinaryLen = 100000

	clientCloseCode   = 4001
	clientCloseReason = "client bye"
	serverCloseCode   = 4002
	serverCloseReason = "server bye"

	// Bounds on the waits of the test.
	clientRunTimeout = 60 * time.Second // one client process runs the whole scenario
	leftTimeout      = 10 * time.Second // OnClientLeft after the client is done
)

// pattern returns n bytes with byte i being i%251.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// report is what a client tells about its run of the scenario; scripts
// print it as JSON on stdout.
type report struct {
	// Client names the client library and its version.
	Client string `json:"client"`
	// Extensions is what the handshake negotiated: the response's
	// Sec-WebSocket-Extensions header, or the library's view of it.
	Extensions string `json:"extensions"`
	// Steps in the order run: Result is "ok", "skipped: why" or what
	// went wrong.
	Steps []step `json:"steps"`
	// ClientClose is the close frame the server answered the client's
	// 4001 with; ServerClose is the one that the server started.
	ClientClose *closeFrame `json:"clientClose"`
	ServerClose *closeFrame `json:"serverClose"`
}

type step struct {
	Name   string `json:"name"`
	Result string `json:"result"`
}

type closeFrame struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func (r *report) add(name string, err error) {
	res := "ok"
	if err != nil {
		res = err.Error()
	}
	r.Steps = append(r.Steps, step{Name: name, Result: res})
}

func (r *report) String() string {
	b, _ := json.MarshalIndent(r, "    ", "  ")
	return "    " + string(b)
}

// check fails t for every way the report differs from a correct run.
// skippable names the steps this client may report as skipped.
func (r *report) check(t *testing.T, compression bool, skippable ...string) {
	t.Helper()
	t.Logf("client: %s; extensions: %q", r.Client, r.Extensions)
	got := map[string]string{}
	for _, s := range r.Steps {
		got[s.Name] = s.Result
	}
	var notRun []string
	for _, name := range wantSteps {
		res, ok := got[name]
		switch {
		case !ok:
			notRun = append(notRun, name)
		case res == "ok":
		case strings.HasPrefix(res, "skipped") && contains(skippable, name):
			t.Logf("step %s: %s", name, res)
		default:
			t.Errorf("step %s: %s", name, res)
		}
	}
	if len(notRun) > 0 {
		t.Errorf("steps not run: %s", strings.Join(notRun, ", "))
	}
	if negotiated := strings.Contains(r.Extensions, "permessage-deflate"); negotiated != compression {
		t.Errorf("permessage-deflate negotiated: %v (extensions %q), want %v", negotiated, r.Extensions, compression)
	}
	if c := r.ClientClose; c == nil {
		t.Errorf("client-close: the client saw no close frame from the server")
	} else if c.Code != clientCloseCode {
		t.Errorf("client-close: the server answered close %d with %d %q, want code %d", clientCloseCode, c.Code, c.Reason, clientCloseCode)
	}
	if c := r.ServerClose; c == nil {
		t.Errorf("server-close: the client saw no close frame from the server")
	} else if c.Code != serverCloseCode || c.Reason != serverCloseReason {
		t.Errorf("server-close: the client got close %d %q, want %d %q", c.Code, c.Reason, serverCloseCode, serverCloseReason)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// harness is a server under test in echo mode, with the scenario's two
// special messages, and a record of how its clients left.
type harness struct {
	t    *testing.T
	mode mode
	srv  *server.Server
	url  string      // ws://127.0.0.1:PORT/ or wss://127.0.0.1:PORT/
	cert *testCert   // the server's certificate, in mode wss
	tls  *tls.Config // a client configuration that trusts it, in mode wss
	log  *testlog.Buffer

	mu      sync.Mutex
	joined  int
	roles   map[uint64]string // "server-close" for the client that sent close-me
	sendErr []string          // sends that failed
	left    chan leftEvent
}

type leftEvent struct {
	id   uint64
	role string
	err  error
}

// startServer serves the scenario's echo server on a fresh loopback port
// until the test ends, over TLS in mode wss.
func startServer(t *testing.T, m mode) *harness {
	t.Helper()
	h := &harness{t: t, mode: m, log: &testlog.Buffer{}, roles: map[uint64]string{}, left: make(chan leftEvent, 16)}
	h.srv = &server.Server{
		Logger:       slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnNewClient:  h.onNewClient,
		OnMessage:    h.onMessage,
		OnClientLeft: h.onClientLeft,
	}
	configure(h.srv, m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	scheme := "ws"
	if m.tls {
		scheme = "wss"
		h.cert = certificate(t)
		h.tls = h.cert.client
		h.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{h.cert.cert}}
		go func() { done <- h.srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { done <- h.srv.Serve(ln) }()
	}
	t.Cleanup(func() {
		h.srv.Close()
		select {
		case err := <-done:
			if !errors.Is(err, server.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10s of Close")
		}
	})
	h.url = scheme + "://" + ln.Addr().String() + "/"
	return h
}

func (h *harness) onNewClient(c *server.Client) {
	h.mu.Lock()
	h.joined++
	h.mu.Unlock()
}

func (h *harness) onMessage(c *server.Client, m server.Message) {
	var err error
	switch {
	case m.Op == server.Text && string(m.Data) == closeMeText:
		h.mu.Lock()
		h.roles[c.ID()] = "server-close"
		h.mu.Unlock()
		err = c.Close(serverCloseCode, serverCloseReason)
	case m.Op == server.Text && string(m.Data) == broadcastMeText:
		h.srv.BroadcastText(broadcastText)
		h.srv.BroadcastBinary(pattern(broadcastBinaryLen))
	case m.Op == server.Text:
		err = c.SendText(string(m.Data))
	default:
		err = c.SendBinary(m.Data)
	}
	if err != nil {
		h.mu.Lock()
		h.sendErr = append(h.sendErr, fmt.Sprintf("client %d: answering a %v message of %d bytes: %v", c.ID(), m.Op, len(m.Data), err))
		h.mu.Unlock()
	}
}

func (h *harness) onClientLeft(c *server.Client, err error) {
	h.mu.Lock()
	role := h.roles[c.ID()]
	h.mu.Unlock()
	if role == "" {
		role = "main"
	}
	h.left <- leftEvent{id: c.ID(), role: role, err: err}
}

// checkServerSide waits for both of the scenario's clients to have left and
// checks how: the main one with the client's close frame, the other after
// answering the server's close.
func (h *harness) checkServerSide() {
	t := h.t
	t.Helper()
	var events []leftEvent
	deadline := time.After(leftTimeout)
wait:
	for len(events) < 2 {
		select {
		case ev := <-h.left:
			events = append(events, ev)
		case <-deadline:
			break wait
		}
	}
	h.mu.Lock()
	joined, sendErr := h.joined, h.sendErr
	h.mu.Unlock()
	if joined != 2 {
		t.Errorf("server: %d clients joined, want 2", joined)
	}
	for _, e := range sendErr {
		t.Errorf("server: %s", e)
	}
	if len(events) < 2 {
		t.Errorf("server: only %d of 2 clients left within %v of the client finishing: %v", len(events), leftTimeout, events)
	}
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.role] = true
		switch ev.role {
		case "main":
			var ce *server.CloseError
			if !errors.As(ev.err, &ce) || ce.Code != clientCloseCode || ce.Reason != clientCloseReason {
				t.Errorf("server: OnClientLeft of the main client (%d) got %T %v, want *server.CloseError{Code: %d, Reason: %q}",
					ev.id, ev.err, ev.err, clientCloseCode, clientCloseReason)
			}
		case "server-close":
			if ev.err != nil {
				t.Errorf("server: OnClientLeft of the client closed by the server (%d) got %T %v, want nil (the client answered the close)",
					ev.id, ev.err, ev.err)
			}
		}
	}
	if len(events) == 2 && !(seen["main"] && seen["server-close"]) {
		t.Errorf("server: clients left as %+v, want one main and one server-close", events)
	}
	if t.Failed() {
		t.Logf("server log (tail):\n%s", h.log.Tail(40))
	}
}

// missing skips the test for a client that is not installed, or fails it
// when CI is set: CI installs every client.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("CI=%s: %s", ci, msg)
	}
	t.Skip(msg)
}
