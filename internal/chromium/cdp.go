package chromium

// A minimal Chrome DevTools Protocol client: one WebSocket to the browser
// endpoint, commands matched to their responses by id, and page targets
// reached through flattened sessions (the sessionId field of each message).
// Only what the tests need.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is a connection to Chromium's browser-level DevTools endpoint.
type Conn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	nextID  atomic.Int64

	mu      sync.Mutex
	pending map[int64]chan message
	events  []string // recent notable events, for failure messages
	pages   []*Page  // opened by NewPage
	err     error    // why the reader stopped; set before done is closed

	done chan struct{} // closed when the reader goroutine has ended
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *Error          `json:"error,omitempty"`
}

// Error is an error answer to a DevTools command.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data,omitempty"`
}

func (e *Error) Error() string {
	if e.Data != "" {
		return fmt.Sprintf("cdp error %d: %s (%s)", e.Code, e.Message, e.Data)
	}
	return fmt.Sprintf("cdp error %d: %s", e.Code, e.Message)
}

const maxEvents = 50

// dial connects to a ws://127.0.0.1:PORT/devtools/browser/... URL.
func dial(ctx context.Context, url string) (*Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 20 * time.Second}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial DevTools %s: %w", url, err)
	}
	c := &Conn{ws: ws, pending: make(map[int64]chan message), done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

func (c *Conn) readLoop() {
	var err error
	defer func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	}()
	for {
		var data []byte
		_, data, err = c.ws.ReadMessage()
		if err != nil {
			return
		}
		var m message
		if jerr := json.Unmarshal(data, &m); jerr != nil {
			c.noteEvent(fmt.Sprintf("undecodable message (%v): %.200s", jerr, data))
			continue
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m // buffered, one response per id
			}
			continue
		}
		c.noteNotification(m)
	}
}

// noteNotification keeps the events that help explain a failure: page
// crashes, detached targets, uncaught exceptions and console output.
func (c *Conn) noteNotification(m message) {
	switch m.Method {
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(m.Params, &p)
		c.noteEvent(fmt.Sprintf("[session %s] uncaught exception: %s %s", short(m.SessionID),
			p.ExceptionDetails.Text, p.ExceptionDetails.Exception.Description))
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		json.Unmarshal(m.Params, &p)
		var parts []string
		for _, a := range p.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		c.noteEvent(fmt.Sprintf("[session %s] console.%s: %s", short(m.SessionID), p.Type, strings.Join(parts, " ")))
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Level  string `json:"level"`
				Source string `json:"source"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		json.Unmarshal(m.Params, &p)
		c.noteEvent(fmt.Sprintf("[session %s] log %s/%s: %s %s", short(m.SessionID),
			p.Entry.Source, p.Entry.Level, p.Entry.Text, p.Entry.URL))
	case "Inspector.targetCrashed", "Target.detachedFromTarget", "Target.targetCrashed":
		c.noteEvent(fmt.Sprintf("[session %s] %s %s", short(m.SessionID), m.Method, m.Params))
	}
}

func (c *Conn) noteEvent(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, s)
	if len(c.events) > maxEvents {
		c.events = c.events[len(c.events)-maxEvents:]
	}
}

// RecentEvents returns the last notable events (console output, uncaught
// exceptions, log entries, crashed or detached targets), oldest first.
func (c *Conn) RecentEvents() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

func short(s string) string {
	if s == "" {
		return "browser"
	}
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// Call sends method with params to the browser (sessionID "") or to an
// attached target's session, waits for the response and decodes its result
// into result (if not nil).
func (c *Conn) Call(ctx context.Context, sessionID, method string, params, result any) error {
	id := c.nextID.Add(1)
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	if params == nil {
		raw = []byte("{}")
	}
	msg, err := json.Marshal(message{ID: id, SessionID: sessionID, Method: method, Params: raw})
	if err != nil {
		return err
	}
	ch := make(chan message, 1)
	c.mu.Lock()
	if c.err != nil || c.Closed() {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("%s: DevTools connection is gone: %v", method, err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	c.writeMu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		c.ws.SetWriteDeadline(dl)
	} else {
		c.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	}
	err = c.ws.WriteMessage(websocket.TextMessage, msg)
	c.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: send: %w", method, err)
	}

	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %w", method, m.Error)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				return fmt.Errorf("%s: decode result %.200s: %w", method, m.Result, err)
			}
		}
		return nil
	case <-c.done:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("%s: DevTools connection lost: %v", method, err)
	case <-ctx.Done():
		return fmt.Errorf("%s: no answer: %w", method, ctx.Err())
	}
}

// Closed reports whether the connection is gone (closed, or dropped by the
// browser).
func (c *Conn) Closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Close drops the connection and waits for the reader to end.
func (c *Conn) Close() {
	c.writeMu.Lock()
	c.ws.SetWriteDeadline(time.Now().Add(time.Second))
	c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	c.writeMu.Unlock()
	c.ws.Close()
	<-c.done
}

// Page is a page target (a tab) attached with a flattened session.
type Page struct {
	name      string
	conn      *Conn
	targetID  string
	sessionID string
}

// Name returns the name the page was opened with, for messages.
func (p *Page) Name() string { return p.name }

// NewPage opens a blank tab and attaches to it. The tab is remembered (see
// Pages) as soon as it exists, even if attaching to it fails; then NewPage
// returns it with the error.
func (c *Conn) NewPage(ctx context.Context, name string) (*Page, error) {
	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := c.Call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		return nil, fmt.Errorf("page %s: %w", name, err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	err := c.Call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached)
	p := &Page{name: name, conn: c, targetID: created.TargetID, sessionID: attached.SessionID}
	c.mu.Lock()
	c.pages = append(c.pages, p)
	c.mu.Unlock()
	if err != nil {
		return p, fmt.Errorf("page %s: %w", name, err)
	}
	// Console output, exceptions and network/log errors become events the
	// failure messages can show. Failing to enable them is not fatal.
	_ = c.Call(ctx, p.sessionID, "Runtime.enable", nil, nil)
	_ = c.Call(ctx, p.sessionID, "Log.enable", nil, nil)
	return p, nil
}

// Pages returns the tabs opened by NewPage, in order.
func (c *Conn) Pages() []*Page {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Page(nil), c.pages...)
}

// Navigate loads url and reports a navigation that failed outright (e.g.
// connection refused). It does not wait for the load to finish.
func (p *Page) Navigate(ctx context.Context, url string) error {
	var res struct {
		FrameID   string `json:"frameId"`
		ErrorText string `json:"errorText"`
	}
	if err := p.conn.Call(ctx, p.sessionID, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return fmt.Errorf("page %s: %w", p.name, err)
	}
	if res.ErrorText != "" {
		return fmt.Errorf("page %s: navigate to %s: %s", p.name, url, res.ErrorText)
	}
	return nil
}

// Eval evaluates a JavaScript expression in the page, waits for the
// promise it returns (if it does) and decodes its value (which must be
// JSON-serialisable) into out, unless out is nil.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	params := map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}
	if err := p.conn.Call(ctx, p.sessionID, "Runtime.evaluate", params, &res); err != nil {
		return fmt.Errorf("page %s: %w", p.name, err)
	}
	if d := res.ExceptionDetails; d != nil {
		return fmt.Errorf("page %s: script threw: %s %s", p.name, d.Text, d.Exception.Description)
	}
	if out == nil {
		return nil
	}
	if len(res.Result.Value) == 0 {
		return fmt.Errorf("page %s: script returned no value (type %q)", p.name, res.Result.Type)
	}
	if err := json.Unmarshal(res.Result.Value, out); err != nil {
		return fmt.Errorf("page %s: decode script value %.200s: %w", p.name, res.Result.Value, err)
	}
	return nil
}

// Close closes the tab.
func (p *Page) Close(ctx context.Context) error {
	if p.targetID == "" {
		return nil
	}
	err := p.conn.Call(ctx, "", "Target.closeTarget", map[string]any{"targetId": p.targetID}, nil)
	if err != nil {
		return fmt.Errorf("page %s: %w", p.name, err)
	}
	return nil
}
