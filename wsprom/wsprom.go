// Package wsprom exports a wsloop server's counters and gauges to
// Prometheus. Its Collector reads Server.Stats at each scrape: the server
// counts whether or not anyone scrapes, and the server package itself
// does not depend on Prometheus.
//
// Serve the metrics on the server's own port, through its Handler:
//
//	srv := &server.Server{}
//	mux := http.NewServeMux()
//	mux.Handle("GET /metrics", wsprom.Handler(srv))
//	srv.Handler = mux
//
// or register the Collector with a registry of your own:
//
//	prometheus.MustRegister(wsprom.NewCollector(srv))
//
// With several servers in one process, register each through
// prometheus.WrapRegistererWith and a label that tells them apart.
//
// # Metrics
//
// Gauges, the state at the scrape:
//
//	wsloop_clients                   upgraded clients connected
//	wsloop_handshakes_in_progress    connections in their opening handshake
//	wsloop_queued_bytes              output queued for clients, not yet taken by their sockets
//
// Counters, from the server's start:
//
//	wsloop_handshakes_total{outcome,status}    handshakes that ended: outcome "upgraded" (status 101),
//	                                           "refused" (status 400, 401, 403, 426, 431, 503, ...),
//	                                           "timeout" or "failed" (no answer; status "")
//	wsloop_frames_received_total               frames from clients (data frames, fragments, pings, pongs, closes)
//	wsloop_messages_received_total             complete text and binary messages from clients
//	wsloop_received_bytes_total                bytes read from upgraded clients (frames; TLS decrypted)
//	wsloop_messages_sent_total                 messages queued for clients, each recipient once
//	wsloop_sent_bytes_total                    bytes written to clients from the 101 response on
//	wsloop_broadcasts_total                    broadcasts (BroadcastText, BroadcastBinary, from the Broker)
//	wsloop_broadcast_recipients_total          the clients connected at each broadcast, added up
//	wsloop_room_publishes_total                messages published to rooms with members here
//	wsloop_room_recipients_total               the members of each, added up
//	wsloop_disconnects_total{cause,code}       upgraded clients that left, by cause, with the close code
//	                                           the server sent for it ("" for none)
//	wsloop_callbacks_total{callback}           calls of OnNewClient, OnMessage, OnClientLeft
//	wsloop_callback_duration_seconds{callback} histogram of the time callbacks took: one call in 16 is timed
//	wsloop_broker_published_total              publications handed to the Broker
//	wsloop_broker_dropped_total                publications the Broker could not take (buffer full, error)
//	wsloop_broker_received_total               publications from other instances delivered here
//
// The causes of wsloop_disconnects_total: client_close (the client's close
// frame), server_close (the client answered the server's close frame),
// protocol_error (code 1002, 1007 or 1009), slow_consumer, write_timeout,
// read_timeout (code 1008), ping_timeout, close_timeout, server_closed
// (Close), connection_lost (no close frame), callback_panic (code 1011),
// other.
//
// Handler adds the Go runtime's and the process's metrics (go_*,
// process_*).
package wsprom

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wsloop/wsloop/server"
)

// Handler returns an http.Handler that serves the metrics of srv, the Go
// runtime's and the process's in the Prometheus exposition format, for
// /metrics.
func Handler(srv *server.Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(srv),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// A Collector is a prometheus.Collector of a server's Stats, read at each
// scrape.
type Collector struct {
	srv *server.Server
}

// NewCollector returns a Collector of srv's Stats.
func NewCollector(srv *server.Server) *Collector {
	return &Collector{srv: srv}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("wsloop_"+name, help, labels, nil)
}

var (
	clientsDesc     = desc("clients", "WebSocket clients connected (upgraded).")
	handshakingDesc = desc("handshakes_in_progress", "Connections in their opening handshake.")
	queuedDesc      = desc("queued_bytes", "Output queued for clients and not yet taken by their sockets, in bytes.")
	handshakesDesc  = desc("handshakes_total", "Opening handshakes that ended, by outcome (upgraded, refused, timeout, failed) and HTTP status.", "outcome", "status")
	framesInDesc    = desc("frames_received_total", "Frames received from clients: data frames (each fragment), pings, pongs, closes.")
	msgsInDesc      = desc("messages_received_total", "Complete text and binary messages received from clients.")
	bytesInDesc     = desc("received_bytes_total", "Bytes read from upgraded clients (frames, after TLS decryption).")
	msgsOutDesc     = desc("messages_sent_total", "Text and binary messages queued for clients, each recipient once.")
	bytesOutDesc    = desc("sent_bytes_total", "Bytes written to clients from their 101 response on (before TLS encryption).")
	bcastDesc       = desc("broadcasts_total", "Messages broadcast to every client.")
	bcastRcptDesc   = desc("broadcast_recipients_total", "Clients connected at each broadcast, added up.")
	roomPubDesc     = desc("room_publishes_total", "Messages published to rooms with members on this server.")
	roomRcptDesc    = desc("room_recipients_total", "Members of the room at each publish, added up.")
	disconnectsDesc = desc("disconnects_total", "Upgraded clients that left, by cause and the close code the server sent for it.", "cause", "code")
	callbacksDesc   = desc("callbacks_total", "Calls of a callback.", "callback")
	callbackDesc    = desc("callback_duration_seconds", "Time a callback took; one call in 16 is timed.", "callback")
	brokerPubDesc   = desc("broker_published_total", "Publications handed to the Broker.")
	brokerDropDesc  = desc("broker_dropped_total", "Publications that never reached the Broker: its buffer was full, or Publish failed.")
	brokerRecvDesc  = desc("broker_received_total", "Publications from other instances delivered to this server's clients.")
)

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		clientsDesc, handshakingDesc, queuedDesc, handshakesDesc,
		framesInDesc, msgsInDesc, bytesInDesc, msgsOutDesc, bytesOutDesc,
		bcastDesc, bcastRcptDesc, roomPubDesc, roomRcptDesc,
		disconnectsDesc, callbacksDesc, callbackDesc,
		brokerPubDesc, brokerDropDesc, brokerRecvDesc,
	} {
		ch <- d
	}
}

// Collect reads the server's Stats and sends them as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(clientsDesc, float64(st.Clients))
	gauge(handshakingDesc, float64(st.Handshaking))
	gauge(queuedDesc, float64(st.QueuedBytes))

	counter(handshakesDesc, st.Upgrades, "upgraded", "101")
	for _, status := range ownRefusals {
		if _, ok := st.Refusals[status]; !ok {
			counter(handshakesDesc, 0, "refused", strconv.Itoa(status))
		}
	}
	for status, n := range st.Refusals {
		counter(handshakesDesc, n, "refused", strconv.Itoa(status))
	}
	counter(handshakesDesc, st.HandshakeTimeouts, "timeout", "")
	counter(handshakesDesc, st.HandshakeFailures, "failed", "")

	counter(framesInDesc, st.FramesReceived)
	counter(msgsInDesc, st.MessagesReceived)
	counter(bytesInDesc, st.BytesReceived)
	counter(msgsOutDesc, st.MessagesSent)
	counter(bytesOutDesc, st.BytesSent)
	counter(bcastDesc, st.Broadcasts)
	counter(bcastRcptDesc, st.BroadcastRecipients)
	counter(roomPubDesc, st.RoomPublishes)
	counter(roomRcptDesc, st.RoomRecipients)

	for i, n := range st.Disconnects {
		cause := server.DisconnectCause(i)
		counter(disconnectsDesc, n, causeLabel(cause), codeLabel(cause))
	}

	bounds := server.CallbackBuckets()
	for _, cb := range []struct {
		name string
		st   server.CallbackStats
	}{
		{"OnNewClient", st.OnNewClient},
		{"OnMessage", st.OnMessage},
		{"OnClientLeft", st.OnClientLeft},
	} {
		counter(callbacksDesc, cb.st.Calls, cb.name)
		buckets := make(map[float64]uint64, len(bounds))
		var below uint64
		for i, b := range bounds {
			below += cb.st.Buckets[i]
			buckets[b.Seconds()] = below
		}
		ch <- prometheus.MustNewConstHistogram(callbackDesc, cb.st.Timed, cb.st.Time.Seconds(), buckets, cb.name)
	}

	counter(brokerPubDesc, st.Broker.Published)
	counter(brokerDropDesc, st.Broker.Dropped)
	counter(brokerRecvDesc, st.Broker.Received)
}

// ownRefusals are the statuses the server refuses handshakes with by
// itself; they are exported from the start, as zeros, so that rates work
// from the first scrape. Statuses from Authenticate appear once used.
var ownRefusals = []int{400, 403, 426, 431, 503}

// causeLabel is the cause label of a disconnect: its name, with the three
// protocol errors under one, told apart by their code.
func causeLabel(c server.DisconnectCause) string {
	switch c {
	case server.DisconnectProtocolError, server.DisconnectInvalidData, server.DisconnectMessageTooBig:
		return "protocol_error"
	}
	return c.String()
}

// codeLabel is the close code the server sends for a cause, "" for none.
func codeLabel(c server.DisconnectCause) string {
	if code := c.CloseCode(); code != 0 {
		return strconv.Itoa(int(code))
	}
	return ""
}
