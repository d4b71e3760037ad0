package wsproto

// This file negotiates permessage-deflate (RFC 7692, section 7.1); the
// codec is in deflate_message.go.

import (
	"compress/flate"
	"strconv"
)

// DeflateParams are the permessage-deflate parameters in force on a
// connection, as negotiated by [NegotiateDeflate] from the server's side.
//
// Under the policy of NegotiateDeflate both directions are without context
// takeover: every message is compressed and decompressed on its own, so a
// connection holds no compression state between messages.
type DeflateParams struct {
	// ServerNoContextTakeover means that the server compresses each
	// message with a fresh LZ77 window. NegotiateDeflate always sets it.
	ServerNoContextTakeover bool

	// ClientNoContextTakeover means that the client compresses each
	// message with a fresh LZ77 window, so the server inflates each with
	// no dictionary. NegotiateDeflate always sets it.
	ClientNoContextTakeover bool

	// ServerMaxWindowBits is the base-2 logarithm of the largest LZ77
	// window the server may use, 8 to 15: 15 unless the client asked for
	// less, in which case see [CompressionLevel].
	ServerMaxWindowBits int

	// ClientMaxWindowBits is the base-2 logarithm of the largest LZ77
	// window the client may use, 8 to 15. NegotiateDeflate always sets it
	// to 15: [InflateMessage] handles any window.
	ClientMaxWindowBits int
}

// The extension and parameter names of RFC 7692, section 7.
const (
	deflateName             = "permessage-deflate"
	serverNoContextTakeover = "server_no_context_takeover"
	clientNoContextTakeover = "client_no_context_takeover"
	serverMaxWindowBits     = "server_max_window_bits"
	clientMaxWindowBits     = "client_max_window_bits"
)

// The responses of NegotiateDeflate.
const (
	deflateResponse       = deflateName + "; " + serverNoContextTakeover + "; " + clientNoContextTakeover
	deflateResponseWindow = deflateResponse + "; " + serverMaxWindowBits + "="
)

// NegotiateDeflate answers a client's offers of the permessage-deflate
// extension (RFC 7692). offers are the values of the client's
// Sec-WebSocket-Extensions header lines, as received; each may list several
// extensions, separated by commas, in the client's order of preference.
//
// NegotiateDeflate accepts the first permessage-deflate offer it can honour
// and returns the value of the Sec-WebSocket-Extensions header to answer
// with and the parameters now in force. With ok false it declines: the
// server then sends no Sec-WebSocket-Extensions header, the connection is
// not compressed and [Decoder.AllowRSV1] must stay false. It never fails:
// other extensions and offers that are malformed or that it cannot honour
// are skipped.
//
// The answer always turns context takeover off in both directions:
//
//	permessage-deflate; server_no_context_takeover; client_no_context_takeover
//
// so that a connection holds no compression state between messages, which
// is what lets an idle connection cost nothing: messages are compressed
// with [CompressMessage] and decompressed with [InflateMessage] with no
// dictionary. RFC 7692 allows a server to include both parameters whether
// or not the client offered them (sections 7.1.1.1 and 7.1.1.2), and a
// client must then reset its compressor after each message. Browsers
// offer "permessage-deflate; client_max_window_bits" (Chromium) or
// "permessage-deflate" (Firefox) and get this answer.
//
// An offer is skipped when:
//   - it has a parameter RFC 7692 does not define, or the same parameter
//     twice;
//   - a parameter has a value it must not have, lacks one it needs, or
//     has one outside 8-15 (window bits are decimal, with no leading zero,
//     and may be quoted);
//
// An offer with server_max_window_bits=N is accepted with that parameter
// repeated in the answer and p.ServerMaxWindowBits set to N. compress/flate
// always searches a 32 KiB window, so for N below 15 messages must be
// compressed with flate.HuffmanOnly, which uses no back-references at all
// and so fits any window ([CompressionLevel] picks the level). A client_max_window_bits offer is never
// answered: the client may then use any window, which InflateMessage
// handles. Names are matched exactly (they are lower case in RFC 7692),
// and an element of the header that is not valid syntax (RFC 6455,
// section 9.1) is skipped up to the next comma.
func NegotiateDeflate(offers []string) (response string, p DeflateParams, ok bool) {
	for _, line := range offers {
		for line != "" {
			var elem string
			elem, line, _ = cutOutsideQuotes(line, ',')
			if resp, bits, ok := answerOffer(elem); ok {
				return resp, DeflateParams{
					ServerNoContextTakeover: true,
					ClientNoContextTakeover: true,
					ServerMaxWindowBits:     bits,
					ClientMaxWindowBits:     15,
				}, true
			}
		}
	}
	return "", DeflateParams{}, false
}

// windowResponses are the answers to offers with server_max_window_bits,
// by the number of bits.
var windowResponses = func() (r [16]string) {
	for bits := 8; bits <= 15; bits++ {
		r[bits] = deflateResponseWindow + strconv.Itoa(bits)
	}
	return r
}()

// answerOffer returns the response to one element of an extension list and
// the server's window bits, or false if it is not a permessage-deflate
// offer that can be accepted.
func answerOffer(elem string) (string, int, bool) {
	name, rest, more := cutOutsideQuotes(elem, ';')
	if trimOWS(name) != deflateName {
		return "", 0, false
	}
	serverBits := 15
	const (
		seenServerNoCtx = 1 << iota
		seenClientNoCtx
		seenServerBits
		seenClientBits
	)
	var seen uint8
	response := deflateResponse
	for more {
		var param string
		param, rest, more = cutOutsideQuotes(rest, ';')
		key, value, hasValue, ok := parseParam(param)
		if !ok {
			return "", 0, false
		}
		var bit uint8
		switch key {
		case serverNoContextTakeover:
			bit = seenServerNoCtx
			ok = !hasValue
		case clientNoContextTakeover:
			bit = seenClientNoCtx
			ok = !hasValue
		case serverMaxWindowBits:
			bit = seenServerBits
			serverBits, ok = parseWindowBits(value) // fails with no value
			if ok {
				response = windowResponses[serverBits]
			}
		case clientMaxWindowBits:
			bit = seenClientBits
			if hasValue {
				_, ok = parseWindowBits(value)
			}
		default:
			return "", 0, false
		}
		if !ok || seen&bit != 0 {
			return "", 0, false
		}
		seen |= bit
	}
	return response, serverBits, true
}

// CompressionLevel returns the compress/flate level to use for a client
// with params p: level itself, or flate.HuffmanOnly when the client limited
// the server's window below the 32 KiB that compress/flate searches.
func CompressionLevel(p DeflateParams, level int) int {
	if p.ServerMaxWindowBits != 0 && p.ServerMaxWindowBits < 15 {
		return flate.HuffmanOnly
	}
	return level
}

// parseParam parses an extension parameter, with optional whitespace
// around it and around the "=": token [ "=" ( token / quoted-string ) ].
// It returns the name and the value, unquoted, and whether there is one.
func parseParam(s string) (key, value string, hasValue, ok bool) {
	s = trimOWS(s)
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	key, s = s[:i], trimOWS(s[i:])
	if key == "" {
		return "", "", false, false
	}
	if s == "" {
		return key, "", false, true
	}
	if s[0] != '=' {
		return "", "", false, false
	}
	s = trimOWS(s[1:])
	if s == "" {
		return "", "", false, false
	}
	if s[0] == '"' {
		value, ok = unquote(s)
		return key, value, true, ok
	}
	for i := range len(s) {
		if !isTokenChar(s[i]) {
			return "", "", false, false
		}
	}
	return key, s, true, true
}

// unquote returns the content of the quoted-string s, which must be all of
// s, with its escapes removed. RFC 6455 requires the content to be a token.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[len(s)-1] != '"' {
		return "", false
	}
	s = s[1 : len(s)-1]
	var buf []byte // allocated only if s has escapes
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if buf == nil {
				buf = append(make([]byte, 0, len(s)), s[:i]...)
			}
			i++
			if i == len(s) {
				return "", false // the closing quote was escaped
			}
			c = s[i]
		} else if c == '"' {
			return "", false
		}
		if !isTokenChar(c) {
			return "", false
		}
		if buf != nil {
			buf = append(buf, c)
		}
	}
	if buf != nil {
		s = string(buf)
	}
	return s, s != ""
}

// parseWindowBits parses a window size parameter: 8 to 15, in decimal with
// no leading zero.
func parseWindowBits(s string) (int, bool) {
	switch {
	case len(s) == 1 && '8' <= s[0] && s[0] <= '9':
		return int(s[0] - '0'), true
	case len(s) == 2 && s[0] == '1' && '0' <= s[1] && s[1] <= '5':
		return 10 + int(s[1]-'0'), true
	}
	return 0, false
}

// cutOutsideQuotes slices s around the first sep that is not inside a
// quoted-string, and reports whether there is one. An unterminated
// quoted-string runs to the end of s.
func cutOutsideQuotes(s string, sep byte) (before, after string, found bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// trimOWS removes the optional whitespace of HTTP, spaces and tabs, at
// both ends of s.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110,
// section 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
