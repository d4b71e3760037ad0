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
//
// SIGINT or SIGTERM shuts the server down gracefully: every client gets its
// queued messages and a close frame with code 1001.
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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wsloop/wsloop/server"
)

//go:embed client.html
var clientHTML []byte

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// config is what the flags say.
type config struct {
	addr     string
	mode     string
	compress bool
	level    slog.Level
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("wsserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", server.DefaultAddr, "listen address `host:port` (an empty host means 127.0.0.1; use 0.0.0.0 for every interface)")
	fs.StringVar(&cfg.mode, "mode", "chat", "`mode`: chat (announce joins and leaves, relay every message to all), echo (each message back to its sender), broadcast (every message to all)")
	fs.BoolVar(&cfg.compress, "compress", false, "accept permessage-deflate compression from clients that offer it")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wsserver [flags]\n\nA WebSocket server with a browser chat page at http://ADDR/.\n\n")
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
	return cfg, nil
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

	addr, err := resolveAddr(cfg.addr)
	if err != nil {
		fmt.Fprintf(stderr, "wsserver: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "wsserver: %v\n", err)
		return 1
	}
	log.Info("listening", "url", "http://"+ln.Addr().String()+"/", "mode", cfg.mode)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down", "clients", srv.Len())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	<-served
	return 0
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

// newServer builds the server for a mode.
func newServer(mode string, log *slog.Logger) *server.Server {
	srv := &server.Server{Logger: log, Handler: pageHandler()}
	switch mode {
	case "chat":
		srv.OnNewClient = func(c *server.Client) {
			log.Info("client joined", "id", c.ID(), "remote", c.RemoteAddr())
			srv.BroadcastText(fmt.Sprintf("client %d has joined", c.ID()))
		}
		srv.OnClientLeft = func(c *server.Client, err error) {
			log.Info("client left", "id", c.ID(), "reason", err)
			srv.BroadcastText(fmt.Sprintf("client %d has left", c.ID()))
		}
		srv.OnMessage = func(c *server.Client, m server.Message) {
			if m.Op == server.Text {
				srv.BroadcastText(fmt.Sprintf("client %d said: %s", c.ID(), m.Data))
			} else {
				srv.BroadcastBinary(m.Data)
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
				srv.BroadcastText(string(m.Data))
			} else {
				srv.BroadcastBinary(m.Data)
			}
		}
	}
	return srv
}

// pageHandler serves the chat page at / and a health check at /healthz.
func pageHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(clientHTML)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	return mux
}
