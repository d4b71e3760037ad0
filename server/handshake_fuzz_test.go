package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzHandshake feeds arbitrary bytes, in pieces, to the handshake's
// request reader and answerer. Whatever they are, the answer is a
// well-formed HTTP response: 101 with a Sec-WebSocket-Accept, or an error
// status with the reason; nothing panics.
func FuzzHandshake(f *testing.F) {
	valid := "GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, seed := range []string{
		valid + "\r\n",
		valid + "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
		valid + "Sec-WebSocket-Extensions: x-foo, permessage-deflate; server_max_window_bits=9\r\n\r\n",
		valid + "Origin: https://evil.test\r\n\r\n",
		strings.Replace(valid, "x=1", "deny=1", 1) + "\r\n",
		strings.Replace(valid, "13", "8", 1) + "\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n" + strings.Repeat("X: y\r\n", 50) + "\r\n",
		"GET  HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\n\n",
	} {
		f.Add([]byte(seed))
	}
	s := &Server{
		Compression:    true,
		AllowedOrigins: []string{"https://*.example.test"},
		MaxHeaderBytes: 2048,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authenticate: func(r *Request) error {
			if r.Query.Get("deny") != "" {
				return Reject(http.StatusUnauthorized, "denied")
			}
			return nil
		},
	}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}
	f.Fuzz(func(t *testing.T, request []byte) {
		buf, headLen, err := readHead(iotest.HalfReader(bytes.NewReader(request)), s.maxHeaderBytes())
		if err != nil {
			if !errors.Is(err, errHeadTooLarge) && !errors.Is(err, errBadRequestLine) && err != io.EOF {
				t.Fatalf("readHead: %v", err)
			}
			return
		}
		if !bytes.HasPrefix(request, buf[:headLen]) || !bytes.HasSuffix(buf[:headLen], []byte("\r\n\r\n")) {
			t.Fatalf("head %q is not the request's start", buf[:headLen])
		}
		req := &Request{RemoteAddr: remote}
		resp, _, err := s.answer(buf[:headLen], req)
		if err == nil {
			resp, err = s.authorize(req, resp)
		}
		r, perr := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), nil)
		if perr != nil {
			t.Fatalf("answer to %q is not an HTTP response: %q", request, resp)
		}
		switch {
		case err == nil && (r.StatusCode != 101 || r.Header.Get("Sec-WebSocket-Accept") == ""):
			t.Fatalf("upgrade answered %q", resp)
		case err != nil && r.StatusCode < 400:
			t.Fatalf("refusal (%v) answered %q", err, resp)
		}
	})
}
