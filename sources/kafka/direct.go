package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DirectStream is a Kafka direct stream (Spark's createDirectStream): no
// receiver; at every batch time it lists the latest offsets of the
// partitions it reads and the batch takes, per partition, the records
// from where the previous batch ended up to them (capped by
// MaxRatePerPartition). Each Kafka partition is one partition of the
// batch. Records are fetched ahead in the background by a franz-go client
// and handed to the batch when it runs.
//
// Offsets are committed to the Group only after every output operation
// of a batch has succeeded (unless ManualCommit), during the next batch's
// generation or at Stop, so a restart with the same group resumes after
// the last successful batch: no record is lost, and a batch that failed is
// read again.
type DirectStream struct {
	s       *dstream.Stream[Record]
	ssc     *dstream.Context
	cfg     config
	strat   Strategy
	log     *slog.Logger
	period  time.Duration
	brokers string // the health component of the brokers: "kafka brokers <list>"

	cl      *kgo.Client
	adm     *kadm.Client
	ready   chan struct{} // closed once cl and adm are set: the client's callbacks may run before
	ctx     context.Context
	cancel  context.CancelFunc
	polling sync.WaitGroup
	// clientCtx is the context of every franz-go client of the stream;
	// Stop cancels it (closeClients) once its deadline is up, so that
	// closing a client never waits for a broker.
	clientCtx    context.Context
	closeClients context.CancelFunc

	mu sync.Mutex
	// parts holds every partition this stream has read, owned or not: a
	// partition taken away by a rebalance keeps its next offset, where it
	// resumes if it comes back.
	parts     map[TopicPartition]*partState
	restored  map[TopicPartition]int64 // next offsets from a checkpoint
	unhealthy map[string]bool          // topics reported degraded (reportTopic)
	revoked   []TopicPartition         // since the last batch, for FailOnRevokedPartitions
	readers   map[TopicPartition]*rangeReader
	ranges    map[int64][]OffsetRange // batch time (ns) -> ranges, until the batch is done
	commits   map[TopicPartition]int64
	commitCb  func(map[TopicPartition]int64, error)
	assigned  bool // Assign: partitions resolved and added to the client

	rate atomic.Uint64 // the backpressure rate (float64 bits); 0: none
}

// partState is what the stream knows of one partition.
type partState struct {
	start   int64         // the offset fetching started at: buf never holds earlier records
	next    int64         // From of the next batch's range
	fetched int64         // offset after the last record buffered
	buf     []*kgo.Record // fetched records not yet taken by a batch, by offset
	bytes   int           // recordSize of buf
	owned   bool          // still assigned to this stream
	paused  bool          // fetching paused: buf is over the limit
	notify  chan struct{} // a token when records were added
}

// NewDirectStream returns a direct stream of c reading the partitions
// chosen by strategy. Invalid options make Err, every output operation on
// Stream and Context.Start return an error wrapping
// dstream.ErrInvalidOption.
func NewDirectStream(c *dstream.Context, strategy Strategy, opts ...Option) *DirectStream {
	d := &DirectStream{
		cfg:       defaultConfig(),
		strat:     strategy,
		parts:     map[TopicPartition]*partState{},
		unhealthy: map[string]bool{},
		ranges:    map[int64][]OffsetRange{},
		commits:   map[TopicPartition]int64{},
		readers:   map[TopicPartition]*rangeReader{},
		ready:     make(chan struct{}),
	}
	d.s = dstream.InputStream[Record](c, "kafkaDirectStream", d)
	if d.s.Err() != nil {
		return d
	}
	d.ssc = c
	d.log = c.Logger().With("stream", d.s.Name())
	d.period = c.BatchInterval()
	var err error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err = o.apply(&d.cfg); err != nil {
			break
		}
	}
	if err == nil {
		err = d.cfg.validate(strategy)
	}
	// Two direct streams of one context cannot share a consumer group:
	// the context keeps the groups its streams reserved.
	if err == nil && d.cfg.group != "" && !c.Reserve("kafka consumer group "+d.cfg.group) {
		err = fmt.Errorf("group %q is used by another direct stream of this context; use a group per stream", d.cfg.group)
	}
	if err != nil {
		dstream.FailStream(d.s, invalid(err))
		return d
	}
	d.brokers = "kafka brokers " + strings.Join(d.cfg.brokers, ",")
	d.addStartChecks(c)
	return d
}

// Stream returns the stream of records.
func (d *DirectStream) Stream() *dstream.Stream[Record] { return d.s }

// ConsumerGroup returns the stream's consumer group (Group), or "".
func (d *DirectStream) ConsumerGroup() string { return d.cfg.group }

// AutoCommit reports whether the stream commits each successful batch's
// offsets itself: true unless ManualCommit.
func (d *DirectStream) AutoCommit() bool { return !d.cfg.manual && d.cfg.group != "" }

// GroupMetadata returns the member id and generation of the stream's
// group membership, for committing offsets as that member (inside a
// Kafka transaction, say): "" and -1 under Assign, or before the stream
// has joined its group.
func (d *DirectStream) GroupMetadata() (memberID string, generation int32) {
	if _, ok := d.strat.(assign); ok {
		return "", -1
	}
	select {
	case <-d.ready: // d.cl is set
	default:
		return "", -1
	}
	return d.cl.GroupMetadata()
}

// Err returns the stream's configuration error, or nil.
func (d *DirectStream) Err() error { return d.s.Err() }

// OffsetRanges returns the offset ranges of the batch at t, sorted by
// topic and partition, from when the batch is generated until it is done:
// call it from an output operation or Transform of that batch. Range i is
// partition i of the direct stream's own batch.
func (d *DirectStream) OffsetRanges(t time.Time) []OffsetRange {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ranges[t.UnixNano()])
}

// CommitAsync queues the ranges' end offsets for commit to the group, as
// Spark's commitAsync does: the commit runs during the next batch's
// generation (or at Stop), committing per partition the largest Until
// queued, and then calls the callback passed with the last CommitAsync
// before it (the earlier callbacks are not called). Use it with
// ManualCommit, from an output operation, after the batch's output is
// stored.
func (d *DirectStream) CommitAsync(ranges []OffsetRange, callback func(offsets map[TopicPartition]int64, err error)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queueLocked(ranges)
	d.commitCb = callback
}

func (d *DirectStream) queueLocked(ranges []OffsetRange) {
	for _, r := range ranges {
		tp := r.TopicPartition()
		if r.Until > d.commits[tp] {
			d.commits[tp] = r.Until
		}
	}
}

// Start implements dstream.Input: it creates the franz-go client, which
// joins the group in the background, and starts fetching.
func (d *DirectStream) Start(ctx context.Context) error {
	d.clientCtx, d.closeClients = context.WithCancel(context.Background())
	opts := d.clientOpts(d.clientCtx)
	switch s := d.strat.(type) {
	case subscribe:
		opts = append(opts, kgo.ConsumeTopics(s.topics...))
	case pattern:
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(s.expr))
	}
	if _, ok := d.strat.(assign); !ok {
		opts = append(opts,
			kgo.ConsumerGroup(d.cfg.group),
			kgo.DisableAutoCommit(),
			kgo.AdjustFetchOffsetsFn(d.onAssigned),
			kgo.OnPartitionsRevoked(d.onRevoked),
			kgo.OnPartitionsLost(d.onLost),
		)
	}
	if d.cfg.instanceID != "" {
		opts = append(opts, kgo.InstanceID(d.cfg.instanceID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		d.closeClients()
		return fmt.Errorf("kafka: %w", err)
	}
	d.cl = cl
	d.adm = kadm.NewClient(cl)
	d.ctx, d.cancel = context.WithCancel(ctx)
	close(d.ready)
	d.polling.Add(1)
	go d.poll()
	d.log.Info("kafka: direct stream started", "strategy", d.strat.String(), "group", d.cfg.group, "brokers", d.cfg.brokers)
	return nil
}

// Stop implements dstream.Input: it commits what completed batches
// consumed, leaves the group and closes the client, within StopTimeout
// whether or not the broker answers: a commit or leave still waiting then
// is abandoned (the next run reads those batches again; the group
// rebalances after the session timeout).
func (d *DirectStream) Stop() {
	if d.cl == nil {
		return
	}
	start := time.Now()
	deadline := start.Add(d.cfg.stopTimeout)
	d.cancel()
	d.polling.Wait()

	// The commit may wait for a rebalance in progress (franz-go holds
	// commits during a join) or for a broker that is down: it gets two
	// thirds of the time, leaving the group the rest.
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(d.cfg.stopTimeout*2/3))
	d.flushCommits(ctx)
	cancel()
	if _, ok := d.strat.(assign); !ok {
		// Closing the client leaves the group, after waiting, without a
		// deadline, for a join in progress to end: a join that waits for
		// a member that died, up to the group's rebalance timeout. Leave
		// with a deadline instead.
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := d.cl.LeaveGroupContext(ctx)
		cancel()
		if err != nil {
			d.log.Warn("kafka: leaving the group did not finish in time; the group reassigns the partitions after the member's session timeout", "group", d.cfg.group, "stop_timeout", d.cfg.stopTimeout, "error", err)
		}
	}
	// Requests still in flight (a join, a commit retrying, a leave) fail
	// at once: Close does not wait for them.
	d.closeClients()
	d.cl.Close()
	d.mu.Lock()
	for _, rr := range d.readers {
		rr.mu.Lock()
		if rr.cl != nil {
			rr.cl.Close()
		}
		rr.mu.Unlock()
	}
	d.mu.Unlock()
	d.log.Info("kafka: direct stream stopped", "took", time.Since(start).Round(time.Millisecond))
}

// Generate implements dstream.Input: it commits the offsets queued by
// completed batches, lists the latest offsets and fixes the batch's
// ranges.
func (d *DirectStream) Generate(ctx context.Context, t time.Time) (*dstream.InputBatch[Record], error) {
	d.flushCommits(ctx)
	if a, ok := d.strat.(assign); ok {
		d.assignOnce(ctx, a)
	}
	d.mu.Lock()
	if d.cfg.failOnRevoke && len(d.revoked) > 0 {
		revoked := d.revoked
		d.mu.Unlock()
		return nil, fmt.Errorf("kafka: partitions %v were revoked by a rebalance: another member joined group %q (is the group shared by mistake?)", revoked, d.cfg.group)
	}
	d.revoked = nil
	var tps []TopicPartition
	topics := map[string]bool{}
	for _, t := range strategyTopics(d.strat) {
		topics[t] = true // listed even with no partition owned: a missing topic is reported
	}
	for tp, ps := range d.parts {
		if ps.owned {
			tps = append(tps, tp)
			topics[tp.Topic] = true
		}
	}
	d.mu.Unlock()
	slices.SortFunc(tps, compareTP)

	ends := d.latest(ctx, slices.Sorted(maps.Keys(topics)))
	limits := d.limits(tps, ends)
	ranges := make([]OffsetRange, 0, len(tps))
	d.mu.Lock()
	for _, tp := range tps {
		ps := d.parts[tp]
		if ps == nil || !ps.owned {
			continue // revoked since
		}
		until := ps.next
		if end, ok := ends[tp]; ok {
			if end < ps.next {
				d.log.Warn("kafka: the partition's latest offset is before the next one to read (truncated log?); waiting for it", "partition", tp.String(), "latest", end, "next", ps.next)
			} else if limit, ok := limits[tp]; ok {
				until = min(end, ps.next+limit)
			} else {
				until = end
			}
		}
		r := OffsetRange{Topic: tp.Topic, Partition: tp.Partition, From: ps.next, Until: until}
		ps.next = until
		ranges = append(ranges, r)
	}
	d.mu.Unlock()
	d.log.Debug("kafka: batch", "time_ms", t.UnixMilli(), "ranges", fmt.Sprint(ranges))
	return d.batchOf(t, ranges)
}

// batchOf is the batch at t holding ranges, one partition each.
func (d *DirectStream) batchOf(t time.Time, ranges []OffsetRange) (*dstream.InputBatch[Record], error) {
	desc, err := json.Marshal(ranges)
	if err != nil {
		return nil, err
	}
	var n int64
	for _, r := range ranges {
		n += r.Count()
	}
	if d.cfg.readCommitted {
		n = -1 // markers and aborted records are skipped: count when read
	}
	key := t.UnixNano()
	d.mu.Lock()
	d.ranges[key] = ranges
	d.mu.Unlock()
	return &dstream.InputBatch[Record]{
		Partitions: len(ranges),
		Records:    n,
		Metadata:   map[string]any{"offsets": slices.Clone(ranges)},
		Descriptor: desc,
		Read: func(ctx context.Context, p int) ([]Record, error) {
			return d.readRange(ctx, ranges[p])
		},
		Done: func(err error) {
			d.mu.Lock()
			defer d.mu.Unlock()
			delete(d.ranges, key)
			if err == nil && !d.cfg.manual && d.cfg.group != "" {
				d.queueLocked(ranges)
			}
		},
	}, nil
}

// position is the checkpointed form of where the stream is.
type position struct {
	Next map[string]map[int32]int64 `json:"next"` // topic -> partition -> next offset
}

// SavePosition implements dstream.Recoverable: the offset where every
// partition's next batch starts.
func (d *DirectStream) SavePosition() ([]byte, error) {
	p := position{Next: map[string]map[int32]int64{}}
	d.mu.Lock()
	// Partitions taken away by a rebalance keep their position too: if
	// they come back after a restart, they resume there (or at the
	// group's commit, if another member has read further).
	for tp, ps := range d.parts {
		if p.Next[tp.Topic] == nil {
			p.Next[tp.Topic] = map[int32]int64{}
		}
		p.Next[tp.Topic][tp.Partition] = ps.next
	}
	// Partitions restored but not assigned yet keep their position.
	for tp, o := range d.restored {
		if _, ok := d.parts[tp]; !ok {
			if p.Next[tp.Topic] == nil {
				p.Next[tp.Topic] = map[int32]int64{}
			}
			p.Next[tp.Topic][tp.Partition] = o
		}
	}
	d.mu.Unlock()
	return json.Marshal(p)
}

// RestorePosition implements dstream.Recoverable: partitions start at the
// checkpoint's offsets, whatever StartingOffsets or an older group commit
// say, so that no batch is read twice or skipped. A group commit further
// on wins: another copy of the job in the group has read on.
func (d *DirectStream) RestorePosition(data []byte) error {
	var p position
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("kafka: the checkpoint's position: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restored = map[TopicPartition]int64{}
	for topic, ps := range p.Next {
		for part, o := range ps {
			d.restored[TopicPartition{topic, part}] = o
		}
	}
	return nil
}

// Rebuild implements dstream.Recoverable: the batch at t with the offset
// ranges its Descriptor lists, read again from Kafka.
func (d *DirectStream) Rebuild(t time.Time, desc []byte) (*dstream.InputBatch[Record], error) {
	var ranges []OffsetRange
	if err := json.Unmarshal(desc, &ranges); err != nil {
		return nil, fmt.Errorf("kafka: the checkpoint's batch: %w", err)
	}
	return d.batchOf(t, ranges)
}

// limits returns the most records each partition may add to the batch
// (Spark's maxMessagesPerPartition): with a backpressure rate, that rate
// split across the partitions in proportion to their lag and capped by
// MaxRatePerPartition; otherwise MaxRatePerPartition. Each is the rate
// times the batch interval, and at least MinRatePerPartition's. No entry
// means no limit.
func (d *DirectStream) limits(tps []TopicPartition, ends map[TopicPartition]int64) map[TopicPartition]int64 {
	rates := map[TopicPartition]float64{}
	if rate := d.rateLimit(); rate > 0 {
		lags := map[TopicPartition]int64{}
		var total int64
		d.mu.Lock()
		for _, tp := range tps {
			if ps, end := d.parts[tp], ends[tp]; ps != nil && end > ps.next {
				lags[tp] = end - ps.next
				total += end - ps.next
			}
		}
		d.mu.Unlock()
		for _, tp := range tps {
			r := 0.0
			if total > 0 {
				r = float64(lags[tp]) / float64(total) * rate
			}
			if d.cfg.maxRate > 0 {
				r = min(r, d.cfg.maxRate)
			}
			rates[tp] = r
		}
	} else if d.cfg.maxRate > 0 {
		for _, tp := range tps {
			rates[tp] = d.cfg.maxRate
		}
	}
	var sum float64
	for _, r := range rates {
		sum += r
	}
	if sum <= 0 {
		return nil
	}
	out := make(map[TopicPartition]int64, len(rates))
	for tp, r := range rates {
		out[tp] = max(int64(r*d.period.Seconds()), d.cfg.minRate)
	}
	return out
}

// SetRateLimit implements dstream.RateControlled: the backpressure
// estimate (WithBackpressure), in records per second for the whole
// stream, which Generate splits across the partitions by lag.
func (d *DirectStream) SetRateLimit(recordsPerSecond float64) {
	d.rate.Store(math.Float64bits(recordsPerSecond))
}

func (d *DirectStream) rateLimit() float64 { return math.Float64frombits(d.rate.Load()) }

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

// clientOpts returns the options every client of the stream starts with:
// ctx ends the client's requests (see Stop).
func (d *DirectStream) clientOpts(ctx context.Context) []kgo.Opt {
	opts := slices.Clone(d.cfg.clientOpts)
	opts = append(opts,
		kgo.SeedBrokers(d.cfg.brokers...),
		kgo.WithLogger(kgoLogger{d.log}),
		kgo.KeepControlRecords(),
		kgo.WithContext(ctx),
	)
	if d.cfg.readCommitted {
		return append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
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
			d.log.Warn("kafka: fetch error", "partition", TopicPartition{topic, p}.String(), "error", err)
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
			if ps == nil || !ps.owned || len(fp.Records) == 0 {
				return
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

// onAssigned fixes where newly assigned partitions start. A partition
// this stream has read before (taken away by a rebalance, or lost when the
// group forgot the member, as after a broker restart) resumes after the
// last range the stream generated for it: the batches generated before
// the loss still read their ranges and commit them, so the group's commit
// lags behind and starting there would read those batches twice. The
// group's commit wins only when it is further on, which means another
// member read the partition meanwhile: with several copies of a job in one
// group, a partition that moves away and back can still be read twice
// (what the other member read and did not commit, or what this stream's
// pending batches read again), never skipped; making that exact is
// scale-out work, not done here. A partition new to the stream starts at
// the checkpoint's offset (RestorePosition, or the group's commit if
// further), else StartingOffsets, else the group's commit, else
// ResetOffset. It runs before fetching the partitions begins.
func (d *DirectStream) onAssigned(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	if !d.waitReady(ctx) {
		return nil, ctx.Err()
	}
	want := map[TopicPartition]int64{}
	d.mu.Lock()
	for topic, ps := range offsets {
		for p, o := range ps {
			tp := TopicPartition{topic, p}
			committed := o.EpochOffset().Offset // negative: no commit
			var at int64
			if st, ok := d.parts[tp]; ok {
				at = max(st.next, committed)
			} else if r, ok := d.restored[tp]; ok {
				at = max(r, committed)
			} else if s, ok := d.cfg.starting[tp]; ok {
				at = s
			} else if committed >= 0 {
				at = committed
			} else {
				at = d.cfg.reset
			}
			want[tp] = at
		}
	}
	d.mu.Unlock()
	exact, err := d.resolve(ctx, want)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]kgo.Offset{}
	d.mu.Lock()
	for tp, at := range exact {
		if st, ok := d.parts[tp]; ok && st.next > at {
			at = st.next // a batch generated since the lookup above
			exact[tp] = at
		}
		if out[tp.Topic] == nil {
			out[tp.Topic] = map[int32]kgo.Offset{}
		}
		out[tp.Topic][tp.Partition] = kgo.NewOffset().At(at).WithEpoch(-1)
		d.parts[tp] = &partState{start: at, next: at, fetched: at, owned: true, notify: make(chan struct{}, 1)}
	}
	d.mu.Unlock()
	d.log.Info("kafka: partitions assigned", "partitions", fmt.Sprint(sortedKeys(exact)))
	return out, nil
}

// resolve turns Earliest and Latest into offsets.
func (d *DirectStream) resolve(ctx context.Context, want map[TopicPartition]int64) (map[TopicPartition]int64, error) {
	exact := map[TopicPartition]int64{}
	topics := map[int64]map[string]bool{}
	for tp, at := range want {
		if at >= 0 {
			exact[tp] = at
			continue
		}
		if topics[at] == nil {
			topics[at] = map[string]bool{}
		}
		topics[at][tp.Topic] = true
	}
	for at, set := range topics {
		ctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
		var listed kadm.ListedOffsets
		var err error
		if at == Earliest {
			listed, err = d.adm.ListStartOffsets(ctx, slices.Sorted(maps.Keys(set))...)
		} else {
			listed, err = d.adm.ListEndOffsets(ctx, slices.Sorted(maps.Keys(set))...)
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("kafka: listing offsets to start from: %w", err)
		}
		for tp, w := range want {
			if w != at {
				continue
			}
			o, ok := listed.Lookup(tp.Topic, tp.Partition)
			if !ok || o.Err != nil {
				return nil, fmt.Errorf("kafka: listing the offset of %v to start from: %v", tp, o.Err)
			}
			exact[tp] = o.Offset
		}
	}
	return exact, nil
}

// assignOnce resolves the partitions of the Assign strategy and adds them
// to the client, retrying at each batch until it succeeds.
func (d *DirectStream) assignOnce(ctx context.Context, a assign) {
	d.mu.Lock()
	done := d.assigned
	d.mu.Unlock()
	if done {
		return
	}
	want := map[TopicPartition]int64{}
	var committed kadm.OffsetResponses
	if d.cfg.group != "" {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
		var err error
		// Stable offsets: a restart waits for a transaction (of a
		// transactional sink) that is committing offsets to the group.
		committed, err = d.adm.FetchOffsets(kadm.RequireStable(cctx), d.cfg.group)
		cancel()
		if errors.Is(err, kerr.GroupIDNotFound) {
			err = nil // a group that never committed
		}
		if err != nil {
			d.log.Warn("kafka: fetching the group's committed offsets failed; retrying next batch", "group", d.cfg.group, "error", err)
			return
		}
	}
	for _, tp := range a.tps {
		want[tp] = d.cfg.reset
		if o, ok := committed.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil && o.At >= 0 {
			want[tp] = o.At
		}
		if s, ok := d.cfg.starting[tp]; ok {
			want[tp] = s
		}
		if r, ok := d.restored[tp]; ok {
			want[tp] = r
			if o, ok := committed.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil && o.At > r {
				want[tp] = o.At // another reader of the group has gone further
			}
		}
	}
	exact, err := d.resolve(ctx, want)
	if err != nil {
		d.log.Warn("kafka: resolving the assigned partitions failed; retrying next batch", "error", err)
		return
	}
	add := map[string]map[int32]kgo.Offset{}
	d.mu.Lock()
	for tp, at := range exact {
		if add[tp.Topic] == nil {
			add[tp.Topic] = map[int32]kgo.Offset{}
		}
		add[tp.Topic][tp.Partition] = kgo.NewOffset().At(at)
		d.parts[tp] = &partState{start: at, next: at, fetched: at, owned: true, notify: make(chan struct{}, 1)}
	}
	d.assigned = true
	d.mu.Unlock()
	d.cl.AddConsumePartitions(add)
	d.log.Info("kafka: partitions assigned", "partitions", fmt.Sprint(sortedKeys(exact)))
}

// onRevoked commits what completed batches consumed from the revoked
// partitions, then lets them go.
func (d *DirectStream) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if d.waitReady(ctx) {
		d.flushCommits(ctx)
		d.release(revoked, "revoked")
	}
}

// onLost lets partitions go without committing: the group has moved on.
func (d *DirectStream) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	if d.waitReady(ctx) {
		d.release(lost, "lost")
	}
}

// waitReady waits until Start has set up the client: the client's group
// callbacks can run before kgo.NewClient has returned.
func (d *DirectStream) waitReady(ctx context.Context) bool {
	select {
	case <-d.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

func (d *DirectStream) release(m map[string][]int32, how string) {
	var tps []TopicPartition
	d.mu.Lock()
	for topic, ps := range m {
		for _, p := range ps {
			tp := TopicPartition{topic, p}
			st := d.parts[tp]
			if st == nil || !st.owned {
				continue
			}
			st.owned = false
			delete(d.commits, tp)
			tps = append(tps, tp)
			select { // wake a read waiting for records that will not come
			case st.notify <- struct{}{}:
			default:
			}
		}
	}
	slices.SortFunc(tps, compareTP)
	d.revoked = append(d.revoked, tps...)
	d.mu.Unlock()
	switch {
	case len(tps) == 0:
	case d.ctx.Err() != nil: // leaving the group at Stop
		d.log.Debug("kafka: partitions released", "partitions", fmt.Sprint(tps))
	default:
		d.log.Warn("kafka: partitions "+how+" by a rebalance", "partitions", fmt.Sprint(tps))
	}
}

// flushCommits commits the queued offsets: through the group member under
// Subscribe, or as a simple commit to the group under Assign.
func (d *DirectStream) flushCommits(ctx context.Context) {
	d.mu.Lock()
	if len(d.commits) == 0 {
		d.mu.Unlock()
		return
	}
	offsets, cb := d.commits, d.commitCb
	d.commits, d.commitCb = map[TopicPartition]int64{}, nil
	d.mu.Unlock()

	err := d.commit(ctx, offsets)
	if err != nil && d.ctx.Err() != nil {
		d.log.Warn("kafka: committing offsets at stop failed; the next run reads the batches after the group's last commit again", "group", d.cfg.group, "offsets", fmt.Sprint(offsets), "error", err)
	} else if err != nil {
		d.log.Warn("kafka: committing offsets failed; they are committed with the next batch's", "group", d.cfg.group, "error", err)
		d.mu.Lock()
		for tp, o := range offsets {
			if st := d.parts[tp]; st != nil && st.owned && o > d.commits[tp] {
				d.commits[tp] = o
			}
		}
		d.mu.Unlock()
	} else {
		d.log.Debug("kafka: offsets committed", "group", d.cfg.group, "offsets", fmt.Sprint(offsets))
	}
	if cb != nil {
		cb(offsets, err)
	}
}

func (d *DirectStream) commit(ctx context.Context, offsets map[TopicPartition]int64) error {
	if d.cfg.group == "" {
		return errors.New("kafka: no consumer group to commit to: use Group")
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.requestTimeout)
	defer cancel()
	if _, ok := d.strat.(assign); ok {
		var os kadm.Offsets
		for tp, o := range offsets {
			os.AddOffset(tp.Topic, tp.Partition, o, -1)
		}
		resp, err := d.adm.CommitOffsets(ctx, d.cfg.group, os)
		if err != nil {
			return err
		}
		return resp.Error()
	}
	m := map[string]map[int32]kgo.EpochOffset{}
	for tp, o := range offsets {
		if m[tp.Topic] == nil {
			m[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		m[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var cerr error
	d.cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					cerr = errors.Join(cerr, fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, err))
				}
			}
		}
	})
	return cerr
}

func sortedKeys(m map[TopicPartition]int64) []TopicPartition {
	return slices.SortedFunc(maps.Keys(m), compareTP)
}

// kgoLogger sends franz-go's warnings and errors to the stream's logger.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	k.l.Log(context.Background(), lv, "kafka client: "+msg, keyvals...)
}
