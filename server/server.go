package server

import (
	"cmp"
	"compress/flate"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/poller"
)

// Message types, as the opcodes of RFC 6455.
const (
	Text   = ws.OpText
	Binary = ws.OpBinary
)

// Defaults for the zero values of Server's fields.
const (
	DefaultAddr             = "127.0.0.1:9001"
	DefaultMaxMessageSize   = 16 << 20
	DefaultMaxPendingBytes  = 4 << 20
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
	DefaultMaxHeaderBytes   = 16 << 10
	DefaultReadTimeout      = 30 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultPingTimeout      = 15 * time.Second
	DefaultCompressionLevel = flate.BestSpeed
	// DefaultCompressionThreshold is the smallest message compressed:
	// shorter ones barely shrink and cost as much CPU.
	DefaultCompressionThreshold = 128
)

// Message is a complete text or binary message from a client.
type Message struct {
	// Op is Text or Binary.
	Op ws.OpCode
	// Data is the payload. It is only valid until the callback returns:
	// copy it to keep it. Text messages are valid UTF-8.
	Data []byte
}

// Request is what Authenticate sees of a client's opening handshake.
type Request struct {
	// URI is the request target as sent, e.g. "/chat?room=1".
	URI string
	// Path and Query are URI split and decoded.
	Path  string
	Query url.Values
	// Host is the Host header.
	Host string
	// Header holds every header except the handshake's own
	// (Host, Upgrade, Connection, Sec-WebSocket-*).
	Header http.Header
	// RemoteAddr is the client's address.
	RemoteAddr net.Addr
}

// A Server accepts WebSocket clients and calls its callbacks as they join,
// send and leave. The zero value listens on DefaultAddr with every limit at
// its default. Fields must be set before Serve is called and not changed
// afterwards.
//
// Each callback runs on one of a small pool of worker goroutines. For one
// client, OnNewClient comes before any OnMessage, messages come in order and
// never two at once, and OnClientLeft comes exactly once and last. Callbacks
// of different clients run in parallel. A callback that blocks holds up a
// worker and with it other clients: hand long work to another goroutine.
// A panic in a callback is recovered and logged, and closes only the client
// it was called for (close code 1011).
type Server struct {
	// Addr is "host:port" for ListenAndServe. An empty host means
	// 127.0.0.1, as in python-websocket-server: ask for 0.0.0.0 to accept
	// clients from other machines. Empty Addr means DefaultAddr.
	Addr string

	// OnNewClient is called when a client has completed the handshake,
	// before any of its messages.
	OnNewClient func(c *Client)
	// OnClientLeft is called once when a client is gone, whatever the
	// cause; err tells it: a *CloseError for a close frame from the
	// client, a *wsproto.Error for a protocol violation, ErrSlowConsumer,
	// ErrCloseTimeout, ErrServerClosed, nil after a close the server
	// started and the client answered, or an error wrapping
	// ErrConnectionLost.
	OnClientLeft func(c *Client, err error)
	// OnMessage is called for every complete message from a client.
	OnMessage func(c *Client, m Message)
	// Authenticate, if set, is called during the handshake, once the
	// request passed every other check and before the upgrade is answered.
	// A non-nil error refuses the client: a *RejectError (see Reject) with
	// its status, any other error with 403 Forbidden. It runs on a
	// goroutine of its own, not on a worker, so it may block (to ask a
	// database, say) for up to HandshakeTimeout; calls for different
	// clients run in parallel. r.RemoteAddr is the client's real address
	// (see ProxyProtocol and TrustedProxies).
	Authenticate func(r *Request) error

	// Handler, if set, serves plain HTTP requests (those without an
	// Upgrade: websocket header) that arrive on the same port, e.g. a page
	// and a health check. Without it they get 400 Bad Request.
	Handler http.Handler

	// Logger receives the server's log. Nil means a text logger on
	// standard error at LogLevel.
	Logger *slog.Logger
	// LogLevel is the level of the default logger; nil means slog.LevelWarn.
	LogLevel slog.Leveler

	// Workers is the number of goroutines that read, decode and call
	// callbacks. Zero means runtime.GOMAXPROCS(0).
	Workers int
	// MaxMessageSize is the largest message accepted, in bytes; a larger
	// one closes the client with 1009. Zero means DefaultMaxMessageSize.
	MaxMessageSize int64
	// MaxPendingBytes caps the output queued for one client and not yet
	// taken by its socket. A client past it is disconnected with close
	// code 1008 and ErrSlowConsumer; one message into an empty queue is
	// always taken, whatever its size. Reading from a client pauses while
	// its output queue is over half of this. Zero means
	// DefaultMaxPendingBytes.
	MaxPendingBytes int
	// HandshakeTimeout bounds the time from accept to the end of the
	// handshake. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the wait for a client's close frame after the
	// server sent one. Zero means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// DrainDelay is how long Drain waits, once the server reports not
	// ready, before it closes the first client: time for load balancers to
	// stop sending clients (with HAProxy, check inter × fall). Zero means
	// no wait.
	DrainDelay time.Duration
	// MaxHeaderBytes caps the size of the handshake request; a larger one
	// gets 431. Zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ReadTimeout bounds the time a client may take to finish a frame, or
	// a fragmented message, once it has started sending it; a client over
	// it gets close code 1008 and ErrReadTimeout. Idle clients between
	// messages are not affected. Zero means DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time a client's queued output may make no
	// progress (the client stopped reading); a client over it is cut off
	// with ErrWriteTimeout. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// PingInterval is how long a client may be silent before the server
	// pings it; PingTimeout is how long it then has to send anything (the
	// pong) before it is cut off with ErrPingTimeout. This finds peers
	// that vanished without closing. Zero means DefaultPingInterval and
	// DefaultPingTimeout; a negative PingInterval turns pings off.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// Compression turns on permessage-deflate (RFC 7692) for clients that
	// offer it. It costs CPU, so it is off by default, as in other
	// servers. Context takeover is off in both directions: no compression
	// state is kept between messages, and an idle client costs the same
	// as without compression. Compressed messages count against
	// MaxMessageSize as they inflate, and one that would pass it is
	// refused with 1009 before it is inflated further.
	Compression bool
	// CompressionLevel is the compress/flate level for outgoing messages;
	// zero means DefaultCompressionLevel (flate.BestSpeed).
	CompressionLevel int
	// CompressionThreshold is the size below which messages are sent
	// uncompressed; zero means DefaultCompressionThreshold.
	CompressionThreshold int

	// ProxyProtocol makes the server expect a PROXY protocol header (v1 or
	// v2, as HAProxy, AWS NLB, GCP and nginx send) before anything else on
	// every connection, and take the client's address from it. It fails
	// closed: a connection without a valid header is closed, and so is one
	// from an address outside TrustedProxies. With TrustedProxies empty,
	// a header is taken from ANY peer: only do that when nothing but your
	// proxies can reach the server's port. The v2 LOCAL command (the
	// proxy's own health checks) is accepted and keeps the peer's address.
	ProxyProtocol bool
	// TrustedProxies lists the networks of the proxies in front of the
	// server. Only connections from them may carry a PROXY protocol header
	// (when ProxyProtocol is set), and only from them are the
	// X-Forwarded-For and Forwarded (RFC 7239) headers believed: the
	// client is the rightmost address in them that is not a trusted
	// proxy. From any other peer those headers are ignored, so a client
	// cannot choose its own address.
	TrustedProxies []netip.Prefix

	// TLSConfig is the TLS configuration for ServeTLS and
	// ListenAndServeTLS, as in net/http: certificates or GetCertificate
	// (which lets certificates rotate without a restart, and lets
	// golang.org/x/crypto/acme/autocert plug in), versions, ciphers.
	TLSConfig *tls.Config

	// Broker, if set, carries BroadcastText, BroadcastBinary, PublishText
	// and PublishBinary to the other instances of the service, and theirs to
	// this server's clients (see Broker for what is guaranteed). Nil means
	// this server alone: publications reach its own clients only.
	Broker Broker

	// AllowedOrigins, if not empty, lists the Origin header values a
	// browser handshake may carry, as path.Match patterns such as
	// "https://example.com" or "https://*.example.com". A handshake with
	// another Origin is refused with 403, which stops cross-site WebSocket
	// hijacking. Requests without an Origin header (non-browser clients)
	// are not affected.
	AllowedOrigins []string

	startOnce sync.Once
	started   atomic.Bool // start succeeded: workers and sweeper run
	startErr  error
	stopOnce  sync.Once
	log       *slog.Logger
	poll      *poller.Poller
	runq      runQueue
	workers   sync.WaitGroup
	bgDone    chan struct{} // closed when the poller and sweeper goroutines have ended

	mu         sync.RWMutex
	table      []*Client    // by descriptor; guarded by mu
	nclients   int          // clients in the table; guarded by mu
	live       atomic.Int64 // clients registered whose OnClientLeft has not returned
	listeners  map[*net.Listener]struct{}
	httpLn     *connListener
	httpSrv    *http.Server
	state      atomic.Int32 // serving, shuttingDown or closed
	denied     atomic.Pointer[RejectError]
	handshakes sync.WaitGroup
	left       chan struct{} // receives a value whenever a client leaves
	tick       atomic.Uint32 // the coarse clock of deadlines, advanced by the sweeper (see ticks)
	nextID     atomic.Uint64
	others     map[*Client]struct{}      // clients without a descriptor of their own; guarded by mu
	lns        map[*Client]*loopListener // listeners the workers accept on; guarded by mu
	noPoller   bool                      // serve every connection with goroutines (tests of that path)

	bcast broadcaster // broadcast logs and shared blocks for fan-out

	roomsMu sync.RWMutex
	rooms   map[string]*room // rooms with members, by name; guarded by roomsMu

	link  atomic.Pointer[brokerLink] // set by start when Broker is set
	drain drainState

	stats serverStats // counts for Stats
}

const (
	serving int32 = iota
	shuttingDown
	closed
)

// ListenAndServe listens on s.Addr and serves until Shutdown or Close, when
// it returns ErrServerClosed. It is python-websocket-server's run_forever.
func (s *Server) ListenAndServe() error {
	addr, err := listenAddr(s.Addr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// listenAddr applies the defaults of Addr: DefaultAddr when empty, and
// 127.0.0.1 when the host is empty.
func listenAddr(addr string) (string, error) {
	if addr == "" {
		return DefaultAddr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", errors.New("server: bad Addr " + addr + ": want host:port")
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Serve accepts connections on ln until Shutdown or Close, when it returns
// ErrServerClosed. Serve may be called for several listeners at once, and
// closes ln when it returns.
//
// On a listener with a socket descriptor (TCP or Unix) connections are
// accepted, read and upgraded by the workers on the event loop, without a
// goroutine. Any other listener works too: its connections get a goroutine
// for their handshake, and then join the event loop if they have a
// descriptor, or keep two goroutines (a reader and a writer) if they have
// none, as on systems without epoll or kqueue.
func (s *Server) Serve(ln net.Listener) error {
	return s.serve(ln, nil)
}

// serve is Serve, with TLS when tlsCfg is not nil.
func (s *Server) serve(ln net.Listener, tlsCfg *tls.Config) error {
	if err := s.start(); err != nil {
		ln.Close()
		return err
	}
	if !s.trackListener(&ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&ln, false)

	if tlsCfg == nil && s.poll != nil {
		l, err := s.listenOnLoop(ln)
		switch {
		case err == nil:
			<-l.done
			return ErrServerClosed
		case errors.Is(err, ErrServerClosed):
			ln.Close()
			return err
		case !errors.Is(err, errNoDescriptor):
			ln.Close()
			return err
		}
	}

	var delay time.Duration // how long to sleep on accept failure
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.state.Load() != serving || s.drain.on.Load() && errors.Is(err, net.ErrClosed) {
				return ErrServerClosed // Drain closes listeners that share their port
			}
			if isTemporary(err) {
				// Out of descriptors or a similar passing failure: back off
				// instead of spinning, and keep serving.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Error("accept failed; retrying", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if !s.beginHandshake() {
			nc.Close()
			return ErrServerClosed
		}
		go s.handshakeConn(nc, tlsCfg)
	}
}

func isTemporary(err error) bool {
	var ne interface{ Temporary() bool }
	if errors.As(err, &ne) && ne.Temporary() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// beginHandshake counts a handshake in, unless the server stopped serving.
// The state only changes with s.mu held, so after a change no new
// handshake can begin and waiting for s.handshakes is safe.
func (s *Server) beginHandshake() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.state.Load() != serving {
		return false
	}
	s.handshakes.Add(1)
	return true
}

// trackListener adds or removes ln from the set Shutdown closes. Adding
// fails once the server is shutting down.
func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, ln)
		return true
	}
	if s.state.Load() != serving {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[*net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return true
}

// start sets up the poller and the workers once.
func (s *Server) start() error {
	s.startOnce.Do(func() {
		s.log = s.Logger
		if s.log == nil {
			level := s.LogLevel
			if level == nil {
				level = slog.LevelWarn
			}
			s.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
		}
		if err := s.checkOptions(); err != nil {
			s.startErr = err
			return
		}
		if err := s.startBroker(); err != nil {
			s.startErr = err
			return
		}
		if !s.noPoller {
			p, err := poller.New()
			switch {
			case err == nil:
				s.poll = p
			case !errors.Is(err, poller.ErrUnsupported):
				s.stopBroker()
				s.startErr = err
				return
			}
		}
		s.left = make(chan struct{}, 1)
		s.bgDone = make(chan struct{})
		s.runq.init()
		s.bcast.job = &Client{srv: s}
		s.tick.Store(1)
		n := s.Workers
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		for i := 0; i < n; i++ {
			s.workers.Add(1)
			go s.work()
		}
		var bg sync.WaitGroup
		if p := s.poll; p != nil {
			bg.Go(func() {
				if err := p.Wait(s.onEvent); err != nil && !errors.Is(err, poller.ErrClosed) {
					s.log.Error("poller stopped", "err", err)
				}
			})
		}
		bg.Add(1)
		go func() {
			defer bg.Done()
			s.sweep()
		}()
		go func() {
			bg.Wait()
			close(s.bgDone)
		}()
		s.started.Store(true)
	})
	return s.startErr
}

// checkOptions rejects settings that cannot work, naming the field.
func (s *Server) checkOptions() error {
	switch {
	case s.Workers < 0:
		return errors.New("server: Workers must not be negative")
	case s.MaxMessageSize < 0:
		return errors.New("server: MaxMessageSize must not be negative")
	case s.MaxPendingBytes < 0:
		return errors.New("server: MaxPendingBytes must not be negative")
	case s.HandshakeTimeout < 0, s.CloseTimeout < 0, s.DrainDelay < 0:
		return errors.New("server: timeouts must not be negative")
	case s.MaxHeaderBytes < 0:
		return errors.New("server: MaxHeaderBytes must not be negative")
	case s.ReadTimeout < 0, s.WriteTimeout < 0, s.PingTimeout < 0:
		return errors.New("server: timeouts must not be negative")
	case s.CompressionLevel < flate.HuffmanOnly || s.CompressionLevel > flate.BestCompression:
		return errors.New("server: CompressionLevel must be a compress/flate level, -2 to 9")
	case s.CompressionThreshold < 0:
		return errors.New("server: CompressionThreshold must not be negative")
	}
	for _, p := range s.TrustedProxies {
		if !p.IsValid() {
			return errors.New("server: TrustedProxies holds an invalid prefix")
		}
	}
	for _, o := range s.AllowedOrigins {
		if _, err := path.Match(o, ""); err != nil {
			return errors.New("server: bad AllowedOrigins pattern " + strconv.Quote(o))
		}
	}
	return nil
}

// The settings with their defaults applied; checkOptions has ruled out
// negative values.

func (s *Server) maxMessageSize() int64 { return cmp.Or(s.MaxMessageSize, DefaultMaxMessageSize) }

func (s *Server) maxPendingBytes() int { return cmp.Or(s.MaxPendingBytes, DefaultMaxPendingBytes) }

func (s *Server) handshakeTimeout() time.Duration {
	return cmp.Or(s.HandshakeTimeout, DefaultHandshakeTimeout)
}

func (s *Server) closeTimeout() time.Duration { return cmp.Or(s.CloseTimeout, DefaultCloseTimeout) }

func (s *Server) readTimeout() time.Duration { return cmp.Or(s.ReadTimeout, DefaultReadTimeout) }

func (s *Server) writeTimeout() time.Duration { return cmp.Or(s.WriteTimeout, DefaultWriteTimeout) }

// pingTimes returns the keepalive interval and timeout; interval 0 means off.
func (s *Server) pingTimes() (interval, timeout time.Duration) {
	interval, timeout = s.PingInterval, s.PingTimeout
	switch {
	case interval < 0:
		return 0, 0
	case interval == 0:
		interval = DefaultPingInterval
	}
	if timeout == 0 {
		timeout = DefaultPingTimeout
	}
	return interval, timeout
}

func (s *Server) compressionLevel() int { return cmp.Or(s.CompressionLevel, DefaultCompressionLevel) }

func (s *Server) compressionThreshold() int {
	return cmp.Or(s.CompressionThreshold, DefaultCompressionThreshold)
}

func (s *Server) maxHeaderBytes() int { return cmp.Or(s.MaxHeaderBytes, DefaultMaxHeaderBytes) }

// Clients returns a snapshot of the connected clients, in no particular
// order.
func (s *Server) Clients() []*Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := make([]*Client, 0, s.nclients)
	s.eachClientLocked(func(c *Client) {
		if c.listed {
			list = append(list, c)
		}
	})
	return list
}

// eachClientLocked calls fn for every client, upgraded or not. s.mu must
// be held.
func (s *Server) eachClientLocked(fn func(c *Client)) {
	for _, c := range s.table {
		if c != nil && !c.isListener {
			fn(c)
		}
	}
	for c := range s.others {
		fn(c)
	}
}

// allClients returns every client, upgraded or still in its handshake.
func (s *Server) allClients() []*Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var list []*Client
	s.eachClientLocked(func(c *Client) { list = append(list, c) })
	return list
}

// Len returns the number of connected clients.
func (s *Server) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nclients
}

// BroadcastText sends a text message to every connected client, and
// through the Broker, if set, to the clients of every instance. The frame
// is encoded once (and compressed at most once per compression mode) and
// its bytes are shared by every client's queue.
// Clients over their output limit are disconnected as by Send.
func (s *Server) BroadcastText(msg string) {
	s.broadcast(Text, stringBytes(msg))
	s.forward("", Text, stringBytes(msg))
}

// BroadcastBinary sends a binary message to every connected client, like
// BroadcastText. data may be reused once it returns.
func (s *Server) BroadcastBinary(data []byte) {
	s.broadcast(Binary, data)
	s.forward("", Binary, data)
}

// DenyNewConnections makes the server refuse new handshakes with the given
// HTTP status (503 Service Unavailable when 0) and reason, until
// AllowNewConnections. Connected clients are not affected.
func (s *Server) DenyNewConnections(status int, reason string) {
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	s.denied.Store(&RejectError{Status: status, Reason: reason})
}

// AllowNewConnections undoes DenyNewConnections.
func (s *Server) AllowNewConnections() {
	s.denied.Store(nil)
}

// Shutdown stops the server gracefully: it stops accepting, sends every
// client its queued output followed by a close frame with code 1001 (going
// away), and waits until every client has answered or gone and
// OnClientLeft has run for each, or until ctx is done. Handshakes under way
// are answered 503. Then it releases everything as Close does. It returns
// ctx's error if ctx ended first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.state.Load() != serving {
		s.mu.Unlock()
		return s.Close()
	}
	s.state.Store(shuttingDown)
	lns := s.closeListenersLocked()
	s.mu.Unlock()
	s.releaseListeners(lns)
	// Handshakes under way on goroutines finish (a client that completes
	// one now is closed with 1001 like the rest) or time out, unless ctx
	// ends first.
	handshakesDone := make(chan struct{})
	go func() {
		s.handshakes.Wait()
		close(handshakesDone)
	}()
	select {
	case <-handshakesDone:
	case <-ctx.Done():
	}
	if h := s.httpServer(); h != nil {
		h.Shutdown(ctx)
	}
	if !s.started.Load() { // never served
		s.state.Store(closed)
		return nil
	}
	for _, c := range s.Clients() {
		c.Close(ws.StatusGoingAway, "server shutting down")
	}
	var err error
	for s.live.Load() > 0 && err == nil {
		select {
		case <-s.left:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	s.stop()
	return err
}

// Close stops the server at once: listeners and every client connection
// are closed without a close handshake, and OnClientLeft runs for each
// client with ErrServerClosed before Close returns. For a graceful stop use
// Shutdown.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.state.Swap(closed) == closed && !s.started.Load() {
		s.mu.Unlock()
		return nil
	}
	lns := s.closeListenersLocked()
	s.mu.Unlock()
	s.releaseListeners(lns)
	s.handshakes.Wait()
	if h := s.httpServer(); h != nil {
		h.Close()
	}
	if !s.started.Load() {
		return nil
	}
	s.stop()
	return nil
}

// stop ends every remaining client, then the workers, the poller and the
// sweeper.
func (s *Server) stop() {
	s.stopOnce.Do(s.stopNow)
}

func (s *Server) stopNow() {
	s.mu.Lock()
	s.state.Store(closed)
	s.mu.Unlock()
	for _, c := range s.allClients() {
		c.kill(ErrServerClosed)
	}
	for s.live.Load() > 0 {
		<-s.left
	}
	s.runq.close()
	s.workers.Wait()
	s.stopBroker()
	if s.poll != nil {
		s.poll.Close()
	}
	<-s.bgDone
}

func (s *Server) httpServer() *http.Server {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.httpSrv
}

// closeListenersLocked closes every listener Serve is using and returns
// those the workers accept on, for releaseListeners once s.mu is released.
// s.mu must be held.
func (s *Server) closeListenersLocked() []*loopListener {
	for ln := range s.listeners {
		(*ln).Close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	var lns []*loopListener
	for _, l := range s.lns {
		lns = append(lns, l)
		s.removeLoopListenerLocked(l)
	}
	return lns
}

// releaseListeners closes the descriptors of listeners taken out by
// closeListenersLocked.
func (s *Server) releaseListeners(lns []*loopListener) {
	for _, l := range lns {
		l.release(s.poll)
	}
}

// setTableLocked puts c (or nil) at fd in the table, growing it as
// needed. s.mu must be held.
func (s *Server) setTableLocked(fd int, c *Client) {
	if fd >= len(s.table) {
		if c == nil {
			return
		}
		n := max(2*len(s.table), 1024)
		for n <= fd {
			n *= 2
		}
		t := make([]*Client, n)
		copy(t, s.table)
		s.table = t
	}
	s.table[fd] = c
}

// register adds a client to the server and schedules its first turn: a
// client in its handshake reads its request; an upgraded one gets
// OnNewClient and the write of its 101. A client with a descriptor goes in
// the table and the poller; one with a goroutine-driven transport in
// others. On an error the client was not added and its connection is the
// caller's.
func (s *Server) register(c *Client) error {
	fd := int(c.fd)
	// Marked scheduled before anyone can see it: an event that arrives
	// before it is queued below only adds a reason, so OnNewClient still
	// comes first, and no worker can end it (and close or reuse its
	// descriptor) before the poller has it.
	c.sched = true
	open := c.state == stOpen
	s.mu.Lock()
	if s.state.Load() == closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if fd >= 0 {
		s.setTableLocked(fd, c)
	} else {
		if s.others == nil {
			s.others = make(map[*Client]struct{})
		}
		s.others[c] = struct{}{}
	}
	c.lastSeen.Store(s.now())
	if open {
		c.listed = true
		s.nclients++
		s.joinLog(c)
		s.stats.upgrades.Add(1)
	}
	shutting := s.state.Load() == shuttingDown
	s.mu.Unlock()

	if fd >= 0 {
		if err := s.poll.Add(fd); err != nil {
			s.log.Error("cannot watch client socket", "client", c.id, "err", err)
			s.forget(c)
			return err // the connection is the caller's to close
		}
	}
	s.live.Add(1)
	c.mu.Lock()
	switch {
	case open:
		c.reasons |= needOpen | needRead | needFlush // the 101 is queued
		s.runq.push(c)
	case fd < 0 || c.reasons != 0:
		c.reasons |= needRead
		s.runq.push(c)
	default:
		// A new connection's request is usually not there yet: the
		// poller says when it is (registering reports bytes that came
		// before), which saves a read that would find nothing.
		c.sched = false
	}
	c.mu.Unlock()
	if shutting && open {
		c.Close(ws.StatusGoingAway, "server shutting down")
	}
	return nil
}

// list counts a client that just upgraded among the connected ones.
func (s *Server) list(c *Client) {
	s.mu.Lock()
	c.listed = true
	s.nclients++
	s.joinLog(c)
	s.stats.upgrades.Add(1)
	s.mu.Unlock()
}

// unregister counts a finished client out after its OnClientLeft;
// unregisterFD has already taken it out of the table.
func (s *Server) unregister(c *Client) {
	s.live.Add(-1)
	select {
	case s.left <- struct{}{}:
	default:
	}
}

// lookup returns the client registered on fd, or nil.
func (s *Server) lookup(fd int) *Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if fd < len(s.table) {
		return s.table[fd]
	}
	return nil
}

// onEvent runs on the poller goroutine for each readiness event.
func (s *Server) onEvent(fd int, ev poller.Event) {
	c := s.lookup(fd)
	if c == nil {
		return
	}
	c.mu.Lock()
	var r uint8
	if ev&poller.Readable != 0 {
		r |= needRead
	}
	if ev&poller.Hangup != 0 {
		r |= needHangup
	}
	if ev&poller.Writable != 0 && c.writeBlocked {
		r |= needFlush
	}
	if r != 0 {
		c.scheduleLocked(r)
	}
	c.mu.Unlock()
}

// sweepInterval is how often the sweeper ticks the coarse clock and looks
// for clients past a deadline.
const sweepInterval = 100 * time.Millisecond

// sweep keeps the coarse clock and enforces the timeouts: unanswered close
// frames, unfinished frames, stuck output and silent clients, until the
// server stops.
func (s *Server) sweep() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.bgStop():
			return
		case <-t.C:
			s.sweepOnce(s.tick.Add(1))
		}
	}
}

// Deadlines are kept in ticks, sweepIntervals since the server started,
// counted from 1 so that 0 can mean "none": 32 bits last 13 years, and an
// idle client's five timestamps take 20 bytes instead of 40. A deadline
// has passed when the tick is past it, so a timeout never ends early and
// ends at most one sweepInterval late, as the sweeper only looks that often.

// now is the current tick.
func (s *Server) now() uint32 { return s.tick.Load() }

// deadline is the tick by which d will have passed.
func (s *Server) deadline(d time.Duration) uint32 { return s.now() + ticksOf(d) }

// ticksOf is d in ticks, rounded up, at least 1.
func ticksOf(d time.Duration) uint32 {
	return uint32(max(1, (d+sweepInterval-1)/sweepInterval))
}

func (s *Server) sweepOnce(now uint32) {
	writeTimeout := ticksOf(s.writeTimeout())
	interval, timeout := s.pingTimes()
	pingInterval, pingTimeout := ticksOf(interval), ticksOf(timeout)
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.eachClientLocked(func(c *Client) {
		if d := c.closeDeadline.Load(); d != 0 && now > d {
			c.kill(ErrCloseTimeout)
			return
		}
		if d := c.readDeadline.Load(); d != 0 && now > d {
			c.abort(ErrReadTimeout)
			return
		}
		if since := c.writeStall.Load(); since != 0 && now-since > writeTimeout {
			c.abort(ErrWriteTimeout)
			return
		}
		if interval > 0 && c.listed {
			silent := now - c.lastSeen.Load()
			switch {
			case silent > pingInterval+pingTimeout:
				c.kill(ErrPingTimeout)
			case silent > pingInterval && c.pingedAt.Load() <= c.lastSeen.Load():
				c.pingedAt.Store(now)
				c.ping()
			}
		}
	})
}

// bgStop is closed once the run queue is closed, which is when the
// background goroutines must end.
func (s *Server) bgStop() <-chan struct{} { return s.runq.done }
