package conform

import (
	"fmt"
	"strings"
)

// framingCases is group 1: text (1.1) and binary (1.2) messages of
// different lengths around the 7/16/64 bit length encodings.
func framingCases() []Case {
	var cs []Case
	type size struct {
		n, chop int
		kill    float64
	}
	sizes := []size{{0, 0, 1}, {125, 0, 1}, {126, 0, 1}, {127, 0, 1}, {128, 0, 1},
		{65535, 0, 10}, {65536, 0, 10}, {65536, 997, 10}}
	for sub, kind := range []struct {
		name, fill string
		op         byte
		echo       func([]byte) event
	}{
		{"text", "*", opText, textMessage},
		{"binary", "\xfe", opBinary, binaryMessage},
	} {
		for i, sz := range sizes {
			desc := fmt.Sprintf("Send %s message message with payload of length %d.", kind.name, sz.n)
			if sz.n == 0 {
				desc = fmt.Sprintf("Send %s message with payload 0.", kind.name)
			}
			if sz.chop > 0 {
				desc = strings.TrimSuffix(desc, ".") + fmt.Sprintf(". Sent out data in chops of %d octets.", sz.chop)
			}
			cs = append(cs, newCase(fmt.Sprintf("1.%d.%d", sub+1, i+1), desc,
				fmt.Sprintf("Receive echo'ed %s message (with payload as sent). Clean close with normal code.", kind.name),
				func(s *session) {
					payload := rep(kind.fill, sz.n)
					s.expect(OK, kind.echo(payload))
					s.expectClose(normalClose)
					s.send(frame{op: kind.op, payload: payload, chop: sz.chop})
					s.killAfter(sz.kill)
				}))
		}
	}
	return cs
}

// pingCases is group 2: pings and pongs.
func pingCases() []Case {
	pongEcho := "Pong with payload echo'ed is sent in reply to Ping. Clean close with normal code."
	ping := func(id, desc string, payload []byte, chop int, wait float64) Case {
		exp := pongEcho
		if len(payload) == 0 {
			exp = "Pong (with empty payload) is sent in reply to Ping. Clean close with normal code."
		}
		if chop > 0 {
			exp = "Pong with payload echo'ed is sent in reply to Ping. Implementations must be TCP clean. Clean close with normal code."
		}
		return newCase(id, desc, exp, func(s *session) {
			s.expect(OK, pongEvent(payload))
			s.expectClose(normalClose)
			s.send(frame{op: opPing, payload: payload, chop: chop})
			s.closeAfter(wait)
		})
	}
	tenPings := func(id, desc string, chop int) Case {
		return newCase(id, desc,
			"Pongs for our Pings with all the payloads. Note: This is not required by the Spec .. but we check for this behaviour anyway. Clean close with normal code.",
			func(s *session) {
				var pongs []event
				for i := 0; i < 10; i++ {
					payload := []byte(fmt.Sprintf("payload-%d", i))
					pongs = append(pongs, pongEvent(payload))
				}
				s.expect(OK, pongs...)
				s.expectClose(normalClose)
				for _, p := range pongs {
					s.send(frame{op: opPing, payload: p.Data, chop: chop})
				}
				s.closeAfter(3)
			})
	}
	return []Case{
		ping("2.1", "Send ping without payload.", nil, 0, 1),
		ping("2.2", "Send ping with small text payload.", []byte("Hello, world!"), 0, 1),
		ping("2.3", "Send ping with small binary (non UTF-8) payload.", []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), 0, 1),
		ping("2.4", "Send ping with binary payload of 125 octets.", rep("\xfe", 125), 0, 1),
		newCase("2.5", "Send ping with binary payload of 126 octets.",
			"Connection is failed immediately (1002/Protocol Error), since control frames are only allowed to have payload up to and including 125 octets..",
			func(s *session) {
				s.expect(OK)
				s.expectClose(serverFailsProtocol)
				s.send(frame{op: opPing, payload: rep("\xfe", 126)})
				s.killAfter(1)
			}),
		ping("2.6", "Send ping with binary payload of 125 octets, send in octet-wise chops.", rep("\xfe", 125), 1, 2),
		newCase("2.7", "Send unsolicited pong without payload. Verify nothing is received. Clean close with normal code.",
			"Nothing.",
			func(s *session) {
				s.expect(OK)
				s.expectClose(normalClose)
				s.send(frame{op: opPong})
				s.sendClose(closeNormal, nil)
				s.closeAfter(1)
			}),
		newCase("2.8", "Send unsolicited pong with payload. Verify nothing is received. Clean close with normal code.",
			"Nothing.",
			func(s *session) {
				s.expect(OK)
				s.expectClose(normalClose)
				s.send(frame{op: opPong, payload: []byte("unsolicited pong payload")})
				s.sendClose(closeNormal, nil)
				s.closeAfter(1)
			}),
		newCase("2.9", "Send unsolicited pong with payload. Send ping with payload. Verify pong for ping is received.",
			"Nothing in reply to own Pong, but Pong with payload echo'ed in reply to Ping. Clean close with normal code.",
			func(s *session) {
				payload := []byte("ping payload")
				s.expect(OK, pongEvent(payload))
				s.expectClose(normalClose)
				s.send(frame{op: opPong, payload: []byte("unsolicited pong payload")})
				s.send(frame{op: opPing, payload: payload})
				s.closeAfter(1)
			}),
		tenPings("2.10", "Send 10 Pings with payload.", 0),
		tenPings("2.11", "Send 10 Pings with payload. Send out octets in octet-wise chops.", 1),
	}
}

// reservedBitCases is group 3: frames with RSV bits set although no
// extension defines them.
func reservedBitCases() []Case {
	hello := []byte("Hello, world!")
	failNow := "The connection is failed immediately, since RSV must be 0."
	echoThenFail := "Echo for first message is received, but then connection is failed immediately, since RSV must be 0, when no extension defining RSV meaning has been negotiated. The Pong is not received."
	// echoThenBadRSV: a good text message, the same with RSV set, a ping.
	echoThenBadRSV := func(id, desc string, rsv byte, sync bool, chop int) Case {
		return newCase(id, desc, echoThenFail, func(s *session) {
			s.expect(OK, textMessage(hello))
			s.expect(NonStrict)
			s.expectClose(serverFailsProtocol)
			s.send(frame{op: opText, payload: hello, sync: sync, chop: chop})
			s.send(frame{op: opText, payload: hello, rsv: rsv, sync: sync, chop: chop})
			s.send(frame{op: opPing, sync: sync, chop: chop})
			s.killAfter(1)
		})
	}
	badRSV := func(id, desc string, f frame, exp string) Case {
		return newCase(id, desc, exp, func(s *session) {
			s.expect(OK)
			s.expectClose(serverFailsProtocol)
			s.send(f)
			s.killAfter(1)
		})
	}
	return []Case{
		badRSV("3.1", "Send small text message with RSV = 1.", frame{op: opText, payload: hello, rsv: 1},
			"The connection is failed immediately (1002/protocol error), since RSV must be 0, when no extension defining RSV meaning has been negotiated."),
		echoThenBadRSV("3.2", "Send small text message, then send again with RSV = 2, then send Ping.", 2, false, 0),
		echoThenBadRSV("3.3", "Send small text message, then send again with RSV = 3, then send Ping. Octets are sent in frame-wise chops. Octets are sent in octet-wise chops.", 3, true, 0),
		echoThenBadRSV("3.4", "Send small text message, then send again with RSV = 4, then send Ping. Octets are sent in octet-wise chops.", 4, false, 1),
		badRSV("3.5", "Send small binary message with RSV = 5.",
			frame{op: opBinary, payload: []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), rsv: 5}, failNow),
		// Autobahn's 3.6 says "Ping" but sends a binary frame; so do we.
		badRSV("3.6", "Send Ping with RSV = 6.", frame{op: opBinary, payload: hello, rsv: 6}, failNow),
		badRSV("3.7", "Send Close with RSV = 7.", frame{op: opClose, rsv: 7}, failNow),
	}
}

// opcodeCases is group 4: reserved non-control (4.1) and control (4.2)
// opcodes.
func opcodeCases() []Case {
	hello := []byte("Hello, world!")
	reserved := func(id, desc string, op byte, payload []byte) Case {
		return newCase(id, desc, "The connection is failed immediately.", func(s *session) {
			s.expect(OK)
			s.expectClose(serverFailsProtocol)
			s.send(frame{op: op, payload: payload})
			s.killAfter(1)
		})
	}
	echoThenReserved := func(id, desc string, op byte, payload []byte, chop int) Case {
		return newCase(id, desc,
			"Echo for first message is received, but then connection is failed immediately, since reserved opcode frame is used. A Pong is not received.",
			func(s *session) {
				s.expect(OK, textMessage(hello))
				s.expect(NonStrict)
				s.expectClose(serverFailsProtocol)
				s.send(frame{op: opText, payload: hello, chop: chop})
				s.send(frame{op: op, payload: payload, chop: chop})
				s.send(frame{op: opPing, chop: chop})
				s.killAfter(1)
			})
	}
	payload := []byte("reserved opcode payload")
	return []Case{
		reserved("4.1.1", "Send frame with reserved non-control Opcode = 3.", 3, nil),
		reserved("4.1.2", "Send frame with reserved non-control Opcode = 4 and non-empty payload.", 4, payload),
		echoThenReserved("4.1.3", "Send small text message, then send frame with reserved non-control Opcode = 5, then send Ping.", 5, nil, 0),
		echoThenReserved("4.1.4", "Send small text message, then send frame with reserved non-control Opcode = 6 and non-empty payload, then send Ping.", 6, hello, 0),
		echoThenReserved("4.1.5", "Send small text message, then send frame with reserved non-control Opcode = 7 and non-empty payload, then send Ping.", 7, hello, 1),
		reserved("4.2.1", "Send frame with reserved control Opcode = 11.", 11, nil),
		reserved("4.2.2", "Send frame with reserved control Opcode = 12 and non-empty payload.", 12, payload),
		echoThenReserved("4.2.3", "Send small text message, then send frame with reserved control Opcode = 13, then send Ping.", 13, nil, 0),
		echoThenReserved("4.2.4", "Send small text message, then send frame with reserved control Opcode = 14 and non-empty payload, then send Ping.", 14, hello, 0),
		echoThenReserved("4.2.5", "Send small text message, then send frame with reserved control Opcode = 15 and non-empty payload, then send Ping.", 15, hello, 1),
	}
}

// fragmentationCases is group 5: fragmented messages, fragmented control
// frames and continuation frames with nothing to continue.
func fragmentationCases() []Case {
	frag := func(i int) []byte { return []byte(fmt.Sprintf("fragment%d", i)) }
	noMessageToContinue := "The connection is failed immediately, since there is no message to continue."
	// serverMustFail: every frame is a protocol error or follows one.
	serverMustFail := func(id, desc, exp string, frames ...frame) Case {
		return newCase(id, desc, exp, func(s *session) {
			s.expect(OK)
			s.expectClose(serverFailsProtocol)
			for _, f := range frames {
				s.send(f)
			}
			s.killAfter(1)
		})
	}
	// echoed: a text message "fragment1fragment2" in two fragments.
	echoed := func(id, desc string, sync bool, chop int) Case {
		return newCase(id, desc, "Message is processed and echo'ed back to us.", func(s *session) {
			s.expect(OK, textMessage([]byte("fragment1fragment2")))
			s.expectClose(normalClose)
			s.send(frame{op: opText, more: true, payload: frag(1), sync: sync, chop: chop})
			s.send(frame{op: opCont, payload: frag(2), sync: sync, chop: chop})
			s.closeAfter(1)
		})
	}
	// pingInBetween: the same with a ping between the fragments.
	pingInBetween := func(id, desc string, sync bool, chop int) Case {
		return newCase(id, desc, "A pong is received, then the message is echo'ed back to us.", func(s *session) {
			ping := []byte("ping payload")
			s.expect(OK, pongEvent(ping), textMessage([]byte("fragment1fragment2")))
			s.expectClose(normalClose)
			s.send(frame{op: opText, more: true, payload: frag(1), sync: sync, chop: chop})
			s.send(frame{op: opPing, payload: ping, sync: sync, chop: chop})
			s.send(frame{op: opCont, payload: frag(2), sync: sync, chop: chop})
			s.closeAfter(1)
		})
	}
	// nothingToContinue: a continuation frame (FIN as given), then a text
	// message, written as one chop, frame-wise or octet-wise.
	nothingToContinue := func(id, desc string, more, sync bool, chop int) Case {
		return serverMustFail(id, desc, noMessageToContinue,
			frame{op: opCont, more: more, payload: []byte("non-continuation payload"), sync: sync, chop: chop},
			frame{op: opText, payload: []byte("Hello, world!"), sync: sync, chop: chop})
	}
	// pingsDuringMessage is 5.19 and 5.20: a ping arrives in the middle of
	// a fragmented message, and one more after a pause.
	pingsDuringMessage := func(id, desc, exp string, sync bool) Case {
		return newCase(id, desc, exp, func(s *session) {
			pings := [][]byte{[]byte("pongme 1!"), []byte("pongme 2!")}
			s.expect(OK, pongEvent(pings[0]), pongEvent(pings[1]),
				textMessage([]byte("fragment1fragment2fragment3fragment4fragment5")))
			s.expectClose(normalClose)
			s.send(frame{op: opText, more: true, payload: frag(1), sync: sync})
			s.send(frame{op: opCont, more: true, payload: frag(2), sync: sync})
			s.send(frame{op: opPing, payload: pings[0], sync: sync})
			s.sleep(1)
			if s.closed() {
				return
			}
			s.send(frame{op: opCont, more: true, payload: frag(3), sync: sync})
			s.send(frame{op: opCont, more: true, payload: frag(4), sync: sync})
			s.send(frame{op: opPing, payload: pings[1], sync: sync})
			s.send(frame{op: opCont, payload: frag(5), sync: sync})
			s.closeAfter(1)
		})
	}
	return []Case{
		serverMustFail("5.1", "Send Ping fragmented into 2 fragments.",
			"Connection is failed immediately, since control message MUST NOT be fragmented.",
			frame{op: opPing, more: true, payload: frag(1)}, frame{op: opCont, payload: frag(2)}),
		serverMustFail("5.2", "Send Pong fragmented into 2 fragments.",
			"Connection is failed immediately, since control message MUST NOT be fragmented.",
			frame{op: opPong, more: true, payload: frag(1)}, frame{op: opCont, payload: frag(2)}),
		echoed("5.3", "Send text Message fragmented into 2 fragments.", false, 0),
		echoed("5.4", "Send text Message fragmented into 2 fragments, octets are sent in frame-wise chops.", true, 0),
		echoed("5.5", "Send text Message fragmented into 2 fragments, octets are sent in octet-wise chops.", false, 1),
		pingInBetween("5.6", "Send text Message fragmented into 2 fragments, one ping with payload in-between.", false, 0),
		pingInBetween("5.7", "Send text Message fragmented into 2 fragments, one ping with payload in-between. Octets are sent in frame-wise chops.", true, 0),
		pingInBetween("5.8", "Send text Message fragmented into 2 fragments, one ping with payload in-between. Octets are sent in octet-wise chops.", false, 1),
		nothingToContinue("5.9", "Send unfragmented Text Message after Continuation Frame with FIN = true, where there is nothing to continue, sent in one chop.", false, false, 0),
		nothingToContinue("5.10", "Send unfragmented Text Message after Continuation Frame with FIN = true, where there is nothing to continue, sent in per-frame chops.", false, true, 0),
		nothingToContinue("5.11", "Send unfragmented Text Message after Continuation Frame with FIN = true, where there is nothing to continue, sent in octet-wise chops.", false, false, 1),
		nothingToContinue("5.12", "Send unfragmented Text Message after Continuation Frame with FIN = false, where there is nothing to continue, sent in one chop.", true, false, 0),
		nothingToContinue("5.13", "Send unfragmented Text Message after Continuation Frame with FIN = false, where there is nothing to continue, sent in per-frame chops.", true, true, 0),
		nothingToContinue("5.14", "Send unfragmented Text Message after Continuation Frame with FIN = false, where there is nothing to continue, sent in octet-wise chops.", true, false, 1),
		newCase("5.15", "Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where there is nothing to continue, then unfragmented Text Message, all sent in one chop.",
			noMessageToContinue,
			func(s *session) {
				s.expect(OK, textMessage([]byte("fragment1fragment2")))
				s.expect(NonStrict)
				s.expectClose(serverFailsProtocol)
				s.send(frame{op: opText, more: true, payload: frag(1)})
				s.send(frame{op: opCont, payload: frag(2)})
				s.send(frame{op: opCont, more: true, payload: frag(3)})
				s.send(frame{op: opText, payload: frag(4)})
				s.killAfter(1)
			}),
		serverMustFail("5.16", "Repeated 2x: Continuation Frame with FIN = false (where there is nothing to continue), then text Message fragmented into 2 fragments.",
			noMessageToContinue,
			frame{op: opCont, more: true, payload: frag(1)}, frame{op: opText, more: true, payload: frag(2)}, frame{op: opCont, payload: frag(3)},
			frame{op: opCont, more: true, payload: frag(1)}, frame{op: opText, more: true, payload: frag(2)}, frame{op: opCont, payload: frag(3)}),
		serverMustFail("5.17", "Repeated 2x: Continuation Frame with FIN = true (where there is nothing to continue), then text Message fragmented into 2 fragments.",
			noMessageToContinue,
			frame{op: opCont, payload: frag(1)}, frame{op: opText, more: true, payload: frag(2)}, frame{op: opCont, payload: frag(3)},
			frame{op: opCont, payload: frag(1)}, frame{op: opText, more: true, payload: frag(2)}, frame{op: opCont, payload: frag(3)}),
		serverMustFail("5.18", "Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.",
			"The connection is failed immediately, since all data frames after the initial data frame must have opcode 0.",
			frame{op: opText, more: true, payload: frag(1)}, frame{op: opText, payload: frag(2)}),
		pingsDuringMessage("5.19", strings.Join([]string{
			"A fragmented text message is sent in multiple frames. After sending the first 2 frames of the text message, a Ping is sent.",
			"Then we wait 1s, then we send 2 more text fragments, another Ping and then the final text fragment. Everything is legal."}, " "),
			"The peer immediately answers the first Ping before it has received the last text message fragment. The peer pong's back the Ping's payload exactly, and echo's the payload of the fragmented message back to us.",
			false),
		pingsDuringMessage("5.20", "Same as Case 5.19, but send all frames with SYNC = True. Note, this does not change the octets sent in any way, only how the stream is chopped up on the wire.",
			"Same as Case 5.19. Implementations must be agnostic to how octet stream is chopped up on wire (must be TCP clean).",
			true),
	}
}
