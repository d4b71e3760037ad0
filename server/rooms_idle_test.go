package server_test

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "WSLOOP_IDLE_URL="+url, "WSLOOP_IDLE_N="+strconv.Itoa(idleClients))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("client process ended before its clients were connected")
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("client process did not connect its clients in time")
	}
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
