package main

// Helpers shared by the tests: the sample events, their Avro JSON
// encoding for avsc, the expected rows, and readers of the outputs.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/examples/internal/progress"
	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	"github.com/microbatch-go/microbatch/internal/avsctest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
)

// jsonEvent is an event as the sample files hold it: absent optional
// fields are null, body is base64 (encoding/json's []byte).
type jsonEvent struct {
	Version             int64             `json:"version"`
	ID                  string            `json:"id"`
	TS                  int64             `json:"ts"`
	TemporalGranularity *string           `json:"temporal_granularity"`
	EventCertainty      float64           `json:"event_certainty"`
	EventTypeID         int32             `json:"event_type_id"`
	EventSubtypeID      *string           `json:"event_subtype_id"`
	EventAnnotation     *string           `json:"event_annotation"`
	Source              string            `json:"source"`
	Location            string            `json:"location"`
	Body                []byte            `json:"body"`
	Attributes          map[string]string `json:"attributes"`
}

// readSamples reads a JSON array of events.
func readSamples(t testing.TB, name string) []jsonEvent {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []jsonEvent
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// avroJSON returns the event in Avro's JSON encoding, for avsc: unions as
// {"type": value}, bytes as a string of the code points 0-255.
func (e jsonEvent) avroJSON() json.RawMessage {
	union := func(typ string, v *string) any {
		if v == nil {
			return nil
		}
		return map[string]string{typ: *v}
	}
	var body any
	if e.Body != nil {
		rs := make([]rune, len(e.Body))
		for i, b := range e.Body {
			rs[i] = rune(b)
		}
		body = map[string]string{"bytes": string(rs)}
	}
	attrs := e.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	b, err := json.Marshal(map[string]any{
		"version": e.Version, "id": e.ID, "ts": e.TS,
		"temporal_granularity": union("string", e.TemporalGranularity), "event_certainty": e.EventCertainty,
		"event_type_id": e.EventTypeID, "event_subtype_id": union("string", e.EventSubtypeID),
		"event_annotation": union("string", e.EventAnnotation), "source": e.Source, "location": e.Location,
		"body": body, "attributes": attrs,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// event returns the event as DecodeEvent gives it, attributes in key order.
func (e jsonEvent) event() Event {
	ev := Event{Version: e.Version, ID: e.ID, TS: e.TS, TemporalGranularity: e.TemporalGranularity,
		EventCertainty: e.EventCertainty, EventTypeID: e.EventTypeID, EventSubtypeID: e.EventSubtypeID,
		EventAnnotation: e.EventAnnotation, Source: e.Source, Location: e.Location, Body: e.Body,
		Attributes: []Attribute{}}
	for _, k := range slices.Sorted(maps.Keys(e.Attributes)) {
		ev.Attributes = append(ev.Attributes, Attribute{k, e.Attributes[k]})
	}
	return ev
}

// sameEvent reports how a decoded event differs from a sample, or "".
func sameEvent(got Event, want jsonEvent) string {
	attrs := map[string]string{}
	for _, a := range got.Attributes {
		attrs[a.Key] = a.Value
	}
	w := want.event()
	got.Attributes, w.Attributes = nil, nil
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(w)
	switch {
	case !bytes.Equal(gj, wj):
		return fmt.Sprintf("got %s\nwant %s", gj, wj)
	case !maps.Equal(attrs, want.Attributes) && !(len(attrs) == 0 && len(want.Attributes) == 0):
		return fmt.Sprintf("attributes %v, want %v", attrs, want.Attributes)
	}
	return ""
}

// avscEncode encodes the events with avsc, an Avro implementation
// independent of hamba/avro.
func avscEncode(t testing.TB, events []jsonEvent) [][]byte {
	t.Helper()
	values := make([]json.RawMessage, len(events))
	for i, e := range events {
		values[i] = e.avroJSON()
	}
	return avsctest.Encode(t, EventSchemaJSON, values)
}

func sp(s string) *string { return &s }

// genEvents returns n varied events, unique by id and by Kudu key, from
// 4 sources over 3 UTC days (with events just before and after
// midnight), of every type, every 10th of type 0 or 1 unfit for Kudu.
func genEvents(n, seed int) []jsonEvent {
	sources := []string{"http://opendata.5t.torino.it/get_fdt", "http://opendata.5t.torino.it/get_pk",
		"http://domain/sensor/lamp-0042", "sensor:Ä/ü #1?"}
	base := time.Date(2018, 3, 12, 23, 59, 0, 0, time.UTC).UnixMilli()
	out := make([]jsonEvent, n)
	for i := range out {
		ts := base + int64(i)*(36*3600*1000/int64(n)) - 30_000 // across 12, 13 and 14 March
		e := jsonEvent{Version: 1, ID: fmt.Sprintf("gen-%d-%05d", seed, i), TS: ts, EventCertainty: float64(i%10) / 10,
			EventTypeID: int32(i % 3), Source: sources[i%len(sources)], Location: fmt.Sprintf("45.%05d:7.%05d", i, i*7)}
		if i%4 != 0 {
			e.TemporalGranularity = sp([]string{"minute", "second", "hour"}[i%3])
		}
		if i%5 == 0 {
			e.EventAnnotation = sp(fmt.Sprintf("note %d: <&> \"quoted\" ünïcode", i))
		}
		if i%3 != 2 {
			e.EventSubtypeID = sp(fmt.Sprintf("SPEED_road_%d", i))
		}
		switch {
		case i%2 == 0:
			e.Body = []byte{byte(i), 0, 0xff, '#', byte(i >> 8)}
		case i%7 == 1:
			e.Body = []byte{} // empty, not null
		}
		e.Attributes = map[string]string{"metric": "speed", "value": strconv.FormatFloat(float64(i)*1.25, 'f', -1, 64),
			"tags": "a#b", fmt.Sprintf("k%03d", i%7): "v"}
		switch {
		case i%30 == 0:
			e.Attributes = nil // no value: not for Kudu
		case i%30 == 10:
			e.Attributes["value"] = "n/a"
		case i%30 == 21: // type 0
			e.EventSubtypeID = nil
		}
		out[i] = e
	}
	return out
}

// expectedRows returns the Parquet rows (by id) and Kudu rows (by id) the
// events should give, and the ids with a Kudu dead letter and its reason.
// It is written from the specification, not with convert, so that the
// end-to-end tests do not check the conversion against itself.
func expectedRows(events []jsonEvent) (hdfs map[string]HdfsEvent, kudu map[string]KuduEvent, kuduDead map[string]string) {
	hdfs, kudu, kuduDead = map[string]HdfsEvent{}, map[string]KuduEvent{}, map[string]string{}
	for _, e := range events {
		attrs := maps.Clone(e.Attributes)
		if attrs == nil {
			attrs = map[string]string{}
		}
		keys := slices.Sorted(maps.Keys(attrs))
		var values []string
		for _, k := range keys {
			values = append(values, attrs[k])
		}
		h := HdfsEvent{Version: e.Version, ID: e.ID, TS: e.TS, TemporalGranularity: e.TemporalGranularity,
			EventCertainty: e.EventCertainty, EventTypeID: e.EventTypeID, EventSubtypeID: e.EventSubtypeID,
			EventAnnotation: e.EventAnnotation, Source: e.Source, Location: e.Location, Body: e.Body,
			AttributesKeys: strings.Join(keys, "#"), AttributesValues: strings.Join(values, "#"), Attributes: attrs,
			Day: time.UnixMilli(e.TS).UTC().Format("02012006")}
		value, hasValue := attrs["value"]
		metric, err := strconv.ParseFloat(value, 64)
		if hasValue && err == nil {
			h.Metric = &metric
		}
		hdfs[e.ID] = h
		if e.EventTypeID != 0 && e.EventTypeID != 1 {
			continue
		}
		switch {
		case e.EventSubtypeID == nil:
			kuduDead[e.ID] = "kudu: no event_subtype_id"
		case !hasValue:
			kuduDead[e.ID] = `kudu: no "value" attribute`
		case err != nil:
			kuduDead[e.ID] = fmt.Sprintf(`kudu: attribute "value" is %q, not a number`, value)
		default:
			kudu[e.ID] = KuduEvent{Source: e.Source, TS: e.TS, MetricID: *e.EventSubtypeID, Version: e.Version, ID: e.ID,
				TemporalGranularity: e.TemporalGranularity, EventCertainty: e.EventCertainty, EventTypeID: e.EventTypeID,
				EventAnnotation: e.EventAnnotation, Location: e.Location, Metric: metric,
				AttributesKeys: h.AttributesKeys, AttributesValues: h.AttributesValues}
		}
	}
	return hdfs, kudu, kuduDead
}

// message is one Kafka message to produce.
type message struct {
	partition int32
	value     []byte
}

// produce writes the messages, in order, to the topic's partitions and
// returns where each went.
func produce(t testing.TB, c *kafkatest.Cluster, topic string, msgs ...message) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = &kgo.Record{Topic: topic, Partition: m.partition, Value: m.value}
	}
	c.Produce(recs...)
	return recs
}

// sumProgress adds up the progress lines: records, events, kudu (0 for
// "off"), dead, and the batches that failed.
func sumProgress(stderr string) (sum [4]int, failed []string) {
	for _, l := range progress.Lines(stderr) {
		if l.Err != "" {
			failed = append(failed, l.Err)
			continue
		}
		sum[0] += int(l.Records)
		for i, name := range []string{"events", "kudu", "dead"} {
			n, _ := l.Int(name)
			sum[i+1] += int(n)
		}
	}
	return sum, failed
}

// readDeadLetters reads the dead letters under dir: the
// <topic>-<partition>/dead-<offset>.jsonl files.
func readDeadLetters(t testing.TB, dir string) []deadLetter {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, scaleout.DeadGlob))
	var out []deadLetter
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parseDeadLetters(t, p, data)...)
	}
	return out
}

// parseDeadLetters parses JSON lines of dead letters, strictly.
func parseDeadLetters(t testing.TB, name string, data []byte) []deadLetter {
	t.Helper()
	var out []deadLetter
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var d deadLetter
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %q: %v", name, sc.Text(), err)
		}
		out = append(out, d)
	}
	return out
}

// deadKey identifies a dead letter by where its message was, and for the
// outputs by its kind.
func deadKey(d deadLetter) string {
	k := fmt.Sprintf("%s/%d/%d", d.Topic, d.Partition, d.Offset)
	if strings.HasPrefix(d.Reason, "parquet:") {
		k += "/parquet"
	} else if strings.HasPrefix(d.Reason, "kudu: rejected") {
		k += "/rejected"
	} else if strings.HasPrefix(d.Reason, "kudu:") {
		k += "/kudu"
	}
	return k
}
