package wsproto

import (
	"strconv"

	"github.com/gobwas/ws"
)

// Error is a protocol violation by the peer, found by [Decoder.Next].
//
// Code is the close code to answer with: [ws.StatusProtocolError] (1002),
// [ws.StatusInvalidFramePayloadData] (1007) or [ws.StatusMessageTooBig]
// (1009). Reason names the rule that was broken and is short enough to be
// sent back as the reason of a close frame, for example with
//
//	out = wsproto.AppendClose(out, e.Code, e.Reason)
type Error struct {
	Code   ws.StatusCode // the close code to send to the peer
	Reason string        // the rule that was broken, such as "reserved bits set"
}

// Error returns a message such as
// "websocket: protocol error 1002: reserved bits set".
func (e *Error) Error() string {
	return "websocket: protocol error " + strconv.Itoa(int(e.Code)) + ": " + e.Reason
}

// The errors Next returns. They are shared values, so a failing connection
// costs no allocation.
var (
	errReservedBits       = &Error{ws.StatusProtocolError, "reserved bits set"}
	errRSV1Continuation   = &Error{ws.StatusProtocolError, "RSV1 set on continuation frame"}
	errRSV1Control        = &Error{ws.StatusProtocolError, "RSV1 set on control frame"}
	errReservedOpcode     = &Error{ws.StatusProtocolError, "reserved opcode"}
	errFragmentedControl  = &Error{ws.StatusProtocolError, "fragmented control frame"}
	errControlTooLong     = &Error{ws.StatusProtocolError, "control frame payload over 125 bytes"}
	errUnmasked           = &Error{ws.StatusProtocolError, "unmasked client frame"}
	errLengthMSB          = &Error{ws.StatusProtocolError, "most significant bit of 64-bit length set"}
	errNoMessage          = &Error{ws.StatusProtocolError, "continuation frame without a message in progress"}
	errExpectContinuation = &Error{ws.StatusProtocolError, "new data frame inside a fragmented message"}
	errCloseLength        = &Error{ws.StatusProtocolError, "close frame payload of 1 byte"}
	errCloseCode          = &Error{ws.StatusProtocolError, "invalid close code"}
	errTooBig             = &Error{ws.StatusMessageTooBig, "message too big"}
	errTextUTF8           = &Error{ws.StatusInvalidFramePayloadData, "invalid UTF-8 in text message"}
	errReasonUTF8         = &Error{ws.StatusInvalidFramePayloadData, "invalid UTF-8 in close reason"}
)

// ErrCloseCode is the error Next returns for a close frame whose code a peer
// may not send (see ValidCloseCode). An endpoint that sent such a code
// itself, 1012 (Service Restart) for instance, which ValidCloseCode refuses
// as Autobahn does, may take this error after its own close frame as the
// peer's echo of it.
var ErrCloseCode error = errCloseCode
