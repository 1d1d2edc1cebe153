package main

// In-process tests of the listener: chunks are produced to an in-process
// Kafka (kfake) before run starts, run reads them until the progress
// lines account for every message, and the Parquet files and dead
// letters it wrote are read back. Only one dstream context may be active
// in a process, so these tests do not run in parallel.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/examples/internal/progress/progresstest"
	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/runner"
)

// testLines returns the lines of a file, relative to this package.
func testLines(t testing.TB, name string) []string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

const (
	flowRecords = "../internal/spot/testdata/flow_records.csv"
	proxyLog    = "../internal/spot/testdata/proxy.log"
	dnsSample   = "testdata/dns_responses.csv"
)

// chunk encodes lines as a collector chunk.
func chunk(t testing.TB, lines ...string) []byte {
	t.Helper()
	b, err := spot.EncodeChunk(lines)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// message is one Kafka message to produce.
type message struct {
	partition int32
	value     []byte
}

// produce writes the messages, in order, to the topic's partitions.
func produce(t testing.TB, c *kafkatest.Cluster, topic string, msgs ...message) {
	t.Helper()
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = &kgo.Record{Topic: topic, Partition: m.partition, Value: m.value}
	}
	c.Produce(recs...)
}

// progressLine is the per-batch line on standard error.
var progressLine = regexp.MustCompile(`(?m)^batch \S+ records=(\d+) lines=(\d+|\?) rows=(\d+|\?) dead=(\d+|\?) processing=\S+ (ok|FAILED: .*)$`)

// sumProgress adds up the progress lines: records, lines, rows, dead,
// and the batches that failed.
func sumProgress(stderr string) (sum [4]int, failed []string) {
	for _, m := range progressLine.FindAllStringSubmatch(stderr, -1) {
		if m[5] != "ok" {
			failed = append(failed, m[0])
			continue
		}
		for i := range sum {
			n, _ := strconv.Atoi(m[i+1])
			sum[i] += n
		}
	}
	return sum, failed
}

// runUntil runs the listener with args until its progress lines count
// records messages, then stops it as SIGTERM would and returns its
// standard error.
func runUntil(t *testing.T, args []string, records int) string {
	t.Helper()
	return progresstest.RunUntil(t, run, args, int64(records))
}

// readTable reads every committed Parquet file under dir (not the sink's
// staging directory) and returns the rows by Hive partition directory,
// such as "y=2016/m=8/d=17/h=10".
func readTable[R any](t testing.TB, dir string) map[string][]R {
	t.Helper()
	out := map[string][]R{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "_") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return nil
		}
		rows, err := parquet.ReadFile[R](p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(p))
		out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], rows...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readDeadLetters reads the dead-letter files under dir, a file per Kafka
// message (scaleout.DeadFiles). strict is kept for the callers: the files
// are written atomically, so every one is complete.
func readDeadLetters(t testing.TB, dir string, strict bool) []deadLetter {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, scaleout.DeadGlob))
	if err != nil {
		t.Fatal(err)
	}
	var out []deadLetter
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var d deadLetter
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("%s: %q: %v", p, sc.Text(), err)
			}
			out = append(out, d)
		}
		f.Close()
	}
	return out
}

// flowKey identifies a sample flow record.
func flowKey(r spot.FlowRow) string {
	return r.TReceived + "|" + r.SIP + "|" + r.DIP + "|" + strconv.Itoa(int(r.SPort))
}

// Chunks of the sample flow records on two partitions, with a message that
// is not a chunk and a chunk holding a line that does not parse: every
// record lands once, in its hour's directory, with the values it had; the
// two bad inputs are dead letters naming where they came from; the
// progress lines count everything; the offsets are committed.
func TestFlowToParquet(t *testing.T) {
	lines := testLines(t, flowRecords)
	c := kafkatest.New(t, map[string]int32{"spot-flow": 2})
	bad := "2016-08-17 10:58:99,2016,8,17,10,58,99,0.000,10.1.1.1,10.1.1.2,1,2,TCP,......,0,0,1,1,0,0,0,0,0,0,0,0,10.0.0.1"
	notAChunk := []byte("2016-08-17 10:58:03,2016,8,17 is not Avro")
	withBad := append(slices.Clone(lines[10:13]), bad)
	withBad = append(withBad, lines[13:18]...)
	produce(t, c, "spot-flow",
		message{0, chunk(t, lines[:10]...)}, // offset 0
		message{0, notAChunk},               // offset 1
		message{0, chunk(t, withBad...)},    // offset 2: the bad line is item 3
		message{1, chunk(t, lines[18:]...)}, // offset 0 of partition 1: hour 11
		message{1, chunk(t)},                // offset 1: an empty chunk
	)
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "flow"), filepath.Join(dir, "dead")
	stderr := runUntil(t, []string{"-type", "flow", "-brokers", c.Addrs[0], "-batch", "200ms",
		"-out", out, "-dead-letter", dead}, 5)

	table := readTable[spot.FlowRow](t, out)
	if len(table) != 2 || len(table["y=2016/m=8/d=17/h=10"]) != 18 || len(table["y=2016/m=8/d=17/h=11"]) != 2 {
		counts := map[string]int{}
		for k, v := range table {
			counts[k] = len(v)
		}
		t.Fatalf("rows by directory %v, want 18 in y=2016/m=8/d=17/h=10 and 2 in y=2016/m=8/d=17/h=11", counts)
	}
	want := map[string]spot.FlowRow{}
	for _, l := range lines {
		r, err := spot.ParseFlow(l)
		if err != nil {
			t.Fatal(err)
		}
		r.Y, r.M, r.D, r.H = 0, 0, 0, 0 // in the path only
		want[flowKey(r)] = r
	}
	seen := map[string]bool{}
	for _, rows := range table {
		for _, r := range rows {
			k := flowKey(r)
			if seen[k] {
				t.Errorf("row %s written twice", k)
			}
			seen[k] = true
			if w, ok := want[k]; !ok || r != w {
				t.Errorf("row %+v\nwant %+v", r, w)
			}
		}
	}
	// Two rows checked against the file itself, not the parser.
	for _, r := range table["y=2016/m=8/d=17/h=10"] {
		if r.Proto == "ICMP" && r.DIP == "192.0.2.8" && (r.DPort != 2048 || r.IByt != 336 || r.TDur != 3.012 || r.UnixTstamp != 1471431492) {
			t.Errorf("ICMP echo row %+v", r)
		}
	}
	for _, r := range table["y=2016/m=8/d=17/h=11"] {
		if r.DPort == 3389 && (r.TReceived != "2016-08-17 11:00:01" || r.TrHour != 11 || r.TrMinute != 0 || r.IPkt != 15 || r.RIP != "10.0.0.1") {
			t.Errorf("RDP row %+v", r)
		}
	}

	dl := readDeadLetters(t, dead, true)
	if len(dl) != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", len(dl), dl)
	}
	slices.SortFunc(dl, func(a, b deadLetter) int { return int(a.Offset - b.Offset) })
	m, l := dl[0], dl[1]
	if m.Topic != "spot-flow" || m.Partition != 0 || m.Offset != 1 || m.Index != nil || m.Line != nil ||
		m.ValueBase64 == nil || *m.ValueBase64 != base64.StdEncoding.EncodeToString(notAChunk) || !strings.Contains(m.Reason, "not an Avro chunk") {
		t.Errorf("dead letter of the message that is not a chunk: %s", m.JSON())
	}
	if l.Topic != "spot-flow" || l.Partition != 0 || l.Offset != 2 || l.Index == nil || *l.Index != 3 ||
		l.Line == nil || *l.Line != bad || l.ValueBase64 != nil || !strings.Contains(l.Reason, "treceived") {
		t.Errorf("dead letter of the bad line: %s", l.JSON())
	}

	sum, _ := sumProgress(stderr)
	if sum != [4]int{5, 21, 20, 2} {
		t.Errorf("progress lines add up to records=%d lines=%d rows=%d dead=%d, want 5 21 20 2\n%s", sum[0], sum[1], sum[2], sum[3], stderr)
	}
	if strings.Contains(stderr, "dead letter") {
		t.Errorf("dead letters were logged although -dead-letter was given:\n%s", stderr)
	}
	// Without -checkpoint the group's offsets are where the next run starts.
	got := c.Committed("spot-listener-flow")["spot-flow"]
	if got[0] != 3 || got[1] != 2 {
		t.Errorf("committed offsets %v, want partition 0 at 3 and 1 at 2", got)
	}
}

// Without -dead-letter, dead letters are logged with the same fields.
func TestDeadLettersLogged(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"flows": 1})
	lines := testLines(t, flowRecords)
	produce(t, c, "flows", message{0, chunk(t, lines[0], "Summary", lines[1])}, message{0, []byte{0x04}})
	out := filepath.Join(t.TempDir(), "flow")
	stderr := runUntil(t, []string{"-type", "flow", "-topic", "flows", "-group", "g", "-brokers", c.Addrs[0], "-batch", "200ms", "-out", out}, 2)
	for _, want := range []string{
		`level=WARN msg="dead letter" topic=flows partition=0 offset=0 index=1 reason="flow: 1 fields, want 27" line=Summary`,
		`level=WARN msg="dead letter" topic=flows partition=0 offset=1 reason="spot: not an Avro chunk: `,
		` value_base64="BA=="`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := len(readTable[spot.FlowRow](t, out)["y=2016/m=8/d=17/h=10"]); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}

// DNS responses, with the null type of NXDOMAIN responses and tshark's
// header line, which is a dead letter.
func TestDNSToParquet(t *testing.T) {
	lines := testLines(t, dnsSample)
	c := kafkatest.New(t, map[string]int32{"spot-dns": 1})
	header := "frame.time,frame.time_epoch,frame.len,ip.src,ip.dst,dns.resp.name,dns.resp.type,dns.resp.class,dns.flags.rcode,dns.a"
	produce(t, c, "spot-dns", message{0, chunk(t, append([]string{header}, lines[:7]...)...)}, message{0, chunk(t, lines[7:]...)})
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "dns"), filepath.Join(dir, "dead")
	stderr := runUntil(t, []string{"-type", "dns", "-brokers", c.Addrs[0], "-batch", "200ms", "-out", out, "-dead-letter", dead}, 2)

	table := readTable[spot.DNSRow](t, out)
	h10, h11 := table["y=2016/m=8/d=17/h=10"], table["y=2016/m=8/d=17/h=11"]
	if len(table) != 2 || len(h10) != 7 || len(h11) != 3 {
		t.Fatalf("rows by directory: %d directories, %d in h=10, %d in h=11; want 7 and 3", len(table), len(h10), len(h11))
	}
	nulls := 0
	for _, r := range append(h10, h11...) {
		if r.DNSQryType == nil {
			nulls++
			if r.DNSQryRcode == 0 || r.DNSA != "" {
				t.Errorf("a row without a type: %+v", r)
			}
		}
		if r.DNSQryName == "www.example.com" && r.UnixTstamp == 1471431483 {
			if r.FrameTime != "Aug 17, 2016 10:58:03.124456000 UTC" || r.FrameLen != 91 || r.IPSrc != "10.0.0.53" ||
				r.IPDst != "10.1.1.23" || r.DNSQryClass != "0x0001" || r.DNSQryType == nil || *r.DNSQryType != 1 || r.DNSA != "192.0.2.7" {
				t.Errorf("first row %+v", r)
			}
		}
	}
	if nulls != 3 {
		t.Errorf("%d rows with a null dns_qry_type, want 3", nulls)
	}
	dl := readDeadLetters(t, dead, true)
	if len(dl) != 1 || dl[0].Line == nil || *dl[0].Line != header || dl[0].Offset != 0 || *dl[0].Index != 0 {
		t.Errorf("dead letters %+v, want tshark's header line", dl)
	}
	if sum, _ := sumProgress(stderr); sum != [4]int{2, 11, 10, 1} {
		t.Errorf("progress adds up to %v, want records=2 lines=11 rows=10 dead=1", sum)
	}
}

// A Bluecoat log with its two comment lines: the comments are dead
// letters, the requests land in zero-padded string partitions.
func TestProxyToParquet(t *testing.T) {
	lines := testLines(t, proxyLog)
	c := kafkatest.New(t, map[string]int32{"spot-proxy": 1})
	produce(t, c, "spot-proxy", message{0, chunk(t, lines[:20]...)}, message{0, chunk(t, lines[20:]...)})
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "proxy"), filepath.Join(dir, "dead")
	stderr := runUntil(t, []string{"-type", "proxy", "-brokers", c.Addrs[0], "-batch", "200ms", "-out", out, "-dead-letter", dead}, 2)

	table := readTable[spot.ProxyRow](t, out)
	h10, h11 := table["y=2016/m=08/d=17/h=10"], table["y=2016/m=08/d=17/h=11"]
	if len(table) != 2 || len(h10) != 16 || len(h11) != 14 {
		t.Fatalf("rows by directory: %d directories, %d in h=10, %d in h=11; want 16 and 14", len(table), len(h10), len(h11))
	}
	for _, l := range lines[2:] {
		want, err := spot.ParseProxy(l)
		if err != nil {
			t.Fatal(err)
		}
		want.Y, want.M, want.D, want.H = "", "", "", ""
		if !slices.Contains(append(h10, h11...), want) {
			t.Errorf("row of %q missing or different", l)
		}
	}
	dl := readDeadLetters(t, dead, true)
	if len(dl) != 2 || !strings.HasPrefix(*dl[0].Line, "#") || !strings.HasPrefix(*dl[1].Line, "#") {
		t.Errorf("dead letters %+v, want the two comment lines", dl)
	}
	if sum, _ := sumProgress(stderr); sum != [4]int{2, 32, 30, 2} {
		t.Errorf("progress adds up to %v, want records=2 lines=32 rows=30 dead=2", sum)
	}
}

// -print-ddl prints the table's statement with -out as its location, or
// Spot's default location, and exits.
func TestPrintDDL(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		typ            spot.Type
		db, location   string
		locationInText string
	}{
		{[]string{"-type", "flow", "-print-ddl"}, spot.Flow, "spot", "/user/spot/flow/hive", "LOCATION '/user/spot/flow/hive';"},
		{[]string{"-type", "dns", "-print-ddl", "-out", "hdfs://nn:8020/spot/dns/hive"}, spot.DNS, "spot", "hdfs://nn:8020/spot/dns/hive", "LOCATION 'hdfs://nn:8020/spot/dns/hive';"},
		{[]string{"-print-ddl", "-type", "proxy", "-db", "spot_test", "-out", "/data/o'neil"}, spot.Proxy, "spot_test", "/data/o'neil", `LOCATION '/data/o\'neil';`},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), tc.args, &stdout, &stderr); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		want, err := spot.DDL(tc.typ, tc.db, tc.location)
		if err != nil {
			t.Fatal(err)
		}
		if stdout.String() != want || !strings.Contains(want, tc.locationInText) ||
			!strings.HasPrefix(want, "CREATE EXTERNAL TABLE IF NOT EXISTS "+tc.db+"."+string(tc.typ)+" (") {
			t.Errorf("%q printed\n%s\nwant\n%s", tc.args, stdout.String(), want)
		}
		if stderr.Len() > 0 {
			t.Errorf("%q wrote to stderr: %s", tc.args, stderr.String())
		}
	}
}

// Bad flags are usage errors (exit status 2), not crashes.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-type is required"},
		{[]string{"-out", "/x"}, "-type is required"},
		{[]string{"-type", "netflow", "-out", "/x"}, `unknown type "netflow"`},
		{[]string{"-type", "Flow", "-out", "/x"}, `unknown type "Flow"`},
		{[]string{"-type", "flow"}, "-out is required"},
		{[]string{"-type", "flow", "-out", "/x", "-brokers", " , "}, "-brokers is empty"},
		{[]string{"-type", "flow", "-out", "/x", "-batch", "0s"}, "-batch 0s"},
		{[]string{"-type", "flow", "-out", "/x", "-batch", "-1s"}, "-batch -1s"},
		{[]string{"-type", "flow", "-out", "/x", "-batch", "1500us"}, "whole number of milliseconds"},
		{[]string{"-type", "flow", "-out", "/x", "-duration", "-1s"}, "-duration -1s is negative"},
		{[]string{"-type", "flow", "-out", "/x", "-batch", "soon"}, `invalid value "soon" for flag -batch`},
		{[]string{"-type", "flow", "-out", "/x", "-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-type", "flow", "-out", "/x", "extra"}, "unexpected arguments [extra]"},
		{[]string{"-type", "flow", "-print-ddl", "-db", "spot;drop"}, "database name"},
		{[]string{"-type", "flow", "-print-ddl", "-db", ""}, "database name"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		switch {
		case err == nil:
			t.Errorf("run(%q) succeeded, want an error", tc.args)
		case !runner.IsUsage(err):
			t.Errorf("run(%q) = %v (%T), want a usage error", tc.args, err, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	// -h prints the usage and is not an error for main.
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, new(bytes.Buffer), &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-dead-letter") {
		t.Errorf("-h: %v\n%s", err, stderr.String())
	}
}

// An -out the sink cannot use fails at start, before anything is read.
func TestBadOutput(t *testing.T) {
	err := run(context.Background(), []string{"-type", "flow", "-out", "nosuch://x/y", "-brokers", "127.0.0.1:1"}, new(bytes.Buffer), new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "-out nosuch://x/y") {
		t.Errorf("run with -out nosuch://x/y: %v", err)
	}
}

// A dead letter is one line of JSON that keeps &, < and > as they are
// and decodes back to itself.
func TestDeadLetterJSON(t *testing.T) {
	line, i := "2016-08-17 10:56:00 GET /q?a=1&b=<2> \"x\"\n", 4
	d := deadLetter{Topic: "spot-proxy", Partition: 3, Offset: 99, Index: &i, Reason: "proxy: 5 fields, want 27", Line: &line}
	got := d.JSON()
	want := `{"topic":"spot-proxy","partition":3,"offset":99,"index":4,"reason":"proxy: 5 fields, want 27","line":"2016-08-17 10:56:00 GET /q?a=1&b=<2> \"x\"\n"}`
	if got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
	var back deadLetter
	if err := json.Unmarshal([]byte(got), &back); err != nil || *back.Line != line || *back.Index != 4 || back.ValueBase64 != nil {
		t.Errorf("decoded back to %+v, %v", back, err)
	}
	v := "AAE="
	m := deadLetter{Topic: "t", Offset: 1, Reason: "r", ValueBase64: &v}
	if got, want := m.JSON(), `{"topic":"t","partition":0,"offset":1,"reason":"r","value_base64":"AAE="}`; got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}
