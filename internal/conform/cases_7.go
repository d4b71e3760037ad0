package conform

import "fmt"

// Close codes of 7.7.x (valid: the server closes cleanly with 1000 or the
// same code) and 7.9.x (invalid: the server fails with 1002 or drops TCP).
var (
	validCloseCodes   = []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}
	invalidCloseCodes = []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999}
)

// closeCases is group 7: the closing handshake started by the client.
func closeCases() []Case {
	hello := []byte("Hello World!")
	// closeCase is a group 7 case: a wrong close code fails it.
	closeCase := func(id, desc, exp string, run func(s *session)) Case {
		return newCase(id, desc, exp, func(s *session) {
			s.onLost = wrongCodeIsFailure
			run(s)
		})
	}
	// afterClose: a close frame with code 1000, then more frames the server
	// must ignore.
	afterClose := func(id, desc, exp string, before []frame, after ...frame) Case {
		return closeCase(id, desc, exp, func(s *session) {
			s.suppressClose = true
			s.expect(OK)
			s.expectClose(normalClose)
			for _, f := range before {
				s.send(f)
			}
			s.sendClose(closeNormal, nil)
			for _, f := range after {
				s.send(f)
			}
			s.killAfter(1)
		})
	}
	// closeWith sends one close frame (code noCode: none) and expects the
	// server to close with one of codes.
	closeWith := func(id, desc, exp string, code int, reason []byte, codes []int, clean bool) Case {
		return closeCase(id, desc, exp, func(s *session) {
			s.suppressClose = true
			s.expect(OK)
			s.expectClose(closeExpectation{closedByMe: true, codes: codes, requireClean: clean})
			s.sendClose(code, reason)
			s.killAfter(1)
		})
	}
	normal := []int{closeNormal}
	protocolError := []int{closeProtocolError}

	cs := []Case{
		closeCase("7.1.1", "Send a message followed by a close frame", "Echoed message followed by clean close with normal code.",
			func(s *session) {
				s.expect(OK, textMessage(hello))
				s.expectClose(normalClose)
				s.send(frame{op: opText, payload: hello})
				s.killAfter(1)
			}),
		afterClose("7.1.2", "Send two close frames", "Clean close with normal code. Second close frame ignored.",
			nil, frame{op: opClose}),
		afterClose("7.1.3", "Send a ping after close message", "Clean close with normal code, no pong.",
			nil, frame{op: opPing}),
		afterClose("7.1.4", "Send text message after sending a close frame.", "Clean close with normal code. Text message ignored.",
			nil, frame{op: opText, payload: hello}),
		afterClose("7.1.5", "Send message fragment1 followed by close then fragment", "Clean close with normal code.",
			[]frame{{op: opText, more: true, payload: []byte("fragment1")}}, frame{op: opCont, payload: []byte("fragment2")}),
		newCase("7.1.6", "Send 256K message followed by close then a ping",
			"Case outcome depends on implementation defined close behavior. Message and close frame are sent back to back. If the close frame is processed before the text message write is complete (as can happen in asynchronous processing models) the close frame is processed first and the text message may not be received or may only be partially received.",
			func(s *session) {
				s.suppressClose = true
				s.expect(OK, textMessage(hello))
				s.expect(NonStrict)
				s.expectClose(normalClose)
				s.send(frame{op: opText, payload: []byte("BAsd7&jh23"), length: 256 << 10})
				s.send(frame{op: opText, payload: hello})
				s.sendClose(closeNormal, nil)
				s.send(frame{op: opPing})
				s.killAfter(1)
				s.onLost = func(o *outcome) {
					switch o.behavior {
					case string(OK):
						o.result = "Text message was processed before close."
					case string(NonStrict):
						o.result = "Close was processed before text message could be returned."
					}
					o.behavior, o.behaviorClose = string(Informational), string(Informational)
				}
			}),

		closeWith("7.3.1", "Send a close frame with payload length 0 (no close code, no close reason)", "Clean close with normal code.",
			noCode, nil, normal, true),
		closeWith("7.3.2", "Send a close frame with payload length 1", "Clean close with protocol error or drop TCP.",
			noCode, []byte("a"), protocolError, false),
		closeWith("7.3.3", "Send a close frame with payload length 2 (regular close with a code)", "Clean close with normal code.",
			closeNormal, nil, normal, true),
		closeWith("7.3.4", "Send a close frame with close code and close reason", "Clean close with normal code.",
			closeNormal, hello, normal, true),
		closeWith("7.3.5", "Send a close frame with close code and close reason of maximum length (123)", "Clean close with normal code.",
			closeNormal, rep("*", 123), normal, true),
		closeWith("7.3.6", "Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets",
			"Clean close with protocol error code or dropped TCP connection.",
			closeNormal, rep("*", 124), protocolError, false),
		closeWith("7.5.1", "Send a close frame with invalid UTF8 payload", "Clean close with protocol error or invalid utf8 code or dropped TCP.",
			closeNormal, utf8Surrogate, []int{closeProtocolError, closeInvalidPayload}, false),
	}
	for i, code := range validCloseCodes {
		cs = append(cs, closeWith(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Send close with valid close code %d", code),
			"Clean close with normal or echoed code", code, nil, []int{closeNormal, code}, true))
	}
	for i, code := range invalidCloseCodes {
		cs = append(cs, closeWith(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("Send close with invalid close code %d", code),
			"Clean close with protocol error code or drop TCP", code, nil, protocolError, false))
	}
	for i, code := range []int{5000, 65535} {
		cs = append(cs, newCase(fmt.Sprintf("7.13.%d", i+1), fmt.Sprintf("Send close with close code %d", code),
			"Actual events are undefined by the spec.",
			func(s *session) {
				s.suppressClose = true
				s.expect(OK)
				s.expectClose(closeExpectation{closedByMe: true, codes: []int{closeNormal, code, closeProtocolError}})
				s.sendClose(code, nil)
				s.killAfter(1)
				s.onLost = func(o *outcome) {
					o.behavior, o.behaviorClose = string(Informational), string(Informational)
					o.result = "Actual events are undefined by the spec."
				}
			}))
	}
	return cs
}
