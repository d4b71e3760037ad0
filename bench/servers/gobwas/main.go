// Command gobwas is the benchmark server on github.com/gobwas/ws: a
// goroutine per connection upgrades it with a ws.Upgrader (its OnRequest
// hook takes the room from the request path; with -deflate its Negotiate
// hook is a wsflate.Extension) and reads frames with wsutil.Reader over a
// 4 KiB bufio.Reader into a buffer reused across messages; compressed
// messages are inflated with a pooled wsflate.Reader. Echo writes the answer
// from the reader (header and payload in one write). Broadcast encodes the
// frame once (and compresses it at most once, with a pooled wsflate.Writer,
// level 1) and hands it to a writer goroutine per member of the sender's
// room, which sends every frame waiting for it at once (one writev; over TLS
// one write of the frames copied together); its queue holds up to 1024
// frames and a full queue makes the publisher wait (backpressure instead of
// unbounded memory). With -tls-cert the listener is crypto/tls.
package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
	"github.com/wsloop/wsloop/bench/internal/srvutil"
)

const queueLen = 1024

type conn struct {
	nc      net.Conn
	deflate bool          // permessage-deflate negotiated
	out     chan []byte   // broadcast frames for the writer goroutine
	done    chan struct{} // closed when the reader ends
}

var (
	mu    sync.RWMutex
	rooms srvutil.Rooms[*conn] // guarded by mu
	isTLS bool
)

// Compressors and decompressors are pooled: a flate state is large and a
// message needs it only while it is compressed or inflated.
var (
	writers = sync.Pool{New: func() any {
		return wsflate.NewWriter(nil, func(w io.Writer) wsflate.Compressor {
			f, _ := flate.NewWriter(w, flate.BestSpeed)
			return f
		})
	}}
	readers = sync.Pool{New: func() any {
		return wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor {
			return inflater{flate.NewReader(r)}
		})
	}}
)

// inflater lets wsflate.Reader reset a flate reader instead of making a new
// one per message.
type inflater struct{ io.ReadCloser }

func (f inflater) Reset(r io.Reader) { f.ReadCloser.(flate.Resetter).Reset(r, nil) }

func main() {
	o := srvutil.Parse("gobwas")
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		srvutil.Fatalf("gobwas: %v", err)
	}
	if o.TLS() {
		isTLS = true
		ln = tls.NewListener(ln, o.TLSConfig())
	}
	srvutil.Run(o, func() error {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return err
			}
			go serve(nc, o)
		}
	})
}

func serve(nc net.Conn, o *srvutil.Options) {
	defer nc.Close()
	broadcast := o.Mode == srvutil.Broadcast
	var room string
	var ext wsflate.Extension
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			if broadcast {
				room = srvutil.RoomOf(string(uri))
			}
			return nil
		},
	}
	if o.Deflate {
		ext.Parameters = wsflate.DefaultParameters // no context takeover either way
		u.Negotiate = ext.Negotiate
	}
	if _, err := u.Upgrade(nc); err != nil {
		return
	}
	srvutil.Conns.Add(1)
	defer srvutil.Conns.Add(-1)
	c := &conn{nc: nc}
	_, c.deflate = ext.Accepted()
	if broadcast {
		c.out = make(chan []byte, queueLen)
		c.done = make(chan struct{})
		go c.writer()
		mu.Lock()
		rooms.Join(c, room)
		mu.Unlock()
		defer func() {
			mu.Lock()
			rooms.Leave(c, room)
			mu.Unlock()
			close(c.done)
		}()
	}
	var wmu sync.Mutex // control frame answers vs. echo writes
	br := bufio.NewReaderSize(nc, 4096)
	var msgState wsflate.MessageState
	rd := &wsutil.Reader{
		Source:    br,
		State:     ws.StateServerSide,
		CheckUTF8: !c.deflate, // a compressed payload is checked once inflated
		OnIntermediate: func(h ws.Header, r io.Reader) error {
			wmu.Lock()
			defer wmu.Unlock()
			return wsutil.ControlFrameHandler(nc, ws.StateServerSide)(h, r)
		},
	}
	if c.deflate {
		rd.State |= ws.StateExtended // RSV1 is allowed
		rd.Extensions = []wsutil.RecvExtension{&msgState}
	}
	var msg, plain bytes.Buffer
	var out []byte
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return
		}
		if h.OpCode.IsControl() {
			if err := rd.OnIntermediate(h, rd); err != nil {
				return // includes the close handshake (wsutil.ClosedError)
			}
			continue
		}
		msg.Reset()
		if _, err := msg.ReadFrom(rd); err != nil {
			return
		}
		data := msg.Bytes()
		if msgState.IsCompressed() {
			plain.Reset()
			if err := inflate(&plain, data); err != nil {
				return
			}
			data = plain.Bytes()
			if h.OpCode == ws.OpText && !utf8.Valid(data) {
				return
			}
		}
		if !broadcast {
			out = appendMessage(out[:0], h.OpCode, data, c.deflate)
			wmu.Lock()
			_, err = nc.Write(out)
			wmu.Unlock()
			if err != nil {
				return
			}
			continue
		}
		publish(room, h.OpCode, data)
	}
}

// publish queues one message to every member of room, encoded once and
// compressed at most once.
func publish(room string, op ws.OpCode, data []byte) {
	var plain, compressed []byte
	mu.RLock()
	defer mu.RUnlock()
	for _, d := range rooms.Members(room) {
		var frame []byte
		if d.deflate {
			if compressed == nil {
				compressed = appendMessage(nil, op, data, true)
			}
			frame = compressed
		} else {
			if plain == nil {
				plain = appendMessage(nil, op, data, false)
			}
			frame = plain
		}
		select {
		case d.out <- frame:
		case <-d.done:
		}
	}
}

// writer writes queued broadcast frames, all that are waiting at once.
func (c *conn) writer() {
	bufs := make(net.Buffers, 0, 64)
	var joined []byte
	for {
		var f []byte
		select {
		case f = <-c.out:
		case <-c.done:
			return
		}
		bufs = append(bufs[:0], f)
	more:
		for len(bufs) < cap(bufs) {
			select {
			case f = <-c.out:
				bufs = append(bufs, f)
			default:
				break more
			}
		}
		var err error
		if isTLS {
			// A tls.Conn has no writev: one record for the batch.
			joined = joined[:0]
			for _, b := range bufs {
				joined = append(joined, b...)
			}
			_, err = c.nc.Write(joined)
		} else {
			b := bufs
			_, err = b.WriteTo(c.nc)
		}
		if err != nil {
			c.nc.Close()
			// Keep draining so that publishers never wait on a dead client.
			for {
				select {
				case <-c.out:
				case <-c.done:
					return
				}
			}
		}
	}
}

// inflate appends the decompressed payload p to dst.
func inflate(dst *bytes.Buffer, p []byte) error {
	r := readers.Get().(*wsflate.Reader)
	defer readers.Put(r)
	r.Reset(bytes.NewReader(p))
	if _, err := dst.ReadFrom(r); err != nil {
		return err
	}
	return r.Close()
}

// appendMessage appends p as one unmasked final frame, compressed (RSV1
// set) when compress is set.
func appendMessage(dst []byte, op ws.OpCode, p []byte, compress bool) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}
	var z bytes.Buffer
	if compress {
		w := writers.Get().(*wsflate.Writer)
		w.Reset(&z)
		w.Write(p)
		err := w.Flush()
		writers.Put(w)
		if err == nil {
			h, _ = wsflate.SetBit(h)
			p = z.Bytes()
			h.Length = int64(len(p))
		}
	}
	var hb [ws.MaxHeaderSize]byte
	w := bytes.NewBuffer(hb[:0])
	ws.WriteHeader(w, h)
	dst = append(dst, w.Bytes()...)
	return append(dst, p...)
}
