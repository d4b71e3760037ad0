package server

import (
	"errors"
	"slices"

	"github.com/gobwas/ws"
)

// Rooms (topics) group clients under a name so that a message published to
// the room reaches every member. A client joins and leaves rooms by name,
// and leaves all of them when it goes. A room exists while it has members:
// an empty room costs nothing.

// room is a named set of clients. members is guarded by Server.roomsMu.
type room struct {
	name    string
	members []*Client
}

// membership is one room a client belongs to, with the client's position
// in the room's member list so that leaving costs no search of the room.
type membership struct {
	r *room
	i int // index of the client in r.members
}

// ErrBadRoom is returned by Join for an empty room name.
var ErrBadRoom = errors.New("server: room name must not be empty")

// Join adds the client to the named room; joining a room it is in already
// does nothing. It returns ErrClientClosed once the client is closing and
// ErrBadRoom for an empty name.
func (c *Client) Join(name string) error {
	if name == "" {
		return ErrBadRoom
	}
	s := c.srv
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	if c.leftRooms {
		return ErrClientClosed
	}
	for _, m := range c.joinedRooms() {
		if m.r.name == name {
			return nil
		}
	}
	r := s.rooms[name]
	if r == nil {
		if s.rooms == nil {
			s.rooms = make(map[string]*room)
		}
		r = &room{name: name}
		s.rooms[name] = r
		s.roomChanged(name)
	}
	c.setRooms(append(c.joinedRooms(), membership{r: r, i: len(r.members)}))
	r.members = append(r.members, c)
	return nil
}

// Leave takes the client out of the named room, if it is a member.
func (c *Client) Leave(name string) {
	s := c.srv
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	for k, m := range c.joinedRooms() {
		if m.r.name == name {
			s.removeMemberLocked(c, k)
			return
		}
	}
}

// Rooms returns the names of the rooms the client is in, in the order it
// joined them.
func (c *Client) Rooms() []string {
	s := c.srv
	s.roomsMu.RLock()
	defer s.roomsMu.RUnlock()
	names := make([]string, len(c.joinedRooms()))
	for k, m := range c.joinedRooms() {
		names[k] = m.r.name
	}
	return names
}

// leaveAllRooms takes a client that is going out of every room, and keeps
// it from joining any again.
func (s *Server) leaveAllRooms(c *Client) {
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	c.leftRooms = true
	for len(c.joinedRooms()) > 0 {
		s.removeMemberLocked(c, len(c.joinedRooms())-1)
	}
}

// removeMemberLocked removes membership k of c: the last member of the room
// takes c's place, and a room left empty is forgotten. s.roomsMu must be
// held for writing.
func (s *Server) removeMemberLocked(c *Client, k int) {
	m := c.joinedRooms()[k]
	r := m.r
	last := len(r.members) - 1
	if m.i != last {
		moved := r.members[last]
		r.members[m.i] = moved
		for j, mm := range moved.joinedRooms() {
			if mm.r == r {
				moved.joinedRooms()[j].i = m.i
				break
			}
		}
	}
	r.members[last] = nil
	r.members = r.members[:last]
	if len(r.members) == 0 {
		delete(s.rooms, r.name)
		s.roomChanged(r.name)
	}
	c.setRooms(slices.Delete(c.joinedRooms(), k, k+1))
}

// RoomLen returns the number of this server's clients in the named room.
func (s *Server) RoomLen(name string) int {
	s.roomsMu.RLock()
	defer s.roomsMu.RUnlock()
	if r := s.rooms[name]; r != nil {
		return len(r.members)
	}
	return 0
}

// RoomNames returns the names of the rooms that have members, in no
// particular order.
func (s *Server) RoomNames() []string {
	s.roomsMu.RLock()
	defer s.roomsMu.RUnlock()
	names := make([]string, 0, len(s.rooms))
	for name := range s.rooms {
		names = append(names, name)
	}
	return names
}

// PublishText sends a text message to every member of the named room. Like
// BroadcastText, the frame is encoded once (and compressed at most once per
// compression mode) and shared by every member's queue; members over their
// output limit are disconnected as by Send. Publishing to a room without
// members does nothing here. With a Broker set, the message also reaches
// the room's members on every other instance.
func (s *Server) PublishText(name, msg string) {
	s.publish(name, Text, stringBytes(msg))
	if name != "" {
		s.forward(name, Text, stringBytes(msg))
	}
}

// PublishBinary sends a binary message to every member of the named room,
// like PublishText. data may be reused once it returns.
func (s *Server) PublishBinary(name string, data []byte) {
	s.publish(name, Binary, data)
	if name != "" {
		s.forward(name, Binary, data)
	}
}

func (s *Server) publish(name string, op ws.OpCode, payload []byte) {
	s.roomsMu.RLock()
	defer s.roomsMu.RUnlock()
	r := s.rooms[name]
	if r == nil {
		return
	}
	s.stats.published(len(r.members))
	s.fanOut(r.members, op, payload)
}

// joinedRooms is the client's memberships. s.roomsMu must be held.
func (c *Client) joinedRooms() []membership {
	if c.rooms == nil {
		return nil
	}
	return *c.rooms
}

// setRooms replaces the client's memberships; a client in no room keeps
// none, not even the slice. s.roomsMu must be held for writing.
func (c *Client) setRooms(list []membership) {
	switch {
	case len(list) == 0:
		c.rooms = nil
	case c.rooms == nil:
		c.rooms = &list
	default:
		*c.rooms = list
	}
}
