package main

import "testing"

func TestParsePorts(t *testing.T) {
	if p, err := parsePorts("21000-21999"); err != nil || p != (portRange{21000, 21999, 21000}) {
		t.Errorf("parsePorts(21000-21999) = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "21000", "21000-21000", "21999-21000", "0-10", "1-70000", "a-b"} {
		if _, err := parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q) did not fail", bad)
		}
	}
}
