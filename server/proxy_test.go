package server_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/pires/go-proxyproto"
	"github.com/wsloop/wsloop/server"
)

// addrServer is an echo server that also answers "addr" with the client's
// address as the server sees it, and records what Authenticate saw.
func addrServer(authSaw chan<- string) *server.Server {
	srv := &server.Server{Logger: quietLogger()}
	srv.Authenticate = func(r *server.Request) error {
		authSaw <- r.RemoteAddr.String()
		return nil
	}
	srv.OnMessage = func(c *server.Client, m server.Message) {
		if string(m.Data) == "addr" {
			c.SendText(c.RemoteAddr().String())
			return
		}
		c.SendText(string(m.Data))
	}
	return srv
}

// proxied connects to addr, writes prefix (a PROXY header, or whatever the
// test sends instead) in pieces of split bytes, then the upgrade request,
// and returns the connection with the response read.
func proxied(t *testing.T, addr string, prefix []byte, split int) (*rawClient, *http.Response) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	for len(prefix) > 0 {
		n := min(split, len(prefix))
		if _, err := nc.Write(prefix[:n]); err != nil {
			t.Fatal(err)
		}
		prefix = prefix[n:]
		time.Sleep(time.Millisecond)
	}
	io.WriteString(nc, upgradeRequest("/"))
	resp, rest := readResponse(t, nc)
	return &rawClient{t: t, nc: nc, in: rest}, resp
}

func header(t *testing.T, version byte, cmd proxyproto.ProtocolVersionAndCommand, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	h.Command = cmd
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProxyProtocolGivesTheClientsAddress(t *testing.T) {
	skipIn(t, "these connections make their own headers", "proxy", "tls", "http")
	authSaw := make(chan string, 10)
	srv := addrServer(authSaw)
	srv.ProxyProtocol = true
	addr := hostOf(start(t, srv))

	cases := []struct {
		name   string
		prefix []byte
		split  int
		want   string // "" means the peer's own address
	}{
		{"v1 TCP4", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n"), 1 << 10, "203.0.113.7:4711"},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::7 ::1 4711 80\r\n"), 1 << 10, "[2001:db8::7]:4711"},
		{"v2 TCP4", header(t, 2, proxyproto.PROXY, "198.51.100.9:5000", "127.0.0.1:80"), 1 << 10, "198.51.100.9:5000"},
		{"v2 TCP6", header(t, 2, proxyproto.PROXY, "[2001:db8::9]:5001", "[::1]:80"), 1 << 10, "[2001:db8::9]:5001"},
		{"v2 split across reads byte by byte", header(t, 2, proxyproto.PROXY, "198.51.100.10:5002", "127.0.0.1:80"), 1, "198.51.100.10:5002"},
		{"v1 split across reads byte by byte", []byte("PROXY TCP4 203.0.113.8 127.0.0.1 4712 80\r\n"), 1, "203.0.113.8:4712"},
		{"v2 LOCAL (a health check) keeps the peer's address", header(t, 2, proxyproto.LOCAL, "198.51.100.11:5003", "127.0.0.1:80"), 1 << 10, ""},
		{"v1 UNKNOWN keeps the peer's address", []byte("PROXY UNKNOWN\r\n"), 1 << 10, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, resp := proxied(t, addr, tc.prefix, tc.split)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			want := tc.want
			if want == "" {
				want = c.nc.LocalAddr().String()
			}
			if got := <-authSaw; got != want {
				t.Errorf("Request.RemoteAddr %s, want %s", got, want)
			}
			c.write(frame(ws.OpText, true, []byte("addr")))
			if got := c.readText(); got != want {
				t.Errorf("Client.RemoteAddr %s, want %s", got, want)
			}
		})
	}
}

// With ProxyProtocol on, a connection without a valid header is closed,
// and so is one from outside TrustedProxies: nothing is answered, and the
// server goes on serving.
func TestProxyProtocolFailsClosed(t *testing.T) {
	skipIn(t, "these connections make their own headers", "proxy", "tls", "http")
	for _, trusted := range []string{"", "10.0.0.0/8"} {
		srv := addrServer(make(chan string, 100))
		srv.ProxyProtocol = true
		if trusted != "" {
			srv.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(trusted)}
		}
		addr := hostOf(start(t, srv))
		good := header(t, 2, proxyproto.PROXY, "198.51.100.9:5000", "127.0.0.1:80")
		cases := map[string][]byte{
			"no header":                          nil,
			"garbage v1":                         []byte("PROXY NONSENSE here\r\n"),
			"v1 without its line end (too long)": append([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), make([]byte, 120)...),
			"bad v2 version":                     append(append([]byte{}, good[:12]...), 0x31, 0x11, 0, 0),
			"v1 with a bad address":              []byte("PROXY TCP4 300.1.1.1 127.0.0.1 1 2\r\n"),
		}
		if trusted != "" {
			cases["a good header from an untrusted peer"] = good
		}
		for name, prefix := range cases {
			t.Run(trusted+" "+name, func(t *testing.T) {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				nc.Write(prefix)
				io.WriteString(nc, upgradeRequest("/"))
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				got, err := io.ReadAll(nc)
				if len(got) > 0 || isTimeout(err) {
					t.Fatalf("got %q, %v; want the connection closed without an answer", got, err)
				}
			})
		}
		if trusted == "" {
			c, resp := proxied(t, addr, good, 1<<10)
			if resp.StatusCode != 101 {
				t.Fatalf("after the bad ones, a good header: status %d", resp.StatusCode)
			}
			c.write(frame(ws.OpText, true, []byte("addr")))
			if got := c.readText(); got != "198.51.100.9:5000" {
				t.Fatalf("address %s", got)
			}
		}
	}
}

// The PROXY header comes before TLS: wss:// behind a TCP proxy.
func TestProxyProtocolBeforeTLS(t *testing.T) {
	skipIn(t, "these connections make their own headers", "proxy", "tls", "http")
	authSaw := make(chan string, 10)
	srv := addrServer(authSaw)
	srv.ProxyProtocol = true
	srv.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	srv.TLSConfig = testTLS(t).server
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(header(t, 1, proxyproto.PROXY, "203.0.113.50:6000", "127.0.0.1:443"))
	tc := tls.Client(nc, clientTLS(t))
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, upgradeRequest("/"))
	resp, rest := readResponse(t, tc)
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := <-authSaw; got != "203.0.113.50:6000" {
		t.Fatalf("Request.RemoteAddr %s", got)
	}
	c := &rawClient{t: t, nc: tc, in: rest}
	c.write(frame(ws.OpText, true, []byte("addr")))
	if got := c.readText(); got != "203.0.113.50:6000" {
		t.Fatalf("Client.RemoteAddr %s", got)
	}
}

// X-Forwarded-For is believed from a trusted proxy only: a client cannot
// choose its own address.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	skipIn(t, "the peer's address is set by the mode", "proxy")
	for _, tc := range []struct {
		trusted string
		want    string
	}{
		{"127.0.0.0/8", "203.0.113.77:0"}, // the test client is the trusted proxy
		{"10.0.0.0/8", ""},                // the test client is an outsider
	} {
		t.Run(tc.trusted, func(t *testing.T) {
			authSaw := make(chan string, 10)
			srv := addrServer(authSaw)
			srv.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(tc.trusted)}
			url := start(t, srv)
			nc := dialTCP(t, url)
			io.WriteString(nc, upgradeRequest("/", "X-Forwarded-For: 6.6.6.6, 203.0.113.77"))
			resp, rest := readResponse(t, nc)
			if resp.StatusCode != 101 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			want := tc.want
			if want == "" {
				want = tcpConn(nc).LocalAddr().String()
			}
			if got := <-authSaw; got != want {
				t.Errorf("Request.RemoteAddr %s, want %s", got, want)
			}
			c := &rawClient{t: t, nc: nc, in: rest}
			c.write(frame(ws.OpText, true, []byte("addr")))
			if got := c.readText(); got != want {
				t.Errorf("Client.RemoteAddr %s, want %s", got, want)
			}
		})
	}
}
