package wsproto

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// checkUTF8 feeds p to a UTF8 validator in pieces ending at cuts and checks
// every answer against the reference: Write must fail exactly when the text
// so far stops being a prefix of valid UTF-8, and Done must agree with
// utf8.Valid.
func checkUTF8(t *testing.T, p []byte, cuts []int) {
	t.Helper()
	var v UTF8
	prev, failed := 0, false
	for _, c := range append(cuts, len(p)) {
		ok := v.Write(p[prev:c])
		prev = c
		want := !failed && validPrefix(p[:c])
		if ok != want {
			t.Fatalf(
				"%q cut at %v: Write up to %d = %v, want %v",
				p, cuts, c, ok, want)
		}
		failed = failed || !ok
	}
	if got, want := v.Done(), utf8.Valid(p); got != want {
		t.Fatalf(
			"%q cut at %v: Done() = %v, want %v",
			p, cuts, got, want)
	}
}

// checkUTF8Splits checks p whole, split in two at every offset and byte by
// byte.
func checkUTF8Splits(t *testing.T, p []byte) {
	t.Helper()
	checkUTF8(t, p, nil)
	all := make([]int, 0, len(p))
	for k := 0; k <= len(p); k++ {
		checkUTF8(t, p, []int{k})
		if k > 0 {
			all = append(all, k)
		}
	}
	checkUTF8(t, p, all)
}

func TestUTF8(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{
			name:  "empty",
			in:    "",
			valid: true,
		},
		{
			name:  "ASCII",
			in:    "Hello, world",
			valid: true,
		},
		{
			name:  "mixed",
			in:    "κόσμε € 😀 ✓ a",
			valid: true,
		},
		{
			name:  "surrogate D800",
			in:    "a\xed\xa0\x80b",
			valid: false,
		},
		{
			name:  "surrogate DFFF",
			in:    "\xed\xbf\xbf",
			valid: false,
		},
		{
			name:  "overlong NUL in 2 bytes",
			in:    "\xc0\x80",
			valid: false,
		},
		{
			name:  "overlong 2-byte",
			in:    "\xc1\xbf",
			valid: false,
		},
		{
			name:  "overlong NUL in 3 bytes",
			in:    "\xe0\x80\x80",
			valid: false,
		},
		{
			name:  "overlong U+07FF in 3 bytes",
			in:    "\xe0\x9f\xbf",
			valid: false,
		},
		{
			name:  "overlong U+FFFF in 4 bytes",
			in:    "\xf0\x8f\xbf\xbf",
			valid: false,
		},
		{
			name:  "above U+10FFFF",
			in:    "\xf4\x90\x80\x80",
			valid: false,
		},
		{
			name:  "F5 lead",
			in:    "\xf5\x80\x80\x80",
			valid: false,
		},
		{
			name:  "FF",
			in:    "ab\xff",
			valid: false,
		},
		{
			name:  "stray continuation",
			in:    "a\x80b",
			valid: false,
		},
		{
			name:  "truncated 2-byte",
			in:    "\xc3",
			valid: false,
		},
		{
			name:  "truncated 3-byte",
			in:    "ab\xe2\x82",
			valid: false,
		},
		{
			name:  "truncated 4-byte",
			in:    "\xf0\x9f\x98",
			valid: false,
		},
		{
			name:  "truncated sequence followed by ASCII",
			in:    "\xe2\x82a",
			valid: false,
		},
		{
			name:  "truncated sequence followed by a lead",
			in:    "\xe2\x82\xe2\x82\xac",
			valid: false,
		},
		{
			name:  "too many continuation bytes",
			in:    "\xc3\xa9\xa9",
			valid: false,
		},
		{
			name:  "long valid text with a late error",
			in:    strings.Repeat("ascii and ✓ ", 20) + "\xed\xa0\x80",
			valid: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if utf8.ValidString(tt.in) != tt.valid {
				t.Fatalf("bad test: utf8.ValidString disagrees")
			}
			checkUTF8Splits(t, []byte(tt.in))
		})
	}
}

// TestUTF8Boundaries checks the code points at the edges of every encoding
// length and around the surrogates, each alone and between ASCII.
func TestUTF8Boundaries(t *testing.T) {
	runes := []rune{
		0, 0x7f, 0x80, 0x7ff, 0x800, 0xfff, 0x1000, 0xcfff, 0xd000, 0xd7ff,
		0xe000, 0xfffd, 0xffff, 0x10000, 0x3ffff, 0x40000, 0xfffff, 0x100000, 0x10ffff,
	}
	for _, r := range runes {
		enc := utf8.AppendRune(nil, r)
		checkUTF8Splits(t, enc)
		checkUTF8Splits(t, []byte("a"+string(enc)+"b"))
		// Every truncation of the encoding is invalid text, but a valid
		// prefix.
		for k := 1; k < len(enc); k++ {
			checkUTF8Splits(t, enc[:k])
		}
	}
	// Just past the edges: U+D800, U+DFFF and U+110000 written as UTF-8
	// would be.
	for _, p := range [][]byte{{0xed, 0xa0, 0x80}, {0xed, 0xbf, 0xbf}, {0xf4, 0x90, 0x80, 0x80}} {
		checkUTF8Splits(t, p)
	}
}

// TestUTF8Exhaustive compares every 1- and 2-byte input, and every 3-byte
// input that starts with a lead byte, with the reference, byte by byte.
func TestUTF8Exhaustive(t *testing.T) {
	var p [3]byte
	check := func(p []byte) {
		var v UTF8
		failed := false
		for i := range p {
			ok := v.Write(p[i : i+1])
			if ok != (!failed && validPrefix(p[:i+1])) {
				t.Fatalf(
					"% x: Write at byte %d = %v",
					p, i, ok)
			}
			failed = failed || !ok
		}
		if v.Done() != utf8.Valid(p) {
			t.Fatalf(
				"% x: Done() = %v",
				p, v.Done())
		}
		v.Reset()
		if v.Write(p) != validPrefix(p) {
			t.Fatalf(
				"% x whole: Write = %v",
				p, !validPrefix(p))
		}
	}
	for a := range 256 {
		p[0] = byte(a)
		check(p[:1])
		for b := range 256 {
			p[1] = byte(b)
			check(p[:2])
			if a < 0xc2 || a > 0xf4 {
				continue
			}
			for c := range 256 {
				p[2] = byte(c)
				check(p[:3])
			}
		}
	}
}

func TestUTF8ResetAndSticky(t *testing.T) {
	var v UTF8
	if v.Write([]byte("a\xff")) {
		t.Fatal("invalid text accepted")
	}
	if v.Write([]byte("ok")) || v.Done() {
		t.Fatal("the validator recovered from invalid text without Reset")
	}
	v.Reset()
	if !v.Write([]byte("ok \xe2")) || v.Done() {
		t.Fatal("after Reset: a prefix of valid text rejected or reported done")
	}
	v.Reset()
	if !v.Write([]byte("ok")) || !v.Done() {
		t.Fatal("after Reset: valid text rejected")
	}
}
