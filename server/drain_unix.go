//go:build linux || darwin || freebsd

package server

import "net"

// loopListenerLocked returns the workers' listener serving ln, if any.
// s.mu must be held.
func (s *Server) loopListenerLocked(ln net.Listener) *loopListener {
	for _, l := range s.lns {
		if l.ln == ln {
			return l
		}
	}
	return nil
}
