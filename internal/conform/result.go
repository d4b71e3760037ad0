package conform

import (
	"fmt"
	"time"
)

// Verdict is the outcome of one case.
type Verdict string

// Verdicts, as in the Autobahn TestSuite reports.
const (
	// OK: the server behaved exactly as expected.
	OK Verdict = "OK"
	// NonStrict: the server is conformant but misses a SHOULD of the
	// specification or a canonical behaviour (for example it did not fail
	// fast on invalid UTF-8, or closed with an unexpected code).
	NonStrict Verdict = "NON-STRICT"
	// Failed: the server violated a MUST of the specification.
	Failed Verdict = "FAILED"
	// Informational: the specification leaves the behaviour open; the case
	// only reports what the server did.
	Informational Verdict = "INFORMATIONAL"
	// Unimplemented: the server does not implement the feature the case
	// tests (permessage-deflate in groups 12 and 13).
	Unimplemented Verdict = "UNIMPLEMENTED"
)

// Verdicts lists every Verdict in report order.
var Verdicts = []Verdict{OK, NonStrict, Failed, Informational, Unimplemented}

// Raw Autobahn close behaviours (Result.BehaviorClose) besides OK, FAILED and
// INFORMATIONAL.
const (
	// WrongCode: the server closed with a code other than the expected ones.
	WrongCode = "WRONG CODE"
	// Unclean: the closing handshake was required to be clean but was not.
	Unclean = "UNCLEAN"
	// FailedByClient: the client had to drop the TCP connection, although it
	// is the server's job.
	FailedByClient = "FAILED BY CLIENT"
)

// Result is the outcome of one case.
type Result struct {
	// ID is the Autobahn case ID, for example "6.4.1".
	ID string `json:"id"`
	// Verdict folds Behavior and BehaviorClose into one value; see Combine.
	Verdict Verdict `json:"verdict"`
	// Behavior is Autobahn's raw verdict on the exchanged messages.
	Behavior string `json:"behavior"`
	// BehaviorClose is Autobahn's raw verdict on the closing handshake.
	BehaviorClose string `json:"behaviorClose"`
	// Detail explains the verdict in words.
	Detail string `json:"detail"`
	// Duration is the time from the completed opening handshake to the end
	// of the TCP connection.
	Duration time.Duration `json:"duration"`
	// RemoteCloseCode is the code of the server's close frame: 0 when it
	// sent none, -1 when its close frame had an empty payload.
	RemoteCloseCode int `json:"remoteCloseCode"`
	// Allowed is the reason given in Options.Allow when the case ID was
	// listed there; such a case counts as OK unless it FAILED.
	Allowed string `json:"allowed,omitempty"`
	// Trace is a short wire log, kept for cases whose Verdict is not OK.
	Trace []string `json:"trace,omitempty"`
}

// OK reports whether the case passed: its Verdict is OK or INFORMATIONAL, or
// it is NON-STRICT or UNIMPLEMENTED and the case was listed in
// Options.Allow. A FAILED case never passes; exclude it with Options.Exclude
// instead.
func (r Result) OK() bool {
	switch r.Verdict {
	case OK, Informational:
		return true
	case NonStrict, Unimplemented:
		return r.Allowed != ""
	}
	return false
}

// String renders the result on one line.
func (r Result) String() string {
	s := fmt.Sprintf("%s %s (behavior %s, close %s)", r.ID, r.Verdict, r.Behavior, r.BehaviorClose)
	if r.Allowed != "" {
		s += " [allowed: " + r.Allowed + "]"
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// Combine folds Autobahn's two raw verdicts into one:
//
//   - FAILED and UNIMPLEMENTED behaviours stand as they are;
//   - a FAILED or UNCLEAN closing handshake makes the case FAILED;
//   - an INFORMATIONAL behaviour stays INFORMATIONAL;
//   - a WRONG CODE or FAILED BY CLIENT closing handshake (yellow in the
//     Autobahn report) turns an OK behaviour into NON-STRICT;
//   - otherwise the behaviour (OK or NON-STRICT) is the verdict.
func Combine(behavior, behaviorClose string) Verdict {
	switch Verdict(behavior) {
	case Failed, Unimplemented:
		return Verdict(behavior)
	case OK, NonStrict, Informational:
	default:
		return Failed
	}
	switch behaviorClose {
	case string(Failed), Unclean:
		return Failed
	}
	if behavior == string(Informational) {
		return Informational
	}
	switch behaviorClose {
	case WrongCode, FailedByClient:
		return NonStrict
	}
	return Verdict(behavior)
}
