// Package srvutil is what every benchmark server main shares: the common
// flags (-addr, -mode, -deflate, -tls-cert, -tls-key, -stats-addr,
// -cpuprofile), the room a request path names, a set of clients per room, a
// tiny HTTP endpoint with goroutine, connection and heap numbers, a CPU
// profile that is written when the server is stopped, and the signal
// handling that stops it.
package srvutil

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
)

// Modes the servers implement.
const (
	// Echo sends every message back to its sender only.
	Echo = "echo"
	// Broadcast sends every message unchanged to the sender's room, the
	// sender included: to every client when the sender connected to "/",
	// to the members of room NAME when it connected to "/room/NAME" (see
	// RoomOf).
	Broadcast = "broadcast"
)

// Options are the flags every benchmark server takes.
type Options struct {
	Name       string
	Addr       string
	Mode       string
	StatsAddr  string
	CPUProfile string
	// Deflate turns on permessage-deflate for clients that offer it.
	Deflate bool
	// TLSCert and TLSKey are PEM files; when set the server serves TLS.
	TLSCert, TLSKey string
}

// TLS reports whether the server is to serve TLS.
func (o *Options) TLS() bool { return o.TLSCert != "" }

// Conns counts the connections that completed the WebSocket handshake and
// have not ended; each server keeps it up to date for /stats.
var Conns atomic.Int64

// Parse parses the command line of the server called name.
func Parse(name string) *Options {
	o := &Options{Name: name}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:9001", "listen address host:port")
	fs.StringVar(&o.Mode, "mode", Echo, "echo (each message back to its sender) or broadcast (every message to every client)")
	fs.StringVar(&o.StatsAddr, "stats-addr", "", "if set, serve GET /stats (JSON: goroutines, conns, heap) on this host:port")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (written on SIGINT/SIGTERM)")
	fs.BoolVar(&o.Deflate, "deflate", false, "negotiate permessage-deflate (no context takeover) with clients that offer it")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "serve TLS with this PEM certificate (needs -tls-key)")
	fs.StringVar(&o.TLSKey, "tls-key", "", "PEM private key of -tls-cert")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		Usagef("%s: unexpected argument %q", name, fs.Arg(0))
	}
	if o.Mode != Echo && o.Mode != Broadcast {
		Usagef("%s: -mode %q: want echo or broadcast", name, o.Mode)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		Usagef("%s: -tls-cert and -tls-key go together", name)
	}
	return o
}

// Usagef reports a bad command line and exits with status 2.
func Usagef(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

// TLSConfig loads -tls-cert and -tls-key into a crypto/tls configuration;
// a certificate that cannot be loaded is fatal. The key exchange is pinned
// to X25519: Go's default puts the hybrid X25519MLKEM768 first, which
// nbio's TLS stack (a fork of an older crypto/tls) does not have, and a
// handshake comparison should compare servers, not key exchanges.
func (o *Options) TLSConfig() *tls.Config {
	cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
	if err != nil {
		Fatalf("%s: %v", o.Name, err)
	}
	return &tls.Config{
		Certificates:     []tls.Certificate{cert},
		CurvePreferences: []tls.CurveID{tls.X25519},
	}
}

// Fatalf prints a message to stderr and exits with status 1.
func Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// Stats is what GET /stats returns.
type Stats struct {
	Server       string `json:"server"`
	Mode         string `json:"mode"`
	Goroutines   int    `json:"goroutines"`
	Conns        int64  `json:"conns"`
	HeapAlloc    uint64 `json:"heap_alloc"`
	HeapInuse    uint64 `json:"heap_inuse"`
	HeapSys      uint64 `json:"heap_sys"`
	StackInuse   uint64 `json:"stack_inuse"`
	Sys          uint64 `json:"sys"`
	NumGC        uint32 `json:"num_gc"`
	PauseTotalNs uint64 `json:"pause_total_ns"`
	GOMAXPROCS   int    `json:"gomaxprocs"`
}

// ReadStats collects the numbers /stats serves.
func ReadStats(o *Options) Stats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Stats{
		Server:       o.Name,
		Mode:         o.Mode,
		Goroutines:   runtime.NumGoroutine(),
		Conns:        Conns.Load(),
		HeapAlloc:    ms.HeapAlloc,
		HeapInuse:    ms.HeapInuse,
		HeapSys:      ms.HeapSys,
		StackInuse:   ms.StackInuse,
		Sys:          ms.Sys,
		NumGC:        ms.NumGC,
		PauseTotalNs: ms.PauseTotalNs,
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
	}
}

// Run starts the stats endpoint and the CPU profile, runs serve (which
// should block serving o.Addr) on its own goroutine and returns when a
// SIGINT or SIGTERM arrives or serve fails; the profile is then complete.
// The process exits with status 1 if serve failed.
func Run(o *Options, serve func() error) {
	if o.StatsAddr != "" {
		ln, err := net.Listen("tcp", o.StatsAddr)
		if err != nil {
			Fatalf("%s: stats listener: %v", o.Name, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(ReadStats(o))
		})
		go http.Serve(ln, mux)
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			Fatalf("%s: %v", o.Name, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			Fatalf("%s: %v", o.Name, err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	failed := make(chan error, 1)
	go func() { failed <- serve() }()
	select {
	case <-sig:
	case err := <-failed:
		pprof.StopCPUProfile()
		Fatalf("%s: %v", o.Name, err)
	}
}
