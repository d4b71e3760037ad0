//go:build !linux && !darwin && !freebsd

package server

import "net"

// On systems without epoll or kqueue the server cannot run; these stubs keep
// the package building so that New and Serve can report poller.ErrUnsupported.

func detach(nc net.Conn) (int, error)             { return -1, errNoDescriptor }
func readFD(fd int, p []byte) (int, error)        { return 0, errUnsupported }
func writevFD(fd int, bufs [][]byte) (int, error) { return 0, errUnsupported }
func closeFD(fd int) error                        { return errUnsupported }
func shutdownWriteFD(fd int)                      {}
func writeFD(fd int, b []byte) (int, error)       { return 0, errUnsupported }

func fileConn(fd int) (net.Conn, error) { return nil, errNoDescriptor }
