package main

import (
	"fmt"
	"strconv"
	"time"
)

// burstSettle is wsbench's pause between the last connection opening and
// the first publish (-settle) in the broadcast scenarios: the server idles
// then, which is how compare finds where a flat-out burst began.
const burstSettle = time.Second

// kind says what a scenario measures, hence which wsbench report it reads
// and which metrics its table has.
type kind int

const (
	kindIdle      kind = iota // connect and hold
	kindEcho                  // echo for -duration
	kindRate                  // broadcast at a fixed rate for -duration
	kindBurst                 // broadcast of a fixed number of messages, flat out
	kindHandshake             // connect, upgrade, close, over and over
)

// scenario is one row group of the comparison: how the server is started,
// what wsbench runs against it and what the table shows.
type scenario struct {
	Key     string
	Kind    kind
	Mode    string // the server's -mode
	Deflate bool   // server -deflate, wsbench -compress
	TLS     bool   // server -tls-cert/-tls-key, wss:// URL
	// Conns is how many connections the server holds once wsbench has
	// opened them all; the CPU clock starts then (0: at once).
	Conns func(cfg *config) int
	// Args is wsbench's command line without -url and the common flags.
	Args  func(cfg *config) []string
	Title func(cfg *config) string
	// Quick marks the scenarios -quick runs when -scenarios is not given.
	Quick bool
}

// scenarios in table order.
var scenarios = []scenario{
	{Key: "idle", Kind: kindIdle, Mode: "echo", Quick: true,
		Conns: func(c *config) int { return c.IdleConns },
		Args:  idleArgs,
		Title: func(c *config) string {
			return fmt.Sprintf("Idle memory: %d connections held idle (echo mode)", c.IdleConns)
		}},
	{Key: "echo64", Kind: kindEcho, Mode: "echo", Quick: true,
		Conns: func(c *config) int { return c.EchoConns },
		Args:  func(c *config) []string { return echoArgs(c, 64) },
		Title: func(c *config) string {
			return fmt.Sprintf("Echo: %d connections, 64 B binary, %d in flight each, %v", c.EchoConns, c.EchoInflight, time.Duration(c.Duration))
		}},
	{Key: "echo16k", Kind: kindEcho, Mode: "echo",
		Conns: func(c *config) int { return c.EchoConns },
		Args:  func(c *config) []string { return echoArgs(c, 16384) },
		Title: func(c *config) string {
			return fmt.Sprintf("Echo: %d connections, 16 KiB binary, %d in flight each, %v", c.EchoConns, c.EchoInflight, time.Duration(c.Duration))
		}},
	{Key: "broadcast", Kind: kindRate, Mode: "broadcast",
		Conns: func(c *config) int { return c.BcastConns },
		Args:  func(c *config) []string { return rateArgs(c, c.BcastRate) },
		Title: func(c *config) string {
			return fmt.Sprintf("Broadcast at a sustainable rate: %d clients, %d publishers at %g msg/s each (%s deliveries/s offered), %d B, %v",
				c.BcastConns, c.BcastPublishers, c.BcastRate, offered(c, c.BcastRate), c.BcastSize, time.Duration(c.Duration))
		}},
	{Key: "bcastmax", Kind: kindRate, Mode: "broadcast",
		Conns: func(c *config) int { return c.BcastConns },
		Args:  func(c *config) []string { return rateArgs(c, c.BcastMaxRate) },
		Title: func(c *config) string {
			return fmt.Sprintf("Broadcast past saturation: %d clients, %d publishers at %g msg/s each (%s deliveries/s offered), %d B, %v",
				c.BcastConns, c.BcastPublishers, c.BcastMaxRate, offered(c, c.BcastMaxRate), c.BcastSize, time.Duration(c.Duration))
		}},
	burst("burst1000", 1, 1000, false, true),
	burst("burst200", 1, 200, false, false),
	burst("burst20x100", 20, 100, false, false),
	burst("deflate1000", 1, 1000, true, false),
	burst("deflate200", 1, 200, true, false),
	burst("deflate20x100", 20, 100, true, false),
	{Key: "rooms", Kind: kindBurst, Mode: "broadcast",
		Conns: func(c *config) int { return c.Rooms * c.RoomMembers },
		Args: func(c *config) []string {
			return []string{"broadcast", "-conns", strconv.Itoa(c.Rooms * c.RoomMembers), "-rooms", strconv.Itoa(c.Rooms),
				"-publishers", "all", "-messages", strconv.Itoa(c.RoomMessages), "-size", strconv.Itoa(c.BurstSize),
				"-drain", "10s", "-settle", burstSettle.String(), "-concurrency", "200", "-timeout", "10s", "-src-ips", "8"}
		},
		Title: func(c *config) string {
			return fmt.Sprintf("Rooms, flat out: %d rooms × %d members = %d clients (one process holds at most ~19,980 here), every member publishes %d messages of %d B to its room (%s deliveries)",
				c.Rooms, c.RoomMembers, c.Rooms*c.RoomMembers, c.RoomMessages, c.BurstSize,
				groupDigits(strconv.Itoa(c.Rooms*c.RoomMembers*c.RoomMessages*c.RoomMembers)))
		}},
	{Key: "handshake", Kind: kindHandshake, Mode: "echo", Quick: true,
		Conns: func(*config) int { return 0 },
		Args:  handshakeArgs,
		Title: func(c *config) string {
			return fmt.Sprintf("Handshake: %d workers connect, upgrade, close; %v", c.HandshakeWorkers, time.Duration(c.Duration))
		}},
	{Key: "idle-tls", Kind: kindIdle, Mode: "echo", TLS: true,
		Conns: func(c *config) int { return c.IdleConns },
		Args:  idleArgs,
		Title: func(c *config) string {
			return fmt.Sprintf("Idle memory over TLS (wss): %d connections held idle (echo mode)", c.IdleConns)
		}},
	{Key: "echo64-tls", Kind: kindEcho, Mode: "echo", TLS: true, Quick: true,
		Conns: func(c *config) int { return c.EchoConns },
		Args:  func(c *config) []string { return echoArgs(c, 64) },
		Title: func(c *config) string {
			return fmt.Sprintf("Echo over TLS (wss): %d connections, 64 B binary, %d in flight each, %v", c.EchoConns, c.EchoInflight, time.Duration(c.Duration))
		}},
	{Key: "handshake-tls", Kind: kindHandshake, Mode: "echo", TLS: true, Quick: true,
		Conns: func(*config) int { return 0 },
		Args:  handshakeArgs,
		Title: func(c *config) string {
			return fmt.Sprintf("TLS handshakes (wss): %d workers connect, TLS handshake, upgrade, close; %v", c.HandshakeWorkers, time.Duration(c.Duration))
		}},
}

// burst is a flat-out broadcast scenario of issue 9: pubs publishers each
// send msgs messages as fast as their sockets take them to every client;
// compressed ones are 1 KiB of text with permessage-deflate negotiated by
// every client.
func burst(key string, pubs, msgs int, deflate, quick bool) scenario {
	return scenario{Key: key, Kind: kindBurst, Mode: "broadcast", Deflate: deflate, Quick: quick,
		Conns: func(c *config) int { return c.BurstConns },
		Args: func(c *config) []string {
			a := []string{"broadcast", "-conns", strconv.Itoa(c.BurstConns), "-publishers", strconv.Itoa(pubs),
				"-messages", strconv.Itoa(msgs), "-drain", "10s", "-settle", burstSettle.String(), "-concurrency", "200"}
			if deflate {
				return append(a, "-size", strconv.Itoa(c.DeflateSize), "-text", "-compress")
			}
			return append(a, "-size", strconv.Itoa(c.BurstSize))
		},
		Title: func(c *config) string {
			what := fmt.Sprintf("%d B binary", c.BurstSize)
			if deflate {
				what = fmt.Sprintf("%d B text, permessage-deflate negotiated by every client", c.DeflateSize)
			}
			return fmt.Sprintf("Flat-out broadcast: %d clients, %d publisher(s) × %d messages of %s (%s deliveries), timed from the first send to the last receipt",
				c.BurstConns, pubs, msgs, what, groupDigits(strconv.Itoa(pubs*msgs*c.BurstConns)))
		}}
}

func idleArgs(c *config) []string {
	hold := time.Duration(c.IdleSettle) + 4*time.Second
	return []string{"connect", "-conns", strconv.Itoa(c.IdleConns), "-concurrency", "200", "-hold", hold.String(), "-timeout", "10s"}
}

func echoArgs(c *config, size int) []string {
	return []string{"echo", "-conns", strconv.Itoa(c.EchoConns), "-inflight", strconv.Itoa(c.EchoInflight), "-size", strconv.Itoa(size),
		"-duration", time.Duration(c.Duration).String(), "-drain", "5s", "-concurrency", "200"}
}

func rateArgs(c *config, rate float64) []string {
	return []string{"broadcast", "-conns", strconv.Itoa(c.BcastConns), "-publishers", strconv.Itoa(c.BcastPublishers),
		"-rate", strconv.FormatFloat(rate, 'g', -1, 64), "-size", strconv.Itoa(c.BcastSize), "-duration", time.Duration(c.Duration).String(),
		"-drain", "10s", "-settle", burstSettle.String(), "-concurrency", "200"}
}

func handshakeArgs(c *config) []string {
	return []string{"handshake", "-conns", strconv.Itoa(c.HandshakeWorkers), "-duration", time.Duration(c.Duration).String(), "-src-ips", "8"}
}

func scenarioByKey(key string) *scenario {
	for i := range scenarios {
		if scenarios[i].Key == key {
			return &scenarios[i]
		}
	}
	return nil
}

func scenarioKeys(quickOnly bool) []string {
	var keys []string
	for _, s := range scenarios {
		if !quickOnly || s.Quick {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// metrics is the table of a scenario.
func (s *scenario) metrics() []metricDef {
	k := s.Key + "."
	cpu := metricDef{k + "server_cpu_pct", "server CPU (% of one core)", "%.0f", info}
	client := metricDef{k + "client_cpu_pct", "wsbench CPU (% of one core)", "%.0f", info}
	errs := metricDef{k + "errors", "wsbench errors", "%.0f", info}
	rss := metricDef{k + "peak_rss_mib", "server peak RSS (MiB)", "%.0f", lower}
	switch s.Kind {
	case kindIdle:
		return []metricDef{
			{k + "rss_per_conn", "RSS per idle connection (B)", "%.0f", lower},
			{k + "gomem_per_conn", "Go heap+stacks per idle connection (B)", "%.0f", lower},
			{k + "goroutines", "goroutines with every client connected", "%.0f", lower},
			{k + "connect_per_s", "connections opened per second", "%.0f", higher},
			errs,
		}
	case kindEcho:
		return []metricDef{
			{k + "msgs_per_s", "messages echoed per second", "%.0f", higher},
			{k + "rtt_p50_us", "round trip p50 (µs)", "%.0f", lower},
			{k + "rtt_p99_us", "round trip p99 (µs)", "%.0f", lower},
			{k + "cpu_us_per_msg", "server CPU per message (µs)", "%.2f", lower},
			cpu, rss, client, errs,
		}
	case kindRate:
		return []metricDef{
			{k + "deliveries_per_s", "deliveries per second (during the sending window)", "%.0f", higher},
			{k + "delivery_p50_us", "delivery latency p50 (µs)", "%.0f", lower},
			{k + "delivery_p99_us", "delivery latency p99 (µs)", "%.0f", lower},
			{k + "cpu_us_per_delivery", "server CPU per delivery (µs)", "%.3f", lower},
			cpu, rss,
			{k + "lost", "deliveries lost (not there 10 s after the window)", "%.0f", lower},
			client, errs,
		}
	case kindBurst:
		ms := []metricDef{
			{k + "deliveries_per_s", "deliveries per second, first send to last receipt", "%.0f", higher},
			{k + "last_receipt_p50_us", "send to last receipt p50 (µs)", "%.0f", lower},
			{k + "last_receipt_p99_us", "send to last receipt p99 (µs)", "%.0f", lower},
			{k + "cpu_ns_per_delivery", "server CPU per delivery (ns)", "%.0f", lower},
			cpu,
			rss,
			{k + "lost", "deliveries lost", "%.0f", lower},
			{k + "duplicates", "deliveries duplicated", "%.0f", lower},
			{k + "bad_order", "deliveries out of order or to the wrong room", "%.0f", lower},
			{k + "client_cpu_pct", "wsbench CPU while publishing and receiving (% of one core)", "%.0f", info},
			errs,
		}
		if s.Deflate {
			ms = append(ms, metricDef{k + "deflate_conns", "clients with permessage-deflate negotiated", "%.0f", info})
		}
		return ms
	case kindHandshake:
		return []metricDef{
			{k + "upgrades_per_s", "upgrades per second", "%.0f", higher},
			{k + "handshake_p50_us", "handshake latency p50 (µs)", "%.0f", lower},
			{k + "handshake_p99_us", "handshake latency p99 (µs)", "%.0f", lower},
			{k + "cpu_us_per_upgrade", "server CPU per upgrade (µs)", "%.1f", lower},
			cpu, client, errs,
		}
	}
	return nil
}
