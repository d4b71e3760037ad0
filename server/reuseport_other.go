//go:build !linux && !freebsd && !darwin && !dragonfly && !netbsd && !openbsd

package server

const reusePortOption = 0

func setReusePort(fd uintptr) error { return ErrReusePortUnsupported }

func reusePortSet(fd uintptr) bool { return false }
