package server

import (
	"bufio"
	"bytes"
	"net/http"
	"net/netip"
	"testing"
)

func TestForwardedClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	proxy := netip.MustParseAddrPort("10.0.0.1:40000")
	outsider := netip.MustParseAddrPort("198.51.100.1:40000")
	cases := []struct {
		name    string
		trusted []netip.Prefix
		peer    netip.AddrPort
		header  http.Header
		want    string
	}{
		{"no headers", trusted, proxy, http.Header{}, "10.0.0.1:40000"},
		{"one hop", trusted, proxy, http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9:0"},
		{"the rightmost untrusted hop is the client", trusted, proxy,
			http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.9, 10.1.2.3"}}, "203.0.113.9:0"},
		{"several header lines are one list", trusted, proxy,
			http.Header{"X-Forwarded-For": {"6.6.6.6", "203.0.113.9", "10.1.2.3"}}, "203.0.113.9:0"},
		{"all hops trusted: the leftmost", trusted, proxy,
			http.Header{"X-Forwarded-For": {"10.9.9.9, 10.1.2.3"}}, "10.9.9.9:0"},
		{"a spoofed header from an untrusted peer is ignored", trusted, outsider,
			http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "198.51.100.1:40000"},
		{"no trusted proxies: headers are never believed", nil, proxy,
			http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "10.0.0.1:40000"},
		{"garbage ends the walk at the last address known", trusted, proxy,
			http.Header{"X-Forwarded-For": {"203.0.113.9, not-an-ip, 10.1.2.3"}}, "10.1.2.3:0"},
		{"a hop with a port", trusted, proxy, http.Header{"X-Forwarded-For": {"203.0.113.9:1234"}}, "203.0.113.9:1234"},
		{"Forwarded (RFC 7239) wins over X-Forwarded-For", trusted, proxy, http.Header{
			"Forwarded":       {`for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"`},
			"X-Forwarded-For": {"6.6.6.6"}}, "[2001:db8:cafe::17]:4711"},
		{"Forwarded skips trusted hops", trusted, proxy, http.Header{
			"Forwarded": {`for=192.0.2.60, for="[2001:db8:ffff::1]"`}}, "192.0.2.60:0"},
		{"Forwarded with an obfuscated hop", trusted, proxy, http.Header{
			"Forwarded": {`for=192.0.2.60, for=_hidden, for=10.0.0.5`}}, "10.0.0.5:0"},
		{"Forwarded, quoted separators, case of the name", trusted, proxy, http.Header{
			"Forwarded": {`For="192.0.2.61";x="a,b;c"`}}, "192.0.2.61:0"},
		{"Forwarded element without for=", trusted, proxy, http.Header{
			"Forwarded": {`proto=https`}}, "10.0.0.1:40000"},
		{"an IPv4-mapped IPv6 peer is matched as IPv4", trusted, netip.MustParseAddrPort("[::ffff:10.0.0.1]:1"),
			http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9:0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{TrustedProxies: tc.trusted}
			req := &Request{Header: tc.header}
			got := s.forwardedClient(tc.peer, req)
			if got.String() != tc.want || req.RemoteAddr.String() != tc.want {
				t.Fatalf("client %v (Request.RemoteAddr %v), want %s", got, req.RemoteAddr, tc.want)
			}
		})
	}
}

// FuzzForwarded feeds arbitrary header values to the X-Forwarded-For and
// Forwarded parsing: nothing panics, and the client is the peer or one of
// the hops the header lists.
func FuzzForwarded(f *testing.F) {
	for _, seed := range []string{
		"203.0.113.9, 10.1.2.3", `for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"`,
		`for="\"quoted\"";by=x`, `for=_hidden, for=unknown`, "[::1]:80, ::ffff:1.2.3.4", `"`, `for="`, ",,;;==",
	} {
		f.Add(seed)
	}
	s := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	peer := netip.MustParseAddrPort("10.0.0.1:1")
	f.Fuzz(func(t *testing.T, value string) {
		for name, hops := range map[string][]string{
			"X-Forwarded-For": xForwardedFor([]string{value}),
			"Forwarded":       forwardedFor([]string{value}),
		} {
			got := s.forwardedClient(peer, &Request{Header: http.Header{name: {value}}})
			ok := got == peer
			for _, h := range hops {
				if a, parsed := parseHop(h); parsed && a == got {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("%s: %q: client %v is neither the peer nor a hop of %q", name, value, got, hops)
			}
		}
	})
}

// FuzzProxyHeader feeds arbitrary bytes to the PROXY protocol framing and
// parser: nothing panics, a header said to be complete is parsed from
// exactly its bytes without wanting more, and a header is never said to be
// longer than the input.
func FuzzProxyHeader(f *testing.F) {
	for _, seed := range []string{
		"PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\nGET / HTTP/1.1\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY TCP6 2001:db8::7 ::1 4711 80\r\n",
		"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc6\x33\x64\x09\x7f\x00\x00\x01\x13\x88\x00\x50",
		"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00",
		"GET / HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	peer := netip.MustParseAddrPort("127.0.0.1:1")
	f.Fuzz(func(t *testing.T, b []byte) {
		size, err := proxyHeaderSize(b)
		if err != nil || size == 0 {
			return
		}
		if size > len(b) {
			t.Fatalf("header of %d bytes in %d", size, len(b))
		}
		br := bufio.NewReaderSize(bytes.NewReader(b[:size]), max(size, 16))
		readProxyHeader(br, peer)
	})
}
