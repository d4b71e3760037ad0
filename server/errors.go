package server

import (
	"errors"
	"fmt"
	"net"
	"reflect"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/poller"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close, and passed to OnClientLeft for clients cut off by Close.
var ErrServerClosed = errors.New("server: closed")

// ErrClientClosed is returned by Send and Close on a client whose closing
// has begun: no further messages are accepted for it.
var ErrClientClosed = errors.New("server: client closed")

// ErrSlowConsumer is passed to OnClientLeft for a client disconnected
// because its pending output passed Server.MaxPendingBytes.
var ErrSlowConsumer = errors.New("server: slow consumer: pending output over the limit")

// ErrCloseTimeout is passed to OnClientLeft for a client that did not answer
// the server's close frame within Server.CloseTimeout.
var ErrCloseTimeout = errors.New("server: no close frame from client in time")

// ErrReadTimeout is passed to OnClientLeft for a client that started a
// frame or fragmented message and did not finish it within
// Server.ReadTimeout. The client is sent close code 1008.
var ErrReadTimeout = errors.New("server: read timeout: frame or message not finished in time")

// ErrWriteTimeout is passed to OnClientLeft for a client whose queued
// output made no progress for Server.WriteTimeout: it stopped reading.
var ErrWriteTimeout = errors.New("server: write timeout: client stopped reading")

// ErrPingTimeout is passed to OnClientLeft for a client that sent nothing,
// not even a pong, within Server.PingTimeout of a keepalive ping.
var ErrPingTimeout = errors.New("server: ping timeout: client unresponsive")

// ErrConnectionLost is wrapped in the error passed to OnClientLeft when the
// TCP connection ended without a close frame (end of stream or reset).
var ErrConnectionLost = errors.New("server: connection lost without close frame")

// ErrCallbackPanic is wrapped in the error passed to OnClientLeft for a
// client closed because a callback panicked while handling it.
var ErrCallbackPanic = errors.New("server: callback panicked")

var errUnsupported = poller.ErrUnsupported

// errNoDescriptor is detach's answer for a connection that has no socket
// descriptor to take, or a system where the server cannot poll one.
var errNoDescriptor = errors.New("server: connection has no descriptor to poll")

// closeFor is the close frame sent to a client the server cuts off for err.
func closeFor(err error) (ws.StatusCode, string) {
	switch {
	case errors.Is(err, ErrSlowConsumer):
		return ws.StatusPolicyViolation, "slow consumer: pending output over limit"
	case errors.Is(err, ErrWriteTimeout):
		return ws.StatusPolicyViolation, "write timeout: client stopped reading"
	case errors.Is(err, ErrReadTimeout):
		return ws.StatusPolicyViolation, "read timeout: frame not finished in time"
	case errors.Is(err, ErrPingTimeout):
		return ws.StatusGoingAway, "ping timeout"
	}
	return ws.StatusInternalServerError, "internal error"
}

// errWouldBlock is flow, not failure: the socket has nothing to read or no
// room to write right now.
var errWouldBlock = errors.New("would block")

// CloseError is a close frame: the one a client sent, passed to
// OnClientLeft when the client ended the connection with a close handshake.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket: close %d", e.Code)
	}
	return fmt.Sprintf("websocket: close %d: %s", e.Code, e.Reason)
}

// RejectError refuses a handshake with an HTTP status. Return one from
// Server.Authenticate (see Reject); any other error refuses with 403.
type RejectError struct {
	Status int    // HTTP status code, e.g. 401 or 403
	Reason string // response body
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("server: handshake rejected with %d: %s", e.Status, e.Reason)
}

// Reject returns an error that makes Authenticate refuse the upgrade with
// the given HTTP status and reason.
func Reject(status int, reason string) error {
	return &RejectError{Status: status, Reason: reason}
}

func connTypeName(nc net.Conn) string {
	return reflect.TypeOf(nc).String()
}
