package conform

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// echoServer starts a gorilla/websocket echo server on loopback. The handler
// may replace the echo loop to build broken servers.
func echoServer(t *testing.T, compress bool, handle func(c *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{EnableCompression: compress, CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(32 << 20)
		handle(c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

// goodEcho echoes every message and fails the connection with 1007 on
// invalid UTF-8 (after the whole message, so not fail-fast).
func goodEcho(c *websocket.Conn) {
	for {
		mt, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if mt == websocket.TextMessage && !utf8.Valid(p) {
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, ""), time.Now().Add(time.Second))
			return
		}
		if err := c.WriteMessage(mt, p); err != nil {
			return
		}
	}
}

func byID(results []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range results {
		m[r.ID] = r
	}
	return m
}

func TestGorillaEchoPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ~150 cases")
	}
	url := echoServer(t, false, goodEcho)
	results := Run(context.Background(), url, Options{
		Cases:     []string{"1.*,2.*,3.*,4.*,5.*", "6.1.*,6.2.*,6.3.*,6.4.*", "7.*", "10.*"},
		TimeScale: 0.5,
		Allow: map[string]string{
			"6.4.*": "gorilla validates UTF-8 per message, not fail-fast",
		},
	})
	if len(results) != 16+11+7+10+20+13+37+1 {
		t.Fatalf("ran %d cases", len(results))
	}
	got := byID(results)
	for _, r := range results {
		if !r.OK() {
			t.Errorf("%s\n  %s", r, strings.Join(r.Trace, "\n  "))
		}
	}
	// Gorilla is known not to fail fast on invalid UTF-8.
	for _, id := range []string{"6.4.1", "6.4.2", "6.4.3", "6.4.4"} {
		if r := got[id]; r.Verdict != NonStrict || r.Allowed == "" {
			t.Errorf("%s: want allowed NON-STRICT, got %s", id, r)
		}
	}
	for _, id := range []string{"7.1.6", "7.13.1", "7.13.2"} {
		if got[id].Verdict != Informational {
			t.Errorf("%s: want INFORMATIONAL, got %s", id, got[id])
		}
	}
	if r := got["2.5"]; r.RemoteCloseCode != closeProtocolError {
		t.Errorf("2.5: want close code 1002, got %s", r)
	}
}

// failFastEcho validates text incrementally, as it arrives, and fails the
// connection as soon as it is invalid.
func failFastEcho(c *websocket.Conn) {
	for {
		mt, r, err := c.NextReader()
		if err != nil {
			return
		}
		var msg []byte
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			msg = append(msg, buf[:n]...)
			if mt == websocket.TextMessage && !utf8Prefix(msg) {
				_ = c.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, ""), time.Now().Add(time.Second))
				return
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		if mt == websocket.TextMessage && !utf8.Valid(msg) {
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, ""), time.Now().Add(time.Second))
			return
		}
		if err := c.WriteMessage(mt, msg); err != nil {
			return
		}
	}
}

func TestFailFastServer(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	url := echoServer(t, false, failFastEcho)
	results := Run(context.Background(), url, Options{Cases: []string{"6.3.*,6.4.*,6.20.*"}, TimeScale: 0.5})
	if len(results) != 2+4+7 {
		t.Fatalf("ran %d cases", len(results))
	}
	for _, r := range results {
		if r.Verdict != OK {
			t.Errorf("%s\n  %s", r, strings.Join(r.Trace, "\n  "))
		}
	}
}

func TestSelectedUTF8AndLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	url := echoServer(t, false, goodEcho)
	results := Run(context.Background(), url, Options{
		Cases: []string{"6.5.*,6.6.*,6.12.*,6.22.34", "9.1.1,9.3.1,9.5.5,9.7.1"},
	})
	if len(results) != 5+11+8+1+4 {
		t.Fatalf("ran %d cases", len(results))
	}
	for _, r := range results {
		if r.Verdict != OK {
			t.Errorf("%s", r)
		}
	}
}

func TestCompression(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	cases := []string{"12.1.1", "12.2.10", "12.3.18", "13.1.5", "13.5.16", "13.7.18"}
	t.Run("supported", func(t *testing.T) {
		url := echoServer(t, true, goodEcho)
		for _, r := range Run(context.Background(), url, Options{Cases: cases}) {
			if r.Verdict != OK {
				t.Errorf("%s\n  %s", r, strings.Join(r.Trace, "\n  "))
			}
		}
	})
	t.Run("declined", func(t *testing.T) {
		url := echoServer(t, false, goodEcho)
		results := Run(context.Background(), url, Options{Cases: cases, Allow: map[string]string{"13": "no compression"}})
		for _, r := range results {
			if r.Verdict != Unimplemented || r.BehaviorClose != string(OK) {
				t.Errorf("want UNIMPLEMENTED with a clean close: %s", r)
			}
			if wantOK := strings.HasPrefix(r.ID, "13."); r.OK() != wantOK {
				t.Errorf("%s: OK() = %t, want %t", r.ID, r.OK(), wantOK)
			}
		}
	})
}

// TestBrokenServersFail proves the verdicts can fail.
func TestBrokenServersFail(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	for _, tc := range []struct {
		name   string
		handle func(c *websocket.Conn)
		want   map[string]string // case -> "verdict/behavior/behaviorClose"
	}{
		{
			// Completes the handshake, then reads and ignores everything:
			// no echo, no pong, no close, no TCP close.
			name: "silent",
			handle: func(c *websocket.Conn) {
				_, _ = io.Copy(io.Discard, c.NetConn())
			},
			want: map[string]string{
				"1.1.1": "FAILED/FAILED/UNCLEAN",
				"2.1":   "FAILED/FAILED/UNCLEAN",
				"2.5":   "FAILED/OK/FAILED",
				"6.3.1": "FAILED/FAILED/FAILED",
				"6.4.1": "FAILED/FAILED/FAILED",
				"7.3.3": "FAILED/OK/UNCLEAN",
				"9.1.1": "FAILED/FAILED/UNCLEAN",
			},
		},
		{
			// Echoes text messages as binary and upper-cases payloads.
			name: "wrong echo",
			handle: func(c *websocket.Conn) {
				for {
					_, p, err := c.ReadMessage()
					if err != nil {
						return
					}
					if err := c.WriteMessage(websocket.BinaryMessage, []byte(strings.ToUpper(string(p)))); err != nil {
						return
					}
				}
			},
			want: map[string]string{
				// No close after the mismatch: the client kills the
				// connection with 1001, which the server echoes.
				"1.1.2":  "FAILED/FAILED/WRONG CODE",
				"5.3":    "FAILED/FAILED/OK",
				"6.3.1":  "FAILED/FAILED/FAILED",
				"9.1.1":  "FAILED/FAILED/OK",
				"10.1.1": "FAILED/FAILED/WRONG CODE",
			},
		},
		{
			// Answers the closing handshake but closes with the wrong code
			// and never drops the TCP connection.
			name: "bad close",
			handle: func(c *websocket.Conn) {
				c.SetCloseHandler(func(int, string) error {
					_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4321, ""), time.Now().Add(time.Second))
					return nil
				})
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						_, _ = io.Copy(io.Discard, c.NetConn())
						return
					}
				}
			},
			want: map[string]string{
				// UNCLEAN or, when the kill timer beats the TCP drop
				// timer, WRONG CODE (4321): FAILED either way.
				"7.3.3": "FAILED",
				"7.9.1": "NON-STRICT/OK/FAILED BY CLIENT",
				"3.1":   "NON-STRICT/OK/FAILED BY CLIENT",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := echoServer(t, false, tc.handle)
			var ids []string
			for id := range tc.want {
				ids = append(ids, id)
			}
			got := byID(Run(context.Background(), url, Options{Cases: ids, TimeScale: 0.1}))
			for id, want := range tc.want {
				r, ok := got[id]
				if !ok {
					t.Errorf("%s did not run", id)
					continue
				}
				s := string(r.Verdict) + "/" + r.Behavior + "/" + r.BehaviorClose
				if !strings.Contains(want, "/") {
					s = string(r.Verdict)
				}
				if s != want {
					t.Errorf("%s: got %s, want %s\n  %s\n  %s", id, s, want, r.Detail, strings.Join(r.Trace, "\n  "))
				}
				if r.OK() {
					t.Errorf("%s: OK() is true for %s", id, r.Verdict)
				}
			}
		})
	}
}

func TestHandshakeFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no websocket here", http.StatusNotFound)
	}))
	defer srv.Close()
	results := Run(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/", Options{Cases: []string{"1.1.1", "2.5"}})
	if len(results) != 2 {
		t.Fatalf("ran %d cases", len(results))
	}
	for _, r := range results {
		if r.Verdict != Failed || !strings.Contains(r.Detail, "404") {
			t.Errorf("want FAILED handshake, got %s", r)
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	url := echoServer(t, false, goodEcho)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	results := Run(ctx, url, Options{Cases: []string{"1.*"}, Progress: func(Case, Result) {
		if n++; n == 3 {
			cancel()
		}
	}})
	if len(results) != 3 {
		t.Errorf("want 3 results after cancel, got %d", len(results))
	}
}

// tlsEchoServer is echoServer over TLS: it returns the wss:// URL and a
// client configuration that trusts the server's test certificate.
func tlsEchoServer(t *testing.T, handle func(c *websocket.Conn)) (string, *tls.Config) {
	t.Helper()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		handle(c)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return "wss" + strings.TrimPrefix(srv.URL, "https") + "/", &tls.Config{RootCAs: pool}
}

// The suite speaks wss:// with the TLS configuration it is given: cases
// pass against a TLS echo server it trusts, the drop of case 7.x and the
// chopped writes of 1.x included, and fail to open against one it does
// not.
func TestWSS(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	url, trust := tlsEchoServer(t, goodEcho)
	cases := []string{"1.1.1", "1.1.8", "1.2.8", "2.10", "5.19", "6.2.4", "7.1.5", "7.3.1", "9.1.1"}
	results := Run(context.Background(), url, Options{Cases: cases, TLS: trust})
	if len(results) != len(cases) {
		t.Fatalf("ran %d cases", len(results))
	}
	for _, r := range results {
		if r.Verdict != OK {
			t.Errorf("%s\n  %s", r, strings.Join(r.Trace, "\n  "))
		}
	}
	for name, cfg := range map[string]*tls.Config{
		"system roots": nil,
		"wrong name":   {RootCAs: trust.RootCAs, ServerName: "wsloop.invalid"},
	} {
		results := Run(context.Background(), url, Options{Cases: []string{"1.1.1"}, TLS: cfg})
		if len(results) != 1 || results[0].Verdict != Failed || !strings.Contains(results[0].Detail, "TLS handshake") {
			t.Errorf("%s: want the TLS handshake to fail, got %v", name, results)
		}
	}
	results = Run(context.Background(), url, Options{Cases: []string{"1.1.1"}, TLS: &tls.Config{InsecureSkipVerify: true}})
	if len(results) != 1 || results[0].Verdict != OK {
		t.Errorf("InsecureSkipVerify: %v", results)
	}
}
