// Command wsserver is the wsloop demo: a WebSocket chat server with its
// browser page on the same port, like python-websocket-server's server.py
// and client.html together.
//
//	go run ./cmd/wsserver
//
// then open http://127.0.0.1:9001/ in two browser tabs. Other modes turn it
// into the echo or broadcast server that conformance suites and benchmarks
// expect:
//
//	wsserver [-addr host:port] [-mode chat|echo|broadcast] [-compress] [-log-level debug|info|warn|error]
//	         [-drain 10s] [-drain-delay 0s] [-reuseport] [-nats URL] [-nats-subject-prefix wsloop]
//	         [-proxy-protocol] [-trusted-proxies CIDR[,CIDR...]] [-tls-cert FILE -tls-key FILE]
//
// With -tls-cert and -tls-key it serves TLS on the same port: the page at
// https://ADDR/, the WebSocket at wss://ADDR/. A certificate that cannot
// be loaded is an error at start (exit 2), never a fall-back to plaintext.
//
// The request path names the room: / is the common room (everyone),
// /room/NAME the room NAME. In chat and broadcast modes a message goes to
// the sender's room; with -nats, to the room's clients on every instance
// connected to the same NATS.
//
// /healthz answers 200 while the process runs; /readyz answers 200 while
// the server takes new clients and 503 while it drains or shuts down.
// /metrics serves the server's metrics to Prometheus (see package wsprom).
//
// SIGTERM drains: /readyz turns 503 and new clients are refused with 503
// at once, then after -drain-delay the clients are closed with 1012
// (Service Restart) spread over the -drain window, so that they reconnect
// to other instances gradually; the process exits 0 when the last is
// gone, or when the window plus the close timeout is over. SIGINT shuts
// down at once, gracefully: every client gets its queued messages and a
// close frame with code 1001.
//
// Bad flags, and a NATS server that cannot be reached at start, exit 2.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsloop/wsloop/natsbroker"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsprom"
)

//go:embed client.html
var clientHTML []byte

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// config is what the flags say.
type config struct {
	addr           string
	mode           string
	compress       bool
	level          slog.Level
	drain          time.Duration
	drainDelay     time.Duration
	reusePort      bool
	natsURL        string
	natsPrefix     string
	proxyProtocol  bool
	trustedProxies []netip.Prefix
	tlsCert        string
	tlsKey         string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("wsserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", server.DefaultAddr, "listen address `host:port` (an empty host means 127.0.0.1; use 0.0.0.0 for every interface)")
	fs.StringVar(&cfg.mode, "mode", "chat", "`mode`: chat (announce joins and leaves, relay every message to the sender's room), echo (each message back to its sender), broadcast (every message to the sender's room)")
	fs.BoolVar(&cfg.compress, "compress", false, "accept permessage-deflate compression from clients that offer it")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "serve TLS (https:// and wss://) with the PEM certificate (chain) in this `file`; needs -tls-key")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "the PEM private key of -tls-cert, in this `file`")
	fs.DurationVar(&cfg.drain, "drain", 10*time.Second, "on SIGTERM, close the clients spread over this `window` (with 1012) before exiting")
	fs.DurationVar(&cfg.drainDelay, "drain-delay", 0, "on SIGTERM, report not ready for this `long` before closing the first client: time for a load balancer's health checks to notice")
	fs.BoolVar(&cfg.reusePort, "reuseport", false, "listen with SO_REUSEPORT, so that several processes share the port (rolling restarts: start the new one, SIGTERM the old)")
	fs.StringVar(&cfg.natsURL, "nats", "", "fan broadcasts and room messages out to every instance through the NATS server(s) at `URL` (nats://host:4222, comma-separated for several)")
	fs.StringVar(&cfg.natsPrefix, "nats-subject-prefix", natsbroker.DefaultSubjectPrefix, "NATS subject `prefix`; instances of one service share it, different services need different ones")
	fs.BoolVar(&cfg.proxyProtocol, "proxy-protocol", false, "expect a PROXY protocol v1/v2 header on every connection (HAProxy send-proxy, AWS NLB) and take the client's address from it; connections without one are closed")
	proxies := fs.String("trusted-proxies", "", "`CIDR[,CIDR...]` of the proxies in front: only they may send PROXY headers (all, if empty), and only their X-Forwarded-For/Forwarded headers are believed (none, if empty)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wsserver [flags]\n\nA WebSocket server with a browser chat page at http://ADDR/; / is the common room, /room/NAME another.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch cfg.mode {
	case "chat", "echo", "broadcast":
	default:
		return cfg, fmt.Errorf("-mode %q: want chat, echo or broadcast", cfg.mode)
	}
	if err := cfg.level.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level %q: want debug, info, warn or error", *level)
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return cfg, fmt.Errorf("-addr %q: want host:port", cfg.addr)
	}
	if cfg.drain < 0 {
		return cfg, fmt.Errorf("-drain %v: must not be negative", cfg.drain)
	}
	if cfg.drainDelay < 0 {
		return cfg, fmt.Errorf("-drain-delay %v: must not be negative", cfg.drainDelay)
	}
	if cfg.natsPrefix == "" {
		return cfg, errors.New("-nats-subject-prefix: must not be empty")
	}
	var err error
	if cfg.trustedProxies, err = parsePrefixes(*proxies); err != nil {
		return cfg, fmt.Errorf("-trusted-proxies: %v", err)
	}
	return cfg, nil
}

// parsePrefixes parses a comma-separated list of CIDRs; a bare address is
// a network of one.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(item); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		return nil, fmt.Errorf("%q is not a CIDR (like 10.0.0.0/8 or fd00::/8) or an address", item)
	}
	return out, nil
}

func run(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsserver: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.level}))
	srv := newServer(cfg.mode, log)
	srv.Compression = cfg.compress
	if srv.TLSConfig, err = loadTLS(cfg.tlsCert, cfg.tlsKey); err != nil {
		fmt.Fprintf(stderr, "wsserver: %v\n", err)
		return 2
	}
	srv.DrainDelay = cfg.drainDelay
	srv.ProxyProtocol = cfg.proxyProtocol
	srv.TrustedProxies = cfg.trustedProxies

	addr, err := resolveAddr(cfg.addr)
	if err != nil {
		fmt.Fprintf(stderr, "wsserver: %v\n", err)
		return 2
	}
	if cfg.natsURL != "" {
		b, err := natsbroker.Connect(cfg.natsURL, natsbroker.Config{SubjectPrefix: cfg.natsPrefix, Logger: log})
		if err != nil {
			fmt.Fprintf(stderr, "wsserver: -nats %s: %v\n", cfg.natsURL, err)
			return 2
		}
		srv.Broker = b // the server closes it when it stops
	}
	var ln net.Listener
	if cfg.reusePort {
		ln, err = server.ListenReusePort(addr)
		if err == nil && !reusePortMigrates() {
			log.Warn("net.ipv4.tcp_migrate_req is 0: connections waiting to be accepted when this process drains will be reset; set it to 1 for rolling restarts that lose none")
		}
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsserver: %v\n", err)
		if srv.Broker != nil {
			srv.Broker.Close()
		}
		return 1
	}
	log.Info("listening", "url", scheme(srv)+"://"+ln.Addr().String()+"/", "mode", cfg.mode,
		"reuseport", cfg.reusePort, "nats", cfg.natsURL != "", "proxy_protocol", cfg.proxyProtocol)

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	served := make(chan error, 1)
	go func() { served <- serve(srv, ln) }()
	var sig os.Signal
	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return 1
	case sig = <-signals:
	}
	if sig == syscall.SIGTERM {
		log.Info("SIGTERM: draining", "clients", srv.Len(), "window", cfg.drain, "delay", cfg.drainDelay)
		ctx, cancel := context.WithCancel(context.Background())
		drained := make(chan error, 1)
		go func() { drained <- srv.Drain(ctx, cfg.drain) }()
		select {
		case err := <-drained:
			if err != nil {
				log.Warn("drain ended with clients left", "err", err)
			}
		case <-signals: // a second signal: stop now
			cancel()
			<-drained
		}
		cancel()
	}
	log.Info("shutting down", "clients", srv.Len())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		log.Error("server stopped", "err", err)
	}
	return 0
}

// reusePortMigrates reports whether Linux moves connections queued on a
// closed SO_REUSEPORT listener to the others on its port
// (net.ipv4.tcp_migrate_req); true where the setting does not exist.
func reusePortMigrates() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	return err != nil || strings.TrimSpace(string(b)) != "0"
}

// resolveAddr gives an empty host the reference's default, 127.0.0.1.
func resolveAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// roomOf returns the room a (decoded) request path names: "" for / (the
// common room), NAME for /room/NAME; ok is false for any other path.
func roomOf(path string) (room string, ok bool) {
	if path == "/" {
		return "", true
	}
	name, found := strings.CutPrefix(path, "/room/")
	return name, found && name != "" && !strings.Contains(name, "/")
}

// rooms remembers the room of each client outside the common one.
type rooms struct {
	m sync.Map // *server.Client → string
}

func (r *rooms) of(c *server.Client) string {
	if v, ok := r.m.Load(c); ok {
		return v.(string)
	}
	return ""
}

// newServer builds the server for a mode.
func newServer(mode string, log *slog.Logger) *server.Server {
	srv := &server.Server{Logger: log}
	srv.Handler = pageHandler(srv)
	var r rooms
	// sendText and sendBinary go to everyone in room: every client for
	// the common room, the room's members otherwise; on every instance.
	sendText := func(room, msg string) {
		if room == "" {
			srv.BroadcastText(msg)
		} else {
			srv.PublishText(room, msg)
		}
	}
	sendBinary := func(room string, data []byte) {
		if room == "" {
			srv.BroadcastBinary(data)
		} else {
			srv.PublishBinary(room, data)
		}
	}
	srv.Authenticate = func(req *server.Request) error {
		if _, ok := roomOf(req.Path); !ok {
			return server.Reject(http.StatusNotFound, "no such path: use / (the common room) or /room/NAME")
		}
		return nil
	}
	srv.OnNewClient = func(c *server.Client) {
		room, _ := roomOf(c.Request().Path)
		if room != "" {
			if err := c.Join(room); err != nil {
				return // closing already
			}
			r.m.Store(c, room)
		}
		log.Info("client joined", "id", c.ID(), "remote", c.RemoteAddr(), "room", room)
		if mode == "chat" {
			sendText(room, fmt.Sprintf("client %d has joined", c.ID()))
		}
	}
	srv.OnClientLeft = func(c *server.Client, err error) {
		room := r.of(c)
		r.m.Delete(c)
		log.Info("client left", "id", c.ID(), "reason", err)
		if mode == "chat" {
			sendText(room, fmt.Sprintf("client %d has left", c.ID()))
		}
	}
	switch mode {
	case "chat":
		srv.OnMessage = func(c *server.Client, m server.Message) {
			if m.Op == server.Text {
				sendText(r.of(c), fmt.Sprintf("client %d said: %s", c.ID(), m.Data))
			} else {
				sendBinary(r.of(c), m.Data)
			}
		}
	case "echo":
		srv.OnMessage = func(c *server.Client, m server.Message) {
			if m.Op == server.Text {
				c.SendText(string(m.Data))
			} else {
				c.SendBinary(m.Data)
			}
		}
	case "broadcast":
		srv.OnMessage = func(c *server.Client, m server.Message) {
			if m.Op == server.Text {
				sendText(r.of(c), string(m.Data))
			} else {
				sendBinary(r.of(c), m.Data)
			}
		}
	}
	return srv
}

// pageHandler serves the chat page at / and /room/NAME, a liveness check
// at /healthz, a readiness check at /readyz and the metrics at /metrics.
func pageHandler(srv *server.Server) http.Handler {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(clientHTML)
	}
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /room/{name}", page)
	mux.Handle("GET /metrics", wsprom.Handler(srv))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !srv.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
	return mux
}
