package chromium

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// outputTail keeps the last lines a process wrote and reports Chromium's
// "DevTools listening on ws://..." line.
type outputTail struct {
	mu       sync.Mutex
	partial  []byte
	lines    []string
	dropped  int
	devtools chan string // receives the DevTools URL once
	found    bool
	dbus     int // D-Bus complaints left out: noise in a container
}

const maxTailLines = 300

func newOutputTail() *outputTail {
	return &outputTail{devtools: make(chan string, 1)}
}

func (o *outputTail) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.addLine(strings.TrimRight(string(o.partial[:i]), "\r"))
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) > 64<<10 {
		o.addLine(string(o.partial))
		o.partial = nil
	}
	return len(p), nil
}

func (o *outputTail) addLine(line string) {
	const prefix = "DevTools listening on "
	if i := strings.Index(line, prefix); i >= 0 && !o.found {
		o.found = true
		o.devtools <- strings.TrimSpace(line[i+len(prefix):])
	}
	if strings.Contains(line, ":ERROR:dbus/") {
		o.dbus++
		return
	}
	o.lines = append(o.lines, line)
	if len(o.lines) > maxTailLines {
		o.dropped += len(o.lines) - maxTailLines
		o.lines = o.lines[len(o.lines)-maxTailLines:]
	}
}

// tail returns the last n lines, indented.
func (o *outputTail) tail(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := o.lines
	if len(o.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(o.partial))
	}
	skipped := o.dropped
	if len(lines) > n {
		skipped += len(lines) - n
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	if o.dbus > 0 {
		fmt.Fprintf(&b, "    (%d D-Bus error lines not shown)\n", o.dbus)
	}
	if skipped > 0 {
		fmt.Fprintf(&b, "    (%d earlier lines not shown)\n", skipped)
	}
	if len(lines) == 0 {
		b.WriteString("    (none)\n")
	}
	for _, l := range lines {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	return b.String()
}
