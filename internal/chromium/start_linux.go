//go:build linux

package chromium

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// process is the browser's main process, the leader of a process group of
// its own.
type process struct {
	cmd     *exec.Cmd
	pgid    int
	dir     string        // the test's directory for the browser's files
	exited  chan struct{} // closed once cmd.Wait has returned
	waitErr error         // set before exited is closed
}

// Start starts bin headless with remote debugging on a free port, its
// profile, config and cache in a temporary directory, and waits for its
// DevTools URL. args are more command-line switches for the browser (such
// as --ignore-certificate-errors-spki-list=HASH, to trust a test's
// certificate). It registers a cleanup that gives the browser a moment to
// exit on its own (Connect's cleanup asks it to), kills its whole process
// group, and waits for its stray crash handlers to end.
func Start(t testing.TB, bin string, extra ...string) *Browser {
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
	}
	args = append(append(args, extra...), "about:blank")
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
	p := &process{cmd: cmd, pgid: cmd.Process.Pid, dir: dir, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		cancel()
	})

	b := &Browser{t: t, out: out, p: p}
	select {
	case b.DevToolsURL = <-out.devtools:
	case <-p.exited:
		t.Fatalf("%s exited before printing its DevTools URL: %v\nChromium output:\n%s", bin, p.waitErr, out.tail(outputTailSize))
	case <-time.After(startTimeout):
		t.Fatalf("%s did not print its DevTools URL within %v\nChromium output:\n%s", bin, startTimeout, out.tail(outputTailSize))
	}
	t.Logf("%s: %s", bin, b.DevToolsURL)
	return b
}

// stop gives the browser a moment to exit on its own, kills its whole
// process group, and checks that nothing of it is left.
func (p *process) stop(t testing.TB) {
	select {
	case <-p.exited:
	case <-time.After(exitTimeout):
		t.Logf("Chromium did not exit within %v of Browser.close; killing it", exitTimeout)
	}
	// Always, even after the main process exited: its helpers (zygote,
	// renderers, GPU and network services) share its process group.
	if err := syscall.Kill(-p.pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill Chromium's process group %d: %v", p.pgid, err)
	}
	select {
	case <-p.exited:
	case <-time.After(reapTimeout):
		t.Errorf("Chromium (pid %d) still not reaped %v after SIGKILL", p.pgid, reapTimeout)
		return
	}
	// Chromium's crash handlers (chrome_crashpad_handler) run in sessions of
	// their own, outside the group; they quit by themselves once the
	// browser is gone. They are recognised by the test's directory, where
	// their crash database is. Give them time, then kill any left by pid.
	if left := p.waitGone(leftoverWait); len(left) > 0 {
		t.Logf("killing Chromium processes left after the browser exited: %s", describe(left))
		for _, lp := range left {
			syscall.Kill(lp.pid, syscall.SIGKILL)
		}
		if left := p.waitGone(leftoverWait); len(left) > 0 {
			t.Errorf("Chromium processes still alive after SIGKILL: %s", describe(left))
		}
	}
}

// waitGone waits up to timeout for every process of the browser to end and
// returns those still alive.
func (p *process) waitGone(timeout time.Duration) []proc {
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		left := liveProcesses(p.pgid, p.dir)
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
