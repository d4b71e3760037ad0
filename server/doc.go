// Package server is a WebSocket server for tens of thousands of clients
// per process, with the small API of python-websocket-server: callbacks for
// a new client, a client that left, a message and authentication; sending
// to one client or to all; and the list of clients.
//
//	srv := &server.Server{Addr: "127.0.0.1:13254"}
//	srv.OnNewClient = func(c *server.Client) {
//		srv.BroadcastText("Hey all, a new client has joined us")
//	}
//	srv.OnMessage = func(c *server.Client, m server.Message) {
//		c.SendText("you said: " + string(m.Data))
//	}
//	log.Fatal(srv.ListenAndServe())
//
// # How it works
//
// Serve registers a listening socket with the package poller (epoll or
// kqueue, edge-triggered), and the workers accept its connections and
// register each once, for its whole life. A request is read as it arrives
// and github.com/gobwas/ws parses it without copying, so a handshake in
// progress is its bytes and nothing else, and an idle client is a
// descriptor and a few hundred bytes: no goroutine, no buffer, no
// compression state. TLS (ServeTLS), listeners without a descriptor and
// connections taken from an http.Server (Upgrade, ServeHTTP) have a
// goroutine for their handshake and then join the same workers; without a
// poller (Windows), or without a descriptor to take, a reader and a writer
// goroutine stand in for it.
//
// A small pool of workers (GOMAXPROCS by default) serves clients whose
// socket is readable: a worker reads what is there in one call, decodes
// every complete frame (package wsproto, which keeps a partial frame for
// later instead of blocking), calls the callbacks, and writes everything
// queued for the client in one writev. A client gets a bounded share per
// turn and goes to the back of the queue, so a busy client cannot starve
// the others. Sending never blocks: messages are queued per client, up to
// MaxPendingBytes, and flushed when the socket can take them.
//
// # Callbacks
//
// Callbacks run on the workers. For one client, OnNewClient comes first,
// then its messages in order and never two at once, and OnClientLeft
// exactly once and last, however the client leaves. A callback may call
// any method of the Server or of any Client. It should not block: while
// it runs, its worker serves nobody else. A panic in a callback is
// recovered, logged, and closes only that client (close code 1011).
//
// # Protocol
//
// The server implements RFC 6455 completely (every case of the Autobahn
// TestSuite groups 1 to 10 passes) and permessage-deflate (RFC 7692) when
// Compression is set. Protocol errors close the client with the code the
// RFC names: 1002 for framing errors, 1007 for invalid UTF-8, 1009 for
// messages over MaxMessageSize. Handshake errors get an HTTP status: 400,
// 426 with Sec-WebSocket-Version: 13, 431, 403 or Authenticate's own.
package server
