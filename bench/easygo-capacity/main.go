// Command easygo-capacity measures how many idle WebSocket clients a server
// can hold under the open-file limit when it registers connections with
// github.com/mailru/easygo's netpoll, which dups every connection's
// descriptor (netpoll.HandleRead calls conn.File()), against wsloop's
// server.Server, which keeps one descriptor per client.
//
//	cd bench && go run ./easygo-capacity            # both, writes results/easygo.md
//	go run ./easygo-capacity -kinds easygo -out ''   # one, print only
//
// Each server runs in a subprocess of its own (so each gets the whole
// open-file limit) and accepts clients from client subprocesses that open
// connections over 127.0.0.2..127.0.0.9 and upgrade them, until the server
// stops answering. The easygo server is the one of mail.ru's "million
// WebSockets" article: gobwas ws.Upgrade, then netpoll.HandleRead and
// poller.Start. The server subprocess also checks what conn.File() and
// easygo do to O_NONBLOCK on the original socket (fcntl F_GETFL).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/mailru/easygo/netpoll"
	"github.com/wsloop/wsloop/server"
	"golang.org/x/sys/unix"
)

const upgradeRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

func main() {
	serve := flag.String("serve", "", "internal: run the server of this kind (easygo or wsloop)")
	client := flag.String("client", "", "internal: run a client process against this address")
	n := flag.Int("n", 12000, "connections each client process tries to open")
	procs := flag.Int("procs", 2, "client processes (each is limited by the open-file limit too)")
	base := flag.Int("base", 0, "internal: index of the client process")
	kinds := flag.String("kinds", "easygo,wsloop", "servers to measure")
	out := flag.String("out", "results/easygo.md", "markdown file to write ('' = none)")
	flag.Parse()
	switch {
	case *client != "":
		os.Exit(clientMain(*client, *n, *base))
	case *serve != "":
		os.Exit(serverMain(*serve, *n, *procs))
	}
	var results []result
	for _, k := range strings.Split(*kinds, ",") {
		r, err := runServer(k, *n, *procs)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", k, err)
			os.Exit(1)
		}
		fmt.Printf("%-7s held %d clients (limit %d descriptors, %d attempted), %d descriptors open at the peak; first failure: %s\n",
			r.Kind, r.Held, r.Limit, r.Attempted, r.OpenFDs, r.FirstFailure)
		results = append(results, r)
	}
	if len(results) > 0 && results[0].Nonblock != nil {
		for _, s := range results[0].Nonblock {
			fmt.Printf("O_NONBLOCK on the original socket %s: %v\n", s.Stage, s.Nonblocking)
		}
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(markdown(results, *n, *procs)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("wrote", *out)
	}
}

type stage struct {
	Stage       string `json:"stage"`
	Nonblocking bool   `json:"nonblocking"`
}

type result struct {
	Kind         string  `json:"kind"`
	Limit        uint64  `json:"limit"`
	Held         int     `json:"held"`
	Attempted    int     `json:"attempted"`
	ClientsOK    int     `json:"clients_ok"`
	OpenFDs      int     `json:"open_fds"`
	AcceptErrors int64   `json:"accept_errors"`
	FileErrors   int64   `json:"file_errors"`
	FirstFailure string  `json:"first_failure"`
	Nonblock     []stage `json:"nonblock,omitempty"`
	Seconds      float64 `json:"seconds"`
}

func runServer(kind string, n, procs int) (result, error) {
	cmd := exec.Command(os.Args[0], "-serve", kind, "-n", strconv.Itoa(n), "-procs", strconv.Itoa(procs))
	cmd.Stderr = os.Stderr
	outb, err := cmd.Output()
	if err != nil {
		return result{}, err
	}
	var r result
	err = json.Unmarshal(outb, &r)
	return r, err
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func nonblocking(fd uintptr) bool {
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	return err == nil && fl&unix.O_NONBLOCK != 0
}

func connNonblocking(c net.Conn) bool {
	raw, _ := c.(syscall.Conn).SyscallConn()
	var nb bool
	raw.Control(func(fd uintptr) { nb = nonblocking(fd) })
	return nb
}

// probeNonblock checks O_NONBLOCK on a connection's own descriptor before
// and after conn.File(), os.File.Fd() (which easygo's Desc calls), and
// easygo's HandleRead and poller.Start.
func probeNonblock(ln net.Listener, poller netpoll.Poller) []stage {
	var st []stage
	probe := func() (net.Conn, net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		s, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		return c, s
	}
	c1, s1 := probe()
	st = append(st, stage{"before File()", connNonblocking(s1)})
	f, err := s1.(*net.TCPConn).File()
	if err != nil {
		panic(err)
	}
	st = append(st, stage{"after conn.File()", connNonblocking(s1)})
	f.Fd()
	st = append(st, stage{"after (*os.File).Fd() on the dup", connNonblocking(s1)})
	f.Close()
	c1.Close()
	s1.Close()

	c2, s2 := probe()
	desc, err := netpoll.HandleRead(s2)
	if err != nil {
		panic(err)
	}
	st = append(st, stage{"after netpoll.HandleRead(conn)", connNonblocking(s2)})
	poller.Start(desc, func(netpoll.Event) {})
	st = append(st, stage{"after poller.Start(desc)", connNonblocking(s2)})
	poller.Stop(desc)
	desc.Close()
	c2.Close()
	s2.Close()
	return st
}

// countingWriter counts log lines that mention accept failures.
type countingWriter struct{ n *atomic.Int64 }

func (w countingWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "accept failed") {
		w.n.Add(1)
	}
	return len(p), nil
}

func serverMain(kind string, n, procs int) int {
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r := result{Kind: kind, Limit: lim.Cur}
	var held func() int
	var firstMu sync.Mutex
	first := func(s string) {
		firstMu.Lock()
		if r.FirstFailure == "" {
			r.FirstFailure = s
		}
		firstMu.Unlock()
	}
	var acceptErrs, fileErrs atomic.Int64
	switch kind {
	case "easygo":
		poller, err := netpoll.New(nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		r.Nonblock = probeNonblock(ln, poller)
		var mu sync.Mutex
		var keep []any // conns and descs: an unreachable os.File closes its descriptor
		var count atomic.Int64
		held = func() int { return int(count.Load()) }
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					acceptErrs.Add(1)
					first("accept: " + err.Error())
					time.Sleep(10 * time.Millisecond)
					continue
				}
				go func() {
					if _, err := ws.Upgrade(nc); err != nil {
						nc.Close()
						return
					}
					desc, err := netpoll.HandleRead(nc)
					if err != nil {
						fileErrs.Add(1)
						first("netpoll.HandleRead (conn.File): " + err.Error())
						nc.Close()
						return
					}
					if err := poller.Start(desc, func(netpoll.Event) {}); err != nil {
						first("poller.Start: " + err.Error())
						desc.Close()
						nc.Close()
						return
					}
					mu.Lock()
					keep = append(keep, nc, desc)
					mu.Unlock()
					count.Add(1)
				}()
			}
		}()
	case "wsloop":
		logw := countingWriter{&acceptErrs}
		srv := &server.Server{Logger: slog.New(slog.NewTextHandler(io.MultiWriter(logw, firstLine{first}), nil))}
		go srv.Serve(ln)
		held = srv.Len
	default:
		fmt.Fprintln(os.Stderr, "unknown kind", kind)
		return 2
	}

	t0 := time.Now()
	var clients []*exec.Cmd
	var stdins []io.Closer
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-client", ln.Addr().String(), "-n", strconv.Itoa(n), "-base", strconv.Itoa(i))
		in, _ := cmd.StdinPipe()
		outp, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		clients = append(clients, cmd)
		stdins = append(stdins, in)
		wg.Go(func() {
			line, _ := bufio.NewReader(outp).ReadString('\n')
			var ok, tried int
			fmt.Sscanf(line, "done %d %d", &ok, &tried)
			mu.Lock()
			r.ClientsOK += ok
			r.Attempted += tried
			mu.Unlock()
		})
	}
	wg.Wait()
	time.Sleep(time.Second)
	r.Held = held()
	ln.Close() // frees a descriptor, so that /proc/self/fd can be read
	time.Sleep(100 * time.Millisecond)
	r.OpenFDs = openFDs()
	r.AcceptErrors = acceptErrs.Load()
	r.FileErrors = fileErrs.Load()
	r.Seconds = time.Since(t0).Seconds()
	for i, c := range clients {
		stdins[i].Close()
		c.Wait()
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// firstLine reports the first error line of wsloop's log.
type firstLine struct{ f func(string) }

func (w firstLine) Write(p []byte) (int, error) {
	line := string(p)
	if !strings.Contains(line, "level=ERROR") {
		return len(p), nil
	}
	if _, e, ok := strings.Cut(line, ` err="`); ok {
		e, _, _ = strings.Cut(e, `"`)
		line = e
	}
	w.f("wsloop: " + strings.TrimSpace(line))
	return len(p), nil
}

// clientMain opens up to n upgraded connections, 32 at a time, until it
// has them all or 64 in a row failed, prints "done OK TRIED" and holds them
// until standard input closes.
func clientMain(addr string, n, base int) int {
	var conns []net.Conn
	var mu sync.Mutex
	var next, tried, ok atomic.Int64
	var failRun atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for failRun.Load() < 64 {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				tried.Add(1)
				laddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+(int(i)+base)%8))}
				c, err := dial(addr, laddr)
				if err != nil {
					failRun.Add(1)
					continue
				}
				failRun.Store(0)
				ok.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Printf("done %d %d\n", ok.Load(), tried.Load())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

func dial(addr string, laddr net.Addr) (net.Conn, error) {
	d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: laddr, KeepAlive: -1}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest); err != nil {
		c.Close()
		return nil, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("no 101: %q %v", line, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func markdown(rs []result, n, procs int) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# easygo netpoll vs. wsloop: clients held under the open-file limit\n\n")
	w("- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	if v, err := exec.Command("git", "-C", "..", "log", "-1", "--format=%h %cI").Output(); err == nil {
		w("- wsloop under test: %s\n", strings.TrimSpace(string(v)))
	}
	w("- command: `cd bench && go run ./easygo-capacity` (easygo `github.com/mailru/easygo v0.0.0-20190618140210-3c14a0dc985f`)\n")
	w("- each server runs in its own process with the open-file limit raised to the hard limit; %d client processes try %d upgraded connections each over 127.0.0.2..9 and stop after 64 failures in a row\n\n", procs, n)
	w("| server | descriptors per client | open-file limit | clients held | descriptors open at the end (listener closed) | accept failures (EMFILE) | conn.File() failures | first failure |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		per := "1 (dup, then the net.Conn is closed)"
		if r.Kind == "easygo" {
			per = "2 (the net.Conn's and the dup from conn.File())"
		}
		w("| %s | %s | %d | **%d** | %d | %d | %d | %s |\n", r.Kind, per, r.Limit, r.Held, r.OpenFDs, r.AcceptErrors, r.FileErrors, strings.ReplaceAll(r.FirstFailure, "|", "/"))
	}
	for _, r := range rs {
		if len(r.Nonblock) == 0 {
			continue
		}
		w("\n## O_NONBLOCK on the original socket (fcntl F_GETFL on the net.Conn's own descriptor)\n\n")
		w("| after | O_NONBLOCK set |\n|---|---|\n")
		for _, s := range r.Nonblock {
			w("| %s | %v |\n", s.Stage, s.Nonblocking)
		}
		w("\nThe dup from conn.File() shares the open file description with the net.Conn's descriptor, so a flag change on one shows on the other.\n")
	}
	return b.String()
}
