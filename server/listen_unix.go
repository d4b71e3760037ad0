//go:build linux || darwin || freebsd

package server

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// loopListener is a listening socket whose connections the workers accept
// when the poller reports it readable: no goroutine waits in Accept, and a
// new connection is a descriptor registered once, with the poller, before
// its first byte is read.
type loopListener struct {
	ln     net.Listener
	client *Client       // stands for the listener in the table and the run queue
	done   chan struct{} // closed by close

	mu     sync.Mutex
	fd     int // a duplicate of ln's descriptor; -1 once closed; guarded by mu
	spare  int // a descriptor kept free for refusing a client when none is left; -1 if none
	delay  time.Duration
	warned time.Time // the last time running out of descriptors was logged
}

// acceptsPerTurn is how many connections a worker accepts before the
// listener goes to the back of the run queue.
const acceptsPerTurn = 64

// listenOnLoop registers ln's socket with the poller. It returns
// errNoDescriptor for a listener without one.
func (s *Server) listenOnLoop(ln net.Listener) (*loopListener, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, errNoDescriptor
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, errNoDescriptor
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl(O_NONBLOCK)", err)
	}
	l := &loopListener{ln: ln, fd: fd, spare: openSpare(), done: make(chan struct{})}
	l.client = &Client{srv: s, fd: int32(fd), isListener: true, state: stListener}
	s.mu.Lock()
	if s.state.Load() != serving {
		s.mu.Unlock()
		l.release(nil)
		return nil, ErrServerClosed
	}
	s.setTableLocked(fd, l.client)
	if s.lns == nil {
		s.lns = make(map[*Client]*loopListener)
	}
	s.lns[l.client] = l
	s.mu.Unlock()
	if err := s.poll.Add(fd); err != nil {
		s.mu.Lock()
		s.setTableLocked(fd, nil)
		delete(s.lns, l.client)
		s.mu.Unlock()
		l.release(nil)
		return nil, err
	}
	// Connections may have queued before the registration.
	l.client.schedule(needRead)
	return l, nil
}

// openSpare opens a descriptor to give up when accept finds none left.
func openSpare() int {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// removeLoopListenerLocked takes l out of the table; s.mu must be held.
// The caller then calls l.release, without s.mu.
func (s *Server) removeLoopListenerLocked(l *loopListener) {
	if s.lns[l.client] == nil {
		return
	}
	s.setTableLocked(int(l.client.fd), nil)
	delete(s.lns, l.client)
}

// release closes the listener's descriptors and ends Serve.
func (l *loopListener) release(p interface{ Remove(int) error }) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return
	}
	if p != nil {
		p.Remove(l.fd) // before the close: ln's descriptor keeps the socket open
	}
	unix.Close(l.fd)
	l.fd = -1
	if l.spare >= 0 {
		unix.Close(l.spare)
		l.spare = -1
	}
	l.ln.Close()
	close(l.done)
}

// acceptTurn accepts up to acceptsPerTurn connections and registers each
// as a client in its handshake. The listener is requeued while more may be
// waiting.
func (w *worker) acceptTurn(c *Client) {
	s := w.s
	c.mu.Lock()
	c.reasons = 0
	c.mu.Unlock()
	s.mu.RLock()
	l := s.lns[c]
	s.mu.RUnlock()
	more := false
	if l != nil {
		more = w.accept(l)
	}
	c.mu.Lock()
	if more || c.reasons != 0 {
		s.runq.push(c)
	} else {
		c.sched = false
	}
	c.mu.Unlock()
}

// accept takes connections off the listener; it reports whether more may
// be waiting. l.mu is held only around accept itself, never while a client
// is registered (which takes s.mu, held by those who close listeners).
func (w *worker) accept(l *loopListener) bool {
	s := w.s
	for i := 0; i < acceptsPerTurn; i++ {
		l.mu.Lock()
		if l.fd < 0 {
			l.mu.Unlock()
			return false
		}
		fd, sa, err := acceptFD(l.fd)
		more := true
		switch {
		case err == nil:
			l.delay = 0
		case err == unix.EAGAIN:
			more = false
		case err == unix.EINTR, err == unix.ECONNABORTED:
		case err == unix.EMFILE, err == unix.ENFILE, err == unix.ENOBUFS, err == unix.ENOMEM:
			more = s.outOfDescriptors(l, err)
		default:
			s.log.Error("accept failed", "err", os.NewSyscallError("accept", err))
			more = s.backOff(l)
		}
		l.mu.Unlock()
		if err == nil {
			s.adopt(fd, sa)
		}
		if !more {
			return false
		}
	}
	return true
}

// outOfDescriptors answers the next waiting connection with 503 using the
// spare descriptor, so that clients get an answer instead of a wait, and
// backs off when even that is impossible. l.mu must be held.
func (s *Server) outOfDescriptors(l *loopListener, err error) bool {
	if now := time.Now(); now.Sub(l.warned) > time.Second {
		l.warned = now
		s.log.Error("accept failed: out of descriptors; refusing new clients with 503", "err", os.NewSyscallError("accept", err))
	}
	if l.spare < 0 {
		if l.spare = openSpare(); l.spare < 0 {
			return s.backOff(l)
		}
	}
	unix.Close(l.spare)
	l.spare = -1
	fd, _, aerr := acceptFD(l.fd)
	if aerr == nil {
		s.stats.refusedStatus(503)
		refuseFD(fd, refusal(503, "server out of resources"))
	}
	l.spare = openSpare()
	if aerr != nil || l.spare < 0 {
		return s.backOff(l)
	}
	return true
}

// backOff stops accepting on l for a while (5 ms, doubling up to 1 s) and
// schedules it again afterwards. l.mu must be held.
func (s *Server) backOff(l *loopListener) bool {
	l.delay = min(max(2*l.delay, 5*time.Millisecond), time.Second)
	c := l.client
	time.AfterFunc(l.delay, func() { c.schedule(needRead) })
	return false
}

// refuseFD writes an HTTP error to a connection nobody will serve and
// closes it. Whatever the client already sent is read first, so that the
// close does not reset the connection under the response.
func refuseFD(fd int, resp []byte) {
	var discard [4096]byte
	unix.Read(fd, discard[:])
	unix.Write(fd, resp)
	unix.Shutdown(fd, unix.SHUT_WR)
	unix.Read(fd, discard[:])
	unix.Close(fd)
}

// sockaddrAddrPort converts an accepted peer address.
func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// setNoDelay turns off Nagle's algorithm on a TCP socket, as the Go
// runtime does for every TCP connection: frames leave when written.
func setNoDelay(fd int, sa unix.Sockaddr) {
	switch sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
}

// adopt registers a connection a worker accepted as a client in its
// handshake. The poller reports it readable when its request arrives (or
// at once, if it already has); until then it is a descriptor and a few
// hundred bytes.
func (s *Server) adopt(fd int, sa unix.Sockaddr) {
	setNoDelay(fd, sa)
	addr := sockaddrAddrPort(sa)
	if s.ProxyProtocol && !s.proxyTrusted(addr) {
		s.log.Warn("PROXY protocol: connection from an untrusted address closed", "peer", addr)
		s.stats.handshakeFailures.Add(1)
		unix.Close(fd)
		return
	}
	c := &Client{id: s.nextID.Add(1), srv: s, fd: int32(fd), addr: addr, state: stHandshake,
		hs: &handshakeState{req: &Request{}}}
	c.readDeadline.Store(s.deadline(s.handshakeTimeout()))
	if err := s.register(c); err != nil {
		unix.Close(fd)
	}
}
