package conform

import "unicode/utf8"

// utf8Vector is one UTF-8 decoder test string and whether it is valid.
type utf8Vector struct {
	valid bool
	data  []byte
}

// utf8VectorGroup is one subgroup of cases 6.5 - 6.23.
type utf8VectorGroup struct {
	name    string
	vectors []utf8Vector
}

// kosme is "κόσμε", the Greek word used throughout Markus Kuhn's UTF-8
// decoder stress test and the group 6 cases.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// utf8TestGroups builds the test strings of cases 6.5.x - 6.23.x, following
// the sections of Markus Kuhn's "UTF-8 decoder capability and stress test"
// in the order and grouping the Autobahn cases use.
func utf8TestGroups() []utf8VectorGroup {
	ok := func(s ...string) []utf8Vector {
		var v []utf8Vector
		for _, x := range s {
			v = append(v, utf8Vector{true, []byte(x)})
		}
		return v
	}
	bad := func(s ...string) []utf8Vector {
		var v []utf8Vector
		for _, x := range s {
			v = append(v, utf8Vector{false, []byte(x)})
		}
		return v
	}
	var groups []utf8VectorGroup
	add := func(name string, v ...utf8Vector) {
		groups = append(groups, utf8VectorGroup{name, v})
	}

	// 1: some correct UTF-8 text, code points of 1 to 4 octets.
	add("Some valid UTF-8 sequences", ok(
		"hello\x24world",             // U+0024
		"hello\xc2\xa2world",         // U+00A2
		"hello\xe2\x82\xacworld",     // U+20AC
		"hello\xf0\xa4\xad\xa2world", // U+24B62
		kosme)...)

	// Every prefix of kosme: valid only where it ends on a code point.
	var prefixes []utf8Vector
	for i := 1; i <= len(kosme); i++ {
		p := kosme[:i]
		prefixes = append(prefixes, utf8Vector{utf8.ValidString(p), []byte(p)})
	}
	add("All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes...)

	// 2.1: first possible sequence of each length.
	add("First possible sequence of a certain length", ok("\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80")...)
	// Lengths 5 and 6 follow the old integer scheme but are not UTF-8.
	add("First possible sequence length 5/6 (invalid codepoints)", bad("\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80")...)

	// 2.2: last possible sequence of each length.
	add("Last possible sequence of a certain length", ok("\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf")...)
	add("Last possible sequence length 4/5/6 (invalid codepoints)", bad("\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf")...)

	// 2.3: other boundaries: U+D7FF, U+E000, U+FFFD, U+10FFFF, and
	// U+110000 beyond the Unicode range.
	add("Other boundary conditions", append(ok("\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"), bad("\xf4\x90\x80\x80")...)...)

	// 3.1: continuation octets where a code point should start.
	cont := []byte{}
	for c := 0x80; c < 0xbf; c++ { // 0x80 .. 0xbe, as in Autobahn
		cont = append(cont, byte(c))
	}
	add("Unexpected continuation bytes", bad("\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf",
		"\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", string(cont))...)

	// 3.2: lonely start octets, each followed by a space.
	var lonely []utf8Vector
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var s []byte
		for c := r[0]; c < r[1]; c++ { // upper bound excluded, as in Autobahn
			s = append(s, byte(c), 0x20)
		}
		lonely = append(lonely, utf8Vector{false, s})
	}
	add("Lonely start characters", lonely...)

	// 3.3: sequences with their last continuation octet missing.
	truncated := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	add("Sequences with last continuation byte missing", bad(truncated...)...)

	// 3.4: all of 3.3 concatenated.
	all := ""
	for _, s := range truncated {
		all += s
	}
	add("Concatenation of incomplete sequences", bad(all)...)

	// 3.5: octets that never appear in UTF-8.
	add("Impossible bytes", bad("\xfe", "\xff", "\xfe\xfe\xff\xff")...)

	// 4.1 - 4.3: overlong encodings.
	add("Examples of an overlong ASCII character", bad("\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",
		"\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf")...)
	add("Maximum overlong sequences", bad("\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf",
		"\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf")...)
	add("Overlong representation of the NUL character", bad("\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80",
		"\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80")...)

	// 5.1 - 5.2: UTF-16 surrogates encoded in UTF-8.
	add("Single UTF-16 surrogates", bad("\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf",
		"\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf")...)
	var paired []utf8Vector
	for _, hi := range []string{"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf"} {
		for _, lo := range []string{"\xed\xb0\x80", "\xed\xbf\xbf"} {
			paired = append(paired, utf8Vector{false, []byte(hi + lo)})
		}
	}
	add("Paired UTF-16 surrogates", paired...)

	// 5.3: non-characters are valid UTF-8 (RFC 3629): U+FFFE, U+FFFF and
	// the last two code points of planes 1 - 16.
	nonChars := ok("\xef\xbf\xbe", "\xef\xbf\xbf")
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // beyond U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				s := []byte{z1, z2, 0xbf, z3}
				if z1 == 0xf0 && z2 == 0x8f {
					continue // overlong
				}
				nonChars = append(nonChars, utf8Vector{true, s})
			}
		}
	}
	add("Non-character code points (valid UTF-8)", nonChars...)

	// The "Specials" block, including the replacement character.
	add("Unicode specials (i.e. replacement char)", ok("\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb",
		"\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf")...)
	return groups
}
