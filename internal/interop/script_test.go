package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runScript runs a client program that plays the scenario against the
// server at url (its last argument) and prints its report as JSON on
// stdout, then checks the report and the server's side. For a wss:// URL
// the environment variable WSLOOP_CA names a PEM file with the server's
// certificate, the one the client is to trust. The program's stderr is
// shown when anything failed.
func runScript(t *testing.T, h *harness, skippable []string, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, h.url)...)
	cmd.Env = os.Environ()
	if h.cert != nil {
		cmd.Env = append(cmd.Env, "WSLOOP_CA="+h.cert.pemFile(t))
	}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("%s ran for %v", bin, time.Since(start).Round(time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("client stderr:\n%s", indent(stderr.String()))
		}
	}()
	if ctx.Err() != nil {
		t.Errorf("client %s did not finish within %v", bin, clientRunTimeout)
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Errorf("client %s exited with %v and printed no report (%v); stdout:\n%s", bin, runErr, err, indent(stdout.String()))
		h.checkServerSide()
		return
	}
	var exit *exec.ExitError
	if runErr != nil && !(errors.As(runErr, &exit) && exit.ExitCode() == 1) {
		// Exit status 1 is the script's "some step failed", which the
		// report tells; anything else is a crash.
		t.Errorf("client %s: %v", bin, runErr)
	}
	rep.check(t, h.mode.compression, skippable...)
	h.checkServerSide()
	if t.Failed() {
		t.Logf("report:\n%s", rep.String())
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (empty)"
	}
	const max = 8000
	if len(s) > max {
		s = "(...)" + s[len(s)-max:]
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
