//go:build linux || darwin || freebsd

package poller_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/wsloop/wsloop/poller"
	"golang.org/x/sys/unix"
)

// loopbackPair returns a connected TCP pair over loopback: the server side
// as a raw non-blocking descriptor owned by the test, the client as a net.Conn.
func loopbackPair(t *testing.T) (fd int, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(s uintptr) { fd, err = unix.Dup(int(s)) })
	if err != nil {
		t.Fatal(err)
	}
	sc.Close()
	t.Cleanup(func() { unix.Close(fd) })
	return fd, client
}

type report struct {
	fd int
	ev poller.Event
}

func startWaiting(t *testing.T, p *poller.Poller) (<-chan report, <-chan error) {
	events := make(chan report, 64)
	done := make(chan error, 1)
	go func() {
		done <- p.Wait(func(fd int, ev poller.Event) { events <- report{fd, ev} })
	}()
	return events, done
}

func waitFor(t *testing.T, events <-chan report, fd int, want poller.Event) poller.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case r := <-events:
			if r.fd == fd && r.ev&want == want {
				return r.ev
			}
		case <-deadline:
			t.Fatalf("no %v event for fd %d", want, fd)
		}
	}
}

func TestReadableWhenBytesArrive(t *testing.T) {
	p, err := poller.New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fd, client := loopbackPair(t)
	if err := p.Add(fd); err != nil {
		t.Fatal(err)
	}
	events, _ := startWaiting(t, p)

	client.Write([]byte("hello"))
	waitFor(t, events, fd, poller.Readable)
	buf := make([]byte, 16)
	n, err := unix.Read(fd, buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// Edge-triggered: new bytes give a new event.
	client.Write([]byte("again"))
	waitFor(t, events, fd, poller.Readable)
}

func TestHangupWhenPeerCloses(t *testing.T) {
	p, err := poller.New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fd, client := loopbackPair(t)
	if err := p.Add(fd); err != nil {
		t.Fatal(err)
	}
	events, _ := startWaiting(t, p)
	client.Close()
	ev := waitFor(t, events, fd, poller.Hangup)
	if ev&poller.Readable == 0 {
		t.Fatalf("hangup reported without readable: %v", ev)
	}
}

func TestWritableAfterSendBufferDrains(t *testing.T) {
	p, err := poller.New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fd, client := loopbackPair(t)
	if err := p.Add(fd); err != nil {
		t.Fatal(err)
	}
	events, _ := startWaiting(t, p)
	// Fill the send buffer until the kernel says it would block.
	chunk := make([]byte, 64<<10)
	for {
		_, err := unix.Write(fd, chunk)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Drain the queue of events from before the buffer filled.
	for len(events) > 0 {
		<-events
	}
	go func() {
		buf := make([]byte, 1<<20)
		for {
			if _, err := client.Read(buf); err != nil {
				return
			}
		}
	}()
	waitFor(t, events, fd, poller.Writable)
}

func TestCloseStopsWait(t *testing.T) {
	p, err := poller.New()
	if err != nil {
		t.Fatal(err)
	}
	_, done := startWaiting(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, poller.ErrClosed) {
			t.Fatalf("Wait returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	if err := p.Close(); !errors.Is(err, poller.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Add(0); !errors.Is(err, poller.ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
}

func TestEventString(t *testing.T) {
	for ev, want := range map[poller.Event]string{
		0:                                 "none",
		poller.Readable:                   "readable",
		poller.Readable | poller.Hangup:   "readable|hangup",
		poller.Readable | poller.Writable: "readable|writable",
	} {
		if got := ev.String(); got != want {
			t.Errorf("%d: %q, want %q", ev, got, want)
		}
	}
}
