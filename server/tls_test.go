package server_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// startTLS serves srv with ServeTLS and its TLSConfig and returns the
// listener's address.
func startTLS(t *testing.T, srv *server.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func wssDial(t *testing.T, addr string, cfg *tls.Config) *gorilla.Conn {
	t.Helper()
	d := gorilla.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: cfg}
	c, _, err := d.Dial("wss://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echoOnce(t *testing.T, c *gorilla.Conn, msg string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(gorilla.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
		t.Fatalf("echo %q: %q %v", msg, got, err)
	}
}

func TestTLSVersions(t *testing.T) {
	srv := echoServer()
	srv.TLSConfig = testTLS(t).server
	addr := startTLS(t, srv)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := clientTLS(t).Clone()
		cfg.MinVersion, cfg.MaxVersion = v, v
		c := wssDial(t, addr, cfg)
		echoOnce(t, c, "over "+tls.VersionName(v))
		big := strings.Repeat("x", 1<<20) // many records each way
		echoOnce(t, c, big)
	}
}

// GetCertificate is asked at every handshake, so certificates rotate
// without a restart; clients already connected keep their session.
func TestTLSCertificateRotation(t *testing.T) {
	first := testTLS(t)
	second, pool2, err := selfSigned("wsloop rotated", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[tls.Certificate]
	current.Store(&first.cert)
	srv := echoServer()
	srv.TLSConfig = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return current.Load(), nil
	}}
	addr := startTLS(t, srv)

	old := wssDial(t, addr, first.client)
	current.Store(&second)
	cfg2 := &tls.Config{RootCAs: pool2, ServerName: "127.0.0.1"}
	renewed := wssDial(t, addr, cfg2)
	echoOnce(t, renewed, "new certificate")
	echoOnce(t, old, "old session still fine")
	if _, _, err := (&gorilla.Dialer{TLSClientConfig: first.client}).Dial("wss://"+addr+"/", nil); err == nil {
		t.Fatal("a client trusting only the old certificate connected after the rotation")
	}
}

func TestTLSNeedsACertificate(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := (&server.Server{}).ServeTLS(ln, "", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ServeTLS without a certificate: %v", err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	srv := &server.Server{Addr: "127.0.0.1:0"}
	if err := srv.ListenAndServeTLS(bad, bad); err == nil || !strings.Contains(err.Error(), "cannot load TLS certificate") {
		t.Fatalf("ListenAndServeTLS with a bad file: %v", err)
	}
	if err := srv.ListenAndServeTLS(filepath.Join(dir, "missing.pem"), bad); err == nil {
		t.Fatal("ListenAndServeTLS with a missing file succeeded")
	}
}

// Whatever arrives on the TLS port that is not TLS gets a defined answer:
// a plain HTTP request is told to use HTTPS, garbage and a stalled
// ClientHello are closed, and the server keeps serving.
func TestTLSPortRefusesWhatIsNotTLS(t *testing.T) {
	srv := echoServer()
	srv.TLSConfig = testTLS(t).server
	srv.HandshakeTimeout = 500 * time.Millisecond
	addr := startTLS(t, srv)

	read := func(payload []byte) ([]byte, error) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(payload)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		return io.ReadAll(nc)
	}
	got, err := read([]byte(upgradeRequest("/")))
	if err != nil || !bytes.HasPrefix(got, []byte("HTTP/1.0 400 Bad Request")) || !bytes.Contains(got, []byte("HTTPS")) {
		t.Fatalf("plain HTTP on the TLS port: %q %v", got, err)
	}
	got, err = read(bytes.Repeat([]byte{0x55}, 300))
	if isTimeout(err) || bytes.Contains(got, []byte("HTTP")) {
		t.Fatalf("garbage: %q %v; want the connection closed", got, err)
	}
	clientHelloStart := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}
	start := time.Now()
	if got, err = read(clientHelloStart); isTimeout(err) {
		t.Fatalf("a stalled ClientHello was not closed: %q %v", got, err)
	}
	t.Logf("stalled ClientHello closed after %v", time.Since(start).Round(time.Millisecond))
	echoOnce(t, wssDial(t, addr, clientTLS(t)), "still serving")
}

// byteConn writes one byte at a time, so that every TLS record reaches the
// server split across many reads.
type byteConn struct{ net.Conn }

func (c byteConn) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := c.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

func TestTLSRecordsSplitAcrossReads(t *testing.T) {
	srv := echoServer()
	srv.Workers = 1
	srv.TLSConfig = testTLS(t).server
	addr := startTLS(t, srv)
	other := wssDial(t, addr, clientTLS(t))

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tcpConn(nc).SetNoDelay(true)
	tc := tls.Client(byteConn{nc}, clientTLS(t))
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(tc, upgradeRequest("/"))
	resp, rest := readResponse(t, tc)
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c := &rawClient{t: t, nc: tc, in: rest}
	c.write(frame(ws.OpText, true, []byte("dribbled")))
	// While one client dribbles, the only worker serves the other.
	echoOnce(t, other, "not held up")
	if got := c.readText(); got != "dribbled" {
		t.Fatalf("echo %q", got)
	}
}

// An idle wss:// client costs no goroutine: the session lives on the event
// loop once the handshake is done.
func TestIdleTLSClientsHoldNoGoroutine(t *testing.T) {
	srv := echoServer()
	srv.TLSConfig = testTLS(t).server
	addr := startTLS(t, srv)
	echoOnce(t, wssDial(t, addr, clientTLS(t)), "warm up")
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 100
	var conns []net.Conn
	for i := 0; i < n; i++ {
		tc, err := tls.Dial("tcp", addr, clientTLS(t))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, tc)
		io.WriteString(tc, upgradeRequest("/"))
		if resp, _ := readResponse(t, tc); resp.StatusCode != 101 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	// The client side's own goroutines do not count: tls.Dial has none
	// once the handshake is over.
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("%d goroutines with %d idle wss clients, %d before", after, n, before)
	}
}

// A wss client that stops reading is cut off after WriteTimeout, with the
// ciphertext it did not take bounded; others are unaffected.
func TestTLSSlowConsumerIsCutOff(t *testing.T) {
	srv := echoServer()
	srv.TLSConfig = testTLS(t).server
	srv.MaxPendingBytes = 1 << 20
	srv.WriteTimeout = time.Second
	var left leftErrors
	srv.OnClientLeft = left.add
	addr := startTLS(t, srv)

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tcpConn(nc).SetReadBuffer(64 << 10)
	tc := tls.Client(nc, clientTLS(t))
	io.WriteString(tc, upgradeRequest("/"))
	readResponse(t, tc)
	f := frame(ws.OpBinary, true, make([]byte, 32<<10))
	tc.SetWriteDeadline(time.Now().Add(3 * time.Second))
	for sent := 0; sent < 64<<20; sent += len(f) {
		if _, err := tc.Write(f); err != nil {
			break
		}
	}
	waitFor(t, "the slow wss consumer to be cut off", func() bool {
		return left.count(server.ErrWriteTimeout)+left.count(server.ErrSlowConsumer) == 1
	})
	echoOnce(t, wssDial(t, addr, clientTLS(t)), "others fine")
}
