package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindControl sets IP_BIND_ADDRESS_NO_PORT on sockets bound to a source
// address: the kernel then picks the local port at connect, unique per
// (source, target) pair, instead of at bind, where it must be unique per
// source address and the search for a free one slows down as thousands are
// taken.
func bindControl(network, address string, rc syscall.RawConn) error {
	// On a kernel without the option (before 4.2) bind picks the port,
	// which only costs time: the error is not worth failing the dial for.
	return rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
}

// portsPerTarget: with IP_BIND_ADDRESS_NO_PORT a source address's ephemeral
// ports are counted per target.
const portsPerTarget = true
