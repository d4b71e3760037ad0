//go:build linux

package main

// TestBrowserChat drives the demo page in a real headless Chromium over the
// Chrome DevTools Protocol (see cdp_test.go): two tabs open the chat page
// served by an in-test server, one sends a message, and both must show it.
//
// It needs a Chromium binary: /usr/bin/chromium (Debian package chromium),
// chromium, chromium-browser or google-chrome on PATH, or the path in
// WSLOOP_CHROMIUM. Without one the test is skipped, except when CI is set,
// where a missing browser is a failure.
//
// The file is Linux-only because it puts Chromium in a process group of its
// own (Setpgid) and kills the whole group afterwards.

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
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsloop/wsloop/server"
)

// Timeouts are generous: the test must pass on a slow, shared 2-core
// machine running it with -race next to other packages' tests.
const (
	browserStartTimeout   = 45 * time.Second // Chromium prints its DevTools URL
	pageConnectTimeout    = 30 * time.Second // a page loads and its WebSocket opens
	messageTimeout        = 15 * time.Second // a chat line reaches the pages
	cdpCallTimeout        = 15 * time.Second // one DevTools command
	browserOverallTimeout = 3 * time.Minute
	pollInterval          = 100 * time.Millisecond
)

func TestBrowserChat(t *testing.T) {
	bin := findChromiumOrSkip(t)

	// The demo server, exactly as run builds it, on a free loopback port.
	srvLog := &lockedBuffer{}
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

	chrome := startChromium(t, bin)

	ctx, cancel := context.WithTimeout(context.Background(), browserOverallTimeout)
	defer cancel()
	bt := &browserTest{t: t, ctx: ctx, srv: srv, srvLog: srvLog, chrome: chrome}

	dialCtx, dialCancel := context.WithTimeout(ctx, cdpCallTimeout)
	cdp, err := dialCDP(dialCtx, chrome.devtoolsURL)
	dialCancel()
	if err != nil {
		bt.fatalf("%v", err)
	}
	bt.cdp = cdp
	// Registered after startChromium's cleanup, so it runs before it: close
	// the tabs and ask the browser to quit before its process group is killed.
	t.Cleanup(bt.closeBrowser)

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
		map[*cdpPage]string{pageA: joined})

	// Non-ASCII and markup in the text check UTF-8 end to end and that the
	// page shows messages as text.
	text := fmt.Sprintf("héllo <b>wsloop</b> & ✓ %d", time.Now().UnixNano())
	bt.send(pageA, text)

	said := fmt.Sprintf("client %d said: %s", idA, text)
	bt.waitForLines(messageTimeout, fmt.Sprintf("both pages to show %q", said),
		map[*cdpPage]string{pageA: said, pageB: said})

	// The page clears its input after sending, and neither page lost its
	// connection on the way.
	for _, p := range []*cdpPage{pageA, pageB} {
		st, err := bt.state(p)
		if err != nil {
			bt.fatalf("read page %s: %v", p.name, err)
		}
		if st.Status != "connected" {
			bt.fatalf("page %s: #status is %q after the exchange, want \"connected\"", p.name, st.Status)
		}
		for _, line := range st.Log {
			if line == "connection error" || strings.HasPrefix(line, "disconnected (") {
				bt.fatalf("page %s: unexpected line %q in #log", p.name, line)
			}
		}
		if p == pageA && st.Message != "" {
			bt.fatalf("page A: #message is %q after sending, want it cleared", st.Message)
		}
	}
}

// findChromiumOrSkip returns the browser to use, or skips the test (fails it
// under CI) when there is none.
func findChromiumOrSkip(t *testing.T) string {
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

// checkPageServed fetches the page once without a browser, so that a broken
// page handler fails with a plain message rather than a browser timeout.
func checkPageServed(t *testing.T, url string, srvLog *lockedBuffer) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v\nserver log:\n%s", url, err, srvLog.tail(40))
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

// chromium is a running browser in a process group of its own.
type chromium struct {
	cmd         *exec.Cmd
	pgid        int
	dir         string // the test's directory for the browser's files
	out         *outputTail
	devtoolsURL string
	exited      chan struct{} // closed once cmd.Wait has returned
	waitErr     error         // set before exited is closed
}

// startChromium starts the browser, waits for its DevTools URL and registers
// a cleanup that kills its whole process group.
func startChromium(t *testing.T, bin string) *chromium {
	t.Helper()
	dir := t.TempDir() // before the kill cleanup, so it is removed after it
	profile := filepath.Join(dir, "profile")
	args := []string{
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-background-networking",
		"--no-first-run",
		"--disable-component-update",
		"--disable-sync",
		"--disable-quic",
		"--remote-debugging-port=0",
		"--user-data-dir=" + profile,
		// For small containers and busy machines: no /dev/shm for shared
		// memory, and no throttling of the tab that is not in front.
		"--disable-dev-shm-usage",
		"--disable-background-timer-throttling",
		"--disable-renderer-backgrounding",
		"--disable-backgrounding-occluded-windows",
		"--no-default-browser-check",
		"about:blank",
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	// Keep Chromium's config and cache writes inside the test's directory.
	cmd.Env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
	)
	out := newOutputTail()
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", bin, err)
	}
	c := &chromium{cmd: cmd, pgid: cmd.Process.Pid, dir: dir, out: out, exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stop(t)
		cancel()
	})

	select {
	case c.devtoolsURL = <-out.devtools:
	case <-c.exited:
		t.Fatalf("%s exited before printing its DevTools URL: %v\nChromium output:\n%s", bin, c.waitErr, out.tail(60))
	case <-time.After(browserStartTimeout):
		t.Fatalf("%s did not print its DevTools URL within %v\nChromium output:\n%s", bin, browserStartTimeout, out.tail(60))
	}
	t.Logf("%s: %s", bin, c.devtoolsURL)
	return c
}

// stop gives the browser a moment to exit on its own (closeBrowser asked it
// to), kills its whole process group, and checks that nothing of it is left.
func (c *chromium) stop(t *testing.T) {
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Logf("Chromium did not exit within 10s of Browser.close; killing it")
	}
	// Always, even after the main process exited: its helpers (zygote,
	// renderers, GPU and network services) share its process group.
	if err := syscall.Kill(-c.pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill Chromium's process group %d: %v", c.pgid, err)
	}
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("Chromium (pid %d) still not reaped 20s after SIGKILL", c.pgid)
		return
	}
	// Chromium's crash handlers (chrome_crashpad_handler) run in sessions of
	// their own, outside the group; they quit by themselves once the
	// browser is gone. They are recognised by the test's directory, where
	// their crash database is. Give them time, then kill any left by pid.
	if left := c.waitGone(10 * time.Second); len(left) > 0 {
		t.Logf("killing Chromium processes left after the browser exited: %s", describe(left))
		for _, p := range left {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
		if left := c.waitGone(10 * time.Second); len(left) > 0 {
			t.Errorf("Chromium processes still alive after SIGKILL: %s", describe(left))
		}
	}
}

// waitGone waits up to timeout for every process of the browser to end and
// returns those still alive.
func (c *chromium) waitGone(timeout time.Duration) []proc {
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		left := liveProcesses(c.pgid, c.dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
	}
}

type proc struct {
	pid  int
	stat string // "pid (comm) state"
}

func describe(ps []proc) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.stat)
	}
	return strings.Join(s, "; ")
}

// liveProcesses lists the processes, other than zombies, that belong to the
// browser: those in process group pgid and those whose command line names
// dir.
func liveProcesses(pgid int, dir string) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var live []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...", where comm may hold anything.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if f[2] != strconv.Itoa(pgid) {
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !bytes.Contains(cmdline, []byte(dir+"/")) {
				continue
			}
		}
		live = append(live, proc{pid: pid, stat: strings.TrimSpace(s[:i+1]) + " " + f[0]})
	}
	return live
}

// browserTest holds what the steps of the test share, and what a failure
// message shows.
type browserTest struct {
	t      *testing.T
	ctx    context.Context
	srv    *server.Server
	srvLog *lockedBuffer
	chrome *chromium
	cdp    *cdpConn
	pages  []*cdpPage

	mu      sync.Mutex
	last    map[*cdpPage]pageState // newest state read from each page
	lastErr map[*cdpPage]error     // newest failure to read it
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

func (bt *browserTest) newPage(name string) *cdpPage {
	bt.t.Helper()
	ctx, cancel := bt.callCtx()
	defer cancel()
	p, err := bt.cdp.newPage(ctx, name)
	if p != nil {
		bt.pages = append(bt.pages, p)
	}
	if err != nil {
		bt.fatalf("open tab: %v", err)
	}
	return p
}

func (bt *browserTest) navigate(p *cdpPage, url string) {
	bt.t.Helper()
	ctx, cancel := context.WithTimeout(bt.ctx, pageConnectTimeout)
	defer cancel()
	if err := p.navigate(ctx, url); err != nil {
		bt.fatalf("%v", err)
	}
}

// state reads the page and remembers what it read for failure messages.
func (bt *browserTest) state(p *cdpPage) (pageState, error) {
	ctx, cancel := bt.callCtx()
	defer cancel()
	var st pageState
	err := p.eval(ctx, stateScript, &st)
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.last == nil {
		bt.last = make(map[*cdpPage]pageState)
		bt.lastErr = make(map[*cdpPage]error)
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

func (bt *browserTest) waitConnected(p *cdpPage) {
	bt.t.Helper()
	bt.poll(pageConnectTimeout, fmt.Sprintf("page %s's #status to say \"connected\"", p.name), func() bool {
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
func (bt *browserTest) waitForLines(timeout time.Duration, what string, want map[*cdpPage]string) {
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
func (bt *browserTest) send(p *cdpPage, text string) {
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
	if err := p.eval(ctx, script, &res); err != nil {
		bt.fatalf("send on page %s: %v", p.name, err)
	}
	if res != "ok" {
		bt.fatalf("send on page %s: %s", p.name, res)
	}
}

// closeBrowser closes the tabs and asks Chromium to quit, then drops the
// DevTools connection. Errors only go to the log: the process group is
// killed afterwards anyway.
func (bt *browserTest) closeBrowser() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range bt.pages {
		if err := p.closePage(ctx); err != nil {
			bt.t.Logf("close tab: %v", err)
		}
	}
	// Chromium may drop the connection before answering.
	_ = bt.cdp.call(ctx, "", "Browser.close", nil, nil)
	bt.cdp.close()
}

// fatalf fails the test with everything that helps explain why: what each
// page shows, DevTools events, the server's log and Chromium's output.
func (bt *browserTest) fatalf(format string, args ...any) {
	bt.t.Helper()
	bt.t.Fatalf(format+"\n"+bt.diagnostics(), args...)
}

func (bt *browserTest) diagnostics() string {
	var b strings.Builder
	// Read the pages once more, briefly, for the newest picture.
	if bt.cdp != nil && !isClosed(bt.cdp.done) {
		for _, p := range bt.pages {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			var st pageState
			if err := p.eval(ctx, stateScript, &st); err == nil {
				bt.mu.Lock()
				if bt.last == nil {
					bt.last = make(map[*cdpPage]pageState)
				}
				bt.last[p] = st
				bt.mu.Unlock()
			}
			cancel()
		}
	}
	bt.mu.Lock()
	for _, p := range bt.pages {
		st, ok := bt.last[p]
		if !ok {
			fmt.Fprintf(&b, "--- page %s: never read\n", p.name)
		} else {
			fmt.Fprintf(&b, "--- page %s: url=%s readyState=%s #status=%q #message=%q, #log (%d lines):\n",
				p.name, st.URL, st.Ready, st.Status, st.Message, len(st.Log))
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
		if ev := bt.cdp.recentEvents(); len(ev) > 0 {
			fmt.Fprintf(&b, "--- DevTools events (console, exceptions, crashes):\n    %s\n", strings.Join(ev, "\n    "))
		}
	}
	fmt.Fprintf(&b, "--- server log (tail):\n%s", bt.srvLog.tail(40))
	if bt.chrome != nil {
		fmt.Fprintf(&b, "--- Chromium output (tail):\n%s", bt.chrome.out.tail(60))
	}
	return b.String()
}

// outputTail keeps the last lines a process wrote and reports Chromium's
// "DevTools listening on ws://..." line.
type outputTail struct {
	mu       sync.Mutex
	partial  []byte
	lines    []string
	dropped  int
	devtools chan string // receives the DevTools URL once
	found    bool
	dbus     int // D-Bus complaints left out: noise in a container
}

const maxTailLines = 300

func newOutputTail() *outputTail {
	return &outputTail{devtools: make(chan string, 1)}
}

func (o *outputTail) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.addLine(strings.TrimRight(string(o.partial[:i]), "\r"))
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) > 64<<10 {
		o.addLine(string(o.partial))
		o.partial = nil
	}
	return len(p), nil
}

func (o *outputTail) addLine(line string) {
	const prefix = "DevTools listening on "
	if i := strings.Index(line, prefix); i >= 0 && !o.found {
		o.found = true
		o.devtools <- strings.TrimSpace(line[i+len(prefix):])
	}
	if strings.Contains(line, ":ERROR:dbus/") {
		o.dbus++
		return
	}
	o.lines = append(o.lines, line)
	if len(o.lines) > maxTailLines {
		o.dropped += len(o.lines) - maxTailLines
		o.lines = o.lines[len(o.lines)-maxTailLines:]
	}
}

// tail returns the last n lines, indented.
func (o *outputTail) tail(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := o.lines
	if len(o.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(o.partial))
	}
	skipped := o.dropped
	if len(lines) > n {
		skipped += len(lines) - n
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	if o.dbus > 0 {
		fmt.Fprintf(&b, "    (%d D-Bus error lines not shown)\n", o.dbus)
	}
	if skipped > 0 {
		fmt.Fprintf(&b, "    (%d earlier lines not shown)\n", skipped)
	}
	if len(lines) == 0 {
		b.WriteString("    (none)\n")
	}
	for _, l := range lines {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	return b.String()
}

// lockedBuffer is the server's log: written by its goroutines, read by
// failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// tail returns the last n lines, indented.
func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	s := strings.TrimRight(l.buf.String(), "\n")
	l.mu.Unlock()
	if s == "" {
		return "    (empty)\n"
	}
	lines := strings.Split(s, "\n")
	var b strings.Builder
	if len(lines) > n {
		fmt.Fprintf(&b, "    (%d earlier lines not shown)\n", len(lines)-n)
		lines = lines[len(lines)-n:]
	}
	for _, line := range lines {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	return b.String()
}
