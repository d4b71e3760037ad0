package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// A child's report is its result as a single process would write it, plus
// what merging needs: the latency histograms themselves (HDR, compressed),
// so that the merged percentiles are exact, not averages, and for a
// broadcast the times and per-message records.

// childReport is what a child sends its parent at the end.
type childReport struct {
	Result *result           `json:"result"`
	Order  []string          `json:"latency_order"`
	Hists  map[string]string `json:"hists"` // HDR V2 compressed, base64
	Bcast  *bcastPart        `json:"bcast,omitempty"`
}

// childReport packs r for the parent.
func (r *result) childReport() (*childReport, error) {
	rep := &childReport{Result: r, Order: r.latencyOrder, Hists: map[string]string{}, Bcast: r.bcast}
	for name, h := range r.hists {
		b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("histogram %s: %w", name, err)
		}
		rep.Hists[name] = string(b)
	}
	return rep, nil
}

// procResult is one process's share of a run spread over processes.
type procResult struct {
	Index      int        `json:"index"`
	Conns      int        `json:"conns"` // connections (handshake: workers) it was given
	Opened     int64      `json:"opened"`
	SourceIPs  []string   `json:"source_ips,omitempty"`
	CPU        cpuResult  `json:"client_cpu"`
	CPUPublish *cpuResult `json:"client_cpu_publishing,omitempty"`
	Failed     string     `json:"failed,omitempty"` // why it sent no report
}

// mergeReports makes one result of the processes' reports (nil for a
// process that sent none). expected is the receivers per room over every
// process (broadcast).
func mergeReports(cfg *config, tgts []*target, p *plan, reps []*childReport, expected []int32, failures []string) *result {
	r := &result{
		Scenario:   cfg.Scenario,
		URL:        cfg.URL,
		TargetAddr: targetAddrs(tgts),
		Params:     cfg,
		Latency:    map[string]*latencySummary{},
		Errors:     map[string]int64{},
	}
	samples := map[string]string{}
	merged := map[string]*hdrhistogram.Histogram{}
	var order []string
	var part *bcastPart
	first := true
	for k, rep := range reps {
		pr := procResult{Index: k, Conns: p.conns[k]}
		for _, ip := range p.srcIPs[k] {
			pr.SourceIPs = append(pr.SourceIPs, ip.String())
		}
		if rep == nil || rep.Result == nil {
			pr.Failed = failures[k]
			r.Procs = append(r.Procs, pr)
			r.Errors[kindProcess]++
			if _, ok := samples[kindProcess]; !ok {
				samples[kindProcess] = fmt.Sprintf("process %d: %s", k, failures[k])
			}
			continue
		}
		c := rep.Result
		pr.Opened = c.Connections.Opened
		pr.CPU = c.CPU
		if c.Broadcast != nil {
			pr.CPUPublish = c.Broadcast.CPU
		}
		r.Procs = append(r.Procs, pr)
		r.SourceIPs = append(r.SourceIPs, c.SourceIPs...)
		if first || c.Start.Before(r.Start) {
			r.Start = c.Start
		}
		r.ElapsedS = max(r.ElapsedS, c.ElapsedS)
		r.Interrupted = r.Interrupted || c.Interrupted
		mergeConns(&r.Connections, &c.Connections)
		if c.Echo != nil {
			if r.Echo == nil {
				r.Echo = &echoResult{}
			}
			mergeEcho(r.Echo, c.Echo)
		}
		if c.Population != nil {
			if r.Population == nil {
				r.Population = &populationResult{ServerCloses: map[string]int64{}}
			}
			mergePopulation(r.Population, c.Population)
		}
		if c.Handshake != nil {
			if r.Handshake == nil {
				r.Handshake = &handshakeResult{}
			}
			h := r.Handshake
			h.Workers += c.Handshake.Workers
			h.WindowS = max(h.WindowS, c.Handshake.WindowS)
			h.Upgrades += c.Handshake.Upgrades
			h.Failed += c.Handshake.Failed
			h.UpgradesPer = round3(h.UpgradesPer + c.Handshake.UpgradesPer)
		}
		if c.Broadcast != nil {
			if r.Broadcast == nil {
				r.Broadcast = &broadcastResult{Rooms: cfg.Rooms, MessagesPerPublisher: cfg.Messages, CPU: &cpuResult{}}
				part = &bcastPart{}
			}
			mergeBroadcast(r.Broadcast, c.Broadcast)
			if b := rep.Bcast; b != nil {
				if b.FirstSent > 0 && (part.FirstSent == 0 || b.FirstSent < part.FirstSent) {
					part.FirstSent = b.FirstSent
				}
				part.LastSent = max(part.LastSent, b.LastSent)
				part.LastRecv = max(part.LastRecv, b.LastRecv)
				part.Pubs = append(part.Pubs, b.Pubs...)
			}
		}
		for _, name := range rep.Order {
			h, err := hdrhistogram.Decode([]byte(rep.Hists[name]))
			if err != nil {
				r.Warnings = append(r.Warnings, fmt.Sprintf("process %d: latency %s unreadable: %v", k, name, err))
				continue
			}
			if merged[name] == nil {
				merged[name] = newHist()
				order = append(order, name)
			}
			merged[name].Merge(h)
		}
		for kind, n := range c.Errors {
			r.Errors[kind] += n
			if _, ok := samples[kind]; !ok && c.ErrorSamples[kind] != "" {
				samples[kind] = c.ErrorSamples[kind]
			}
		}
		r.CPU.Measured = c.CPU.Measured
		r.CPU.UserS = round3(r.CPU.UserS + c.CPU.UserS)
		r.CPU.SysS = round3(r.CPU.SysS + c.CPU.SysS)
		r.CPU.WallS = max(r.CPU.WallS, c.CPU.WallS)
		r.CPU.Percent = round3(r.CPU.Percent + c.CPU.Percent)
		r.CPU.Cores = c.CPU.Cores
		for _, w := range c.Warnings {
			w = fmt.Sprintf("process %d: %s", k, w)
			if !slices.Contains(r.Warnings, w) {
				r.Warnings = append(r.Warnings, w)
			}
		}
		first = false
	}
	if c := &r.Connections; c.OpenS > 0 {
		c.OpenPerS = round3(float64(c.Opened) / c.OpenS)
	}
	// Processes on one machine share its cores: none may be saturated on
	// its own while together they are.
	if w := saturation(r.CPU, fmt.Sprintf("the load generator's %d processes together", len(reps))); w != "" &&
		!slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "saturated") }) {
		r.Warnings = append(r.Warnings, w)
	}
	if r.Broadcast != nil && part != nil {
		last := merged["last_receipt"]
		if last == nil {
			last = newHist()
			merged["last_receipt"] = last
		}
		if p.spanning() {
			r.Broadcast.Complete = mergeRecords(part.Pubs, expected, p.rooms, last)
		}
		part.finish(r.Broadcast)
		if lost := r.Broadcast.Lost; lost != 0 && p.spanning() {
			r.Errors[kindLost] += lost
			samples[kindLost] = lostSample(r.Broadcast, cfg)
		}
	}
	for _, name := range order {
		r.setLatency(name, merged[name])
	}
	for kind, n := range r.Errors {
		if n == 0 {
			delete(r.Errors, kind)
			continue
		}
		r.ErrorTotal += n
	}
	r.ErrorSamples = samples
	return r
}

func mergeConns(dst, c *connResult) {
	dst.Attempted += c.Attempted
	dst.Opened += c.Opened
	dst.Failed += c.Failed
	dst.OpenS = max(dst.OpenS, c.OpenS)
	dst.HeldAtEnd += c.HeldAtEnd
	dst.Dropped += c.Dropped
	dst.ClosedClean += c.ClosedClean
	dst.TLS += c.TLS
	dst.TLSResumed += c.TLSResumed
	for p, n := range c.Subprotocols {
		if dst.Subprotocols == nil {
			dst.Subprotocols = map[string]int64{}
		}
		dst.Subprotocols[p] += n
	}
}

func mergePopulation(dst, p *populationResult) {
	dst.DurationS = max(dst.DurationS, p.DurationS)
	dst.TargetAtEnd += p.TargetAtEnd
	dst.OpenAtEnd += p.OpenAtEnd
	dst.Peak += p.Peak
	dst.Churned += p.Churned
	dst.RampedDown += p.RampedDown
	for code, n := range p.ServerCloses {
		dst.ServerCloses[code] += n
	}
	dst.Reconnected += p.Reconnected
	dst.ReconnectPending += p.ReconnectPending
}

func mergeEcho(dst, e *echoResult) {
	dst.Sent += e.Sent
	dst.Received += e.Received
	dst.BytesSent += e.BytesSent
	dst.BytesReceived += e.BytesReceived
	dst.WindowS = max(dst.WindowS, e.WindowS)
	dst.MsgsPerS = round3(dst.MsgsPerS + e.MsgsPerS)
	dst.BytesPerS = round3(dst.BytesPerS + e.BytesPerS)
	dst.Mismatches += e.Mismatches
	dst.Unsolicited += e.Unsolicited
	dst.Missing += e.Missing
}

func mergeBroadcast(dst, b *broadcastResult) {
	dst.Receivers += b.Receivers
	dst.Publishers += b.Publishers
	dst.Published += b.Published
	dst.ExpectedDeliveries += b.ExpectedDeliveries
	dst.Deliveries += b.Deliveries
	dst.Complete += b.Complete
	dst.Duplicates += b.Duplicates
	dst.Reordered += b.Reordered
	dst.Misrouted += b.Misrouted
	dst.Corrupt += b.Corrupt
	dst.Foreign += b.Foreign
	dst.Deflate += b.Deflate
	if c := b.CPU; c != nil {
		d := dst.CPU
		d.Measured = c.Measured
		d.UserS = round3(d.UserS + c.UserS)
		d.SysS = round3(d.SysS + c.SysS)
		d.WallS = max(d.WallS, c.WallS)
		d.Percent = round3(d.Percent + c.Percent)
		d.Cores = c.Cores
	}
}

// mergeRecords adds up the per-message records of rooms that span
// processes: a message is complete when the receivers that got it, over
// every process, are its room's receivers; its time to the last receipt
// (the latest over every process, from the send time its publisher's
// process recorded) goes to last. It returns the complete messages.
func mergeRecords(recs []*pubRecords, expected []int32, rooms int, last *hdrhistogram.Histogram) int64 {
	type pubSum struct {
		n      uint64
		counts []int64
		lasts  []int64
		sent   []int64
	}
	sums := map[int]*pubSum{}
	for _, pr := range recs {
		s := sums[pr.Pub]
		if s == nil {
			s = &pubSum{}
			sums[pr.Pub] = s
		}
		counts, lasts := decodeInt32s(pr.Counts), decodeInt64s(pr.Lasts)
		for len(s.counts) < len(counts) {
			s.counts = append(s.counts, 0)
			s.lasts = append(s.lasts, 0)
		}
		for i, n := range counts {
			s.counts[i] += int64(n)
			if i < len(lasts) {
				s.lasts[i] = max(s.lasts[i], lasts[i])
			}
		}
		if pr.Own {
			s.n = pr.N
			s.sent = decodeInt64s(pr.Sent)
		}
	}
	var complete int64
	for pub, s := range sums {
		want := int64(expected[pub%rooms])
		for seq := range min(s.n, uint64(len(s.sent)), uint64(len(s.counts))) {
			if s.counts[seq] == want {
				complete++
				v := min(max(s.lasts[seq]-s.sent[seq], histMin), histMax)
				_ = last.RecordValue(v)
			}
		}
	}
	return complete
}

func encodeInt32s(v []int32) string {
	if len(v) == 0 {
		return ""
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func encodeInt64s(v []int64) string {
	if len(v) == 0 {
		return ""
	}
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func decodeInt32s(s string) []int32 {
	b, _ := base64.StdEncoding.DecodeString(s) // written by encodeInt32s
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func decodeInt64s(s string) []int64 {
	b, _ := base64.StdEncoding.DecodeString(s) // written by encodeInt64s
	v := make([]int64, len(b)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}
