package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSeriesCSV(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	dir := t.TempDir()
	path := filepath.Join(dir, "run.csv")
	r, code, _ := runBench(t, "connect", "-url", s.url, "-stages", "500ms:20,200ms:20", "-series", path, "-series-interval", "100ms")
	wantExit(t, r, code, exitOK)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 5 || strings.Join(rows[0], ",") != "t,open,opened,failed,ops,rate,errors,samples,p50_us,p99_us,max_us" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	opened, lastT, maxOpen := 0, 0.0, 0
	for _, row := range rows[1:] {
		tt, _ := strconv.ParseFloat(row[0], 64)
		open, _ := strconv.Atoi(row[1])
		n, _ := strconv.Atoi(row[2])
		if tt <= lastT {
			t.Errorf("time %v after %v", tt, lastT)
		}
		lastT, opened, maxOpen = tt, opened+n, max(maxOpen, open)
	}
	if opened != 20 || maxOpen != 20 {
		t.Errorf("series: %d opened, at most %d open; want 20 and 20:\n%v", opened, maxOpen, rows)
	}
}

func TestSeriesJSONAndChart(t *testing.T) {
	s := newTestServer(t, serverMode{echo: true})
	for _, procs := range []string{"1", "2"} {
		dir := t.TempDir()
		series, chart := filepath.Join(dir, "run.jsonl"), filepath.Join(dir, "run.svg")
		r, code, _ := runBench(t, "echo", "-url", s.url, "-procs", procs, "-conns", "4", "-duration", "400ms",
			"-series", series, "-series-interval", "100ms", "-chart", chart)
		wantExit(t, r, code, exitOK)
		f, err := os.Open(series)
		if err != nil {
			t.Fatal(err)
		}
		var ops, samples int64
		var points int
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var tk tick
			if err := json.Unmarshal(sc.Bytes(), &tk); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			ops += tk.Ops
			samples += tk.Samples
			points++
			if tk.Samples > 0 && (tk.P50 <= 0 || tk.P50 > tk.P99 || tk.P99 > tk.Max) {
				t.Errorf("-procs %s: point %+v", procs, tk)
			}
		}
		f.Close()
		// The points add up to the whole run.
		if points < 4 || ops != r.Echo.Received || samples != r.Latency["rtt"].Count {
			t.Errorf("-procs %s: %d points, %d ops, %d samples; the run received %d, %d rtt samples",
				procs, points, ops, samples, r.Echo.Received, r.Latency["rtt"].Count)
		}
		b, err := os.ReadFile(chart)
		if err != nil {
			t.Fatal(err)
		}
		if err := wellFormed(b); err != nil || !strings.Contains(string(b), "connections open") || strings.Count(string(b), "<polyline") < 3 {
			t.Errorf("-procs %s: chart (%v):\n%.500s", procs, err, b)
		}
	}
}

// wellFormed checks that b is well-formed XML.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(strings.NewReader(string(b)))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestNiceMax(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.7: 0.8, 1: 1, 4.2: 5, 5.004: 6, 11: 12, 2600: 3000, 1e6: 1e6} {
		if got := niceMax(v); got != want {
			t.Errorf("niceMax(%v) = %v, want %v", v, got, want)
		}
	}
}
