package server

// ServeWithGoroutines makes s serve every connection the way it does where
// the system has no poller: a goroutine per handshake, then a reader and a
// writer goroutine per client. Tests use it to run that path on Linux.
func ServeWithGoroutines(s *Server) { s.noPoller = true }
