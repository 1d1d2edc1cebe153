package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A Table is keyed state split like a Kafka topic the job reads, so that
// it moves with the topic's partitions between copies of a job in one
// consumer group, as a Kafka Streams state store does:
//
//   - Partition p of the table holds the entries that records of
//     partition p of the input topic made; UpdateTable changes them.
//   - Every entry a batch changed is written, in the batch's Kafka
//     transaction, to partition p of the changelog topic (a compacted
//     topic with as many partitions as the input), keyed by the entry's
//     key, so the changelog holds the latest value of every entry. The
//     batch's input offsets are committed in the same transaction
//     (kafkasink.Transactional): the changelog and the offsets never
//     disagree.
//   - When the group assigns partition p to this job, the table reads
//     partition p of the changelog from its start up to its last stable
//     offset before the partition's first batch: Table is a
//     dstream.PositionStore, given to the direct stream with ResumeFrom.
//     The offsets the group fetched are stable (KIP-447), so every
//     transaction that committed them, and with them the changelog
//     records, has ended. When p is taken away, its entries are dropped.
//
// The cost of moving a partition is reading its changelog partition:
// about one record per key, after compaction (plus the updates since the
// last compaction). Each restore is logged with its entries, records read
// and duration.
//
// A Table needs a direct stream with a consumer group, ManualCommit and
// ReadCommitted (its input may be another job stage's transactional
// output), and a transactional sink for the updates; with anything less,
// a crash between the output and the offsets' commit applies a batch
// twice. Its methods may be called concurrently.
type Table[V any] struct {
	input, changelog string
	decode           func([]byte) (V, error)
	cfg              config
	log              *slog.Logger

	mu    sync.Mutex
	parts map[int32]*tablePart[V]
	last  int64 // the time (ns) of the last batch applied
}

// tablePart is one partition of a Table.
type tablePart[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

// NewTable returns a table of c keyed like the partitions of the input
// topic, restored from the changelog topic, whose record values decode
// turns into entries (a record with a nil value deletes its key). opts
// are the direct stream's options: the table uses its brokers, client
// options and timeouts.
func NewTable[V any](c *dstream.Context, input, changelog string, decode func([]byte) (V, error), opts ...Option) (*Table[V], error) {
	t := &Table[V]{input: input, changelog: changelog, decode: decode, cfg: defaultConfig(), parts: map[int32]*tablePart[V]{}}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&t.cfg); err != nil {
			return nil, invalid(fmt.Errorf("NewTable: %w", err))
		}
	}
	switch {
	case c == nil:
		return nil, invalid(errors.New("NewTable: nil context"))
	case input == "" || changelog == "":
		return nil, invalid(errors.New("NewTable: empty topic name"))
	case input == changelog:
		return nil, invalid(fmt.Errorf("NewTable: topic %q is both the input and the changelog", input))
	case decode == nil:
		return nil, invalid(errors.New("NewTable: nil decode function"))
	case len(t.cfg.brokers) == 0:
		return nil, invalid(errors.New("NewTable: no brokers: use Brokers"))
	}
	t.log = c.Logger().With("table", changelog)
	return t, nil
}

// String names the table by its changelog topic.
func (t *Table[V]) String() string { return "table " + t.changelog }

// Resume implements dstream.PositionStore: for a partition of the table's
// input topic, it reads the partition's entries from the changelog. It
// has no say in where the input starts (ok is false): the offsets the
// transactions committed with the changelog are the group's.
func (t *Table[V]) Resume(ctx context.Context, input string, partition int32) (int64, bool, error) {
	if input != t.input {
		return 0, false, nil
	}
	start := time.Now()
	m, read, err := t.restore(ctx, partition)
	if err != nil {
		return 0, false, fmt.Errorf("restoring %v partition %d: %w", t, partition, err)
	}
	t.mu.Lock()
	t.parts[partition] = &tablePart[V]{m: m}
	t.mu.Unlock()
	t.log.Info("kafka: table partition restored", "partition", partition, "entries", len(m),
		"changelog_records", read, "took", time.Since(start).Round(time.Millisecond))
	return 0, false, nil
}

// Release implements dstream.PositionStore: the partition's entries are
// dropped; its changelog holds them for the next owner.
func (t *Table[V]) Release(_ context.Context, input string, partition int32, _ bool) error {
	if input != t.input {
		return nil
	}
	t.mu.Lock()
	delete(t.parts, partition)
	t.mu.Unlock()
	return nil
}

// restore reads the changelog partition up to its last stable offset.
func (t *Table[V]) restore(ctx context.Context, partition int32) (map[string]V, int, error) {
	opts := slices.Clone(t.cfg.clientOpts)
	opts = append(opts,
		kgo.SeedBrokers(t.cfg.brokers...),
		kgo.WithLogger(kgoLogger{t.log}),
		kgo.KeepControlRecords(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.changelog: {partition: kgo.NewOffset().AtStart()}}),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lctx, cancel := context.WithTimeout(ctx, t.cfg.requestTimeout)
	starts, err := adm.ListStartOffsets(lctx, t.changelog)
	var ends kadm.ListedOffsets
	if err == nil {
		ends, err = adm.ListCommittedOffsets(lctx, t.changelog) // the last stable offset
	}
	cancel()
	if err != nil {
		return nil, 0, fmt.Errorf("listing the changelog's offsets: %w", err)
	}
	from, ok1 := starts.Lookup(t.changelog, partition)
	until, ok2 := ends.Lookup(t.changelog, partition)
	switch {
	case !ok1 || !ok2 || errors.Is(from.Err, kerr.UnknownTopicOrPartition) || errors.Is(until.Err, kerr.UnknownTopicOrPartition):
		return nil, 0, fmt.Errorf("the changelog topic %q has no partition %d: it needs as many partitions as %q", t.changelog, partition, t.input)
	case from.Err != nil:
		return nil, 0, fmt.Errorf("listing the changelog's offsets: %w", from.Err)
	case until.Err != nil:
		return nil, 0, fmt.Errorf("listing the changelog's offsets: %w", until.Err)
	}
	m := map[string]V{}
	read := 0
	next := from.Offset
	for next < until.Offset {
		pctx, cancel := context.WithTimeout(ctx, t.cfg.pollTimeout)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !kerr.IsRetriable(err) {
				ferr = err
			}
		})
		if ferr != nil {
			return nil, 0, fmt.Errorf("reading the changelog at offset %d of %d: %w", next, until.Offset, ferr)
		}
		if fs.NumRecords() == 0 && pctx.Err() != nil {
			return nil, 0, fmt.Errorf("reading the changelog: no record for %v at offset %d of %d", t.cfg.pollTimeout, next, until.Offset)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Offset < next || r.Offset >= until.Offset {
				continue
			}
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				continue
			}
			read++
			key := string(r.Key)
			if r.Value == nil {
				delete(m, key)
				continue
			}
			v, err := t.decode(r.Value)
			if err != nil {
				return nil, 0, fmt.Errorf("changelog record at offset %d, key %q: %w", r.Offset, prefix(key, 64), err)
			}
			m[key] = v
		}
	}
	return m, read, nil
}

// prefix returns at most n bytes of s.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Partitions returns the partitions the table holds, in order: those of
// the input this job owns.
func (t *Table[V]) Partitions() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Sorted(maps.Keys(t.parts))
}

// Get returns the entry of key in partition, and whether there is one.
func (t *Table[V]) Get(partition int32, key string) (V, bool) {
	p := t.part(partition)
	if p == nil {
		var zero V
		return zero, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[key]
	return v, ok
}

// Len returns the number of entries the table holds, over its partitions.
func (t *Table[V]) Len() int {
	t.mu.Lock()
	parts := slices.Collect(maps.Values(t.parts))
	t.mu.Unlock()
	n := 0
	for _, p := range parts {
		p.mu.Lock()
		n += len(p.m)
		p.mu.Unlock()
	}
	return n
}

// Forget removes from partition's memory the entries for which drop
// returns true, and returns how many it removed. The changelog keeps
// them: a job that restores the partition reads them again. It bounds the
// memory of entries no record will change any more (closed windows).
func (t *Table[V]) Forget(partition int32, drop func(key string, v V) bool) int {
	p := t.part(partition)
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.m)
	maps.DeleteFunc(p.m, drop)
	return n - len(p.m)
}

func (t *Table[V]) part(partition int32) *tablePart[V] {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.parts[partition]
}

// TableUpdate is an entry of a Table that a batch changed, with its value
// after the batch: the record to write to partition Partition of the
// table's changelog.
type TableUpdate[V any] struct {
	Partition int32
	Key       string
	Value     V
}

// UpdateTable applies every batch of s to t and returns, per batch, the
// entries it changed, each once with its value after the batch, in one
// batch partition per table partition. by returns an element's table
// partition (the partition of the input topic its record came from, such
// as Record.Partition) and key; update returns the entry's new value from
// the element and the entry's value before it (found false for a new
// key). Elements are applied in their batch's order.
//
// Write the result to the changelog in the same transaction as the
// batch's other output and offsets: kafkasink.Transactional with an
// Encoder whose WithPartition is the update's Partition and whose key is
// its Key. A batch with an element of a partition the table does not
// hold (not assigned to this job, or lost to a rebalance) fails, as does
// a batch applied twice.
func UpdateTable[T, V any](s *dstream.Stream[T], t *Table[V], by func(T) (int32, string), update func(x T, old V, found bool) V) *dstream.Stream[TableUpdate[V]] {
	return dstream.Transform(s, func(b *dstream.Batch[T]) (*dstream.Batch[TableUpdate[V]], error) {
		bt := b.Time.UnixNano()
		t.mu.Lock()
		if bt <= t.last {
			t.mu.Unlock()
			return nil, fmt.Errorf("%v: the batch of %s is applied after the one of %s: a batch applied twice or out of order", t, b.Time.Format(time.RFC3339Nano), time.Unix(0, t.last).Format(time.RFC3339Nano))
		}
		t.last = bt
		t.mu.Unlock()
		type changed struct {
			p     *tablePart[V]
			index map[string]int
			out   []TableUpdate[V]
		}
		byPart := map[int32]*changed{}
		for x := range b.All() {
			partition, key := by(x)
			c := byPart[partition]
			if c == nil {
				p := t.part(partition)
				if p == nil {
					return nil, fmt.Errorf("%v: an element of input partition %d, which this job does not hold (not assigned, or lost to a rebalance)", t, partition)
				}
				c = &changed{p: p, index: map[string]int{}}
				byPart[partition] = c
			}
			c.p.mu.Lock()
			old, found := c.p.m[key]
			v := update(x, old, found)
			c.p.m[key] = v
			c.p.mu.Unlock()
			if i, ok := c.index[key]; ok {
				c.out[i].Value = v
			} else {
				c.index[key] = len(c.out)
				c.out = append(c.out, TableUpdate[V]{Partition: partition, Key: key, Value: v})
			}
		}
		out := &dstream.Batch[TableUpdate[V]]{Time: b.Time}
		for _, partition := range slices.Sorted(maps.Keys(byPart)) {
			out.Partitions = append(out.Partitions, byPart[partition].out)
		}
		return out, nil
	}).Named("updateTable " + t.changelog)
}
