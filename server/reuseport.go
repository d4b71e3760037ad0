package server

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// ErrReusePortUnsupported is returned by ListenReusePort on systems
// without SO_REUSEPORT.
var ErrReusePortUnsupported = errors.New("server: SO_REUSEPORT is not supported on this system")

// ListenReusePort listens on TCP address addr (an empty address or host
// has the defaults of Server.Addr) with SO_REUSEPORT set, so that several
// processes, each with such a listener, share the port: on Linux,
// DragonFly and FreeBSD (SO_REUSEPORT_LB) the kernel spreads new
// connections over them; on macOS, NetBSD and OpenBSD they may bind the
// port but the kernel does not balance. Only processes of the same user
// can join a port on Linux.
//
// This is how to restart without a moment of refused connections: start
// the new process on the same port, then Drain the old one, which closes
// its listener at once so that new connections go to the new process, and
// then its clients, spread over the drain window. On Linux, set the sysctl
// net.ipv4.tcp_migrate_req to 1 (Linux 5.14 and later): connections
// waiting in the closed listener's accept queue then move to another
// listener on the port; without it the kernel resets them.
func ListenReusePort(addr string) (net.Listener, error) {
	addr, err := listenAddr(addr)
	if err != nil {
		return nil, err
	}
	if reusePortOption == 0 {
		return nil, ErrReusePortUnsupported
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setReusePort(fd) }); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}
