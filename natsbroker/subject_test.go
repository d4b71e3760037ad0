package natsbroker

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapeRoom(t *testing.T) {
	for room, want := range map[string]string{
		"lobby":   "lobby",
		"a-b_C9":  "a-b_C9",
		"a.b":     "a%2Eb",
		"*":       "%2A",
		">":       "%3E",
		"x y":     "x%20y",
		"100%":    "100%25",
		"é":       "%C3%A9",
		"tab\tnl": "tab%09nl",
	} {
		got := escapeRoom(room)
		if got != want {
			t.Errorf("escapeRoom(%q) = %q, want %q", room, got, want)
		}
		back, ok := unescapeRoom(got)
		if !ok || back != room {
			t.Errorf("unescapeRoom(%q) = %q, %v; want %q", got, back, ok, room)
		}
	}
	for _, tok := range []string{"", "a.b", "%", "%2", "%2e", "%zz", "a b", "%41", "é"} {
		if room, ok := unescapeRoom(tok); ok {
			t.Errorf("unescapeRoom(%q) = %q, want a refusal", tok, room)
		}
	}
}

// Every room name maps to one NATS token (no dots, wildcards, spaces or
// other bytes NATS treats specially), and back to itself; every token
// unescapeRoom accepts is the escape of exactly one name.
func FuzzRoomSubject(f *testing.F) {
	for _, s := range []string{"lobby", "a.b", "%41", "%2E", "é", "", " >*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s != "" {
			tok := escapeRoom(s)
			if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") || !utf8.ValidString(tok) {
				t.Fatalf("escapeRoom(%q) = %q: not a plain NATS token", s, tok)
			}
			if back, ok := unescapeRoom(tok); !ok || back != s {
				t.Fatalf("round trip of %q: %q, %v", s, back, ok)
			}
		}
		if room, ok := unescapeRoom(s); ok && escapeRoom(room) != s {
			t.Fatalf("unescapeRoom(%q) = %q, which escapes to %q", s, room, escapeRoom(room))
		}
	})
}
