//go:build linux

package interop

// TestChromium runs testdata/browser.js in headless Chromium (Debian package
// chromium), driven over the Chrome DevTools Protocol (cdp_test.go): the
// browser's own WebSocket plays the scenario in a blank tab. Chromium
// always offers permessage-deflate; it has no API to send a ping, so that
// step is skipped.
//
// The browser is found at /usr/bin/chromium, as chromium, chromium-browser
// or google-chrome on PATH, or at $WSLOOP_CHROMIUM. The file is Linux-only
// because Chromium runs in a process group of its own (Setpgid) that is
// killed afterwards. The Chromium management below is copied from
// cmd/wsserver/browser_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	browserStartTimeout = 45 * time.Second // Chromium prints its DevTools URL
	cdpCallTimeout      = 15 * time.Second // one DevTools command
)

func TestChromium(t *testing.T) {
	t.Parallel()
	bin := findChromiumOrSkip(t)
	script, err := os.ReadFile(filepath.Join("testdata", "browser.js"))
	if err != nil {
		t.Fatal(err)
	}
	chrome := startChromium(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dialCtx, dialCancel := context.WithTimeout(ctx, cdpCallTimeout)
	cdp, err := dialCDP(dialCtx, chrome.devtoolsURL)
	dialCancel()
	if err != nil {
		t.Fatalf("%v\nChromium output:\n%s", err, chrome.out.tail(60))
	}
	var pages []*cdpPage
	// Registered after startChromium's cleanup, so it runs before it: close
	// the tabs and ask the browser to quit before its group is killed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, p := range pages {
			if err := p.closePage(ctx); err != nil {
				t.Logf("close tab: %v", err)
			}
		}
		_ = cdp.call(ctx, "", "Browser.close", nil, nil) // may drop the connection before answering
		cdp.close()
	})

	forEachMode(t, func(t *testing.T, compression bool) {
		h := startServer(t, compression)
		callCtx, cancel := context.WithTimeout(ctx, cdpCallTimeout)
		page, err := cdp.newPage(callCtx, "scenario")
		cancel()
		if page != nil {
			pages = append(pages, page)
		}
		if err != nil {
			t.Fatalf("open tab: %v", err)
		}
		urlJSON, _ := json.Marshal(h.url)
		expr := "(" + string(script) + ")(" + string(urlJSON) + ")"
		runCtx, cancel := context.WithTimeout(ctx, clientRunTimeout)
		defer cancel()
		var rep report
		start := time.Now()
		err = page.eval(runCtx, expr, &rep)
		t.Logf("the scenario ran for %v in the page", time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Errorf("run the scenario: %v", err)
			h.checkServerSide()
		} else {
			rep.check(t, compression, "ping")
			h.checkServerSide()
		}
		if t.Failed() {
			t.Logf("report:\n%s", rep.String())
			if ev := cdp.recentEvents(); len(ev) > 0 {
				t.Logf("DevTools events (console, exceptions, crashes):\n    %s", strings.Join(ev, "\n    "))
			}
			t.Logf("Chromium output (tail):\n%s", chrome.out.tail(60))
		}
	})
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
	missing(t, "%s", msg)
	return ""
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
