package conform

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DeflateOffer is one permessage-deflate offer (RFC 7692) the client sends in
// Sec-WebSocket-Extensions, with the parameters Autobahn's offers have.
type DeflateOffer struct {
	// AcceptNoContextTakeover announces client_no_context_takeover: the
	// server may ask the client to reset its compressor per message.
	AcceptNoContextTakeover bool
	// AcceptMaxWindowBits announces client_max_window_bits: the server may
	// limit the client's compression window.
	AcceptMaxWindowBits bool
	// RequestNoContextTakeover asks for server_no_context_takeover.
	RequestNoContextTakeover bool
	// RequestMaxWindowBits, when 9..15, asks for server_max_window_bits.
	RequestMaxWindowBits int
}

// defaultOffer is Autobahn's PerMessageDeflateOffer(): it accepts both client
// parameters and requests nothing.
func defaultOffer() DeflateOffer {
	return DeflateOffer{AcceptNoContextTakeover: true, AcceptMaxWindowBits: true}
}

// String renders the offer as it goes on the wire.
func (o DeflateOffer) String() string {
	s := "permessage-deflate"
	if o.AcceptNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if o.AcceptMaxWindowBits {
		s += "; client_max_window_bits"
	}
	if o.RequestNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if o.RequestMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.RequestMaxWindowBits)
	}
	return s
}

// deflateParams are the parameters the server accepted.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int // 0: not given (15)
	clientMaxWindowBits     int // 0: not given (15)
}

func (p deflateParams) String() string {
	s := "permessage-deflate"
	if p.serverNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if p.clientNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if p.serverMaxWindowBits != 0 {
		s += fmt.Sprintf("; server_max_window_bits=%d", p.serverMaxWindowBits)
	}
	if p.clientMaxWindowBits != 0 {
		s += fmt.Sprintf("; client_max_window_bits=%d", p.clientMaxWindowBits)
	}
	return s
}

// extension is one element of a Sec-WebSocket-Extensions header.
type extension struct {
	name   string
	params []extParam
}

type extParam struct {
	key   string
	value string
	has   bool // a value was given
}

// parseExtensions splits a Sec-WebSocket-Extensions header value.
func parseExtensions(h string) ([]extension, error) {
	var out []extension
	for _, item := range strings.Split(h, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ";")
		e := extension{name: strings.ToLower(strings.TrimSpace(parts[0]))}
		if e.name == "" {
			return nil, fmt.Errorf("empty extension name in %q", h)
		}
		for _, p := range parts[1:] {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			k, v, has := strings.Cut(p, "=")
			k = strings.ToLower(strings.TrimSpace(k))
			v = strings.Trim(strings.TrimSpace(v), `"`)
			e.params = append(e.params, extParam{key: k, value: v, has: has})
		}
		out = append(out, e)
	}
	return out, nil
}

// parseDeflateResponse validates the server's permessage-deflate response the
// way Autobahn's client does: known parameters only, each at most once,
// window bits 9..15, the no_context_takeover flags without value.
func parseDeflateResponse(params []extParam) (deflateParams, error) {
	var p deflateParams
	seen := map[string]bool{}
	for _, x := range params {
		if seen[x.key] {
			return p, fmt.Errorf("parameter %q given more than once", x.key)
		}
		seen[x.key] = true
		switch x.key {
		case "server_no_context_takeover", "client_no_context_takeover":
			if x.has {
				return p, fmt.Errorf("parameter %q must not have a value", x.key)
			}
			if x.key == "server_no_context_takeover" {
				p.serverNoContextTakeover = true
			} else {
				p.clientNoContextTakeover = true
			}
		case "server_max_window_bits", "client_max_window_bits":
			bits, err := strconv.Atoi(x.value)
			if !x.has || err != nil || bits < 9 || bits > 15 {
				return p, fmt.Errorf("illegal value %q for parameter %q", x.value, x.key)
			}
			if x.key == "server_max_window_bits" {
				p.serverMaxWindowBits = bits
			} else {
				p.clientMaxWindowBits = bits
			}
		default:
			return p, fmt.Errorf("illegal parameter %q", x.key)
		}
	}
	return p, nil
}

// deflater is the client side of a negotiated permessage-deflate.
type deflater struct {
	params deflateParams

	// The compressor keeps its LZ77 window across messages unless the
	// server asked for client_no_context_takeover.
	w    *flate.Writer
	wbuf bytes.Buffer

	// rxHistory holds the last 32 KiB of inflated text: the server's
	// window when it uses context takeover.
	r         io.ReadCloser
	rxHistory []byte
}

const deflateWindow = 32 << 10

// syncTail ends every compressed message (RFC 7692 section 7.2.1) and is
// stripped by the sender.
var syncTail = []byte{0x00, 0x00, 0xff, 0xff}

// compress compresses one message payload for sending.
func (d *deflater) compress(p []byte) []byte {
	if d.w == nil {
		level := flate.DefaultCompression
		if d.params.clientMaxWindowBits != 0 && d.params.clientMaxWindowBits < 15 {
			// Go's compressor always uses a 32 KiB window. Huffman-only
			// output has no back-references at all, so it is valid for
			// any window the server asked for.
			level = flate.HuffmanOnly
		}
		d.w, _ = flate.NewWriter(&d.wbuf, level)
	} else if d.params.clientNoContextTakeover {
		d.w.Reset(&d.wbuf)
	}
	d.wbuf.Reset()
	_, _ = d.w.Write(p)
	_ = d.w.Flush()
	out := bytes.TrimSuffix(d.wbuf.Bytes(), syncTail)
	return append([]byte(nil), out...)
}

// decompress inflates one compressed message received from the server.
func (d *deflater) decompress(p []byte) ([]byte, error) {
	in := make([]byte, 0, len(p)+9)
	in = append(in, p...)
	in = append(in, syncTail...)
	// A final empty stored block ends the stream cleanly.
	in = append(in, 0x01, 0x00, 0x00, 0xff, 0xff)
	var dict []byte
	if !d.params.serverNoContextTakeover {
		dict = d.rxHistory
	}
	if d.r == nil {
		d.r = flate.NewReaderDict(bytes.NewReader(in), dict)
	} else if err := d.r.(flate.Resetter).Reset(bytes.NewReader(in), dict); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(d.r, maxIncomingFrame+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxIncomingFrame {
		return nil, errFrameTooLarge
	}
	if !d.params.serverNoContextTakeover {
		d.rxHistory = append(d.rxHistory, out...)
		if len(d.rxHistory) > deflateWindow {
			d.rxHistory = append([]byte(nil), d.rxHistory[len(d.rxHistory)-deflateWindow:]...)
		}
	}
	return out, nil
}
