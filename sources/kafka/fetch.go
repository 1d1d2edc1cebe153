package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Reading a batch's ranges: the background poll that buffers fetched
// records per partition (pausing a partition whose buffer is full), and
// range readers with clients of their own for ranges the buffers do not
// hold.

// readRange returns the records of r, waiting for the background fetches
// to reach r.Until, at most PollTimeout.
func (d *DirectStream) readRange(ctx context.Context, r OffsetRange) ([]Record, error) {
	if r.Until <= r.From {
		return nil, nil
	}
	tp := r.TopicPartition()
	d.mu.Lock()
	first := d.parts[tp]
	d.mu.Unlock()
	if first == nil || r.From < first.start {
		// A range from before this stream began fetching the partition
		// (rebuilt after a restart), or of a partition not assigned.
		return d.fetchDirect(ctx, r)
	}
	out := make([]Record, 0, min(r.Count(), 1<<20))
	next := r.From
	timer := time.NewTimer(d.cfg.pollTimeout)
	defer timer.Stop()
	for {
		var notify chan struct{}
		var owned, resume bool
		d.mu.Lock()
		ps := d.parts[tp]
		if ps != nil {
			owned, notify = ps.owned, ps.notify
			var taken int
			out, next, taken = takeRecords(ps.buf, out, next, r.Until)
			for _, rec := range ps.buf[:taken] {
				ps.bytes -= recordSize(rec)
			}
			clear(ps.buf[:taken])
			ps.buf = ps.buf[taken:]
			if ps.fetched >= r.Until {
				next = r.Until // the rest of the range holds no records (compacted or aborted)
			}
			if ps.paused && ps.bytes < d.cfg.maxBuffered/2 {
				ps.paused, resume = false, true
			}
		}
		d.mu.Unlock()
		if resume {
			d.cl.ResumeFetchPartitions(map[string][]int32{tp.Topic: {tp.Partition}})
		}
		if next >= r.Until {
			return out, nil
		}
		if !owned || ps != first {
			// Revoked (and maybe assigned again) while the batch waited.
			rest, err := d.fetchDirect(ctx, OffsetRange{Topic: r.Topic, Partition: r.Partition, From: next, Until: r.Until})
			if err != nil {
				return nil, err
			}
			return append(out, rest...), nil
		}
		select {
		case <-notify:
		case <-timer.C:
			return nil, fmt.Errorf("kafka: timed out after %v waiting for the records of %v: fetched up to offset %d", d.cfg.pollTimeout, r, next)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// takeRecords appends to out the records of buf (sorted by offset) from
// next up to until, skipping transaction markers, and returns out, the
// offset after the last one taken, and how many records of buf it used
// up (those before until).
func takeRecords(buf []*kgo.Record, out []Record, next, until int64) ([]Record, int64, int) {
	i := 0
	for ; i < len(buf); i++ {
		rec := buf[i]
		if rec.Offset >= until {
			break
		}
		if rec.Offset >= next {
			if !rec.Attrs.IsControl() {
				out = append(out, toRecord(rec))
			}
			next = rec.Offset + 1
		}
	}
	return out, next, i
}

// rangeReader reads ranges of one partition with a client of its own:
// ranges from before a restart (which the state's catch-up and windows
// read in order, so one client serves them all) and ranges of partitions
// revoked since their batch was generated.
type rangeReader struct {
	mu   sync.Mutex
	cl   *kgo.Client
	next int64         // the offset after the last record the client returned
	buf  []*kgo.Record // records the client returned past the last range read
}

// maxSkip is how far ahead of a reader's position a range may start and
// still be read by polling through the gap rather than a new client.
const maxSkip = 10_000

// fetchDirect reads r with the partition's range reader.
func (d *DirectStream) fetchDirect(ctx context.Context, r OffsetRange) ([]Record, error) {
	tp := r.TopicPartition()
	d.mu.Lock()
	rr := d.readers[tp]
	if rr == nil {
		rr = &rangeReader{}
		d.readers[tp] = rr
	}
	d.mu.Unlock()
	rr.mu.Lock()
	defer rr.mu.Unlock()

	pos := rr.next
	if len(rr.buf) > 0 {
		pos = rr.buf[0].Offset
	}
	if rr.cl == nil || r.From < pos || r.From > rr.next+maxSkip {
		if rr.cl != nil {
			rr.cl.Close()
		}
		opts := append(d.clientOpts(d.clientCtx),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: {r.Partition: kgo.NewOffset().At(r.From)}}))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka: reading %v: %w", r, err)
		}
		rr.cl, rr.next, rr.buf = cl, r.From, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.pollTimeout)
	defer cancel()
	var out []Record
	next := r.From
	take := func() {
		var taken int
		out, next, taken = takeRecords(rr.buf, out, next, r.Until)
		rr.buf = rr.buf[taken:]
	}
	take()
	for next < r.Until && rr.next < r.Until {
		fs := rr.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			rr.cl.Close()
			rr.cl, rr.buf = nil, nil
			return nil, fmt.Errorf("kafka: reading %v: fetched up to offset %d: %w", r, next, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil && !kerr.IsRetriable(ferr) {
			rr.cl.Close()
			rr.cl, rr.buf = nil, nil
			return nil, fmt.Errorf("kafka: reading %v: %w", r, ferr)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= rr.next {
				rr.buf = append(rr.buf, rec)
				rr.next = rec.Offset + 1
			}
		})
		take()
	}
	return out, nil
}

// fetchErrorLogEvery is how often the same fetch error of a partition is
// logged again while it lasts: franz-go retries some fetches (a deleted
// topic's) as fast as the broker answers, thousands of times a second.
const fetchErrorLogEvery = time.Minute

// logFetchError logs a fetch error of tp, unless the same error was
// logged for tp less than fetchErrorLogEvery ago; the repeats in between
// are counted in the partition's next line. Called from poll only.
func (d *DirectStream) logFetchError(tp TopicPartition, err error) {
	now, msg := time.Now(), err.Error()
	last, ok := d.fetchErrs[tp]
	same := ok && last.msg == msg
	if same && now.Sub(last.at) < fetchErrorLogEvery {
		last.repeats++
		d.fetchErrs[tp] = last
		return
	}
	args := []any{"partition", tp.String(), "error", err}
	switch {
	case same && last.repeats > 0:
		args = append(args, "repeats_since_last_logged", last.repeats)
	case last.repeats > 0:
		args = append(args, "previous_error_repeats", last.repeats)
	}
	d.log.Warn("kafka: fetch error", args...)
	if d.fetchErrs == nil {
		d.fetchErrs = map[TopicPartition]loggedError{}
	}
	d.fetchErrs[tp] = loggedError{msg: msg, at: now}
}

// loggedError is the last fetch error logged for a partition.
type loggedError struct {
	msg     string
	at      time.Time
	repeats int // the same error since, not logged
}

// poll moves fetched records into the partitions' buffers until the
// client closes.
func (d *DirectStream) poll() {
	defer d.polling.Done()
	for {
		fs := d.cl.PollFetches(d.ctx)
		if d.ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			d.logFetchError(TopicPartition{topic, p}, err)
			// Cleared by the next batch's successful offset listing.
			var missing *missingError
			switch err := topicErr(err); {
			case topic == "": // the group session, or the client itself
				d.ssc.ReportHealth(d.brokers, dialError(err))
			case p < 0 || errors.As(err, &missing):
				d.reportTopic(topic, err)
			default:
				d.reportTopic(topic, fmt.Errorf("partition %d: %w", p, err))
			}
		})
		pause := map[string][]int32{}
		d.mu.Lock()
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			tp := TopicPartition{fp.Topic, fp.Partition}
			ps := d.parts[tp]
			if ps == nil || !ps.owned {
				return
			}
			end := fp.HighWatermark
			if d.cfg.readCommitted {
				end = fp.LastStableOffset
			}
			ps.end = max(ps.end, end)
			if len(fp.Records) == 0 {
				return
			}
			if len(d.fetchErrs) > 0 {
				delete(d.fetchErrs, tp) // fetching again: the next error is news
			}
			added := false
			for _, rec := range fp.Records {
				if rec.Offset < ps.fetched {
					continue
				}
				ps.buf = append(ps.buf, rec)
				ps.bytes += recordSize(rec)
				ps.fetched = rec.Offset + 1
				added = true
			}
			if ps.bytes > d.cfg.maxBuffered && !ps.paused {
				ps.paused = true
				pause[tp.Topic] = append(pause[tp.Topic], tp.Partition)
			}
			if added {
				select {
				case ps.notify <- struct{}{}:
				default:
				}
			}
		})
		d.mu.Unlock()
		if len(pause) > 0 {
			d.cl.PauseFetchPartitions(pause)
		}
	}
}
