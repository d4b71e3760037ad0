//go:build !linux && !darwin && !freebsd

package server

import "net"

// Without a poller no listener is served by the workers: Serve accepts
// with goroutines. These stubs keep the package building.

type loopListener struct{ done chan struct{} }

func (s *Server) listenOnLoop(ln net.Listener) (*loopListener, error) {
	return nil, errNoDescriptor
}

func (s *Server) removeLoopListenerLocked(l *loopListener) {}

func (l *loopListener) release(p interface{ Remove(int) error }) {}

func (w *worker) acceptTurn(c *Client) {}
