//go:build !linux

package main

import "syscall"

// bindControl: nothing to set on this system.
func bindControl(network, address string, rc syscall.RawConn) error { return nil }

// portsPerTarget: a source address's ephemeral ports are shared by every
// target when the port is chosen at bind.
const portsPerTarget = false
