package spote2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/avsctest"
	"github.com/microbatch-go/microbatch/internal/duckdbtest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/internal/testtool"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// maxRequestBytes is small, so that each hour's lines are cut into
// several chunks by size as well.
const maxRequestBytes = 8192

// tools checks for every outside tool a test needs before it does any
// work, and builds the two binaries.
func tools(t *testing.T, names ...string) (collector, listener string, paths map[string]string) {
	t.Helper()
	paths = map[string]string{}
	for _, n := range names {
		hint := "Debian package " + n
		if n == "nfpcapd" {
			hint = "Debian package nfdump"
		}
		paths[n] = testtool.Require(t, n, hint)
	}
	duckdbtest.Require(t)
	avsctest.Require(t)
	return proctest.Build(t, "./examples/spot-collector"), proctest.Build(t, "./examples/spot-listener"), paths
}

// pipeline runs the collector with -once over watch into a fresh kfake
// topic, checks the chunks it published, then runs the listener until
// wantRows rows are in Parquet under the returned directory.
func pipeline(t *testing.T, collector, listener string, typ spot.Type, watch string, wantRows int) (out string, lines []string) {
	t.Helper()
	cluster := kafkatest.New(t, map[string]int32{"spot-" + string(typ): 2})
	out, lines, _ = pipelineOn(t, cluster, nil, collector, listener, typ, watch, wantRows)
	return out, lines
}

// pipelineOn is pipeline on cluster, which has the topic spot-<type>,
// both commands taking extra arguments too (security flags, say); it also
// returns everything the two commands printed.
func pipelineOn(t *testing.T, cluster *kafkatest.Cluster, extra []string, collector, listener string, typ spot.Type, watch string, wantRows int) (out string, lines []string, printed string) {
	t.Helper()
	topic := "spot-" + string(typ)
	dir := t.TempDir()
	cout, stderr, code := proctest.Run(t, 2*time.Minute, collector, append([]string{"-type", string(typ), "-watch", watch,
		"-staging", filepath.Join(dir, "staging"), "-brokers", cluster.Addrs[0], "-topic", topic,
		"-max-request-bytes", strconv.Itoa(maxRequestBytes), "-once"}, extra...)...)
	printed = cout + stderr
	if code != 0 {
		t.Fatalf("collector exited with status %d:\n%s", code, stderr)
	}
	lines = checkChunks(t, typ, cluster.ReadAll(topic))
	if len(lines) != wantRows {
		t.Fatalf("the collector published %d lines, want %d:\n%s", len(lines), wantRows, stderr)
	}

	out = filepath.Join(dir, "hive")
	dead := filepath.Join(dir, "dead")
	p := proctest.Start(t, listener, append([]string{"-type", string(typ), "-brokers", cluster.Addrs[0], "-topic", topic,
		"-group", "e2e", "-batch", "500ms", "-rotate-interval", "1s", "-out", out, "-dead-letter", dead}, extra...)...)
	deadline := time.Now().Add(90 * time.Second)
	for n := parquetRows(t, out); n != wantRows; n = parquetRows(t, out) {
		if n > wantRows {
			t.Fatalf("%d rows in Parquet, want %d", n, wantRows)
		}
		select {
		case <-p.Done():
			t.Fatalf("listener exited (%v) with %d of %d rows written\n%s", p.Err(), n, wantRows, p.Output())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows in Parquet after 90 s\n%s", n, wantRows, p.Output())
		}
	}
	p.Stop(t, 30*time.Second)
	if n := parquetRows(t, out); n != wantRows {
		t.Fatalf("after the stop, %d rows in Parquet, want %d", n, wantRows)
	}
	if got := deadLetters(t, dead); len(got) > 0 {
		t.Errorf("valid input produced dead letters:\n%s", strings.Join(got, "\n"))
	}
	return out, lines, printed + p.Stdout.String() + p.Stderr.String()
}

// checkChunks checks the collector's messages: every value decodes with
// avsc, an Avro implementation independent of ours, to the lines our
// decoder gives; each chunk holds lines of one hour, fits the request
// size, and carries its first line's time as the record timestamp. It
// returns all lines.
func checkChunks(t *testing.T, typ spot.Type, recs []*kgo.Record) []string {
	t.Helper()
	if len(recs) == 0 {
		t.Fatal("the collector published nothing")
	}
	values := make([][]byte, len(recs))
	for i, r := range recs {
		values[i] = r.Value
	}
	decoded := avsctest.Decode(t, spot.ChunkSchemaJSON, values)
	hours := map[string]int{}
	var all []string
	for i, r := range recs {
		ours, err := spot.DecodeChunk(r.Value)
		if err != nil {
			t.Fatalf("message %d-%d: %v", r.Partition, r.Offset, err)
		}
		var theirs struct {
			List *struct {
				Array []string `json:"array"`
			} `json:"list"`
		}
		if decoded[i].Err != "" {
			t.Fatalf("message %d-%d: avsc: %s", r.Partition, r.Offset, decoded[i].Err)
		}
		if err := json.Unmarshal(decoded[i].Value, &theirs); err != nil || theirs.List == nil {
			t.Fatalf("message %d-%d: avsc decoded %s (%v)", r.Partition, r.Offset, decoded[i].Value, err)
		}
		if !slices.Equal(ours, theirs.List.Array) {
			t.Fatalf("message %d-%d: avsc decoded %q, we decode %q", r.Partition, r.Offset, theirs.List.Array, ours)
		}
		if len(ours) == 0 {
			t.Fatalf("message %d-%d is an empty chunk", r.Partition, r.Offset)
		}
		if len(r.Value) > maxRequestBytes {
			t.Errorf("message %d-%d is %d bytes, over -max-request-bytes %d", r.Partition, r.Offset, len(r.Value), maxRequestBytes)
		}
		first := lineTime(t, typ, ours[0])
		if !r.Timestamp.Equal(first) {
			t.Errorf("message %d-%d: timestamp %v, want its first line's time %v", r.Partition, r.Offset, r.Timestamp.UTC(), first)
		}
		hour := first.Truncate(time.Hour)
		hours[hour.Format("15")]++
		for _, l := range ours {
			if h := lineTime(t, typ, l).Truncate(time.Hour); !h.Equal(hour) {
				t.Errorf("message %d-%d mixes hours %v and %v", r.Partition, r.Offset, hour, h)
			}
		}
		all = append(all, ours...)
	}
	if len(hours) != 2 {
		t.Errorf("chunks per hour %v, want two hours", hours)
	}
	for h, n := range hours {
		if n < 2 {
			t.Errorf("hour %s has %d chunk; the size limit should have cut it into several", h, n)
		}
	}
	return all
}

// lineTime is a line's time as Spot reads it: the first field (flow),
// the first two tokens (proxy) or the epoch in the third field (dns).
func lineTime(t *testing.T, typ spot.Type, line string) time.Time {
	t.Helper()
	var at time.Time
	var err error
	switch typ {
	case spot.Flow:
		at, err = time.Parse(time.DateTime, strings.SplitN(line, ",", 2)[0])
	case spot.Proxy:
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("proxy line %q", line)
		}
		at, err = time.Parse(time.DateTime, f[0]+" "+f[1])
	case spot.DNS:
		f := strings.Split(line, ",")
		if len(f) < 3 {
			t.Fatalf("dns line %q", line)
		}
		// The epoch to the millisecond, Kafka's timestamp precision.
		sec, frac, _ := strings.Cut(f[2], ".")
		var s, ms int64
		s, err = strconv.ParseInt(sec, 10, 64)
		if err == nil && len(frac) >= 3 {
			ms, err = strconv.ParseInt(frac[:3], 10, 64)
		}
		at = time.UnixMilli(s*1000 + ms).UTC()
	}
	if err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return at
}

// parquetRows counts the rows of the committed Parquet files under dir
// (not those still in a _temporary staging directory).
func parquetRows(t *testing.T, dir string) int {
	t.Helper()
	_, _, rows := testtool.ParquetTotals(t, dir)
	return int(rows)
}

// deadLetters returns the dead-letter lines under dir.
func deadLetters(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(l) != "" {
				out = append(out, l)
			}
		}
		return nil
	})
	return out
}

// duckRows runs sql with DuckDB and returns each row's columns, in the
// query's order, as strings ("NULL" for null).
func duckRows(t *testing.T, sql string) []string {
	t.Helper()
	res := duckdbtest.Query(t, sql)
	out := make([]string, len(res.Rows))
	for i, raw := range res.Rows {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		cols := make([]string, len(res.Columns))
		for j, c := range res.Columns {
			if v := m[c.Name]; v == nil {
				cols[j] = "NULL"
			} else {
				cols[j] = fmt.Sprint(v)
			}
		}
		out[i] = strings.Join(cols, "|")
	}
	slices.Sort(out)
	return out
}

// compareRows fails the test unless got and want hold the same rows.
func compareRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s: DuckDB read %d rows, want %d", what, len(got), len(want))
	shown := 0
	for i := 0; i < max(len(got), len(want)) && shown < 10; i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("row %d:\n got %s\nwant %s", i, g, w)
			shown++
		}
	}
}

// nfdumpCSV runs nfdump over every file in dir (times in UTC) and returns
// its CSV records as maps from header name to value, and the flow count
// of its summary.
func nfdumpCSV(t *testing.T, nfdump, dir string) (recs []map[string]string, summaryFlows int) {
	t.Helper()
	cmd := exec.Command(nfdump, "-R", dir, "-o", "csv")
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nfdump -R %s -o csv: %v", dir, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var header []string
	summary := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case header == nil:
			header = strings.Split(line, ",")
		case line == "Summary":
			summary = true
		case summary && strings.HasPrefix(line, "flows,"):
		case summary:
			summaryFlows, err = strconv.Atoi(strings.SplitN(line, ",", 2)[0])
			if err != nil {
				t.Fatalf("nfdump summary %q: %v", line, err)
			}
		default:
			f := strings.Split(line, ",")
			if len(f) != len(header) {
				t.Fatalf("nfdump record %q has %d fields, header %d", line, len(f), len(header))
			}
			m := map[string]string{}
			for i, h := range header {
				if _, dup := m[h]; !dup {
					m[h] = strings.TrimSpace(f[i])
				}
			}
			recs = append(recs, m)
		}
	}
	if !summary {
		t.Fatalf("nfdump printed no summary:\n%s", out)
	}
	return recs, summaryFlows
}

// Flow: generated traffic -> nfpcapd -> nfcapd files -> collector (real
// nfdump) -> Kafka -> listener -> Parquet, read by DuckDB: one row per
// flow nfdump reports, with its addresses, ports, protocol, packets and
// bytes, in the y/m/d/h partition of its start time.
func TestFlowEndToEnd(t *testing.T) {
	collector, listener, tool := tools(t, "nfpcapd", "nfdump")
	dir := t.TempDir()
	captures := filepath.Join(dir, "captures")
	if err := os.Mkdir(captures, 0o755); err != nil {
		t.Fatal(err)
	}
	flows := writeFlowCapture(t, filepath.Join(dir, "traffic.pcap"), 400)
	cmd := exec.Command(tool["nfpcapd"], "-r", filepath.Join(dir, "traffic.pcap"), "-w", captures)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nfpcapd: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(captures, "nfcapd.*"))
	if len(files) < 3 {
		t.Fatalf("nfpcapd wrote %v; want a file per 5 minutes of the 16", files)
	}
	// A file nfcapd is still writing: the default pattern must skip it.
	if err := os.WriteFile(filepath.Join(captures, "nfcapd.current.4242"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}

	ref, summaryFlows := nfdumpCSV(t, tool["nfdump"], captures)
	if len(ref) != summaryFlows {
		t.Fatalf("nfdump printed %d records but its summary says %d flows", len(ref), summaryFlows)
	}
	// nfpcapd saw the traffic we generated: the same packets and bytes
	// (a flow cut by a file rotation is two records, so only the sums).
	var refPkts, refBytes, genPkts, genBytes int
	for _, r := range ref {
		p, _ := strconv.Atoi(r["ipkt"])
		b, _ := strconv.Atoi(r["ibyt"])
		refPkts, refBytes = refPkts+p, refBytes+b
	}
	for _, f := range flows {
		genPkts, genBytes = genPkts+f.packets, genBytes+f.ipBytes
	}
	if refPkts != genPkts || refBytes != genBytes || summaryFlows < len(flows) {
		t.Fatalf("nfdump reports %d flows, %d packets, %d bytes; generated %d flows, %d packets, %d bytes", summaryFlows, refPkts, refBytes, len(flows), genPkts, genBytes)
	}

	out, _ := pipeline(t, collector, listener, spot.Flow, captures, summaryFlows)

	var want []string
	for _, r := range ref {
		at, err := time.Parse(time.DateTime, r["ts"])
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, strings.Join([]string{r["ts"], strconv.FormatInt(at.Unix(), 10), r["sa"], r["da"], r["sp"], r["dp"], r["pr"],
			r["ipkt"], r["ibyt"], r["opkt"], r["obyt"], strconv.Itoa(at.Year()), strconv.Itoa(int(at.Month())), strconv.Itoa(at.Day()), strconv.Itoa(at.Hour())}, "|"))
	}
	got := duckRows(t, "SELECT treceived, unix_tstamp, sip, dip, sport, dport, proto, ipkt, ibyt, opkt, obyt, y, m, d, h FROM "+duckdbtest.ParquetTable(out))
	compareRows(t, "flow rows against nfdump's own output", got, want)
}

// DNS: generated queries and responses -> pcap -> collector (real tshark)
// -> Kafka -> listener -> Parquet, read by DuckDB: one row per response
// with the values put in the capture.
func TestDNSEndToEnd(t *testing.T) {
	collector, listener, _ := tools(t, "tshark")
	dir := t.TempDir()
	captures := filepath.Join(dir, "captures")
	if err := os.Mkdir(captures, 0o755); err != nil {
		t.Fatal(err)
	}
	resps := writeDNSCapture(t, filepath.Join(captures, "dns-0001.pcap"), 300)

	out, _ := pipeline(t, collector, listener, spot.DNS, captures, len(resps))

	var want []string
	for _, r := range resps {
		qtype := "NULL"
		if r.qtype != 0 {
			qtype = strconv.Itoa(int(r.qtype))
		}
		name := r.name
		if r.rcode != 0 {
			name = "" // no answer, so no dns.resp.name
		}
		at := r.at
		want = append(want, strings.Join([]string{strconv.FormatInt(at.Unix(), 10), strconv.Itoa(r.frameLen), r.server.String(), r.client.String(),
			name, qtype, strconv.Itoa(r.rcode), r.a, strconv.Itoa(at.Year()), strconv.Itoa(int(at.Month())), strconv.Itoa(at.Day()), strconv.Itoa(at.Hour())}, "|"))
	}
	got := duckRows(t, "SELECT unix_tstamp, frame_len, ip_src, ip_dst, dns_qry_name, dns_qry_type, dns_qry_rcode, dns_a, y, m, d, h FROM "+duckdbtest.ParquetTable(out))
	compareRows(t, "dns rows against the generated responses", got, want)
}

// Proxy: a Bluecoat log -> collector (as is) -> Kafka -> listener ->
// Parquet, read by DuckDB: one row per log entry, with the computed full
// URI and zero-padded string partitions.
func TestProxyEndToEnd(t *testing.T) {
	collector, listener, _ := tools(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	text, entries := proxyLog(400)
	if err := os.WriteFile(filepath.Join(logs, "access-0001.log"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	out, _ := pipeline(t, collector, listener, spot.Proxy, logs, len(entries))

	var want []string
	for _, e := range entries {
		want = append(want, strings.Join([]string{e.date, e.time, strconv.Itoa(e.duration), e.clientip, e.host, e.respcode, e.useragent,
			strconv.Itoa(e.scbytes), strconv.Itoa(e.csbytes), e.fullURI(), e.y, e.m, e.d, e.h}, "|"))
	}
	// The partitions are strings: read them as such, not autocast to
	// numbers, so that "08" stays "08".
	table := "read_parquet(" + duckdbtest.Quote(filepath.Join(out, "**", "*.parquet")) + ", hive_partitioning = true, hive_types_autocast = false)"
	got := duckRows(t, "SELECT p_date, p_time, duration, clientip, host, respcode, useragent, scbytes, csbytes, fulluri, y, m, d, h FROM "+table)
	compareRows(t, "proxy rows against the log entries", got, want)
}
