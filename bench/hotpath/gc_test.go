package hotpath

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
)

// BenchmarkGCIdle measures a forced, complete garbage collection
// (runtime.GC, ns/op) while N idle WebSocket clients are connected. The
// clients live in a subprocess, so this process holds one descriptor per
// client (wsloop) and 10,000 clients fit under the 20,000 open-file limit.
//
//   - wsloop: our server.Server (a table of *Client, no goroutine per client);
//   - goroutine-per-conn: a gobwas ws.Upgrade server whose goroutine per
//     client blocks in a 4 KiB bufio.Reader read, the usual design of
//     gorilla, gobwas and gws servers, for comparison.
//
// Extra metrics: stw-ns is the mean stop-the-world pause of those GCs,
// heap-MiB the live heap and goroutines the count while measuring.
func BenchmarkGCIdle(b *testing.B) {
	for _, kind := range []string{"wsloop", "goroutine-per-conn"} {
		for _, n := range []int{1000, 5000, 10000} {
			b.Run(fmt.Sprintf("%s/clients=%d", kind, n), func(b *testing.B) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				var held func() int
				switch kind {
				case "wsloop":
					srv := &server.Server{LogLevel: quietLevel}
					go srv.Serve(ln)
					defer srv.Close()
					held = srv.Len
				default:
					var count atomic.Int64
					go goroutineServer(ln, &count)
					defer ln.Close()
					held = func() int { return int(count.Load()) }
				}
				stop := idleClients(b, ln.Addr().String(), n)
				defer stop()
				if err := waitFor(60*time.Second, func() bool { return held() == n }); err != nil {
					b.Fatalf("server holds %d of %d clients", held(), n)
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					runtime.GC()
				}
				b.StopTimer()
				runtime.ReadMemStats(&after)
				if gcs := after.NumGC - before.NumGC; gcs > 0 {
					b.ReportMetric(float64(after.PauseTotalNs-before.PauseTotalNs)/float64(gcs), "stw-ns")
				}
				b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
			})
		}
	}
}

// goroutineServer upgrades every connection and then blocks reading it on
// a goroutine of its own.
func goroutineServer(ln net.Listener, count *atomic.Int64) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer nc.Close()
			if _, err := ws.Upgrade(nc); err != nil {
				return
			}
			count.Add(1)
			defer count.Add(-1)
			io.Copy(io.Discard, bufio.NewReaderSize(nc, 4096))
		}()
	}
}
