package main

// In-process tests of the manager: messages are produced to an
// in-process Kafka (kfake) before run starts, run reads them until the
// progress lines account for every message. Only one dstream context may
// be active in a process, so these tests do not run in parallel.

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/microbatch-go/microbatch/examples/internal/progress/progresstest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudu"
	"github.com/microbatch-go/microbatch/internal/kudutest"
)

// runUntil runs the manager with args until its progress lines count
// records messages, then stops it as SIGTERM would and returns its
// standard error.
func runUntil(t *testing.T, args []string, records int) string {
	t.Helper()
	return progresstest.RunUntil(t, run, args, int64(records))
}

// Without -dead-letter, dead letters are logged as warnings with the same
// fields: a message that is not an event, an event the Kudu path
// refuses, and a row the Kudu server rejects. The Kudu table the manager
// creates has the original's columns, key and partitioning.
func TestDeadLettersLogged(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"iot": 1})
	kc := kudutest.New(t)
	events := append(readSamples(t, samplesFile)[:1], readSamples(t, invalidFile)[0],
		jsonEvent{ID: "big", EventSubtypeID: sp("S"), Source: "s", Attributes: map[string]string{"value": "1", "x": strings.Repeat("y", 70_000)}})
	datums := avscEncode(t, events)
	produce(t, c, "iot", message{0, datums[0]}, message{0, []byte{0x04}}, message{0, datums[1]}, message{0, datums[2]})
	out := filepath.Join(t.TempDir(), "events")
	stderr := runUntil(t, []string{"-topic", "iot", "-group", "g", "-brokers", c.Addrs[0], "-batch", "200ms", "-hdfs-out", out,
		"-kudu-masters", kc.MasterAddrs()[0], "-kudu-table", "iot_events", "-kudu-buckets", "3"}, 4)
	for _, want := range []string{
		`level=WARN msg="dead letter" topic=iot partition=0 offset=1 reason="not an Avro Event: `,
		` value_base64="BA=="`,
		`level=WARN msg="dead letter" topic=iot partition=0 offset=2 reason="kudu: no \"value\" attribute" id=wrongmetric-no-value`,
		`level=WARN msg="dead letter" topic=iot partition=0 offset=3 reason="kudu: rejected: `,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if sum, _ := sumProgress(stderr); sum != [4]int{4, 3, 1, 3} {
		t.Errorf("progress adds up to %v, want records=4 events=3 kudu=1 dead=3\n%s", sum, stderr)
	}
	if !regexp.MustCompile(`msg=stopped batches=\d+ records=4 events=3 kudu=1 dead=3`).MatchString(stderr) {
		t.Errorf("no summary at the stop:\n%s", stderr)
	}
	if rows := kc.Rows("iot_events"); len(rows) != 1 || rows[0]["id"] != events[0].ID {
		t.Errorf("Kudu rows %v", rows)
	}

	// The table's schema: key (source, ts, metric_id) first, then the
	// original's columns; INT64/INT32/DOUBLE/STRING; nullable where the
	// event may be null; hashed on source into 3 buckets.
	ctx := context.Background()
	cl, err := kudu.Open(ctx, kc.MasterAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tbl, err := cl.Table(ctx, "iot_events")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, col := range tbl.Schema().Columns() {
		got = append(got, fmt.Sprintf("%s %v key=%v null=%v", col.Name, col.Type, col.Key, col.Nullable))
	}
	want := []string{
		"source string key=true null=false", "ts int64 key=true null=false", "metric_id string key=true null=false",
		"version int64 key=false null=false", "id string key=false null=false", "temporal_granularity string key=false null=true",
		"event_certainty double key=false null=false", "event_type_id int32 key=false null=false",
		"event_annotation string key=false null=true", "location string key=false null=false", "metric double key=false null=false",
		"attributesKeys string key=false null=false", "attributesValues string key=false null=false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Kudu schema\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(kc.Tablets("iot_events")); n != 3 {
		t.Errorf("%d tablets, want 3 hash buckets", n)
	}
}

// A Kudu table the original created (kudu-spark left its STRING columns
// nullable, and added an unbounded range partition on ts) is written to
// as it is.
func TestExistingKuduTable(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"daf-iot-events": 2})
	kc := kudutest.New(t)
	col := func(name string, typ kudutest.DataType, key, null bool) kudutest.Column {
		return kudutest.Column{Name: name, Type: typ, Key: key, Nullable: null}
	}
	_, err := kc.CreateTable(kudutest.TableSpec{Name: "Events", Columns: []kudutest.Column{
		col("source", kudutest.TypeString, true, false), col("ts", kudutest.TypeInt64, true, false), col("metric_id", kudutest.TypeString, true, false),
		col("version", kudutest.TypeInt64, false, false), col("id", kudutest.TypeString, false, true),
		col("temporal_granularity", kudutest.TypeString, false, true), col("event_certainty", kudutest.TypeDouble, false, false),
		col("event_type_id", kudutest.TypeInt32, false, false), col("event_annotation", kudutest.TypeString, false, true),
		col("location", kudutest.TypeString, false, true), col("metric", kudutest.TypeDouble, false, false),
		col("attributesKeys", kudutest.TypeString, false, true), col("attributesValues", kudutest.TypeString, false, true),
	}, Hash: []kudutest.HashDimension{{Columns: []string{"source"}, Buckets: 2}}, RangeColumns: []string{"ts"}})
	if err != nil {
		t.Fatal(err)
	}
	samples := readSamples(t, samplesFile)
	var msgs []message
	for i, d := range avscEncode(t, samples) {
		msgs = append(msgs, message{int32(i % 2), d})
	}
	produce(t, c, "daf-iot-events", msgs...)
	out := filepath.Join(t.TempDir(), "events")
	stderr := runUntil(t, []string{"-brokers", c.Addrs[0], "-batch", "200ms", "-hdfs-out", out, "-kudu-masters", kc.MasterAddrs()[0]}, 5)
	_, kuduRows, _ := expectedRows(samples)
	checkKudu(t, kc, "Events", kuduRows)
	if sum, _ := sumProgress(stderr); sum != [4]int{5, 5, 4, 0} {
		t.Errorf("progress adds up to %v, want records=5 events=5 kudu=4 dead=0", sum)
	}
}

// Without -kudu-masters the Kudu path is off: events that it would refuse
// are no dead letters, and the progress line says kudu=off.
func TestKuduOff(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"daf-iot-events": 1})
	invalid := readSamples(t, invalidFile)
	var msgs []message
	for _, d := range avscEncode(t, invalid) {
		msgs = append(msgs, message{0, d})
	}
	produce(t, c, "daf-iot-events", msgs...)
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "events"), filepath.Join(dir, "dead")
	stderr := runUntil(t, []string{"-brokers", c.Addrs[0], "-batch", "200ms", "-hdfs-out", out, "-dead-letter", dead}, 3)
	if !regexp.MustCompile(`(?m)^batch \S+ records=3 events=3 kudu=off dead=0 `).MatchString(stderr) {
		t.Errorf("stderr:\n%s", stderr)
	}
	if d := readDeadLetters(t, dead); len(d) != 0 {
		t.Errorf("dead letters %v", d)
	}
	ids, err := countRows(out)
	if err != nil || len(ids) != 3 {
		t.Errorf("rows %v, %v", ids, err)
	}
	// No dead letter: no dead-letter file.
	if files, _ := filepath.Glob(filepath.Join(dead, "*", "*")); len(files) != 0 {
		t.Errorf("dead-letter files without dead letters: %v", files)
	}
}
