package server

import "testing"

// BenchmarkCountingTurn is what counting adds to a worker's turn for one
// echoed 64-byte message: the bytes read, the frame and the message, the
// time in OnMessage, the reply queued and written, and the publication of
// the turn's counts. The rest of such a turn (a read, a callback, a
// writev) costs microseconds.
func BenchmarkCountingTurn(b *testing.B) {
	for _, timing := range []bool{true, false} {
		name := "one-in-16-timed"
		if !timing {
			name = "untimed"
		}
		b.Run(name, func(b *testing.B) {
			w := &worker{}
			c := &Client{state: stOpen}
			for b.Loop() {
				w.st.read(70)
				w.st.frame(70)
				w.st.message()
				cb := w.st.call(cbMessage)
				if !timing {
					cb.start = -1
				}
				c.sent++ // the reply, queued by the callback
				w.st.took(cb)
				w.st.flushed(c, 66, nil)
				w.st.publish()
			}
		})
	}
}
