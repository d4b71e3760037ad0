package wsprom_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsprom"
)

// serve runs srv with its metrics at /metrics on the same port and returns
// the address.
func serve(t *testing.T, srv *server.Server) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", wsprom.Handler(srv))
	srv.Handler = mux
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// scrape fetches /metrics and returns each sample by its series as the
// exposition writes it, such as `wsloop_handshakes_total{outcome="upgraded",status="101"}`.
func scrape(t *testing.T, addr string) map[string]float64 {
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
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		samples[line[:i]] = v
	}
	return samples
}

func echoServer() *server.Server {
	return &server.Server{
		Logger: slog.New(slog.DiscardHandler),
		OnMessage: func(c *server.Client, m server.Message) {
			c.SendText(string(m.Data))
		},
	}
}

// The metrics follow Prometheus's naming conventions (promlint).
func TestCollectorLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(wsprom.NewCollector(echoServer()))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// A scrape of /metrics on the server's own port shows what happened:
// clients, handshakes, messages, callbacks, disconnects, and the Go
// runtime's and the process's metrics.
func TestHandlerServesStats(t *testing.T) {
	srv := echoServer()
	addr := serve(t, srv)
	url := "ws://" + addr + "/"

	var conns []*websocket.Conn
	for range 2 {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		for k := range 3 {
			msg := fmt.Sprintf("%d/%d", i, k)
			c.WriteMessage(websocket.TextMessage, []byte(msg))
			if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
				t.Fatalf("echo: %q, %v", got, err)
			}
		}
	}
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"http://x"}, "Sec-WebSocket-Version": {"8"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("version 8: %v, %v; want 426", resp, err)
	}
	waitFor(t, func() bool { st := srv.Stats(); return st.OnMessage.Calls == 6 && st.Refusals[426] == 1 })

	expect(t, scrape(t, addr), map[string]float64{
		`wsloop_clients`:                2,
		`wsloop_handshakes_in_progress`: 0,
		`wsloop_handshakes_total{outcome="upgraded",status="101"}`:     2,
		`wsloop_handshakes_total{outcome="refused",status="426"}`:      1,
		`wsloop_handshakes_total{outcome="timeout",status=""}`:         0,
		`wsloop_messages_received_total`:                               6,
		`wsloop_frames_received_total`:                                 6,
		`wsloop_messages_sent_total`:                                   6,
		`wsloop_callbacks_total{callback="OnMessage"}`:                 6,
		`wsloop_callbacks_total{callback="OnNewClient"}`:               0,
		`wsloop_callback_duration_seconds_count{callback="OnMessage"}`: float64(srv.Stats().OnMessage.Timed),
		`wsloop_disconnects_total{cause="protocol_error",code="1002"}`: 0,
		`wsloop_broker_dropped_total`:                                  0,
	})

	for _, c := range conns {
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		c.ReadMessage() // the echo of the close
	}
	waitFor(t, func() bool { return srv.Stats().Clients == 0 })
	m := scrape(t, addr)
	expect(t, m, map[string]float64{
		`wsloop_clients`: 0,
		`wsloop_disconnects_total{cause="client_close",code=""}`:      2,
		`wsloop_disconnects_total{cause="slow_consumer",code="1008"}`: 0,
		`wsloop_frames_received_total`:                                8,
	})
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if m[`wsloop_sent_bytes_total`] == 0 || m[`wsloop_received_bytes_total`] == 0 {
		t.Errorf("bytes: sent %v, received %v; want some", m[`wsloop_sent_bytes_total`], m[`wsloop_received_bytes_total`])
	}
}

func expect(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for series, v := range want {
		g, ok := got[series]
		switch {
		case !ok:
			t.Errorf("%s: missing", series)
		case g != v:
			t.Errorf("%s = %v, want %v", series, g, v)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
