package hotpath

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
	"github.com/wsloop/wsloop/wsproto"
)

const quietLevel = slog.LevelError

// BenchmarkBroadcast broadcasts a 64-byte binary message through
// server.BroadcastBinary to N real clients connected over loopback (in
// this process: 2 descriptors per client, so N stays well under the
// open-file limit). One op is one BroadcastBinary; the clock stops only
// once every client has received every message, so ns/op covers encoding,
// fan-out to N queues and the writes. ns/delivery = ns/op / N.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &server.Server{LogLevel: quietLevel}
			go srv.Serve(ln)
			defer srv.Close()
			conns, readers, err := dialMany(ln.Addr().String(), n)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			if err := waitFor(30*time.Second, func() bool { return srv.Len() == n }); err != nil {
				b.Fatalf("server holds %d of %d clients", srv.Len(), n)
			}
			msg := payload(64)
			frameLen := int64(len(wsproto.AppendFrame(nil, ws.OpBinary, true, msg)))
			var received atomic.Int64
			var wg sync.WaitGroup
			for i, c := range conns {
				br := readers[i]
				wg.Go(func() {
					buf := make([]byte, 32<<10)
					for {
						k, err := br.Read(buf)
						received.Add(int64(k))
						if err != nil {
							return
						}
					}
				})
				_ = c
			}
			b.ReportAllocs()
			b.ResetTimer()
			total := int64(0)
			for b.Loop() {
				srv.BroadcastBinary(msg)
				total += frameLen * int64(n)
			}
			if err := waitFor(5*time.Minute, func() bool { return received.Load() >= total }); err != nil {
				b.Fatalf("received %d of %d bytes", received.Load(), total)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*int64(n)), "ns/delivery")
			for _, c := range conns {
				c.Close()
			}
			wg.Wait()
		})
	}
}
