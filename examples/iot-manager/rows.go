package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HdfsEvent is a row of the Parquet output: the stored columns of the
// original's HdfsEvent, plus the attributes as a Parquet map. Source and
// Day are the Hive partition columns, in the paths only.
type HdfsEvent struct {
	Version             int64             `parquet:"version"`
	ID                  string            `parquet:"id"`
	TS                  int64             `parquet:"ts"` // epoch milliseconds
	TemporalGranularity *string           `parquet:"temporal_granularity,optional"`
	EventCertainty      float64           `parquet:"event_certainty"`
	EventTypeID         int32             `parquet:"event_type_id"`
	EventSubtypeID      *string           `parquet:"event_subtype_id,optional"`
	EventAnnotation     *string           `parquet:"event_annotation,optional"`
	Metric              *float64          `parquet:"metric,optional"` // attributes["value"] as a number; null when absent or not a number
	Source              string            `parquet:"-"`               // partition source=<escaped source>
	Location            string            `parquet:"location"`
	Body                []byte            `parquet:"body,optional"`
	AttributesKeys      string            `parquet:"attributesKeys"`   // the keys in key order, joined with "#"
	AttributesValues    string            `parquet:"attributesValues"` // their values in the same order, joined with "#"
	Attributes          map[string]string `parquet:"attributes"`
	Day                 string            `parquet:"-"` // partition day=<ddMMyyyy of ts in UTC>

	from origin // where the event came from, for a dead letter; not a column
}

// partitionCols are the Hive partition columns of the Parquet output.
var partitionCols = []string{"source", "day"}

// partition returns the row's partition values; the sink escapes them.
func (h *HdfsEvent) partition() []string { return []string{h.Source, h.Day} }

// KuduEvent is a row of the Kudu table: the original's KuduEvent columns,
// primary key (source, ts, metric_id) first. metric_id is the event's
// subtype and metric the number in its "value" attribute; the Avro
// fields that may be null are the nullable columns.
type KuduEvent struct {
	Source              string  `kudu:"source,key"`
	TS                  int64   `kudu:"ts,key"`
	MetricID            string  `kudu:"metric_id,key"`
	Version             int64   `kudu:"version"`
	ID                  string  `kudu:"id"`
	TemporalGranularity *string `kudu:"temporal_granularity"`
	EventCertainty      float64 `kudu:"event_certainty"`
	EventTypeID         int32   `kudu:"event_type_id"`
	EventAnnotation     *string `kudu:"event_annotation"`
	Location            string  `kudu:"location"`
	Metric              float64 `kudu:"metric"`
	AttributesKeys      string  `kudu:"attributesKeys"`
	AttributesValues    string  `kudu:"attributesValues"`

	from origin // where the event came from, for a dead letter; not a column
}

// origin is where a Kafka message was.
type origin struct {
	topic     string
	partition int32
	offset    int64
}

// deadLetter returns the dead letter of the event with id from there, of
// the kind (deadKuduRejected, ...) for the reason.
func (o origin) deadLetter(id, kind, reason string) deadLetter {
	return deadLetter{Topic: o.topic, Partition: o.partition, Offset: o.offset, Reason: reason, ID: &id, kind: kind}
}

// The event types.
const (
	typeMetric  = 0
	typeChange  = 1
	typeGeneric = 2
)

// converted is what one event becomes: its Parquet row and, when toKudu,
// its Kudu row. They live in one allocation.
type converted struct {
	hdfs   HdfsEvent
	kudu   KuduEvent
	toKudu bool
	metric float64 // what hdfs.Metric points to
}

// day formats the UTC day of ts (epoch ms) as ddMMyyyy.
func day(ts int64) string { return time.UnixMilli(ts).UTC().Format("02012006") }

// parseMetric reads an attribute value as a number: a decimal or
// hexadecimal float, with surrounding spaces, finite. NaN, infinities and
// numbers beyond float64 are not metrics.
func parseMetric(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// convert turns an event into its rows. With kudu (the Kudu path on), an
// event of type 0 or 1 that cannot be a Kudu row gets a reason saying
// why, and so does an event of an unknown type; events of type 2 go to
// Parquet only, as in the original.
func convert(e *Event, kudu bool, from origin) (c *converted, kuduReason string) {
	attrs := make(map[string]string, len(e.Attributes))
	for _, a := range e.Attributes {
		attrs[a.Key] = a.Value
	}
	keys := slices.Sorted(maps.Keys(attrs))
	var kb, vb strings.Builder
	for i, k := range keys {
		if i > 0 {
			kb.WriteByte('#')
			vb.WriteByte('#')
		}
		kb.WriteString(k)
		vb.WriteString(attrs[k])
	}
	c = &converted{}
	h := &c.hdfs
	*h = HdfsEvent{
		Version: e.Version, ID: e.ID, TS: e.TS, TemporalGranularity: e.TemporalGranularity,
		EventCertainty: e.EventCertainty, EventTypeID: e.EventTypeID, EventSubtypeID: e.EventSubtypeID,
		EventAnnotation: e.EventAnnotation, Source: e.Source, Location: e.Location, Body: e.Body,
		AttributesKeys: kb.String(), AttributesValues: vb.String(), Attributes: attrs, Day: day(e.TS), from: from,
	}
	value, hasValue := attrs["value"]
	metric, isNumber := parseMetric(value)
	if hasValue && isNumber {
		c.metric = metric
		h.Metric = &c.metric
	}
	if !kudu || e.EventTypeID == typeGeneric {
		return c, ""
	}
	var why []string
	if e.EventTypeID != typeMetric && e.EventTypeID != typeChange {
		why = append(why, fmt.Sprintf("event_type_id %d is not 0 (metric), 1 (change of state) or 2 (generic)", e.EventTypeID))
	}
	if e.EventSubtypeID == nil {
		why = append(why, "no event_subtype_id")
	}
	switch {
	case !hasValue:
		why = append(why, `no "value" attribute`)
	case !isNumber:
		why = append(why, fmt.Sprintf(`attribute "value" is %s, not a number`, strconv.Quote(value)))
	}
	if len(why) > 0 {
		return c, "kudu: " + strings.Join(why, "; ")
	}
	c.toKudu = true
	c.kudu = KuduEvent{
		Source: e.Source, TS: e.TS, MetricID: *e.EventSubtypeID, Version: e.Version, ID: e.ID,
		TemporalGranularity: e.TemporalGranularity, EventCertainty: e.EventCertainty, EventTypeID: e.EventTypeID,
		EventAnnotation: e.EventAnnotation, Location: e.Location, Metric: metric,
		AttributesKeys: h.AttributesKeys, AttributesValues: h.AttributesValues, from: from,
	}
	return c, ""
}
