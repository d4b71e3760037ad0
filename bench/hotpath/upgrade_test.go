package hotpath

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/server"
)

// BenchmarkUpgrade measures the opening handshake.
//
//   - gobwas-inmemory: ws.Upgrader.Upgrade on a request held in memory,
//     response to io.Discard: the parsing and answering alone.
//   - wsloop-loopback: a client dials our server.Server over loopback,
//     sends the request, reads the 101 and resets the connection: accept,
//     the handshake goroutine, detaching the descriptor, registering it
//     with the poller and the client's exit.
//   - gobwas-loopback: the same client against a goroutine-per-connection
//     server that runs ws.Upgrade, for comparison with wsloop-loopback.
//
// Clients close with SO_LINGER 0 (a reset) so that no TIME_WAIT sockets
// pile up.
func BenchmarkUpgrade(b *testing.B) {
	b.Run("gobwas-inmemory", func(b *testing.B) {
		var r strings.Reader
		var u ws.Upgrader
		rw := struct {
			io.Reader
			io.Writer
		}{&r, io.Discard}
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(upgradeRequest)
			if _, err := u.Upgrade(rw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wsloop-loopback", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &server.Server{LogLevel: quietLevel}
		go srv.Serve(ln)
		defer srv.Close()
		loopbackUpgrades(b, ln.Addr().String())
	})
	b.Run("gobwas-loopback", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
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
					io.Copy(io.Discard, bufio.NewReaderSize(nc, 4096))
				}()
			}
		}()
		loopbackUpgrades(b, ln.Addr().String())
	})
}

func loopbackUpgrades(b *testing.B, addr string) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		nc, _, err := dialWS(addr, srcAddr(i))
		if err != nil {
			b.Fatal(err)
		}
		nc.(*net.TCPConn).SetLinger(0)
		nc.Close()
		i++
	}
}
