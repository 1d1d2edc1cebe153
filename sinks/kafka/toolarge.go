package kafkasink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tooLarge is an element whose record failed with MESSAGE_TOO_LARGE,
// from franz-go (a record larger than a batch may be) or from the broker
// (a record batch larger than the topic's max.message.bytes).
type tooLarge[T any] struct {
	p           *dstream.Partition[T] // the batch partition, to reject the element
	part, index int                   // the element's batch partition and position in it
	elem        T
	rec         *kgo.Record
	err         error // the last error
}

// isTooLarge reports whether err is franz-go's or the broker's
// MESSAGE_TOO_LARGE.
func isTooLarge(err error) bool { return errors.Is(err, kerr.MessageTooLarge) }

// retryTooLarge produces again the records that failed as too large, and
// returns how many of them were acknowledged, and their key and value
// bytes.
//
// The broker refuses a whole record batch with MESSAGE_TOO_LARGE, and
// franz-go then fails every record it holds for that partition, so most
// of the records that failed may be fine. They are produced again in
// halves, each waited for before the next, and the records of a half
// that fail again are halved again, until a record fails alone: that
// record is too large by itself, and goes to the dead letter with an
// error naming its size and the limits, or fails the batch without a
// dead letter. Every other record is written.
//
// A record that failed was not written: the broker refused its batch,
// and, with the idempotent producer, refuses the batches after it as out
// of sequence. So producing it again writes it once, in the transaction
// of a Transactional sink.
func (s *Sink[T]) retryTooLarge(ctx context.Context, cl *kgo.Client, failed []tooLarge[T]) (acked, size int64, err error) {
	slices.SortFunc(failed, func(a, b tooLarge[T]) int {
		return cmp.Or(cmp.Compare(a.part, b.part), cmp.Compare(a.index, b.index))
	})
	s.log.Warn("kafkasink: records failed as too large; producing them again to find the ones too large alone",
		"records", len(failed), "first_error", failed[0].err)
	limits := map[string]string{} // topic -> its limits, for messages
	queue := halves(failed)
	for len(queue) > 0 {
		group := queue[0]
		queue = queue[1:]
		again, n, nb, err := s.produceGroup(ctx, cl, group)
		acked += n
		size += nb
		if err != nil {
			return acked, size, err
		}
		if len(again) == 0 {
			continue
		}
		if len(group) > 1 {
			queue = append(halves(again), queue...)
			continue
		}
		re := s.tooLargeError(ctx, cl, again[0], limits)
		if s.cfg.failOnPoison {
			return acked, size, re
		}
		again[0].p.Reject(again[0].elem, re)
	}
	return acked, size, nil
}

// halves splits records in two, or returns it alone if it holds one
// record.
func halves[T any](records []tooLarge[T]) [][]tooLarge[T] {
	if len(records) < 2 {
		return [][]tooLarge[T]{records}
	}
	h := len(records) / 2
	return [][]tooLarge[T]{records[:h:h], records[h:]}
}

// produceGroup produces the records of group again and waits for them.
// It returns those that failed as too large again, how many were
// acknowledged and their key and value bytes, and the error of the first
// that failed otherwise.
func (s *Sink[T]) produceGroup(ctx context.Context, cl *kgo.Client, group []tooLarge[T]) ([]tooLarge[T], int64, int64, error) {
	errs := make([]error, len(group))
	var pending sync.WaitGroup
	pending.Add(len(group))
	for i, g := range group {
		cl.Produce(ctx, fresh(g.rec), func(_ *kgo.Record, err error) {
			errs[i] = err
			pending.Done()
		})
	}
	done := make(chan struct{})
	go func() {
		pending.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, 0, 0, fmt.Errorf("kafkasink: producing records again after MESSAGE_TOO_LARGE: %w", ctx.Err())
	}
	var again []tooLarge[T]
	var acked, size int64
	for i, err := range errs {
		g := group[i]
		switch {
		case err == nil:
			acked++
			size += int64(len(g.rec.Key) + len(g.rec.Value))
		case isTooLarge(err):
			g.err = err
			again = append(again, g)
		default:
			return nil, acked, size, &RecordError{Partition: g.part, Index: g.index, Op: "produce", Topic: g.rec.Topic, Err: err}
		}
	}
	return again, acked, size, nil
}

// fresh returns a new record with what the sink set in r, to produce
// again: franz-go owns the fields it filled in r.
func fresh(r *kgo.Record) *kgo.Record {
	return &kgo.Record{Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp,
		Topic: r.Topic, Partition: r.Partition, Context: r.Context}
}

// recordSize is the size franz-go checks against its limits: the bytes of
// the key, the value and the headers' keys and values.
func recordSize(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// tooLargeError is the error of a record that failed alone as too large:
// its size, and the limits it is over, the client's and the topic's.
func (s *Sink[T]) tooLargeError(ctx context.Context, cl *kgo.Client, g tooLarge[T], limits map[string]string) *RecordError {
	topic := g.rec.Topic
	limit, ok := limits[topic]
	if !ok {
		limit = describeLimits(ctx, cl, topic)
		limits[topic] = limit
	}
	return &RecordError{Partition: g.part, Index: g.index, Op: "produce", Topic: topic,
		Err: fmt.Errorf("record of %d bytes (key, value and headers) too large, in a record batch of its own, for %s: %w",
			recordSize(g.rec), limit, g.err)}
}

// describeLimits describes the limits on a record batch of topic: the
// client's ProducerBatchMaxBytes and the topic's max.message.bytes, asked
// of the broker.
func describeLimits(ctx context.Context, cl *kgo.Client, topic string) string {
	client := "the client's ProducerBatchMaxBytes"
	if fn, ok := cl.OptValue(kgo.ProducerBatchMaxBytesFn).(func(string) int32); ok && fn != nil {
		client += " " + strconv.Itoa(int(fn(topic)))
	}
	broker := "max.message.bytes of topic " + topic
	if n, err := maxMessageBytes(ctx, cl, topic); err != nil {
		broker += " (unknown: " + err.Error() + ")"
	} else {
		broker += " " + n
	}
	return client + " (before compression) or " + broker + " (after compression)"
}

// maxMessageBytes asks the broker for the topic's max.message.bytes.
func maxMessageBytes(ctx context.Context, cl *kgo.Client, topic string) (string, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = topic
	res.ConfigNames = []string{"max.message.bytes"}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	for _, r := range resp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return "", err
		}
		for _, c := range r.Configs {
			if c.Name == "max.message.bytes" && c.Value != nil {
				return *c.Value, nil
			}
		}
	}
	return "", errors.New("not in the broker's answer")
}
