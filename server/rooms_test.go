package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// roomServer runs a tiny room protocol: "join NAME", "leave NAME" and
// "say NAME TEXT" (publish TEXT to room NAME); it answers joins and leaves
// with "ok".
func roomServer() *server.Server {
	srv := &server.Server{Logger: quietLogger()}
	srv.OnMessage = func(c *server.Client, m server.Message) {
		verb, rest, _ := strings.Cut(string(m.Data), " ")
		switch verb {
		case "join":
			if err := c.Join(rest); err != nil {
				c.SendText("error " + err.Error())
				return
			}
			c.SendText("ok")
		case "leave":
			c.Leave(rest)
			c.SendText("ok")
		case "say":
			name, text, _ := strings.Cut(rest, " ")
			srv.PublishText(name, text)
		}
	}
	return srv
}

func say(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	_, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestPublishReachesOnlyTheRoomsMembers(t *testing.T) {
	srv := roomServer()
	url := start(t, srv)
	a, b, c := dial(t, url), dial(t, url), dial(t, url)
	for _, step := range []struct {
		conn *websocket.Conn
		cmd  string
	}{{a, "join red"}, {b, "join red"}, {b, "join blue"}, {c, "join blue"}, {a, "join all"}, {b, "join all"}, {c, "join all"}} {
		say(t, step.conn, step.cmd)
		expect(t, step.conn, "ok")
	}
	if got := srv.RoomLen("red"); got != 2 {
		t.Fatalf("RoomLen(red) = %d, want 2", got)
	}

	// One publisher, so that every client sees its rooms' messages in
	// publish order; the marker published last to a room everyone joined
	// proves nothing else was on the way.
	say(t, c, "say red to red")
	say(t, c, "say blue to blue")
	say(t, c, "say green nobody")
	say(t, c, "say all end")
	expect(t, a, "to red")
	expect(t, a, "end")
	expect(t, b, "to red")
	expect(t, b, "to blue")
	expect(t, b, "end")
	expect(t, c, "to blue")
	expect(t, c, "end")
}

func TestLeavingAndDisconnectingEmptiesRooms(t *testing.T) {
	srv := roomServer()
	url := start(t, srv)
	a, b := dial(t, url), dial(t, url)
	for _, room := range []string{"x", "y", "z"} {
		say(t, a, "join "+room)
		expect(t, a, "ok")
	}
	say(t, b, "join y")
	expect(t, b, "ok")
	say(t, a, "join y") // a second join is no change
	expect(t, a, "ok")
	if got := srv.RoomLen("y"); got != 2 {
		t.Fatalf("RoomLen(y) = %d, want 2", got)
	}

	say(t, a, "leave x")
	expect(t, a, "ok")
	names := srv.RoomNames()
	slices.Sort(names)
	if want := []string{"y", "z"}; !slices.Equal(names, want) {
		t.Fatalf("RoomNames = %v, want %v (an empty room is forgotten)", names, want)
	}

	a.Close()
	waitFor(t, "a leaves its rooms when it goes", func() bool {
		return srv.RoomLen("z") == 0 && srv.RoomLen("y") == 1
	})
	say(t, b, "say y still here")
	expect(t, b, "still here")
	if names := srv.RoomNames(); !slices.Equal(names, []string{"y"}) {
		t.Fatalf("RoomNames = %v, want [y]", names)
	}
}

func TestJoinRefusesAnEmptyName(t *testing.T) {
	url := start(t, roomServer())
	a := dial(t, url)
	say(t, a, "join ")
	expect(t, a, "error "+server.ErrBadRoom.Error())
}

// TestRoomMembershipChurn has many clients join overlapping rooms and leave
// in an order that moves members around inside the rooms' lists; every
// publish must still reach exactly the current members.
func TestRoomMembershipChurn(t *testing.T) {
	srv := roomServer()
	url := start(t, srv)
	const n = 30
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dial(t, url)
		say(t, conns[i], "join "+[]string{"even", "odd"}[i%2])
		expect(t, conns[i], "ok")
		say(t, conns[i], "join all")
		expect(t, conns[i], "ok")
	}
	// Close every third client, from the front, so the rooms' last
	// members keep moving into the holes.
	for i := 0; i < n; i += 3 {
		conns[i].Close()
	}
	waitFor(t, "closed clients leave", func() bool { return srv.RoomLen("all") == n-n/3 })
	say(t, conns[1], "say even e")
	say(t, conns[1], "say all a")
	for i, c := range conns {
		if i%3 == 0 {
			continue
		}
		if i%2 == 0 {
			expect(t, c, "e")
		}
		expect(t, c, "a")
	}
	if got, want := srv.RoomLen("even"), 10; got != want {
		t.Errorf("RoomLen(even) = %d, want %d", got, want)
	}
}
