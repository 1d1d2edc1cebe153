package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Listing the latest offsets, where each batch's ranges end.

// latest lists the end offsets (or last stable offsets) of the topics. A
// failed listing is logged and reported (ReportHealth) and leaves
// partitions out, so their ranges are empty in this batch; a successful
// one clears what earlier batches reported.
func (d *DirectStream) latest(ctx context.Context, topics []string) map[TopicPartition]int64 {
	out := map[TopicPartition]int64{}
	if len(topics) == 0 {
		d.clearTopicsExcept(nil)
		return out
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
	defer cancel()
	var listed kadm.ListedOffsets
	var err error
	if d.cfg.readCommitted {
		listed, err = d.adm.ListCommittedOffsets(ctx, topics...)
	} else {
		listed, err = d.adm.ListEndOffsets(ctx, topics...)
	}
	switch {
	case err != nil && parent.Err() != nil:
		return out // the context is stopping: not an outage
	case err != nil && listed == nil:
		err = d.requestError(ctx, err)
		d.log.Warn("kafka: listing the latest offsets failed; this batch is empty", "error", err)
		d.ssc.ReportHealth(d.brokers, err)
		return out
	case err != nil: // some brokers answered: their partitions have ranges
		err = d.requestError(ctx, err)
		d.log.Warn("kafka: listing the latest offsets failed for some partitions; they are empty in this batch", "error", err)
		d.ssc.ReportHealth(d.brokers, err)
	default:
		d.ssc.ReportHealth(d.brokers, nil)
	}
	failed := map[string][]error{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			err := topicErr(o.Err)
			var missing *missingError
			if o.Partition >= 0 && !errors.As(err, &missing) {
				err = fmt.Errorf("partition %d: %w", o.Partition, err)
			}
			if !slices.ContainsFunc(failed[o.Topic], func(e error) bool { return e.Error() == err.Error() }) {
				failed[o.Topic] = append(failed[o.Topic], err)
			}
			d.log.Warn("kafka: listing the latest offset failed; the partition is empty in this batch", "partition", TopicPartition{o.Topic, o.Partition}.String(), "error", o.Err)
			return
		}
		out[TopicPartition{o.Topic, o.Partition}] = o.Offset
	})
	for _, t := range topics {
		// A topic whose broker did not answer is not known to be well.
		if err == nil || len(failed[t]) > 0 {
			d.reportTopic(t, errors.Join(failed[t]...))
		}
	}
	if err == nil {
		d.clearTopicsExcept(topics)
	}
	return out
}

// requestError is err of a request that ran out of time, or of the
// client that gave up dialing, made readable.
func (d *DirectStream) requestError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return fmt.Errorf("no answer within %v (RequestTimeout)", d.cfg.requestTimeout)
	}
	return dialError(err)
}
