//go:build linux

package interop

// TestChromium runs testdata/browser.js in headless Chromium (Debian package
// chromium), driven over the Chrome DevTools Protocol (internal/chromium):
// the browser's own WebSocket plays the scenario in a blank tab. Chromium
// always offers permessage-deflate; it has no API to send a ping, so that
// step is skipped.
//
// The browser is found at /usr/bin/chromium, as chromium, chromium-browser
// or google-chrome on PATH, or at $WSLOOP_CHROMIUM. The file is Linux-only
// because internal/chromium starts the browser only there (in a process
// group of its own, killed afterwards).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsloop/wsloop/internal/chromium"
)

const cdpCallTimeout = 15 * time.Second // one DevTools command

func TestChromium(t *testing.T) {
	t.Parallel()
	bin := chromium.Find(t)
	script, err := os.ReadFile(filepath.Join("testdata", "browser.js"))
	if err != nil {
		t.Fatal(err)
	}
	// The wss:// runs' certificate is trusted by its public key, as
	// Chromium allows for tests (the switch needs --user-data-dir, which
	// Start gives it).
	chrome := chromium.Start(t, bin, "--ignore-certificate-errors-spki-list="+certificate(t).spki)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Connect's cleanup closes the tabs and asks the browser to quit before
	// Start's kills its process group.
	cdp, err := chrome.Connect(ctx)
	if err != nil {
		t.Fatalf("%v\nChromium output:\n%s", err, chrome.Output(60))
	}

	forEachMode(t, func(t *testing.T, m mode) {
		h := startServer(t, m)
		callCtx, cancel := context.WithTimeout(ctx, cdpCallTimeout)
		page, err := cdp.NewPage(callCtx, "scenario")
		cancel()
		if err != nil {
			t.Fatalf("open tab: %v", err)
		}
		urlJSON, _ := json.Marshal(h.url)
		expr := "(" + string(script) + ")(" + string(urlJSON) + ")"
		runCtx, cancel := context.WithTimeout(ctx, clientRunTimeout)
		defer cancel()
		var rep report
		start := time.Now()
		err = page.Eval(runCtx, expr, &rep)
		t.Logf("the scenario ran for %v in the page", time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Errorf("run the scenario: %v", err)
			h.checkServerSide()
		} else {
			rep.check(t, m.compression, "ping")
			h.checkServerSide()
		}
		if t.Failed() {
			t.Logf("report:\n%s", rep.String())
			if ev := cdp.RecentEvents(); len(ev) > 0 {
				t.Logf("DevTools events (console, exceptions, crashes):\n    %s", strings.Join(ev, "\n    "))
			}
			t.Logf("Chromium output (tail):\n%s", chrome.Output(60))
		}
	})
}
