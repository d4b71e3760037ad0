//go:build !linux

package chromium

import "testing"

// process would be the browser's processes; Start runs none here.
type process struct{}

// Start skips the test: running Chromium in a process group of its own and
// finding what is left of it afterwards (through /proc) is Linux-only.
func Start(t testing.TB, bin string, args ...string) *Browser {
	t.Helper()
	t.Skipf("starting %s for a test is supported on Linux only", bin)
	return nil
}
