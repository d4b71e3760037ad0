package wsproto_test

import (
	"fmt"

	"github.com/gobwas/ws"
	"github.com/wsloop/wsloop/wsproto"
)

func ExampleDecoder() {
	// What a client sends: a text message in two fragments with a ping
	// between them, then a close frame.
	mask := [4]byte{1, 2, 3, 4}
	var in []byte
	in = wsproto.AppendMaskedFrame(in, ws.OpText, false, []byte("Hello, "), mask)
	in = wsproto.AppendMaskedFrame(in, ws.OpPing, true, []byte("are you there?"), mask)
	in = wsproto.AppendMaskedFrame(in, ws.OpContinuation, true, []byte("world"), mask)
	in = wsproto.AppendMaskedFrame(in, ws.OpClose, true, []byte{0x03, 0xe8, 'b', 'y', 'e'}, mask)

	// The server's answers.
	var out []byte

	dec := wsproto.Decoder{RequireMask: true}
	for {
		ev, n, err := dec.Next(in)
		if err != nil {
			e := err.(*wsproto.Error)
			out = wsproto.AppendClose(out, e.Code, e.Reason)
			break
		}
		if n == 0 {
			break // wait for more bytes
		}
		switch ev.Kind {
		case wsproto.KindMessage:
			fmt.Printf("message: %s\n", ev.Payload)
		case wsproto.KindPing:
			fmt.Printf("ping: %s\n", ev.Payload)
			out = wsproto.AppendFrame(out, ws.OpPong, true, ev.Payload)
		case wsproto.KindClose:
			fmt.Printf("close: %d %s\n", ev.Code, ev.Reason)
			out = wsproto.AppendClose(out, ws.StatusNormalClosure, "")
		}
		in = in[n:]
	}
	fmt.Printf("answer: % x\n", out)
	// Output:
	// ping: are you there?
	// message: Hello, world
	// close: 1000 bye
	// answer: 8a 0e 61 72 65 20 79 6f 75 20 74 68 65 72 65 3f 88 02 03 e8
}

func ExampleUTF8() {
	// "€" is E2 82 AC; it may arrive in pieces.
	var v wsproto.UTF8
	fmt.Println(v.Write([]byte("price: \xe2\x82")), v.Done())
	fmt.Println(v.Write([]byte("\xac")), v.Done())
	// A surrogate is invalid as soon as its second byte arrives.
	v.Reset()
	fmt.Println(v.Write([]byte("\xed\xa0")))
	// Output:
	// true false
	// true true
	// false
}

func ExampleAppendClose() {
	out := wsproto.AppendClose(nil, ws.StatusGoingAway, "restarting")
	fmt.Printf("% x\n", out)
	// Output:
	// 88 0c 03 e9 72 65 73 74 61 72 74 69 6e 67
}
