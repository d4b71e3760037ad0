package server_test

import (
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/wsloop/wsloop/server"
)

// What a room membership costs: 10,000 idle clients (in a subprocess, as
// in TestIdleClientsCostNoGoroutines) join 10 rooms each, out of 1,000
// rooms of 100 members; the live heap is measured before and after, and
// once more after they left every room (an empty room costs nothing).
func TestRoomMembershipCost(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 10,000 connections")
	}
	const perClient, rooms = 10, 1000
	var joined, left sync.WaitGroup
	joined.Add(idleClients)
	left.Add(idleClients)
	srv := &server.Server{
		Logger:       quietLogger(),
		OnNewClient:  func(*server.Client) { joined.Done() },
		OnClientLeft: func(*server.Client, error) { left.Done() },
	}
	url := start(t, srv)

	stdin := startClientProcess(t, "TestIdleClientProcess", "WSLOOP_IDLE_URL="+url, "WSLOOP_IDLE_N="+strconv.Itoa(idleClients))
	joined.Wait()
	clients := srv.Clients()
	if len(clients) != idleClients {
		t.Fatalf("server holds %d clients, want %d", len(clients), idleClients)
	}

	runtime.GC()
	heapNone := heapInUse()
	rssNone := rss(t)
	// Client i joins rooms i, i+100, ..., i+900 (mod 1,000): 100 members
	// each.
	for i, c := range clients {
		for k := range perClient {
			if err := c.Join("room-" + strconv.Itoa((i+k*rooms/perClient)%rooms)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(srv.RoomNames()); n != rooms {
		t.Fatalf("%d rooms, want %d", n, rooms)
	}
	for _, name := range srv.RoomNames() {
		if n := srv.RoomLen(name); n != idleClients*perClient/rooms {
			t.Fatalf("room %s has %d members, want %d", name, n, idleClients*perClient/rooms)
		}
	}
	heapRooms := heapInUse()
	rssRooms := rss(t)
	memberships := idleClients * perClient
	t.Logf("live heap: %d B per membership (%d clients x %d rooms, %d rooms of %d; %d B per client with its %d memberships)",
		(heapRooms-heapNone)/memberships, idleClients, perClient, rooms, memberships/rooms,
		(heapRooms-heapNone)/idleClients, perClient)
	t.Logf("process RSS: %d B per membership", (rssRooms-rssNone)/memberships)

	for _, c := range clients {
		for _, name := range c.Rooms() {
			c.Leave(name)
		}
	}
	if n := len(srv.RoomNames()); n != 0 {
		t.Fatalf("%d rooms left after every member left", n)
	}
	heapAfter := heapInUse()
	t.Logf("live heap after leaving every room: %+d B per client against before joining", (heapAfter-heapNone)/idleClients)
	stdin.Close()
	left.Wait()
}
