package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Listing the latest offsets, where each batch's ranges end.

// fetchedEndsBelow is the batch interval under which a batch's ranges end
// at the records fetched by its time rather than at offsets listed for
// it. A listing is a request to every leader per batch, on the batch's
// critical path: at 10 ms batches it was a hundred requests a second and
// most of a batch's scheduling delay, and its ranges then waited for the
// fetches to bring what it listed. The fetches run all the time (waiting
// at most half an interval at the broker, fetchMaxWait), so what they
// have brought by the tick is what the broker had a moment before it.
const fetchedEndsBelow = 100 * time.Millisecond

// watchEvery is how often the offsets are listed in the background under
// fetchedEndsBelow: for the partitions' lag and the topics' health, which
// the listing per batch reports otherwise.
const watchEvery = time.Second

// readingLocked returns the partitions the next batch reads (owned and
// not being revoked) and the topics to list: theirs and the strategy's,
// so that a missing topic is reported. Both sorted; d.mu must be held.
func (d *DirectStream) readingLocked() ([]TopicPartition, []string) {
	var tps []TopicPartition
	topics := map[string]bool{}
	for _, t := range strategyTopics(d.strat) {
		topics[t] = true // listed even with no partition owned: a missing topic is reported
	}
	for tp, ps := range d.parts {
		if ps.owned && !ps.revoking {
			tps = append(tps, tp)
			topics[tp.Topic] = true
		}
	}
	slices.SortFunc(tps, compareTP)
	return tps, slices.Sorted(maps.Keys(topics))
}

// fetchedEnds returns, for each of tps, the offset after its last fetched
// record (ends, where a range may end without waiting), and its end as
// far as known from the fetches and the background listing (known, for
// the rate limits and the lag).
func (d *DirectStream) fetchedEnds(tps []TopicPartition) (ends, known map[TopicPartition]int64) {
	ends = make(map[TopicPartition]int64, len(tps))
	known = make(map[TopicPartition]int64, len(tps))
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, tp := range tps {
		if ps := d.parts[tp]; ps != nil {
			ends[tp] = ps.fetched
			known[tp] = max(ps.fetched, ps.end)
		}
	}
	return ends, known
}

// watch lists the offsets every watchEvery until the stream stops, under
// fetchedEndsBelow: it reports the brokers' and topics' health (latest),
// and raises the partitions' known ends.
func (d *DirectStream) watch() {
	defer d.polling.Done()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		_, topics := d.readingLocked()
		d.mu.Unlock()
		ends := d.latest(d.ctx, topics)
		d.mu.Lock()
		for tp, end := range ends {
			if ps := d.parts[tp]; ps != nil && ps.owned && end > ps.end {
				ps.end = end
			}
		}
		d.mu.Unlock()
	}
}

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
