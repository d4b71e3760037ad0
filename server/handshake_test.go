package server_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wsloop/wsloop/server"
)

// roundTrip sends a raw request and returns the response.
func roundTrip(t *testing.T, url, request string) *http.Response {
	t.Helper()
	nc := dialTCP(t, url)
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	resp, _ := readResponse(t, nc)
	return resp
}

func TestBadHandshakesGetAnHTTPStatus(t *testing.T) {
	url := start(t, echoServer())
	valid := upgradeRequest("/")
	cases := []struct {
		name    string
		request string
		status  int
	}{
		{"POST instead of GET", strings.Replace(valid, "GET", "POST", 1), 400},
		{"no Sec-WebSocket-Key", strings.Replace(valid, "Sec-WebSocket-Key: "+testKey+"\r\n", "", 1), 400},
		{"short Sec-WebSocket-Key", strings.Replace(valid, testKey, "c2hvcnQ=", 1), 400},
		{"no Upgrade header", strings.Replace(valid, "Upgrade: websocket\r\n", "", 1), 400},
		{"Upgrade to something else", strings.Replace(valid, "Upgrade: websocket", "Upgrade: h2c", 1), 400},
		{"no Host", strings.Replace(valid, "Host: localhost\r\n", "", 1), 400},
		{"version 8", strings.Replace(valid, "Version: 13", "Version: 8", 1), 426},
		{"header over the size limit", upgradeRequest("/", "X-Big: "+strings.Repeat("a", 20<<10)), 431},
		{"garbage request line", "\x16\x03\x01 hello\r\n\r\n", 400},
		{"unparseable protocol version (found by FuzzHandshake)", "GET 0 HTTP/1.A\r\n\r\n", 400},
		{"plain GET without a handler", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == 431 {
				skipIn(t, "the http.Server's own MaxHeaderBytes applies", "http")
			}
			resp := roundTrip(t, url, tc.request)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Fatalf("426 without Sec-WebSocket-Version: 13: %v", resp.Header)
			}
		})
	}
}

func TestAuthenticateSeesTheRequestAndCanRefuse(t *testing.T) {
	got := make(chan *server.Request, 10)
	srv := echoServer()
	srv.Authenticate = func(r *server.Request) error {
		got <- r
		switch r.Query.Get("token") {
		case "good":
			return nil
		case "":
			return server.Reject(http.StatusUnauthorized, "token required")
		default:
			return errors.New("bad token")
		}
	}
	joined := make(chan *server.Client, 10)
	srv.OnNewClient = func(c *server.Client) { joined <- c }
	url := start(t, srv)

	resp := roundTrip(t, url, upgradeRequest("/room/1"))
	if resp.StatusCode != 401 {
		t.Fatalf("no token: status %d, want 401", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "token required" {
		t.Fatalf("body %q", body)
	}
	<-got
	if resp := roundTrip(t, url, upgradeRequest("/room/1?token=bad")); resp.StatusCode != 403 {
		t.Fatalf("bad token: status %d, want 403", resp.StatusCode)
	}
	<-got
	select {
	case <-joined:
		t.Fatal("a refused client reached OnNewClient")
	default:
	}

	c := dialTCP(t, url)
	io.WriteString(c, upgradeRequest("/room/1?token=good", "Origin: http://example.test", "X-Trace: 42"))
	if resp, _ := readResponse(t, c); resp.StatusCode != 101 {
		t.Fatalf("good token: status %d", resp.StatusCode)
	}
	r := <-got
	if r.Path != "/room/1" || r.URI != "/room/1?token=good" || r.Host != "localhost" {
		t.Fatalf("request %+v", r)
	}
	if r.Header.Get("Origin") != "http://example.test" || r.Header.Get("X-Trace") != "42" {
		t.Fatalf("headers %v", r.Header)
	}
	if r.RemoteAddr == nil || !strings.HasPrefix(r.RemoteAddr.String(), "127.0.0.1:") {
		t.Fatalf("remote address %v", r.RemoteAddr)
	}
	<-joined
}

func TestDenyAndAllowNewConnections(t *testing.T) {
	srv := echoServer()
	url := start(t, srv)
	kept := dial(t, url)

	srv.DenyNewConnections(0, "maintenance")
	resp := roundTrip(t, url, upgradeRequest("/"))
	if resp.StatusCode != 503 {
		t.Fatalf("denied: status %d, want 503", resp.StatusCode)
	}
	// Connected clients are not affected.
	if err := kept.WriteMessage(1, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := kept.ReadMessage(); err != nil || string(msg) != "still here" {
		t.Fatalf("echo while denied: %q %v", msg, err)
	}
	srv.AllowNewConnections()
	dial(t, url)
}

// Plain HTTP on the same port goes to Handler.
func TestHandlerServesPlainHTTP(t *testing.T) {
	srv := echoServer()
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "page at "+r.URL.Path)
	})
	url := start(t, srv)
	client := httpClient()
	for i := 0; i < 3; i++ { // keep-alive connections are reused
		resp, err := client.Get(httpURL(url) + "index.html")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "page at /index.html" {
			t.Fatalf("body %q", body)
		}
	}
	// And WebSocket clients on the same port still work.
	c := dial(t, url)
	c.WriteMessage(1, []byte("ws too"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "ws too" {
		t.Fatalf("%q %v", msg, err)
	}
}
