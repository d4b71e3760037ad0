package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// The -h text, written as a manual page: what wsbench does, each scenario,
// the options by topic, thresholds, examples, output and exit status.

const manHead = `NAME
    wsbench - load tester for WebSocket servers (ws:// and wss://)

SYNOPSIS
    wsbench SCENARIO -url URL[,URL...] [options]
    wsbench -scenario SCENARIO -url URL [options]
    wsbench -h

DESCRIPTION
    wsbench opens WebSocket connections to a server and drives one of four
    scenarios through them, checking every message: an echo must be the
    message sent, a broadcast must reach every member of its room once and
    in order. Latencies go to HDR histograms (1 ns to 1 h, 3 significant
    digits). The report is a table, or JSON with -json; -series and -chart
    add the run over time; -threshold turns it into a pass/fail gate for CI.
    Connections past one process's open-file limit are spread over several
    wsbench processes that report as one (-procs). wsbench reports its own
    CPU use: a generator at 100% of its core measures itself, not the
    server.

SCENARIOS
    connect     Open -conns connections, -concurrency dials at a time (at
                most -connect-rate a second), hold them idle for -hold
                (answering pings), close them with a close handshake.
                Reports the time and rate to open them, connect latency
                (TCP, TLS and upgrade) and failures by kind (refused,
                timeout, handshake_status_503, reset, fd_limit,
                addr_unavailable, tls_bad_certificate, ...).
                Over time: -stages ramps the count up and down, as k6's
                stages do (30s:10000,60s:10000,10s:0: up to 10,000 in 30 s,
                60 s there, down in 10 s); -churn closes that many a second,
                oldest first, and opens new ones in their place; -reconnect
                brings back the clients a server sends away with 1001, 1012
                (what a drain sends) or 1013, after a random delay up to
                -reconnect-delay and to the next -url if there are several.
                Such closes are then counted, with the reconnects and their
                latency (server's close to new connection), not as errors.

    echo        -conns connections each keep -inflight messages of -size
                bytes in flight for -duration against an echo server; every
                echo is checked (order, length, content). Reports messages/s,
                bytes/s and round-trip latency (rtt).

    broadcast   Every connection receives; some also publish, and the server
                must send each message to every client of the publisher's
                room, the publisher included. With -messages N each
                publisher sends N messages as fast as its socket takes them
                (flat out) and the run ends when every delivery is in, or
                nothing came for -drain; without it they publish at -rate a
                second for -duration. -rooms R spreads the clients over R
                rooms through -room-path (connection i joins room r(i mod
                R)); -publishers then counts per room ("all": every member).
                Messages carry publisher, sequence number and send time, so
                -size is at least 24 (44 with -text). Each delivery is
                checked per receiver and publisher: lost, duplicated,
                reordered, misrouted (another room's) and corrupt deliveries
                are errors. Reports deliveries/s (every delivery over the
                time from the first send to the last receipt), delivery
                latency, each message's send-to-last-receipt latency
                (last_receipt) and wsbench's CPU while publishing.
                With -compress every client offers permessage-deflate and
                publishers send compressed messages.

    handshake   -conns workers connect, upgrade and close (close handshake,
                1000) over and over for -duration. Reports upgrades/s and
                handshake latency.

OPTIONS
`

// optionGroups lists every flag once, by topic, in the order shown.
var optionGroups = []struct {
	title string
	intro string
	names []string
}{
	{"Target", "", []string{"url", "scenario", "header", "subprotocol", "compress", "timeout", "close-timeout"}},
	{"TLS and proxies", "", []string{"ca", "insecure", "tls-resume", "proxy-protocol", "proxy-src-addrs"}},
	{"Load", "", []string{"conns", "concurrency", "connect-rate", "duration", "hold", "drain", "read-buffer"}},
	{"Connections over time (connect)", "", []string{"stages", "churn", "reconnect", "reconnect-delay"}},
	{"Messages (echo, broadcast)", "", []string{"size", "text", "inflight"}},
	{"Broadcast", "", []string{"publishers", "messages", "rate", "rooms", "room-path", "batch", "settle", "inflate-each"}},
	{"Many connections", `One process holds as many connections as its open-file limit allows
(ulimit -n). A run that needs more is spread over processes started from
the same executable, each with its share of the connections under its own
limit and its own source addresses; one report merges theirs: counts
added up, latency histograms merged exactly (not averaged), each
process's share and CPU listed. A room stays in one process when there are
at least as many rooms as processes; otherwise rooms span processes and
the parent adds up each message's receipts. A run the limits cannot allow
(open files per process, ephemeral ports per source address) is refused
before it starts, with what to change.`, []string{"procs", "src-ips", "src-addrs"}},
	{"Pass or fail", "", []string{"threshold", "max-errors"}},
	{"Output", "", []string{"json", "quiet", "interval", "series", "series-interval", "chart", "cpuprofile"}},
}

const manTail = `THRESHOLDS
    -threshold 'METRIC OP VALUE' is a pass/fail criterion, as in k6. The
    run fails (exit 1) if one does not hold; the report lists each with what
    was observed. OP is <, <=, >, >=, == or !=.

    Latencies   p50, p90, p99, p99.9, p(N), min, max, mean (avg), med of the
                scenario's main latency (echo: rtt, broadcast: last_receipt,
                connect: connect, handshake: handshake) or of a named one
                (delivery.p99, connect.max, reconnect.p99). VALUE is a
                duration (50ms, 1.5s, 200us); a bare number is milliseconds.
    Counts      errors, failed, opened, dropped; echo: lost (missing
                echoes), mismatches; broadcast: lost, duplicates, reordered,
                misrouted, corrupt, complete, deliveries; connect:
                reconnected, open_at_end. VALUE is a number, or a percentage
                of a whole: errors of the operations (dials; messages sent;
                expected deliveries), lost, duplicates, ... of the expected
                deliveries, failed of the dials, reconnected of the closes.
    Rates       rate (the scenario's main one), deliveries_per_s,
                published_per_s, msgs_per_s, bytes_per_s, open_per_s,
                upgrades_per_s.
    CPU         client_cpu, client_cpu_publishing: wsbench's own, in percent
                of one core.

    With thresholds, -max-errors counts only if it is given. A metric the
    run did not measure (no samples) fails its threshold.

EXAMPLES
    Hold 10,000 idle connections for 10 s:
        wsbench connect -url ws://127.0.0.1:9001/ -conns 10000 -hold 10s

    Echo, 1,000 connections, 64 B, as a CI gate:
        wsbench echo -url ws://127.0.0.1:9001/ -conns 1000 -size 64 \
            -duration 10s -threshold 'p99<50ms' -threshold 'errors<0.1%'

    Flat-out broadcast: 1 publisher x 1,000 messages to 2,000 clients; 20
    publishers x 100; rooms, all publishing; compressed 1 KiB text:
        wsbench broadcast -url ws://127.0.0.1:9001/ -conns 2000 -messages 1000
        wsbench broadcast -url ws://127.0.0.1:9001/ -conns 2000 -publishers 20 \
            -messages 100
        wsbench broadcast -url ws://127.0.0.1:9001/ -conns 19800 -rooms 990 \
            -publishers all -messages 200
        wsbench broadcast -url ws://127.0.0.1:9001/ -conns 2000 -messages 1000 \
            -compress -text -size 1024

    50,000 clients over three processes, a message a second for 30 s, every
    message to all of them within 600 ms:
        wsbench broadcast -url ws://127.0.0.1:9001/ -conns 50000 -rate 1 \
            -duration 30s -threshold 'lost==0' -threshold 'p99<600ms'

    A ramp, with the run over time:
        wsbench connect -url wss://example.com/ws \
            -stages 30s:10000,60s:10000,10s:0 -connect-rate 1000 \
            -series run.csv -chart run.svg

    A reconnect storm: drain one of two servers while this runs:
        wsbench connect -url ws://127.0.0.1:9001/,ws://127.0.0.1:9002/ \
            -conns 10000 -reconnect -hold 60s -threshold 'failed==0'

    Behind a load balancer that speaks PROXY protocol, with a token:
        wsbench echo -url ws://10.0.0.5:8080/ -proxy-protocol v2 \
            -header 'Authorization: Bearer TOKEN' -subprotocol chat

OUTPUT
    A table on standard output, or one JSON object with -json: parameters,
    connections, the scenario's counts and rates, latency percentiles in
    microseconds, errors by kind with a sample of each, wsbench's CPU,
    thresholds, and each process's share when there are several. Progress
    goes to standard error: a line rewritten in place on a terminal, one
    line every -interval otherwise, nothing with -quiet.

EXIT STATUS
    0   success.
    1   the run failed: a threshold did not hold, or there were more than
        -max-errors errors; the report's last line says why.
    2   bad usage: a flag's value, or a run the limits cannot allow,
        refused before it starts.
`

// printUsage writes the manual page.
func printUsage(w io.Writer) {
	var cfg config
	fs := newFlagSet(&cfg, io.Discard)
	fmt.Fprint(w, manHead)
	for _, g := range optionGroups {
		fmt.Fprintf(w, "  %s\n", g.title)
		if g.intro != "" {
			for line := range strings.SplitSeq(g.intro, "\n") {
				fmt.Fprintf(w, "    %s\n", line)
			}
			fmt.Fprintln(w)
		}
		for _, name := range g.names {
			printOption(w, fs.Lookup(name))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, manTail)
}

// printOption writes one option: its name and kind of value, then its
// description wrapped, with the default.
func printOption(w io.Writer, f *flag.Flag) {
	kind, usage := flag.UnquoteUsage(f)
	switch kind {
	case "value", "string":
		kind = "VALUE"
	case "duration":
		kind = "DURATION"
	case "":
	default:
		if kind == strings.ToLower(kind) {
			kind = strings.ToUpper(kind)
		}
	}
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("    -%s %s", f.Name, kind), " "))
	if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "0s" && d != "[]" {
		usage += fmt.Sprintf(" (default %s)", d)
	}
	for _, line := range wrap(usage, 66) {
		fmt.Fprintf(w, "        %s\n", line)
	}
}

// wrap breaks s into lines of at most width runes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for word := range strings.FieldsSeq(s) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
