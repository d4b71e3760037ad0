package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as a wsbench child process: runs with
// -procs start the running executable, which is the test binary here.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
