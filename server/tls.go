package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"time"
)

// TLS runs on the event loop with crypto/tls itself, driven from readiness.
//
// The handshake is the one step that cannot be: crypto/tls keeps the first
// error of a handshake for good, so a handshake cut short by "no bytes yet"
// would be lost. It runs on the connection's handshake goroutine with
// blocking reads, as every handshake did before the event loop took them
// over, and is bounded by HandshakeTimeout. Once the request is answered
// the socket leaves the Go runtime like any other, and the tls.Conn stays
// on a tlsPipe that no longer blocks: its reads serve the ciphertext the
// worker read from the socket and fail with a temporary net.Error when it
// runs out, which crypto/tls reports without keeping (it resumes the record
// on the next Read); its writes collect ciphertext that the worker writes
// to the socket. So an idle wss client has no goroutine, and nothing
// blocks a worker: a record split across reads waits in crypto/tls for its
// rest, and a client that stops reading leaves ciphertext queued, bounded
// by tlsOutMax, until WriteTimeout cuts it off.

// tlsPipe is the connection under a server-side tls.Conn: the real
// connection until detach, then the socket's descriptor through buffers.
// After detach it is also the client's transport.
type tlsPipe struct {
	nc net.Conn  // during the handshake
	tc *tls.Conn // the session over this pipe

	// After detach; owned by the worker that has the client scheduled.
	fd    int
	in    *[]byte // ciphertext read from the socket, not yet taken by tc (pooled)
	inOff int     // bytes of in already taken
	out   *[]byte // ciphertext from tc, not yet written (pooled)
	eof   bool    // the socket reached the end of stream
	rerr  error   // the socket's read failed
	rec   recordCursor
}

// recordCursor follows the TLS record framing of the ciphertext given to
// crypto/tls, from its first byte, so that after detach a Read never
// hands it bytes past the end of the record under way. crypto/tls keeps
// its raw input in a buffer that only grows: handed a record and the start
// of the next, it must grow the buffer to hold both, up to twice the
// largest record (about 33 KiB), for the rest of the session; handed one
// record at a time it holds one (18 KiB at most, after a 16 KiB record)
// and reuses it. Only the 5-byte header is read (type, version, length);
// the record stays crypto/tls's.
type recordCursor struct {
	hdr  [tlsHeaderLen]byte // the header of the record under way, as far as given
	hdrN int                // bytes of hdr given
	left int                // bytes of the record's body not yet given
}

const tlsHeaderLen = 5

// limit returns how many bytes of b, which continues what was given so
// far, belong to the record under way, header included.
func (r *recordCursor) limit(b []byte) int {
	if r.hdrN == tlsHeaderLen {
		return min(len(b), r.left)
	}
	need := tlsHeaderLen - r.hdrN
	if len(b) < need {
		return len(b) // part of a header; the rest comes later
	}
	var h [tlsHeaderLen]byte
	copy(h[:], r.hdr[:r.hdrN])
	copy(h[r.hdrN:], b[:need])
	return min(len(b), need+(int(h[3])<<8|int(h[4])))
}

// advance notes that b was given.
func (r *recordCursor) advance(b []byte) {
	for len(b) > 0 {
		if r.hdrN < tlsHeaderLen {
			k := copy(r.hdr[r.hdrN:], b)
			r.hdrN += k
			b = b[k:]
			if r.hdrN < tlsHeaderLen {
				return
			}
			r.left = int(r.hdr[3])<<8 | int(r.hdr[4])
		}
		k := min(len(b), r.left)
		r.left -= k
		b = b[k:]
		if r.left == 0 {
			r.hdrN = 0 // the record is complete: the next one starts
		}
	}
}

// tlsOutMax caps the ciphertext waiting for the socket; writev takes no
// more plaintext beyond it. tlsRecord is how much plaintext goes into one
// record: small frames queued together leave as one record.
const (
	tlsOutMax = 256 << 10
	tlsRecord = 16 << 10
	tlsReadSz = 64 << 10
)

// errTLSWouldBlock is what a detached tlsPipe's Read returns when it has no
// ciphertext: a temporary net.Error, which crypto/tls does not keep.
var errTLSWouldBlock error = tlsWouldBlock{}

type tlsWouldBlock struct{}

func (tlsWouldBlock) Error() string   { return "no ciphertext yet" }
func (tlsWouldBlock) Timeout() bool   { return true }
func (tlsWouldBlock) Temporary() bool { return true }

// detach switches the pipe from the connection to its descriptor fd, with
// the bytes already read from the connection and not yet taken.
func (p *tlsPipe) detach(fd int, pending []byte) *tlsPipe {
	p.fd = fd
	if len(pending) > 0 {
		p.in = getBuffer(len(pending))
		*p.in = append(*p.in, pending...)
	}
	p.nc = nil
	return p
}

// Read is crypto/tls reading ciphertext.
func (p *tlsPipe) Read(b []byte) (int, error) {
	if p.nc != nil {
		// The handshake reads as it likes; the cursor follows, so that it
		// is at the right place in the stream after detach.
		n, err := p.nc.Read(b)
		p.rec.advance(b[:n])
		return n, err
	}
	if p.in != nil && p.inOff < len(*p.in) {
		avail := (*p.in)[p.inOff:]
		n := copy(b, avail[:p.rec.limit(avail)])
		p.rec.advance(avail[:n])
		p.inOff += n
		if p.inOff == len(*p.in) {
			putBuffer(p.in)
			p.in, p.inOff = nil, 0
		}
		return n, nil
	}
	switch {
	case p.rerr != nil:
		return 0, p.rerr
	case p.eof:
		return 0, io.EOF
	}
	return 0, errTLSWouldBlock
}

// Write is crypto/tls writing ciphertext.
func (p *tlsPipe) Write(b []byte) (int, error) {
	if p.nc != nil {
		return p.nc.Write(b)
	}
	if p.out == nil {
		p.out = getBuffer(max(len(b), smallBuffer))
	}
	*p.out = append(*p.out, b...)
	return len(b), nil
}

// Close closes the connection during the handshake; afterwards the
// descriptor belongs to the client and crypto/tls cannot close it.
func (p *tlsPipe) Close() error {
	if p.nc != nil {
		return p.nc.Close()
	}
	return nil
}

func (p *tlsPipe) LocalAddr() net.Addr {
	if p.nc != nil {
		return p.nc.LocalAddr()
	}
	return nil
}

func (p *tlsPipe) RemoteAddr() net.Addr {
	if p.nc != nil {
		return p.nc.RemoteAddr()
	}
	return nil
}

func (p *tlsPipe) SetDeadline(t time.Time) error {
	if p.nc != nil {
		return p.nc.SetDeadline(t)
	}
	return nil
}

func (p *tlsPipe) SetReadDeadline(t time.Time) error {
	if p.nc != nil {
		return p.nc.SetReadDeadline(t)
	}
	return nil
}

func (p *tlsPipe) SetWriteDeadline(t time.Time) error {
	if p.nc != nil {
		return p.nc.SetWriteDeadline(t)
	}
	return nil
}

// fill reads once from the socket into in. It reports whether the socket
// may have more.
func (p *tlsPipe) fill() bool {
	if p.eof || p.rerr != nil {
		return false
	}
	if p.in == nil {
		p.in = getBuffer(tlsReadSz)
	} else if p.inOff > 0 {
		*p.in = (*p.in)[:copy(*p.in, (*p.in)[p.inOff:])]
		p.inOff = 0
	}
	buf := *p.in
	if cap(buf)-len(buf) < tlsReadSz/4 {
		bigger := getBuffer(len(buf) + tlsReadSz)
		*bigger = append(*bigger, buf...)
		putBuffer(p.in)
		p.in = bigger
		buf = *bigger
	}
	n, err := readFD(p.fd, buf[len(buf):cap(buf)])
	switch {
	case err == errWouldBlock:
	case err != nil:
		p.rerr = err
	case n == 0:
		p.eof = true
	}
	*p.in = buf[:len(buf)+n]
	if len(*p.in) == 0 {
		putBuffer(p.in)
		p.in = nil
	}
	return err == nil && n > 0
}

// read decrypts into b what the socket has: it reads the socket until b is
// full or the socket has nothing more, so that no readiness edge is lost.
func (p *tlsPipe) read(b []byte) (int, error) {
	n := 0
	more := p.fill()
	for n < len(b) {
		m, err := p.tc.Read(b[n:])
		n += m
		if err == nil {
			continue
		}
		if errors.Is(err, errTLSWouldBlock) {
			if more {
				more = p.fill()
				continue
			}
			break
		}
		// The end of the stream (with or without close_notify), or a
		// failed session: crypto/tls keeps the error for later reads.
		p.flushOut()
		if n > 0 {
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		return 0, err
	}
	// crypto/tls may have written while reading (a KeyUpdate answer).
	p.flushOut()
	if n == 0 {
		return 0, errWouldBlock
	}
	return n, nil
}

// writev encrypts a prefix of bufs, packing small frames into records of up
// to tlsRecord bytes, and writes what the socket takes. With no bufs it
// only writes pending ciphertext, and reports errWouldBlock while some is
// left.
func (p *tlsPipe) writev(bufs [][]byte) (int, error) {
	if err := p.flushOut(); err != nil && err != errWouldBlock {
		return 0, err
	}
	pending := p.outLen()
	if len(bufs) == 0 || pending >= tlsOutMax {
		if pending > 0 {
			return 0, errWouldBlock
		}
		return 0, nil
	}
	rec := getBuffer(tlsRecord)
	defer putBuffer(rec)
	budget := tlsOutMax - pending
	n := 0
	for _, b := range bufs {
		for len(b) > 0 && budget > 0 {
			take := min(len(b), budget, tlsRecord-len(*rec))
			*rec = append(*rec, b[:take]...)
			b = b[take:]
			budget -= take
			n += take
			if len(*rec) == tlsRecord {
				if _, err := p.tc.Write(*rec); err != nil {
					return 0, err
				}
				*rec = (*rec)[:0]
			}
		}
		if budget == 0 {
			break
		}
	}
	if len(*rec) > 0 {
		if _, err := p.tc.Write(*rec); err != nil {
			return 0, err
		}
	}
	if err := p.flushOut(); err != nil && err != errWouldBlock {
		return 0, err
	}
	return n, nil
}

func (p *tlsPipe) outLen() int {
	if p.out == nil {
		return 0
	}
	return len(*p.out)
}

// flushOut writes pending ciphertext; errWouldBlock means some is left.
func (p *tlsPipe) flushOut() error {
	if p.out == nil {
		return nil
	}
	n, err := writeFD(p.fd, *p.out)
	if n == len(*p.out) {
		putBuffer(p.out)
		p.out = nil
		return nil
	}
	*p.out = (*p.out)[:copy(*p.out, (*p.out)[n:])]
	if err != nil {
		return err
	}
	return errWouldBlock
}

func (p *tlsPipe) shutdownWrite() {
	p.tc.CloseWrite() // close_notify
	if p.flushOut() == nil {
		shutdownWriteFD(p.fd)
	}
}

func (p *tlsPipe) close() {
	closeFD(p.fd)
	if p.in != nil {
		putBuffer(p.in)
		p.in = nil
	}
	if p.out != nil {
		putBuffer(p.out)
		p.out = nil
	}
}

// ListenAndServeTLS is ListenAndServe for wss:// clients, as in net/http:
// it listens on s.Addr and serves TLS with the certificate and key in the
// given PEM files, or, when both are empty, with TLSConfig's certificates
// or GetCertificate. A certificate that cannot be loaded is an error before
// anything listens: it never falls back to plaintext.
func (s *Server) ListenAndServeTLS(certFile, keyFile string) error {
	cfg, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		return err
	}
	addr, err := listenAddr(s.Addr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.serve(ln, cfg)
}

// ServeTLS is Serve for wss:// clients on ln; see ListenAndServeTLS for
// the certificate.
func (s *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	cfg, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		ln.Close()
		return err
	}
	return s.serve(ln, cfg)
}

// tlsConfig is TLSConfig (or an empty one) with the certificate in the
// files added, and HTTP/1.1 offered in ALPN.
func (s *Server) tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	var cfg *tls.Config
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if !slices.Contains(cfg.NextProtos, "http/1.1") {
		cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, errors.New("server: cannot load TLS certificate: " + err.Error())
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
		return nil, errors.New("server: TLS needs a certificate: give certFile and keyFile, or set TLSConfig.Certificates or GetCertificate")
	}
	return cfg, nil
}
