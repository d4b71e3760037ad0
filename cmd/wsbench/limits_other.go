//go:build !unix

package main

import "time"

// raiseFileLimit: the open-file limit is unknown on this OS; no check is made.
func raiseFileLimit() (soft, hard uint64, ok bool) { return 0, 0, false }

// processCPU: CPU time is not measured on this OS.
func processCPU() (user, sys time.Duration, ok bool) { return 0, 0, false }

// ephemeralPorts: unknown on this OS.
func ephemeralPorts() int { return 0 }
