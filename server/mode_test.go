package server_test

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pires/go-proxyproto"
	"github.com/wsloop/wsloop/server"
)

// testMode is the way the tests reach the server, from WSLOOP_TEST_MODE:
//
//	""           the event loop over plain TCP (the default)
//	goroutines   the path of systems without a poller (ServeWithGoroutines)
//	tls          wss:// with the server's own TLS (ServeTLS)
//	proxy        every connection starts with a PROXY protocol v2 header
//	http         the server mounted on an http.Server (ServeHTTP)
//
// TestTransports runs the behavioural tests in each mode.
var testMode = os.Getenv("WSLOOP_TEST_MODE")

// skipIn skips a test that does not apply when the tests run in one of
// modes, saying why.
func skipIn(t testing.TB, why string, modes ...string) {
	t.Helper()
	for _, m := range modes {
		if testMode == m {
			t.Skipf("not in mode %s: %s", m, why)
		}
	}
}

// serveInMode serves srv on ln the way testMode says and returns the URL
// scheme and a function that stops it.
func serveInMode(t testing.TB, srv *server.Server, ln net.Listener) (scheme string, serve func() error, stop func()) {
	switch testMode {
	case "goroutines":
		server.ServeWithGoroutines(srv)
	case "tls":
		srv.TLSConfig = testTLS(t).server
		return "wss", func() error { return srv.ServeTLS(ln, "", "") }, func() { srv.Close() }
	case "proxy":
		srv.ProxyProtocol = true
	case "http":
		if srv.Handler != nil {
			t.Skip("not in mode http: Handler is for the server's own listener")
		}
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: cmp.Or(srv.HandshakeTimeout, server.DefaultHandshakeTimeout)}
		return "ws", func() error {
				err := hs.Serve(ln)
				if errors.Is(err, http.ErrServerClosed) {
					return server.ErrServerClosed
				}
				return err
			}, func() {
				hs.Close()
				srv.Close()
			}
	}
	return "ws", func() error { return srv.Serve(ln) }, func() { srv.Close() }
}

// dialContext connects to addr as the test clients do in testMode: with a
// PROXY protocol header in mode proxy. TLS is left to the caller.
func dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil || testMode != "proxy" {
		return nc, err
	}
	h := proxyproto.HeaderProxyFromAddrs(2, nc.LocalAddr(), nc.RemoteAddr())
	if _, err := h.WriteTo(nc); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// clientTLS is the TLS configuration of test clients: it trusts the test
// certificate.
func clientTLS(t testing.TB) *tls.Config { return testTLS(t).client }

type tlsPair struct {
	server, client *tls.Config
	cert           tls.Certificate
}

var (
	tlsOnce sync.Once
	tlsKeys *tlsPair
	tlsErr  error
)

// testTLS returns a self-signed certificate for 127.0.0.1 and localhost,
// made once per test process, and the configurations that use it.
func testTLS(t testing.TB) *tlsPair {
	tlsOnce.Do(func() {
		cert, pool, err := selfSigned("wsloop test", time.Now().Add(24*time.Hour))
		if err != nil {
			tlsErr = err
			return
		}
		tlsKeys = &tlsPair{
			server: &tls.Config{Certificates: []tls.Certificate{cert}},
			client: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
			cert:   cert,
		}
	})
	if tlsErr != nil {
		t.Fatal(tlsErr)
	}
	return tlsKeys
}

// selfSigned makes a certificate valid for 127.0.0.1, ::1 and localhost,
// and a pool that trusts it.
func selfSigned(name string, notAfter time.Time) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// hostOf returns the host:port of a ws:// or wss:// URL.
func hostOf(url string) string {
	url = strings.TrimPrefix(strings.TrimPrefix(url, "ws://"), "wss://")
	host, _, _ := strings.Cut(url, "/")
	return host
}

// clientOrNil is the client configuration, or nil before any TLS server ran.
func (p *tlsPair) clientOrNil() *tls.Config {
	if p == nil {
		return nil
	}
	return p.client
}

// coderOptions makes coder/websocket dial as the tests' mode says.
func coderOptions() *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		DialContext:     dialContext,
		TLSClientConfig: tlsKeys.clientOrNil(),
	}}}
}

// resetConn closes nc with a TCP reset instead of a FIN.
func resetConn(nc net.Conn) {
	tcpConn(nc).SetLinger(0)
	nc.Close()
}

// tcpConn is the TCP connection under nc (under TLS, in mode tls).
func tcpConn(nc net.Conn) *net.TCPConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	return nc.(*net.TCPConn)
}

// httpClient is a plain HTTP client for the tests' mode (https for wss).
func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:     dialContext,
		TLSClientConfig: tlsKeys.clientOrNil(),
	}}
}

// httpURL turns a ws:// or wss:// URL into http:// or https://.
func httpURL(url string) string {
	if rest, ok := strings.CutPrefix(url, "wss://"); ok {
		return "https://" + rest
	}
	return "http://" + strings.TrimPrefix(url, "ws://")
}
