package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// echoHandler is a gorilla server that echoes every message, or with echo
// false answers each with the binary "nope".
func echoHandler(echo bool) http.Handler {
	up := websocket.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if !echo {
				mt, p = websocket.BinaryMessage, []byte("nope")
			}
			if c.WriteMessage(mt, p) != nil {
				return
			}
		}
	})
}

func echoURL(t *testing.T, echo bool) string {
	srv := httptest.NewServer(echoHandler(echo))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600)
	for _, args := range [][]string{
		{"-bogus"},
		{"-url", "http://127.0.0.1:1/"},
		{"-url", "https://127.0.0.1:1/"},
		{"-url", "wss://127.0.0.1:1/", "-ca", filepath.Join(dir, "missing.pem")},
		{"-url", "wss://127.0.0.1:1/", "-ca", notPEM},
		{"-url", "wss://127.0.0.1:1/", "-ca", notPEM, "-insecure"},
		{"-url", "ws://127.0.0.1:1/", "-insecure"},
		{"-cases", "1.["},
		{"-exclude", "["},
		{"-cases", "99.*"},
		{"-cases", "1.*", "-exclude", "1"},
		{"-time-scale", "0"},
		{"stray"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if errOut.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
}

func TestRunTable(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-url", echoURL(t, true), "-cases", "1.1.1,1.2.*,2.1", "-exclude", "1.2.8"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"== 1 Framing ==", "1.2.7", "== 2 Pings/Pongs ==", "== Summary ==", "9 cases in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "1.2.8") {
		t.Error("excluded case ran")
	}
}

func TestRunJSONFailing(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-url", echoURL(t, false), "-cases", "1.1.2", "-json", "-time-scale", "0.2"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	var doc struct {
		Results []struct {
			ID      string `json:"id"`
			Verdict string `json:"verdict"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 1 || doc.Results[0].ID != "1.1.2" || doc.Results[0].Verdict != "FAILED" {
		t.Errorf("%+v", doc.Results)
	}
}

// tlsEchoURL is echoURL over TLS; it also returns the server's certificate
// as a PEM file.
func tlsEchoURL(t *testing.T) (url, caFile string) {
	srv := httptest.NewUnstartedServer(echoHandler(true))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return "wss" + strings.TrimPrefix(srv.URL, "https") + "/", caFile
}

// wss:// URLs: the certificate is trusted with -ca or not checked with
// -insecure; without either, the system's roots do not know it and every
// case fails in its TLS handshake.
func TestWSS(t *testing.T) {
	url, caFile := tlsEchoURL(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-ca", caFile}, 0, "2 cases in"},
		{[]string{"-insecure"}, 0, "2 cases in"},
		{nil, 1, "TLS handshake"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"-url", url, "-cases", "1.1.1,2.1", "-time-scale", "0.2"}, tc.args...)
		if code := run(args, &out, &errOut); code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: output lacks %q:\n%s", tc.args, tc.want, out.String())
		}
	}
}
