// Command rawtcp is the floor of the comparison: the cheapest server that
// wsbench still accepts, written on epoll with golang.org/x/sys/unix and no
// WebSocket library. No WebSocket server can do less work per message.
//
// What it does:
//   - one goroutine (locked to its thread) runs one edge-triggered epoll
//     loop for the listener and every connection; no worker pool, no
//     locks, no goroutine per connection;
//   - the handshake: reads until the blank line ending the request head,
//     finds Sec-WebSocket-Key (case-insensitive header name) and answers
//     with a 101 carrying the Sec-WebSocket-Accept it computed; nothing
//     else in the request is checked (method, version, Upgrade/Connection
//     headers, Origin) and no other response is ever sent;
//   - per read (64 KiB buffer): finds frame boundaries from the 2-14 byte
//     header, unmasks each payload in place with an 8-bytes-at-a-time XOR
//     loop, and appends an unmasked header (same FIN bit and opcode) plus
//     the payload to one output buffer;
//   - echo: that buffer goes back to the sender with one write per read;
//   - broadcast: the data frames of every read of one epoll round are
//     appended once to a round buffer, and every member of the sender's
//     room ("/": every upgraded connection; "/room/NAME": the connections
//     that asked for NAME, found from the request line) notes the ranges it
//     is owed; at the end of the round each member gets one writev of its
//     ranges, straight from the shared buffer (no copy per member, one
//     system call per member per round, however many publishers were read);
//     what a socket does not take is copied to that connection's own
//     buffer and flushed on EPOLLOUT (over 64 MiB pending it is dropped);
//   - -deflate: a request whose Sec-WebSocket-Extensions offers
//     permessage-deflate is answered with "permessage-deflate;
//     server_no_context_takeover; client_no_context_takeover"; frames are
//     then passed on still compressed, RSV1 and all: with no context
//     takeover either way every message is compressed on its own, so the
//     sender's compressed bytes are valid for every receiver and the floor
//     neither inflates nor deflates anything;
//   - a close frame is answered with a close frame carrying the same
//     payload, then the socket is closed; a ping is answered with a pong.
//
// What it does not do: no validation at all (reserved bits, opcodes, the
// mask bit, control frame sizes, fragmentation order, UTF-8, close codes),
// no reassembly of fragmented messages (each frame is echoed as it came,
// which happens to be valid for wsbench's single-frame messages), no
// message size limit, no handshake or close timeouts, no TLS, no HTTP.
package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net"
	"runtime"
	"time"

	"github.com/wsloop/wsloop/bench/internal/srvutil"
	"golang.org/x/sys/unix"
)

const (
	readSize      = 64 << 10
	maxHead       = 8 << 10
	maxPending    = 64 << 20
	wsGUID        = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	opClose       = 0x8
	opPing        = 0x9
	opPong        = 0xA
	connEvents    = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	listenBacklog = 4096
)

type conn struct {
	fd      int
	ws      bool   // handshake done
	room    string // the room named by the request path ("": everyone)
	in      []byte // input not yet parsed (partial head or frame)
	out     []byte // output the socket has not taken yet
	owed    []span // broadcast frames of this round, in loop.round
	closing bool   // close once out is written
	dead    bool   // dropped
}

// span is a range of loop.round.
type span struct{ from, to int }

type loop struct {
	ep        int
	lfd       int
	broadcast bool
	deflate   bool
	conns     []*conn // by descriptor
	rooms     srvutil.Rooms[*conn]
	buf       []byte  // read buffer
	reply     []byte  // replies to the connection being read
	round     []byte  // broadcast frames read in this epoll round
	owing     []*conn // connections with owed spans this round
	iov       [][]byte
}

func main() {
	o := srvutil.Parse("rawtcp")
	if o.TLS() {
		serveTLS(o)
		return
	}
	l, err := newLoop(o.Addr, o.Mode == srvutil.Broadcast)
	if err != nil {
		srvutil.Fatalf("rawtcp: %v", err)
	}
	l.deflate = o.Deflate
	srvutil.Run(o, l.run)
}

func newLoop(addr string, broadcast bool) (*loop, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := unix.Bind(lfd, sa); err != nil {
		return nil, err
	}
	if err := unix.Listen(lfd, listenBacklog); err != nil {
		return nil, err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return nil, err
	}
	return &loop{ep: ep, lfd: lfd, broadcast: broadcast, buf: make([]byte, readSize)}, nil
}

func (l *loop) run() error {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, 1<<15)
	for {
		n, err := unix.EpollWait(l.ep, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for i := range n {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == l.lfd {
				l.accept()
				continue
			}
			if fd >= len(l.conns) || l.conns[fd] == nil {
				continue
			}
			c := l.conns[fd]
			if ev.Events&unix.EPOLLOUT != 0 && len(c.out) > 0 {
				if !l.flush(c) {
					continue
				}
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				l.readAll(c, ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
			}
		}
		l.endRound()
	}
}

// endRound gives every member owed broadcast frames one writev of them.
func (l *loop) endRound() {
	for _, c := range l.owing {
		if !c.dead && len(c.owed) > 0 {
			l.writeOwed(c)
		}
	}
	clear(l.owing)
	l.owing = l.owing[:0]
	l.round = l.round[:0]
}

// writeOwed writes the frames c is owed with one writev, or, when earlier
// output still waits for EPOLLOUT, queues them behind it.
func (l *loop) writeOwed(c *conn) {
	if len(c.out) > 0 {
		l.settle(c, 0)
		return
	}
	l.iov = l.iov[:0]
	for _, sp := range c.owed {
		l.iov = append(l.iov, l.round[sp.from:sp.to])
	}
	n, err := unix.Writev(c.fd, l.iov)
	for err == unix.EINTR {
		n, err = unix.Writev(c.fd, l.iov)
	}
	switch {
	case err == unix.EAGAIN:
		n = 0
	case err != nil:
		l.drop(c)
		return
	}
	l.settle(c, n)
}

// settle copies what c is owed past its first n bytes to c.out, to be
// flushed on EPOLLOUT.
func (l *loop) settle(c *conn, n int) {
	for _, sp := range c.owed {
		b := l.round[sp.from:sp.to]
		if n >= len(b) {
			n -= len(b)
			continue
		}
		c.out = append(c.out, b[n:]...)
		n = 0
	}
	c.owed = c.owed[:0]
	if len(c.out) > maxPending {
		l.drop(c)
	}
}

// owe notes that c is to get round[from:to] at the end of the round.
func (l *loop) owe(c *conn, from, to int) {
	if k := len(c.owed); k > 0 && c.owed[k-1].to == from {
		c.owed[k-1].to = to
		return
	}
	if len(c.owed) == 0 {
		l.owing = append(l.owing, c)
	}
	c.owed = append(c.owed, span{from, to})
}

func (l *loop) accept() {
	for {
		fd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err == unix.EAGAIN:
			return
		case err == unix.EMFILE || err == unix.ENFILE:
			time.Sleep(time.Millisecond) // the listener stays readable: try later
			return
		case err != nil:
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &conn{fd: fd}
		for fd >= len(l.conns) {
			l.conns = append(l.conns, make([]*conn, len(l.conns)+1024)...)
		}
		l.conns[fd] = c
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: connEvents, Fd: int32(fd)}); err != nil {
			l.drop(c)
		}
	}
}

// readAll reads until the socket is drained (edge-triggered), handling what
// each read brought before the next read. A short read means drained unless
// the peer hung up (then it reads on to see the end of stream).
func (l *loop) readAll(c *conn, hangup bool) {
	for {
		n, err := unix.Read(c.fd, l.buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.drop(c)
			return
		}
		data := l.buf[:n]
		if len(c.in) > 0 {
			c.in = append(c.in, data...)
			data = c.in
		}
		rest, ok := l.handle(c, data)
		if !ok {
			return
		}
		if len(rest) == 0 {
			c.in = c.in[:0]
			if cap(c.in) > readSize {
				c.in = nil
			}
		} else {
			c.in = append(c.in[:0], rest...) // may overlap: append copies forward
		}
		if n < len(l.buf) && !hangup {
			return // drained; edge-triggered epoll reports new bytes
		}
	}
}

// handle processes data from c and returns the unparsed tail; false means c
// was dropped.
func (l *loop) handle(c *conn, data []byte) ([]byte, bool) {
	if !c.ws {
		i := bytes.Index(data, []byte("\r\n\r\n"))
		if i < 0 {
			if len(data) > maxHead {
				l.drop(c)
				return nil, false
			}
			return data, true
		}
		head := data[:i]
		key := findHeader(head, "Sec-WebSocket-Key")
		if key == nil {
			l.drop(c)
			return nil, false
		}
		deflate := l.deflate && bytes.Contains(findHeader(head, "Sec-WebSocket-Extensions"), []byte("permessage-deflate"))
		if !l.send(c, acceptResponse(key, deflate)) {
			return nil, false
		}
		c.ws = true
		srvutil.Conns.Add(1)
		if l.broadcast {
			c.room = srvutil.RoomOf(requestPath(head))
			l.rooms.Join(c, c.room)
		}
		data = data[i+4:]
	}
	l.reply = l.reply[:0]
	from := len(l.round)
	for {
		b0, payload, n := nextFrame(data)
		if n == 0 {
			break
		}
		data = data[n:]
		switch op := b0 & 0x0f; op {
		case opClose:
			l.reply = append(appendHeader(l.reply, 0x80|opClose, len(payload)), payload...)
			c.closing = true
		case opPing:
			l.reply = append(appendHeader(l.reply, 0x80|opPong, len(payload)), payload...)
		case opPong:
		default:
			if l.broadcast {
				l.round = append(appendHeader(l.round, b0, len(payload)), payload...)
			} else {
				l.reply = append(appendHeader(l.reply, b0, len(payload)), payload...)
			}
		}
		if c.closing {
			break
		}
	}
	if to := len(l.round); to > from {
		for _, d := range l.rooms.Members(c.room) {
			if !d.closing {
				l.owe(d, from, to)
			}
		}
	}
	if len(l.reply) > 0 && !l.send(c, l.reply) {
		return nil, false
	}
	if c.closing {
		if len(c.out) == 0 {
			l.drop(c)
		}
		return nil, false
	}
	return data, true
}

// send writes b to c with one write, keeping what the socket does not
// take; false means c was dropped. Broadcast frames c is owed this round
// go first.
func (l *loop) send(c *conn, b []byte) bool {
	if len(c.owed) > 0 {
		l.writeOwed(c)
		if c.dead {
			return false
		}
	}
	if len(c.out) > 0 {
		if len(c.out)+len(b) > maxPending {
			l.drop(c)
			return false
		}
		c.out = append(c.out, b...)
		return true
	}
	for {
		n, err := unix.Write(c.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			n = 0
		case err != nil:
			l.drop(c)
			return false
		}
		if n < len(b) {
			c.out = append(c.out, b[n:]...)
		}
		return true
	}
}

// flush writes pending output on EPOLLOUT; false means c was dropped.
func (l *loop) flush(c *conn) bool {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return true
		}
		if err != nil {
			l.drop(c)
			return false
		}
		c.out = c.out[:copy(c.out, c.out[n:])]
	}
	if cap(c.out) > readSize {
		c.out = nil
	}
	if c.closing {
		l.drop(c)
		return false
	}
	return true
}

func (l *loop) drop(c *conn) {
	if c.dead {
		return
	}
	c.dead = true
	c.owed = nil
	l.conns[c.fd] = nil
	if c.ws {
		srvutil.Conns.Add(-1)
		if l.broadcast {
			l.rooms.Leave(c, c.room)
		}
	}
	unix.Close(c.fd) // also removes it from the epoll set
}

// nextFrame finds the first complete frame in data, unmasks its payload in
// place and returns its first byte (FIN, RSV and opcode), the payload and
// the frame's length; n is 0 when data does not hold a complete frame yet.
func nextFrame(data []byte) (b0 byte, payload []byte, n int) {
	if len(data) < 2 {
		return 0, nil, 0
	}
	b0, b1 := data[0], data[1]
	plen := uint64(b1 & 0x7f)
	hl := 2
	switch plen {
	case 126:
		if len(data) < 4 {
			return 0, nil, 0
		}
		plen, hl = uint64(binary.BigEndian.Uint16(data[2:])), 4
	case 127:
		if len(data) < 10 {
			return 0, nil, 0
		}
		plen, hl = binary.BigEndian.Uint64(data[2:]), 10
	}
	masked := b1&0x80 != 0
	if masked {
		hl += 4
	}
	if len(data) < hl || uint64(len(data)-hl) < plen {
		return 0, nil, 0
	}
	payload = data[hl : hl+int(plen)]
	if masked {
		unmask(payload, data[hl-4:hl])
	}
	return b0, payload, hl + int(plen)
}

// unmask XORs p with the 4-byte key, 8 bytes at a time.
func unmask(p, key []byte) {
	k32 := binary.LittleEndian.Uint32(key)
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k64)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

func appendHeader(dst []byte, b0 byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	}
	dst = append(dst, b0, 127)
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

// findHeader returns the value of the header called name in head (the
// first one, if there are several).
func findHeader(head []byte, name string) []byte {
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// requestPath returns the request target of the request line that starts
// head ("GET /room/a HTTP/1.1" → "/room/a").
func requestPath(head []byte) string {
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	_, rest, _ := bytes.Cut(line, []byte(" "))
	target, _, _ := bytes.Cut(rest, []byte(" "))
	return string(target)
}

const deflateResponse = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"

func acceptResponse(key []byte, deflate bool) []byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(wsGUID))
	var sum [sha1.Size]byte
	resp := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	resp = base64.StdEncoding.AppendEncode(resp, h.Sum(sum[:0]))
	resp = append(resp, "\r\n"...)
	if deflate {
		resp = append(resp, deflateResponse...)
	}
	return append(resp, "\r\n"...)
}
