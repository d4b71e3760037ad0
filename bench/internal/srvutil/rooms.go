package srvutil

import "strings"

// RoomOf returns the room a request path names: "NAME" for "/room/NAME"
// (the query, if any, already stripped), "" for any other path, which
// means the common room of every client. A path of "/room/" with no name
// is the common room too.
func RoomOf(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	name, ok := strings.CutPrefix(path, "/room/")
	if !ok {
		return ""
	}
	return name
}

// Set is a set of clients kept in a slice, so that a publish walks a slice
// rather than a map; adding and removing cost O(1) (the last member takes
// the place of the one removed, so order is not kept). It is not safe for
// concurrent use: servers that publish from several goroutines guard it
// with their own lock.
type Set[T comparable] struct {
	list []T
	pos  map[T]int
}

// Add adds c; adding a member again does nothing.
func (s *Set[T]) Add(c T) {
	if s.pos == nil {
		s.pos = make(map[T]int)
	}
	if _, ok := s.pos[c]; ok {
		return
	}
	s.pos[c] = len(s.list)
	s.list = append(s.list, c)
}

// Remove removes c if it is a member.
func (s *Set[T]) Remove(c T) {
	i, ok := s.pos[c]
	if !ok {
		return
	}
	last := len(s.list) - 1
	if i != last {
		moved := s.list[last]
		s.list[i] = moved
		s.pos[moved] = i
	}
	var zero T
	s.list[last] = zero
	s.list = s.list[:last]
	delete(s.pos, c)
}

// Len is the number of members.
func (s *Set[T]) Len() int { return len(s.list) }

// Members returns the members; the slice is only valid until the set next
// changes.
func (s *Set[T]) Members() []T { return s.list }

// Rooms holds every client (the common room) and the members of each named
// room. A client is in the common room and in at most one named room. Like
// Set it has no lock of its own.
type Rooms[T comparable] struct {
	all   Set[T]
	named map[string]*Set[T]
}

// Join adds c to the common room and, if room is not "", to room.
func (r *Rooms[T]) Join(c T, room string) {
	r.all.Add(c)
	if room == "" {
		return
	}
	if r.named == nil {
		r.named = make(map[string]*Set[T])
	}
	s := r.named[room]
	if s == nil {
		s = &Set[T]{}
		r.named[room] = s
	}
	s.Add(c)
}

// Leave removes c from the common room and from room; a named room left
// empty is forgotten.
func (r *Rooms[T]) Leave(c T, room string) {
	r.all.Remove(c)
	if room == "" {
		return
	}
	if s := r.named[room]; s != nil {
		s.Remove(c)
		if s.Len() == 0 {
			delete(r.named, room)
		}
	}
}

// Members returns the clients a message sent by a member of room reaches:
// every client for "", the room's members otherwise. The slice is only
// valid until the rooms next change.
func (r *Rooms[T]) Members(room string) []T {
	if room == "" {
		return r.all.Members()
	}
	if s := r.named[room]; s != nil {
		return s.Members()
	}
	return nil
}
