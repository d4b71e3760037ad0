package conform

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
)

// compressionData is one payload source of groups 12 and 13. Autobahn ships
// five files (a JSON file, a bitmap, Goethe's Faust, an HTML page, a PDF);
// the suite generates deterministic stand-ins of the same kinds instead, so
// that nothing has to be downloaded or vendored.
type compressionData struct {
	key    string
	desc   string
	binary bool
	gen    func() []byte

	once sync.Once
	data []byte
}

func (d *compressionData) bytes() []byte {
	d.once.Do(func() { d.data = d.gen() })
	return d.data
}

// compressionDataSize is the size of every generated payload source; it is
// larger than the largest message (128 KiB) so that messages are slices.
const compressionDataSize = 512 << 10

// compressionSources are the payload sources in Autobahn's order of 12.1 -
// 12.5.
var compressionSources = []*compressionData{
	{key: "json_data1", desc: "Large JSON data (synthetic)", binary: false, gen: genJSON},
	{key: "lena512", desc: "Bitmap 512x512 grayscale (synthetic)", binary: true, gen: genBitmap},
	{key: "gutenberg_faust", desc: "Human readable text, drama in verse (synthetic)", binary: true, gen: genVerse},
	{key: "html_data1", desc: "Large HTML (synthetic)", binary: false, gen: genHTML},
	{key: "ooms", desc: "A larger PDF-like binary (synthetic)", binary: true, gen: genPDF},
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

var words = strings.Fields(`der die das und nicht ich du ein zu ist sich mit dem
	den auf wie so mir mich was Geist Welt Herz Himmel Erde Nacht Licht Zeit
	alle wohl hier nun noch auch schon mehr wird kann soll muss habe hast Wissen
	Freund Leben Tod Gott Teufel Sinn Kraft Werk Wort Tat Natur Seele Liebe
	value state data index count name item list field node error result query
	server client message frame payload window buffer stream header compress`)

func word(r *rand.Rand) string { return words[r.IntN(len(words))] }

func sentence(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = word(r)
	}
	return strings.Join(w, " ")
}

// genJSON: an array of records with repeated keys and varied values.
func genJSON() []byte {
	r := newRand(1)
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; b.Len() < compressionDataSize; i++ {
		fmt.Fprintf(&b, `  {"id": %d, "guid": "%08x-%04x-%04x", "active": %t, "balance": %.2f, "name": "%s %s", "tags": ["%s", "%s", "%s"], "about": "%s.", "score": %d},`+"\n",
			i, r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(2) == 0, r.Float64()*10000,
			word(r), word(r), word(r), word(r), word(r), sentence(r, 8+r.IntN(12)), r.IntN(1000))
	}
	b.WriteString("  {}\n]\n")
	return []byte(b.String())
}

// genHTML: nested markup with text paragraphs and a table.
func genHTML() []byte {
	r := newRand(2)
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><title>wsconform</title></head><body>\n")
	for i := 0; b.Len() < compressionDataSize; i++ {
		fmt.Fprintf(&b, "<div class=\"section s%d\"><h2 id=\"h%d\">%s</h2>\n<p>%s.</p>\n<table>", i%7, i, sentence(r, 3), sentence(r, 20+r.IntN(30)))
		for j := 0; j < 3; j++ {
			fmt.Fprintf(&b, "<tr><td>%s</td><td>%d</td><td><a href=\"/%s/%d\">%s</a></td></tr>", word(r), r.IntN(100000), word(r), j, word(r))
		}
		b.WriteString("</table></div>\n")
	}
	b.WriteString("</body></html>\n")
	return []byte(b.String())
}

// genVerse: a play in verse, speaker names and short lines.
func genVerse() []byte {
	r := newRand(3)
	speakers := []string{"FAUST", "MEPHISTOPHELES", "WAGNER", "MARGARETE", "MARTHE", "CHOR"}
	var b strings.Builder
	for b.Len() < compressionDataSize {
		fmt.Fprintf(&b, "\n%s:\n", speakers[r.IntN(len(speakers))])
		for l := 1 + r.IntN(6); l > 0; l-- {
			line := sentence(r, 4+r.IntN(5))
			b.WriteString(strings.ToUpper(line[:1]) + line[1:] + ",\n")
		}
	}
	return []byte(b.String())
}

// genBitmap: a BMP header, a gray palette and 512x512 smooth shapes with
// noise, like a photograph.
func genBitmap() []byte {
	r := newRand(4)
	const w, h = 512, 512
	hdr := make([]byte, 54+1024)
	copy(hdr, "BM")
	binary.LittleEndian.PutUint32(hdr[2:], uint32(len(hdr)+w*h))
	binary.LittleEndian.PutUint32(hdr[10:], uint32(len(hdr)))
	binary.LittleEndian.PutUint32(hdr[14:], 40)
	binary.LittleEndian.PutUint32(hdr[18:], w)
	binary.LittleEndian.PutUint32(hdr[22:], h)
	binary.LittleEndian.PutUint16(hdr[26:], 1)
	binary.LittleEndian.PutUint16(hdr[28:], 8)
	binary.LittleEndian.PutUint32(hdr[46:], 256)
	for i := 0; i < 256; i++ {
		hdr[54+4*i], hdr[55+4*i], hdr[56+4*i] = byte(i), byte(i), byte(i)
	}
	out := append([]byte(nil), hdr...)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 128 + 60*math.Sin(float64(x)/37) + 50*math.Cos(float64(y)/23) + 20*math.Sin(float64(x*y)/5000)
			v += float64(r.IntN(9)) - 4
			out = append(out, byte(math.Max(0, math.Min(255, v))))
		}
	}
	// Repeat with small variations up to the common size.
	for len(out) < compressionDataSize {
		out = append(out, out[len(hdr)+r.IntN(1000):][:min(w*h/2, compressionDataSize-len(out))]...)
	}
	return out
}

// genPDF: text objects interleaved with incompressible stream data.
func genPDF() []byte {
	r := newRand(5)
	var out []byte
	out = append(out, "%PDF-1.4\n"...)
	for i := 1; len(out) < compressionDataSize; i++ {
		out = fmt.Appendf(out, "%d 0 obj\n<< /Type /Page /Parent 2 0 R /Contents %d 0 R /MediaBox [0 0 612 792] >>\nendobj\n", i, i+1)
		n := 512 + r.IntN(4096)
		out = fmt.Appendf(out, "%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", i+1, n)
		for j := 0; j < n; j++ {
			out = append(out, byte(r.Uint32()))
		}
		out = append(out, "\nendstream\nendobj\n"...)
	}
	return out[:compressionDataSize]
}
