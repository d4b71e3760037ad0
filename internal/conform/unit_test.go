package conform

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCasesRegistry(t *testing.T) {
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1, "12": 90, "13": 126}
	got := map[string]int{}
	seen := map[string]bool{}
	cs := Cases()
	for i, c := range cs {
		if seen[c.ID] {
			t.Errorf("duplicate case %s", c.ID)
		}
		seen[c.ID] = true
		got[c.Group]++
		if c.Group != groupOf(c.ID) || c.Description == "" || c.Expectation == "" || c.Run == nil {
			t.Errorf("incomplete case %+v", c)
		}
		if i > 0 && compareIDs(cs[i-1].ID, c.ID) >= 0 {
			t.Errorf("case %s after %s: not in Autobahn order", c.ID, cs[i-1].ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cases per group: got %v, want %v", got, want)
	}
	if len(cs) != 517 {
		t.Errorf("got %d cases, want Autobahn's 517", len(cs))
	}
	var slow []string
	for _, c := range cs {
		if c.Slow {
			slow = append(slow, c.ID)
		}
	}
	if strings.Join(slow, ",") != "9.1.6,9.2.6" {
		t.Errorf("slow cases: %v", slow)
	}
}

func TestSelect(t *testing.T) {
	ids := func(o Options) string {
		var s []string
		for _, c := range Select(o) {
			s = append(s, c.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Cases: []string{"6.4.*"}}, "6.4.1,6.4.2,6.4.3,6.4.4"},
		{Options{Cases: []string{"6.4"}}, "6.4.1,6.4.2,6.4.3,6.4.4"},
		{Options{Cases: []string{"2.1,2.10", "3.7"}}, "2.1,2.10,3.7"},
		{Options{Cases: []string{"5.*"}, Exclude: []string{"5.1?,5.2*", "5.3"}}, "5.1,5.4,5.5,5.6,5.7,5.8,5.9"},
		{Options{Cases: []string{"9.1.*"}}, "9.1.1,9.1.2,9.1.3,9.1.4,9.1.5"},
		{Options{Cases: []string{"9.1.*"}, Slow: true}, "9.1.1,9.1.2,9.1.3,9.1.4,9.1.5,9.1.6"},
		{Options{Cases: []string{"1"}, Exclude: []string{"1.2"}}, "1.1.1,1.1.2,1.1.3,1.1.4,1.1.5,1.1.6,1.1.7,1.1.8"},
		{Options{Cases: []string{"10.*"}}, "10.1.1"},
	} {
		if got := ids(tc.opts); got != tc.want {
			t.Errorf("%+v: got %s, want %s", tc.opts, got, tc.want)
		}
	}
	if len(Select(Options{})) != 515 {
		t.Errorf("default selection: %d cases", len(Select(Options{})))
	}
	if err := CheckPatterns([]string{"1.*,["}); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestCombine(t *testing.T) {
	for _, tc := range []struct {
		b, c string
		want Verdict
	}{
		{"OK", "OK", OK},
		{"NON-STRICT", "OK", NonStrict},
		{"OK", WrongCode, NonStrict},
		{"OK", FailedByClient, NonStrict},
		{"OK", Unclean, Failed},
		{"OK", "FAILED", Failed},
		{"FAILED", "OK", Failed},
		{"INFORMATIONAL", "INFORMATIONAL", Informational},
		{"UNIMPLEMENTED", "OK", Unimplemented},
		{"UNIMPLEMENTED", "FAILED", Unimplemented},
		{"bogus", "OK", Failed},
	} {
		if got := Combine(tc.b, tc.c); got != tc.want {
			t.Errorf("Combine(%s, %s) = %s, want %s", tc.b, tc.c, got, tc.want)
		}
	}
	for _, tc := range []struct {
		r    Result
		want bool
	}{
		{Result{Verdict: OK}, true},
		{Result{Verdict: Informational}, true},
		{Result{Verdict: NonStrict}, false},
		{Result{Verdict: NonStrict, Allowed: "why"}, true},
		{Result{Verdict: Unimplemented, Allowed: "why"}, true},
		{Result{Verdict: Failed, Allowed: "why"}, false},
	} {
		if tc.r.OK() != tc.want {
			t.Errorf("%+v.OK() = %t", tc.r, !tc.want)
		}
	}
	o := Options{Allow: map[string]string{"6.4.*": "a", "7.1.6": "b"}}
	if o.allowReason("6.4.2") != "a" || o.allowReason("7.1.6") != "b" || o.allowReason("6.3.1") != "" {
		t.Error("allowReason")
	}
}

// The validity Autobahn assigns to each UTF-8 test string must agree with
// a strict decoder.
func TestUTF8Vectors(t *testing.T) {
	counts := []int{5, 11, 4, 2, 4, 3, 5, 8, 5, 10, 1, 3, 5, 5, 5, 7, 8, 34, 7}
	groups := utf8TestGroups()
	if len(groups) != len(counts) {
		t.Fatalf("%d groups", len(groups))
	}
	for i, g := range groups {
		if len(g.vectors) != counts[i] {
			t.Errorf("6.%d %s: %d vectors, want %d", i+5, g.name, len(g.vectors), counts[i])
		}
		for j, v := range g.vectors {
			if utf8.Valid(v.data) != v.valid {
				t.Errorf("6.%d.%d %x: valid=%t", i+5, j+1, v.data, v.valid)
			}
		}
	}
}

func TestUTF8Prefix(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"hello", true},
		{kosme, true},
		{kosme[:3], true}, // κ + first octet of ό
		{"\xf4", true},
		{"\xf4\x8f", true},
		{"\xf4\x90", false}, // beyond U+10FFFF: fail fast
		{"\xed\xa0", false}, // surrogate
		{"\xe0\x80", false}, // overlong
		{"\xc0", false},
		{"\xc2", true},
		{"\x80", false},
		{"\xf0\x90\x80", true},
		{"a\xf0\x90\x80\x80b", true},
		{"\xfe", false},
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90", false},
	} {
		if got := utf8Prefix([]byte(tc.s)); got != tc.want {
			t.Errorf("utf8Prefix(%x) = %t, want %t", tc.s, got, tc.want)
		}
	}
	// Every prefix of valid text is a valid prefix; after an invalid
	// prefix, nothing is.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(8))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		valid := utf8.Valid(b)
		for n := 0; n <= len(b); n++ {
			if valid && !utf8Prefix(b[:n]) {
				t.Fatalf("utf8Prefix(%x) false for a prefix of valid %x", b[:n], b)
			}
		}
		if !utf8Prefix(b) {
			for n := len(b); n <= len(b)+2; n++ {
				if utf8.Valid(append(append([]byte(nil), b...), "\x80\x80"[:n-len(b)]...)) {
					t.Fatalf("utf8Prefix(%x) false but it can be completed", b)
				}
			}
		}
	}
	// incompleteTail finds the start of an unfinished code point.
	for s, want := range map[string]int{"": 0, "a": 0, "a\xc3": 1, "\xe2\x82": 2, "\xe2\x82\xac": 0, "\xf0\x90\x80": 3} {
		if got := incompleteTail([]byte(s)); got != want {
			t.Errorf("incompleteTail(%x) = %d, want %d", s, got, want)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 100000} {
		f := frame{op: opBinary, payload: []byte("\x00\xfe\x23"), length: n, more: true, rsv: 5}
		if n == 0 {
			f.payload = nil
		}
		wire := f.encode()
		got, err := readFrame(bufio.NewReader(bytes.NewReader(wire)))
		if err != nil {
			t.Fatal(err)
		}
		if got.fin || got.rsv != 5 || got.op != opBinary || !got.masked || !bytes.Equal(got.payload, repeatTo(f.payload, n)) {
			t.Errorf("len %d: got fin=%t rsv=%d op=%d masked=%t len=%d", n, got.fin, got.rsv, got.op, got.masked, len(got.payload))
		}
		if hdr := len(wire) - n; (n <= 125 && hdr != 6) || (n > 125 && n <= 65535 && hdr != 8) || (n > 65535 && hdr != 14) {
			t.Errorf("len %d: header of %d octets", n, hdr)
		}
	}
	if p := closePayload(1000, []byte("bye")); !bytes.Equal(p, []byte("\x03\xe8bye")) {
		t.Errorf("closePayload = %x", p)
	}
	if p := closePayload(noCode, []byte("a")); !bytes.Equal(p, []byte("a")) {
		t.Errorf("closePayload = %x", p)
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	data := compressionSources[0].bytes()
	for _, p := range []deflateParams{
		{},
		{clientNoContextTakeover: true, serverNoContextTakeover: true},
		{clientMaxWindowBits: 9},
	} {
		// The receiving side is a second deflater whose "server" is our
		// sender: swap the parameters.
		tx := &deflater{params: p}
		rx := &deflater{params: deflateParams{serverNoContextTakeover: p.clientNoContextTakeover}}
		total, compressed := 0, 0
		for i := 0; i < 50; i++ {
			msg := data[i*1000 : i*1000+700+i*37]
			c := tx.compress(msg)
			total, compressed = total+len(msg), compressed+len(c)
			out, err := rx.decompress(c)
			if err != nil || !bytes.Equal(out, msg) {
				t.Fatalf("%+v message %d: err %v, equal %t", p, i, err, bytes.Equal(out, msg))
			}
		}
		if compressed >= total {
			t.Errorf("%+v: %d octets compressed to %d", p, total, compressed)
		}
	}
	// With context takeover the messages form one deflate stream, as a
	// server's inflater sees them.
	tx := &deflater{}
	var stream bytes.Buffer
	var msgs [][]byte
	for i := 0; i < 20; i++ {
		msg := data[i*3000 : i*3000+2000]
		msgs = append(msgs, msg)
		stream.Write(tx.compress(msg))
		stream.Write(syncTail)
	}
	zr := flate.NewReader(&stream)
	for i, msg := range msgs {
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(zr, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("stream message %d: %v", i, err)
		}
	}
	if c := (&deflater{}).compress(nil); !bytes.Equal(c, []byte{0}) {
		t.Errorf("empty message compresses to %x", c)
	}
}

func TestDeflateNegotiation(t *testing.T) {
	if s := defaultOffer().String(); s != "permessage-deflate; client_no_context_takeover; client_max_window_bits" {
		t.Errorf("default offer %q", s)
	}
	o := DeflateOffer{AcceptNoContextTakeover: true, AcceptMaxWindowBits: true, RequestNoContextTakeover: true, RequestMaxWindowBits: 9}
	if s := o.String(); s != "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9" {
		t.Errorf("offer %q", s)
	}
	ext, err := parseExtensions(`permessage-deflate; server_no_context_takeover; client_max_window_bits="10"`)
	if err != nil || len(ext) != 1 {
		t.Fatal(ext, err)
	}
	p, err := parseDeflateResponse(ext[0].params)
	if err != nil || !p.serverNoContextTakeover || p.clientMaxWindowBits != 10 {
		t.Errorf("%+v %v", p, err)
	}
	for _, bad := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=8",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; foo",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
	} {
		ext, _ := parseExtensions(bad)
		if _, err := parseDeflateResponse(ext[0].params); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := offerParams(deflateOfferSets()[6]); got != "[(True, 9), (True, 0), (False, 0)]" {
		t.Errorf("offerParams = %s", got)
	}
}

func TestTargetURL(t *testing.T) {
	tg, err := NewTarget("ws://127.0.0.1:9001/echo?x=1")
	if err != nil || tg.addr != "127.0.0.1:9001" || tg.path != "/echo?x=1" {
		t.Errorf("%+v %v", tg, err)
	}
	tg, err = NewTarget("ws://localhost")
	if err != nil || tg.addr != "localhost:80" || tg.path != "/" {
		t.Errorf("%+v %v", tg, err)
	}
	tg, err = NewTarget("wss://localhost/x")
	if err != nil || tg.addr != "localhost:443" || tg.path != "/x" || !tg.secure || tg.tlsConfig().ServerName != "localhost" {
		t.Errorf("%+v %v", tg, err)
	}
	for _, bad := range []string{"http://x/", "https://x/", "ws:///x", "wss:///x", "::"} {
		if CheckURL(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCompressionData(t *testing.T) {
	for _, d := range compressionSources {
		b := d.bytes()
		if len(b) < 256<<10 {
			t.Errorf("%s: %d octets", d.key, len(b))
		}
		if !d.binary && !utf8.Valid(b) {
			t.Errorf("%s: text source is not UTF-8", d.key)
		}
	}
}
