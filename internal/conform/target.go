package conform

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Target is the server under test, as handed to every Case.
type Target struct {
	// URL is the ws:// or wss:// URL of the echo endpoint.
	URL string
	// Slow is Options.Slow: run the cases at full Autobahn size.
	Slow bool
	// TimeScale multiplies every wait of the cases (1 when zero).
	TimeScale float64
	// TLS is Options.TLS: the client's TLS configuration for a wss://
	// URL.
	TLS *tls.Config

	addr   string // host:port to dial
	host   string // Host header
	path   string // request URI
	secure bool   // wss://
}

// CheckURL reports whether u is a URL the suite can test:
// ws://host[:port]/path or wss://host[:port]/path.
func CheckURL(u string) error {
	_, err := NewTarget(u)
	return err
}

// NewTarget returns the Target for a ws:// or wss:// URL, for running
// single cases with Case.Run.
func NewTarget(raw string) (*Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", raw, err)
	}
	port := "80"
	switch u.Scheme {
	case "ws":
	case "wss":
		port = "443"
	default:
		return nil, fmt.Errorf("bad URL %q: scheme must be ws:// or wss://", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("bad URL %q: no host", raw)
	}
	t := &Target{URL: raw, host: u.Host, path: u.RequestURI(), secure: u.Scheme == "wss"}
	t.addr = u.Host
	if u.Port() == "" {
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	return t, nil
}

// tlsConfig is the configuration of a wss:// connection: TLS (the
// system's roots when nil), verifying the URL's host unless it names
// another server or skips verification.
func (t *Target) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if t.TLS != nil {
		cfg = t.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(t.addr)
		if err != nil {
			host = t.addr
		}
		cfg.ServerName = host
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return cfg
}

// d scales one of the Autobahn waits by TimeScale.
func (t *Target) d(x time.Duration) time.Duration {
	if t.TimeScale <= 0 || t.TimeScale == 1 {
		return x
	}
	return time.Duration(float64(x) * t.TimeScale)
}

// seconds is a shorthand for the Autobahn waits given in seconds.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// handshakeTimeout is Autobahn's openHandshakeTimeout.
const handshakeTimeout = 5 * time.Second

// open connects to the server and performs the opening handshake, offering
// permessage-deflate with the given offers (none: no extension offered).
// The returned session is open; the case script runs on it.
func (t *Target) open(ctx context.Context, offers ...DeflateOffer) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, t.d(handshakeTimeout))
	defer cancel()
	var dialer net.Dialer
	raw, err := dialer.DialContext(dctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	deadline, _ := dctx.Deadline()
	_ = raw.SetDeadline(deadline)
	conn := raw
	if t.secure {
		tc := tls.Client(raw, t.tlsConfig())
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	pmd, err := t.handshake(conn, br, offers)
	if err != nil {
		raw.Close()
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	return newSession(ctx, t, conn, raw, br, pmd), nil
}

func (t *Target) handshake(conn net.Conn, br *bufio.Reader, offers []DeflateOffer) (*deflater, error) {
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])

	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", t.path)
	fmt.Fprintf(&b, "Host: %s\r\n", t.host)
	b.WriteString("User-Agent: wsconform\r\n")
	b.WriteString("Upgrade: websocket\r\n")
	b.WriteString("Connection: Upgrade\r\n")
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\n", key)
	b.WriteString("Sec-WebSocket-Version: 13\r\n")
	if len(offers) > 0 {
		s := make([]string, len(offers))
		for i, o := range offers {
			s[i] = o.String()
		}
		fmt.Fprintf(&b, "Sec-WebSocket-Extensions: %s\r\n", strings.Join(s, ", "))
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return nil, fmt.Errorf("send upgrade request: %w", err)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+t.host+t.path, nil) // the scheme does not matter to ReadResponse
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("read upgrade response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("upgrade refused: HTTP %s", resp.Status)
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return nil, errors.New("upgrade response lacks Upgrade: websocket")
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return nil, errors.New("upgrade response lacks Connection: Upgrade")
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key); got != want {
		return nil, fmt.Errorf("Sec-WebSocket-Accept is %q, want %q", got, want)
	}

	exts := resp.Header.Values("Sec-WebSocket-Extensions")
	if len(exts) == 0 {
		return nil, nil
	}
	if len(exts) > 1 {
		return nil, errors.New("Sec-WebSocket-Extensions appears more than once in the upgrade response")
	}
	list, err := parseExtensions(exts[0])
	if err != nil {
		return nil, err
	}
	var pmd *deflater
	for _, e := range list {
		if e.name != "permessage-deflate" || len(offers) == 0 {
			return nil, fmt.Errorf("server wants to use extension %q we did not request", e.name)
		}
		if pmd != nil {
			return nil, errors.New("permessage-deflate accepted more than once")
		}
		p, err := parseDeflateResponse(e.params)
		if err != nil {
			return nil, fmt.Errorf("permessage-deflate response: %v", err)
		}
		pmd = &deflater{params: p}
	}
	return pmd, nil
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, s := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(s), token) {
				return true
			}
		}
	}
	return false
}
