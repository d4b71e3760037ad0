package wsproto

import "unicode/utf8"

// UTF8 validates UTF-8 text that arrives in pieces, such as a text message
// split across frames and reads. Code points may be split anywhere.
//
// The zero value is ready to use and holds empty text. Write each piece in
// order, then call Done at the end of the text:
//
//	var v wsproto.UTF8
//	ok := v.Write([]byte{0xe2, 0x82}) && v.Write([]byte{0xac}) && v.Done() // "€"
type UTF8 struct {
	need   uint8 // continuation bytes still expected, or utf8Failed
	lo, hi uint8 // range allowed for the next continuation byte
}

// utf8Failed in UTF8.need marks text that can no longer become valid.
const utf8Failed = 0xff

// Write adds p to the text and reports whether the text so far can still be
// valid UTF-8, that is, whether it is valid or a prefix of valid UTF-8. It
// returns false as soon as p contains the first byte that makes the text
// invalid, for example a surrogate (ED A0 80), an overlong form (C0 80,
// E0 80 80) or a code point above U+10FFFF (F4 90 80 80), even if the
// sequence is not complete yet. Once Write has returned false, it and Done
// keep returning false until Reset.
func (v *UTF8) Write(p []byte) bool {
	if v.need == utf8Failed {
		return false
	}
	// Finish a code point begun by an earlier Write.
	for v.need > 0 && len(p) > 0 {
		if !v.step(p[0]) {
			return false
		}
		p = p[1:]
	}
	if len(p) == 0 {
		return true
	}
	// The bulk of p, up to an incomplete code point at its end, goes to the
	// standard library, which is fast on ASCII; the incomplete tail, at most
	// three bytes, is remembered byte by byte.
	i := incompleteTail(p)
	if !utf8.Valid(p[:i]) {
		v.need = utf8Failed
		return false
	}
	for _, c := range p[i:] {
		if !v.step(c) {
			return false
		}
	}
	return true
}

// Done reports whether the text written so far is valid UTF-8 that ends on a
// complete code point. Call it at the end of a message.
func (v *UTF8) Done() bool { return v.need == 0 }

// Reset empties the text, making v ready for a new one.
func (v *UTF8) Reset() { *v = UTF8{} }

// step advances the validator by one byte of a multi-byte code point.
func (v *UTF8) step(c byte) bool {
	if v.need > 0 {
		if c < v.lo || c > v.hi {
			v.need = utf8Failed
			return false
		}
		v.need--
		v.lo, v.hi = 0x80, 0xbf
		return true
	}
	// A lead byte. The allowed range of the first continuation byte rules
	// out overlong forms (E0, F0), surrogates (ED) and values above U+10FFFF
	// (F4); see the table in RFC 3629, section 4.
	v.lo, v.hi = 0x80, 0xbf
	switch {
	case c < 0x80:
		return true
	case c < 0xc2:
		// A stray continuation byte, or C0 and C1, which only start
		// overlong forms.
		v.need = utf8Failed
		return false
	case c < 0xe0:
		v.need = 1
	case c < 0xf0:
		v.need = 2
		switch c {
		case 0xe0:
			v.lo = 0xa0
		case 0xed:
			v.hi = 0x9f
		}
	case c < 0xf5:
		v.need = 3
		switch c {
		case 0xf0:
			v.lo = 0x90
		case 0xf4:
			v.hi = 0x8f
		}
	default:
		v.need = utf8Failed
		return false
	}
	return true
}

// incompleteTail returns the index where a code point begins that p ends
// before its last byte, or len(p) if there is none.
func incompleteTail(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		c := p[i]
		if c < 0x80 {
			return len(p) // ASCII: no code point in progress
		}
		if c >= 0xc0 { // a lead byte
			if i+seqLen(c) > len(p) {
				return i
			}
			return len(p)
		}
	}
	return len(p)
}

// seqLen returns the length of the UTF-8 sequence that the lead byte c starts,
// or 1 if c cannot start a multi-byte sequence.
func seqLen(c byte) int {
	switch {
	case c < 0xc2:
		return 1
	case c < 0xe0:
		return 2
	case c < 0xf0:
		return 3
	case c < 0xf5:
		return 4
	}
	return 1
}
