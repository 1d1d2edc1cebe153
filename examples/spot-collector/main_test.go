package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/runner"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Bad flags are usage errors (exit status 2) naming the problem.
func TestBadFlags(t *testing.T) {
	watch, staging := t.TempDir(), t.TempDir()
	base := []string{"-type", "flow", "-watch", watch, "-staging", staging}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-watch", watch, "-staging", staging}, "-type is required"},
		{[]string{"-type", "netflow", "-watch", watch, "-staging", staging}, `-type: unknown type "netflow"`},
		{[]string{"-type", "dns", "-staging", staging}, "-watch is required"},
		{[]string{"-type", "dns", "-watch", watch}, "-staging is required"},
		{[]string{"-type", "dns", "-watch", filepath.Join(watch, "nope"), "-staging", staging}, "is not a directory"},
		{[]string{"-type", "dns", "-watch", watch, "-staging", filepath.Join(watch, "stage")}, "must not contain each other"},
		{[]string{"-type", "dns", "-watch", filepath.Join(staging, "in"), "-staging", staging}, "must not contain each other"},
		{with("-brokers", " , "), "-brokers is empty"},
		{with("-pattern", "("), "-pattern"},
		{with("-max-request-bytes", "1023"), "-max-request-bytes 1023"},
		{with("-max-request-bytes", "2000000000"), "-max-request-bytes 2000000000"},
		{with("-workers", "0"), "-workers"},
		{with("-interval", "0s"), "-interval"},
		{with("-send-timeout", "-1s"), "-send-timeout"},
		{with("-nfdump", ""), "-nfdump"},
		{with("-nope"), "-nope"},
		{with("extra"), "unexpected arguments [extra]"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		switch {
		case err == nil:
			t.Errorf("run(%q) succeeded", tc.args)
		case !runner.IsUsage(err):
			t.Errorf("run(%q) = %v, not a usage error", tc.args, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(staging); len(entries) > 0 {
		t.Errorf("a usage error wrote to the staging directory")
	}
}

// The defaults: topic spot-<type>, the per-type patterns, Spot's sizes.
func TestFlagDefaults(t *testing.T) {
	watch, staging := t.TempDir(), t.TempDir()
	for _, tc := range []struct {
		typ       string
		match     []string
		different []string
	}{
		{"flow", []string{"nfcapd.201608171000", "nfcapd.20160817100000"}, []string{"nfcapd.current.123", "nfcapd.2016081710", "x.nfcapd.201608171000", "nfcapd.201608171000.tmp"}},
		{"dns", []string{"a.pcap", "dns.2016.pcap"}, []string{"a.pcapng", "a.pcap.part"}},
		{"proxy", []string{"bluecoat.log"}, []string{"bluecoat.log.1", "log"}},
	} {
		o, err := parseFlags([]string{"-type", tc.typ, "-watch", watch, "-staging", staging}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if o.topic != "spot-"+tc.typ || o.maxRequest != 1048576 || o.workers != 2 || o.interval != time.Second ||
			o.sendTimeout != 10*time.Second || o.nfdump != "nfdump" || o.tshark != "tshark" || !slices.Equal(o.brokers, []string{"127.0.0.1:9092"}) {
			t.Errorf("%s: defaults %+v", tc.typ, o)
		}
		for _, n := range tc.match {
			if !o.pattern.MatchString(n) {
				t.Errorf("%s: %q does not match %s", tc.typ, n, o.pattern)
			}
		}
		for _, n := range tc.different {
			if o.pattern.MatchString(n) {
				t.Errorf("%s: %q matches %s", tc.typ, n, o.pattern)
			}
		}
	}
}

// split returns the segments of a CSV as the collector makes them.
func split(t *testing.T, typ spot.Type, maxRequest int, text string) []spot.Segment {
	t.Helper()
	var segs []spot.Segment
	_, err := spot.Splitter{Type: typ, Budget: spot.ChunkBudget(maxRequest), OnSegment: func(s spot.Segment) error {
		segs = append(segs, s)
		return nil
	}}.Split(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// A staged CSV whose progress file says k chunks were handled: a new run
// sends only the others, with the chunk size of the progress file, even
// though its capture has gone; then cleans up and records the capture.
func TestResume(t *testing.T) {
	watch, staging := t.TempDir(), t.TempDir()
	text, _ := proxyLog(time.Date(2016, 8, 17, 10, 40, 0, 0, time.UTC), 60, "www.example.com")
	const maxRequest = 4096 // the earlier run's
	segs := split(t, spot.Proxy, maxRequest, text)
	if len(segs) < 4 {
		t.Fatalf("%d segments; want at least 4", len(segs))
	}
	const done = 2
	csvPath := filepath.Join(staging, "csv", "logs", "old.log.csv")
	if err := os.MkdirAll(filepath.Dir(csvPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(csvPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// A crash left a half-written line after the two handled chunks.
	progress := fmt.Sprintf("%s%d\n0 sent\n1 kept\n2 se", progressHeader, spot.ChunkBudget(maxRequest))
	if err := os.WriteFile(csvPath+".progress", []byte(progress), 0o644); err != nil {
		t.Fatal(err)
	}
	c := kafkatest.New(t, map[string]int32{"spot-proxy": 1})
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-type", "proxy", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-once"}, &bytes.Buffer{}, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	chunks := consume(t, c, "spot-proxy")
	if len(chunks) != len(segs)-done {
		t.Fatalf("%d chunks sent, want %d (the %d not handled)\n%s", len(chunks), len(segs)-done, len(segs)-done, stderr.String())
	}
	for i, ch := range chunks {
		want := segs[done+i]
		if !slices.Equal(ch.lines, want.Lines) || !ch.ts.Equal(want.Time) {
			t.Errorf("chunk %d: %d lines at %v, want segment %d: %d lines at %v", i, len(ch.lines), ch.ts, done+i, len(want.Lines), want.Time)
		}
	}
	if got := readLedger(t, staging); !slices.Equal(got, []string{"logs/old.log"}) {
		t.Errorf("ledger %q", got)
	}
	if left := filesUnder(t, filepath.Join(staging, "csv")); len(left) > 0 {
		t.Errorf("staged files left: %q", left)
	}
	if !strings.Contains(stderr.String(), "resuming after the chunks already handled") {
		t.Errorf("no resume message:\n%s", stderr.String())
	}
}

// Stopped (SIGINT, SIGTERM) in the middle of a capture, the collector
// finishes the chunk in flight and stops; the next run sends the rest,
// so every chunk arrives once, in order.
func TestStopMidCapture(t *testing.T) {
	watch, staging := t.TempDir(), t.TempDir()
	text, _ := proxyLog(time.Date(2016, 8, 17, 10, 0, 0, 0, time.UTC), 100, "www.example.com")
	if err := os.WriteFile(filepath.Join(watch, "a.log"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	segs := split(t, spot.Proxy, 4096, text)
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	c := kafkatest.New(t, map[string]int32{"spot-proxy": 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produces := 0
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if produces++; produces == 2 {
			cancel() // the signal arrives while the second chunk is in flight
		}
		return nil, nil, false
	})
	args := []string{"-type", "proxy", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-once", "-max-request-bytes", "4096"}
	var stderr bytes.Buffer
	if err := run(ctx, args, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if n := len(consume(t, c, "spot-proxy")); n != 2 {
		t.Fatalf("%d chunks sent before stopping, want 2\n%s", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), "the next run resumes the capture") {
		t.Errorf("no message about resuming:\n%s", stderr.String())
	}
	if b, _ := os.ReadFile(filepath.Join(staging, "processed")); len(b) > 0 {
		t.Errorf("the capture is in the ledger: %q", b)
	}
	stderr.Reset()
	if err := run(context.Background(), args, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("second run: %v\n%s", err, stderr.String())
	}
	chunks := consume(t, c, "spot-proxy")
	if len(chunks) != len(segs) {
		t.Fatalf("%d chunks in all, want %d", len(chunks), len(segs))
	}
	for i, ch := range chunks {
		if !slices.Equal(ch.lines, segs[i].Lines) {
			t.Errorf("chunk %d is not segment %d", i, i)
		}
	}
	if got := readLedger(t, staging); !slices.Equal(got, []string{"a.log"}) {
		t.Errorf("ledger %q", got)
	}
}

// A staged CSV of a capture already in the ledger (a crash after the
// ledger's sync) is removed, not sent again.
func TestStagedAlreadyProcessed(t *testing.T) {
	watch, staging := t.TempDir(), t.TempDir()
	text, _ := proxyLog(time.Date(2016, 8, 17, 10, 40, 0, 0, time.UTC), 5, "www.example.com")
	csvPath := filepath.Join(staging, "csv", "a.log.csv")
	if err := os.MkdirAll(filepath.Dir(csvPath), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, data := range map[string]string{csvPath: text, filepath.Join(staging, "processed"): "a.log\n"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := kafkatest.New(t, map[string]int32{"spot-proxy": 1})
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-type", "proxy", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-once"}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if n := len(consume(t, c, "spot-proxy")); n != 0 {
		t.Errorf("%d chunks sent", n)
	}
	if left := filesUnder(t, filepath.Join(staging, "csv")); len(left) > 0 {
		t.Errorf("staged files left: %q", left)
	}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A conversion tool that fails: its capture is not marked processed, the
// error says why (with the tool's message), the other captures are
// published, and -once exits with an error. nfdump runs with TZ=UTC.
func TestToolFailure(t *testing.T) {
	dir := t.TempDir()
	watch, staging := filepath.Join(dir, "watch"), filepath.Join(dir, "staging")
	if err := os.Mkdir(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	stock, err := filepath.Abs(filepath.Join("..", "internal", "spot", "testdata", "nfdump_stock.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in for nfdump -r FILE -o csv: captures starting with "bad"
	// fail, "short" ones are what nfdump prints for a file it cannot read
	// (status 0), the others give the stock fixture.
	fake := filepath.Join(dir, "nfdump")
	tzFile := filepath.Join(dir, "tz")
	writeScript(t, fake, fmt.Sprintf(`echo "$TZ" > %q
case "$(head -c 5 "$2")" in
bad*) echo "nfdump: cannot open $2: corrupt" >&2; exit 1;;
short) printf 'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,dtos,dir,ra\nNo matching flows\nSummary\n'; echo "Short read from file: $2" >&2; exit 0;;
esac
cat %q
`, tzFile, stock))
	for name, content := range map[string]string{
		"nfcapd.201608171000": "good",
		"nfcapd.201608171005": "bad capture",
		"nfcapd.201608171010": "short",
	} {
		if err := os.WriteFile(filepath.Join(watch, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := kafkatest.New(t, map[string]int32{"spot-flow": 1})
	var stderr bytes.Buffer
	args := []string{"-type", "flow", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-once", "-nfdump", fake}
	err = run(context.Background(), args, &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "2 captures could not be converted") {
		t.Fatalf("run: %v, want an error counting 2 failed captures\n%s", err, stderr.String())
	}
	for _, want := range []string{"nfdump: cannot open", "corrupt", "exit status 1", "Short read from file", "printed no records"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, stderr.String())
		}
	}
	if got := readLedger(t, staging); !slices.Equal(got, []string{"nfcapd.201608171000"}) {
		t.Errorf("ledger %q, want only the good capture", got)
	}
	if n := len(consume(t, c, "spot-flow")); n == 0 {
		t.Errorf("the good capture was not published")
	}
	if left := filesUnder(t, filepath.Join(staging, "csv")); len(left) > 0 {
		t.Errorf("staged files left: %q", left)
	}
	if tz, _ := os.ReadFile(tzFile); string(tz) != "UTC\n" {
		t.Errorf("nfdump ran with TZ=%q", tz)
	}
	// The next run tries the failed ones again, and only them.
	stderr.Reset()
	run(context.Background(), args, &bytes.Buffer{}, &stderr)
	if n := strings.Count(stderr.String(), "conversion failed"); n != 2 {
		t.Errorf("%d conversion failures in the second run, want 2:\n%s", n, stderr.String())
	}
}

// A missing tool is a failed conversion, not a crash.
func TestToolMissing(t *testing.T) {
	watch, staging := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(watch, "a.pcap"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-type", "dns", "-watch", watch, "-staging", staging, "-brokers", "127.0.0.1:1", "-once", "-tshark", filepath.Join(t.TempDir(), "no-tshark")}, &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(stderr.String(), "no-tshark") {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
}

// The ledger drops a line a crash left incomplete.
func TestLedgerTornTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "processed")
	if err := os.WriteFile(p, []byte("a\nsub/b\nc-torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openLedger(p)
	if err != nil {
		t.Fatal(err)
	}
	if !l.has("a") || !l.has("sub/b") || l.has("c-torn") || l.has("c") {
		t.Errorf("ledger %v", l.names)
	}
	if err := l.add("c"); err != nil {
		t.Fatal(err)
	}
	l.close()
	if b, _ := os.ReadFile(p); string(b) != "a\nsub/b\nc\n" {
		t.Errorf("ledger file %q", b)
	}
}

func TestProgressFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.csv.progress")
	pr, err := openProgress(p, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if pr.done != 0 || pr.budget != 1000 {
		t.Fatalf("new progress %+v", pr)
	}
	for i, sent := range []bool{true, true, false} {
		if err := pr.add(i, sent); err != nil {
			t.Fatal(err)
		}
	}
	pr.close()
	// Reopened with another budget, it keeps its own.
	pr, err = openProgress(p, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if pr.done != 3 || pr.sent != 2 || pr.kept != 1 || pr.budget != 1000 {
		t.Fatalf("reopened progress %+v", pr)
	}
	pr.close()
	for _, bad := range []string{
		progressHeader + "1000\n0 sent\n2 sent\n",
		progressHeader + "1000\n0 lost\n",
		"garbage\n0 sent\n",
	} {
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := openProgress(p, 1000); err == nil {
			t.Errorf("progress %q: no error", bad)
		}
	}
	// A header torn by a crash: nothing was sent, start again.
	if err := os.WriteFile(p, []byte(progressHeader[:10]), 0o644); err != nil {
		t.Fatal(err)
	}
	pr, err = openProgress(p, 1500)
	if err != nil || pr.done != 0 || pr.budget != 1500 {
		t.Fatalf("after a torn header: %+v, %v", pr, err)
	}
	pr.close()
}

// Kept chunks are re-sent in the order of their capture and id (10 after
// 9), not of their names.
func TestListKeptOrder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b_log_segment-0.csv", "a_log_segment-10.csv", "a_log_segment-9.csv", ".a_log_segment-11.csv.tmp", "notes.txt", "sub/a_log_segment-0.csv"} {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := listKept(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range kept {
		rel, _ := filepath.Rel(dir, k.path)
		got = append(got, filepath.ToSlash(rel))
	}
	want := []string{"a_log_segment-9.csv", "a_log_segment-10.csv", "b_log_segment-0.csv", "sub/a_log_segment-0.csv"}
	if !slices.Equal(got, want) {
		t.Errorf("listKept = %q, want %q", got, want)
	}
}
