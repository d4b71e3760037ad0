package srvutil

import (
	"slices"
	"testing"
)

func TestRoomOf(t *testing.T) {
	for path, want := range map[string]string{
		"/":              "",
		"":               "",
		"/chat":          "",
		"/room/":         "",
		"/room/a":        "a",
		"/room/a?x=1":    "a",
		"/room/r12/more": "r12/more",
		"/rooms/a":       "",
	} {
		if got := RoomOf(path); got != want {
			t.Errorf("RoomOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestRooms(t *testing.T) {
	var r Rooms[int]
	r.Join(1, "")
	r.Join(2, "a")
	r.Join(3, "a")
	r.Join(4, "b")
	r.Join(3, "a") // again: no duplicate
	sorted := func(s []int) []int { s = slices.Clone(s); slices.Sort(s); return s }
	if got := sorted(r.Members("")); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("everyone = %v", got)
	}
	if got := sorted(r.Members("a")); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("a = %v", got)
	}
	r.Leave(2, "a")
	if got := r.Members("a"); !slices.Equal(got, []int{3}) {
		t.Fatalf("a after 2 left = %v", got)
	}
	r.Leave(3, "a")
	if got := r.Members("a"); got != nil {
		t.Fatalf("empty room a still has %v", got)
	}
	if _, ok := r.named["a"]; ok {
		t.Fatal("an empty room is kept")
	}
	if got := sorted(r.Members("")); !slices.Equal(got, []int{1, 4}) {
		t.Fatalf("everyone after leaving = %v", got)
	}
	r.Leave(9, "zz") // not a member: nothing happens
}
