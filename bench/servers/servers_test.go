// Package servers holds the benchmark servers, one main package each. This
// test builds every one of them and checks, with gorilla/websocket as the
// client, that they keep the conventions bench/cmd/compare and wsbench rely
// on: echo, broadcast to everyone on "/", rooms on "/room/NAME",
// permessage-deflate with -deflate and wss with -tls-cert.
package servers

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/bench/internal/selfsigned"
)

var all = []string{"wsloop", "gorilla", "gobwas", "nbio", "gws", "rawtcp"}

// tlsServers serve -tls-cert.
var tlsServers = all

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// build compiles every server once per test binary.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "bench-servers-")
		if buildErr != nil {
			return
		}
		for _, s := range all {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, s), "./"+s).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", s, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freeAddr returns a loopback address with a port the kernel just handed
// out (port 0), for a server that takes -addr.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs server name with args and waits until it accepts connections.
func start(t *testing.T, name string, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(filepath.Join(build(t), name), append([]string{"-addr", addr}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s stderr:\n%s", name, stderr.Bytes())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", name, stderr.String())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s does not listen on %s", name, addr)
	return ""
}

// client is a gorilla connection whose messages a goroutine reads into a
// channel, so that a test can wait for one with a timeout and go on.
type client struct {
	*websocket.Conn
	msgs chan message
}

type message struct {
	op   int
	data string
	err  error
}

func dial(t *testing.T, d *websocket.Dialer, url string) (*client, *http.Response) {
	t.Helper()
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	cl := &client{Conn: c, msgs: make(chan message, 64)}
	go func() {
		for {
			op, data, err := c.ReadMessage()
			cl.msgs <- message{op, string(data), err}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return cl, resp
}

func send(t *testing.T, c *client, op int, msg string) {
	t.Helper()
	if err := c.WriteMessage(op, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// next returns the next message of c, ok false if none came within d.
func (c *client) next(t *testing.T, who string, d time.Duration) (message, bool) {
	t.Helper()
	select {
	case m := <-c.msgs:
		if m.err != nil {
			t.Fatalf("%s: %v", who, m.err)
		}
		return m, true
	case <-time.After(d):
		return message{}, false
	}
}

// expect checks that the next message of c is want.
func expect(t *testing.T, c *client, who string, op int, want string) {
	t.Helper()
	m, ok := c.next(t, who, 5*time.Second)
	if !ok {
		t.Fatalf("%s: no message, want %.20q", who, want)
	}
	if m.op != op || m.data != want {
		t.Fatalf("%s: got op %d %.40q, want op %d %.40q", who, m.op, m.data, op, want)
	}
}

func TestEcho(t *testing.T) {
	for _, name := range all {
		t.Run(name, func(t *testing.T) {
			addr := start(t, name, "-mode", "echo")
			c, _ := dial(t, websocket.DefaultDialer, "ws://"+addr+"/")
			for i := range 3 {
				send(t, c, websocket.BinaryMessage, fmt.Sprint("binary ", i))
				expect(t, c, "client", websocket.BinaryMessage, fmt.Sprint("binary ", i))
			}
			big := strings.Repeat("0123456789abcdef", 1024)
			send(t, c, websocket.TextMessage, big)
			expect(t, c, "client", websocket.TextMessage, big)
		})
	}
}

// TestRooms checks the routing of -mode broadcast: from "/" to every
// client, from "/room/NAME" to NAME's members only, the sender included.
func TestRooms(t *testing.T) {
	for _, name := range all {
		t.Run(name, func(t *testing.T) {
			addr := start(t, name, "-mode", "broadcast")
			url := "ws://" + addr
			a, _ := dial(t, websocket.DefaultDialer, url+"/")
			b, _ := dial(t, websocket.DefaultDialer, url+"/")
			x1, _ := dial(t, websocket.DefaultDialer, url+"/room/x")
			x2, _ := dial(t, websocket.DefaultDialer, url+"/room/x")
			y, _ := dial(t, websocket.DefaultDialer, url+"/room/y")
			everyone := map[string]*client{"a": a, "b": b, "x1": x1, "x2": x2, "y": y}
			// Joining may finish after the handshake answer: wait until a
			// message from a reaches everyone.
			waitAll(t, a, everyone)

			send(t, x1, websocket.BinaryMessage, "to x")
			expect(t, x1, "x1", websocket.BinaryMessage, "to x")
			expect(t, x2, "x2", websocket.BinaryMessage, "to x")
			send(t, y, websocket.TextMessage, "to y")
			expect(t, y, "y", websocket.TextMessage, "to y")
			send(t, a, websocket.BinaryMessage, "to all")
			// Whoever is not in x or y must get "to all" next, not "to x"
			// or "to y".
			for who, c := range everyone {
				expect(t, c, who, websocket.BinaryMessage, "to all")
			}
		})
	}
}

// waitAll has from send numbered probes until one reaches every client
// (a server may add a client to its rooms after answering its handshake),
// and consumes the probes.
func waitAll(t *testing.T, from *client, clients map[string]*client) {
	t.Helper()
	for i := range 50 {
		probe := fmt.Sprint("probe ", i)
		send(t, from, websocket.BinaryMessage, probe)
		ok := true
		for who, c := range clients {
			for {
				m, got := c.next(t, who, 500*time.Millisecond)
				if !got {
					ok = false
					break
				}
				if m.data == probe {
					break
				}
				if !strings.HasPrefix(m.data, "probe ") {
					t.Fatalf("%s: unexpected %.40q", who, m.data)
				}
			}
		}
		if ok {
			return
		}
	}
	t.Fatal("the clients never all received the same probe")
}

// TestDeflate checks that -deflate negotiates permessage-deflate without
// context takeover and that compressed messages go through echo and rooms
// intact.
func TestDeflate(t *testing.T) {
	text := strings.Repeat("the quick brown fox jumps over the lazy dog; ", 24) // ~1 KiB
	d := &websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	for _, name := range all {
		t.Run(name, func(t *testing.T) {
			addr := start(t, name, "-mode", "echo", "-deflate")
			c, resp := dial(t, d, "ws://"+addr+"/")
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if !strings.Contains(ext, "permessage-deflate") {
				t.Fatalf("no permessage-deflate in the answer: %q", ext)
			}
			send(t, c, websocket.TextMessage, text)
			expect(t, c, "echo", websocket.TextMessage, text)

			addr = start(t, name, "-mode", "broadcast", "-deflate")
			r1, _ := dial(t, d, "ws://"+addr+"/room/r")
			r2, _ := dial(t, d, "ws://"+addr+"/room/r")
			waitAll(t, r1, map[string]*client{"r1": r1, "r2": r2})
			send(t, r2, websocket.TextMessage, text)
			expect(t, r1, "r1", websocket.TextMessage, text)
			expect(t, r2, "r2", websocket.TextMessage, text)
		})
	}
}

// TestTLS checks wss echo against a certificate made for the test.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := selfsigned.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	d := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 5 * time.Second}
	for _, name := range tlsServers {
		t.Run(name, func(t *testing.T) {
			addr := start(t, name, "-mode", "echo", "-tls-cert", cert, "-tls-key", key)
			for range 2 { // a second connection: the listener goes on after a handshake
				c, _ := dial(t, d, "wss://"+addr+"/")
				send(t, c, websocket.BinaryMessage, "over tls")
				expect(t, c, "client", websocket.BinaryMessage, "over tls")
				big := strings.Repeat("x", 40000) // several records
				send(t, c, websocket.BinaryMessage, big)
				expect(t, c, "client", websocket.BinaryMessage, big)
			}
			// A plaintext client on the TLS port gets no WebSocket (gws
			// leaves such a connection open without an answer: hence the
			// short timeout).
			plain := &websocket.Dialer{HandshakeTimeout: time.Second}
			if c, _, err := plain.Dial("ws://"+addr+"/", nil); err == nil {
				c.Close()
				t.Fatal("a plaintext handshake succeeded on the TLS port")
			}
		})
	}
}
