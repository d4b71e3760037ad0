package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
)

// A run can be spread over several wsbench processes (-procs): one parent
// that starts the others, tells them when to begin and merges what they
// report, and child processes that hold the connections, each under its own
// open-file limit and with its own source addresses. The plan divides the
// connections before anything starts, so that a run the limits cannot allow
// is refused at once, not half-way.

// plan is how a run is divided among processes.
type plan struct {
	procs  int
	rooms  int        // rooms the division follows (1 without rooms)
	conns  []int      // connections (handshake: workers) per process
	srcIPs [][]net.IP // source addresses per process; nil: the kernel's choice
}

// ownerOf returns the process that holds connection i. With at least as
// many rooms as processes a room stays in one process (room r in process
// r mod procs), so that each process checks its rooms' deliveries alone;
// otherwise connections are dealt out in turn and every room spans the
// processes.
func ownerOf(i, rooms, procs int) int {
	if rooms > 1 && rooms >= procs {
		return i % rooms % procs
	}
	return i % procs
}

// spanning reports whether rooms have members in several processes, so
// that the parent must merge their per-message records.
func (p *plan) spanning() bool { return p.procs > 1 && !(p.rooms > 1 && p.rooms >= p.procs) }

// slots returns the connection numbers process k holds.
func (p *plan) slots(cfg *config, k int) []int {
	s := make([]int, 0, p.conns[k])
	for i := range cfg.Conns {
		if ownerOf(i, p.rooms, p.procs) == k {
			s = append(s, i)
		}
	}
	return s
}

// planRooms is the number of rooms the division follows.
func planRooms(cfg *config) int {
	if cfg.Scenario == scBroadcast {
		return max(cfg.Rooms, 1)
	}
	return 1
}

// makePlan divides the run over cfg.Procs processes (0: as many as the
// open-file limit needs) and checks that every process stays under its
// open-file limit and every source address under the number of ephemeral
// ports. A run that cannot fit is a *usageError that says what to change.
func makePlan(cfg *config, tgts []*target) (*plan, error) {
	p := &plan{procs: cfg.Procs, rooms: planRooms(cfg)}
	soft, hard, limitKnown := raiseFileLimit()
	perProc := cfg.Conns
	if limitKnown {
		perProc = max(int(min(soft, 1<<30))-fdReserve, 0)
	}
	if p.procs == 0 {
		p.procs = 1
		if perProc > 0 && cfg.Conns > perProc {
			p.procs = (cfg.Conns + perProc - 1) / perProc
		}
	}
	if p.procs > cfg.Conns {
		return nil, usagef("-procs %d: more processes than -conns %d", p.procs, cfg.Conns)
	}
	p.conns = make([]int, p.procs)
	for i := range cfg.Conns {
		p.conns[ownerOf(i, p.rooms, p.procs)]++
	}
	if limitKnown {
		most := 0
		for _, n := range p.conns {
			most = max(most, n)
		}
		if most > perProc {
			what := "connections"
			if cfg.Scenario == scHandshake {
				what = "workers"
			}
			need := (cfg.Conns + perProc - 1) / max(perProc, 1)
			hint := fmt.Sprintf("use -procs %d or more (or leave -procs out to have it chosen)", need)
			if p.procs == 1 && cfg.Procs == 0 {
				hint = "run with -procs"
			}
			return nil, usagef("-conns %d over %d process(es) puts %d %s in one process, but a process may open only %d files here "+
				"(open-file limit, soft raised to hard %d; %d kept for wsbench itself): %s, "+
				"or raise the limit (ulimit -n, LimitNOFILE= for services, /etc/security/limits.conf)",
				cfg.Conns, p.procs, most, what, soft, hard, fdReserve, hint)
		}
	}
	if err := p.assignSourceIPs(cfg, tgts); err != nil {
		return nil, err
	}
	return p, nil
}

// assignSourceIPs gives each process its source addresses: the -src-addrs
// list dealt out in turn (shared when there are fewer than processes), or
// for loopback targets -src-ips addresses from 127.0.0.2 up (by default one
// per 20,000 connections of each process, on Linux), then checks that no
// address needs more ports than the kernel hands out.
func (p *plan) assignSourceIPs(cfg *config, tgts []*target) error {
	p.srcIPs = make([][]net.IP, p.procs)
	loopback4 := true
	for _, t := range tgts {
		loopback4 = loopback4 && t.loopback && t.ip.To4() != nil
	}
	switch {
	case len(cfg.srcAddrs) > 0:
		for j, ip := range cfg.srcAddrs {
			if len(cfg.srcAddrs) >= p.procs {
				p.srcIPs[j%p.procs] = append(p.srcIPs[j%p.procs], ip)
			} else {
				for k := range p.procs {
					p.srcIPs[k] = append(p.srcIPs[k], ip)
				}
			}
		}
	case !loopback4 || cfg.SrcIPs == 0 || cfg.SrcIPs < 0 && runtime.GOOS != "linux":
		// The kernel's choice.
	default:
		next := binary.BigEndian.Uint32(net.IPv4(127, 0, 0, 2).To4())
		take := func() net.IP {
			ip := make(net.IP, 4)
			binary.BigEndian.PutUint32(ip, next)
			next++
			return ip
		}
		if cfg.SrcIPs < 0 {
			for k, n := range p.conns {
				for range max(1, (n+perSrcIPConns-1)/perSrcIPConns) {
					p.srcIPs[k] = append(p.srcIPs[k], take())
				}
			}
			break
		}
		all := make([]net.IP, cfg.SrcIPs)
		for j := range all {
			all[j] = take()
		}
		for j, ip := range all {
			if len(all) >= p.procs {
				p.srcIPs[j%p.procs] = append(p.srcIPs[j%p.procs], ip)
			} else {
				for k := range p.procs {
					p.srcIPs[k] = append(p.srcIPs[k], ip)
				}
			}
		}
	}
	if cfg.Scenario == scHandshake {
		return nil // workers reuse ports as they go; TIME_WAIT is the server's
	}
	ports := ephemeralPorts()
	if ports == 0 {
		return nil
	}
	// Connections per source address, over every process that uses it;
	// where the kernel picks ports at connect (Linux), per target too.
	load := map[string]int{}
	targets := 1
	if portsPerTarget {
		targets = len(tgts)
	}
	for k, ips := range p.srcIPs {
		n := len(ips)
		if n == 0 {
			continue
		}
		// As dialShift deals them: process k's first connection takes
		// address k mod n.
		for j, ip := range ips {
			load[ip.String()] += p.conns[k]/n + btoi((j-k%n+n)%n < p.conns[k]%n)
		}
	}
	for ip, n := range load {
		if per := (n + targets - 1) / targets; per > ports {
			return usagef("%d connections from source address %s to one target, but the kernel hands out only %d ephemeral ports (ip_local_port_range): "+
				"use more source addresses (-src-ips for loopback targets, -src-addrs elsewhere)", per, ip, ports)
		}
	}
	if len(load) == 0 {
		// The kernel's choice: ports are unique per (source, target) pair.
		perTarget := (cfg.Conns + len(tgts) - 1) / len(tgts)
		if perTarget > ports {
			return usagef("%d connections to one target from one source address, but the kernel hands out only %d ephemeral ports (ip_local_port_range): "+
				"add source addresses with -src-addrs (or -src-ips for loopback targets)", perTarget, ports)
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// maxSrcAddrs bounds the -src-addrs list.
const maxSrcAddrs = 1 << 16

// parseSrcAddrs parses -src-addrs: addresses, ranges (a-b) and prefixes
// (a/n, every address of it but the network and broadcast addresses of an
// IPv4 prefix shorter than /31), separated by commas.
func parseSrcAddrs(s string) ([]net.IP, error) {
	var ips []net.IP
	add := func(a netip.Addr) error {
		if len(ips) >= maxSrcAddrs {
			return fmt.Errorf("more than %d addresses", maxSrcAddrs)
		}
		ips = append(ips, net.IP(a.AsSlice()))
		return nil
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			return nil, fmt.Errorf("empty item")
		case strings.Contains(item, "/"):
			pfx, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("%q: %v", item, err)
			}
			pfx = pfx.Masked()
			a := pfx.Addr()
			skipEnds := a.Is4() && pfx.Bits() < 31
			if skipEnds {
				a = a.Next()
			}
			for ; a.IsValid() && pfx.Contains(a); a = a.Next() {
				if skipEnds && !pfx.Contains(a.Next()) {
					break // the broadcast address
				}
				if err := add(a); err != nil {
					return nil, err
				}
			}
		case strings.Contains(item, "-"):
			lo, hi, _ := strings.Cut(item, "-")
			a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
			b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
			if err1 != nil || err2 != nil || a.BitLen() != b.BitLen() || b.Less(a) {
				return nil, fmt.Errorf("%q: want a range FIRST-LAST of addresses of one family", item)
			}
			for ; ; a = a.Next() {
				if err := add(a); err != nil {
					return nil, err
				}
				if a == b {
					break
				}
			}
		default:
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("%q: %v", item, err)
			}
			if err := add(a); err != nil {
				return nil, err
			}
		}
	}
	return ips, nil
}
