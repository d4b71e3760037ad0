//go:build !linux && !darwin && !freebsd

package server

import "net"

// loopListenerLocked: without a poller, no listener is served by the
// workers.
func (s *Server) loopListenerLocked(ln net.Listener) *loopListener { return nil }
