package server

import (
	"os"

	"golang.org/x/sys/unix"
)

const reusePortOption = unix.SO_REUSEPORT

func setReusePort(fd uintptr) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, reusePortOption, 1))
}

func reusePortSet(fd uintptr) bool {
	v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, reusePortOption)
	return err == nil && v != 0
}
