package kafka

import (
	"cmp"
	"fmt"
	"github.com/microbatch-go/microbatch/dstream"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is one Kafka record of a direct stream's batch.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String formats the partition as Kafka tools do: "topic-partition".
func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// compareTP orders partitions by topic, then partition.
func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// OffsetRange is the part of one Kafka partition that a batch holds: the
// records with From <= offset < Until (Spark's OffsetRange). Partition i
// of a direct stream's own batch holds exactly range i of that batch; after
// a shuffle or repartition the batch's partitions no longer correspond to
// ranges.
type OffsetRange struct {
	Topic     string
	Partition int32
	From      int64 // the first offset, inclusive
	Until     int64 // the offset after the last, exclusive
}

// Count returns Until - From: the number of offsets in the range. Records
// a range skips (transaction markers, compacted records) count here but
// are not in the batch.
func (r OffsetRange) Count() int64 { return r.Until - r.From }

// TopicPartition returns the range's partition.
func (r OffsetRange) TopicPartition() TopicPartition {
	return TopicPartition{Topic: r.Topic, Partition: r.Partition}
}

// SourceRange implements dstream.SourceRanger: the range as the engine's
// outputs see it in a partition's lineage, with the topic as the input.
func (r OffsetRange) SourceRange() dstream.SourceRange {
	return dstream.SourceRange{Input: r.Topic, Partition: r.Partition, From: r.From, Until: r.Until}
}

// String formats the range as "topic-partition [from, until)".
func (r OffsetRange) String() string {
	return fmt.Sprintf("%s-%d [%d, %d)", r.Topic, r.Partition, r.From, r.Until)
}

// toRecord copies a franz-go record into a Record.
func toRecord(r *kgo.Record) Record {
	out := Record{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
	}
	if len(r.Headers) > 0 {
		out.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			out.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return out
}

// recordSize is what a buffered record counts against the buffer limit.
func recordSize(r *kgo.Record) int { return len(r.Key) + len(r.Value) + 64 }
