package server_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsproto"
)

// tally adds up the bytes the test's clients exchange with the server, as
// the clients see them: what the server sent (its 101 responses included)
// and what the clients sent after their request heads.
type tally struct {
	read, written atomic.Int64
}

// countingConn counts a client's bytes in a tally.
type countingConn struct {
	net.Conn
	t *tally
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.t.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.t.written.Add(int64(n))
	return n, err
}

// dialCounted connects a raw client to path whose bytes after its request
// head count in tl.
func dialCounted(t *testing.T, url, path string, tl *tally) *rawClient {
	t.Helper()
	nc := dialTCP(t, url)
	if _, err := io.WriteString(nc, upgradeRequest(path)); err != nil {
		t.Fatal(err)
	}
	cc := countingConn{nc, tl}
	resp, rest := readResponse(t, cc)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake for %s: status %d, want 101", path, resp.StatusCode)
	}
	return &rawClient{t: t, nc: cc, in: rest}
}

// readLittle keeps the kernel's receive buffer of a client small, so that
// output it does not read stays queued on the server.
func readLittle(c *rawClient) {
	tcpConn(c.nc.(countingConn).Conn).SetReadBuffer(64 << 10)
}

// refusedWith sends a raw request and expects an HTTP error status.
func refusedWith(t *testing.T, url, request string, want int) {
	t.Helper()
	nc := dialTCP(t, url)
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	resp, _ := readResponse(t, nc)
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
	nc.Close()
}

// statsView is the part of Stats the tests can know exactly.
type statsView struct {
	Clients, Handshaking                          int
	QueuedBytes                                   int64
	Upgrades                                      uint64
	Refusals                                      map[int]uint64
	HandshakeTimeouts, HandshakeFailures          uint64
	FramesReceived, MessagesReceived              uint64
	BytesReceived, MessagesSent, BytesSent        uint64
	Broadcasts, BroadcastRecipients               uint64
	RoomPublishes, RoomRecipients                 uint64
	Disconnects                                   map[string]uint64
	OnNewClientCalls, OnMessageCalls, OnLeftCalls uint64
}

func viewOf(st server.Stats) statsView {
	v := statsView{
		Clients: st.Clients, Handshaking: st.Handshaking, QueuedBytes: st.QueuedBytes,
		Upgrades: st.Upgrades, Refusals: st.Refusals,
		HandshakeTimeouts: st.HandshakeTimeouts, HandshakeFailures: st.HandshakeFailures,
		FramesReceived: st.FramesReceived, MessagesReceived: st.MessagesReceived,
		BytesReceived: st.BytesReceived, MessagesSent: st.MessagesSent, BytesSent: st.BytesSent,
		Broadcasts: st.Broadcasts, BroadcastRecipients: st.BroadcastRecipients,
		RoomPublishes: st.RoomPublishes, RoomRecipients: st.RoomRecipients,
		Disconnects:      map[string]uint64{},
		OnNewClientCalls: st.OnNewClient.Calls, OnMessageCalls: st.OnMessage.Calls, OnLeftCalls: st.OnClientLeft.Calls,
	}
	for cause, n := range st.Disconnects {
		if n > 0 {
			v.Disconnects[server.DisconnectCause(cause).String()] = n
		}
	}
	return v
}

// expectStats waits until the server's Stats match want (the counts of a
// worker's turn are published when the turn ends) and fails with the
// difference if they do not within a few seconds.
func expectStats(t *testing.T, srv *server.Server, want statsView, ignore ...func(*server.Stats)) server.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := srv.Stats()
		seen := st
		for _, fn := range ignore {
			fn(&seen)
		}
		got := viewOf(seen)
		if reflect.DeepEqual(got, want) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats:\n got %+v\nwant %+v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Stats counts known traffic exactly: clients, handshakes by outcome,
// frames, messages and bytes both ways, broadcast and room fan-out,
// disconnects by cause, callbacks, queued output.
func TestStatsCountTraffic(t *testing.T) {
	srv := &server.Server{
		Logger:           slog.New(slog.DiscardHandler),
		MaxMessageSize:   1 << 10,
		MaxPendingBytes:  1 << 20,
		HandshakeTimeout: 300 * time.Millisecond,
		Authenticate: func(r *server.Request) error {
			if r.Path == "/deny" {
				return server.Reject(http.StatusUnauthorized, "who are you")
			}
			return nil
		},
		OnNewClient: func(c *server.Client) {
			if room, ok := strings.CutPrefix(c.Request().Path, "/room/"); ok {
				c.Join(room)
			}
		},
		OnMessage: func(c *server.Client, m server.Message) {
			switch string(m.Data) {
			case "panic":
				panic("test panic")
			case "close me":
				c.Close(ws.StatusNormalClosure, "as you wish")
			default:
				c.SendText(string(m.Data))
			}
		},
		OnClientLeft: func(c *server.Client, err error) {},
	}
	url := start(t, srv)
	var tl tally
	want := statsView{Refusals: map[int]uint64{}, Disconnects: map[string]uint64{}}
	expectStats(t, srv, want)

	// Three clients echo four messages each; one sends a fragmented
	// message and a ping as well.
	var clients []*rawClient
	for range 3 {
		clients = append(clients, dialCounted(t, url, "/", &tl))
	}
	for i, c := range clients {
		for k := range 4 {
			msg := []byte(fmt.Sprintf("client %d message %d", i, k))
			c.write(frame(ws.OpText, true, msg))
			c.expectMessage(ws.OpText, msg)
		}
	}
	c0 := clients[0]
	c0.write(frame(ws.OpText, false, []byte("frag")), frame(ws.OpContinuation, true, []byte("mented")))
	c0.expectMessage(ws.OpText, []byte("fragmented"))
	c0.write(frame(ws.OpPing, true, []byte("ping")))
	if ev, err := c0.next(); err != nil || ev.Kind != wsproto.KindPong {
		t.Fatalf("got %v, %v; want the pong", ev.Kind, err)
	}
	want.Clients, want.Upgrades, want.OnNewClientCalls = 3, 3, 3
	want.FramesReceived = 3*4 + 2 + 1
	want.MessagesReceived, want.OnMessageCalls, want.MessagesSent = 13, 13, 13
	want.BytesReceived, want.BytesSent = uint64(tl.written.Load()), uint64(tl.read.Load())
	expectStats(t, srv, want)

	// A broadcast reaches the three; a room message its one member; a
	// room without members here counts nothing.
	srv.BroadcastText("to all")
	for _, c := range clients {
		c.expectMessage(ws.OpText, []byte("to all"))
	}
	member := dialCounted(t, url, "/room/blue", &tl)
	for srv.RoomLen("blue") == 0 {
		time.Sleep(time.Millisecond)
	}
	srv.PublishText("blue", "to blue")
	srv.PublishText("nobody", "to no one")
	member.expectMessage(ws.OpText, []byte("to blue"))
	want.Clients, want.Upgrades, want.OnNewClientCalls = 4, 4, 4
	want.Broadcasts, want.BroadcastRecipients = 1, 3
	want.RoomPublishes, want.RoomRecipients = 1, 1
	want.MessagesSent += 3 + 1
	want.BytesSent = uint64(tl.read.Load())
	expectStats(t, srv, want)

	// Every way of leaving that a client chooses.
	clients[0].write(frame(ws.OpClose, true, closePayload(ws.StatusNormalClosure, "")))
	clients[0].expectClose(ws.StatusNormalClosure)
	clients[1].write(frame(ws.OpText, true, []byte("close me")))
	ev, err := clients[1].next()
	if err != nil || ev.Kind != wsproto.KindClose {
		t.Fatalf("got %v, %v; want the server's close frame", ev.Kind, err)
	}
	clients[1].write(frame(ws.OpClose, true, closePayload(ev.Code, "")))
	clients[1].expectEOF()
	clients[2].nc.Close()
	member.write(frame(ws.OpText, true, []byte("panic")))
	member.expectClose(ws.StatusInternalServerError)
	want.Clients = 0
	want.FramesReceived += 1 + 2 + 1
	want.MessagesReceived += 2
	want.OnMessageCalls += 2
	want.OnLeftCalls = 4
	want.Disconnects = map[string]uint64{"client_close": 1, "server_close": 1, "connection_lost": 1, "callback_panic": 1}
	want.BytesReceived, want.BytesSent = uint64(tl.written.Load()), uint64(tl.read.Load())
	expectStats(t, srv, want)

	// Protocol errors, by close code.
	for _, tc := range []struct {
		frame []byte
		code  ws.StatusCode
	}{
		{wsproto.AppendFrame(nil, ws.OpText, true, []byte("unmasked")), ws.StatusProtocolError},
		{frame(ws.OpText, true, []byte{0xff, 0xfe}), ws.StatusInvalidFramePayloadData},
		{frame(ws.OpBinary, true, make([]byte, 2<<10)), ws.StatusMessageTooBig},
	} {
		c := dialCounted(t, url, "/", &tl)
		c.write(tc.frame)
		c.expectClose(tc.code)
	}
	want.Upgrades, want.OnNewClientCalls, want.OnLeftCalls = 7, 7, 7
	want.Disconnects["protocol_error"] = 1
	want.Disconnects["invalid_data"] = 1
	want.Disconnects["message_too_big"] = 1
	want.BytesReceived, want.BytesSent = uint64(tl.written.Load()), uint64(tl.read.Load())
	expectStats(t, srv, want)

	// Refused handshakes, by status, and handshakes that never end.
	refusedWith(t, url, upgradeRequest("/deny"), http.StatusUnauthorized)
	refusedWith(t, url, strings.Replace(upgradeRequest("/"), "Version: 13", "Version: 12", 1), http.StatusUpgradeRequired)
	srv.DenyNewConnections(0, "")
	refusedWith(t, url, upgradeRequest("/"), http.StatusServiceUnavailable)
	srv.AllowNewConnections()
	want.Refusals = map[int]uint64{401: 1, 426: 1, 503: 1}
	if testMode != "http" { // net/http answers these itself
		refusedWith(t, url, "GARBAGE\r\n\r\n", http.StatusBadRequest)
		refusedWith(t, url, upgradeRequest("/", "X-Big: "+strings.Repeat("x", 20<<10)), http.StatusRequestHeaderFieldsTooLarge)
		want.Refusals[400], want.Refusals[431] = 1, 1

		quitter := dialTCP(t, url)
		quitter.Close()
		want.HandshakeFailures = 1
		mute := dialTCP(t, url)
		if _, err := mute.Read(make([]byte, 1)); err == nil {
			t.Fatal("a client that sent nothing got an answer")
		}
		want.HandshakeTimeouts = 1
	}
	expectStats(t, srv, want)

	if testMode == "goroutines" {
		// The goroutine transport takes a whole message into its writer's
		// buffer, however big: another scenario would be needed there.
		t.Log("no slow consumer in mode goroutines")
	} else {
		// A slow consumer: a member that reads nothing is queued a message
		// bigger than the sockets' buffers can take, which stays queued,
		// and then one more, which is one too many.
		slow := dialCounted(t, url, "/room/slow", &tl)
		readLittle(slow)
		for srv.RoomLen("slow") == 0 {
			time.Sleep(time.Millisecond)
		}
		big := make([]byte, 16<<20)
		srv.PublishBinary("slow", big)
		deadline := time.Now().Add(5 * time.Second)
		for srv.Stats().QueuedBytes < 8<<20 {
			if time.Now().After(deadline) {
				t.Fatalf("queued bytes %d, want over 8 MiB while a client holds up 16 MiB", srv.Stats().QueuedBytes)
			}
			time.Sleep(time.Millisecond)
		}
		srv.PublishBinary("slow", []byte("one too many"))
		slow.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, slow.nc) // cut off: the end may be abrupt
		want.Upgrades, want.OnNewClientCalls, want.OnLeftCalls = 8, 8, 8
		want.RoomPublishes, want.RoomRecipients = 3, 3
		want.MessagesSent += 2
		want.Disconnects["slow_consumer"] = 1
		want.BytesSent = uint64(tl.read.Load())
		if testMode == "tls" {
			// TLS takes bytes it may not deliver before the client is cut
			// off: count at least those read.
			read := want.BytesSent
			want.BytesSent = 0
			st := expectStats(t, srv, want, func(st *server.Stats) { st.BytesSent = 0 })
			if st.BytesSent < read {
				t.Errorf("BytesSent %d, but the clients read %d", st.BytesSent, read)
			}
		} else {
			expectStats(t, srv, want)
		}
	}

	st := srv.Stats()
	for name, cb := range map[string]server.CallbackStats{"OnNewClient": st.OnNewClient, "OnMessage": st.OnMessage, "OnClientLeft": st.OnClientLeft} {
		var inBuckets uint64
		for _, n := range cb.Buckets {
			inBuckets += n
		}
		// The first call on each worker is timed, and one in 16 after it.
		if cb.Timed == 0 || cb.Timed > cb.Calls || cb.Timed < cb.Calls/16 || inBuckets != cb.Timed || cb.Time <= 0 {
			t.Errorf("%s: %d calls, %d timed, %d in buckets, %v in all; want one in 16 timed, each in a bucket, and some time",
				name, cb.Calls, cb.Timed, inBuckets, cb.Time)
		}
	}
}

// The timeouts count as their causes, and Close as the server closing.
func TestStatsCountTimeouts(t *testing.T) {
	chunk := make([]byte, 64<<10)
	srv := &server.Server{
		Logger:       slog.New(slog.DiscardHandler),
		ReadTimeout:  200 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		CloseTimeout: 200 * time.Millisecond,
		PingInterval: 2 * time.Second, // long after the others time out, even under -race
		PingTimeout:  500 * time.Millisecond,
		OnMessage: func(c *server.Client, m server.Message) {
			switch string(m.Data) {
			case "close me":
				c.Close(ws.StatusNormalClosure, "")
			case "flood me": // more than the sockets' buffers take
				for range 256 {
					c.SendBinary(chunk)
				}
			}
		},
		MaxPendingBytes: 64 << 20,
	}
	url := start(t, srv)
	var tl tally

	halfFrame := dialCounted(t, url, "/", &tl)
	halfFrame.write(frame(ws.OpText, true, []byte("unfinished"))[:5])
	deaf := dialCounted(t, url, "/", &tl)
	deaf.write(frame(ws.OpText, true, []byte("close me")))
	want := statsView{
		Upgrades: 3, Refusals: map[int]uint64{},
		FramesReceived: 1, MessagesReceived: 1,
		Disconnects:    map[string]uint64{"read_timeout": 1, "close_timeout": 1, "ping_timeout": 1},
		OnMessageCalls: 1, // OnNewClient and OnClientLeft are not set
	}
	// The flooded client reads only once the server gave up on it.
	var flooded *rawClient
	if testMode != "goroutines" { // its writer goroutine hides a stall from the server
		flooded = dialCounted(t, url, "/", &tl)
		readLittle(flooded)
		flooded.write(frame(ws.OpText, true, []byte("flood me")))
		want.Upgrades++
		want.FramesReceived++
		want.MessagesReceived++
		want.OnMessageCalls++
		want.MessagesSent += 256
		want.Disconnects["write_timeout"] = 1
	}
	silent := dialCounted(t, url, "/", &tl)
	for _, c := range []*rawClient{halfFrame, deaf, silent} {
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	if _, err := io.Copy(io.Discard, halfFrame.nc); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, deaf.nc); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, silent.nc); err != nil {
		t.Fatal(err)
	}
	expectStats(t, srv, want, func(st *server.Stats) {
		st.BytesReceived, st.BytesSent, st.QueuedBytes = 0, 0, 0 // the flooded client is the kernel's business
	})
	if flooded != nil {
		flooded.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, flooded.nc) // cut off: the end may be abrupt
	}

	// Close cuts off the clients still there.
	last := dialCounted(t, url, "/", &tl)
	last.write(frame(ws.OpText, true, []byte("hello")))
	for srv.Stats().MessagesReceived <= want.MessagesReceived {
		time.Sleep(time.Millisecond)
	}
	srv.Close()
	st := srv.Stats()
	if n := st.Disconnects[server.DisconnectServerClosed]; n != 1 {
		t.Errorf("after Close: %d disconnects by server_closed, want 1", n)
	}
	if st.Clients != 0 || st.Upgrades != want.Upgrades+1 || st.MessagesReceived != want.MessagesReceived+1 {
		t.Errorf("after Close: %d clients, %d upgrades, %d messages received; want 0, %d, %d",
			st.Clients, st.Upgrades, st.MessagesReceived, want.Upgrades+1, want.MessagesReceived+1)
	}
}

// DisconnectCauseOf names every error OnClientLeft can get.
func TestDisconnectCauseOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want server.DisconnectCause
	}{
		{nil, server.DisconnectServerClose},
		{&server.CloseError{Code: ws.StatusGoingAway}, server.DisconnectClientClose},
		{&wsproto.Error{Code: ws.StatusProtocolError}, server.DisconnectProtocolError},
		{&wsproto.Error{Code: ws.StatusInvalidFramePayloadData}, server.DisconnectInvalidData},
		{&wsproto.Error{Code: ws.StatusMessageTooBig}, server.DisconnectMessageTooBig},
		{server.ErrSlowConsumer, server.DisconnectSlowConsumer},
		{server.ErrWriteTimeout, server.DisconnectWriteTimeout},
		{server.ErrReadTimeout, server.DisconnectReadTimeout},
		{server.ErrPingTimeout, server.DisconnectPingTimeout},
		{server.ErrCloseTimeout, server.DisconnectCloseTimeout},
		{server.ErrServerClosed, server.DisconnectServerClosed},
		{fmt.Errorf("%w: reset", server.ErrConnectionLost), server.DisconnectConnectionLost},
		{fmt.Errorf("%w: boom", server.ErrCallbackPanic), server.DisconnectCallbackPanic},
		{errors.New("something else"), server.DisconnectOther},
	} {
		if got := server.DisconnectCauseOf(tc.err); got != tc.want {
			t.Errorf("DisconnectCauseOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if got := server.DisconnectSlowConsumer.String(); got != "slow_consumer" {
		t.Errorf("String() = %q", got)
	}
	if got := server.DisconnectMessageTooBig.CloseCode(); got != ws.StatusMessageTooBig {
		t.Errorf("CloseCode() = %d", got)
	}
}
