package conform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Timeouts of the client itself (Autobahn's closeHandshakeTimeout and
// serverConnectionDropTimeout), scaled by Target.TimeScale.
const (
	closeHandshakeTimeout       = time.Second
	serverConnectionDropTimeout = time.Second
)

// chopPause separates chopped writes so that they reach the server as
// separate TCP segments; frames chopped into more than maxPacedChops pieces
// are only written with separate write calls.
const (
	chopPause     = 200 * time.Microsecond
	maxPacedChops = 256
)

type connState int

const (
	stateOpen connState = iota
	stateClosing
	stateClosed
)

// event is something the server did that a case records: a message, a ping
// or a pong. Cases also record their own timeouts ("timeout" events) to
// express when the server should have reacted.
type event struct {
	Kind   string // "message", "ping", "pong" or "timeout"
	Data   []byte // payload, or the timeout tag
	Binary bool   // for messages: binary (true) or text
}

func textMessage(p []byte) event   { return event{Kind: "message", Data: p} }
func binaryMessage(p []byte) event { return event{Kind: "message", Data: p, Binary: true} }
func pongEvent(p []byte) event     { return event{Kind: "pong", Data: p} }
func timeoutEvent(tag string) event {
	return event{Kind: "timeout", Data: []byte(tag)}
}

func (e event) equal(o event) bool {
	return e.Kind == o.Kind && e.Binary == o.Binary && bytes.Equal(e.Data, o.Data)
}

func (e event) String() string {
	switch e.Kind {
	case "timeout":
		return "timeout " + string(e.Data)
	case "message":
		kind := "text"
		if e.Binary {
			kind = "binary"
		}
		return fmt.Sprintf("%s message %s", kind, preview(e.Data))
	}
	return e.Kind + " " + preview(e.Data)
}

func preview(p []byte) string {
	const max = 16
	s := p
	if len(s) > max {
		s = s[:max]
	}
	out := fmt.Sprintf("%d octets", len(p))
	if len(p) == 0 {
		return out
	}
	if utf8.Valid(s) && bytes.IndexFunc(s, func(r rune) bool { return r < 0x20 }) < 0 {
		out += fmt.Sprintf(" %q", s)
	} else {
		out += fmt.Sprintf(" %x", s)
	}
	if len(p) > max {
		out += "..."
	}
	return out
}

func eventsEqual(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

func eventsString(ev []event) string {
	s := make([]string, len(ev))
	for i, e := range ev {
		s[i] = e.String()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// closeExpectation is Autobahn's expectedClose.
type closeExpectation struct {
	// closedByMe: the client is the one to start the closing handshake.
	closedByMe bool
	// codes the server may close with (or send a close without code).
	codes []int
	// requireClean: the closing handshake must complete and the server
	// must drop the TCP connection.
	requireClean bool
	// wrongEndpointFatal: if the wrong side closed, the case FAILED (the
	// server did not notice the problem at all).
	wrongEndpointFatal bool
}

type expectation struct {
	verdict Verdict
	events  []event
}

// outcome is the raw verdict of a finished session; cases may adjust it
// in session.onLost, the way Autobahn cases override onConnectionLost.
type outcome struct {
	behavior      string
	behaviorClose string
	result        string
	resultClose   string
}

// session is one WebSocket connection a case runs its script on. Its
// methods mirror the Autobahn fuzzing protocol: sendFrame, sendMessage,
// sendClose, killAfter, closeAfter, continueLater.
type session struct {
	t      *Target
	ctx    context.Context
	conn   net.Conn // the WebSocket's bytes: raw, or TLS over raw for wss://
	raw    net.Conn // the TCP connection
	br     *bufio.Reader
	pmd    *deflater
	opened time.Time
	done   chan struct{}

	wmu sync.Mutex // serializes socket writes

	mu       sync.Mutex
	state    connState
	pending  []byte // frames written since the last flush: one chop
	timers   []*time.Timer
	deadline time.Time // latest timer deadline

	// what the case expects
	expected      []expectation
	expClose      closeExpectation
	suppressClose bool
	// behavior and result are the verdict used when no expectation is
	// given (cases that judge messages themselves).
	behavior string
	result   string
	// onMessage, when set, replaces the recording of messages.
	onMessage func(payload []byte, binary bool)
	// onLost adjusts the outcome when the connection is gone.
	onLost func(o *outcome)
	// autoFragment splits messages sent with sendMessage into frames of
	// this size (Autobahn's autoFragmentSize).
	autoFragment int

	// what happened
	received        []event
	closedByMe      bool
	failedByMe      bool
	droppedByMe     bool
	wasClean        bool
	notCleanReason  string
	gotClose        bool
	remoteCode      int // Autobahn's remoteCloseCode: 0 = none
	rawRemoteCode   int // on the wire: 0 none, -1 empty close payload
	serverClosedTCP bool
	closedAt        time.Time
	txFrames        [16]int

	// incoming message being assembled
	inMsg        bool
	inOp         byte
	inCompressed bool
	inBuf        []byte
	inUTF8Off    int

	trace      []string
	traceExtra int
}

func newSession(ctx context.Context, t *Target, conn, raw net.Conn, br *bufio.Reader, pmd *deflater) *session {
	s := &session{
		t:        t,
		ctx:      ctx,
		conn:     conn,
		raw:      raw,
		br:       br,
		pmd:      pmd,
		opened:   time.Now(),
		done:     make(chan struct{}),
		behavior: string(Failed),
		result:   "Actual events differ from any expected.",
	}
	if pmd != nil {
		s.tracef("handshake: %s", pmd.params)
	}
	go s.readLoop()
	return s
}

const maxTrace = 80

// tracef appends to the wire log; s.mu must be held (or the session not yet
// shared).
func (s *session) tracef(format string, args ...any) {
	if len(s.trace) >= maxTrace {
		s.traceExtra++
		return
	}
	ms := float64(time.Since(s.opened).Microseconds()) / 1000
	s.trace = append(s.trace, fmt.Sprintf("%+9.1fms ", ms)+fmt.Sprintf(format, args...))
}

// --- expectations -----------------------------------------------------

// expect adds an acceptable sequence of events and the verdict it earns.
func (s *session) expect(v Verdict, events ...event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if events == nil {
		events = []event{}
	}
	s.expected = append(s.expected, expectation{verdict: v, events: events})
}

// expectClose sets how the connection is expected to end.
func (s *session) expectClose(c closeExpectation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expClose = c
}

// setBehavior sets the verdict for cases that judge messages themselves.
func (s *session) setBehavior(v Verdict, result string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behavior = string(v)
	s.result = result
}

// record appends an event of the case itself (a timeout marker).
func (s *session) record(e event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, e)
	s.tracef("case: %s", e)
}

// deflate reports whether permessage-deflate was negotiated.
func (s *session) deflate() bool { return s.pmd != nil }

// --- sending ----------------------------------------------------------

// send sends one frame. Frames sent back to back go out in one write (one
// "chop"), unless the frame asks for sync or chop writes.
func (s *session) send(f frame) {
	b := f.encode()
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	s.txFrames[f.op&0xF]++
	n := len(f.payload)
	if f.length > 0 {
		n = f.length
	}
	how := ""
	switch {
	case f.chop > 0:
		how = fmt.Sprintf(" in chops of %d", f.chop)
	case f.sync:
		how = " (sync)"
	}
	s.tracef("tx %s fin=%t rsv=%d len=%d%s", opName(f.op), !f.more, f.rsv, n, how)
	if f.chop == 0 && !f.sync {
		s.pending = append(s.pending, b...)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	chop := f.chop
	if chop == 0 {
		chop = len(b)
	}
	s.writeChopped(b, chop)
}

// sendMessage sends a message the way Autobahn's sendMessage does:
// compressed when permessage-deflate is in use, split into frames of
// fragSize (or autoFragment) octets when it is longer than that.
func (s *session) sendMessage(p []byte, binary bool, fragSize int) {
	op := opText
	if binary {
		op = opBinary
	}
	var rsv byte
	if s.pmd != nil {
		s.mu.Lock()
		p = s.pmd.compress(p)
		s.mu.Unlock()
		rsv = 4
	}
	if fragSize <= 0 {
		fragSize = s.autoFragment
	}
	if fragSize <= 0 || len(p) <= fragSize {
		s.send(frame{op: op, payload: p, rsv: rsv})
		return
	}
	for i := 0; i < len(p); i += fragSize {
		j := min(i+fragSize, len(p))
		f := frame{op: opCont, payload: p[i:j], more: j < len(p)}
		if i == 0 {
			f.op, f.rsv = op, rsv
		}
		s.send(f)
	}
}

// sendRaw queues octets as they are (parts of a frame built with
// encodeFrame), flushing them at once.
func (s *session) sendRaw(b []byte, what string) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	s.tracef("tx %d octets: %s", len(b), what)
	s.pending = append(s.pending, b...)
	s.mu.Unlock()
	s.flush()
}

// sendClose sends a close frame with the code (noCode: none) and reason and
// starts the closing handshake, if the connection is still open.
func (s *session) sendClose(code int, reason []byte) {
	s.mu.Lock()
	s.sendCloseLocked(code, reason, false)
	s.mu.Unlock()
	s.flush()
}

func (s *session) sendCloseLocked(code int, reason []byte, isReply bool) {
	if s.state != stateOpen {
		return
	}
	s.pending = append(s.pending, encodeFrame(opClose, true, 0, closePayload(code, reason))...)
	s.txFrames[opClose]++
	s.state = stateClosing
	s.closedByMe = !isReply
	if code == noCode {
		s.tracef("tx close (no code) reply=%t", isReply)
	} else {
		s.tracef("tx close code=%d reason=%s reply=%t", code, preview(reason), isReply)
	}
	if s.closedByMe {
		s.afterLocked(s.t.d(closeHandshakeTimeout), func() {
			s.mu.Lock()
			if s.state != stateClosed {
				s.wasClean = false
				s.notCleanReason = "closing handshake timeout (the server did not answer our close in time)"
				s.dropLocked()
			}
			s.mu.Unlock()
		})
	}
}

// flush writes the queued frames.
func (s *session) flush() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.flushLocked()
}

// flushSoon writes the queued frames without blocking the caller if another
// write is under way: the reader must keep reading while the script is
// stuck writing to a server that is itself stuck writing to us.
func (s *session) flushSoon() {
	if !s.wmu.TryLock() {
		go s.flush()
		return
	}
	defer s.wmu.Unlock()
	s.flushLocked()
}

// flushLocked writes the queued frames; s.wmu must be held.
func (s *session) flushLocked() {
	s.mu.Lock()
	b := s.pending
	s.pending = nil
	closed := s.state == stateClosed
	s.mu.Unlock()
	if closed || len(b) == 0 {
		return
	}
	s.write(b)
}

func (s *session) write(b []byte) bool {
	if _, err := s.conn.Write(b); err != nil {
		s.mu.Lock()
		if s.state != stateClosed {
			s.tracef("write error: %v", err)
		}
		s.mu.Unlock()
		return false
	}
	return true
}

// writeChopped writes b in pieces of chop octets, each with its own write
// call, with a short pause in between.
func (s *session) writeChopped(b []byte, chop int) {
	s.flush()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	pause := chopPause
	if (len(b)+chop-1)/chop > maxPacedChops {
		pause = 0
	}
	for i := 0; i < len(b); i += chop {
		if s.closed() {
			return
		}
		if !s.write(b[i:min(i+chop, len(b))]) {
			return
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

// --- timers -----------------------------------------------------------

// afterLocked runs fn after d; s.mu must be held.
func (s *session) afterLocked(d time.Duration, fn func()) {
	if dl := time.Now().Add(d); dl.After(s.deadline) {
		s.deadline = dl
	}
	s.timers = append(s.timers, time.AfterFunc(d, func() {
		fn()
		s.flush()
	}))
}

// killAfter fails the connection after sec seconds (scaled) if it is still
// there: Autobahn's killAfter.
func (s *session) killAfter(sec float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracef("case: kill after %gs", sec)
	s.afterLocked(s.t.d(seconds(sec)), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state != stateClosed {
			s.tracef("case: kill")
			s.failLocked(closeGoingAway, "going away")
		}
	})
}

// closeAfter starts the closing handshake after sec seconds (scaled) if the
// connection is still open: Autobahn's closeAfter.
func (s *session) closeAfter(sec float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracef("case: close after %gs", sec)
	s.afterLocked(s.t.d(seconds(sec)), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state == stateOpen {
			s.tracef("case: close timer")
		}
		s.sendCloseLocked(noCode, nil, false)
	})
}

// sleep sends what is queued and waits sec seconds (scaled), or less if the
// connection ends: the pause of Autobahn's continueLater.
func (s *session) sleep(sec float64) {
	s.flush()
	tm := time.NewTimer(s.t.d(seconds(sec)))
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-s.done:
	case <-s.ctx.Done():
	}
}

// isOpen reports whether neither side has started the closing handshake.
func (s *session) isOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateOpen
}

// closed reports whether the TCP connection is gone.
func (s *session) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateClosed
}

// --- failing and dropping -----------------------------------------------

// failLocked fails the WebSocket connection: start the closing handshake
// with code, or drop the TCP connection if closing already.
func (s *session) failLocked(code int, reason string) {
	if s.state == stateClosed {
		return
	}
	s.failedByMe = true
	if s.state == stateOpen {
		s.sendCloseLocked(code, []byte(reason), false)
		return
	}
	s.dropLocked()
}

// dropLocked closes the TCP connection from the client side.
func (s *session) dropLocked() {
	if s.state == stateClosed {
		return
	}
	s.droppedByMe = true
	s.state = stateClosed
	s.closedAt = time.Now()
	s.tracef("client drops TCP connection")
	// Straight on the TCP connection: a drop sends no TLS close_notify.
	if tc, ok := s.raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = s.raw.Close()
}

// --- receiving --------------------------------------------------------

func (s *session) readLoop() {
	defer close(s.done)
	for {
		f, err := readFrame(s.br)
		if err != nil {
			s.mu.Lock()
			if s.state != stateClosed {
				s.state = stateClosed
				s.serverClosedTCP = true
				s.closedAt = time.Now()
				if err == errFrameTooLarge {
					s.tracef("server frame too large, client drops TCP connection")
					s.droppedByMe = true
				} else {
					s.tracef("server closed TCP connection (%v)", err)
				}
				if !s.wasClean && s.notCleanReason == "" {
					s.notCleanReason = "the server dropped the TCP connection without closing handshake"
				}
			}
			s.mu.Unlock()
			_ = s.raw.Close()
			return
		}
		s.handleFrame(f)
		s.flushSoon()
	}
}

func (s *session) protocolViolationLocked(why string) {
	s.tracef("protocol violation by server: %s", why)
	s.failLocked(closeProtocolError, why)
}

func (s *session) invalidPayloadLocked(why string) {
	s.tracef("invalid payload from server: %s", why)
	s.failLocked(closeInvalidPayload, why)
}

func (s *session) handleFrame(f rxFrame) {
	s.mu.Lock()
	if s.state == stateClosed || s.gotClose {
		s.mu.Unlock()
		return
	}
	s.tracef("rx %s fin=%t rsv=%d len=%d", opName(f.op), f.fin, f.rsv, len(f.payload))

	isData := f.op <= opBinary
	rsvOK := f.rsv == 0 || (s.pmd != nil && f.rsv == 4 && (f.op == opText || f.op == opBinary))
	switch {
	case f.masked:
		s.protocolViolationLocked("masked server frame")
	case !rsvOK:
		s.protocolViolationLocked(fmt.Sprintf("RSV=%d without an extension for it", f.rsv))
	case (f.op > opBinary && f.op < opClose) || f.op > opPong:
		s.protocolViolationLocked(fmt.Sprintf("reserved opcode %d", f.op))
	case !isData && !f.fin:
		s.protocolViolationLocked("fragmented control frame")
	case !isData && len(f.payload) > 125:
		s.protocolViolationLocked("control frame payload > 125 octets")
	case f.op == opCont && !s.inMsg:
		s.protocolViolationLocked("continuation frame outside a message")
	case (f.op == opText || f.op == opBinary) && s.inMsg:
		s.protocolViolationLocked("new data frame inside a fragmented message")
	case isData:
		s.dataFrameLocked(f) // unlocks
		return
	case f.op == opPing:
		s.received = append(s.received, event{Kind: "ping", Data: f.payload})
		s.finishWhenDoneLocked()
		if s.state == stateOpen {
			s.pending = append(s.pending, encodeFrame(opPong, true, 0, f.payload)...)
		}
	case f.op == opPong:
		s.received = append(s.received, pongEvent(f.payload))
		s.finishWhenDoneLocked()
	case f.op == opClose:
		s.closeFrameLocked(f.payload)
	}
	s.mu.Unlock()
}

// dataFrameLocked assembles messages; it releases s.mu.
func (s *session) dataFrameLocked(f rxFrame) {
	if f.op != opCont {
		s.inMsg, s.inOp, s.inCompressed = true, f.op, f.rsv == 4
		s.inBuf, s.inUTF8Off = nil, 0
	}
	s.inBuf = append(s.inBuf, f.payload...)
	if s.inOp == opText && !s.inCompressed {
		// Fail fast, as Autobahn's incremental validator does.
		if !utf8Prefix(s.inBuf[s.inUTF8Off:]) {
			s.inMsg = false
			s.invalidPayloadLocked("text message is not valid UTF-8")
			s.mu.Unlock()
			return
		}
		s.inUTF8Off = len(s.inBuf) - incompleteTail(s.inBuf)
	}
	if !f.fin {
		s.mu.Unlock()
		return
	}
	payload, binary := s.inBuf, s.inOp == opBinary
	s.inMsg, s.inBuf = false, nil
	if s.inCompressed {
		p, err := s.pmd.decompress(payload)
		if err != nil {
			s.protocolViolationLocked("cannot inflate message: " + err.Error())
			s.mu.Unlock()
			return
		}
		payload = p
	}
	if !binary && !utf8.Valid(payload) {
		s.invalidPayloadLocked("text message is not valid UTF-8")
		s.mu.Unlock()
		return
	}
	s.tracef("rx message %s", event{Kind: "message", Data: payload, Binary: binary})
	if h := s.onMessage; h != nil {
		s.mu.Unlock()
		h(payload, binary)
		return
	}
	s.received = append(s.received, event{Kind: "message", Data: payload, Binary: binary})
	s.finishWhenDoneLocked()
	s.mu.Unlock()
}

// incompleteTail returns how many octets at the end of b form the start of
// a code point that is not complete yet.
func incompleteTail(b []byte) int {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 {
			need := 2
			switch {
			case c >= 0xF0:
				need = 4
			case c >= 0xE0:
				need = 3
			}
			if need > i {
				return i
			}
			return 0
		}
	}
	return 0
}

// validReceivedCloseCode is Autobahn's rule for close codes a peer may send.
func validReceivedCloseCode(code int) bool {
	switch {
	case code < 1000 || code >= 5000:
		return false
	case code >= 3000:
		return true
	}
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013:
		return true
	}
	return false
}

func (s *session) closeFrameLocked(p []byte) {
	s.remoteCode = 0
	switch {
	case len(p) == 0:
		s.rawRemoteCode = -1
	case len(p) == 1:
		s.rawRemoteCode = -1
		s.protocolViolationLocked("close frame payload of 1 octet")
		return
	default:
		code := int(binary.BigEndian.Uint16(p))
		s.rawRemoteCode = code
		s.remoteCode = code
		if !validReceivedCloseCode(code) {
			s.protocolViolationLocked(fmt.Sprintf("invalid close code %d", code))
			s.remoteCode = closeNormal
		}
		if !utf8.Valid(p[2:]) {
			s.invalidPayloadLocked("close reason is not valid UTF-8")
		}
	}
	s.gotClose = true
	switch s.state {
	case stateClosing:
		// The server's answer to our close.
		s.wasClean = true
	case stateOpen:
		// The server starts the closing handshake: answer it.
		s.wasClean = true
		s.sendCloseLocked(closeNormal, nil, true)
	}
	// A client expects the server to drop the TCP connection now.
	s.afterLocked(s.t.d(serverConnectionDropTimeout), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state != stateClosed {
			s.wasClean = false
			s.notCleanReason = "the server did not drop the TCP connection in time after the closing handshake"
			s.dropLocked()
		}
	})
}

// finishWhenDoneLocked closes the connection once the received events match
// every expectation (Autobahn's finishWhenDone).
func (s *session) finishWhenDoneLocked() {
	for _, e := range s.expected {
		if !eventsEqual(s.received, e.events) {
			return
		}
	}
	if s.expClose.closedByMe && !s.suppressClose && len(s.expClose.codes) > 0 {
		s.sendCloseLocked(s.expClose.codes[0], nil, false)
	}
}

// --- the end ------------------------------------------------------------

// finish waits until the connection is gone and judges the case.
func (s *session) finish() Result {
	s.flush()
	for {
		s.mu.Lock()
		wait := time.Until(s.deadline) + s.t.d(5*time.Second)
		s.mu.Unlock()
		tm := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-s.done:
			tm.Stop()
			return s.judge()
		case <-s.ctx.Done():
			tm.Stop()
			s.mu.Lock()
			s.notCleanReason = "run cancelled"
			s.dropLocked()
			s.mu.Unlock()
		case <-tm.C:
			s.mu.Lock()
			if time.Now().After(s.deadline.Add(s.t.d(5 * time.Second))) {
				s.tracef("case did not end in time")
				s.dropLocked()
			}
			s.mu.Unlock()
		}
	}
}

func (s *session) judge() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.timers {
		t.Stop()
	}
	o := outcome{behavior: s.behavior, result: s.result}
	for _, e := range s.expected {
		if eventsEqual(s.received, e.events) {
			o.behavior = string(e.verdict)
			o.result = "Actual events match at least one expected."
			break
		}
	}
	if o.behavior == string(Failed) && len(s.expected) > 0 {
		var want []string
		for _, e := range s.expected {
			want = append(want, eventsString(e.events))
		}
		o.result += fmt.Sprintf(" Got %s, want %s.", eventsString(s.received), strings.Join(want, " or "))
	}

	ec := s.expClose
	switch {
	case ec.closedByMe != s.closedByMe:
		o.behaviorClose = string(Failed)
		o.resultClose = "The connection was failed by the wrong endpoint."
	case ec.requireClean && !s.wasClean:
		o.behaviorClose = Unclean
		o.resultClose = "The spec requires the connection to be failed cleanly here."
	case s.remoteCode != 0 && !containsInt(ec.codes, s.remoteCode):
		o.behaviorClose = WrongCode
		o.resultClose = fmt.Sprintf("The close code should have been %s or empty.", joinInts(ec.codes))
	case s.droppedByMe:
		o.behaviorClose = FailedByClient
		o.resultClose = "It is preferred that the server close the TCP connection."
	default:
		o.behaviorClose = string(OK)
		o.resultClose = "Connection was properly closed."
	}
	if ec.wrongEndpointFatal && ec.closedByMe != s.closedByMe {
		o.behavior = string(Failed)
	}
	if s.onLost != nil {
		s.onLost(&o)
	}

	info := []string{}
	switch {
	case !s.gotClose && s.rawRemoteCode == 0:
		info = append(info, "no close frame from server")
	case s.rawRemoteCode == -1:
		info = append(info, "server close without code")
	default:
		info = append(info, fmt.Sprintf("server close %d", s.rawRemoteCode))
	}
	if s.closedByMe {
		info = append(info, "client started closing")
	}
	if s.droppedByMe {
		info = append(info, "client dropped TCP")
	} else if s.serverClosedTCP {
		info = append(info, "server closed TCP")
	}
	if !s.wasClean && s.notCleanReason != "" {
		info = append(info, s.notCleanReason)
	}
	detail := o.result
	if o.resultClose != o.result {
		detail += " " + o.resultClose
	}
	r := Result{
		Behavior:        o.behavior,
		BehaviorClose:   o.behaviorClose,
		Detail:          detail + " [" + strings.Join(info, "; ") + "]",
		Duration:        s.closedAt.Sub(s.opened),
		RemoteCloseCode: s.rawRemoteCode,
	}
	r.Verdict = Combine(r.Behavior, r.BehaviorClose)
	r.Trace = append([]string(nil), s.trace...)
	if s.traceExtra > 0 {
		r.Trace = append(r.Trace, fmt.Sprintf("... %d more wire events", s.traceExtra))
	}
	return r
}

func containsInt(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

func joinInts(list []int) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

// wrongCodeIsFailure is the onConnectionLost rule of the group 7 cases: a
// wrong close code fails the case.
func wrongCodeIsFailure(o *outcome) {
	if o.behaviorClose == WrongCode {
		o.behavior = string(Failed)
		o.result = o.resultClose
	}
}
