package server_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
)

// dripConn writes one byte per interval: a slowloris that keeps every
// write small and slow, so that no read timeout of the peer's would fire.
type dripConn struct {
	net.Conn
	interval time.Duration
}

func (c dripConn) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := c.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
		time.Sleep(c.interval)
	}
	return len(p), nil
}

// Slowloris on the TLS handshake: clients that trickle a real ClientHello
// a byte at a time, each byte well within any read timeout, are closed once
// HandshakeTimeout is over in all, however long the trickle would go on;
// meanwhile wss clients connect and echo as usual.
func TestTLSSlowlorisHandshakes(t *testing.T) {
	srv := echoServer()
	srv.TLSConfig = testTLS(t).server
	srv.HandshakeTimeout = time.Second
	srv.Logger = quietLogger()
	addr := startTLS(t, srv)
	cfg := clientTLS(t)

	const slow = 20
	const drip = 50 * time.Millisecond // a ClientHello of 1-2 KB would take over a minute
	ended := make(chan time.Duration, slow)
	start := time.Now()
	for i := 0; i < slow; i++ {
		go func() {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				ended <- -1
				return
			}
			defer nc.Close()
			tcpConn(nc).SetNoDelay(true)
			tc := tls.Client(dripConn{nc, drip}, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tc.HandshakeContext(ctx) // fails when the server closes
			ended <- time.Since(start)
		}()
	}
	time.Sleep(200 * time.Millisecond) // the slowloris are all under way
	for i := 0; i < 3; i++ {
		echoOnce(t, wssDial(t, addr, clientTLS(t)), "not held up")
	}
	var last time.Duration
	for i := 0; i < slow; i++ {
		select {
		case d := <-ended:
			if d < 0 {
				t.Fatal("a slowloris could not connect")
			}
			if d < srv.HandshakeTimeout {
				t.Errorf("a slowloris ended after %v, before HandshakeTimeout (%v)", d, srv.HandshakeTimeout)
			}
			last = max(last, d)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d trickled handshakes still open 30s after they started (HandshakeTimeout %v)", slow-i, slow, srv.HandshakeTimeout)
		}
	}
	t.Logf("%d trickled handshakes closed, the last %v after they started", slow, last.Round(time.Millisecond))
	echoOnce(t, wssDial(t, addr, clientTLS(t)), "still serving")
}

// Garbage after the upgrade, on the event loop: bytes that are not a TLS
// record of the session (a forged record, a record longer than TLS allows,
// plain text) end that client with an error, and nobody else notices.
func TestTLSGarbageAfterUpgrade(t *testing.T) {
	srv := echoServer()
	srv.TLSConfig = testTLS(t).server
	srv.Logger = quietLogger()
	var left leftErrors
	leftCh := make(chan struct{}, 8)
	srv.OnClientLeft = func(c *server.Client, err error) {
		left.add(c, err)
		leftCh <- struct{}{}
	}
	addr := startTLS(t, srv)
	other := wssDial(t, addr, clientTLS(t))

	forged := make([]byte, 5+64)
	copy(forged, []byte{0x17, 0x03, 0x03, 0x00, 64}) // application data, TLS 1.2 on the wire
	rand.Read(forged[5:])
	for _, tc := range []struct {
		name    string
		garbage []byte
	}{
		{"forged record", forged},
		{"record too long", []byte{0x17, 0x03, 0x03, 0xff, 0xff, 1, 2, 3}},
		{"plain text", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c := tls.Client(nc, clientTLS(t))
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, upgradeRequest("/"))
			if resp, _ := readResponse(t, c); resp.StatusCode != 101 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			// A frame first, so the garbage reaches a session in use.
			c.Write(frame(ws.OpText, true, []byte("before")))
			nc.Write(tc.garbage) // under TLS, straight on the socket
			select {
			case <-leftCh:
			case <-time.After(10 * time.Second):
				t.Fatal("the client that sent garbage is still there")
			}
			left.mu.Lock()
			err = left.errs[len(left.errs)-1]
			left.mu.Unlock()
			if err == nil {
				t.Error("OnClientLeft got a nil error for a client that sent garbage")
			}
			t.Logf("OnClientLeft: %v", err)
			// The server closed the connection (after its alert, if any).
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, nc); isTimeout(err) {
				t.Errorf("the connection stayed open: %v", err)
			}
			echoOnce(t, other, "others fine after "+tc.name)
		})
	}
}
