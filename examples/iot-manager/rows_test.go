package main

import (
	"strings"
	"testing"
	"time"

	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// The first sample, a 5T speed metric, becomes these rows: the metric
// parsed from "value", the attributes in key order joined with "#", the
// day of ts in UTC.
func TestConvertMetric(t *testing.T) {
	s := readSamples(t, samplesFile)[0]
	e := s.event()
	c, why := convert(&e, true, origin{"daf-iot-events", 3, 17})
	if why != "" || !c.toKudu {
		t.Fatalf("toKudu %v, reason %q", c.toKudu, why)
	}
	h := c.hdfs
	wantKeys := "FDT_data#Road_LCD#Road_name#accuracy#direction#metric#offset#period#tags#value"
	wantValues := "40201#40200#Corso Francia#100#positive#speed#150#5#FDT_data,Road_LCD,Road_name,offset,direction,accuracy,period#41.50"
	if h.ID != s.ID || h.Version != 1 || h.TS != 1520845200000 || *h.TemporalGranularity != "minute" || h.EventCertainty != 1 ||
		h.EventTypeID != 0 || *h.EventSubtypeID != "SPEED_Corso_Francia_TO" || h.EventAnnotation != nil ||
		h.Metric == nil || *h.Metric != 41.5 || h.Source != "http://opendata.5t.torino.it/get_fdt" || h.Location != "45.07625:7.63957" ||
		string(h.Body) != string(s.Body) || h.AttributesKeys != wantKeys || h.AttributesValues != wantValues ||
		len(h.Attributes) != 10 || h.Attributes["Road_name"] != "Corso Francia" || h.Day != "12032018" ||
		h.from != (origin{"daf-iot-events", 3, 17}) {
		t.Errorf("HdfsEvent %+v", h)
	}
	want := KuduEvent{Source: "http://opendata.5t.torino.it/get_fdt", TS: 1520845200000, MetricID: "SPEED_Corso_Francia_TO",
		Version: 1, ID: s.ID, TemporalGranularity: h.TemporalGranularity, EventCertainty: 1, EventTypeID: 0,
		Location: "45.07625:7.63957", Metric: 41.5, AttributesKeys: wantKeys, AttributesValues: wantValues,
		from: origin{"daf-iot-events", 3, 17}}
	if c.kudu != want {
		t.Errorf("KuduEvent\n%+v\nwant\n%+v", c.kudu, want)
	}
}

// Every sample: which go to Kudu, and the metric Parquet gets.
func TestConvertSamples(t *testing.T) {
	for i, tc := range []struct {
		toKudu bool
		metric any // float64, or nil for null
	}{
		{true, 41.5}, {true, 720.0}, {true, 124.0}, {true, 1.0},
		{false, nil}, // type 2, no value: Parquet only, not a dead letter
	} {
		s := readSamples(t, samplesFile)[i]
		e := s.event()
		c, why := convert(&e, true, origin{})
		if why != "" || c.toKudu != tc.toKudu {
			t.Errorf("sample %d: toKudu %v, reason %q", i, c.toKudu, why)
		}
		switch m := c.hdfs.Metric; {
		case tc.metric == nil && m != nil, tc.metric != nil && (m == nil || *m != tc.metric.(float64)):
			t.Errorf("sample %d: metric %v, want %v", i, m, tc.metric)
		}
		if c.toKudu && (c.kudu.Metric != tc.metric.(float64) || c.kudu.MetricID != *s.EventSubtypeID) {
			t.Errorf("sample %d: %+v", i, c.kudu)
		}
	}
	// The change of state keeps its annotation and certainty.
	s := readSamples(t, samplesFile)[3]
	e := s.event()
	c, _ := convert(&e, true, origin{})
	if c.kudu.EventTypeID != 1 || c.kudu.EventCertainty != 0.95 || *c.kudu.EventAnnotation != "lamp switched on by twilight sensor" ||
		c.kudu.AttributesKeys != "metric#previous_value#value" || c.kudu.AttributesValues != "state#0#1" {
		t.Errorf("change of state: %+v", c.kudu)
	}
}

// The invalid samples are metrics the Kudu path refuses, each with its
// reason; they go to Parquet all the same. Without Kudu they are not
// refused at all.
func TestConvertInvalid(t *testing.T) {
	reasons := []string{
		`kudu: no "value" attribute`,
		`kudu: attribute "value" is "wrongValue", not a number`,
		`kudu: no event_subtype_id`,
	}
	metrics := []any{nil, nil, 100.0}
	for i, s := range readSamples(t, invalidFile) {
		e := s.event()
		c, why := convert(&e, true, origin{})
		if why != reasons[i] || c.toKudu {
			t.Errorf("%s: toKudu %v, reason %q, want %q", s.ID, c.toKudu, why, reasons[i])
		}
		if c.hdfs.ID != s.ID || c.hdfs.Source != "http://domain/sensor/url" || c.hdfs.Day != "12032018" {
			t.Errorf("%s: %+v", s.ID, c.hdfs)
		}
		if m := c.hdfs.Metric; (metrics[i] == nil) != (m == nil) || m != nil && *m != metrics[i].(float64) {
			t.Errorf("%s: metric %v, want %v", s.ID, m, metrics[i])
		}
		if c, why := convert(&e, false, origin{}); why != "" || c.toKudu {
			t.Errorf("%s without Kudu: toKudu %v, reason %q", s.ID, c.toKudu, why)
		}
	}
	// Both missing, and a type the schema does not know.
	e := Event{ID: "x", EventTypeID: 1}
	if _, why := convert(&e, true, origin{}); why != `kudu: no event_subtype_id; no "value" attribute` {
		t.Errorf("reason %q", why)
	}
	e = Event{ID: "x", EventTypeID: 7, EventSubtypeID: sp("s"), Attributes: []Attribute{{"value", "1"}}}
	if c, why := convert(&e, true, origin{}); c.toKudu || why != "kudu: event_type_id 7 is not 0 (metric), 1 (change of state) or 2 (generic)" {
		t.Errorf("type 7: toKudu %v, reason %q", c.toKudu, why)
	}
	e.EventTypeID = 2
	if c, why := convert(&e, true, origin{}); c.toKudu || why != "" || c.hdfs.Metric == nil {
		t.Errorf("type 2 with a value: toKudu %v, reason %q", c.toKudu, why)
	}
}

// A key given twice holds its last value, as in a map; keys and values
// are joined in key order, empty attributes give empty strings.
func TestConvertAttributes(t *testing.T) {
	e := Event{Attributes: []Attribute{{"z", "1"}, {"a", "x#y"}, {"value", " 2.5 "}, {"z", "3"}, {"", "empty key"}}}
	c, _ := convert(&e, false, origin{})
	if c.hdfs.AttributesKeys != "#a#value#z" || c.hdfs.AttributesValues != "empty key#x#y# 2.5 #3" ||
		len(c.hdfs.Attributes) != 4 || c.hdfs.Attributes["z"] != "3" || *c.hdfs.Metric != 2.5 {
		t.Errorf("%+v", c.hdfs)
	}
	e = Event{}
	c, _ = convert(&e, false, origin{})
	if c.hdfs.AttributesKeys != "" || c.hdfs.AttributesValues != "" || c.hdfs.Attributes == nil || len(c.hdfs.Attributes) != 0 {
		t.Errorf("%+v", c.hdfs)
	}
}

func TestParseMetric(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"41.50", 41.5, true},
		{"720", 720, true},
		{"-1", -1, true},
		{" 7 ", 7, true},
		{"1e3", 1000, true},
		{"0x1p-2", 0.25, true},
		{"+.5", 0.5, true},
		{"", 0, false},
		{"wrongValue", 0, false},
		{"1,5", 0, false},
		{"12 km", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"-Infinity", 0, false},
		{"1e400", 0, false},
	} {
		got, ok := parseMetric(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseMetric(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// Partitions: the source escaped as Spark escapes it, the day of ts in
// UTC as ddMMyyyy.
func TestPartition(t *testing.T) {
	ms := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	for _, tc := range []struct {
		source string
		ts     int64
		want   string
	}{
		{"http://opendata.5t.torino.it/get_fdt", 1520845200000, "source=http%3A%2F%2Fopendata.5t.torino.it%2Fget_fdt/day=12032018"},
		{"http://domain/sensor/url", ms("2018-03-12T23:59:59.999Z"), "source=http%3A%2F%2Fdomain%2Fsensor%2Furl/day=12032018"},
		{"http://domain/sensor/url", ms("2018-03-13T00:00:00Z"), "source=http%3A%2F%2Fdomain%2Fsensor%2Furl/day=13032018"},
		// 23:30 in Rome on the 12th is the 12th in UTC (the original used the JVM's zone).
		{"s", ms("2018-03-12T23:30:00+01:00"), "source=s/day=12032018"},
		{"sensor:Ä/ü #1?", 0, "source=sensor%3AÄ%2Fü %231%3F/day=01011970"},
		{"", -1, "source=__HIVE_DEFAULT_PARTITION__/day=31121969"},
	} {
		e := Event{Source: tc.source, TS: tc.ts}
		c, _ := convert(&e, false, origin{})
		if got := parquetsink.PartitionPath(partitionCols, c.hdfs.partition()); got != tc.want {
			t.Errorf("source %q ts %d: %s, want %s", tc.source, tc.ts, got, tc.want)
		}
	}
}

// The decoder of the pipeline: oversized messages and messages that are
// not events are dead letters; events may also be.
func TestDecoder(t *testing.T) {
	dec := decoder(1<<20, true)
	rec := func(v []byte) kafka.Record { return kafka.Record{Topic: "t", Partition: 2, Offset: 9, Value: v} }
	r := dec(rec(golden(t, 0)))
	if r.ev == nil || r.dead != nil || !r.ev.toKudu || r.ev.kudu.from != (origin{"t", 2, 9}) || r.ev.hdfs.from != (origin{"t", 2, 9}) {
		t.Errorf("golden 0: %+v", r)
	}
	big := make([]byte, 1<<20+1)
	r = dec(rec(big))
	if r.ev != nil || r.dead == nil || r.dead.Reason != "oversized: 1048577 bytes, more than -max-message-bytes 1048576" ||
		r.dead.ValueBase64 != nil || r.dead.Offset != 9 || r.dead.Partition != 2 || r.dead.Topic != "t" {
		t.Errorf("oversized: %+v %+v", r, r.dead)
	}
	r = dec(rec([]byte("garbage")))
	if r.ev != nil || r.dead == nil || !strings.HasPrefix(r.dead.Reason, "not an Avro Event: ") || *r.dead.ValueBase64 != "Z2FyYmFnZQ==" {
		t.Errorf("garbage: %+v", r.dead)
	}
	inv := readSamples(t, invalidFile)[0]
	r = dec(rec(avscEncode(t, []jsonEvent{inv})[0]))
	if r.ev == nil || r.ev.toKudu || r.dead == nil || r.dead.Reason != `kudu: no "value" attribute` || *r.dead.ID != inv.ID {
		t.Errorf("invalid metric: %+v %+v", r, r.dead)
	}
	// Without Kudu it is an event and nothing else.
	if r := decoder(1<<20, false)(rec(avscEncode(t, []jsonEvent{inv})[0])); r.ev == nil || r.dead != nil {
		t.Errorf("without Kudu: %+v", r)
	}
	// At the limit exactly, a message is decoded.
	if r := decoder(len(golden(t, 1)), true)(rec(golden(t, 1))); r.ev == nil {
		t.Errorf("a message of exactly -max-message-bytes: %+v", r.dead)
	}
}

// A dead letter is one line of JSON that keeps &, < and > as they are.
func TestDeadLetterJSON(t *testing.T) {
	id := "a<b>&c"
	d := deadLetter{Topic: "t", Partition: 1, Offset: 2, Reason: `kudu: attribute "value" is "<n/a>", not a number`, ID: &id}
	if got, want := d.JSON(), `{"topic":"t","partition":1,"offset":2,"reason":"kudu: attribute \"value\" is \"<n/a>\", not a number","id":"a<b>&c"}`; got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
	v := "AAE="
	d = deadLetter{Topic: "t", Offset: 1, Reason: "r", ValueBase64: &v}
	if got, want := d.JSON(), `{"topic":"t","partition":0,"offset":1,"reason":"r","value_base64":"AAE="}`; got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}
