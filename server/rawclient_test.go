package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

// rawClient speaks WebSocket at the frame level, so tests can send what a
// well-behaved library never would.
type rawClient struct {
	t   testing.TB
	nc  net.Conn
	dec wsproto.Decoder
	in  []byte
}

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

// upgradeRequest is a valid opening handshake for path; extra lines are
// added to its header.
func upgradeRequest(path string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", testKey)
	for _, l := range extra {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// dialRaw connects and completes the opening handshake.
func dialRaw(t testing.TB, url string) *rawClient {
	t.Helper()
	nc := dialTCP(t, url)
	if _, err := io.WriteString(nc, upgradeRequest("/")); err != nil {
		t.Fatal(err)
	}
	resp, rest := readResponse(t, nc)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: status %d, want 101", resp.StatusCode)
	}
	return &rawClient{t: t, nc: nc, in: rest}
}

// dialTCP connects to the server of a ws:// or wss:// URL, as the tests'
// mode says (TLS for wss, a PROXY header first in mode proxy), and sends
// nothing more.
func dialTCP(t testing.TB, url string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := dialContext(ctx, "tcp", hostOf(url))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(url, "wss://") {
		tc := tls.Client(nc, clientTLS(t))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			t.Fatal(err)
		}
		nc = tc
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	return nc
}

// readResponse reads an HTTP response head and returns bytes read past it.
func readResponse(t testing.TB, nc net.Conn) (*http.Response, []byte) {
	t.Helper()
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading handshake response: %v", err)
	}
	rest, _ := br.Peek(br.Buffered())
	return resp, append([]byte(nil), rest...)
}

// frame returns a masked client frame.
func frame(op ws.OpCode, fin bool, payload []byte) []byte {
	var mask [4]byte
	rand.Read(mask[:])
	return wsproto.AppendMaskedFrame(nil, op, fin, payload, mask)
}

// closePayload returns the payload of a close frame.
func closePayload(code ws.StatusCode, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

func (c *rawClient) write(b ...[]byte) {
	c.t.Helper()
	for _, p := range b {
		if _, err := c.nc.Write(p); err != nil {
			c.t.Fatalf("write: %v", err)
		}
	}
}

// next reads the next frame event from the server; io.EOF when the server
// closed the TCP connection.
func (c *rawClient) next() (wsproto.Event, error) {
	buf := make([]byte, 64<<10)
	for {
		if len(c.in) > 0 {
			ev, n, err := c.dec.Next(c.in)
			if err != nil {
				return ev, err
			}
			if n > 0 {
				// Copy the payload out before the input moves.
				ev.Payload = append([]byte(nil), ev.Payload...)
				c.in = c.in[n:]
				if ev.Kind != wsproto.KindNone {
					return ev, nil
				}
				continue
			}
		}
		n, err := c.nc.Read(buf)
		c.in = append(c.in, buf[:n]...)
		if err != nil && n == 0 {
			return wsproto.Event{}, err
		}
	}
}

// expectClose reads until the server's close frame, checks its code, and
// then expects the server to close the TCP connection.
func (c *rawClient) expectClose(want ws.StatusCode) wsproto.Event {
	c.t.Helper()
	for {
		ev, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for close %d: %v", want, err)
		}
		if ev.Kind != wsproto.KindClose {
			continue
		}
		if ev.Code != want {
			c.t.Fatalf("close code %d (%q), want %d", ev.Code, ev.Reason, want)
		}
		c.expectEOF()
		return ev
	}
}

// expectEOF expects the server to close the TCP connection with no more frames.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	ev, err := c.next()
	if err == nil {
		c.t.Fatalf("got %v frame, want the connection closed", ev.Kind)
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		c.t.Fatalf("want connection closed, got %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// expectMessage reads the next event and checks it is the given message.
func (c *rawClient) expectMessage(op ws.OpCode, payload []byte) {
	c.t.Helper()
	ev, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for message: %v", err)
	}
	if ev.Kind != wsproto.KindMessage || ev.Op != op || !bytes.Equal(ev.Payload, payload) {
		c.t.Fatalf("got %v op %v %q, want message op %v %q", ev.Kind, ev.Op, trim(ev.Payload), op, trim(payload))
	}
}

func trim(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// readText reads the next message, which must be text, and returns it.
func (c *rawClient) readText() string {
	c.t.Helper()
	ev, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for a message: %v", err)
	}
	if ev.Kind != wsproto.KindMessage || ev.Op != ws.OpText {
		c.t.Fatalf("got %v op %v, want a text message", ev.Kind, ev.Op)
	}
	return string(ev.Payload)
}
