// Command flood is the flat-out broadcast load generator behind README's
// "Fan-out at the floor" table: one epoll loop on one locked OS thread, so
// that it checks deliveries several times faster than wsbench (whose
// goroutine per connection tops out near 4-6M deliveries/s on one core
// here) and the server, not the generator, is what a run measures.
//
// It connects -conns clients to a server that follows bench/'s convention
// (path / is everyone, /room/NAME a room), then for -rounds rounds has the
// publishers send -messages frames each as fast as their sockets take them.
// Every frame carries its publisher and sequence number; every client
// checks each one arrives once and in order per publisher (with
// -compress, every -inflate-every'th client inflates and checks; the others
// count frames). A round reports deliveries, lost, bad (out of order,
// duplicated or corrupt), deliveries/s from the first send to the last
// receipt, the server's CPU per delivery (-pid, from /proc), its own CPU,
// and p50/p99 send to last receipt; the last line is the median of the
// rounds. Linux only.
//
//	taskset -c 0 wsserver -mode broadcast -addr 127.0.0.1:9001 & pid=$!
//	taskset -c 1 go run ./cmd/flood -addr 127.0.0.1:9001 -pid $pid -conns 2000 -messages 1000
//go:build linux

package main

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

var (
	addr      = flag.String("addr", "127.0.0.1:23001", "server")
	nconns    = flag.Int("conns", 2000, "clients")
	pubs      = flag.Int("publishers", 1, "publishers (broadcast mode)")
	msgs      = flag.Int("messages", 1000, "messages per publisher per round")
	size      = flag.Int("size", 64, "payload size")
	compress  = flag.Bool("compress", false, "offer permessage-deflate")
	roomSize  = flag.Int("room", 0, "room size: clients join /room/rN in groups of this size and every member publishes")
	rounds    = flag.Int("rounds", 3, "bursts")
	pid       = flag.Int("pid", 0, "server pid for CPU accounting")
	inflEvery = flag.Int("inflate-every", 50, "with compression, every Nth client inflates and checks order")
	idle      = flag.Bool("idle", false, "idle RSS mode: connect, wait, report RSS per client")
	label     = flag.String("label", "", "label for output")
	timeout   = flag.Duration("timeout", 30*time.Second, "per round")
	srcs      = flag.Int("srcs", 1, "source addresses 127.0.0.2..")
)

type conn struct {
	fd      int
	idx     int
	in      []byte
	exp     []uint32 // next seq per publisher (index pub-base)
	base    int
	want    int
	got     int
	bad     int
	inflate bool
	// publisher
	pubID   int // -1 if not a publisher
	out     []byte
	outOff  int
	marks   []int // frame end offsets in out
	markIdx int
}

var (
	conns    []*conn
	byFD     []*conn
	npub     int
	sendTime []int64 // per (pub, seq)
	lastRecv []int64
	flr      io.ReadCloser
	inflBuf  bytes.Buffer
)

func main() {
	flag.Parse()
	runtime.LockOSThread()
	host, port, _ := net.SplitHostPort(*addr)
	pnum, _ := strconv.Atoi(port)
	ip := net.ParseIP(host).To4()

	rss0 := rss(*pid)
	t0 := time.Now()
	dialAll(ip, pnum)
	fmt.Fprintf(os.Stderr, "%s connected %d in %v\n", *label, len(conns), time.Since(t0).Round(time.Millisecond))
	if *idle {
		time.Sleep(3 * time.Second)
		rss1 := rss(*pid)
		fmt.Printf("%s idle conns=%d rss_before=%d rss_after=%d per_conn=%.0f B\n", *label, len(conns), rss0, rss1, float64(rss1-rss0)/float64(len(conns)))
		return
	}
	ep, _ := unix.EpollCreate1(0)
	for _, c := range conns {
		unix.SetNonblock(c.fd, true)
		unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLET, Fd: int32(c.fd)})
	}
	// publishers
	var publishers []*conn
	if *roomSize > 0 {
		npub = len(conns)
		for _, c := range conns {
			c.pubID = c.idx
			c.base = c.idx / *roomSize * *roomSize
			m := min(*roomSize, len(conns)-c.base)
			c.exp = make([]uint32, m)
			c.want = m * *msgs
			publishers = append(publishers, c)
		}
	} else {
		npub = *pubs
		for _, c := range conns {
			c.pubID = -1
			c.exp = make([]uint32, npub)
			c.want = npub * *msgs
		}
		for i := 0; i < npub; i++ {
			conns[i].pubID = i
			publishers = append(publishers, conns[i])
		}
	}
	if *compress {
		flr = flate.NewReader(bytes.NewReader(nil))
		for i, c := range conns {
			c.inflate = i%*inflEvery == 0
		}
	}
	sendTime = make([]int64, npub**msgs)
	lastRecv = make([]int64, npub**msgs)
	total := 0
	for _, c := range conns {
		total += c.want
	}
	var rates, cpus, p99s, p50s, busys []float64
	events := make([]unix.EpollEvent, 1024)
	buf := make([]byte, 256<<10)
	pad := make([]byte, *size)
	rand.Read(pad)
	for i := range pad {
		pad[i] = 'a' + pad[i]%26
	}
	// drain anything pending
	drain(ep, events, buf)
	for r := 0; r < *rounds; r++ {
		seqBase := 0
		for _, c := range conns {
			clear(c.exp)
			c.got, c.bad = 0, 0
		}
		clear(lastRecv)
		for _, p := range publishers {
			p.out = p.out[:0]
			p.marks = p.marks[:0]
			p.outOff, p.markIdx = 0, 0
			for s := 0; s < *msgs; s++ {
				p.out = appendFrame(p.out, p.pubID, seqBase+s, pad)
				p.marks = append(p.marks, len(p.out))
			}
		}
		cpu0 := cpuNs(*pid)
		self0 := cpuNs(os.Getpid())
		start := nanotime()
		for _, p := range publishers {
			write(p)
		}
		done := 0
		deadline := start + int64(*timeout)
		for done < total {
			n, err := unix.EpollWait(ep, events, 100)
			if err == unix.EINTR {
				continue
			}
			now := nanotime()
			if now > deadline {
				break
			}
			for i := 0; i < n; i++ {
				c := byFD[events[i].Fd]
				if events[i].Events&unix.EPOLLOUT != 0 && c.pubID >= 0 && c.outOff < len(c.out) {
					write(c)
				}
				if events[i].Events&unix.EPOLLIN != 0 {
					done += read(c, buf)
				}
			}
		}
		end := nanotime()
		cpu1 := cpuNs(*pid)
		self1 := cpuNs(os.Getpid())
		var lat []int64
		lost, bad := total-done, 0
		lastAll := int64(0)
		for i, t := range lastRecv {
			if t > 0 {
				lat = append(lat, t-sendTime[i])
				lastAll = max(lastAll, t)
			}
		}
		for _, c := range conns {
			bad += c.bad
		}
		slices.Sort(lat)
		wall := float64(lastAll-start) / 1e9
		if lost > 0 {
			wall = float64(end-start) / 1e9
		}
		rate := float64(done) / wall
		cpuPer := float64(cpu1-cpu0) / float64(done)
		p99 := float64(lat[len(lat)*99/100]) / 1e6
		p50 := float64(lat[len(lat)/2]) / 1e6
		busy := float64(cpu1-cpu0) / 1e9 / wall
		fmt.Printf("%s round %d: deliveries=%d lost=%d bad=%d wall=%.3fs rate=%.2fM/s srvcpu/deliv=%.0fns srvbusy=%.0f%% gen=%.0f%% p50=%.1fms p99=%.1fms\n",
			*label, r, done, lost, bad, wall, rate/1e6, cpuPer, busy*100, float64(self1-self0)/1e9/wall*100, p50, p99)
		rates = append(rates, rate)
		cpus = append(cpus, cpuPer)
		p99s = append(p99s, p99)
		p50s = append(p50s, p50)
		busys = append(busys, busy)
		if lost > 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
		drain(ep, events, buf)
	}
	fmt.Printf("%s MEDIAN rate=%.2fM/s srvcpu/deliv=%.0fns busy=%.0f%% p50=%.1fms p99=%.1fms\n", *label, med(rates)/1e6, med(cpus), med(busys)*100, med(p50s), med(p99s))
}

func med(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func drain(ep int, events []unix.EpollEvent, buf []byte) {
	for {
		n, _ := unix.EpollWait(ep, events, 50)
		if n <= 0 {
			return
		}
		for i := 0; i < n; i++ {
			c := byFD[events[i].Fd]
			for {
				m, err := unix.Read(c.fd, buf)
				if m <= 0 || err != nil {
					break
				}
			}
			c.in = c.in[:0]
		}
	}
}

func write(p *conn) {
	for p.outOff < len(p.out) {
		n, err := unix.Write(p.fd, p.out[p.outOff:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		p.outOff += n
		now := nanotime()
		for p.markIdx < len(p.marks) && p.marks[p.markIdx] <= p.outOff {
			seq := p.markIdx
			sendTime[p.pubID**msgs+seq] = now
			p.markIdx++
		}
	}
}

func appendFrame(b []byte, pub, seq int, pad []byte) []byte {
	n := len(pad)
	op := byte(0x82)
	if *compress {
		op = 0x81
	}
	b = append(b, op)
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 65536:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 0, 0, 0, 0) // zero mask
	start := len(b)
	b = append(b, pad...)
	copy(b[start:], fmt.Sprintf("%06d%08d", pub, seq))
	return b
}

// read returns the number of data messages counted.
func read(c *conn, buf []byte) int {
	cnt := 0
	for {
		n, err := unix.Read(c.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if n <= 0 || err != nil {
			return cnt
		}
		now := nanotime()
		data := buf[:n]
		if len(c.in) > 0 {
			c.in = append(c.in, data...)
			data = c.in
		}
		used := parse(c, data, now, &cnt)
		rest := data[used:]
		c.in = append(c.in[:0], rest...)
		if n < len(buf) {
			return cnt
		}
	}
}

func parse(c *conn, data []byte, now int64, cnt *int) int {
	used := 0
	for {
		d := data[used:]
		if len(d) < 2 {
			return used
		}
		b0, b1 := d[0], d[1]
		pl := int(b1 & 0x7f)
		hl := 2
		if pl == 126 {
			if len(d) < 4 {
				return used
			}
			pl, hl = int(binary.BigEndian.Uint16(d[2:])), 4
		} else if pl == 127 {
			if len(d) < 10 {
				return used
			}
			pl, hl = int(binary.BigEndian.Uint64(d[2:])), 10
		}
		if len(d) < hl+pl {
			return used
		}
		p := d[hl : hl+pl]
		used += hl + pl
		op := b0 & 0xf
		if op != 1 && op != 2 {
			continue
		}
		*cnt++
		c.got++
		if b0&0x40 != 0 { // compressed
			if !c.inflate {
				continue
			}
			inflBuf.Reset()
			flr.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})), nil)
			io.Copy(&inflBuf, flr)
			p = inflBuf.Bytes()
		}
		if len(p) < 14 {
			c.bad++
			continue
		}
		pub := atoi(p[:6])
		seq := atoi(p[6:14])
		k := pub - c.base
		if k < 0 || k >= len(c.exp) || uint32(seq) != c.exp[k] {
			c.bad++
			if k >= 0 && k < len(c.exp) {
				c.exp[k] = uint32(seq) + 1
			}
			continue
		}
		c.exp[k]++
		lastRecv[pub**msgs+seq] = now
	}
}

func atoi(b []byte) int {
	n := 0
	for _, ch := range b {
		n = n*10 + int(ch-'0')
	}
	return n
}

func dialAll(ip net.IP, port int) {
	conns = make([]*conn, *nconns)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= *nconns {
					return
				}
				c, err := dial(ip, port, i)
				if err != nil {
					if failed.Add(1) < 5 {
						fmt.Fprintln(os.Stderr, "dial:", err)
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		fmt.Fprintf(os.Stderr, "%d dials failed\n", failed.Load())
		os.Exit(1)
	}
	maxfd := 0
	for _, c := range conns {
		maxfd = max(maxfd, c.fd)
	}
	byFD = make([]*conn, maxfd+1)
	for _, c := range conns {
		byFD[c.fd] = c
	}
}

func dial(ip net.IP, port, i int) (*conn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if *srcs > 1 {
		src := &unix.SockaddrInet4{}
		copy(src.Addr[:], []byte{127, 0, 0, byte(2 + i%*srcs)})
		unix.Bind(fd, src)
	}
	sa := &unix.SockaddrInet4{Port: port}
	copy(sa.Addr[:], ip)
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	path := "/"
	if *roomSize > 0 {
		path = fmt.Sprintf("/room/r%d", i / *roomSize)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if *compress {
		req += "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
	}
	req += "\r\n"
	if _, err := unix.Write(fd, []byte(req)); err != nil {
		unix.Close(fd)
		return nil, err
	}
	var resp []byte
	b := make([]byte, 1024)
	for !bytes.Contains(resp, []byte("\r\n\r\n")) {
		n, err := unix.Read(fd, b)
		if err != nil || n <= 0 {
			unix.Close(fd)
			return nil, fmt.Errorf("handshake read: %v", err)
		}
		resp = append(resp, b[:n]...)
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101")) {
		return nil, fmt.Errorf("handshake: %q", resp)
	}
	if *compress && !bytes.Contains(bytes.ToLower(resp), []byte("permessage-deflate")) {
		return nil, fmt.Errorf("no deflate: %q", resp)
	}
	i2 := bytes.Index(resp, []byte("\r\n\r\n"))
	return &conn{fd: fd, idx: i, in: append([]byte(nil), resp[i2+4:]...)}, nil
}

func nanotime() int64 { return time.Now().UnixNano() }

// cpuNs sums on-CPU time of every thread of pid.
func cpuNs(pid int) int64 {
	if pid == 0 {
		return 0
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			v, _ := strconv.ParseInt(f[0], 10, 64)
			sum += v
		}
	}
	return sum
}

func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v * 1024
		}
	}
	return 0
}
