package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// StatusServiceRestart is close code 1012 (Service Restart, in IANA's
// registry of WebSocket close codes): the server is going away for a
// while; the client should reconnect, and will land on another instance.
// Drain closes clients with it.
const StatusServiceRestart ws.StatusCode = 1012

// ErrDraining is returned by Drain when a drain is already under way.
var ErrDraining = errors.New("server: already draining")

// drainState is what Drain and Ready share.
type drainState struct {
	on atomic.Bool // Drain has begun
}

// drainPoll is how often Drain looks for clients still connected once
// every client was asked to close.
const drainPoll = 20 * time.Millisecond

// Ready reports whether the server takes new clients: it serves, is not
// draining or shutting down, and DenyNewConnections is not in force. It is
// what a readiness check (/readyz, a load balancer's health check) should
// answer.
func (s *Server) Ready() bool {
	return s.state.Load() == serving && !s.drain.on.Load() && s.denied.Load() == nil
}

// Drain takes the server out of service without a reconnect storm, for a
// restart or a scale-down behind a load balancer:
//
//  1. At once, Ready turns false and new handshakes are refused with 503
//     Service Unavailable. A listener that shares its port with other
//     processes (SO_REUSEPORT, see ListenReusePort) is closed instead, so
//     that the kernel sends new connections to the others, and handshakes
//     under way on it complete: a rolling restart loses none.
//  2. After DrainDelay, time for load balancers to see the server is not
//     ready, the clients connected then are closed with close code 1012
//     (StatusServiceRestart), their queued output sent first, spread evenly
//     over window: with 10,000 clients and a 10 s window, 1,000 a second
//     reconnect elsewhere, not 10,000 at once. Clients that arrive
//     meanwhile are closed at the end of the window.
//  3. Drain returns nil once the last client is gone and OnClientLeft has
//     run for it, or an error once DrainDelay + window + CloseTimeout has
//     passed with clients still connected, or ctx's error if ctx ends
//     first.
//
// The server keeps running (plain HTTP requests, such as health checks,
// are still served): call Shutdown or Close afterwards. Drain returns
// ErrServerClosed if the server is shutting down, and ErrDraining if
// another Drain is under way.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	if s.state.Load() != serving {
		return ErrServerClosed
	}
	if !s.drain.on.CompareAndSwap(false, true) {
		return ErrDraining
	}
	if err := s.start(); err != nil {
		return err
	}
	window = max(window, 0)
	closedShared := s.stopTaking()
	s.log.Info("draining", "clients", s.Len(), "window", window, "delay", s.DrainDelay,
		"reuseport_listeners_closed", closedShared)

	if s.DrainDelay > 0 {
		t := time.NewTimer(s.DrainDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}

	start := time.Now()
	clients := s.Clients()
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for i, c := range clients {
		if s.state.Load() != serving {
			return ErrServerClosed
		}
		due := start.Add(window * time.Duration(i) / time.Duration(len(clients)))
		if d := time.Until(due); d > time.Millisecond {
			t.Reset(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		c.Close(StatusServiceRestart, "service restart")
	}

	// Wait for the clients to answer; close those that joined meanwhile.
	if d := time.Until(start.Add(window)); d > 0 {
		t.Reset(d)
	} else {
		t.Reset(0)
	}
	ending := false
	deadline := start.Add(window + s.closeTimeout())
	for {
		if s.live.Load() == 0 {
			s.log.Info("drained")
			return nil
		}
		if s.state.Load() != serving {
			return ErrServerClosed
		}
		if ending {
			for _, c := range s.Clients() {
				c.Close(StatusServiceRestart, "service restart")
			}
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("server: drain window and close timeout over with %d clients connected", s.Len())
		}
		select {
		case <-t.C:
			ending = true
			t.Reset(drainPoll)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stopTaking makes the server take no new clients: listeners that share
// their port are closed, and if any other way in remains, new handshakes
// are refused with 503. It reports whether it closed a listener.
func (s *Server) stopTaking() bool {
	s.mu.Lock()
	var onLoop []*loopListener
	closed, open := 0, 0
	for ln := range s.listeners {
		if !sharesPort(*ln) {
			open++
			continue
		}
		closed++
		if l := s.loopListenerLocked(*ln); l != nil {
			s.removeLoopListenerLocked(l)
			onLoop = append(onLoop, l)
		} else {
			(*ln).Close()
		}
	}
	s.mu.Unlock()
	s.releaseListeners(onLoop)
	if open > 0 || closed == 0 {
		s.DenyNewConnections(http.StatusServiceUnavailable, "server draining")
	}
	return closed > 0
}

// sharesPort reports whether ln is a TCP listener with SO_REUSEPORT set.
func sharesPort(ln net.Listener) bool {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return false
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		return false
	}
	shared := false
	raw.Control(func(fd uintptr) { shared = reusePortSet(fd) })
	return shared
}
