package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

// meter adds up the bytes that the test's clients exchange with the server
// once upgraded, as the clients see them.
type meter struct {
	read, written atomic.Int64
}

// wsClient is a WebSocket client at the frame level, whose bytes after its
// request count in a meter.
type wsClient struct {
	t   *testing.T
	nc  net.Conn
	m   *meter
	dec wsproto.Decoder
	in  []byte
}

func (c *wsClient) Read(p []byte) (int, error) {
	n, err := c.nc.Read(p)
	c.m.read.Add(int64(n))
	return n, err
}

// dialWS connects to path on addr and completes the opening handshake.
func dialWS(t *testing.T, addr, path string, m *meter) *wsClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &wsClient{t: t, nc: nc, m: m, dec: wsproto.Decoder{MaxMessageSize: 32 << 20}}
	if status := c.handshake(path, 13); status != http.StatusSwitchingProtocols {
		t.Fatalf("handshake for %s: %d, want 101", path, status)
	}
	return c
}

// handshake sends an upgrade request and returns the response's status;
// bytes read past the response head wait in c.in.
func (c *wsClient) handshake(path string, version int) int {
	fmt.Fprintf(c.nc, "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: %d\r\n\r\n", path, version)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.t.Fatalf("handshake for %s: %v", path, err)
	}
	c.in, _ = br.Peek(br.Buffered())
	c.in = append([]byte(nil), c.in...)
	return resp.StatusCode
}

// send writes one masked frame.
func (c *wsClient) send(op ws.OpCode, payload []byte) {
	c.t.Helper()
	var mask [4]byte
	rand.Read(mask[:])
	n, err := c.nc.Write(wsproto.AppendMaskedFrame(nil, op, true, payload, mask))
	c.m.written.Add(int64(n))
	if err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next frame event from the server.
func (c *wsClient) next() (wsproto.Event, error) {
	buf := make([]byte, 64<<10)
	for {
		if len(c.in) > 0 {
			ev, n, err := c.dec.Next(c.in)
			if err != nil {
				return ev, err
			}
			if n > 0 {
				ev.Payload = append([]byte(nil), ev.Payload...)
				c.in = c.in[n:]
				if ev.Kind != wsproto.KindNone {
					return ev, nil
				}
				continue
			}
		}
		n, err := c.Read(buf)
		c.in = append(c.in, buf[:n]...)
		if err != nil && n == 0 {
			return wsproto.Event{}, err
		}
	}
}

// expect reads the next message and checks it.
func (c *wsClient) expect(want []byte) {
	c.t.Helper()
	ev, err := c.next()
	if err != nil || ev.Kind != wsproto.KindMessage || string(ev.Payload) != string(want) {
		c.t.Fatalf("got %v %q (%d bytes), %v; want the message %.20q (%d bytes)", ev.Kind, ev.Payload[:min(len(ev.Payload), 20)], len(ev.Payload), err, want, len(want))
	}
}

// metrics scrapes /metrics and returns the wsloop_ samples by series.
func metrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "wsloop_") || strings.Contains(line, "_bucket{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		samples[line[:i]] = v
	}
	return samples
}

// expectMetrics scrapes until every series in want has its value (the
// server publishes a worker's counts when its turn ends) and fails with
// the differences if they do not within a few seconds.
func expectMetrics(t *testing.T, addr string, want map[string]float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := metrics(t, addr)
		var diffs []string
		for series, v := range want {
			if g, ok := got[series]; !ok || g != v {
				diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", series, g, v))
			}
		}
		if len(diffs) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			sort.Strings(diffs)
			t.Fatalf("/metrics:\n%s", strings.Join(diffs, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wsserver serves its metrics at /metrics on its own port, and they count
// known traffic exactly: clients broadcasting, a protocol error, refused
// handshakes, a slow consumer in a room.
func TestMetrics(t *testing.T) {
	p := startWSServer(t, "-addr", "127.0.0.1:0", "-mode", "broadcast")
	var m meter
	want := map[string]float64{
		`wsloop_clients`:                 0,
		`wsloop_messages_received_total`: 0,
		`wsloop_callback_duration_seconds_count{callback="OnMessage"}`: 0,
	}
	expectMetrics(t, p.addr, want)

	// Three clients in the common room send four messages each: every
	// message reaches all three.
	var clients []*wsClient
	for range 3 {
		clients = append(clients, dialWS(t, p.addr, "/", &m))
	}
	for i, c := range clients {
		for k := range 4 {
			msg := []byte(fmt.Sprintf("message %d from client %d", k, i))
			c.send(ws.OpText, msg)
			for _, r := range clients {
				r.expect(msg)
			}
		}
	}
	want = map[string]float64{
		`wsloop_clients`: 3,
		`wsloop_handshakes_total{outcome="upgraded",status="101"}`:    3,
		`wsloop_frames_received_total`:                                12,
		`wsloop_messages_received_total`:                              12,
		`wsloop_callbacks_total{callback="OnMessage"}`:                12,
		`wsloop_callbacks_total{callback="OnNewClient"}`:              3,
		`wsloop_broadcasts_total`:                                     12,
		`wsloop_broadcast_recipients_total`:                           36,
		`wsloop_messages_sent_total`:                                  36,
		`wsloop_received_bytes_total`:                                 float64(m.written.Load()),
		`wsloop_sent_bytes_total`:                                     float64(m.read.Load()),
		`wsloop_queued_bytes`:                                         0,
		`wsloop_handshakes_in_progress`:                               0,
		`wsloop_disconnects_total{cause="client_close",code=""}`:      0,
		`wsloop_handshakes_total{outcome="refused",status="426"}`:     0,
		`wsloop_room_publishes_total`:                                 0,
		`wsloop_disconnects_total{cause="slow_consumer",code="1008"}`: 0,
	}
	expectMetrics(t, p.addr, want)

	// A protocol error: an unmasked frame gets close code 1002.
	bad := dialWS(t, p.addr, "/", &m)
	unmasked := wsproto.AppendFrame(nil, ws.OpText, true, []byte("no mask"))
	n, _ := bad.nc.Write(unmasked)
	m.written.Add(int64(n))
	if ev, err := bad.next(); err != nil || ev.Kind != wsproto.KindClose || ev.Code != ws.StatusProtocolError {
		t.Fatalf("unmasked frame: %v %d, %v; want close 1002", ev.Kind, ev.Code, err)
	}
	io.Copy(io.Discard, bad)

	// Refused handshakes: a path that names no room, a version we do not
	// speak. Their bytes are no WebSocket traffic.
	var none meter
	for _, tc := range []struct {
		path    string
		version int
		status  int
	}{{"/nowhere", 13, http.StatusNotFound}, {"/", 12, http.StatusUpgradeRequired}} {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := &wsClient{t: t, nc: nc, m: &none}
		if got := c.handshake(tc.path, tc.version); got != tc.status {
			t.Errorf("handshake for %s, version %d: %d, want %d", tc.path, tc.version, got, tc.status)
		}
		nc.Close()
	}

	// A slow consumer: a member of room "slow" that reads nothing. Another
	// member publishes a message bigger than the sockets' buffers take,
	// which stays queued for the first, then one more: one too many.
	publisher := dialWS(t, p.addr, "/room/slow", &m)
	slow := dialWS(t, p.addr, "/room/slow", &m)
	slow.nc.(*net.TCPConn).SetReadBuffer(64 << 10)
	expectMetrics(t, p.addr, map[string]float64{`wsloop_clients`: 5})
	big := make([]byte, 15<<20)
	publisher.send(ws.OpBinary, big)
	publisher.expect(big)
	publisher.send(ws.OpText, []byte("one too many"))
	publisher.expect([]byte("one too many"))
	io.Copy(io.Discard, slow) // the slow consumer is cut off: read what it was sent

	want[`wsloop_clients`] = 4
	want[`wsloop_handshakes_total{outcome="upgraded",status="101"}`] = 6
	want[`wsloop_handshakes_total{outcome="refused",status="404"}`] = 1
	want[`wsloop_handshakes_total{outcome="refused",status="426"}`] = 1
	want[`wsloop_callbacks_total{callback="OnNewClient"}`] = 6
	want[`wsloop_callbacks_total{callback="OnClientLeft"}`] = 2
	want[`wsloop_disconnects_total{cause="protocol_error",code="1002"}`] = 1
	want[`wsloop_disconnects_total{cause="slow_consumer",code="1008"}`] = 1
	want[`wsloop_frames_received_total`] = 12 + 2
	want[`wsloop_messages_received_total`] = 12 + 2
	want[`wsloop_callbacks_total{callback="OnMessage"}`] = 12 + 2
	want[`wsloop_room_publishes_total`] = 2
	want[`wsloop_room_recipients_total`] = 4
	want[`wsloop_messages_sent_total`] = 36 + 4
	want[`wsloop_received_bytes_total`] = float64(m.written.Load())
	want[`wsloop_sent_bytes_total`] = float64(m.read.Load())
	got := expectMetrics(t, p.addr, want)
	if n := got[`wsloop_callback_duration_seconds_count{callback="OnMessage"}`]; n < 1 || n > 14 {
		t.Errorf("%v calls of OnMessage timed, want 1 to 14", n)
	}
}
