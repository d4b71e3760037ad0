package server

import (
	"compress/flate"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

// Reasons a client is scheduled on a worker; a client is queued at most once
// and its reasons accumulate until a worker takes them.
const (
	needOpen   uint8 = 1 << iota // call OnNewClient
	needRead                     // the socket is readable or input is buffered
	needFlush                    // queued output can be written
	needKill                     // end the client now, with c.leftErr
	needHangup                   // the peer hung up: read until end of stream or error
	needAbort                    // send a close frame for c.leftErr and end the client
	needAuthed                   // Authenticate returned
)

// A client's state, owned by the worker that has it scheduled.
const (
	stHandshake uint8 = iota // reading the request (and PROXY header)
	stAuth                   // Authenticate is running
	stLinger                 // refused: the response goes out, input is discarded
	stOpen                   // upgraded: frames
	stListener               // not a client: a listening socket (isListener)
)

// A Client is one connected WebSocket client. Its methods are safe for
// concurrent use, from callbacks and from other goroutines.
type Client struct {
	id   uint64
	srv  *Server
	addr netip.AddrPort // the client's address, kept by value: no allocation per client
	// tr carries the client's bytes when it is not a plain descriptor.
	tr transport
	fd int32

	// deflate is the permessage-deflate mode negotiated in the handshake.
	deflate deflateMode
	// isListener marks the entry that stands for a listening socket.
	isListener bool

	listed    bool // upgraded: in Clients, Len and broadcasts; guarded by srv.mu
	leftRooms bool // the client is going: no more joins; guarded by srv.roomsMu

	// Owned by the worker that has the client scheduled (c.sched): only it
	// reads from the socket and touches these (and state ... joined below).
	hs  *handshakeState // the handshake, until OnNewClient returned
	in  *[]byte         // input not yet decoded, in a pooled buffer; nil while none
	dec wsproto.Decoder

	// Times in ticks of the server's coarse clock (see Server.now), read by
	// the sweeper; 0 means none.
	closeDeadline atomic.Uint32 // the client must answer our close frame by then
	readDeadline  atomic.Uint32 // the client must finish its handshake or incomplete frame by then
	lastSeen      atomic.Uint32 // bytes last arrived from the client
	pingedAt      atomic.Uint32 // the sweeper last sent a keepalive ping
	writeStall    atomic.Uint32 // queued output stopped moving (0 while it moves)

	// The one-byte fields sit together so that the struct has no padding:
	// an idle client costs its size in memory, twice over with the
	// garbage collector's headroom.
	mu           sync.Mutex
	sched        bool  // queued on or running on a worker; guarded by mu
	reasons      uint8 // why it is scheduled; guarded by mu
	writeBlocked bool  // the last write hit a full send buffer; guarded by mu
	readPaused   bool  // reading waits for out to drain; guarded by mu
	closeSent    bool  // a close frame is queued; no more messages; guarded by mu
	closeAfter   bool  // end the client once out is written; guarded by mu
	inLog        bool  // listed: logPos is valid; guarded by mu
	aborting     bool  // needAbort is pending: no more messages; guarded by mu
	dead         bool  // finished; guarded by mu

	state    uint8  // stHandshake ... stOpen; owned by the worker, like hs
	gotEOF   bool   // the peer closed its side of the TCP connection; owned by the worker
	hangup   bool   // the poller reported a hangup: read until gotEOF; owned by the worker
	gotClose bool   // the client's close frame arrived; owned by the worker
	joined   bool   // OnNewClient ran: OnClientLeft is owed; owned by the worker
	sent     uint16 // messages queued since a worker last counted them (see countSent); guarded by mu

	logPos   int64   // position in the broadcast log up to which out has it; guarded by mu
	outBytes int     // bytes in out; guarded by mu
	out      []chunk // output not yet taken by the socket; nil when empty; guarded by mu
	leftErr  error   // what OnClientLeft will be told; guarded by mu

	rooms *[]membership // rooms joined, nil while none (one pointer for an idle client); guarded by srv.roomsMu
}

// chunk is a piece of queued output: b[off:] is still to be written. A
// pooled chunk's array came from the buffer pools and returns there once
// written.
type chunk struct {
	b      []byte
	off    int
	pooled *[]byte
}

// smallFrameMax is the size up to which frames for one client are packed
// together into one pooled buffer, so a burst of replies leaves in one
// write without an allocation each.
const smallFrameMax = 1024

// ID returns the client's number, unique for the server's lifetime.
func (c *Client) ID() uint64 { return c.id }

// RemoteAddr returns the client's network address: the original client's,
// as a PROXY protocol header or a trusted proxy's X-Forwarded-For or
// Forwarded header tells it, when Server.ProxyProtocol or
// Server.TrustedProxies say to believe them (see there).
func (c *Client) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.addr) }

// Request returns the client's opening handshake. It is there during
// OnNewClient (for example to join the room its path names) and nil
// afterwards: keep what you need of it.
func (c *Client) Request() *Request {
	if c.hs == nil {
		return nil
	}
	return c.hs.req
}

// SendText queues a text message for the client and returns at once; the
// message leaves when the socket can take it. It returns ErrClientClosed
// once the client is closing. A client whose queued output passes
// Server.MaxPendingBytes is disconnected (ErrSlowConsumer).
func (c *Client) SendText(msg string) error {
	return c.send(Text, stringBytes(msg))
}

// SendBinary queues a binary message for the client, like SendText. data
// may be reused once it returns.
func (c *Client) SendBinary(data []byte) error {
	return c.send(Binary, data)
}

// Close starts the closing handshake: output already queued is sent, then a
// close frame with code and reason; the connection ends when the client
// answers, or after Server.CloseTimeout. Messages the client sends in the
// meantime are still delivered. It returns ErrClientClosed if closing had
// already begun.
func (c *Client) Close(code ws.StatusCode, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.dead {
		return ErrClientClosed
	}
	c.queueCloseLocked(code, reason)
	c.closeDeadline.Store(c.srv.deadline(c.srv.closeTimeout()))
	return nil
}

func (c *Client) send(op ws.OpCode, payload []byte) error {
	if c.deflate != deflateOff && len(payload) >= c.srv.compressionThreshold() {
		// Compress outside the lock: it is the expensive part.
		return c.enqueue(c.srv.compressFrame(c.deflate, op, payload))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.aborting || c.dead {
		return ErrClientClosed
	}
	c.catchUpLocked()
	size := wsproto.HeaderSize(len(payload), false) + len(payload)
	if n := len(c.out); size <= smallFrameMax && n > 0 && c.out[n-1].pooled != nil &&
		c.out[n-1].off == 0 && cap(c.out[n-1].b)-len(c.out[n-1].b) >= size {
		last := &c.out[n-1]
		last.b = wsproto.AppendFrame(last.b, op, true, payload)
	} else {
		pb := getBuffer(max(size, smallBuffer))
		*pb = wsproto.AppendFrame((*pb)[:0], op, true, payload)
		c.out = append(c.out, chunk{b: *pb, pooled: pb})
	}
	c.outBytes += size
	return c.afterQueueLocked(size)
}

// enqueue queues an encoded frame by reference, not by copy: the frame may
// be shared by several clients and must never change.
func (c *Client) enqueue(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.aborting || c.dead {
		return ErrClientClosed
	}
	c.catchUpLocked()
	if c.aborting {
		return ErrSlowConsumer
	}
	c.queueShared(frame)
	return c.afterQueueLocked(len(frame))
}

// afterQueueLocked enforces the pending-output cap and schedules a flush
// after a message of size bytes was queued. A message alone in the queue
// is always accepted, however large. c.mu must be held.
func (c *Client) afterQueueLocked(size int) error {
	c.countSent()
	if c.outBytes > c.srv.maxPendingBytes() && c.outBytes > size {
		c.srv.log.Warn("disconnecting slow consumer", "client", c.id, "pending_bytes", c.outBytes)
		c.abortLocked(ErrSlowConsumer)
		return ErrSlowConsumer
	}
	c.scheduleLocked(needFlush)
	return nil
}

// abortLocked ends the client after one attempt to send a close frame
// that names err (see closeFor); output not yet started is dropped. c.mu
// must be held.
func (c *Client) abortLocked(err error) {
	if c.dead || c.aborting {
		return
	}
	c.aborting = true
	if c.leftErr == nil {
		c.leftErr = err
	}
	c.scheduleLocked(needAbort)
}

// abort is abortLocked for callers without c.mu.
func (c *Client) abort(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.abortLocked(err)
}

// ping queues a keepalive ping.
func (c *Client) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.aborting || c.dead {
		return
	}
	c.catchUpLocked()
	c.out = append(c.out, chunk{b: pingFrame})
	c.outBytes += len(pingFrame)
	c.scheduleLocked(needFlush)
}

var pingFrame = wsproto.AppendFrame(nil, ws.OpPing, true, nil)

// queueCloseLocked queues a close frame after the pending output and stops
// accepting messages. c.mu must be held.
func (c *Client) queueCloseLocked(code ws.StatusCode, reason string) {
	c.catchUpLocked()
	frame := wsproto.AppendClose(make([]byte, 0, 2+127), code, reason)
	c.out = append(c.out, chunk{b: frame})
	c.outBytes += len(frame)
	c.closeSent = true
	c.scheduleLocked(needFlush)
}

// kill ends the client as soon as a worker can take it, without a close
// handshake; OnClientLeft gets err.
func (c *Client) kill(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return
	}
	if c.leftErr == nil {
		c.leftErr = err
	}
	c.scheduleLocked(needKill)
}

// scheduleLocked records why the client needs a worker and queues it unless
// it is already queued or running. c.mu must be held.
func (c *Client) scheduleLocked(r uint8) {
	if c.dead {
		return
	}
	c.reasons |= r
	if !c.sched {
		c.sched = true
		c.srv.runq.push(c)
	}
}

// dropUnsentLocked drops queued output except a frame already partly
// written, which must be finished for the stream to stay well-formed. c.mu
// must be held.
func (c *Client) dropUnsentLocked() {
	if len(c.out) > 0 && c.out[0].off > 0 {
		head := c.out[0]
		c.out = c.out[1:]
		c.releaseOutLocked()
		c.out = append(c.out, head)
		c.outBytes = len(head.b) - head.off
		return
	}
	c.releaseOutLocked()
}

// releaseOutLocked drops all queued output. c.mu must be held.
func (c *Client) releaseOutLocked() {
	for i := range c.out {
		if pb := c.out[i].pooled; pb != nil {
			putBuffer(pb)
		}
	}
	c.out = nil
	c.outBytes = 0
}

// deflateMode is a client's permessage-deflate mode.
type deflateMode uint8

const (
	deflateOff         deflateMode = iota
	deflateOn                      // compress at Server.CompressionLevel
	deflateHuffmanOnly             // the client limited our window: no back-references
)

// compressFrame returns a final, unmasked, compressed frame holding payload.
func (s *Server) compressFrame(mode deflateMode, op ws.OpCode, payload []byte) []byte {
	level := s.compressionLevel()
	if mode == deflateHuffmanOnly {
		level = flate.HuffmanOnly
	}
	return wsproto.AppendCompressedFrame(nil, op, payload, level)
}

// encodeFrame returns a final, unmasked frame holding payload.
func encodeFrame(op ws.OpCode, payload []byte) []byte {
	size := wsproto.HeaderSize(len(payload), false) + len(payload)
	return wsproto.AppendFrame(make([]byte, 0, size), op, true, payload)
}

// stringBytes views s as bytes without copying; the bytes must not be
// modified.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
