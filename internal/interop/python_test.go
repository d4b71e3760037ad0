package interop

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPythonWebsockets runs testdata/client.py with Debian's Python and its
// websockets package (python3-websockets), which offers permessage-deflate
// by default. The Python first on PATH may be another one without the
// package, hence /usr/bin/python3; WSLOOP_PYTHON overrides it.
func TestPythonWebsockets(t *testing.T) {
	t.Parallel()
	python := findPythonWebsockets(t)
	forEachMode(t, func(t *testing.T, m mode) {
		h := startServer(t, m)
		runScript(t, h, nil, python, "testdata/client.py")
	})
}

func findPythonWebsockets(t *testing.T) string {
	t.Helper()
	python := os.Getenv("WSLOOP_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	const hint = "install it with `apt-get install -y python3-websockets` (or point WSLOOP_PYTHON at a Python that has websockets)"
	if _, err := exec.LookPath(python); err != nil {
		missing(t, "no %s: %v; %s", python, err, hint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", "import websockets.version; print(websockets.version.version)").CombinedOutput()
	if err != nil {
		missing(t, "%s cannot import websockets (%v: %s); %s", python, err, strings.TrimSpace(string(out)), hint)
	}
	t.Logf("%s: websockets %s", python, strings.TrimSpace(string(out)))
	return python
}
