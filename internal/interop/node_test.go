package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNodeWS runs node/client.js with Node.js and the ws package pinned in
// node/package.json, which offers permessage-deflate by default. The
// package is installed by `npm ci` in node/ (node_modules is not in git).
func TestNodeWS(t *testing.T) {
	t.Parallel()
	node := findNodeWS(t)
	forEachMode(t, func(t *testing.T, m mode) {
		h := startServer(t, m)
		runScript(t, h, nil, node, filepath.Join("node", "client.js"))
	})
}

func findNodeWS(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "no node on PATH (%v): install Node.js (Debian: `apt-get install -y nodejs`), then `npm ci --prefix internal/interop/node`", err)
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "ws", "package.json")); err != nil {
		missing(t, "the ws package is not installed (%v): run `npm ci --prefix internal/interop/node`", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-p", "process.version + ' ws ' + require('ws/package.json').version")
	cmd.Dir = "node"
	out, err := cmd.CombinedOutput()
	if err != nil {
		missing(t, "%s cannot load ws (%v: %s): run `npm ci --prefix internal/interop/node`", node, err, strings.TrimSpace(string(out)))
	}
	t.Logf("%s: %s", node, strings.TrimSpace(string(out)))
	return node
}
