// Package chromium runs a headless Chromium for tests and drives it over
// the Chrome DevTools Protocol. It serves the browser tests of
// cmd/wsserver and internal/interop:
//
//	bin := chromium.Find(t)          // or skip (fail under CI)
//	b := chromium.Start(t, bin)      // headless, killed in t's cleanup
//	conn, err := b.Connect(ctx)      // DevTools; tabs closed in t's cleanup
//	page, err := conn.NewPage(ctx, "A")
//	err = page.Navigate(ctx, url)
//	err = page.Eval(ctx, "(async () => 42)()", &n)
//
// The browser is found at $WSLOOP_CHROMIUM, /usr/bin/chromium (Debian
// package chromium), or as chromium, chromium-browser or google-chrome on
// PATH. Starting it is Linux-only: it runs in a process group of its own
// (Setpgid) that is killed afterwards, and /proc tells which of its
// processes are left. On other systems Start skips the test.
package chromium

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Timeouts are generous: tests must pass on a slow, shared 2-core machine
// running them with -race next to other packages' tests.
const (
	startTimeout   = 45 * time.Second // Chromium prints its DevTools URL
	dialTimeout    = 15 * time.Second // the DevTools WebSocket opens
	closeTimeout   = 10 * time.Second // tabs close and Browser.close is sent
	exitTimeout    = 10 * time.Second // Chromium exits after Browser.close
	reapTimeout    = 20 * time.Second // Chromium is reaped after SIGKILL
	leftoverWait   = 10 * time.Second // stray helpers (crashpad) end
	outputTailSize = 60               // lines of Chromium's output in messages
)

// Find returns the browser to use: $WSLOOP_CHROMIUM if set (the test fails
// when it cannot be found), else the first of /usr/bin/chromium, chromium,
// chromium-browser and google-chrome found. Without one it skips the test,
// or fails it when CI is set (and not "false" or "0"): CI installs it.
func Find(t testing.TB) string {
	t.Helper()
	if env := os.Getenv("WSLOOP_CHROMIUM"); env != "" {
		path, err := exec.LookPath(env)
		if err != nil {
			t.Fatalf("WSLOOP_CHROMIUM=%q: %v", env, err)
		}
		return path
	}
	tried := []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}
	for _, name := range tried {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("no Chromium found (tried %s and $WSLOOP_CHROMIUM); install it with `apt-get install -y chromium`",
		strings.Join(tried, ", "))
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("CI=%s: %s", ci, msg)
	}
	t.Skip(msg)
	return ""
}

// Browser is a running headless Chromium, started by Start.
type Browser struct {
	// DevToolsURL is the browser-level DevTools endpoint,
	// ws://127.0.0.1:PORT/devtools/browser/....
	DevToolsURL string

	t   testing.TB
	out *outputTail
	p   *process // what stopping the browser needs; see start_*.go
}

// Output returns the last n lines Chromium wrote to its stdout and stderr,
// indented, for failure messages. D-Bus complaints are left out.
func (b *Browser) Output(n int) string {
	return b.out.tail(n)
}

// Connect opens a DevTools connection to the browser and registers a
// cleanup, run before Start's, that closes the tabs opened through it, asks
// the browser to quit and drops the connection. Errors there only go to the
// log: the browser's processes are killed afterwards anyway.
func (b *Browser) Connect(ctx context.Context) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := dial(ctx, b.DevToolsURL)
	if err != nil {
		return nil, err
	}
	b.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		for _, p := range c.Pages() {
			if err := p.Close(ctx); err != nil {
				b.t.Logf("close tab: %v", err)
			}
		}
		// Chromium may drop the connection before answering.
		_ = c.Call(ctx, "", "Browser.close", nil, nil)
		c.Close()
	})
	return c, nil
}
