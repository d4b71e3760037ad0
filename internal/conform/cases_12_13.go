package conform

import (
	"bytes"
	"fmt"
	"strings"
)

// messageSizes are the (size, count, wait, auto-fragment size) rows of every
// subgroup of 12 and 13.
var messageSizes = []struct {
	size, count int
	wait        float64
	autoFrag    int
}{
	{16, 1000, 60, 0},
	{64, 1000, 60, 0},
	{256, 1000, 120, 0},
	{1024, 1000, 240, 0},
	{4096, 1000, 480, 0},
	{8192, 1000, 480, 0},
	{16384, 1000, 480, 0},
	{32768, 1000, 480, 0},
	{65536, 1000, 480, 0},
	{131072, 1000, 480, 0},
	{8192, 1000, 480, 256},
	{16384, 1000, 480, 256},
	{32768, 1000, 480, 256},
	{65536, 1000, 480, 256},
	{131072, 1000, 480, 256},
	{131072, 1000, 480, 1024},
	{131072, 1000, 480, 4096},
	{131072, 1000, 480, 32768},
}

// quickDeflateBytes is the payload budget of one compression case without
// Options.Slow.
const quickDeflateBytes = 512 << 10

// DeflateMessageCount returns how many of Autobahn's count messages of size
// octets a compression case sends: all of them with Slow, otherwise as many
// as fit in 512 KiB (at least 10).
func (t *Target) DeflateMessageCount(count, size int) int {
	if t.Slow || size <= 0 {
		return count
	}
	return min(count, max(10, quickDeflateBytes/size))
}

// offerParams renders offers the way the Autobahn descriptions list them:
// (requestNoContextTakeover, requestMaxWindowBits) pairs.
func offerParams(offers []DeflateOffer) string {
	s := make([]string, len(offers))
	for i, o := range offers {
		s[i] = fmt.Sprintf("(%s, %d)", pyBool(o.RequestNoContextTakeover), o.RequestMaxWindowBits)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// deflateOfferSets are the client offers of 13.1 - 13.7.
func deflateOfferSets() [][]DeflateOffer {
	with := func(noCtx bool, bits int) DeflateOffer {
		o := defaultOffer()
		o.RequestNoContextTakeover, o.RequestMaxWindowBits = noCtx, bits
		return o
	}
	return [][]DeflateOffer{
		{with(false, 0)},
		{with(true, 0)},
		{with(false, 9)},
		{with(false, 15)},
		{with(true, 9)},
		{with(true, 15)},
		{with(true, 9), with(true, 0), with(false, 0)},
	}
}

// compressionCases are groups 12 (different payloads, default offer) and 13
// (JSON payload, different offers).
func compressionCases() []Case {
	var cs []Case
	for j, src := range compressionSources {
		for i, row := range messageSizes {
			desc := fmt.Sprintf("Send %d compressed messages each of payload size %d, auto-fragment to %d octets. Use default permessage-deflate offer. Payload: %s.",
				row.count, row.size, row.autoFrag, src.desc)
			cs = append(cs, compressionCase(fmt.Sprintf("12.%d.%d", j+1, i+1), desc, src, row.size, row.count, row.wait, row.autoFrag,
				[]DeflateOffer{defaultOffer()}))
		}
	}
	for j, offers := range deflateOfferSets() {
		for i, row := range messageSizes {
			desc := fmt.Sprintf("Send %d compressed messages each of payload size %d, auto-fragment to %d octets. Use permessage-deflate client offers (requestNoContextTakeover, requestMaxWindowBits): %s. Payload: %s.",
				row.count, row.size, row.autoFrag, offerParams(offers), compressionSources[0].desc)
			cs = append(cs, compressionCase(fmt.Sprintf("13.%d.%d", j+1, i+1), desc, compressionSources[0], row.size, row.count, row.wait, row.autoFrag, offers))
		}
	}
	return cs
}

// compressionCase offers permessage-deflate and sends count messages of size
// octets, cut from the payload source one after the other, each after the
// echo of the previous one came back intact. A server that declines the
// extension makes the case UNIMPLEMENTED.
func compressionCase(id, desc string, src *compressionData, size, count int, wait float64, autoFrag int, offers []DeflateOffer) Case {
	c := newCase(id, desc, fmt.Sprintf("Receive echo'ed messages (with payload as sent). Timeout case after %g secs.", wait), nil)
	c.Run = script(func(s *session) {
		s.expectClose(normalClose)
		if !s.deflate() {
			s.setBehavior(Unimplemented, fmt.Sprintf("The server declined permessage-deflate (offers (requestNoContextTakeover, requestMaxWindowBits): %s).", offerParams(offers)))
			s.sendClose(closeNormal, nil)
			return
		}
		wait := s.t.waitSecs(wait)
		count := s.t.DeflateMessageCount(count, size)
		s.autoFragment = autoFrag
		s.setBehavior(Failed, fmt.Sprintf("Case did not finish within %g seconds.", wait))

		data, ptr, sent := src.bytes(), 0, 0
		var want []byte
		sendOne := func() {
			// The next size octets of the source, wrapping around.
			end := (ptr + size) % len(data)
			if end > ptr {
				want = data[ptr:end]
			} else {
				want = append(append([]byte(nil), data[ptr:]...), data[:end]...)
			}
			ptr = end
			sent++
			s.sendMessage(want, src.binary, 0)
			s.flush()
		}
		s.onMessage = func(msg []byte, binary bool) {
			switch {
			case binary != src.binary:
				s.setBehavior(Failed, fmt.Sprintf("Echo'ed message type differs from what I sent (got binary %t, expected binary %t).", binary, src.binary))
			case len(msg) != len(want):
				s.setBehavior(Failed, fmt.Sprintf("Echo'ed message length differs from what I sent (got length %d, expected length %d).", len(msg), len(want)))
			case !bytes.Equal(msg, want):
				s.setBehavior(Failed, fmt.Sprintf("Echo'ed message %d of %d: contents differ from what I sent.", sent, count))
			case sent < count:
				sendOne()
				return
			default:
				result := "Ok, received all echo'ed messages in time."
				if count < 1000 {
					result += fmt.Sprintf(" (%d messages in quick mode.)", count)
				}
				s.setBehavior(OK, result)
			}
			s.sendClose(closeNormal, nil)
		}
		s.closeAfter(wait)
		sendOne()
	}, offers...)
	return c
}
