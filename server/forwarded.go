package server

import (
	"net"
	"net/netip"
	"strings"
)

// forwardedClient returns the client's address for a request that arrived
// from peer. Only a peer in TrustedProxies is believed about the hops
// before it: the Forwarded header (RFC 7239) if the request has one, else
// X-Forwarded-For. Walking the hops from the right, every trusted proxy is
// skipped and the first address that is not one is the client; a hop that
// is not an address ("unknown", an obfuscated name) ends the walk at the
// last address known. req.RemoteAddr is set to the answer.
func (s *Server) forwardedClient(peer netip.AddrPort, req *Request) netip.AddrPort {
	client := peer
	if len(s.TrustedProxies) > 0 && s.trusted(peer.Addr()) {
		var hops []string
		if v := req.Header.Values("Forwarded"); len(v) > 0 {
			hops = forwardedFor(v)
		} else {
			hops = xForwardedFor(req.Header.Values("X-Forwarded-For"))
		}
		for i := len(hops) - 1; i >= 0; i-- {
			hop, ok := parseHop(hops[i])
			if !ok {
				break
			}
			client = hop
			if !s.trusted(hop.Addr()) {
				break
			}
		}
	}
	req.RemoteAddr = net.TCPAddrFromAddrPort(client)
	return client
}

// xForwardedFor splits X-Forwarded-For header values into hops, left to
// right.
func xForwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for hop := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// forwardedFor returns the for= parameter of every element of Forwarded
// header values (RFC 7239), left to right; an element without one counts
// as an unknown hop.
func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for elem := range splitQuoted(v, ',') {
			hop := "unknown"
			for pair := range splitQuoted(elem, ';') {
				name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
					hop = unquote(strings.TrimSpace(value))
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// splitQuoted yields the parts of s between separators sep that are not
// inside a quoted string.
func splitQuoted(s string, sep byte) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		start, quoted := 0, false
		for i := 0; i < len(s); i++ {
			switch {
			case s[i] == '\\' && quoted:
				i++
			case s[i] == '"':
				quoted = !quoted
			case s[i] == sep && !quoted:
				if !yield(s[start:i]) {
					return
				}
				start = i + 1
			}
		}
		yield(s[start:])
	}
}

// unquote removes the quotes (and backslash escapes) of a quoted-string.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseHop reads one hop: an IPv4 or IPv6 address, with or without a port
// (IPv6 with a port in brackets, as in "[2001:db8::1]:4711").
func parseHop(hop string) (netip.AddrPort, bool) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(hop, "["), "]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	return netip.AddrPort{}, false
}
