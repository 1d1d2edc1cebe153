package main

// End-to-end tests of the manager as a program: the binary is built once
// and run as a subprocess against an in-process Kafka (kfake), the Kudu
// test server and the HDFS test server, all in the test process on
// loopback ports. Events are encoded by avsc, an Avro implementation
// independent of the manager's; the Parquet output is read by DuckDB (or
// by parquet-go through HDFS), the Kudu table by the test server.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/internal/avsctest"
	"github.com/microbatch-go/microbatch/internal/duckdbtest"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/storage"
	_ "github.com/microbatch-go/microbatch/storage/hdfs" // hdfs:// for reading back
)

func TestMain(m *testing.M) { proctest.Main(m) }

// buildManager builds the command, once per test process.
func buildManager(t *testing.T) string {
	t.Helper()
	return proctest.Build(t, "./examples/iot-manager")
}

const (
	e2eTopic      = "daf-iot-events"
	e2ePartitions = 3
	e2eMaxMessage = 200_000
)

// e2eInput is what the end-to-end tests produce and what they expect.
type e2eInput struct {
	events   []jsonEvent    // the valid events, in the order produced
	messages []message      // every message, in the order produced
	bad      map[int]string // message index -> the start of its dead letter's reason
	hdfs     map[string]HdfsEvent
	kudu     map[string]KuduEvent
	kuduDead map[string]string // event id -> reason, for events the Kudu path refuses
	rejected string            // the id of the event the Kudu server rejects
	// parquetRejected is the id of the event that the Parquet sink
	// cannot place (its source is too long for a directory name), or "".
	parquetRejected string
}

// newE2EInput builds the input: the samples, the invalid samples, 300
// generated events over 4 sources and 3 days, an event whose attributes
// are too large for a Kudu cell (the server rejects its row), all
// encoded by avsc; and messages that are not events: garbage, a truncated
// datum, a datum with a byte after it, a datum of another schema, an
// empty message and an oversized event.
func newE2EInput(t *testing.T) *e2eInput {
	in := &e2eInput{bad: map[int]string{}}
	events := append(readSamples(t, samplesFile), readSamples(t, invalidFile)...)
	events = append(events, genEvents(300, 1)...)
	in.rejected = "too-large-for-kudu"
	events = append(events, jsonEvent{Version: 1, ID: in.rejected, TS: 1520845200000, EventCertainty: 1, EventTypeID: 0,
		EventSubtypeID: sp("BIG_1"), Source: "http://domain/sensor/big", Location: "0:0",
		Attributes: map[string]string{"value": "1", "blob": strings.Repeat("x", 70_000)}})
	oversized := jsonEvent{Version: 1, ID: "oversized", TS: 1520845200000, EventTypeID: 2, Source: "s",
		Body: bytes.Repeat([]byte{0xAB}, e2eMaxMessage+1)}
	datums := avscEncode(t, append(slices.Clone(events), oversized))
	other := avsctest.Encode(t, `{"type":"record","name":"Reading","fields":[
		{"name":"sensor","type":"long"},{"name":"at","type":"string"},{"name":"value","type":"double"}]}`,
		[]json.RawMessage{json.RawMessage(`{"sensor":7,"at":"2018-03-12T09:00:00Z","value":41.5}`)})[0]
	bad := []struct {
		value  []byte
		reason string
	}{
		{[]byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"), "not an Avro Event"},
		{datums[0][:len(datums[0])/2], "not an Avro Event"},
		{append(slices.Clone(datums[1]), 0), "not an Avro Event: trailing bytes after the datum"},
		{other, "not an Avro Event"},
		{[]byte{}, "not an Avro Event"},
		{datums[len(datums)-1], "oversized: "},
	}
	// The bad messages are spread among the events.
	next := 0
	for i, d := range datums[:len(events)] {
		if i%50 == 25 && next < len(bad) {
			in.bad[len(in.messages)] = bad[next].reason
			in.messages = append(in.messages, message{int32(len(in.messages) % e2ePartitions), bad[next].value})
			next++
		}
		in.messages = append(in.messages, message{int32(len(in.messages) % e2ePartitions), d})
	}
	for ; next < len(bad); next++ {
		in.bad[len(in.messages)] = bad[next].reason
		in.messages = append(in.messages, message{int32(len(in.messages) % e2ePartitions), bad[next].value})
	}
	in.events = events
	in.hdfs, in.kudu, in.kuduDead = expectedRows(events)
	delete(in.kudu, in.rejected)
	return in
}

// runManager produces the input (half before the manager starts, half
// once it has run a batch), runs the binary with args until its progress
// lines account for every message, and stops it with SIGTERM. It returns
// the produced records and the manager's standard error.
func runManager(t *testing.T, c *kafkatest.Cluster, in *e2eInput, args ...string) ([]*kgo.Record, string) {
	t.Helper()
	return runManagerThen(t, c, in, nil, args...)
}

// runManagerThen is runManager calling live, when not nil, with the
// running manager once its progress lines account for every message,
// before it is stopped.
func runManagerThen(t *testing.T, c *kafkatest.Cluster, in *e2eInput, live func(*proctest.Proc), args ...string) ([]*kgo.Record, string) {
	t.Helper()
	bin := buildManager(t)
	half := len(in.messages) / 2
	recs := produce(t, c, e2eTopic, in.messages[:half]...)
	p := proctest.Start(t, bin, args...)
	p.WaitFor(t, p.Stderr, regexp.MustCompile(`(?m)^batch .* records=[1-9]`), 60*time.Second)
	recs = append(recs, produce(t, c, e2eTopic, in.messages[half:]...)...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		sum, failed := sumProgress(p.Stderr.String())
		if len(failed) > 0 {
			t.Fatalf("a batch failed: %s\n%s", failed[0], p.Output())
		}
		if sum[0] >= len(in.messages) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages read after 60 s\n%s", sum[0], len(in.messages), p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if live != nil {
		live(p)
	}
	p.Stop(t, 30*time.Second)
	stderr := p.Stderr.String()
	sum, _ := sumProgress(stderr)
	wantEvents, wantDead := len(in.events), len(in.bad)+len(in.kuduDead)+1
	if in.parquetRejected != "" {
		wantEvents--
		wantDead++
	}
	if want := [4]int{len(in.messages), wantEvents, len(in.kudu), wantDead}; sum != want {
		t.Errorf("progress lines add up to records=%d events=%d kudu=%d dead=%d, want %v", sum[0], sum[1], sum[2], sum[3], want)
	}
	if !strings.Contains(stderr, "msg=stopped batches=") || strings.Contains(stderr, "level=ERROR") {
		t.Errorf("stderr:\n%s", stderr)
	}
	return recs, stderr
}

// checkDeadLetters checks that the dead letters are exactly the bad
// messages, the events the Kudu path refuses, the row the Kudu server
// rejected and the event the Parquet sink rejected, if any, each once,
// with where it came from.
func checkDeadLetters(t *testing.T, in *e2eInput, recs []*kgo.Record, dead []deadLetter) {
	t.Helper()
	want := map[string]deadLetter{}
	for i, reason := range in.bad {
		r := recs[i]
		d := deadLetter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Reason: reason}
		if !strings.HasPrefix(reason, "oversized") {
			v := base64.StdEncoding.EncodeToString(r.Value)
			d.ValueBase64 = &v
		}
		want[deadKey(d)] = d
	}
	at := map[string]*kgo.Record{} // event id -> its record
	for i, r := range recs {
		if _, isBad := in.bad[i]; !isBad {
			e, err := DecodeEvent(r.Value)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			at[e.ID] = r
		}
	}
	for id, reason := range in.kuduDead {
		r := at[id]
		d := deadLetter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Reason: reason, ID: sp(id)}
		want[deadKey(d)] = d
	}
	r := at[in.rejected]
	rej := deadLetter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Reason: "kudu: rejected", ID: sp(in.rejected)}
	want[deadKey(rej)] = rej
	if id := in.parquetRejected; id != "" {
		r := at[id]
		d := deadLetter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Reason: "parquet: rejected: ", ID: sp(id)}
		want[deadKey(d)] = d
	}

	seen := map[string]bool{}
	for _, d := range dead {
		k := deadKey(d)
		w, ok := want[k]
		switch {
		case !ok:
			t.Errorf("unexpected dead letter %s", d.JSON())
		case seen[k]:
			t.Errorf("dead letter %s written twice", d.JSON())
		case !strings.HasPrefix(d.Reason, w.Reason) || (d.ID == nil) != (w.ID == nil) || d.ID != nil && *d.ID != *w.ID ||
			(d.ValueBase64 == nil) != (w.ValueBase64 == nil) || d.ValueBase64 != nil && *d.ValueBase64 != *w.ValueBase64:
			t.Errorf("dead letter\n%s\nwant (reason prefix)\n%s", d.JSON(), w.JSON())
		}
		seen[k] = true
	}
	for k, w := range want {
		if !seen[k] {
			t.Errorf("no dead letter %s", w.JSON())
		}
	}
	for _, d := range dead {
		if strings.HasPrefix(d.Reason, "kudu: rejected") && !strings.Contains(d.Reason, "cell") {
			t.Errorf("the Kudu server's reason is not passed on: %s", d.Reason)
		}
		if strings.HasPrefix(d.Reason, "parquet: rejected") && (!strings.Contains(d.Reason, "column source") || !strings.Contains(d.Reason, "limit of 255")) {
			t.Errorf("the Parquet sink's reason does not name the column and the limit: %s", d.Reason)
		}
	}
}

// checkKudu checks that the Kudu table holds exactly the expected rows.
func checkKudu(t *testing.T, kc *kudutest.Cluster, table string, want map[string]KuduEvent) {
	t.Helper()
	rows := kc.Rows(table)
	if len(rows) != len(want) {
		t.Errorf("Kudu table %s holds %d rows, want %d", table, len(rows), len(want))
	}
	opt := func(s *string) any {
		if s == nil {
			return nil
		}
		return *s
	}
	for _, r := range rows {
		id, _ := r["id"].(string)
		w, ok := want[id]
		if !ok {
			t.Errorf("unexpected Kudu row %v", r)
			continue
		}
		exp := kudutest.Row{"source": w.Source, "ts": w.TS, "metric_id": w.MetricID, "version": w.Version, "id": w.ID,
			"temporal_granularity": opt(w.TemporalGranularity), "event_certainty": w.EventCertainty, "event_type_id": w.EventTypeID,
			"event_annotation": opt(w.EventAnnotation), "location": w.Location, "metric": w.Metric,
			"attributesKeys": w.AttributesKeys, "attributesValues": w.AttributesValues}
		if !maps.Equal(map[string]any(r), map[string]any(exp)) {
			t.Errorf("Kudu row\n%v\nwant\n%v", r, exp)
		}
	}
}

// duckRow is a row of the Parquet output as DuckDB reads it.
type duckRow struct {
	ID                  string   `json:"id"`
	Version             string   `json:"version"`
	TS                  string   `json:"ts"`
	TemporalGranularity *string  `json:"temporal_granularity"`
	EventCertainty      float64  `json:"event_certainty"`
	EventTypeID         int32    `json:"event_type_id"`
	EventSubtypeID      *string  `json:"event_subtype_id"`
	EventAnnotation     *string  `json:"event_annotation"`
	Metric              *float64 `json:"metric"`
	Location            string   `json:"location"`
	Body                *string  `json:"body"`
	AttributesKeys      string   `json:"attributesKeys"`
	AttributesValues    string   `json:"attributesValues"`
	Attributes          string   `json:"attributes"`
	Source              string   `json:"source"`
	Day                 string   `json:"day"`
	File                string   `json:"file"`
}

// checkParquetDuckDB reads the local Parquet output with DuckDB, with
// Hive partitioning, and checks that it holds every event exactly once,
// with its values, in its source and day partitions.
func checkParquetDuckDB(t *testing.T, out string, want map[string]HdfsEvent) {
	t.Helper()
	table := "read_parquet(" + duckdbtest.Quote(filepath.Join(out, "**", "*.parquet")) +
		", hive_partitioning = true, hive_types_autocast = false, filename = true)"
	res := duckdbtest.Query(t, `SELECT id, version::VARCHAR AS version, ts::VARCHAR AS ts, temporal_granularity, event_certainty,
		event_type_id, event_subtype_id, event_annotation, metric, location, to_base64(body) AS body, "attributesKeys",
		"attributesValues", to_json(attributes)::VARCHAR AS attributes, source, day, filename AS file FROM `+table)
	types := map[string]string{}
	for _, c := range duckdbtest.Query(t, "DESCRIBE SELECT * FROM "+table).Rows {
		var col struct {
			Name string `json:"column_name"`
			Type string `json:"column_type"`
		}
		json.Unmarshal(c, &col)
		types[col.Name] = col.Type
	}
	wantTypes := map[string]string{"version": "BIGINT", "id": "VARCHAR", "ts": "BIGINT", "temporal_granularity": "VARCHAR",
		"event_certainty": "DOUBLE", "event_type_id": "INTEGER", "event_subtype_id": "VARCHAR", "event_annotation": "VARCHAR",
		"metric": "DOUBLE", "location": "VARCHAR", "body": "BLOB", "attributesKeys": "VARCHAR", "attributesValues": "VARCHAR",
		"attributes": "MAP(VARCHAR, VARCHAR)", "source": "VARCHAR", "day": "VARCHAR", "filename": "VARCHAR"}
	if !maps.Equal(types, wantTypes) {
		t.Errorf("DuckDB reads the columns as %v, want %v", types, wantTypes)
	}
	seen := map[string]int{}
	for _, raw := range res.Rows {
		var r duckRow
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		seen[r.ID]++
		w, ok := want[r.ID]
		if !ok {
			t.Errorf("unexpected row %s", raw)
			continue
		}
		var attrs map[string]string
		if err := json.Unmarshal([]byte(r.Attributes), &attrs); err != nil {
			t.Errorf("%s: attributes %q: %v", r.ID, r.Attributes, err)
		}
		var body *string
		if w.Body != nil {
			body = sp(base64.StdEncoding.EncodeToString(w.Body))
		}
		wantRow := duckRow{ID: w.ID, Version: strconv.FormatInt(w.Version, 10), TS: strconv.FormatInt(w.TS, 10),
			TemporalGranularity: w.TemporalGranularity, EventCertainty: w.EventCertainty, EventTypeID: w.EventTypeID,
			EventSubtypeID: w.EventSubtypeID, EventAnnotation: w.EventAnnotation, Metric: w.Metric, Location: w.Location,
			Body: body, AttributesKeys: w.AttributesKeys, AttributesValues: w.AttributesValues, Attributes: r.Attributes,
			Source: w.Source, Day: w.Day, File: r.File}
		gj, _ := json.Marshal(r)
		wj, _ := json.Marshal(wantRow)
		if !bytes.Equal(gj, wj) || !maps.Equal(attrs, w.Attributes) {
			t.Errorf("row\n%s\nwant\n%s\nattributes %v, want %v", gj, wj, attrs, w.Attributes)
		}
		// The file is in the partition directory of its row, escaped as Spark escapes it.
		dir := filepath.ToSlash(filepath.Dir(r.File))
		if wantDir := "/" + parquetPartitionPath(w); !strings.HasSuffix(dir, wantDir) {
			t.Errorf("%s is in %s, want .../%s", r.ID, dir, wantDir)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("event %s is in the Parquet output %d times", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct events in the Parquet output, want %d", len(seen), len(want))
	}
}

func parquetPartitionPath(h HdfsEvent) string {
	return path.Join("source="+escapeForTest(h.Source), "day="+h.Day)
}

// escapeForTest escapes a partition value as Hive does, written here
// again from Hive's escape set so that the test does not only check the
// sink against itself.
func escapeForTest(s string) string {
	if s == "" {
		return "__HIVE_DEFAULT_PARTITION__"
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune("\"#%'*/:=?\\{[]^", r) {
			fmt.Fprintf(&b, "%%%02X", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The manager on local disk: every valid event once in the Parquet
// output, read by DuckDB with Hive partitioning, with its values and
// partitions; exactly the expected rows in Kudu; exactly the bad
// messages, the refused events and the rejected row as dead letters; the
// group's offsets committed at the end of the topic.
func TestEndToEnd(t *testing.T) {
	duckdbtest.Require(t)
	in := newE2EInput(t)
	c := kafkatest.New(t, map[string]int32{e2eTopic: e2ePartitions})
	kc := kudutest.New(t)
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "events"), filepath.Join(dir, "dead")
	recs, _ := runManager(t, c, in, "-brokers", c.Addrs[0], "-hdfs-out", out, "-dead-letter", dead, "-batch", "500ms",
		"-kudu-masters", strings.Join(kc.MasterAddrs(), ","), "-kudu-buckets", "4", "-max-message-bytes", strconv.Itoa(e2eMaxMessage))

	checkParquetDuckDB(t, out, in.hdfs)
	checkKudu(t, kc, "Events", in.kudu)
	if n := len(kc.Tablets("Events")); n != 4 {
		t.Errorf("the Kudu table has %d tablets, want 4 hash buckets", n)
	}
	checkDeadLetters(t, in, recs, readDeadLetters(t, dead))
	ends := c.EndOffsets(e2eTopic)[e2eTopic]
	if got := c.Committed("daf-iot-manager")[e2eTopic]; !maps.Equal(got, ends) {
		t.Errorf("committed offsets %v, want the ends %v", got, ends)
	}
}

// hdfsFiles reads every file under dir on HDFS whose name matches keep,
// skipping directories that start with "_".
func hdfsFiles(t *testing.T, fsys storage.FS, dir string, keep func(name string) bool) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(string)
	walk = func(d string) {
		entries, err := fsys.List(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch {
			case e.IsDir && strings.HasPrefix(e.Name, "_"):
			case e.IsDir:
				walk(e.Path)
			case keep(e.Name):
				r, err := fsys.Open(context.Background(), e.Path)
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(r)
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
				out[e.Path] = data
			}
		}
	}
	walk(dir)
	return out
}

// The same run with every URI on the HDFS test server: the Parquet
// output, the dead letters and the checkpoint. The Parquet files read
// back from HDFS with parquet-go hold every event once, in its
// partition; the dead letters are the same. The NameNode checks
// permissions, as a deployment's: the administrator made /iot for the
// manager's user, iot, and another user reads the output back.
func TestEndToEndHDFS(t *testing.T) {
	in := newE2EInput(t)
	c := kafkatest.New(t, map[string]int32{e2eTopic: e2ePartitions})
	kc := kudutest.New(t)
	h := hdfstest.New(t, hdfstest.WithBlockSize(256<<10))
	if err := h.Mkdir("/iot", 0o755, "iot", ""); err != nil {
		t.Fatal(err)
	}
	base := "hdfs://" + h.Addr() + "/iot"
	recs, stderr := runManager(t, c, in, "-brokers", c.Addrs[0], "-hdfs-out", base+"/events?user=iot", "-dead-letter", base+"/dead?user=iot",
		"-checkpoint", base+"/checkpoint?user=iot", "-batch", "500ms", "-kudu-masters", strings.Join(kc.MasterAddrs(), ","),
		"-max-message-bytes", strconv.Itoa(e2eMaxMessage))

	fsys, root, err := storage.Open(base + "?user=analyst")
	if err != nil {
		t.Fatal(err)
	}
	checkHDFSRun(t, h, in, recs, fsys, root, stderr)
	checkKudu(t, kc, "Events", in.kudu)
}

// checkHDFSRun checks a run's output on HDFS, read through fsys under
// root: the Parquet files hold every event once, in its partition; the
// dead letters are the expected ones; no file is left open; the
// checkpoint is there.
func checkHDFSRun(t *testing.T, h *hdfstest.Cluster, in *e2eInput, recs []*kgo.Record, fsys storage.FS, root, stderr string) {
	t.Helper()
	files := hdfsFiles(t, fsys, path.Join(root, "events"), func(n string) bool { return strings.HasSuffix(n, ".parquet") })
	seen := map[string]int{}
	for name, data := range files {
		rows, err := parquet.Read[HdfsEvent](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range rows {
			seen[r.ID]++
			w := in.hdfs[r.ID]
			if dir := path.Dir(name); !strings.HasSuffix(dir, "/"+parquetPartitionPath(w)) {
				t.Errorf("%s is in %s", r.ID, dir)
			}
			if r.AttributesValues != w.AttributesValues || !maps.Equal(r.Attributes, w.Attributes) || !bytes.Equal(r.Body, w.Body) ||
				(r.Metric == nil) != (w.Metric == nil) || r.Metric != nil && *r.Metric != *w.Metric || r.TS != w.TS {
				t.Errorf("row %+v\nwant %+v", r, w)
			}
		}
	}
	for id := range in.hdfs {
		if seen[id] != 1 {
			t.Errorf("event %s is in the Parquet output on HDFS %d times", id, seen[id])
		}
	}
	if len(seen) != len(in.hdfs) {
		t.Errorf("%d distinct events on HDFS, want %d", len(seen), len(in.hdfs))
	}

	var dead []deadLetter
	deadFiles := hdfsFiles(t, fsys, path.Join(root, "dead"), func(n string) bool {
		return strings.HasPrefix(n, "dead-") && strings.HasSuffix(n, ".jsonl")
	})
	for name, data := range deadFiles {
		dead = append(dead, parseDeadLetters(t, name, data)...)
	}
	checkDeadLetters(t, in, recs, dead)
	if open := h.OpenFiles(); len(open) != 0 {
		t.Errorf("files left open on HDFS: %v", open)
	}
	if _, err := fsys.Stat(context.Background(), path.Join(root, "checkpoint")); err != nil {
		t.Errorf("no checkpoint on HDFS: %v\n%s", err, stderr)
	}
}

// Sanity check of the test's own expectations: the other schema's datum
// is valid for that schema (so the manager refuses it for its types, not
// for being garbage).
func TestOtherSchemaDatum(t *testing.T) {
	s := avro.MustParse(`{"type":"record","name":"Reading","fields":[
		{"name":"sensor","type":"long"},{"name":"at","type":"string"},{"name":"value","type":"double"}]}`)
	d := avsctest.Encode(t, s.String(), []json.RawMessage{json.RawMessage(`{"sensor":7,"at":"2018-03-12T09:00:00Z","value":41.5}`)})[0]
	var v map[string]any
	if err := avro.Unmarshal(s, d, &v); err != nil || v["value"] != 41.5 {
		t.Fatalf("%v %v", v, err)
	}
	if _, err := DecodeEvent(d); err == nil {
		t.Fatal("a Reading decodes as an Event")
	}
}
