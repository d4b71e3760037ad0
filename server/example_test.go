package server_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// The example of python-websocket-server's README: greet everyone when a
// client joins.
func Example() {
	srv := &server.Server{Addr: "127.0.0.1:13254"}
	srv.OnNewClient = func(c *server.Client) {
		srv.BroadcastText("Hey all, a new client has joined us")
	}
	go srv.ListenAndServe()
	defer srv.Close()

	conn := dialWhenUp("ws://127.0.0.1:13254/")
	defer conn.Close()
	_, msg, err := conn.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	// Output: Hey all, a new client has joined us
}

// An echo server: every message goes back to its sender as it came.
func ExampleServer_echo() {
	srv := &server.Server{
		OnMessage: func(c *server.Client, m server.Message) {
			if m.Op == server.Text {
				c.SendText(string(m.Data))
			} else {
				c.SendBinary(m.Data)
			}
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	conn := dialWhenUp("ws://" + ln.Addr().String() + "/")
	defer conn.Close()
	conn.WriteMessage(websocket.TextMessage, []byte("hello"))
	_, msg, _ := conn.ReadMessage()
	fmt.Println(string(msg))
	// Output: hello
}

// Authenticate runs during the handshake and can refuse it with an HTTP
// status; the client never gets a WebSocket.
func ExampleServer_authenticate() {
	srv := &server.Server{
		Authenticate: func(r *server.Request) error {
			if r.Query.Get("token") != "secret" {
				return server.Reject(http.StatusUnauthorized, "bad token")
			}
			return nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	_, resp, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/?token=guess", nil)
	fmt.Println(err, resp.StatusCode)
	// Output: websocket: bad handshake 401
}

// Mounted on an existing http.Server: a page, a REST route and /ws share
// the router and the port. Upgraded clients leave net/http for the event
// loop: one descriptor each, no goroutine.
func ExampleServer_ServeHTTP() {
	chat := &server.Server{}
	chat.OnMessage = func(c *server.Client, m server.Message) {
		chat.BroadcastText(string(m.Data))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "<!doctype html><title>chat</title>")
	})
	mux.HandleFunc("GET /api/clients", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"clients":%d}`, chat.Len())
	})
	mux.Handle("GET /ws", chat)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	defer chat.Close()

	conn := dialWhenUp("ws://" + ln.Addr().String() + "/ws")
	defer conn.Close()
	conn.WriteMessage(websocket.TextMessage, []byte("hello"))
	_, msg, _ := conn.ReadMessage()
	fmt.Println(string(msg))
	resp, _ := http.Get("http://" + ln.Addr().String() + "/api/clients")
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// hello
	// {"clients":1}
}

// dialWhenUp connects once the server listens.
func dialWhenUp(url string) *websocket.Conn {
	for i := 0; ; i++ {
		conn, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil {
			return conn
		}
		if i == 100 {
			log.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
