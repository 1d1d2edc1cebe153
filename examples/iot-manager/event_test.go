package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/microbatch-go/microbatch/internal/avsctest"
)

const (
	samplesFile = "testdata/iot_events.json"
	invalidFile = "testdata/iot_events_invalid.json"
)

func golden(t testing.TB, n int) []byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("testdata/avro/iot_event-%d.bin", n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The embedded schema is the published sample, byte for byte.
func TestSchemaIsTheSample(t *testing.T) {
	sample, err := os.ReadFile("testdata/iot_event.avsc")
	if err != nil {
		t.Fatal(err)
	}
	if string(sample) != EventSchemaJSON {
		t.Error("event.avsc differs from testdata/iot_event.avsc")
	}
	if eventSchema.(*avro.RecordSchema).FullName() != "it.gov.daf.iotingestion.event.Event" {
		t.Errorf("schema %s", eventSchema.(*avro.RecordSchema).FullName())
	}
}

// The schema the decoder uses is the published one but for attributes,
// a map of strings there, an array of {key, value} string records here:
// the same fields, in the same order, with the same types.
func TestWireSchema(t *testing.T) {
	pub, wire := eventSchema.(*avro.RecordSchema).Fields(), wireSchema.(*avro.RecordSchema).Fields()
	if len(pub) != len(wire) {
		t.Fatalf("%d fields, want %d", len(wire), len(pub))
	}
	for i, f := range pub {
		w := wire[i]
		if w.Name() != f.Name() {
			t.Errorf("field %d is %s, want %s", i, w.Name(), f.Name())
			continue
		}
		if f.Name() != "attributes" {
			if w.Type().String() != f.Type().String() {
				t.Errorf("field %s: %s, want %s", f.Name(), w.Type(), f.Type())
			}
			continue
		}
		m, ok := f.Type().(*avro.MapSchema)
		if !ok || m.Values().Type() != avro.String {
			t.Fatalf("published attributes: %s", f.Type())
		}
		a, ok := w.Type().(*avro.ArraySchema)
		if !ok {
			t.Fatalf("wire attributes: %s", w.Type())
		}
		rec, ok := a.Items().(*avro.RecordSchema)
		if !ok || len(rec.Fields()) != 2 || rec.Fields()[0].Type().Type() != avro.String || rec.Fields()[1].Type().Type() != avro.String {
			t.Fatalf("wire attributes: %s", w.Type())
		}
	}
}

// Each golden datum decodes to its sample, and our encoding of it is the
// golden datum again, byte for byte (the attributes keep their order on
// the wire).
func TestGolden(t *testing.T) {
	samples := readSamples(t, samplesFile)
	if len(samples) != 5 {
		t.Fatalf("%d samples", len(samples))
	}
	for n, want := range samples {
		bin := golden(t, n)
		e, err := DecodeEvent(bin)
		if err != nil {
			t.Fatalf("iot_event-%d.bin: %v", n, err)
		}
		if diff := sameEvent(e, want); diff != "" {
			t.Errorf("iot_event-%d.bin: %s", n, diff)
		}
		enc, err := EncodeEvent(&e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, bin) {
			t.Errorf("iot_event-%d: our encoding\n%x\nwant\n%x", n, enc, bin)
		}
	}
	// The samples' null body and null subtype decode as nil.
	e, _ := DecodeEvent(golden(t, 3))
	if e.Body != nil || e.TemporalGranularity == nil || *e.EventAnnotation != "lamp switched on by twilight sensor" {
		t.Errorf("iot_event-3: %+v", e)
	}
	e, _ = DecodeEvent(golden(t, 4))
	if e.EventSubtypeID != nil || e.EventTypeID != 2 || e.EventCertainty != 0.8 {
		t.Errorf("iot_event-4: %+v", e)
	}
}

// Datums that avsc, an independent Avro implementation, encodes decode to
// the events it was given; datums we encode decode in avsc to the same
// events.
func TestAvsc(t *testing.T) {
	events := append(readSamples(t, samplesFile), readSamples(t, invalidFile)...)
	events = append(events, genEvents(60, 1)...)
	// Edge values: empty strings, an empty body, extreme numbers (longs
	// within avsc's safe integers).
	events = append(events, jsonEvent{Version: -(1 << 52), ID: "", TS: -1, EventCertainty: 0, EventTypeID: -1 << 31,
		TemporalGranularity: sp(""), Source: "", Location: "", Body: []byte{}, Attributes: map[string]string{"": ""}})
	datums := avscEncode(t, events)
	for i, d := range datums {
		e, err := DecodeEvent(d)
		if err != nil {
			t.Fatalf("event %d (%s): %v", i, events[i].ID, err)
		}
		if diff := sameEvent(e, events[i]); diff != "" {
			t.Errorf("event %d: %s", i, diff)
		}
	}
	var ours [][]byte
	for _, je := range events {
		e := je.event()
		b, err := EncodeEvent(&e)
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, b)
	}
	for i, d := range avsctest.Decode(t, EventSchemaJSON, ours) {
		if d.Err != "" {
			t.Errorf("avsc cannot decode our event %d: %s", i, d.Err)
			continue
		}
		var got, want any
		json.Unmarshal(d.Value, &got)
		json.Unmarshal(events[i].avroJSON(), &want)
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if !bytes.Equal(gj, wj) {
			t.Errorf("avsc decodes our event %d as\n%s\nwant\n%s", i, gj, wj)
		}
	}
}

// Bytes that are not one Event datum are errors wrapping ErrBadEvent,
// never panics, and never from the decoder failing.
func TestDecodeRejects(t *testing.T) {
	g := golden(t, 0)
	other, err := avro.Marshal(avro.MustParse(`{"type":"record","name":"Other","fields":[
		{"name":"id","type":"long"},{"name":"ts","type":"string"},{"name":"value","type":"double"}]}`),
		map[string]any{"id": int64(7), "ts": "2018-03-12T09:00:00Z", "value": 41.5})
	if err != nil {
		t.Fatal(err)
	}
	// A valid prefix (version 1, id "a", ts 0, granularity null,
	// certainty 1.0, type 0, subtype null, annotation null) to build on.
	prefix := []byte{0x02, 0x02, 'a', 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x00, 0x00, 0x00}
	tail := func(b ...byte) []byte { return append(bytes.Clone(prefix), b...) }
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "EOF"},
		{"garbage", []byte("hello, world: this is not avro at all"), ""},
		{"a spot chunk", []byte{0x00, 0x04, 0x06, 0x61, 0x2c, 0x62, 0x02, 0x63, 0x00}, ""},
		{"another schema", other, ""},
		{"trailing byte", append(bytes.Clone(g), 0), "trailing bytes"},
		{"union index 2", tail(0x04), ""},
		{"negative string length", []byte{0x02, 0x01}, ""},
		{"string longer than the message", []byte{0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f, 'a'}, ""},
		{"huge string length", []byte{0x02, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ""},
		{"varint too long", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ""},
		{"source not UTF-8", tail(0x02, 0xff, 0x00, 0x00, 0x00), "source is not valid UTF-8"},
		{"attribute not UTF-8", tail(0x02, 's', 0x00, 0x00, 0x02, 0x02, 'k', 0x02, 0xc3, 0x00), `attribute "k" is not valid UTF-8`},
		{"many attributes claimed", tail(0x02, 's', 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0x0f), ""},
		{"block of MinInt64 attributes", tail(0x02, 's', 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00), ""},
		{"attributes not ended", tail(0x02, 's', 0x00, 0x00, 0x02, 0x02, 'k', 0x02, 'v'), ""},
		{"body null index 3", tail(0x02, 's', 0x00, 0x06), ""},
	}
	for n := range len(g) {
		cases = append(cases, struct {
			name string
			b    []byte
			want string
		}{fmt.Sprintf("golden cut at %d", n), g[:n], ""})
	}
	for _, tc := range cases {
		e, err := DecodeEvent(tc.b)
		switch {
		case err == nil:
			t.Errorf("%s: decoded %+v", tc.name, e)
		case !errors.Is(err, ErrBadEvent):
			t.Errorf("%s: %v does not wrap ErrBadEvent", tc.name, err)
		case strings.Contains(err.Error(), "decoder failed"):
			t.Errorf("%s: %v", tc.name, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// The valid prefix with a source and an empty map is an event.
	if _, err := DecodeEvent(tail(0x02, 's', 0x00, 0x00, 0x00)); err != nil {
		t.Errorf("the minimal event: %v", err)
	}
}

// A few bytes that claim a huge string or many attributes make the
// decoder allocate in proportion to the message, not to the claim.
func TestDecodeBoundedAllocation(t *testing.T) {
	prefix := []byte{0x02, 0x02, 'a', 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x00, 0x00, 0x00, 0x02, 's', 0x00, 0x00}
	for _, b := range [][]byte{
		{0x02, 0xfe, 0xff, 0xff, 0xff, 0x07, 'a'},                                 // a 1 GiB id
		append(bytes.Clone(prefix), 0xfe, 0xff, 0xff, 0xff, 0x07),                 // 2^29 attributes
		append(bytes.Clone(prefix), 0xfe, 0x0f, 0x02, 'k'),                        // 1023 attributes, 1 given
		append(bytes.Clone(prefix), 0x02, 0xfe, 0xff, 0xff, 0xff, 0x07, 'k', 'v'), // a 1 GiB key
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := DecodeEvent(b); err == nil {
				t.Fatalf("% x decoded", b)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 128<<10 {
			t.Errorf("% x: %d bytes allocated per decode", b, per)
		}
	}
}

// mapEvent is the published schema's reading of an event, attributes as
// a map.
type mapEvent struct {
	Version             int64             `avro:"version"`
	ID                  string            `avro:"id"`
	TS                  int64             `avro:"ts"`
	TemporalGranularity *string           `avro:"temporal_granularity"`
	EventCertainty      float64           `avro:"event_certainty"`
	EventTypeID         int32             `avro:"event_type_id"`
	EventSubtypeID      *string           `avro:"event_subtype_id"`
	EventAnnotation     *string           `avro:"event_annotation"`
	Source              string            `avro:"source"`
	Location            string            `avro:"location"`
	Body                []byte            `avro:"body"`
	Attributes          map[string]string `avro:"attributes"`
}

// decodePublished decodes b with hamba/avro and the published schema,
// with the same limits and the same trailing-bytes rule.
func decodePublished(b []byte) (e mapEvent, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(eventAPI(len(b))))
	r.Reset(b)
	r.ReadVal(eventSchema, &e)
	if r.Error != nil {
		return e, r.Error
	}
	var one [1]byte
	if r.Read(one[:]); r.Error == nil {
		return e, errors.New("trailing bytes")
	}
	return e, nil
}

// FuzzDecode: DecodeEvent never panics; what it accepts converts to rows
// and re-encodes to a datum that decodes to the same event; and it
// agrees with hamba/avro
// reading the published schema (attributes as a map) on every input,
// but for strings that are not UTF-8, which only DecodeEvent refuses.
func FuzzDecode(f *testing.F) {
	for n := range 5 {
		g := golden(f, n)
		f.Add(g)
		f.Add(g[:len(g)/2])
		f.Add(append(bytes.Clone(g), 0))
	}
	f.Add([]byte{})
	f.Add([]byte("not avro"))
	f.Add([]byte{0x02, 0x02, 'a', 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x00, 0x00, 0x00, 0x02, 's', 0x00, 0x00, 0x03, 0x10, 0x02, 'k', 0x02, 'v', 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		pub, perr := decodePublished(b)
		if perr != nil && strings.HasPrefix(perr.Error(), "panic") && err != nil && strings.Contains(err.Error(), "decoder failed") {
			return // hamba/avro panics on this input whichever schema reads it; DecodeEvent turned it into an error
		}
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("%v does not wrap ErrBadEvent", err)
			}
			if perr == nil && !strings.Contains(err.Error(), "UTF-8") {
				t.Fatalf("DecodeEvent: %v; the published schema reads %+v", err, pub)
			}
			return
		}
		if perr != nil {
			t.Fatalf("DecodeEvent accepts what the published schema refuses (%v): %+v", perr, e)
		}
		attrs := map[string]string{}
		for _, a := range e.Attributes {
			attrs[a.Key] = a.Value
		}
		if !maps.Equal(attrs, pub.Attributes) {
			t.Fatalf("attributes %v, published schema %v", attrs, pub.Attributes)
		}
		if got, want := eventFields(e.Version, e.ID, e.TS, e.TemporalGranularity, e.EventCertainty, e.EventTypeID, e.EventSubtypeID, e.EventAnnotation, e.Source, e.Location, e.Body),
			eventFields(pub.Version, pub.ID, pub.TS, pub.TemporalGranularity, pub.EventCertainty, pub.EventTypeID, pub.EventSubtypeID, pub.EventAnnotation, pub.Source, pub.Location, pub.Body); got != want {
			t.Fatalf("decoded\n%s\npublished schema\n%s", got, want)
		}
		// What decodes converts, whatever its values.
		c, why := convert(&e, true, origin{})
		if c.toKudu == (why != "") && e.EventTypeID != typeGeneric || c.hdfs.ID != e.ID || len(c.hdfs.Attributes) != len(attrs) {
			t.Fatalf("convert: %+v, %q", c, why)
		}
		enc, err := EncodeEvent(&e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeEvent(enc)
		if err != nil {
			t.Fatalf("our encoding does not decode: %v", err)
		}
		if got, want := fmt.Sprint(eventFields(back.Version, back.ID, back.TS, back.TemporalGranularity, back.EventCertainty, back.EventTypeID, back.EventSubtypeID, back.EventAnnotation, back.Source, back.Location, back.Body), back.Attributes),
			fmt.Sprint(eventFields(e.Version, e.ID, e.TS, e.TemporalGranularity, e.EventCertainty, e.EventTypeID, e.EventSubtypeID, e.EventAnnotation, e.Source, e.Location, e.Body), e.Attributes); got != want {
			t.Fatalf("round trip\n%s\nwant\n%s", got, want)
		}
	})
}

// eventFields formats an event's fields but its attributes exactly:
// pointers by what they point to, the certainty by its bits (so NaNs
// compare), body with null apart from empty.
func eventFields(version int64, id string, ts int64, gran *string, cert float64, typ int32, sub, ann *string, source, location string, body []byte) string {
	opt := func(s *string) string {
		if s == nil {
			return "null"
		}
		return strconv.Quote(*s)
	}
	b := "null"
	if body != nil {
		b = fmt.Sprintf("%x", body)
	}
	return fmt.Sprintf("version=%d id=%q ts=%d gran=%s cert=%x type=%d sub=%s ann=%s source=%q location=%q body=%s",
		version, id, ts, opt(gran), math.Float64bits(cert), typ, opt(sub), opt(ann), source, location, b)
}
