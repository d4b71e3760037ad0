package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// target is the server being tested.
type target struct {
	url        string
	tls        bool   // wss://
	hostname   string // the URL's host without port: the TLS server name
	host       string // Host header value: host[:port] as in the URL
	requestURI string // path?query
	addr       string // ip:port that is dialed
	ip         net.IP
	loopback   bool
}

// parseTargetURL checks the URL's syntax without resolving it.
func parseTargetURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad -url %q: %v", raw, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss":
	default:
		return nil, fmt.Errorf("bad -url %q: want a ws://host:port/path or wss://host:port/path URL", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("bad -url %q: no host", raw)
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad -url %q: bad port %q", raw, p)
		}
	}
	if u.User != nil {
		return nil, fmt.Errorf("bad -url %q: user info in the URL is not supported (use -header)", raw)
	}
	return u, nil
}

// resolveTargets resolves every URL of the list.
func resolveTargets(ctx context.Context, urls []string) ([]*target, error) {
	var ts []*target
	for _, u := range urls {
		t, err := resolveTarget(ctx, u)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// resolveTarget parses the URL and resolves its host once, preferring IPv4,
// so that the load is not slowed down by name lookups.
func resolveTarget(ctx context.Context, raw string) (*target, error) {
	u, err := parseTargetURL(raw)
	if err != nil {
		return nil, err
	}
	secure := strings.EqualFold(u.Scheme, "wss")
	port := u.Port()
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(lctx, u.Hostname())
		if err != nil {
			return nil, fmt.Errorf("resolving %q: %w", u.Hostname(), err)
		}
		for _, a := range addrs {
			if a.IP.To4() != nil {
				ip = a.IP
				break
			}
		}
		if ip == nil && len(addrs) > 0 {
			ip = addrs[0].IP
		}
		if ip == nil {
			return nil, fmt.Errorf("resolving %q: no addresses", u.Hostname())
		}
	}
	uri := u.RequestURI()
	if uri == "" {
		uri = "/"
	}
	return &target{
		url:        raw,
		tls:        secure,
		hostname:   u.Hostname(),
		host:       u.Host,
		requestURI: uri,
		addr:       net.JoinHostPort(ip.String(), port),
		ip:         ip,
		loopback:   ip.IsLoopback(),
	}, nil
}

// newDialers returns one dialer per source address (one default dialer when
// there are none). Keep-alives are off: the load generator should not add
// timers for tens of thousands of idle sockets.
func newDialers(ips []net.IP, timeout time.Duration) []*net.Dialer {
	if len(ips) == 0 {
		return []*net.Dialer{{Timeout: timeout, KeepAlive: -1}}
	}
	ds := make([]*net.Dialer, len(ips))
	for i, ip := range ips {
		ds[i] = &net.Dialer{Timeout: timeout, KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: ip}, Control: bindControl}
	}
	return ds
}
