package conform

import (
	"fmt"
	"strings"
)

// The invalid message of 6.3.x: valid "κόσμε", then U+D800 (a surrogate,
// invalid exactly at its second octet 0xa0, message octet 12), then "edited".
var utf8Surrogate = []byte(kosme + "\xed\xa0\x80" + "edited")

// The invalid message of 6.4.x: "κόσμε", then 0x110000 in the UTF-8 integer
// scheme (out of range, invalid at its second octet 0x90, message octet 12),
// then "edited".
var (
	utf8OutOfRange1 = []byte(kosme)
	utf8OutOfRange2 = []byte("\xf4\x90\x80\x80")
	utf8OutOfRange3 = []byte("edited")
	utf8OutOfRange  = []byte(kosme + "\xf4\x90\x80\x80" + "edited")
)

// utf8Cases is group 6: valid and invalid UTF-8 in text messages.
func utf8Cases() []Case {
	echo := "The message is echo'ed back to us."
	failNow := "The connection is failed immediately, since the payload is not valid UTF-8."
	mixed := []byte("Hello-µ@ßöäüàá-UTF-8!!")
	cs := []Case{
		newCase("6.1.1", "Send text message of length 0.", "A message is echo'ed back to us (with empty payload).",
			func(s *session) {
				s.expect(OK, textMessage(nil))
				s.expectClose(normalClose)
				s.send(frame{op: opText})
				s.closeAfter(1)
			}),
		newCase("6.1.2", "Send fragmented text message, 3 fragments each of length 0.", "A message is echo'ed back to us (with empty payload).",
			func(s *session) {
				s.expect(OK, textMessage(nil))
				s.expectClose(normalClose)
				s.send(frame{op: opText, more: true})
				s.send(frame{op: opCont, more: true})
				s.send(frame{op: opCont})
				s.closeAfter(1)
			}),
		newCase("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.",
			"A message is echo'ed back to us (with payload = payload of middle fragment).",
			func(s *session) {
				payload := []byte("middle frame payload")
				s.expect(OK, textMessage(payload))
				s.expectClose(normalClose)
				s.send(frame{op: opText, more: true})
				s.send(frame{op: opCont, more: true, payload: payload})
				s.send(frame{op: opCont})
				s.closeAfter(1)
			}),
		newCase("6.2.1", fmt.Sprintf("Send a valid UTF-8 text message in one fragment. MESSAGE: %s (%x)", mixed, mixed), echo,
			func(s *session) {
				s.expect(OK, textMessage(mixed))
				s.expectClose(normalClose)
				s.sendMessage(mixed, false, 0)
				s.closeAfter(1)
			}),
		newCase("6.2.2", fmt.Sprintf("Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary. FRAGMENT 1: %s, FRAGMENT 2: %s", mixed[:15], mixed[15:]), echo,
			func(s *session) {
				p1, p2 := []byte("Hello-µ@ßöä"), []byte("üàá-UTF-8!!")
				s.expect(OK, textMessage(append(append([]byte(nil), p1...), p2...)))
				s.expectClose(normalClose)
				s.send(frame{op: opText, more: true, payload: p1})
				s.send(frame{op: opCont, payload: p2})
				s.closeAfter(1)
			}),
		newCase("6.2.3", fmt.Sprintf("Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: %s (%x)", mixed, mixed), echo,
			func(s *session) {
				s.expect(OK, textMessage(mixed))
				s.expectClose(normalClose)
				s.sendMessage(mixed, false, 1)
				s.closeAfter(1)
			}),
		newCase("6.2.4", fmt.Sprintf("Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: %s (%x)", kosme, kosme), echo,
			func(s *session) {
				s.expect(OK, textMessage([]byte(kosme)))
				s.expectClose(normalClose)
				s.sendMessage([]byte(kosme), false, 1)
				s.closeAfter(1)
			}),
		newCase("6.3.1", fmt.Sprintf("Send invalid UTF-8 text message unfragmented. MESSAGE: %x", utf8Surrogate), failNow,
			func(s *session) {
				s.expect(OK)
				s.expectClose(serverFailsUTF8)
				s.sendMessage(utf8Surrogate, false, 0)
				s.killAfter(1)
			}),
		newCase("6.3.2", fmt.Sprintf("Send invalid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends. MESSAGE: %x", utf8Surrogate), failNow,
			func(s *session) {
				s.expect(OK)
				s.expectClose(serverFailsUTF8)
				s.sendMessage(utf8Surrogate, false, 1)
				s.killAfter(1)
			}),
		failFastCase("6.4.1", fmt.Sprintf("Send invalid UTF-8 text message in 3 fragments (frames). First frame payload is valid, then wait, then 2nd frame which contains the payload making the sequence invalid, then wait, then 3rd frame with rest. Note that PART1 and PART3 are valid UTF-8 in themselves, PART2 is a 0x110000 encoded as in the UTF-8 integer encoding scheme, but the codepoint is invalid (out of range). PART1 = %x, PART2 = %x, PART3 = %x",
			utf8OutOfRange1, utf8OutOfRange2, utf8OutOfRange3), false,
			utf8OutOfRange1, utf8OutOfRange2, utf8OutOfRange3),
		failFastCase("6.4.2", fmt.Sprintf("Same as Case 6.4.1, but in 2nd frame, we send only up to and including the octet making the complete payload invalid. PART1 = %x, PART2 = %x, PART3 = %x",
			utf8OutOfRange[:12], utf8OutOfRange[12:13], utf8OutOfRange[13:]), false,
			utf8OutOfRange[:12], utf8OutOfRange[12:13], utf8OutOfRange[13:]),
		failFastCase("6.4.3", fmt.Sprintf("Same as Case 6.4.1, but we send message not in 3 frames, but in 3 chops of the same message frame. PART1 = %x, PART2 = %x, PART3 = %x",
			utf8OutOfRange1, utf8OutOfRange2, utf8OutOfRange3), true,
			utf8OutOfRange1, utf8OutOfRange2, utf8OutOfRange3),
		failFastCase("6.4.4", fmt.Sprintf("Same as Case 6.4.2, but we send message not in 3 frames, but in 3 chops of the same message frame. PART1 = %x, PART2 = %x, PART3 = %x",
			utf8OutOfRange[:12], utf8OutOfRange[12:13], utf8OutOfRange[13:]), true,
			utf8OutOfRange[:12], utf8OutOfRange[12:13], utf8OutOfRange[13:]),
	}

	// 6.5 - 6.23: one case per test string, each sent as one text message.
	for i, g := range utf8TestGroups() {
		for j, v := range g.vectors {
			id := fmt.Sprintf("6.%d.%d", i+5, j+1)
			desc := "Send a text message with payload which is valid UTF-8 in one fragment."
			exp := echo
			if !v.valid {
				desc = "Send a text message with payload which is not valid UTF-8 in one fragment."
				exp = failNow
			}
			desc += fmt.Sprintf(" Payload: 0x%x (%s)", v.data, strings.ToLower(g.name))
			cs = append(cs, newCase(id, desc, exp, func(s *session) {
				if v.valid {
					s.expect(OK, textMessage(v.data))
					s.expectClose(normalClose)
				} else {
					s.expect(OK)
					s.expectClose(serverFailsUTF8)
				}
				s.sendMessage(v.data, false, 0)
				s.killAfter(0.5)
			}))
		}
	}
	return cs
}

// failFastCase is 6.4.x: an invalid text message goes out in three parts
// with a 1 s pause after the first and the second. The first part is valid,
// so the server must wait ("timeout A"); the second makes the message
// invalid, so the server should fail the connection right away (OK). If it
// only does so after the last part ("timeout B"), it is NON-STRICT.
//
// The parts are frames of a fragmented message, or (chops) pieces of one
// frame that carries the whole message, followed by an empty final frame.
func failFastCase(id, desc string, chops bool, parts ...[]byte) Case {
	return newCase(id, desc,
		"The first frame is accepted, we expect to timeout on the first wait. The 2nd frame should be rejected immediately (fail fast on UTF-8). If we timeout, we expect the connection is failed at least then, since the complete message payload is not valid UTF-8.",
		func(s *session) {
			s.expect(OK, timeoutEvent("A"))
			s.expect(NonStrict, timeoutEvent("A"), timeoutEvent("B"))
			s.expectClose(serverFailsUTF8)

			var whole []byte
			if chops {
				var msg []byte
				for _, p := range parts {
					msg = append(msg, p...)
				}
				whole = encodeFrame(opText, false, 0, msg)
			}
			off := 0
			if chops {
				off = len(whole) - len(utf8OutOfRange) // the frame header
			}
			sendPart := func(i int) {
				if chops {
					end := off + len(parts[i])
					if i == 0 {
						s.sendRaw(whole[:end], "first chop of the message frame")
					} else {
						s.sendRaw(whole[off:end], fmt.Sprintf("chop %d of the message frame", i+1))
					}
					off = end
					return
				}
				f := frame{op: opCont, more: i < len(parts)-1, payload: parts[i]}
				if i == 0 {
					f.op = opText
				}
				s.send(f)
			}

			sendPart(0)
			s.sleep(1)
			if !s.isOpen() {
				return
			}
			s.record(timeoutEvent("A"))
			sendPart(1)
			s.sleep(1)
			if !s.isOpen() {
				return
			}
			s.record(timeoutEvent("B"))
			sendPart(2)
			if chops {
				s.send(frame{op: opCont}) // end of the message
			}
			s.killAfter(1)
		})
}
