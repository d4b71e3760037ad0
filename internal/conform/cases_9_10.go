package conform

import (
	"bytes"
	"fmt"
)

// quickWaitCap bounds the give-up timeouts of groups 9, 12 and 13 (10 to
// 1000 s in Autobahn) when Options.Slow is off, so that a server that never
// answers does not stall the run for long. A working server answers in a
// fraction of it.
const quickWaitCap = 20

// waitSecs returns the give-up timeout of a case in seconds.
func (t *Target) waitSecs(autobahn float64) float64 {
	if !t.Slow && autobahn > quickWaitCap {
		return quickWaitCap
	}
	return autobahn
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d * 2**20 (%dM)", n>>20, n>>20)
	default:
		return fmt.Sprintf("%d * 2**10 (%dk)", n>>10, n>>10)
	}
}

func fragName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dk", n>>10)
	}
	return fmt.Sprint(n)
}

// limitCases is group 9: large messages, many fragments, chopped writes and
// round trips.
func limitCases() []Case {
	var cs []Case
	textPattern, binaryPattern := []byte("BAsd7&jh23"), []byte("\x00\xfe\x23\xfa\xf0")

	// bigMessage sends one message and waits up to wait seconds for its
	// echo; the case judges the echo itself.
	bigMessage := func(id, desc string, binary bool, size int, wait float64, send func(s *session, payload []byte)) Case {
		kind, pattern := "text", textPattern
		if binary {
			kind, pattern = "binary", binaryPattern
		}
		c := newCase(id, desc, fmt.Sprintf("Receive echo'ed %s message (with payload as sent).", kind), func(s *session) {
			wait := s.t.waitSecs(wait)
			payload := repeatTo(pattern, size)
			s.expectClose(normalClose)
			s.setBehavior(Failed, fmt.Sprintf("Did not receive message within %g seconds.", wait))
			s.onMessage = func(msg []byte, isBinary bool) {
				switch {
				case isBinary != binary:
					s.setBehavior(Failed, fmt.Sprintf("Expected %s message with payload, but got the other kind.", kind))
				case len(msg) != size:
					s.setBehavior(Failed, fmt.Sprintf("Expected %s message with payload of length %d, but got %d.", kind, size, len(msg)))
				case !bytes.Equal(msg, payload):
					s.setBehavior(Failed, fmt.Sprintf("Received %s message of length %d, but its content differs from what was sent.", kind, len(msg)))
				default:
					s.setBehavior(OK, fmt.Sprintf("Received %s message of length %d.", kind, len(msg)))
				}
				s.sendClose(closeNormal, nil)
			}
			send(s, payload)
			s.closeAfter(wait)
		})
		c.Slow = size >= 16<<20
		return c
	}

	// 9.1 / 9.2: one message of increasing size in one frame.
	for sub, binary := range []bool{false, true} {
		kind, op := "text", opText
		if binary {
			kind, op = "binary", opBinary
		}
		for i, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20} {
			wait := 100.0
			if size <= 256<<10 || (binary && size <= 4<<20) {
				wait = 10
			}
			cs = append(cs, bigMessage(fmt.Sprintf("9.%d.%d", sub+1, i+1),
				fmt.Sprintf("Send %s message message with payload of length %s.", kind, sizeName(size)),
				binary, size, wait,
				func(s *session, payload []byte) { s.send(frame{op: op, payload: payload}) }))
		}
	}
	// 9.3 / 9.4: a 4 MiB message in fragments of increasing size.
	for sub, binary := range []bool{false, true} {
		kind := "text"
		if binary {
			kind = "binary"
		}
		for i, frag := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			cs = append(cs, bigMessage(fmt.Sprintf("9.%d.%d", sub+3, i+1),
				fmt.Sprintf("Send fragmented %s message message with message payload of length 4 * 2**20 (4M). Sent out in fragments of %s.", kind, fragName(frag)),
				binary, 4<<20, 100,
				func(s *session, payload []byte) { s.sendMessage(payload, binary, frag) }))
		}
	}
	// 9.5 / 9.6: a 1 MiB message in one frame, written in chops of
	// increasing size.
	for sub, binary := range []bool{false, true} {
		kind, op := "text", opText
		if binary {
			kind, op = "binary", opBinary
		}
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			cs = append(cs, bigMessage(fmt.Sprintf("9.%d.%d", sub+5, i+1),
				fmt.Sprintf("Send %s message message with payload of length 1 * 2**20 (1M). Sent out data in chops of %d octets.", kind, chop),
				binary, 1<<20, 1000,
				func(s *session, payload []byte) { s.send(frame{op: op, payload: payload, chop: chop}) }))
		}
	}
	// 9.7 / 9.8: 1000 round trips of small messages.
	for sub, binary := range []bool{false, true} {
		kind, op, fill := "text", opText, "*"
		if binary {
			kind, op, fill = "binary", opBinary, "\xfe"
		}
		for i, tc := range []struct {
			size int
			wait float64
		}{{0, 60}, {16, 60}, {64, 60}, {256, 120}, {1024, 240}, {4096, 480}} {
			const count = 1000
			cs = append(cs, newCase(fmt.Sprintf("9.%d.%d", sub+7, i+1),
				fmt.Sprintf("Send %d %s messages of payload size %d to measure implementation/network RTT (round trip time) / latency.", count, kind, tc.size),
				fmt.Sprintf("Receive echo'ed %s messages (with payload as sent). Timeout case after %g secs.", kind, tc.wait),
				func(s *session) {
					wait := s.t.waitSecs(tc.wait)
					payload := rep(fill, tc.size)
					sent := 0
					sendOne := func() {
						sent++ // before the echo can arrive
						s.send(frame{op: op, payload: payload})
						s.flush()
					}
					s.expectClose(normalClose)
					s.setBehavior(Failed, fmt.Sprintf("Case did not finish within %g seconds.", wait))
					s.onMessage = func(msg []byte, isBinary bool) {
						switch {
						case isBinary != binary || len(msg) != tc.size:
							s.setBehavior(Failed, fmt.Sprintf("Echo'ed message type or length differs from what I sent (got binary = %t, payload length = %d).", isBinary, len(msg)))
							s.sendClose(closeNormal, nil)
						case sent < count:
							sendOne()
						default:
							s.setBehavior(OK, "Ok, received all echo'ed messages in time.")
							s.sendClose(closeNormal, nil)
						}
					}
					s.closeAfter(wait)
					sendOne()
				}))
		}
	}
	return cs
}

// autoFragmentationCases is group 10.
func autoFragmentationCases() []Case {
	return []Case{
		newCase("10.1.1", "Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300.",
			"Receive echo'ed text message (with payload as sent and transmitted frame counts as expected). Clean close with normal code.",
			func(s *session) {
				payload := rep("*", 65536)
				s.autoFragment = 1300
				s.expect(OK, textMessage(payload))
				s.expectClose(normalClose)
				s.sendMessage(payload, false, 0)
				s.killAfter(10)
				s.onLost = func(o *outcome) {
					// The client must have sent 50 full continuation
					// frames after the first text frame.
					wantCont, wantText := len(payload)/s.autoFragment, 1
					gotCont, gotText := s.txFrames[opCont], s.txFrames[opText]
					if gotCont != wantCont || gotText != wantText {
						o.behavior = string(Failed)
						o.result = fmt.Sprintf("Frames transmitted {0: %d, 1: %d} does not match what we expected {0: %d, 1: %d}.", gotCont, gotText, wantCont, wantText)
					}
				}
			}),
	}
}
