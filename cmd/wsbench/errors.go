package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"syscall"
)

// Error kinds that are not derived from an error value.
const (
	kindMismatch     = "echo_mismatch"       // echo payload, length, type or order differs
	kindUnsolicited  = "echo_unsolicited"    // an echo arrived with nothing in flight
	kindNoEcho       = "echo_missing"        // still in flight after -drain
	kindCorrupt      = "broadcast_corrupt"   // a broadcast message with our marker but bad content
	kindLost         = "broadcast_lost"      // a delivery that never arrived
	kindDuplicate    = "broadcast_duplicate" // a delivery that arrived more than once
	kindReordered    = "broadcast_reordered" // a message that came after a later one of its publisher
	kindMisrouted    = "broadcast_misrouted" // a message published in another room
	kindCloseTimeout = "close_timeout"
	kindProcess      = "process_failed" // a wsbench process of the run ended without its report
)

// errorKind names the cause of an error for the report, e.g. "refused",
// "timeout", "handshake_status_403", "reset", "fd_limit".
func errorKind(err error) string {
	var (
		he *handshakeError
		ce *closeError
		pe *protocolError
		ph *phaseError
	)
	phase := ""
	if errors.As(err, &ph) {
		phase = ph.phase
	}
	base := ""
	switch {
	case errors.As(err, &he):
		return he.kind
	case phase == "tls":
		var (
			cv *tls.CertificateVerificationError
			rh tls.RecordHeaderError
			ae tls.AlertError
			ua x509.UnknownAuthorityError
			hn x509.HostnameError
			ci x509.CertificateInvalidError
		)
		switch {
		case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci):
			return "tls_bad_certificate"
		case errors.As(err, &rh):
			return "tls_not_tls"
		case errors.As(err, &ae):
			return "tls_alert"
		}
	case errors.As(err, &ce):
		return fmt.Sprintf("server_close_%d", ce.code)
	case errors.As(err, &pe):
		return "protocol_error"
	case errors.Is(err, errMessageTooBig):
		return "message_too_big"
	case errors.Is(err, errCloseTimeout):
		return kindCloseTimeout
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "fd_limit"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "addr_unavailable"
	case errors.Is(err, syscall.EADDRINUSE):
		return "addr_in_use"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "unreachable"
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		return "no_memory"
	case isReset(err):
		base = "reset"
	case isTimeout(err), errors.Is(err, os.ErrDeadlineExceeded):
		base = "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		base = "eof"
	default:
		base = "other"
	}
	switch {
	case phase == "handshake" && base != "other":
		return "handshake_" + base
	case phase == "tls" || phase == "proxy":
		return phase + "_" + base
	}
	if phase == "" && base == "eof" {
		return "server_closed" // TCP closed without a close frame
	}
	return base
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// kindHints explain error kinds that have a known remedy.
var kindHints = map[string]string{
	"fd_limit":            "out of file descriptors: raise ulimit -n or run several wsbench processes",
	"tls_bad_certificate": "the server's certificate did not verify: give its CA with -ca, or -insecure",
	"tls_not_tls":         "the server did not answer TLS: a ws:// server behind a wss:// URL?",
	"addr_unavailable":    "out of ephemeral ports or source address not configured: use more -src-ips (loopback) or fewer connections",
	"addr_in_use":         "out of ephemeral ports: use more -src-ips (loopback) or fewer connections",
	"refused":             "nothing listening, or the server's accept backlog is full",
	"timeout":             "no answer within -timeout: server overloaded or backlog full",
	kindMismatch:          "the echo differed from what was sent",
	kindReordered:         "the server changed the order of one publisher's messages",
	kindMisrouted:         "the server delivered a message to a client outside the publisher's room",
	kindCloseTimeout:      "the server did not answer the close frame within -close-timeout",
}

// errorCounter counts errors by kind and keeps one example message per kind.
type errorCounter struct {
	mu      sync.Mutex
	counts  map[string]int64
	samples map[string]string
	total   int64
}

func newErrorCounter() *errorCounter {
	return &errorCounter{counts: map[string]int64{}, samples: map[string]string{}}
}

// add counts err under its kind.
func (e *errorCounter) add(err error) {
	e.addKind(errorKind(err), 1, err.Error())
}

// addKind counts n errors of kind; sample describes one of them.
func (e *errorCounter) addKind(kind string, n int64, sample string) {
	if n <= 0 {
		return
	}
	e.mu.Lock()
	e.counts[kind] += n
	e.total += n
	if _, ok := e.samples[kind]; !ok && sample != "" {
		e.samples[kind] = sample
	}
	e.mu.Unlock()
}

// Total returns the number of errors counted so far.
func (e *errorCounter) Total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.total
}

// snapshot returns copies of the counts and samples.
func (e *errorCounter) snapshot() (counts map[string]int64, samples map[string]string, total int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.counts), maps.Clone(e.samples), e.total
}

// sortedKinds returns the kinds of counts, most frequent first.
func sortedKinds(counts map[string]int64) []string {
	kinds := slices.Collect(maps.Keys(counts))
	slices.SortFunc(kinds, func(a, b string) int {
		if counts[a] != counts[b] {
			if counts[a] > counts[b] {
				return -1
			}
			return 1
		}
		if a < b {
			return -1
		}
		return 1
	})
	return kinds
}
