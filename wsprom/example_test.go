package wsprom_test

import (
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsprom"
)

// The metrics on the WebSocket port itself, as cmd/wsserver serves them:
// requests without an Upgrade header go to the server's Handler.
func Example() {
	srv := &server.Server{Addr: "127.0.0.1:9001"}
	srv.OnMessage = func(c *server.Client, m server.Message) { _ = c.SendBinary(m.Data) }
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", wsprom.Handler(srv))
	srv.Handler = mux
	log.Fatal(srv.ListenAndServe())
}

// wsloop mounted on an existing http.Server, the metrics beside it.
func Example_netHTTP() {
	srv := &server.Server{}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", srv)
	mux.Handle("GET /metrics", wsprom.Handler(srv))
	log.Fatal(http.ListenAndServe("127.0.0.1:9001", mux))
}

// The Collector in a registry of your own (here the default one, which
// promhttp.Handler serves), beside your program's other metrics.
func ExampleNewCollector() {
	srv := &server.Server{}
	prometheus.MustRegister(wsprom.NewCollector(srv))
	http.Handle("GET /metrics", promhttp.Handler())
}
