// Command goka runs the bench's Kafka scenarios on lovoo/goka (v1.1.14),
// Kafka Streams-style processors with keyed group tables over sarama
// (IBM/sarama v1.45.1), as a child of the bench command (see
// bench/internal/benchkit). Everything runs against an in-process kfake
// broker on a loopback port, started in this process.
//
//   - kafka: the bench's Kafka word count. The corpus's lines are produced
//     round-robin to 4 partitions of bench-words, as bench/kafka.go does;
//     each pass starts a processor of a new group (so that it reads the
//     topic from the start) whose input callback splits a line and emits
//     (word, 1) to the group's loopback topic, which goka partitions by
//     word; the loopback callback adds it to the word's count in the group
//     table (goka.Persist), which writes every new count to the table's
//     changelog topic. This is the Kafka Streams shape of a word count
//     (a repartition through Kafka, then a keyed store). A pass is timed
//     from the processor's creation to the last word counted and every
//     count read from the table; stopping the processor (about 0.5 s of
//     sarama's waiting) and deleting the group's topics are not.
//   - state: a running count per int64 key over spec.Keys keys, the
//     records drawn as the engine's keyed-state scenario draws them
//     (bench/state.go). The (key, 1) records are produced to a topic of 4
//     partitions, keyed as goka partitions its table; a processor with a
//     group table adds each record to its key's count and sets the new
//     count (to its storage and the table's changelog topic). One run:
//     the rate is the timed batches' records over the time from the last
//     warm-up record processed to the last record.
//
// The group tables are in memory, so that no disk I/O is measured. The
// word count's is goka's storage.NewMemory. The keyed state's is goka's
// LevelDB storage (goka/storage.New, goka's default engine) on goleveldb's
// in-memory storage: storage.NewMemory is meant for tests, and its Set
// sorts the slice of all the partition's keys whenever a key is new, which
// is quadratic in the keys (here about 2,700 records/s at 180,000 keys,
// against 55,000-100,000 for LevelDB at 700,000), so a 1M-key table is out
// of its reach.
// The Variant "memory" or "leveldb" picks the other storage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"
	ldbstorage "github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
)

func main() {
	benchkit.Main(map[string]func(benchkit.Spec) (benchkit.Result, error){
		"kafka": wordCount,
		"state": keyedState,
	})
}

const (
	wordsTopic = "bench-words"
	stateTopic = "bench-state"
	partitions = 4
	// waitLimit bounds the wait for a processor to count its input.
	waitLimit = 5 * time.Minute
)

// configure sets goka's global sarama configuration: goka's defaults
// (sarama protocol version 2.0.0, snappy, 100 ms producer flushes), except
// that a new group's input streams start at the oldest offset, not the
// newest, so that a processor reads the topic produced before it started.
func configure() {
	cfg := goka.DefaultConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	goka.ReplaceGlobalConfig(cfg)
}

// topicManager creates the groups' loopback and table topics with one
// replica (kfake here has one broker; goka's default is 2).
func topicManager() goka.TopicManagerBuilder {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	return goka.TopicManagerBuilderWithTopicManagerConfig(tmc)
}

// stores is a storage.Builder that keeps the partitions' storages, so that
// the tables can be read once the input is processed (the processor closes
// them when it stops).
type stores struct {
	memory bool
	mu     sync.Mutex
	all    []storage.Storage
}

func (s *stores) build(string, int32) (storage.Storage, error) {
	var st storage.Storage
	if s.memory {
		st = storage.NewMemory()
	} else {
		db, err := leveldb.Open(ldbstorage.NewMemStorage(), nil)
		if err != nil {
			return nil, fmt.Errorf("leveldb: %w", err)
		}
		if st, err = storage.New(db); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.all = append(s.all, st)
	s.mu.Unlock()
	return st, nil
}

// sum returns the total of the tables' counts and their number of keys.
func (s *stores) sum() (total, keys int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.all {
		it, err := st.Iterator()
		if err != nil {
			return 0, 0, err
		}
		for it.Next() {
			v, err := it.Value()
			if err != nil {
				return 0, 0, err
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("table value %q: %w", v, err)
			}
			total += n
			keys++
		}
		it.Release()
	}
	return total, keys, nil
}

// variant returns whether spec asks for goka's storage.NewMemory: by
// default when def is true, or with the Variant "memory" ("leveldb": no).
func variant(spec benchkit.Spec, def bool) (memory bool, err error) {
	switch spec.Variant {
	case "":
		return def, nil
	case "memory":
		return true, nil
	case "leveldb":
		return false, nil
	}
	return false, fmt.Errorf("unknown variant %q", spec.Variant)
}

// running is a processor started by start.
type running struct {
	proc *goka.Processor
	done chan error
}

// start creates a processor for g and runs it.
func start(addrs []string, g *goka.GroupGraph, st *stores) (*running, error) {
	proc, err := goka.NewProcessor(addrs, g,
		goka.WithStorageBuilder(st.build),
		goka.WithTopicManagerBuilder(topicManager()),
		goka.WithLogger(log.New(io.Discard, "", 0)),
	)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	r := &running{proc: proc, done: make(chan error, 1)}
	go func() { r.done <- proc.Run(context.Background()) }()
	return r, nil
}

// wait waits for until to close, or for the processor to fail.
func (r *running) wait(until <-chan struct{}, what func() string) error {
	t := time.NewTimer(waitLimit)
	defer t.Stop()
	select {
	case <-until:
		return nil
	case err := <-r.done:
		r.done <- err
		return fmt.Errorf("processor stopped before the end (%s): %v", what(), err)
	case <-t.C:
		return fmt.Errorf("processor did not finish in %v (%s)", waitLimit, what())
	}
}

// stop stops the processor and waits for it: its producer flushes the
// table's last writes.
func (r *running) stop() error {
	r.proc.Stop()
	if err := <-r.done; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("processor: %w", err)
	}
	return nil
}

// newCluster starts a one-broker kfake cluster on a loopback port with
// topic's partitions.
func newCluster(topic string) (*kfake.Cluster, []string, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		return nil, nil, fmt.Errorf("kfake: %w", err)
	}
	return cluster, cluster.ListenAddrs(), nil
}

// produce writes recs to the cluster at addrs, each to the partition it
// names.
func produce(addrs []string, recs []*kgo.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}

// deleteTopics deletes a finished group's topics, so that the broker does
// not keep every pass's records.
func deleteTopics(addrs []string, topics ...string) error {
	cfg := goka.DefaultConfig()
	admin, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer admin.Close()
	for _, t := range topics {
		if err := admin.DeleteTopic(t); err != nil {
			return fmt.Errorf("delete %s: %w", t, err)
		}
	}
	return nil
}

// wordCount counts the corpus's words in a goka group table, the lines
// read from kfake: input (lines) -> Loopback(word, 1) -> group table
// count, one new group per pass.
func wordCount(spec benchkit.Spec) (benchkit.Result, error) {
	memory, err := variant(spec, true)
	if err != nil {
		return benchkit.Result{}, err
	}
	configure()
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	cluster, addrs, err := newCluster(wordsTopic)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer cluster.Close()
	recs := make([]*kgo.Record, len(c.Lines))
	for i, l := range c.Lines {
		recs[i] = &kgo.Record{Topic: wordsTopic, Partition: int32(i % partitions), Value: []byte(l)}
	}
	if err := produce(addrs, recs); err != nil {
		return benchkit.Result{}, err
	}
	recs = nil
	pass := 0
	res, err := measure(spec, int64(len(c.Lines)), func() (func() error, error) {
		pass++
		group := goka.Group(fmt.Sprintf("wordcount-%d", pass))
		var counted atomic.Int64
		all := make(chan struct{})
		want := int64(c.Words)
		g := goka.DefineGroup(group,
			goka.Input(wordsTopic, new(codec.String), func(ctx goka.Context, msg any) {
				for _, w := range strings.Fields(msg.(string)) {
					ctx.Loopback(w, int64(1))
				}
			}),
			goka.Loop(new(codec.Int64), func(ctx goka.Context, msg any) {
				n := msg.(int64)
				if v := ctx.Value(); v != nil {
					n += v.(int64)
				}
				ctx.SetValue(n)
				if counted.Add(1) == want {
					close(all)
				}
			}),
			goka.Persist(new(codec.Int64)),
		)
		st := &stores{memory: memory}
		r, err := start(addrs, g, st)
		if err != nil {
			return nil, err
		}
		stop := func() error {
			if err := r.stop(); err != nil {
				return err
			}
			return deleteTopics(addrs, string(goka.GroupTable(group)), string(group)+"-loop")
		}
		err = r.wait(all, func() string { return fmt.Sprintf("%d of %d words counted", counted.Load(), want) })
		if err == nil {
			// Read every count, as the engine's output does (the
			// processor closes its storages when it stops).
			var total, distinct int64
			if total, distinct, err = st.sum(); err == nil {
				err = benchkit.CheckCounts(c, int(total), int(distinct))
			}
		}
		return stop, err
	})
	if err == nil {
		res.Notes = append(res.Notes, fmt.Sprintf("%.0fk words/s", res.Rate()*float64(spec.PerLine)/1000))
	}
	return res, err
}

// measure is benchkit.Measure for passes that leave a processor to stop:
// it times pass, each from a collected heap, until spec.MinTime has
// elapsed in passes (at least one, at most spec.MaxPasses when positive);
// the stop function pass returns runs after each pass, untimed (stopping
// a sarama consumer group takes about half a second of waiting).
func measure(spec benchkit.Spec, records int64, pass func() (stop func() error, err error)) (benchkit.Result, error) {
	var res benchkit.Result
	var spent time.Duration
	for {
		runtime.GC()
		began := time.Now()
		stop, err := pass()
		spent += time.Since(began)
		if stop != nil {
			if serr := stop(); err == nil {
				err = serr
			}
		}
		if err != nil {
			return res, err
		}
		res.Passes++
		res.Records += records
		if spent >= spec.MinTime || (spec.MaxPasses > 0 && res.Passes >= spec.MaxPasses) {
			break
		}
	}
	res.Seconds = spent.Seconds()
	return res, nil
}

// stateBatches are the keyed-state scenario's batches, drawn as
// bench/state.go's stateInputs draws them: 16 different ones of
// spec.BatchRecords keys, uniform over spec.Keys, cycled.
func stateBatches(spec benchkit.Spec) ([][]int64, error) {
	if spec.Keys <= 0 || spec.BatchRecords <= 0 {
		return nil, fmt.Errorf("state: keys %d and batch records %d must be positive", spec.Keys, spec.BatchRecords)
	}
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed+3))
	out := make([][]int64, 16)
	for i := range out {
		ks := make([]int64, spec.BatchRecords)
		for j := range ks {
			ks[j] = rng.Int64N(int64(spec.Keys))
		}
		out[i] = ks
	}
	return out, nil
}

// partitionOf returns the partition goka's processor (its default hasher,
// FNV-1a, through sarama's hash partitioner) gives key.
func partitionOf(key []byte) int32 {
	h := goka.DefaultHasher()()
	h.Write(key)
	p := int32(h.Sum32()) % partitions
	if p < 0 {
		p = -p
	}
	return p
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// keyedState keeps a running count per key in a goka group table. The
// spec.Warmup batches and then the timed ones (timedBatches) are
// produced first, untimed; the processor starts, and the rate is the
// timed batches' records over the time from the last warm-up record
// processed to the last record processed: the steady state over a
// filled table, as the engine's timed batches are.
func keyedState(spec benchkit.Spec) (benchkit.Result, error) {
	memory, err := variant(spec, false)
	if err != nil {
		return benchkit.Result{}, err
	}
	configure()
	batches, err := stateBatches(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	timed := timedBatches(spec)
	n := spec.Warmup + timed
	keys := make([]bool, spec.Keys)
	distinct := 0
	for b := range n {
		for _, k := range batches[b%len(batches)] {
			if !keys[k] {
				keys[k] = true
				distinct++
			}
		}
	}
	keys = nil

	cluster, addrs, err := newCluster(stateTopic)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer cluster.Close()
	one, _ := new(codec.Int64).Encode(int64(1))
	recs := make([]*kgo.Record, 0, n*spec.BatchRecords)
	for b := range n {
		for _, k := range batches[b%len(batches)] {
			key := strconv.AppendInt(nil, k, 10)
			recs = append(recs, &kgo.Record{Topic: stateTopic, Partition: partitionOf(key), Key: key, Value: one})
		}
	}
	if err := produce(addrs, recs); err != nil {
		return benchkit.Result{}, err
	}
	recs = nil

	warm, total := int64(spec.Warmup*spec.BatchRecords), int64(n*spec.BatchRecords)
	var processed atomic.Int64
	var began, warmed, ended time.Time
	all := make(chan struct{})
	var once sync.Once
	const group = "state"
	g := goka.DefineGroup(group,
		goka.Input(stateTopic, new(codec.Int64), func(ctx goka.Context, msg any) {
			once.Do(func() { began = time.Now() })
			c := msg.(int64)
			if v := ctx.Value(); v != nil {
				c += v.(int64)
			}
			ctx.SetValue(c)
			switch processed.Add(1) {
			case warm:
				warmed = time.Now()
			case total:
				ended = time.Now()
				close(all)
			}
		}),
		goka.Persist(new(codec.Int64)),
	)
	st := &stores{memory: memory}
	before := heapInUse()
	startedAt := time.Now()
	r, err := start(addrs, g, st)
	if err != nil {
		return benchkit.Result{}, err
	}
	err = r.wait(all, func() string { return fmt.Sprintf("%d of %d records processed", processed.Load(), total) })
	var res benchkit.Result
	if err == nil {
		res, err = stateResult(spec, st, addrs, string(goka.GroupTable(group)), before, total, distinct)
	}
	if serr := r.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return benchkit.Result{}, err
	}
	if warm == 0 {
		warmed = began
	}
	res.Records = int64(timed * spec.BatchRecords)
	res.Seconds = ended.Sub(warmed).Seconds()
	res.Passes = timed
	res.Notes = append(res.Notes, fmt.Sprintf("one run: %d warm-up batches (%.1fs, first record %.1fs after the start), %d timed",
		spec.Warmup, warmed.Sub(began).Seconds(), began.Sub(startedAt).Seconds(), timed))
	return res, nil
}

// stateResult checks the table of a finished state run (the sum of its
// counts is the records processed, its keys the distinct keys) and
// measures its bytes per key: the live heap's growth from before the
// processor started (the broker already holding the input) to now, less
// the bytes the broker holds for the table's changelog topic (Kafka's
// part, not the processor's), over the keys.
func stateResult(spec benchkit.Spec, st *stores, addrs []string, table string, before uint64, total int64, distinct int) (benchkit.Result, error) {
	var res benchkit.Result
	sum, inTable, err := st.sum()
	if err != nil {
		return res, err
	}
	if sum != total || inTable != int64(distinct) {
		return res, fmt.Errorf("table holds %d keys counting %d records, want %d keys and %d records", inTable, sum, distinct, total)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d keys in state", distinct))
	changelog, err := topicBytes(addrs, table)
	if err != nil {
		return res, err
	}
	after := heapInUse()
	if grown := int64(after) - int64(before) - changelog; grown > 0 {
		res.Metrics = map[string]float64{"bytes_per_key": float64(grown) / float64(distinct), "keys": float64(distinct)}
		res.Notes = append(res.Notes, fmt.Sprintf("less the %.0f MiB changelog in the broker", float64(changelog)/(1<<20)))
	}
	return res, nil
}

// topicBytes returns the bytes of topic's record batches in the broker.
func topicBytes(addrs []string, topic string) (int64, error) {
	admin, err := sarama.NewClusterAdmin(addrs, goka.DefaultConfig())
	if err != nil {
		return 0, fmt.Errorf("admin: %w", err)
	}
	defer admin.Close()
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return 0, fmt.Errorf("describe cluster: %w", err)
	}
	ids := make([]int32, len(brokers))
	for i, b := range brokers {
		ids[i] = b.ID()
	}
	dirs, err := admin.DescribeLogDirs(ids)
	if err != nil {
		return 0, fmt.Errorf("describe log dirs: %w", err)
	}
	var n int64
	for _, ds := range dirs {
		for _, d := range ds {
			for _, t := range d.Topics {
				if t.Topic != topic {
					continue
				}
				for _, p := range t.Partitions {
					n += p.Size
				}
			}
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("no log dir sizes for %s", topic)
	}
	return n, nil
}

// timedBatches returns the number of batches timed after the warm-up:
// enough for spec.MinTime at 200,000 records/s (goka's rate here is
// lower), at most the 16 different batches, at most spec.MaxPasses.
func timedBatches(spec benchkit.Spec) int {
	t := int(spec.MinTime.Seconds()*200_000)/spec.BatchRecords + 1
	t = min(max(t, 1), 16)
	if spec.MaxPasses > 0 {
		t = min(t, spec.MaxPasses)
	}
	return t
}
