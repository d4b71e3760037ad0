package main

import (
	"bytes"
	"crypto/tls"
	"net"

	"github.com/wsloop/wsloop/bench/internal/srvutil"
)

// The floor for TLS: crypto/tls over a plain listener, a goroutine per
// connection blocking in Read, the handshake and the framing of the epoll
// floor (no validation, no limits, no timeouts) and one Write, so one TLS
// record, per read. Echo only. It is the floor in CPU (the cryptography is
// the same for every server that uses crypto/tls, and nothing else is
// done), not in memory: a parked goroutine and crypto/tls's own buffers
// stay with every idle connection.

// tlsReadSize is the first read buffer of a connection; it grows when a
// frame does not fit (a TLS record carries at most 16 KiB of data).
const tlsReadSize = 4 << 10

func serveTLS(o *srvutil.Options) {
	if o.Mode != srvutil.Echo {
		srvutil.Usagef("rawtcp: -tls-cert serves -mode echo only")
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		srvutil.Fatalf("rawtcp: %v", err)
	}
	tl := tls.NewListener(ln, o.TLSConfig())
	srvutil.Run(o, func() error {
		for {
			nc, err := tl.Accept()
			if err != nil {
				return err
			}
			go echoTLS(nc, o.Deflate)
		}
	})
}

// echoTLS serves one connection: the upgrade, then every data frame back
// to the sender, pings answered, a close frame answered and the connection
// closed.
func echoTLS(nc net.Conn, deflate bool) {
	defer nc.Close()
	buf := make([]byte, 0, tlsReadSize)
	var out []byte
	upgraded := false
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		if n == 0 && err != nil {
			if upgraded {
				srvutil.Conns.Add(-1)
			}
			return
		}
		buf = buf[:len(buf)+n]
		data := buf
		if !upgraded {
			i := bytes.Index(data, []byte("\r\n\r\n"))
			if i < 0 {
				if len(data) > maxHead {
					return
				}
				continue
			}
			head := data[:i]
			key := findHeader(head, "Sec-WebSocket-Key")
			if key == nil {
				return
			}
			pmd := deflate && bytes.Contains(findHeader(head, "Sec-WebSocket-Extensions"), []byte("permessage-deflate"))
			if _, err := nc.Write(acceptResponse(key, pmd)); err != nil {
				return
			}
			upgraded = true
			srvutil.Conns.Add(1)
			data = data[i+4:]
		}
		out = out[:0]
		closing := false
		for !closing {
			b0, payload, n := nextFrame(data)
			if n == 0 {
				break
			}
			data = data[n:]
			switch b0 & 0x0f {
			case opClose:
				out = append(appendHeader(out, 0x80|opClose, len(payload)), payload...)
				closing = true
			case opPing:
				out = append(appendHeader(out, 0x80|opPong, len(payload)), payload...)
			case opPong:
			default:
				out = append(appendHeader(out, b0, len(payload)), payload...)
			}
		}
		if len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				closing = true
			}
		}
		if closing {
			srvutil.Conns.Add(-1)
			return
		}
		buf = buf[:copy(buf, data)]
	}
}
