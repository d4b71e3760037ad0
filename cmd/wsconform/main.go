// Command wsconform runs the Autobahn-equivalent WebSocket conformance suite
// (package internal/conform) against an echo server.
//
//	go run ./cmd/wsconform -url ws://127.0.0.1:9001/ [-cases 1.*,2.*] [-exclude 9.*] [-slow] [-json]
//	go run ./cmd/wsconform -url wss://127.0.0.1:9443/ [-ca cert.pem | -insecure]
//
// A wss:// URL is tested over TLS: the server's certificate is verified
// against the system's roots, or against the PEM certificates in the file
// given with -ca (a test CA, or a self-signed certificate), or not at all
// with -insecure.
//
// It prints one table per group (case, verdict, close code, duration,
// detail) and a summary of verdicts per group. With -json it prints the
// results as JSON instead. The exit status is 0 when no case FAILED, 1 when
// at least one did, and 2 for bad flags.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wsloop/wsloop/internal/conform"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsconform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "ws://127.0.0.1:9001/", "`ws:// or wss://` URL of the echo server under test")
	cases := fs.String("cases", "", "comma separated case `patterns` to run, e.g. 1.*,6.4.*,7.1.1 (default: all)")
	exclude := fs.String("exclude", "", "comma separated case `patterns` to skip")
	slow := fs.Bool("slow", false, "also run the 16 MiB cases of group 9 and the full message counts of groups 12/13")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	verbose := fs.Bool("v", false, "print the wire trace of every case that is not OK")
	scale := fs.Float64("time-scale", 1, "multiply every wait of the suite by this `factor`")
	caFile := fs.String("ca", "", "for a wss:// URL: trust the PEM certificates in this `file` (a test CA) instead of the system's roots")
	insecure := fs.Bool("insecure", false, "for a wss:// URL: do not verify the server's certificate")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wsconform -url ws[s]://host:port/path [-ca file | -insecure] [-cases patterns] [-exclude patterns] [-slow] [-json]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wsconform: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if err := conform.CheckURL(*url); err != nil {
		return bad("%v", err)
	}
	if *scale <= 0 {
		return bad("-time-scale must be > 0")
	}
	tlsCfg, err := clientTLS(*url, *caFile, *insecure)
	if err != nil {
		return bad("%v", err)
	}
	opts := conform.Options{Slow: *slow, TimeScale: *scale, TLS: tlsCfg}
	if *cases != "" {
		opts.Cases = []string{*cases}
	}
	if *exclude != "" {
		opts.Exclude = []string{*exclude}
	}
	if err := conform.CheckPatterns(opts.Cases); err != nil {
		return bad("-cases: %v", err)
	}
	if err := conform.CheckPatterns(opts.Exclude); err != nil {
		return bad("-exclude: %v", err)
	}
	selected := conform.Select(opts)
	if len(selected) == 0 {
		return bad("no case matches -cases %q / -exclude %q", *cases, *exclude)
	}
	skippedSlow := 0
	if !*slow {
		withSlow := opts
		withSlow.Slow = true
		skippedSlow = len(conform.Select(withSlow)) - len(selected)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if !*asJSON {
		fmt.Fprintf(stderr, "wsconform: running %d cases against %s\n", len(selected), *url)
		opts.Progress = func(c conform.Case, r conform.Result) {
			if r.Verdict != conform.OK {
				fmt.Fprintf(stderr, "  %-8s %s\n", r.ID, r.Verdict)
			}
		}
	}
	start := time.Now()
	results := conform.Run(ctx, *url, opts)
	elapsed := time.Since(start)

	if *asJSON {
		out := struct {
			URL     string           `json:"url"`
			Results []conform.Result `json:"results"`
			Summary conform.Summary  `json:"summary"`
		}{*url, results, conform.Summarize(results)}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "wsconform: %v\n", err)
			return 1
		}
	} else {
		printTables(stdout, selected, results, *verbose)
		printSummary(stdout, results)
		fmt.Fprintf(stdout, "\n%d cases in %s", len(results), elapsed.Round(time.Millisecond))
		if skippedSlow > 0 {
			fmt.Fprintf(stdout, "; %d slow cases skipped (use -slow)", skippedSlow)
		}
		fmt.Fprintln(stdout)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "wsconform: interrupted")
		return 1
	}
	for _, r := range results {
		if r.Verdict == conform.Failed {
			return 1
		}
	}
	return 0
}

// clientTLS is the TLS configuration that -ca and -insecure ask for: nil
// (the system's roots) when neither is given. Both apply to wss:// URLs
// only, and only one of them at a time.
func clientTLS(url, caFile string, insecure bool) (*tls.Config, error) {
	if caFile == "" && !insecure {
		return nil, nil
	}
	if !strings.HasPrefix(url, "wss://") {
		return nil, fmt.Errorf("-ca and -insecure are for wss:// URLs; -url is %s", url)
	}
	if insecure {
		if caFile != "" {
			return nil, errors.New("-ca and -insecure: give one of them")
		}
		return &tls.Config{InsecureSkipVerify: true}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca %s: no PEM certificate in the file", caFile)
	}
	return &tls.Config{RootCAs: pool}, nil
}

func printTables(w io.Writer, cases []conform.Case, results []conform.Result, verbose bool) {
	group := map[string]string{}
	for _, c := range cases {
		group[c.ID] = c.Group
	}
	last := ""
	var tw *tabwriter.Writer
	for _, r := range results {
		g := group[r.ID]
		if g != last {
			if tw != nil {
				tw.Flush()
			}
			fmt.Fprintf(w, "\n== %s %s ==\n", g, conform.Groups[g])
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CASE\tVERDICT\tCLOSE\tTIME\tDETAIL")
			last = g
		}
		code := "-"
		switch {
		case r.RemoteCloseCode > 0:
			code = fmt.Sprint(r.RemoteCloseCode)
		case r.RemoteCloseCode < 0:
			code = "empty"
		}
		detail := r.Detail
		if r.Verdict == conform.OK {
			detail = ""
		}
		if r.Allowed != "" {
			detail = "allowed: " + r.Allowed + "; " + detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Verdict, code, r.Duration.Round(time.Millisecond), detail)
		if verbose && r.Verdict != conform.OK {
			for _, l := range r.Trace {
				fmt.Fprintf(tw, "\t\t\t\t  %s\n", l)
			}
		}
	}
	if tw != nil {
		tw.Flush()
	}
}

func printSummary(w io.Writer, results []conform.Result) {
	s := conform.Summarize(results)
	fmt.Fprintln(w, "\n== Summary ==")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"GROUP", ""}
	for _, v := range conform.Verdicts {
		head = append(head, string(v))
	}
	head = append(head, "TOTAL")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	row := func(name, title string, counts map[conform.Verdict]int) {
		cells := []string{name, title}
		total := 0
		for _, v := range conform.Verdicts {
			cells = append(cells, fmt.Sprint(counts[v]))
			total += counts[v]
		}
		cells = append(cells, fmt.Sprint(total))
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	for _, g := range conform.GroupOrder {
		if c, ok := s.Counts[g]; ok {
			row(g, conform.Groups[g], c)
		}
	}
	row("all", "", s.Total)
	tw.Flush()
}
