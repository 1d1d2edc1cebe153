package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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
	s      *dstream.Stream[Record]
	ssc    *dstream.Context
	cfg    config
	strat  Strategy
	log    *slog.Logger
	period time.Duration
	// fromFetches: under fetchedEndsBelow a batch's ranges end at the
	// records fetched by its time, and the offsets are listed in the
	// background (watch), not per batch.
	fromFetches bool
	brokers     string // the health component of the brokers: "kafka brokers <list>"

	cl      *kgo.Client
	adm     *kadm.Client
	ready   chan struct{} // closed once cl and adm are set: the client's callbacks may run before
	ctx     context.Context
	cancel  context.CancelFunc
	polling sync.WaitGroup
	// fetchErrs is the last fetch error logged per partition (poll's
	// alone: logFetchError).
	fetchErrs map[TopicPartition]loggedError
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
	start   int64 // the offset fetching started at: buf never holds earlier records
	next    int64 // From of the next batch's range
	fetched int64 // offset after the last record buffered
	// end is the partition's end as the last fetch answered it: its high
	// watermark, or its last stable offset under ReadCommitted; 0 until
	// a fetch has answered.
	end   int64
	buf   []*kgo.Record // fetched records not yet taken by a batch, by offset
	bytes int           // recordSize of buf
	owned bool          // still assigned to this stream
	// revoking is set while a rebalance waits for the batches holding
	// the partition: no new batch reads it, so the wait ends once those
	// in flight have, not when a backlog has drained.
	revoking bool
	paused   bool          // fetching paused: buf is over the limit
	notify   chan struct{} // a token when records were added
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
	d.fromFetches = d.period < fetchedEndsBelow
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
	if d.fromFetches {
		d.polling.Add(1)
		go d.watch()
	}
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
	tps, topics := d.readingLocked()
	d.mu.Unlock()

	var ends, known map[TopicPartition]int64
	if d.fromFetches {
		ends, known = d.fetchedEnds(tps)
	} else {
		ends = d.latest(ctx, topics)
		known = ends
	}
	limits := d.limits(tps, known)
	ranges := make([]OffsetRange, 0, len(tps))
	var lag []dstream.PartitionLag
	d.mu.Lock()
	for _, tp := range tps {
		ps := d.parts[tp]
		if ps == nil || !ps.owned || ps.revoking {
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
		if end, ok := known[tp]; ok {
			lag = append(lag, dstream.PartitionLag{Partition: tp.String(), Records: max(end-until, 0)})
		}
	}
	d.mu.Unlock()
	d.log.Debug("kafka: batch", "time_ms", t.UnixMilli(), "ranges", fmt.Sprint(ranges))
	b, err := d.batchOf(t, ranges)
	if b != nil {
		b.Lag = lag
	}
	return b, err
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
		Sources:    sources(ranges),
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

// clientOpts returns the options every client of the stream starts with:
// ctx ends the client's requests (see Stop).
func (d *DirectStream) clientOpts(ctx context.Context) []kgo.Opt {
	// Before the caller's ClientOptions, which may replace it.
	opts := []kgo.Opt{kgo.FetchMaxWait(fetchMaxWait(d.period))}
	opts = append(opts, d.cfg.clientOpts...)
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

// sources are the Lineage sources of a batch's partitions: partition p
// holds ranges[p].
func sources(ranges []OffsetRange) []any {
	out := make([]any, len(ranges))
	for i, r := range ranges {
		out[i] = r
	}
	return out
}

// fetchMaxWait is how long a fetch waits at the broker for records: half
// the batch interval, at least 10 ms (the least franz-go accepts: a
// stream of batches under 20 ms would not start with less) and at most
// Kafka's default of 500 ms. A fetch returns as soon as a record is there
// (fetch.min.bytes stays 1), so the wait bounds only an idle fetch. franz-go's default, 5 s, holds a partition resumed after a pause
// (its buffer was full while a large batch ran) until the fetch in
// flight for the other partitions returns: up to 5 s without records
// while a backlog waits.
func fetchMaxWait(interval time.Duration) time.Duration {
	return min(500*time.Millisecond, max(interval/2, 10*time.Millisecond))
}
