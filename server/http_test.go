package server_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// logged is middleware of the common kind: it wraps the ResponseWriter to
// record the status, and unwraps for http.ResponseController.
type logged struct {
	http.ResponseWriter
	status int
}

func (l *logged) WriteHeader(code int) { l.status = code; l.ResponseWriter.WriteHeader(code) }

func (l *logged) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// opaque hides the ResponseWriter's Hijack and cannot be unwrapped.
type opaque struct{ w http.ResponseWriter }

func (o opaque) Header() http.Header         { return o.w.Header() }
func (o opaque) Write(b []byte) (int, error) { return o.w.Write(b) }
func (o opaque) WriteHeader(code int)        { o.w.WriteHeader(code) }

// An existing http.Server with a page, a REST route and /ws on wsloop,
// behind middleware; Authenticate applies; bytes behind the request are
// kept; a writer that cannot be hijacked gets a clear error.
func TestMountedOnHTTPServer(t *testing.T) {
	skipIn(t, "mounts itself", "http", "tls", "proxy", "goroutines")
	srv := echoServer()
	srv.Authenticate = func(r *server.Request) error {
		if r.Query.Get("token") == "" {
			return server.Reject(http.StatusUnauthorized, "token required")
		}
		return nil
	}
	var mu sync.Mutex
	var statuses []int
	var upgradeErrs []error
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	mux.HandleFunc("GET /api/time", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) })
	mux.Handle("GET /ws", srv)
	mux.HandleFunc("GET /opaque", func(w http.ResponseWriter, r *http.Request) {
		err := srv.Upgrade(opaque{w}, r)
		mu.Lock()
		upgradeErrs = append(upgradeErrs, err)
		mu.Unlock()
	})
	withLog := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := &logged{ResponseWriter: w}
		mux.ServeHTTP(l, r)
		mu.Lock()
		statuses = append(statuses, l.status)
		mu.Unlock()
	})
	hs := httptest.NewServer(withLog)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http")

	for path, want := range map[string]string{"/": "page", "/api/time": `{"ok":true}`} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Fatalf("%s: %q", path, body)
		}
	}
	if _, resp, err := gorilla.DefaultDialer.Dial(wsURL+"/ws", nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("without a token: %v %v", resp, err)
	}
	c, _, err := gorilla.DefaultDialer.Dial(wsURL+"/ws?token=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoOnce(t, c, "through the mux")

	// Frames sent right behind the request, in the same write, are kept.
	nc, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write(append([]byte(upgradeRequest("/ws?token=1")), frame(ws.OpText, true, []byte("pipelined"))...))
	resp, rest := readResponse(t, nc)
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	raw := &rawClient{t: t, nc: nc, in: rest}
	if got := raw.readText(); got != "pipelined" {
		t.Fatalf("echo %q", got)
	}

	if _, resp, err := gorilla.DefaultDialer.Dial(wsURL+"/opaque?token=1", nil); err == nil || resp == nil || resp.StatusCode != 500 {
		t.Fatalf("a writer that cannot be hijacked: %v %v", resp, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(upgradeErrs) != 1 || upgradeErrs[0] == nil || !strings.Contains(upgradeErrs[0].Error(), "hijack") {
		t.Fatalf("Upgrade's error: %v", upgradeErrs)
	}
	if got := statuses; len(got) < 3 || got[2] != http.StatusUnauthorized {
		t.Fatalf("middleware saw statuses %v; the refusal's 401 should be among them", got)
	}
}

// HTTP/2 cannot be upgraded: a clear 505 and ErrHTTP2, not a hang.
func TestUpgradeRefusesHTTP2(t *testing.T) {
	skipIn(t, "mounts itself", "http", "tls", "proxy", "goroutines")
	srv := echoServer()
	errs := make(chan error, 1)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errs <- srv.Upgrade(w, r)
	}))
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(func() { hs.Close(); srv.Close() })
	client := hs.Client()
	resp, err := client.Get(hs.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusHTTPVersionNotSupported {
		t.Fatalf("HTTP/%d status %d, want HTTP/2 505", resp.ProtoMajor, resp.StatusCode)
	}
	if err := <-errs; !errors.Is(err, server.ErrHTTP2) {
		t.Fatalf("Upgrade returned %v, want ErrHTTP2", err)
	}
}

// Mounted on an http.Server that does TLS itself (ServeTLS): the
// connection has no descriptor to take and runs on the goroutine path.
func TestMountedOnHTTPSServer(t *testing.T) {
	skipIn(t, "mounts itself", "http", "tls", "proxy", "goroutines")
	srv := echoServer()
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{testTLS(t).cert}}
	hs.StartTLS()
	t.Cleanup(func() { hs.Close(); srv.Close() })
	d := gorilla.Dialer{TLSClientConfig: clientTLS(t)}
	c, _, err := d.Dial("wss://"+strings.TrimPrefix(hs.URL, "https://")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoOnce(t, c, "over the http.Server's TLS")
	echoOnce(t, c, strings.Repeat("big ", 100000))
}
