package server_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsloop/wsloop/server"
)

// fanOutServer relays every message "P:SEQ:..." from a client: to every
// client by broadcast, or to room "r" when SEQ is odd; before relaying, it
// sends the sender a private "echo P:SEQ". Every client is in room "r".
func fanOutServer() *server.Server {
	srv := &server.Server{Logger: quietLogger()}
	srv.OnNewClient = func(c *server.Client) { c.Join("r") }
	srv.OnMessage = func(c *server.Client, m server.Message) {
		msg := string(m.Data)
		if strings.HasPrefix(msg, "end ") {
			srv.BroadcastText(msg)
			return
		}
		p, rest, _ := strings.Cut(msg, ":")
		seq, _, _ := strings.Cut(rest, ":")
		c.SendText("echo " + p + ":" + seq)
		n, _ := strconv.Atoi(seq)
		if n%2 == 1 {
			srv.PublishText("r", msg)
		} else {
			srv.BroadcastText(msg)
		}
	}
	return srv
}

// checkOrder reads messages until an "end P" from each of publishers, and checks that each publisher's
// messages arrived once each, in order, and that the client's own echoes
// came between its previous and its next relayed message. It returns how
// many relayed messages each publisher had arrive.
func checkOrder(t *testing.T, c *websocket.Conn, self string, publishers int) map[string]int {
	next := map[string]int{}
	echoed := -1
	ends := 0
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Errorf("client %s: %v", self, err)
			return next
		}
		msg := string(b)
		if strings.HasPrefix(msg, "end ") {
			if ends++; ends == publishers {
				return next
			}
			continue
		}
		if e, ok := strings.CutPrefix(msg, "echo "); ok {
			p, seq, _ := strings.Cut(e, ":")
			n, _ := strconv.Atoi(seq)
			if p != self || n != echoed+1 || n != next[self] {
				t.Errorf("client %s: %q after echo %d and relayed %d", self, msg, echoed, next[self])
				return next
			}
			echoed = n
			continue
		}
		p, rest, _ := strings.Cut(msg, ":")
		seq, _, _ := strings.Cut(rest, ":")
		n, _ := strconv.Atoi(seq)
		if n != next[p] {
			t.Errorf("client %s: publisher %s message %d, want %d", self, p, n, next[p])
			return next
		}
		if p == self && echoed != n {
			t.Errorf("client %s: own message %d relayed before its echo", self, n)
			return next
		}
		next[p]++
	}
}

// Several publishers send bursts large enough to span many reads and
// batches, through broadcast, a room and private sends at once: every
// client gets every publisher's messages exactly once and in order, and
// its own private echo of each between the relayed messages around it.
func TestFanOutKeepsOrderPerPublisher(t *testing.T) {
	srv := fanOutServer()
	srv.Workers = 2
	url := start(t, srv)
	const clients, publishers, burst = 6, 3, 3000
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, url)
		conns[i].SetReadDeadline(time.Now().Add(60 * time.Second))
	}
	for srv.RoomLen("r") < clients {
		time.Sleep(time.Millisecond)
	}
	pad := strings.Repeat("x", 100)
	var readers sync.WaitGroup
	counts := make([]map[string]int, clients)
	for i, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			counts[i] = checkOrder(t, c, strconv.Itoa(i), publishers)
		}()
	}
	var writers sync.WaitGroup
	for i := 0; i < publishers; i++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for n := 0; n < burst; n++ {
				if err := conns[i].WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d:%d:%s", i, n, pad)); err != nil {
					t.Error(err)
					return
				}
			}
			conns[i].WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "end %d", i))
		}()
	}
	writers.Wait()
	readers.Wait()
	for i, got := range counts {
		for p := 0; p < publishers; p++ {
			if n := got[strconv.Itoa(p)]; n != burst {
				t.Errorf("client %d got %d of publisher %d's %d messages", i, n, p, burst)
			}
		}
	}
}

// A member that stops reading in the middle of a burst is disconnected as a
// slow consumer once its queue passes the limit, whether the burst is a
// broadcast or a room's; the members that read get every message, in order.
func TestSlowMemberIsEvictedMidBurst(t *testing.T) {
	for _, room := range []bool{false, true} {
		t.Run(map[bool]string{false: "broadcast", true: "room"}[room], func(t *testing.T) {
			srv := &server.Server{Logger: quietLogger(), MaxPendingBytes: 256 << 10}
			left := make(chan error, 10)
			srv.OnNewClient = func(c *server.Client) { c.Join("r") }
			srv.OnClientLeft = func(_ *server.Client, err error) { left <- err }
			srv.OnMessage = func(c *server.Client, m server.Message) {
				if room {
					srv.PublishBinary("r", m.Data)
				} else {
					srv.BroadcastBinary(m.Data)
				}
			}
			url := start(t, srv)
			slow := dialRaw(t, url) // reads nothing
			pub := dial(t, url)
			fast := dial(t, url)
			for srv.RoomLen("r") < 3 {
				time.Sleep(time.Millisecond)
			}
			// The publisher reads what it gets too.
			go func() {
				for {
					if _, _, err := pub.ReadMessage(); err != nil {
						return
					}
				}
			}()
			// The publisher stays at most a window ahead of fast, so that
			// only slow falls behind.
			var progress atomic.Int64
			evicted := make(chan struct{})
			sent := make(chan int, 1)
			go func() {
				msg := make([]byte, 4<<10)
				n := 0
				defer func() { sent <- n }()
				for ; n < 100000; n++ {
					select {
					case <-evicted:
						pub.WriteMessage(websocket.BinaryMessage, []byte("end"))
						return
					default:
					}
					for int64(n)-progress.Load() > 16 {
						time.Sleep(50 * time.Microsecond)
					}
					msg[0], msg[1], msg[2], msg[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
					if err := pub.WriteMessage(websocket.BinaryMessage, msg); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			got := make(chan int, 1)
			go func() {
				n := 0
				defer func() { got <- n }()
				for {
					_, b, err := fast.ReadMessage()
					if err != nil {
						t.Errorf("fast member: %v", err)
						return
					}
					if string(b) == "end" {
						return
					}
					if seq := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3]); seq != n {
						t.Errorf("fast member got message %d, want %d", seq, n)
						return
					}
					n++
					progress.Store(int64(n))
				}
			}()
			select {
			case err := <-left:
				if !errors.Is(err, server.ErrSlowConsumer) {
					t.Fatalf("OnClientLeft got %v, want ErrSlowConsumer", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the member that reads nothing was not evicted")
			}
			close(evicted)
			if n, m := <-sent, <-got; n != m {
				t.Fatalf("fast member got %d of %d messages", m, n)
			}
			if got := srv.Len(); got != 2 {
				t.Fatalf("%d clients connected, want 2", got)
			}
			_ = slow
		})
	}
}

// A member that leaves a room, or goes away, in the middle of a burst gets
// an unbroken prefix of it; the others get all of it, in order.
func TestMemberLeavesMidBurst(t *testing.T) {
	srv := &server.Server{Logger: quietLogger()}
	srv.OnNewClient = func(c *server.Client) { c.Join("r") }
	srv.OnMessage = func(c *server.Client, m server.Message) {
		switch msg := string(m.Data); msg {
		case "leave":
			c.Leave("r")
			c.SendText("left")
		default:
			if strings.HasPrefix(msg, "b") {
				srv.BroadcastText(msg)
			} else {
				srv.PublishText("r", msg)
			}
		}
	}
	url := start(t, srv)
	pub, stay, leaver, quitter := dial(t, url), dial(t, url), dial(t, url), dial(t, url)
	for srv.RoomLen("r") < 4 {
		time.Sleep(time.Millisecond)
	}
	const burst = 20000
	go func() {
		for {
			if _, _, err := pub.ReadMessage(); err != nil {
				return
			}
		}
	}()
	go func() {
		for n := 0; n < burst; n++ {
			kind := "r"
			if n%3 == 0 {
				kind = "b"
			}
			pub.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%s%d", kind, n))
		}
		pub.WriteMessage(websocket.TextMessage, []byte("bend"))
	}()
	// read checks that messages come in order with none missing and
	// returns after "bend", or after stop messages when stop > 0.
	read := func(c *websocket.Conn, name string, stop int, leaving bool) int {
		n := 0
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Errorf("%s: %v after %d messages", name, err, n)
				return n
			}
			msg := string(b)
			switch {
			case msg == "bend":
				return n
			case msg == "left":
				leaving = false
				continue
			}
			seq, _ := strconv.Atoi(msg[1:])
			if !leaving && msg[0] == 'r' && name == "leaver" {
				t.Errorf("%s: room message %q after leaving", name, msg)
				return n
			}
			if seq < n || (name != "leaver" && seq != n) {
				t.Errorf("%s: message %q, want %d", name, msg, n)
				return n
			}
			n = seq + 1
			if stop > 0 && n == stop {
				return n
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if n := read(stay, "stay", 0, true); n != burst {
			t.Errorf("stay got %d of %d", n, burst)
		}
	}()
	go func() {
		defer wg.Done()
		read(leaver, "leaver", burst/4, true)
		leaver.WriteMessage(websocket.TextMessage, []byte("leave"))
		read(leaver, "leaver", 0, true)
	}()
	go func() {
		defer wg.Done()
		read(quitter, "quitter", burst/3, true)
		quitter.Close()
	}()
	wg.Wait()
	if got := srv.RoomLen("r"); got != 2 {
		t.Fatalf("room has %d members, want 2", got)
	}
}
