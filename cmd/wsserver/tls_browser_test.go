//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsloop/wsloop/internal/chromium"
	"github.com/wsloop/wsloop/internal/testlog"
	"github.com/wsloop/wsloop/server"
)

// TestBrowserChatOverTLS opens the chat page at https:// in headless
// Chromium, which trusts the test's certificate by its public key: the
// page connects back with wss:// (it builds its URL from
// location.protocol), and a line sent from it comes back over TLS.
func TestBrowserChatOverTLS(t *testing.T) {
	bin := chromium.Find(t)
	certFile, keyFile, _ := certFiles(t, t.TempDir())
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)

	// The demo server as run builds it with -tls-cert and -tls-key.
	srvLog := &testlog.Buffer{}
	srv := newServer("chat", slog.New(slog.NewTextHandler(srvLog, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if srv.TLSConfig, err = loadTLS(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- serve(srv, ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("ServeTLS returned %v, want %v", err, server.ErrServerClosed)
		}
	})
	pageURL := scheme(srv) + "://" + ln.Addr().String() + "/"

	ctx, cancel := context.WithTimeout(context.Background(), browserOverallTimeout)
	defer cancel()
	bt := startBrowser(ctx, t, bin, srv, srvLog, "--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]))

	page := bt.newPage("A")
	bt.navigate(page, pageURL)
	bt.waitConnected(page)
	id := bt.waitNewClient(nil)
	if st, _ := bt.state(page); !strings.HasPrefix(st.URL, "https://") {
		bt.fatalf("the page's address is %q, want https://", st.URL)
	}
	text := fmt.Sprintf("héllo over wss ✓ %d", time.Now().UnixNano())
	bt.send(page, text)
	said := fmt.Sprintf("client %d said: %s", id, text)
	bt.waitForLines(messageTimeout, fmt.Sprintf("the page to show %q", said), map[*chromium.Page]string{page: said})
}
