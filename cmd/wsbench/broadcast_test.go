package main

import (
	"slices"
	"testing"
	"time"
)

func TestSeqState(t *testing.T) {
	type step struct {
		seq         uint64
		first, late bool
	}
	var st seqState
	for i, s := range []step{
		{0, true, false},
		{1, true, false},
		{1, false, false}, // copy
		{5, true, false},  // 2, 3, 4 missing
		{3, true, true},   // late, splits the gap
		{0, false, false}, // copy of an old one
		{2, true, true},
		{4, true, true},
		{4, false, false},
		{6, true, false},
		{9, true, false}, // 7, 8 missing
		{8, true, true},
		{12, true, false}, // 10, 11 missing
	} {
		first, late := st.accept(s.seq)
		if first != s.first || late != s.late {
			t.Errorf("step %d: accept(%d) = %v, %v; want %v, %v", i, s.seq, first, late, s.first, s.late)
		}
	}
	if want := []span{{7, 8}, {10, 12}}; !slices.Equal(st.gaps, want) || st.next != 13 {
		t.Errorf("gaps %v next %d, want %v and 13", st.gaps, st.next, want)
	}
}

func TestBroadcastFlatOut(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{})
	before := time.Now().UnixNano()
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-conns", "40", "-messages", "300", "-settle", "50ms")
	after := time.Now().UnixNano()
	wantExit(t, r, code, exitOK)
	b := r.Broadcast
	checkBurstWindow(t, b, before, after)
	if b.Published != 300 || b.Publishers != 1 || b.Receivers != 40 || b.MessagesPerPublisher != 300 {
		t.Fatalf("broadcast: %+v", b)
	}
	if b.Deliveries != 300*40 || b.ExpectedDeliveries != b.Deliveries || b.Complete != 300 {
		t.Errorf("deliveries %d of %d, complete %d", b.Deliveries, b.ExpectedDeliveries, b.Complete)
	}
	if b.Lost != 0 || b.Duplicates != 0 || b.Reordered != 0 || b.Misrouted != 0 || b.Corrupt != 0 || r.ErrorTotal != 0 {
		t.Errorf("broadcast %+v errors %v", b, r.ErrorSamples)
	}
	if b.DeliveryS <= 0 || b.DeliveriesPerS <= 0 || b.PublishS > b.DeliveryS {
		t.Errorf("timing: publish %.3fs, delivery %.3fs, %.0f/s", b.PublishS, b.DeliveryS, b.DeliveriesPerS)
	}
	if b.CPU == nil || !b.CPU.Measured || b.CPU.Percent <= 0 {
		t.Errorf("client cpu while publishing: %+v", b.CPU)
	}
	last, del := r.Latency["last_receipt"], r.Latency["delivery"]
	if last.Count != 300 || del.Count != 300*40 || last.P50 > last.P99 || del.Max > last.Max {
		t.Errorf("latency: last receipt %+v, delivery %+v", last, del)
	}
}

func TestBroadcastFlatOutManyPublishers(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{})
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-conns", "30", "-publishers", "20", "-messages", "50",
		"-batch", "0", "-settle", "50ms")
	wantExit(t, r, code, exitOK)
	b := r.Broadcast
	if b.Publishers != 20 || b.Published != 1000 || b.Deliveries != 1000*30 || b.Complete != 1000 {
		t.Errorf("broadcast: %+v", b)
	}
	if b.Lost != 0 || b.Reordered != 0 || b.Duplicates != 0 || r.ErrorTotal != 0 {
		t.Errorf("broadcast %+v errors %v", b, r.ErrorSamples)
	}
}

func TestBroadcastRooms(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{})
	// 23 connections in 5 rooms: rooms r0-r2 have 5 members, r3 and r4 have 4.
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-conns", "23", "-rooms", "5", "-publishers", "all",
		"-messages", "20", "-settle", "100ms")
	wantExit(t, r, code, exitOK)
	b := r.Broadcast
	if b.Rooms != 5 || b.Publishers != 23 || b.Published != 23*20 {
		t.Fatalf("broadcast: %+v", b)
	}
	if want := int64(20 * (3*5*5 + 2*4*4)); b.ExpectedDeliveries != want || b.Deliveries != want || b.Complete != b.Published {
		t.Errorf("deliveries %d of %d, want %d; complete %d", b.Deliveries, b.ExpectedDeliveries, want, b.Complete)
	}
	if b.Lost != 0 || b.Misrouted != 0 || b.Reordered != 0 || r.ErrorTotal != 0 {
		t.Errorf("broadcast %+v errors %v", b, r.ErrorSamples)
	}
	rooms := s.srv.RoomNames()
	slices.Sort(rooms)
	if want := []string{"r0", "r1", "r2", "r3", "r4"}; !slices.Equal(rooms, want) && len(rooms) != 0 {
		t.Errorf("server rooms %v, want %v", rooms, want)
	}

	// Two publishers per room.
	r, code, _ = runBench(t, "broadcast", "-url", s.url, "-conns", "23", "-rooms", "5", "-publishers", "2",
		"-messages", "10", "-settle", "100ms")
	wantExit(t, r, code, exitOK)
	if b := r.Broadcast; b.Publishers != 10 || b.Published != 100 || b.Deliveries != int64(10*2*(3*5+2*4)) {
		t.Errorf("broadcast: %+v", b)
	}
}

func TestBroadcastRoomsMisrouted(t *testing.T) {
	// A server that sends every message to everyone, whatever the room.
	s := newWsloopServer(t, wsloopOptions{ignoreRoom: true})
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-conns", "6", "-rooms", "2", "-messages", "5",
		"-settle", "50ms", "-drain", "300ms")
	wantExit(t, r, code, exitErrors)
	b := r.Broadcast
	// Each room's publisher reaches its 3 members and, wrongly, the other 3.
	if b.Deliveries != 2*5*3 || b.Lost != 0 || b.Misrouted != 2*5*3 || r.Errors[kindMisrouted] != b.Misrouted {
		t.Errorf("broadcast %+v errors %v", b, r.Errors)
	}
}

func TestBroadcastDuplicatesAndOrder(t *testing.T) {
	// Of every 10 messages the server sends the 4th after the 5th and the
	// 8th twice.
	s := newTestServer(t, serverMode{broadcast: true, mangle: true})
	r, code, _ := runBench(t, "broadcast", "-url", s.url, "-conns", "5", "-messages", "20", "-batch", "0",
		"-settle", "100ms", "-drain", "300ms")
	wantExit(t, r, code, exitErrors)
	b := r.Broadcast
	if b.Deliveries != 100 || b.Lost != 0 || b.Duplicates != 10 || b.Reordered != 10 || b.Complete != 20 {
		t.Errorf("broadcast %+v", b)
	}
	if r.Errors[kindDuplicate] != 10 || r.Errors[kindReordered] != 10 {
		t.Errorf("errors %v", r.Errors)
	}
}

func TestBroadcastCompressed(t *testing.T) {
	s := newWsloopServer(t, wsloopOptions{compress: true})
	for _, each := range []bool{false, true} {
		args := []string{"broadcast", "-url", s.url, "-conns", "20", "-publishers", "2", "-messages", "100",
			"-size", "1024", "-text", "-compress", "-settle", "50ms"}
		if each {
			args = append(args, "-inflate-each")
		}
		r, code, _ := runBench(t, args...)
		wantExit(t, r, code, exitOK)
		b := r.Broadcast
		if b.Deflate != 20 || b.Deliveries != 200*20 || b.Lost != 0 || b.Corrupt != 0 || r.ErrorTotal != 0 {
			t.Errorf("inflate-each %v: broadcast %+v errors %v", each, b, r.ErrorSamples)
		}
	}
	// A server without compression declines: the run works, uncompressed,
	// and says so.
	plain := newWsloopServer(t, wsloopOptions{})
	r, code, _ := runBench(t, "broadcast", "-url", plain.url, "-conns", "3", "-messages", "10", "-compress", "-settle", "50ms")
	wantExit(t, r, code, exitOK)
	if r.Broadcast.Deflate != 0 || len(r.Warnings) == 0 {
		t.Errorf("deflate %d warnings %q", r.Broadcast.Deflate, r.Warnings)
	}
}

// checkBurstWindow checks that the report places the burst on the wall
// clock within the run, and that the window is the one delivery_s gives.
func checkBurstWindow(t *testing.T, b *broadcastResult, before, after int64) {
	t.Helper()
	first, last := b.FirstSendUnixNS, b.LastReceiptUnixNS
	if first < before || last <= first || last > after {
		t.Errorf("burst on the wall clock: first send %d, last receipt %d, want within the run [%d, %d]", first, last, before, after)
	}
	if d := float64(last-first)/1e9 - b.DeliveryS; d < -0.001 || d > 0.001 {
		t.Errorf("last receipt - first send = %.4fs, delivery_s %.3fs", float64(last-first)/1e9, b.DeliveryS)
	}
}
