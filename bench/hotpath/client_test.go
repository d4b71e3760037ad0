package hotpath

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const upgradeRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

// dialWS opens a TCP connection from laddr (nil: any) and upgrades it. The
// returned reader holds whatever followed the 101 response.
func dialWS(addr string, laddr net.Addr) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: laddr, KeepAlive: -1}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, upgradeRequest); err != nil {
		nc.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, 512)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		nc.Close()
		return nil, nil, fmt.Errorf("upgrade: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	nc.SetDeadline(time.Time{})
	return nc, br, nil
}

// srcAddr spreads clients over 127.0.0.2, 127.0.0.3, ... (8 addresses), so
// that no source address runs short of ephemeral ports.
func srcAddr(i int) net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}
}

// dialMany opens n upgraded connections, 64 dials at a time.
func dialMany(addr string, n int) ([]net.Conn, []*bufio.Reader, error) {
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	var next int
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range min(64, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := firstErr != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				c, br, err := dialWS(addr, srcAddr(i))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("client %d: %w", i, err)
				}
				conns[i], readers[i] = c, br
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, nil, firstErr
	}
	return conns, readers, nil
}

// Idle clients in a subprocess: the test binary re-executed with
// HOTPATH_IDLE_CLIENTS=addr,n holds n upgraded connections open, prints
// "ready" and waits until its standard input closes.
const idleEnv = "HOTPATH_IDLE_CLIENTS"

func TestMain(m *testing.M) {
	if v := os.Getenv(idleEnv); v != "" {
		os.Exit(idleClientMain(v))
	}
	os.Exit(m.Run())
}

func idleClientMain(v string) int {
	addr, ns, _ := strings.Cut(v, ",")
	n, _ := strconv.Atoi(ns)
	conns, _, err := dialMany(addr, n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle clients:", err)
		return 1
	}
	fmt.Printf("ready %d\n", len(conns))
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// idleClients starts a subprocess holding n idle WebSocket clients of addr;
// stop ends it.
func idleClients(tb testing.TB, addr string, n int) (stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), idleEnv+"="+addr+","+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatalf("idle client process: %q %v", line, err)
	}
	return func() {
		stdin.Close()
		cmd.Wait()
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}
