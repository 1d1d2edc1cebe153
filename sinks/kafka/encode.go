package kafkasink

import (
	"errors"
	"fmt"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Encoder says how the elements of a stream of T become Kafka records:
// each record's value, and optionally its key, headers and topic. Every
// function of an Encoder takes a T, so an Encoder built for another
// element type than the stream's does not compile.
//
// Build one with Encode, whose T is inferred from the value function:
//
//	enc := kafkasink.Encode(func(e Event) ([]byte, error) { return json.Marshal(e) }).
//		WithKey(func(e Event) []byte { return []byte(e.User) })
//
// The zero Encoder is the element type's default encoding (see Write),
// which the methods can add to:
//
//	kafkasink.Encoder[string]{}.WithTopic(route)
//
// For an element type with a default encoding, the Encoder's functions
// replace the parts of the record they set. An Encoder is a value: each
// method returns a copy, and the functions may be called concurrently
// from several partitions.
type Encoder[T any] struct {
	value   func(T) ([]byte, error)
	key     func(T) []byte
	headers func(T) []kgo.RecordHeader
	topic   func(T) string
	part    func(T) int32
	err     error // a nil function given to Encode or a method
}

// Encode returns an Encoder whose records' values are value(x); a nil
// value is a tombstone. An error makes the element a poison record: it is
// rejected to the job's dead letters with a *RecordError naming its
// position (dstream.Partition.Reject), or fails the batch with
// FailOnPoison.
func Encode[T any](value func(T) ([]byte, error)) Encoder[T] {
	e := Encoder[T]{value: value}
	if value == nil {
		e.err = errors.New("Encode: nil function")
	}
	return e
}

// WithKey returns a copy of e that sets each record's key to key(x). By
// default records have no key, except for the element types whose
// default encoding has one (see Write).
func (e Encoder[T]) WithKey(key func(T) []byte) Encoder[T] {
	e.key = key
	e.nilCheck("WithKey", key == nil)
	return e
}

// WithHeaders returns a copy of e that sets each record's headers to
// headers(x).
func (e Encoder[T]) WithHeaders(headers func(T) []kgo.RecordHeader) Encoder[T] {
	e.headers = headers
	e.nilCheck("WithHeaders", headers == nil)
	return e
}

// WithTopic returns a copy of e that chooses each record's topic: an
// empty result means the sink's topic, and an element with neither is a
// poison record (its error wraps ErrNoTopic).
func (e Encoder[T]) WithTopic(topic func(T) string) Encoder[T] {
	e.topic = topic
	e.nilCheck("WithTopic", topic == nil)
	return e
}

// WithPartition returns a copy of e that chooses each record's partition:
// partition(x) is the partition of the record's topic it is written to,
// and a negative result leaves the choice to the sink's Partitioner (by
// default, the partition the key hashes to, as with Kafka's Java client,
// or sticky batches for records without a key). A partition the topic
// does not have fails the record, and with it the batch.
//
// It is what a job writing keyed state per input partition needs: the
// entries of a changelog topic go to the partition number of the input
// partition they belong to (kafka.UpdateTable).
func (e Encoder[T]) WithPartition(partition func(T) int32) Encoder[T] {
	e.part = partition
	e.nilCheck("WithPartition", partition == nil)
	return e
}

func (e *Encoder[T]) nilCheck(method string, isNil bool) {
	if isNil && e.err == nil {
		e.err = fmt.Errorf("%s: nil function", method)
	}
}

// ErrNoTopic is the encoding error of an element with no topic: the
// Encoder's topic function returned "" and the sink has no topic.
var ErrNoTopic = errors.New("no topic: the Encoder's topic function returned \"\" and the sink has no topic")

// encoder turns elements into records: an Encoder checked against the
// element type and the sink's topic.
type encoder[T any] struct {
	Encoder[T]
	defaultTopic string
	base         func(T, *kgo.Record) // the default encoding of T, if any
}

func newEncoder[T any](topic string, enc Encoder[T]) (encoder[T], error) {
	e := encoder[T]{Encoder: enc, defaultTopic: topic, base: defaultEncoding[T]()}
	if enc.err != nil {
		return e, enc.err
	}
	if e.base == nil && e.value == nil {
		var zero T
		return e, fmt.Errorf("elements of type %T have no default encoding: use WriteEncoded with Encode", zero)
	}
	if topic == "" && e.topic == nil {
		return e, errors.New("no topic: give the sink a topic, or an Encoder with WithTopic")
	}
	return e, nil
}

// record returns the record of x.
func (e *encoder[T]) record(x T) (*kgo.Record, error) {
	r := &kgo.Record{Topic: e.defaultTopic}
	if e.base != nil {
		e.base(x, r)
	}
	if e.topic != nil {
		if t := e.topic(x); t != "" {
			r.Topic = t
		}
	}
	if r.Topic == "" {
		return nil, ErrNoTopic
	}
	if e.key != nil {
		r.Key = e.key(x)
	}
	if e.headers != nil {
		r.Headers = e.headers(x)
	}
	if e.value != nil {
		v, err := e.value(x)
		if err != nil {
			return nil, err
		}
		r.Value = v
	}
	return r, nil
}

// defaultEncoding returns how elements of type T fill a record when they
// have a natural encoding, and nil otherwise.
func defaultEncoding[T any]() func(T, *kgo.Record) {
	var f any
	switch any(*new(T)).(type) {
	case []byte:
		f = func(x []byte, r *kgo.Record) { r.Value = x }
	case string:
		f = func(x string, r *kgo.Record) { r.Value = []byte(x) }
	case kafka.Record:
		f = func(x kafka.Record, r *kgo.Record) {
			r.Key, r.Value, r.Timestamp = x.Key, x.Value, x.Timestamp
			for _, h := range x.Headers {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
		}
	case dstream.Pair[[]byte, []byte]:
		f = func(x dstream.Pair[[]byte, []byte], r *kgo.Record) { r.Key, r.Value = x.Key, x.Value }
	case dstream.Pair[string, string]:
		f = func(x dstream.Pair[string, string], r *kgo.Record) { r.Key, r.Value = []byte(x.Key), []byte(x.Value) }
	case dstream.Pair[string, []byte]:
		f = func(x dstream.Pair[string, []byte], r *kgo.Record) { r.Key, r.Value = []byte(x.Key), x.Value }
	case dstream.Pair[[]byte, string]:
		f = func(x dstream.Pair[[]byte, string], r *kgo.Record) { r.Key, r.Value = x.Key, []byte(x.Value) }
	default:
		return nil
	}
	return f.(func(T, *kgo.Record))
}
