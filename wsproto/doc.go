// Package wsproto reads and writes RFC 6455 WebSocket frames on byte
// buffers, for servers that run an event loop rather than a goroutine per
// connection:
//
//	dec := wsproto.Decoder{RequireMask: true}
//	for { // in holds the bytes received and not consumed yet
//		ev, n, err := dec.Next(in)
//		if err != nil {
//			e := err.(*wsproto.Error)
//			out = wsproto.AppendClose(out, e.Code, e.Reason) // then close
//			break
//		}
//		if n == 0 {
//			break // an incomplete frame: keep in, call again with more bytes
//		}
//		switch ev.Kind {
//		case wsproto.KindMessage:
//			handle(ev.Op, ev.Payload) // valid until the next call to Next
//		case wsproto.KindPing:
//			out = wsproto.AppendFrame(out, ws.OpPong, true, ev.Payload)
//		case wsproto.KindClose:
//			out = wsproto.AppendClose(out, ws.StatusNormalClosure, "") // then close
//		}
//		in = in[n:]
//	}
//
// A [Decoder] never blocks and never reads by itself: it is handed whatever
// bytes have arrived, says how many it consumed and reports an [Event] for
// each complete message or control frame. When a frame is incomplete it
// consumes nothing, and the caller presents the same bytes again, with more
// appended, once more have arrived. Messages that arrive in a single frame
// are delivered without copying; fragmented messages are assembled in a
// buffer that the Decoder releases when they are done.
//
// The Decoder enforces the rules of RFC 6455, section 5, for a server:
// reserved bits and opcodes, masking, control frame size and
// fragmentation, the order of fragments, the message size limit, valid close
// codes, and valid UTF-8 in text messages and close reasons, which it checks
// as the bytes arrive. A violation is an [*Error] that carries the close
// code to answer with.
//
// The encoding functions, [AppendFrame], [AppendClose] and [AppendHeader],
// append frames to a byte slice and do not allocate when it has room.
// [AppendMaskedFrame] writes the masked frames of a client.
//
// The package builds on the types of [github.com/gobwas/ws]: [ws.OpCode],
// [ws.StatusCode] and [ws.Header]. It does no handshake. The Decoder leaves
// compressed messages (RSV1 set, when [Decoder.AllowRSV1] is set) as they
// are, for the caller to inflate with [InflateMessage] and validate;
// [NegotiateDeflate], [CompressMessage] and [AppendCompressedFrame] are the
// rest of permessage-deflate (RFC 7692), without context takeover, so that
// a connection holds no compression state between messages.
package wsproto
