package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// The PROXY protocol (v1 text, v2 binary) puts the original client's
// address in front of a proxied connection's bytes. The header itself is
// parsed by github.com/pires/go-proxyproto; proxyHeaderSize only finds
// where it ends, so that the event loop can wait for all of it without
// blocking and hand the parser exactly its bytes.

var (
	errNoProxyHeader   = errors.New("no PROXY protocol header")
	errProxyV1TooLong  = errors.New("PROXY protocol v1 header longer than 107 bytes")
	proxyV1Prefix      = []byte("PROXY ")
	proxyV2Signature   = []byte("\r\n\r\n\x00\r\nQUIT\n")
	proxyV1MaxLen      = 107
	proxyV2FixedLength = 16
)

// proxyHeaderSize returns the length of the PROXY protocol header at the
// start of buf, 0 while more bytes are needed to tell, or an error when
// buf does not start with one.
func proxyHeaderSize(buf []byte) (int, error) {
	switch {
	case len(buf) == 0:
		return 0, nil
	case buf[0] == proxyV1Prefix[0]:
		if n := min(len(buf), len(proxyV1Prefix)); !bytes.Equal(buf[:n], proxyV1Prefix[:n]) {
			return 0, errNoProxyHeader
		}
		if i := bytes.Index(buf[:min(len(buf), proxyV1MaxLen)], []byte("\r\n")); i >= 0 {
			return i + 2, nil
		}
		if len(buf) >= proxyV1MaxLen {
			return 0, errProxyV1TooLong
		}
		return 0, nil
	case buf[0] == proxyV2Signature[0]:
		if n := min(len(buf), len(proxyV2Signature)); !bytes.Equal(buf[:n], proxyV2Signature[:n]) {
			return 0, errNoProxyHeader
		}
		if len(buf) < proxyV2FixedLength {
			return 0, nil
		}
		size := proxyV2FixedLength + int(binary.BigEndian.Uint16(buf[14:16]))
		if len(buf) < size {
			return 0, nil
		}
		return size, nil
	}
	return 0, errNoProxyHeader
}

// readProxyHeader parses the PROXY protocol header at the start of br and
// returns the client's address: the header's source for the PROXY
// command, peer (the proxy itself) for LOCAL, the proxy's health checks.
func readProxyHeader(br *bufio.Reader, peer netip.AddrPort) (netip.AddrPort, error) {
	h, err := proxyproto.Read(br)
	if err != nil {
		if errors.Is(err, proxyproto.ErrNoProxyProtocol) {
			return peer, errNoProxyHeader
		}
		return peer, err
	}
	if !h.Command.IsProxy() {
		return peer, nil
	}
	switch a := h.SourceAddr.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	// v1 UNKNOWN or a Unix socket: no address to take.
	return peer, nil
}

// proxyTrusted reports whether a PROXY protocol header may come from peer:
// any peer when TrustedProxies is empty.
func (s *Server) proxyTrusted(peer netip.AddrPort) bool {
	return len(s.TrustedProxies) == 0 || s.trusted(peer.Addr())
}

// trusted reports whether a is in TrustedProxies.
func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
