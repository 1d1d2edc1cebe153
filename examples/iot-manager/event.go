package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/hamba/avro/v2"

	"github.com/microbatch-go/microbatch/examples/internal/avrosize"
)

// EventSchemaJSON is the Avro schema of an IoT event, the value of one
// Kafka message: the DAF IoT Ingestion Manager's Event.avsc (namespace
// it.gov.daf.iotingestion.event), as published with the samples.
//
//go:embed event.avsc
var EventSchemaJSON string

// Attribute is one entry of an event's attributes map, in the order the
// producer wrote it.
type Attribute struct {
	Key   string `avro:"key"`
	Value string `avro:"value"`
}

// Event is one decoded IoT event. Optional Avro fields ([null, T]) are
// pointers, or a nil slice for body; the attributes keep their order on
// the wire, so an event encodes back to the same bytes.
type Event struct {
	Version             int64       `avro:"version"`
	ID                  string      `avro:"id"`
	TS                  int64       `avro:"ts"` // epoch milliseconds
	TemporalGranularity *string     `avro:"temporal_granularity"`
	EventCertainty      float64     `avro:"event_certainty"`
	EventTypeID         int32       `avro:"event_type_id"`
	EventSubtypeID      *string     `avro:"event_subtype_id"`
	EventAnnotation     *string     `avro:"event_annotation"`
	Source              string      `avro:"source"`
	Location            string      `avro:"location"`
	Body                []byte      `avro:"body"` // nil for null
	Attributes          []Attribute `avro:"attributes"`
}

// Attr returns the value of the attribute key; with a key written more
// than once, the last, as a map would hold it.
func (e *Event) Attr(key string) (string, bool) {
	for i := len(e.Attributes) - 1; i >= 0; i-- {
		if e.Attributes[i].Key == key {
			return e.Attributes[i].Value, true
		}
	}
	return "", false
}

// The schemas. eventSchema is the published one. wireSchema, which the
// decoder and encoder use, is the same but for attributes, spelled as an
// array of {key, value} records instead of a map of strings: Avro encodes
// both as blocks of (string, string) pairs, byte for byte, so it reads and
// writes the same datums while keeping the pairs' order, which a Go map
// loses. TestWireSchema and FuzzDecode check that the two agree.
var (
	eventSchema = avro.MustParse(EventSchemaJSON)
	wireSchema  = avro.MustParse(mustWireSchema(EventSchemaJSON))
)

// mustWireSchema rewrites the attributes map of the schema as an array of
// key/value records. The schema is embedded, so a failure is a bug.
func mustWireSchema(schemaJSON string) string {
	var s map[string]any
	if err := json.Unmarshal([]byte(schemaJSON), &s); err != nil {
		panic(fmt.Sprintf("iot-manager: event schema: %v", err))
	}
	fields, _ := s["fields"].([]any)
	found := false
	for _, f := range fields {
		field, _ := f.(map[string]any)
		if field["name"] != "attributes" {
			continue
		}
		typ, _ := field["type"].(map[string]any)
		if typ["type"] != "map" || typ["values"] != "string" {
			panic(fmt.Sprintf("iot-manager: event schema: attributes is %v, want a map of strings", field["type"]))
		}
		field["type"] = map[string]any{"type": "array", "items": map[string]any{
			"type": "record", "name": "Attribute", "fields": []any{
				map[string]any{"name": "key", "type": "string"},
				map[string]any{"name": "value", "type": "string"},
			}}}
		found = true
	}
	if !found {
		panic("iot-manager: event schema has no attributes field")
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ErrBadEvent is wrapped by every DecodeEvent error: the bytes are not one
// Event datum.
var ErrBadEvent = errors.New("not an Avro Event")

// eventAPI returns the Avro API for a datum of n bytes: maps in one block
// with a plain count, as the original producers wrote them, and decoding
// limits that follow the message's size.
func eventAPI(n int) avro.API { return avrosize.API(n) }

// EncodeEvent returns the raw Avro binary datum of e (no container header,
// no schema-registry prefix), as a producer publishes it.
func EncodeEvent(e *Event) ([]byte, error) {
	b, err := eventAPI(0).Marshal(wireSchema, e)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	return b, nil
}

// DecodeEvent decodes one raw Avro Event datum. Bytes that are not exactly
// one datum (garbage, a truncated datum, trailing bytes, a union index out
// of range, a negative length) or that hold a string that is not UTF-8
// give an error wrapping ErrBadEvent. It never panics, and a corrupt
// length or count cannot make it allocate for more than the message
// could hold (see eventAPI).
func DecodeEvent(b []byte) (e Event, err error) {
	defer func() {
		if p := recover(); p != nil { // the decoder is not ours: never let it take the job down
			e, err = Event{}, fmt.Errorf("%w: the decoder failed: %v", ErrBadEvent, p)
		}
	}()
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(eventAPI(len(b))))
	r.Reset(b)
	r.ReadVal(wireSchema, &e)
	if r.Error != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrBadEvent, r.Error)
	}
	// A datum that ends early fails above; anything left is not part of it.
	var one [1]byte
	if r.Read(one[:]); r.Error == nil {
		return Event{}, fmt.Errorf("%w: trailing bytes after the datum", ErrBadEvent)
	}
	if field := invalidUTF8(&e); field != "" {
		return Event{}, fmt.Errorf("%w: %s is not valid UTF-8", ErrBadEvent, field)
	}
	return e, nil
}

// invalidUTF8 names the first string field of e that is not UTF-8, or
// returns "". Avro strings are UTF-8, and Parquet and Kudu readers
// expect them to be.
func invalidUTF8(e *Event) string {
	switch {
	case !utf8.ValidString(e.ID):
		return "id"
	case e.TemporalGranularity != nil && !utf8.ValidString(*e.TemporalGranularity):
		return "temporal_granularity"
	case e.EventSubtypeID != nil && !utf8.ValidString(*e.EventSubtypeID):
		return "event_subtype_id"
	case e.EventAnnotation != nil && !utf8.ValidString(*e.EventAnnotation):
		return "event_annotation"
	case !utf8.ValidString(e.Source):
		return "source"
	case !utf8.ValidString(e.Location):
		return "location"
	}
	for i, a := range e.Attributes {
		if !utf8.ValidString(a.Key) {
			return fmt.Sprintf("attribute key %d", i)
		}
		if !utf8.ValidString(a.Value) {
			return fmt.Sprintf("attribute %q", a.Key)
		}
	}
	return ""
}
