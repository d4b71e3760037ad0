package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func echoURL(t *testing.T, echo bool) string {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-bogus"},
		{"-url", "http://127.0.0.1:1/"},
		{"-url", "wss://127.0.0.1:1/"},
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
