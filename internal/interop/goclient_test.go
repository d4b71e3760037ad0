package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

// The Go clients play the scenario in-process through goConn, one adapter
// per library.

// TestGorilla: gorilla/websocket, which offers permessage-deflate with
// EnableCompression.
func TestGorilla(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, m mode) {
		h := startServer(t, m)
		rep := runGoScenario(h.url, "gorilla/websocket "+modVersion("github.com/gorilla/websocket"), dialGorilla(h.tls))
		rep.check(t, m.compression)
		h.checkServerSide()
		if t.Failed() {
			t.Logf("report:\n%s", rep.String())
		}
	})
}

// TestCoder: coder/websocket, which offers permessage-deflate with a
// CompressionMode other than CompressionDisabled (its default).
func TestCoder(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, m mode) {
		h := startServer(t, m)
		rep := runGoScenario(h.url, "coder/websocket "+modVersion("github.com/coder/websocket"), dialCoder(h.tls))
		rep.check(t, m.compression)
		h.checkServerSide()
		if t.Failed() {
			t.Logf("report:\n%s", rep.String())
		}
	})
}

// goStepTimeout guards a step against a hang; it measures nothing. It is
// generous because under the race detector on a busy machine gorilla's
// compressed writes are slow: its sync.Pool of flate writers drops entries
// (as every pool does under -race), so many writes build a new compressor,
// and the 1,000 writes of burst-1000 have been seen to take over 10 s while
// the server had read and answered everything sent.
const goStepTimeout = 60 * time.Second

// modVersion returns the version of a module that the root go.mod
// requires (test binaries carry no dependency versions in their build
// info).
func modVersion(path string) string {
	data, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		return "(version unknown)"
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	return "(version unknown)"
}

type msgType int

const (
	textMsg msgType = iota + 1
	binaryMsg
)

func (m msgType) String() string {
	switch m {
	case textMsg:
		return "text"
	case binaryMsg:
		return "binary"
	}
	return fmt.Sprintf("type %d", int(m))
}

// goConn is one client connection as the scenario uses it.
type goConn interface {
	// extensions returns the negotiated extensions.
	extensions() string
	write(ctx context.Context, typ msgType, data []byte) error
	read(ctx context.Context) (msgType, []byte, error)
	// ping sends a ping with payload and returns once the pong came back.
	// It may write and read data messages that the echo server answers.
	ping(ctx context.Context, payload []byte) error
	// closeWith sends a close frame and returns the one the server
	// answered with.
	closeWith(ctx context.Context, code int, reason string) (closeFrame, error)
	// readClose reads until the server's close frame, answers it and
	// returns it.
	readClose(ctx context.Context) (closeFrame, error)
	abort()
}

type dialFunc func(ctx context.Context, url string) (goConn, error)

func runGoScenario(url, client string, dial dialFunc) *report {
	rep := &report{Client: client}
	current := "connect"
	fail := func(err error) { rep.Steps = append(rep.Steps, step{Name: current, Result: err.Error()}) }
	stepCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), goStepTimeout)
	}

	// Connection 1.
	if err := func() error {
		ctx, cancel := stepCtx()
		defer cancel()
		c, err := dial(ctx, url)
		if err != nil {
			return err
		}
		defer c.abort()
		rep.Extensions = c.extensions()
		rep.add("connect", nil)

		echo := func(name string, typ msgType, data []byte) error {
			current = name
			ctx, cancel := stepCtx()
			defer cancel()
			if err := c.write(ctx, typ, data); err != nil {
				return err
			}
			if err := expectMsg(ctx, c, typ, data); err != nil {
				return err
			}
			rep.add(name, nil)
			return nil
		}
		allBytes := make([]byte, 256)
		for i := range allBytes {
			allBytes[i] = byte(i)
		}
		for _, m := range []struct {
			name string
			typ  msgType
			data []byte
		}{
			{"text-utf8", textMsg, []byte("héllo wörld ✓ 😀")},
			{"text-64k-mixed", textMsg, mixed64k()},
			{"binary-all-bytes", binaryMsg, allBytes},
			{"text-empty", textMsg, []byte{}},
			{"binary-empty", binaryMsg, []byte{}},
			{"binary-64k", binaryMsg, pattern(65536)},
			{"binary-1m", binaryMsg, pattern(1 << 20)},
		} {
			if err := echo(m.name, m.typ, m.data); err != nil {
				return err
			}
		}

		current = "burst-1000"
		type msg struct {
			typ  msgType
			data []byte
		}
		var burst []msg
		for i := 0; i < 1000; i++ {
			if i%2 == 0 {
				burst = append(burst, msg{textMsg, fmt.Appendf(nil, "burst %d ✓", i)})
			} else {
				burst = append(burst, msg{binaryMsg, fmt.Appendf(nil, "burst %d", i)})
			}
		}
		ctx2, cancel2 := stepCtx()
		defer cancel2()
		for _, m := range burst { // all sent before any echo is read
			if err := c.write(ctx2, m.typ, m.data); err != nil {
				return err
			}
		}
		for i, m := range burst {
			if err := expectMsg(ctx2, c, m.typ, m.data); err != nil {
				return fmt.Errorf("burst message %d: %w", i, err)
			}
		}
		rep.add(current, nil)

		current = "ping"
		ctx3, cancel3 := stepCtx()
		defer cancel3()
		if err := c.ping(ctx3, []byte("wsloop-ping")); err != nil {
			return err
		}
		rep.add(current, nil)

		current = "broadcast"
		ctx4, cancel4 := stepCtx()
		defer cancel4()
		if err := c.write(ctx4, textMsg, []byte(broadcastMeText)); err != nil {
			return err
		}
		if err := expectMsg(ctx4, c, textMsg, []byte(broadcastText)); err != nil {
			return fmt.Errorf("broadcast text: %w", err)
		}
		if err := expectMsg(ctx4, c, binaryMsg, pattern(broadcastBinaryLen)); err != nil {
			return fmt.Errorf("broadcast binary: %w", err)
		}
		rep.add(current, nil)

		current = "client-close"
		ctx5, cancel5 := stepCtx()
		defer cancel5()
		cf, err := c.closeWith(ctx5, clientCloseCode, clientCloseReason)
		if err != nil {
			return err
		}
		rep.ClientClose = &cf
		rep.add(current, nil)
		return nil
	}(); err != nil {
		fail(err)
	}

	// Connection 2.
	current = "server-close"
	if err := func() error {
		ctx, cancel := stepCtx()
		defer cancel()
		c, err := dial(ctx, url)
		if err != nil {
			return err
		}
		defer c.abort()
		if err := c.write(ctx, textMsg, []byte(closeMeText)); err != nil {
			return err
		}
		cf, err := c.readClose(ctx)
		if err != nil {
			return err
		}
		rep.ServerClose = &cf
		rep.add(current, nil)
		return nil
	}(); err != nil {
		fail(err)
	}
	return rep
}

// mixed64k is "aé€😀" 6553 times then "abcdef": 65536 bytes of 1- to
// 4-byte characters.
func mixed64k() []byte {
	return append(bytes.Repeat([]byte("aé€😀"), 6553), "abcdef"...)
}

func expectMsg(ctx context.Context, c goConn, typ msgType, data []byte) error {
	gotTyp, got, err := c.read(ctx)
	if err != nil {
		return fmt.Errorf("waiting for the echo of a %v message of %d bytes: %w", typ, len(data), err)
	}
	if gotTyp != typ {
		return fmt.Errorf("got a %v message of %d bytes, want %v of %d", gotTyp, len(got), typ, len(data))
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("got a different %v message (%d bytes, want %d)", typ, len(got), len(data))
	}
	return nil
}

// gorilla/websocket.

type gorillaConn struct {
	c     *websocket.Conn
	ext   string
	pongs chan []byte
}

// dialGorilla dials with gorilla, trusting what tlsCfg says for wss://.
func dialGorilla(tlsCfg *tls.Config) dialFunc {
	return func(ctx context.Context, url string) (goConn, error) {
		d := websocket.Dialer{HandshakeTimeout: goStepTimeout, EnableCompression: true, TLSClientConfig: tlsCfg}
		c, resp, err := d.DialContext(ctx, url, nil)
		if err != nil {
			return nil, err
		}
		g := &gorillaConn{c: c, ext: resp.Header.Get("Sec-WebSocket-Extensions"), pongs: make(chan []byte, 4)}
		c.SetPongHandler(func(data string) error {
			select {
			case g.pongs <- []byte(data):
			default:
			}
			return nil
		})
		return g, nil
	}
}

func (g *gorillaConn) extensions() string { return g.ext }

func deadline(ctx context.Context) time.Time {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(goStepTimeout)
	}
	return dl
}

func (g *gorillaConn) write(ctx context.Context, typ msgType, data []byte) error {
	g.c.SetWriteDeadline(deadline(ctx))
	t := websocket.TextMessage
	if typ == binaryMsg {
		t = websocket.BinaryMessage
	}
	return g.c.WriteMessage(t, data)
}

func (g *gorillaConn) read(ctx context.Context) (msgType, []byte, error) {
	g.c.SetReadDeadline(deadline(ctx))
	t, data, err := g.c.ReadMessage()
	if err != nil {
		return 0, nil, err
	}
	if t == websocket.BinaryMessage {
		return binaryMsg, data, nil
	}
	return textMsg, data, nil
}

// ping: gorilla handles a pong inside a read, so a message sent after the
// ping is read back; the server answers the ping first.
func (g *gorillaConn) ping(ctx context.Context, payload []byte) error {
	if err := g.c.WriteControl(websocket.PingMessage, payload, deadline(ctx)); err != nil {
		return err
	}
	if err := g.write(ctx, textMsg, []byte("after-ping")); err != nil {
		return err
	}
	if err := expectMsg(ctx, g, textMsg, []byte("after-ping")); err != nil {
		return fmt.Errorf("message after the ping: %w", err)
	}
	select {
	case p := <-g.pongs:
		if !bytes.Equal(p, payload) {
			return fmt.Errorf("pong payload %q, want %q", p, payload)
		}
		return nil
	default:
		return errors.New("no pong before the echo of the message sent after the ping")
	}
}

func (g *gorillaConn) closeWith(ctx context.Context, code int, reason string) (closeFrame, error) {
	if err := g.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline(ctx)); err != nil {
		return closeFrame{}, err
	}
	return g.readClose(ctx)
}

// readClose: gorilla's default close handler answers the close frame with
// its code.
func (g *gorillaConn) readClose(ctx context.Context) (closeFrame, error) {
	g.c.SetReadDeadline(deadline(ctx))
	for {
		t, data, err := g.c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code == websocket.CloseAbnormalClosure {
				return closeFrame{}, fmt.Errorf("connection closed without a close frame: %w", err)
			}
			return closeFrame{Code: ce.Code, Reason: ce.Text}, nil
		}
		if err != nil {
			return closeFrame{}, fmt.Errorf("waiting for a close frame: %w", err)
		}
		return closeFrame{}, fmt.Errorf("got a message (type %d, %d bytes) instead of a close frame", t, len(data))
	}
}

func (g *gorillaConn) abort() { g.c.Close() }

// coder/websocket.

type coderConn struct {
	c   *coder.Conn
	ext string
}

// dialCoder dials with coder, trusting what tlsCfg says for wss://.
func dialCoder(tlsCfg *tls.Config) dialFunc {
	return func(ctx context.Context, url string) (goConn, error) {
		c, resp, err := coder.Dial(ctx, url, &coder.DialOptions{
			CompressionMode: coder.CompressionContextTakeover,
			HTTPClient: &http.Client{
				Timeout:   goStepTimeout,
				Transport: &http.Transport{TLSClientConfig: tlsCfg},
			},
		})
		if err != nil {
			return nil, err
		}
		c.SetReadLimit(64 << 20)
		return &coderConn{c: c, ext: resp.Header.Get("Sec-WebSocket-Extensions")}, nil
	}
}

func (k *coderConn) extensions() string { return k.ext }

func (k *coderConn) write(ctx context.Context, typ msgType, data []byte) error {
	t := coder.MessageText
	if typ == binaryMsg {
		t = coder.MessageBinary
	}
	return k.c.Write(ctx, t, data)
}

func (k *coderConn) read(ctx context.Context) (msgType, []byte, error) {
	t, data, err := k.c.Read(ctx)
	if err != nil {
		return 0, nil, err
	}
	if t == coder.MessageBinary {
		return binaryMsg, data, nil
	}
	return textMsg, data, nil
}

// ping: coder's Ping picks its own payload and waits for the pong that
// matches it, which only a concurrent Read takes in. Messages sent after
// the ping give such Reads something to return; the ping goroutine may
// send its ping late, so this goes on until Ping returns.
func (k *coderConn) ping(ctx context.Context, payload []byte) error {
	done := make(chan error, 1)
	go func() { done <- k.c.Ping(ctx) }()
	for {
		if err := k.write(ctx, textMsg, []byte("after-ping")); err != nil {
			return err
		}
		if err := expectMsg(ctx, k, textMsg, []byte("after-ping")); err != nil {
			return fmt.Errorf("message after the ping: %w", err)
		}
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("no pong: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// closeWith: coder's Close sends the close frame and waits for the
// server's; it returns nil only when that has the same code.
func (k *coderConn) closeWith(ctx context.Context, code int, reason string) (closeFrame, error) {
	err := k.c.Close(coder.StatusCode(code), reason)
	if err == nil {
		return closeFrame{Code: code, Reason: "(not told by coder/websocket)"}, nil
	}
	var ce coder.CloseError
	if errors.As(err, &ce) {
		return closeFrame{Code: int(ce.Code), Reason: ce.Reason}, nil
	}
	return closeFrame{}, err
}

// readClose: coder answers a close frame inside Read, with its code.
func (k *coderConn) readClose(ctx context.Context) (closeFrame, error) {
	t, data, err := k.c.Read(ctx)
	if err == nil {
		return closeFrame{}, fmt.Errorf("got a %v message of %d bytes instead of a close frame", t, len(data))
	}
	var ce coder.CloseError
	if errors.As(err, &ce) {
		return closeFrame{Code: int(ce.Code), Reason: ce.Reason}, nil
	}
	return closeFrame{}, fmt.Errorf("waiting for a close frame: %w", err)
}

func (k *coderConn) abort() { k.c.CloseNow() }
