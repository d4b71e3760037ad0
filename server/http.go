package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"
)

// ServeHTTP makes the Server an http.Handler, so that it can be mounted on
// an existing http.Server, behind its router and middleware:
//
//	mux.Handle("GET /ws", srv)
//
// It is Upgrade without the error, which it logs at debug level.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.Upgrade(w, r); err != nil {
		s.log.Debug("upgrade refused", "remote", r.RemoteAddr, "err", err)
	}
}

// ErrHTTP2 is returned by Upgrade for a request that came over HTTP/2:
// WebSocket over HTTP/2 (RFC 8441) is not supported, and an HTTP/2
// connection cannot be taken over. Such a request is answered 505.
var ErrHTTP2 = errors.New("server: WebSocket needs HTTP/1.1: HTTP/2 connections cannot be upgraded")

// Upgrade answers an opening handshake that an http.Server received, as
// gorilla's Upgrader.Upgrade and coder's Accept do. It applies the same
// checks as the server's own listeners (method, headers, version,
// AllowedOrigins, DenyNewConnections, Authenticate, TrustedProxies), takes
// the connection from the http.Server (keeping any bytes it had already
// read behind the request) and hands it to the workers: the same callbacks,
// one descriptor per client, no goroutine once upgraded. A TLS connection
// from an http.Server's ServeTLS has no descriptor of its own to take and
// keeps a reader and a writer goroutine; for wss:// at scale, let the
// server do TLS itself (ServeTLS, ListenAndServeTLS).
//
// On a refusal it writes the HTTP error response and returns why. It
// returns ErrHTTP2 for an HTTP/2 request, and an error naming the
// ResponseWriter when it cannot be hijacked (middleware that hides
// http.Hijacker without an Unwrap method).
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request) error {
	if err := s.start(); err != nil {
		http.Error(w, "server not running", http.StatusServiceUnavailable)
		return err
	}
	if r.ProtoMajor != 1 {
		s.stats.refusedStatus(http.StatusHTTPVersionNotSupported)
		http.Error(w, "WebSocket needs HTTP/1.1; this request came over "+r.Proto, http.StatusHTTPVersionNotSupported)
		return ErrHTTP2
	}
	hs := &handshakeState{req: &Request{}}
	peer, _ := netip.ParseAddrPort(r.RemoteAddr)
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	resp, deflate, err := s.answer(requestHead(r), hs.req)
	addr := peer
	if err == nil {
		addr = s.forwardedClient(peer, hs.req)
		resp, err = s.authorize(hs.req, resp)
	}
	if err != nil {
		s.stats.refused(resp)
		writeRefusal(w, resp)
		return err
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "server: cannot take over the connection", http.StatusInternalServerError)
		return fmt.Errorf("server: cannot hijack the connection from %T: %w", w, err)
	}
	var rest []byte
	if n := brw.Reader.Buffered(); n > 0 {
		rest, _ = brw.Reader.Peek(n)
		rest = bytes.Clone(rest)
	}
	nc.SetDeadline(time.Time{})
	hs.resp, hs.deflate = resp, deflate
	c := s.newClient(addr, hs, rest)
	if err := s.takeConn(c, nc, nil, nc); err != nil {
		s.stats.refusedStatus(http.StatusServiceUnavailable)
		nc.Write(refusal(http.StatusServiceUnavailable, "server out of resources"))
		nc.Close()
		return err
	}
	return nil
}

// requestHead writes a request that net/http parsed back into the form of
// a request head, for the checks every handshake goes through.
func requestHead(r *http.Request) []byte {
	var b bytes.Buffer
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(r.RequestURI)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(r.Host)
	b.WriteString("\r\n")
	r.Header.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// writeRefusal copies a refusal made for a raw connection onto w.
func writeRefusal(w http.ResponseWriter, resp []byte) {
	parsed, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), nil)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	defer parsed.Body.Close()
	for k, vs := range parsed.Header {
		if k != "Connection" && k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(parsed.StatusCode)
	io.Copy(w, parsed.Body)
}
