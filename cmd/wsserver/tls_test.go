package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// certFiles writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files into dir (made by the test: no key is ever committed) and
// returns their paths and a client configuration that trusts it.
func certFiles(t *testing.T, dir string) (certFile, keyFile string, trust *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "wsserver test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, &tls.Config{RootCAs: pool}
}

// TLS fails closed: a certificate that is missing, not PEM, or not the
// key's, or only one of the two flags, exits 2 before anything listens,
// with a message naming the flag.
func TestTLSFlagsFailClosed(t *testing.T) {
	cert, key, _ := certFiles(t, t.TempDir())
	otherCert, otherKey, _ := certFiles(t, t.TempDir())
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o600)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-tls-cert", cert}, "-tls-cert and -tls-key go together"},
		{[]string{"-tls-key", key}, "-tls-cert and -tls-key go together"},
		{[]string{"-tls-cert", missing, "-tls-key", key}, "no such file"},
		{[]string{"-tls-cert", cert, "-tls-key", missing}, "no such file"},
		{[]string{"-tls-cert", garbage, "-tls-key", key}, "-tls-cert " + garbage},
		{[]string{"-tls-cert", cert, "-tls-key", garbage}, "-tls-cert " + cert},
		{[]string{"-tls-cert", cert, "-tls-key", otherKey}, "private key does not match public key"},
		{[]string{"-tls-cert", key, "-tls-key", otherCert}, "-tls-cert " + key},
	} {
		var stderr bytes.Buffer
		args := append([]string{"-addr", "127.0.0.1:0"}, tt.args...)
		code := run(args, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tt.want) || strings.Contains(stderr.String(), "listening") {
			t.Errorf("wsserver %q: exit %d, stderr %q; want exit 2 and %q before listening", tt.args, code, stderr.String(), tt.want)
		}
	}
}

// With -tls-cert and -tls-key the page, its health check and the
// WebSocket share one TLS port: https:// and wss://, with rooms as over
// plain ws://. A plain HTTP request there is told to use HTTPS; nothing
// is served in plaintext.
func TestServesWSS(t *testing.T) {
	cert, key, trust := certFiles(t, t.TempDir())
	p := startWSServer(t, "-addr", "127.0.0.1:0", "-mode", "chat", "-tls-cert", cert, "-tls-key", key)
	if !strings.Contains(p.log.String(), "url=https://"+p.addr+"/") {
		t.Errorf("the log does not announce https://%s/:\n%s", p.addr, p.log.String())
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: trust, DisableKeepAlives: true}}
	for path, want := range map[string]string{"/": `location.protocol === "https:" ? "wss://"`, "/healthz": "ok"} {
		resp, err := client.Get("https://" + p.addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
			t.Errorf("GET https://%s%s: %s, %.200q; want 200 and %q", p.addr, path, resp.Status, body, want)
		}
	}

	d := websocket.Dialer{TLSClientConfig: trust, HandshakeTimeout: 10 * time.Second}
	dial := func(path string) *websocket.Conn {
		c, _, err := d.Dial("wss://"+p.addr+path, nil)
		if err != nil {
			t.Fatalf("dial wss://%s%s: %v", p.addr, path, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// waitLine reads chat lines (joins first) until one ends with suffix.
	waitLine := func(c *websocket.Conn, suffix string) {
		t.Helper()
		for {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for a line ending in %q: %v", suffix, err)
			}
			if strings.HasSuffix(string(msg), suffix) {
				return
			}
		}
	}
	a, b := dial("/room/tls"), dial("/room/tls")
	text := fmt.Sprintf("over TLS %d", time.Now().UnixNano())
	a.WriteMessage(websocket.TextMessage, []byte(text))
	waitLine(a, " said: "+text)
	waitLine(b, " said: "+text)
	a.Close()
	b.Close()

	if _, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/", nil); err == nil {
		t.Error("a plain ws:// client connected to the TLS port")
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, err := plain.Get("http://" + p.addr + "/"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP on the TLS port: %v %v; want 400", resp, err)
	} else {
		resp.Body.Close()
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit %d after SIGINT:\n%s", code, p.log.String())
	}
}
