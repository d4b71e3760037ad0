//go:build linux

package main

// TestBrowserChat drives the demo page in a real headless Chromium over the
// Chrome DevTools Protocol (see internal/chromium): two tabs open the chat
// page served by an in-test server, one sends a message, and both must show
// it.
//
// It needs a Chromium binary: /usr/bin/chromium (Debian package chromium),
// chromium, chromium-browser or google-chrome on PATH, or the path in
// WSLOOP_CHROMIUM. Without one the test is skipped, except when CI is set,
// where a missing browser is a failure.
//
// The file is Linux-only because internal/chromium starts the browser only
// there (in a process group of its own, killed afterwards).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsloop/wsloop/internal/chromium"
	"github.com/wsloop/wsloop/internal/testlog"
	"github.com/wsloop/wsloop/server"
)

// Timeouts are generous: the test must pass on a slow, shared 2-core
// machine running it with -race next to other packages' tests.
const (
	pageConnectTimeout    = 30 * time.Second // a page loads and its WebSocket opens
	messageTimeout        = 15 * time.Second // a chat line reaches the pages
	cdpCallTimeout        = 15 * time.Second // one DevTools command
	browserOverallTimeout = 3 * time.Minute
	pollInterval          = 100 * time.Millisecond
)

func TestBrowserChat(t *testing.T) {
	bin := chromium.Find(t)

	// The demo server, exactly as run builds it, on a free loopback port.
	srvLog := &testlog.Buffer{}
	logger := slog.New(slog.NewTextHandler(srvLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newServer("chat", logger)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-served:
			if !errors.Is(err, server.ErrServerClosed) {
				t.Errorf("Serve returned %v, want %v", err, server.ErrServerClosed)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Serve did not return within 15s of Close")
		}
	})
	pageURL := "http://" + ln.Addr().String() + "/"
	checkPageServed(t, pageURL, srvLog)

	ctx, cancel := context.WithTimeout(context.Background(), browserOverallTimeout)
	defer cancel()
	bt := startBrowser(ctx, t, bin, srv, srvLog)

	pageA := bt.newPage("A")
	pageB := bt.newPage("B")

	// A first, then B, so that the server's newest client is B.
	bt.navigate(pageA, pageURL)
	bt.waitConnected(pageA)
	idA := bt.waitNewClient(nil)
	bt.navigate(pageB, pageURL)
	bt.waitConnected(pageB)
	idB := bt.waitNewClient([]uint64{idA})

	joined := fmt.Sprintf("client %d has joined", idB)
	bt.waitForLines(messageTimeout, fmt.Sprintf("page A to show B's join %q", joined),
		map[*chromium.Page]string{pageA: joined})

	// Non-ASCII and markup in the text check UTF-8 end to end and that the
	// page shows messages as text.
	text := fmt.Sprintf("héllo <b>wsloop</b> & ✓ %d", time.Now().UnixNano())
	bt.send(pageA, text)

	said := fmt.Sprintf("client %d said: %s", idA, text)
	bt.waitForLines(messageTimeout, fmt.Sprintf("both pages to show %q", said),
		map[*chromium.Page]string{pageA: said, pageB: said})

	// The page clears its input after sending, and neither page lost its
	// connection on the way.
	for _, p := range []*chromium.Page{pageA, pageB} {
		st, err := bt.state(p)
		if err != nil {
			bt.fatalf("read page %s: %v", p.Name(), err)
		}
		if st.Status != "connected" {
			bt.fatalf("page %s: #status is %q after the exchange, want \"connected\"", p.Name(), st.Status)
		}
		for _, line := range st.Log {
			if line == "connection error" || strings.HasPrefix(line, "disconnected (") {
				bt.fatalf("page %s: unexpected line %q in #log", p.Name(), line)
			}
		}
		if p == pageA && st.Message != "" {
			bt.fatalf("page A: #message is %q after sending, want it cleared", st.Message)
		}
	}

	// Rooms. Page C opens /room/blue: its room comes from the address.
	// Page D opens / (the common room), then types "blue" into the room
	// field and reconnects.
	pageC := bt.newPage("C")
	bt.navigate(pageC, pageURL+"room/blue")
	bt.waitConnected(pageC)
	idC := bt.waitNewClient([]uint64{idA, idB})
	pageD := bt.newPage("D")
	bt.navigate(pageD, pageURL)
	bt.waitConnected(pageD)
	idD0 := bt.waitNewClient([]uint64{idA, idB, idC})
	bt.run(pageD, `(() => { document.getElementById("disconnect").click(); return "ok"; })()`)
	bt.poll(pageConnectTimeout, "page D to disconnect", func() bool {
		st, err := bt.state(pageD)
		return err == nil && st.Status == "disconnected"
	})
	bt.waitClientGone(idD0)
	bt.run(pageD, `(() => { document.getElementById("room").value = "blue"; document.getElementById("connect").click(); return "ok"; })()`)
	bt.waitConnected(pageD)
	idD := bt.waitNewClient([]uint64{idA, idB, idC})
	if rooms := bt.clientRooms(idD); !slices.Equal(rooms, []string{"blue"}) {
		bt.fatalf("client D is in rooms %q, want [blue]", rooms)
	}
	if rooms := bt.clientRooms(idC); !slices.Equal(rooms, []string{"blue"}) {
		bt.fatalf("client C is in rooms %q, want [blue]", rooms)
	}
	dJoined := fmt.Sprintf("client %d has joined", idD)
	bt.waitForLines(messageTimeout, fmt.Sprintf("page C to show D's join %q", dJoined),
		map[*chromium.Page]string{pageC: dJoined})

	inBlue := fmt.Sprintf("in the blue room %d", time.Now().UnixNano())
	bt.send(pageC, inBlue)
	saidBlue := fmt.Sprintf("client %d said: %s", idC, inBlue)
	bt.waitForLines(messageTimeout, fmt.Sprintf("pages C and D to show %q", saidBlue),
		map[*chromium.Page]string{pageC: saidBlue, pageD: saidBlue})
	// The common room is everyone: B's message there reaches all four
	// pages, while the blue room's stayed with its members.
	inCommon := fmt.Sprintf("in the common room %d", time.Now().UnixNano())
	bt.send(pageB, inCommon)
	saidCommon := fmt.Sprintf("client %d said: %s", idB, inCommon)
	bt.waitForLines(messageTimeout, fmt.Sprintf("every page to show %q", saidCommon),
		map[*chromium.Page]string{pageA: saidCommon, pageB: saidCommon, pageC: saidCommon, pageD: saidCommon})
	for _, p := range []*chromium.Page{pageA, pageB} {
		st, err := bt.state(p)
		if err != nil {
			bt.fatalf("read page %s: %v", p.Name(), err)
		}
		if slices.Contains(st.Log, saidBlue) {
			bt.fatalf("page %s, in the common room only, shows the blue room's %q", p.Name(), saidBlue)
		}
	}
	if st, _ := bt.state(pageD); !strings.HasSuffix(st.URL, "/room/blue") {
		bt.fatalf("page D's address is %s after joining blue, want it to end in /room/blue", st.URL)
	}
}

// run evaluates a script that returns a string in the page, failing the
// test on an error.
func (bt *browserTest) run(p *chromium.Page, script string) {
	bt.t.Helper()
	ctx, cancel := bt.callCtx()
	defer cancel()
	var res string
	if err := p.Eval(ctx, script, &res); err != nil {
		bt.fatalf("page %s: %v", p.Name(), err)
	}
}

// waitClientGone waits until the server no longer has client id.
func (bt *browserTest) waitClientGone(id uint64) {
	bt.t.Helper()
	bt.poll(pageConnectTimeout, fmt.Sprintf("client %d to leave", id), func() bool {
		for _, c := range bt.srv.Clients() {
			if c.ID() == id {
				return false
			}
		}
		return true
	})
}

// clientRooms returns the rooms the server has client id in.
func (bt *browserTest) clientRooms(id uint64) []string {
	for _, c := range bt.srv.Clients() {
		if c.ID() == id {
			return c.Rooms()
		}
	}
	bt.fatalf("no client %d", id)
	return nil
}

// checkPageServed fetches the page once without a browser, so that a broken
// page handler fails with a plain message rather than a browser timeout.
func checkPageServed(t *testing.T, url string, srvLog *testlog.Buffer) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v\nserver log:\n%s", url, err, srvLog.Tail(40))
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="status"`)) {
		t.Fatalf("GET %s: %s, %d bytes without the chat page's #status:\n%.500s", url, resp.Status, len(body), body)
	}
}

// browserTest holds what the steps of the test share, and what a failure
// message shows.
// startBrowser starts headless Chromium (bin, with extra flags) and
// connects to it for a test of srv, whose log is srvLog.
func startBrowser(ctx context.Context, t *testing.T, bin string, srv *server.Server, srvLog *testlog.Buffer, flags ...string) *browserTest {
	chrome := chromium.Start(t, bin, flags...)
	bt := &browserTest{t: t, ctx: ctx, srv: srv, srvLog: srvLog, chrome: chrome}
	// Connect's cleanup closes the tabs and asks the browser to quit before
	// Start's kills its process group.
	cdp, err := chrome.Connect(ctx)
	if err != nil {
		bt.fatalf("%v", err)
	}
	bt.cdp = cdp
	return bt
}

type browserTest struct {
	t      *testing.T
	ctx    context.Context
	srv    *server.Server
	srvLog *testlog.Buffer
	chrome *chromium.Browser
	cdp    *chromium.Conn

	mu      sync.Mutex
	last    map[*chromium.Page]pageState // newest state read from each page
	lastErr map[*chromium.Page]error     // newest failure to read it
}

// pageState is what the test reads from the chat page.
type pageState struct {
	URL     string   `json:"url"`
	Ready   string   `json:"ready"`
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Log     []string `json:"log"`
}

const stateScript = `(() => {
  const el = (id) => document.getElementById(id);
  return {
    url: location.href,
    ready: document.readyState,
    status: el("status") ? el("status").textContent : "",
    message: el("message") ? el("message").value : "",
    log: el("log") ? Array.from(el("log").children, (d) => d.textContent) : [],
  };
})()`

func (bt *browserTest) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(bt.ctx, cdpCallTimeout)
}

func (bt *browserTest) newPage(name string) *chromium.Page {
	bt.t.Helper()
	ctx, cancel := bt.callCtx()
	defer cancel()
	p, err := bt.cdp.NewPage(ctx, name)
	if err != nil {
		bt.fatalf("open tab: %v", err)
	}
	return p
}

func (bt *browserTest) navigate(p *chromium.Page, url string) {
	bt.t.Helper()
	ctx, cancel := context.WithTimeout(bt.ctx, pageConnectTimeout)
	defer cancel()
	if err := p.Navigate(ctx, url); err != nil {
		bt.fatalf("%v", err)
	}
}

// state reads the page and remembers what it read for failure messages.
func (bt *browserTest) state(p *chromium.Page) (pageState, error) {
	ctx, cancel := bt.callCtx()
	defer cancel()
	var st pageState
	err := p.Eval(ctx, stateScript, &st)
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.last == nil {
		bt.last = make(map[*chromium.Page]pageState)
		bt.lastErr = make(map[*chromium.Page]error)
	}
	if err != nil {
		bt.lastErr[p] = err
	} else {
		bt.last[p] = st
		delete(bt.lastErr, p)
	}
	return st, err
}

// poll calls check until it reports done or timeout passes; then it fails
// the test, saying what it waited for. Failures to read a page while it
// loads are expected and retried.
func (bt *browserTest) poll(timeout time.Duration, what string, check func() bool) {
	bt.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		if check() {
			bt.t.Logf("waited %v for %s", time.Since(start).Round(time.Millisecond), what)
			return
		}
		if time.Now().After(deadline) || bt.ctx.Err() != nil {
			bt.fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval)
	}
}

func (bt *browserTest) waitConnected(p *chromium.Page) {
	bt.t.Helper()
	bt.poll(pageConnectTimeout, fmt.Sprintf("page %s's #status to say \"connected\"", p.Name()), func() bool {
		st, err := bt.state(p)
		return err == nil && st.Status == "connected"
	})
}

// waitNewClient waits until the server has exactly one client beyond known
// and returns its ID. A page's socket opens a moment before the server has
// registered the client, hence the wait.
func (bt *browserTest) waitNewClient(known []uint64) uint64 {
	bt.t.Helper()
	var id uint64
	var ids []uint64
	bt.poll(pageConnectTimeout, fmt.Sprintf("the server to have %d client(s)", len(known)+1), func() bool {
		ids = ids[:0]
		for _, c := range bt.srv.Clients() {
			ids = append(ids, c.ID())
		}
		if len(ids) != len(known)+1 {
			return false
		}
		for _, x := range ids {
			if !slices.Contains(known, x) {
				id = x
				return true
			}
		}
		return false
	})
	return id
}

// waitForLines waits until each page's #log has its line.
func (bt *browserTest) waitForLines(timeout time.Duration, what string, want map[*chromium.Page]string) {
	bt.t.Helper()
	bt.poll(timeout, what, func() bool {
		for p, line := range want {
			st, err := bt.state(p)
			if err != nil || !slices.Contains(st.Log, line) {
				return false
			}
		}
		return true
	})
}

// send types text into the page's #message and clicks #send.
func (bt *browserTest) send(p *chromium.Page, text string) {
	bt.t.Helper()
	lit, err := json.Marshal(text) // a JSON string is a JavaScript string literal
	if err != nil {
		bt.t.Fatal(err)
	}
	script := fmt.Sprintf(`(() => {
  const m = document.getElementById("message"), b = document.getElementById("send");
  if (!m || !b) return "page has no #message or #send";
  if (m.disabled || b.disabled) return "#message or #send is disabled";
  m.value = %s;
  b.click();
  return "ok";
})()`, lit)
	ctx, cancel := bt.callCtx()
	defer cancel()
	var res string
	if err := p.Eval(ctx, script, &res); err != nil {
		bt.fatalf("send on page %s: %v", p.Name(), err)
	}
	if res != "ok" {
		bt.fatalf("send on page %s: %s", p.Name(), res)
	}
}

// fatalf fails the test with everything that helps explain why: what each
// page shows, DevTools events, the server's log and Chromium's output.
func (bt *browserTest) fatalf(format string, args ...any) {
	bt.t.Helper()
	bt.t.Fatalf(format+"\n"+bt.diagnostics(), args...)
}

func (bt *browserTest) diagnostics() string {
	var b strings.Builder
	var pages []*chromium.Page // the tabs opened, even those not attached
	if bt.cdp != nil {
		pages = bt.cdp.Pages()
	}
	// Read the pages once more, briefly, for the newest picture.
	if bt.cdp != nil && !bt.cdp.Closed() {
		for _, p := range pages {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			var st pageState
			if err := p.Eval(ctx, stateScript, &st); err == nil {
				bt.mu.Lock()
				if bt.last == nil {
					bt.last = make(map[*chromium.Page]pageState)
				}
				bt.last[p] = st
				bt.mu.Unlock()
			}
			cancel()
		}
	}
	bt.mu.Lock()
	for _, p := range pages {
		st, ok := bt.last[p]
		if !ok {
			fmt.Fprintf(&b, "--- page %s: never read\n", p.Name())
		} else {
			fmt.Fprintf(&b, "--- page %s: url=%s readyState=%s #status=%q #message=%q, #log (%d lines):\n",
				p.Name(), st.URL, st.Ready, st.Status, st.Message, len(st.Log))
			for _, line := range st.Log {
				fmt.Fprintf(&b, "    | %s\n", line)
			}
		}
		if err := bt.lastErr[p]; err != nil {
			fmt.Fprintf(&b, "    last read error: %v\n", err)
		}
	}
	bt.mu.Unlock()
	if bt.cdp != nil {
		if ev := bt.cdp.RecentEvents(); len(ev) > 0 {
			fmt.Fprintf(&b, "--- DevTools events (console, exceptions, crashes):\n    %s\n", strings.Join(ev, "\n    "))
		}
	}
	fmt.Fprintf(&b, "--- server log (tail):\n%s", bt.srvLog.Tail(40))
	if bt.chrome != nil {
		fmt.Fprintf(&b, "--- Chromium output (tail):\n%s", bt.chrome.Output(60))
	}
	return b.String()
}
