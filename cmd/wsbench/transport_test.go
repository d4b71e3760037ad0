package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/server"
)

// testCerts writes a CA and a certificate it signed for 127.0.0.1 and
// localhost to dir; it returns the paths of the CA, the certificate and its
// key.
func testCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wsbench test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(leafKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// serveWsloop serves srv on a fresh loopback port, over TLS if cert is
// set, and returns the port's address.
func serveWsloop(t *testing.T, srv *server.Server, cert, key string) string {
	t.Helper()
	if srv.Logger == nil {
		srv.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		if cert != "" {
			done <- srv.ServeTLS(ln, cert, key)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ln.Addr().String()
}

func echoHandlers(srv *server.Server) *server.Server {
	srv.OnMessage = func(c *server.Client, m server.Message) {
		if m.Op == server.Text {
			c.SendText(string(m.Data))
		} else {
			c.SendBinary(m.Data)
		}
	}
	return srv
}

func TestTLS(t *testing.T) {
	ca, cert, key := testCerts(t, t.TempDir())
	addr := serveWsloop(t, echoHandlers(&server.Server{}), cert, key)
	url := "wss://" + addr + "/"

	r, code, _ := runBench(t, "echo", "-url", url, "-ca", ca, "-conns", "4", "-duration", "300ms")
	wantExit(t, r, code, exitOK)
	if r.Connections.TLS != 4 || r.Echo.Received == 0 || r.Echo.Mismatches != 0 {
		t.Errorf("connections %+v echo %+v", r.Connections, r.Echo)
	}
	// The name in the URL is checked too: localhost is in the certificate.
	_, port, _ := net.SplitHostPort(addr)
	r, code, _ = runBench(t, "connect", "-url", "wss://localhost:"+port+"/", "-ca", ca, "-conns", "2", "-hold", "0s")
	wantExit(t, r, code, exitOK)

	// Without the CA the certificate does not verify; -insecure skips that.
	r, code, _ = runBench(t, "connect", "-url", url, "-conns", "2", "-hold", "0s")
	wantExit(t, r, code, exitErrors)
	if r.Errors["tls_bad_certificate"] != 2 {
		t.Errorf("errors %v", r.Errors)
	}
	r, code, _ = runBench(t, "connect", "-url", url, "-insecure", "-conns", "2", "-hold", "0s")
	wantExit(t, r, code, exitOK)

	// Sessions resume with -tls-resume.
	r, code, _ = runBench(t, "handshake", "-url", url, "-ca", ca, "-tls-resume", "-conns", "1", "-duration", "300ms")
	wantExit(t, r, code, exitOK)
	if c := r.Connections; c.TLS < 2 || c.TLSResumed == 0 || c.TLSResumed >= c.TLS {
		t.Errorf("-tls-resume: %d TLS connections, %d resumed", c.TLS, c.TLSResumed)
	}
	r, code, _ = runBench(t, "handshake", "-url", url, "-ca", ca, "-conns", "1", "-duration", "200ms")
	wantExit(t, r, code, exitOK)
	if c := r.Connections; c.TLS < 2 || c.TLSResumed != 0 {
		t.Errorf("without -tls-resume: %d TLS connections, %d resumed", c.TLS, c.TLSResumed)
	}

	// wss:// to a plain server.
	plain := serveWsloop(t, echoHandlers(&server.Server{}), "", "")
	r, code, _ = runBench(t, "connect", "-url", "wss://"+plain+"/", "-insecure", "-conns", "1", "-hold", "0s")
	wantExit(t, r, code, exitErrors)
	if r.Errors["tls_not_tls"] != 1 {
		t.Errorf("errors %v", r.Errors)
	}
}

func TestSubprotocols(t *testing.T) {
	up := websocket.Upgrader{Subprotocols: []string{"v2.chat", "v1.chat"}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := up.Upgrade(w, r, nil); err == nil {
			defer c.Close()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(s.Close)
	url := "ws://" + s.Listener.Addr().String() + "/"
	r, code, _ := runBench(t, "connect", "-url", url, "-subprotocol", "v1.chat, v2.chat", "-conns", "3", "-hold", "0s")
	wantExit(t, r, code, exitOK)
	// gorilla takes its own order of preference.
	if got := r.Connections.Subprotocols; got["v2.chat"] != 3 {
		t.Errorf("subprotocols %v", got)
	}
	r, code, _ = runBench(t, "connect", "-url", url, "-subprotocol", "other", "-conns", "2", "-hold", "0s")
	wantExit(t, r, code, exitOK)
	if got := r.Connections.Subprotocols; got[""] != 2 {
		t.Errorf("subprotocols %v", got)
	}

	// A server that selects a subprotocol nobody offered.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
					"Sec-WebSocket-Accept: " + acceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"))
			}()
		}
	}()
	r, code, _ = runBench(t, "connect", "-url", "ws://"+ln.Addr().String()+"/", "-subprotocol", "chat", "-conns", "2", "-hold", "0s")
	wantExit(t, r, code, exitErrors)
	if r.Errors["handshake_bad_subprotocol"] != 2 {
		t.Errorf("errors %v", r.Errors)
	}
}

func TestProxyProtocolAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var remotes, headers []string
	srv := &server.Server{ProxyProtocol: true, OnNewClient: func(c *server.Client) {
		mu.Lock()
		defer mu.Unlock()
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		remotes = append(remotes, host)
		headers = append(headers, c.Request().Header.Get("X-Wsbench"))
	}}
	url := "ws://" + serveWsloop(t, srv, "", "") + "/"
	seen := func() ([]string, []string) {
		mu.Lock()
		defer mu.Unlock()
		r, h := slices.Clone(remotes), slices.Clone(headers)
		remotes, headers = nil, nil
		slices.Sort(r)
		return slices.Compact(r), slices.Compact(h)
	}
	for _, v := range []string{"v1", "v2"} {
		r, code, _ := runBench(t, "connect", "-url", url, "-proxy-protocol", v, "-conns", "4", "-hold", "0s",
			"-header", "X-Wsbench: yes")
		wantExit(t, r, code, exitOK)
		// The header carries the socket's own address.
		if rs, hs := seen(); !slices.Equal(rs, r.SourceIPs) || !slices.Equal(hs, []string{"yes"}) {
			t.Errorf("%s: the server saw clients from %v with X-Wsbench %q; wsbench used %v", v, rs, hs, r.SourceIPs)
		}
		r, code, _ = runBench(t, "connect", "-url", url, "-proxy-protocol", v, "-proxy-src-addrs", "10.9.8.7-10.9.8.8", "-conns", "4", "-hold", "0s")
		wantExit(t, r, code, exitOK)
		if rs, _ := seen(); !slices.Equal(rs, []string{"10.9.8.7", "10.9.8.8"}) {
			t.Errorf("%s: the server saw clients from %v", v, rs)
		}
	}
	// Without the header the server refuses the connections.
	r, code, _ := runBench(t, "connect", "-url", url, "-conns", "2", "-hold", "0s", "-timeout", "1s")
	wantExit(t, r, code, exitErrors)
	if r.Connections.Failed != 2 {
		t.Errorf("connections %+v errors %v", r.Connections, r.Errors)
	}
}
