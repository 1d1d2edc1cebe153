package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkaprobe"
	"github.com/microbatch-go/microbatch/runner"
	kafkasink "github.com/microbatch-go/microbatch/sinks/kafka"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The job of -exactly-once, which runs as any number of copies in one
// consumer group, as a Kafka Streams application does:
//
//	lines topic --words, counted per batch (and window bucket)--> <group>-repartition, keyed by word
//	<group>-repartition --> per-batch counts  --> -out-topic
//	                    --> totals table      --> -totals-topic (compacted; the table's changelog)
//	                    --> windows table     --> -window-topic (compacted; the table's changelog)
//
// One direct stream reads both the lines and the repartition topic, and
// each batch is one Kafka transaction: its records for all four topics
// and the offsets it consumed of both inputs commit together, as the
// group member that owned the partitions (KIP-447). A word's records all
// go to one partition of the repartition topic, so whichever copy owns
// that partition counts it, and the totals and windows of the partition
// move with it (kafka.Table): the next owner restores them from the
// changelog before it reads the partition.

// eosTopics are the topics of the -exactly-once job.
type eosTopics struct {
	lines, repartition, out, totals, window string
}

func topicsOf(o options) eosTopics {
	t := eosTopics{lines: o.topic, repartition: o.group + "-repartition", out: o.outTopic, totals: o.totalsTopic, window: o.windowTopic}
	if t.totals == "" {
		t.totals = o.group + "-totals"
	}
	if t.window == "" {
		t.window = o.group + "-window"
	}
	return t
}

// windowKeyLayout formats a window's start in the keys of the window
// topic: "<start> <word>".
const windowKeyLayout = "2006-01-02T15:04:05.000Z"

// ensureTopics creates the repartition topic and the changelogs the job
// uses, with as many partitions as the lines topic, and checks those
// that exist have that many. It waits for the lines topic until ctx
// ends.
func ensureTopics(ctx context.Context, brokers []string, o options, t eosTopics) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, o.kafkaClient...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	n, err := partitionsOf(ctx, adm, t.lines)
	for err != nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the lines topic %q: %w", t.lines, err)
		case <-time.After(500 * time.Millisecond):
		}
		n, err = partitionsOf(ctx, adm, t.lines)
	}
	want := map[string]map[string]*string{t.repartition: {"cleanup.policy": ptr("delete")}}
	if o.totals {
		want[t.totals] = map[string]*string{"cleanup.policy": ptr("compact")}
	}
	if o.window > 0 {
		retention := strconv.FormatInt((2 * (o.window + o.retention)).Milliseconds(), 10)
		want[t.window] = map[string]*string{"cleanup.policy": ptr("compact,delete"), "retention.ms": &retention}
	}
	for topic, configs := range want {
		if got, err := partitionsOf(ctx, adm, topic); err == nil {
			if got != n {
				return fmt.Errorf("topic %q has %d partitions, but the lines topic %q has %d: they must have as many (delete it, and it is created so)", topic, got, t.lines, n)
			}
			continue
		}
		res, err := adm.CreateTopic(ctx, n, -1, configs, topic)
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %q: %w", topic, err)
		}
	}
	return nil
}

// partitionsOf returns how many partitions topic has, or an error when it
// does not exist (or the brokers do not answer).
func partitionsOf(ctx context.Context, adm *kadm.Client, topic string) (int32, error) {
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	d, ok := details[topic]
	switch {
	case ok && d.Err != nil:
		return 0, d.Err
	case !ok || len(d.Partitions) == 0:
		return 0, errors.New("no such topic")
	}
	return int32(len(d.Partitions)), nil
}

func ptr[T any](v T) *T { return &v }

// transactionalID returns the producer's transactional ID: per -instance,
// so that a restarted copy fences its predecessor's producer, else per
// process.
func transactionalID(o options) string {
	if o.instance != "" {
		return o.group + "-" + o.instance
	}
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%d-%s", o.group, host, os.Getpid(), hex.EncodeToString(b[:]))
}

// wordBucket is a word and the start (Unix ms) of the window slide its
// lines' timestamps fall in; 0 without windows.
type wordBucket struct {
	word   string
	bucket int64
}

// counted is a record of the repartition topic: a word's count in one
// batch of one copy (and one window bucket), from a partition.
type counted struct {
	partition int32
	word      string
	n         int64
	bucket    int64 // Unix ms; the record's timestamp
}

// windowed is a word's count in one window, from a partition.
type windowed struct {
	partition int32
	key       string // "<start> <word>"
	n         int64
}

func decodeInt(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) }

// exactlyOnce builds the -exactly-once job on ssc.
func exactlyOnce(ctx context.Context, ssc *dstream.Context, o options, brokers []string, stdout, stderr io.Writer) error {
	log := runner.Logger(stderr)
	t := topicsOf(o)
	// Before the direct stream's own start-up checks, which want the
	// topics there; a failure is a start-up failure (exit status 3).
	cctx, cancel := context.WithTimeoutCause(ctx, o.run.StartTimeout, dstream.ErrStartTimeout)
	defer cancel()
	// Brokers that refuse the client's TLS or SASL settings would keep
	// ensureTopics retrying until the start timeout: say so at once.
	if _, err := kafkaprobe.Metadata(cctx, append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, o.kafkaClient...), nil); kafkaprobe.Refused(err) {
		return &dstream.StartError{Check: "kafka brokers " + strings.Join(brokers, ","), Err: err}
	}
	err := ensureTopics(cctx, brokers, o, t)
	cancel()
	if err != nil {
		return &dstream.StartError{Check: "wordcount topics of group " + o.group, Err: err}
	}
	kopts := []kafka.Option{kafka.Brokers(brokers...), kafka.Group(o.group), kafka.ManualCommit(), kafka.ReadCommitted(), kafka.ClientOptions(o.kafkaClient...)}
	if o.instance != "" {
		kopts = append(kopts, kafka.InstanceID(o.instance))
	}
	kopts = append(kopts, o.groupFlags.GroupOptions()...)
	var stores []dstream.PositionStore
	var totals, windows *kafka.Table[int64]
	if o.totals {
		if totals, err = kafka.NewTable(ssc, t.repartition, t.totals, decodeInt, kopts...); err != nil {
			return err
		}
		stores = append(stores, totals)
	}
	if o.window > 0 {
		if windows, err = kafka.NewTable(ssc, t.repartition, t.window, decodeInt, kopts...); err != nil {
			return err
		}
		stores = append(stores, windows)
	}
	if len(stores) > 0 {
		kopts = append(kopts, kafka.ResumeFrom(stores...))
	}
	ks := kafka.NewDirectStream(ssc, kafka.Subscribe(t.lines, t.repartition), kopts...)
	all := ks.Stream()

	// Stage 1: lines to words, counted per batch (and bucket), re-keyed
	// by word through the repartition topic.
	slide := o.slide
	if slide == 0 {
		slide = o.batch
	}
	lines := all.Filter(func(r kafka.Record) bool { return r.Topic == t.lines })
	pairs := dstream.FlatMap(lines, func(r kafka.Record) []dstream.Pair[wordBucket, int64] {
		var bucket int64
		if o.window > 0 {
			ms := r.Timestamp.UnixMilli()
			bucket = ms - ms%slide.Milliseconds()
		}
		words := strings.Fields(string(r.Value))
		out := make([]dstream.Pair[wordBucket, int64], len(words))
		for i, w := range words {
			out[i] = dstream.KV(wordBucket{w, bucket}, int64(1))
		}
		return out
	})
	add := func(a, b int64) int64 { return a + b }
	repartition := dstream.Map(dstream.ReduceByKey(pairs, add), func(p dstream.Pair[wordBucket, int64]) kafka.Record {
		r := kafka.Record{Topic: t.repartition, Partition: -1, Key: []byte(p.Key.word), Value: strconv.AppendInt(nil, p.Value, 10)}
		if p.Key.bucket != 0 {
			r.Timestamp = time.UnixMilli(p.Key.bucket)
		}
		return r
	})

	// Stage 2: the words of the partitions of the repartition topic this
	// copy owns.
	counts := dstream.FlatMap(all, func(r kafka.Record) []counted {
		if r.Topic != t.repartition {
			return nil
		}
		n, err := decodeInt(r.Value)
		if err != nil || n < 1 {
			log.Warn("wordcount: dead letter: a record of the repartition topic that is not a count, skipped",
				"partition", r.Partition, "offset", r.Offset, "value_prefix", prefix(string(r.Value), 32))
			return nil
		}
		return []counted{{partition: r.Partition, word: string(r.Key), n: n, bucket: r.Timestamp.UnixMilli()}}
	})
	batchCounts := dstream.ReduceByKey(dstream.Map(counts, func(c counted) dstream.Pair[string, int] {
		return dstream.KV(c.word, int(c.n))
	}), func(a, b int) int { return a + b })
	if err := mostFrequent(batchCounts).Fprint(stdout, o.top); err != nil {
		return err
	}
	outputs := []*dstream.Stream[kafka.Record]{}
	if t.out != "" {
		outputs = append(outputs, dstream.Map(batchCounts, func(p dstream.Pair[string, int]) kafka.Record {
			return kafka.Record{Topic: t.out, Partition: -1, Key: []byte(p.Key), Value: strconv.AppendInt(nil, int64(p.Value), 10)}
		}))
	}
	// A table's updates are printed (the most frequent) and produced to
	// its topic, the table's changelog.
	emit := func(topic string, upd *dstream.Stream[kafka.TableUpdate[int64]]) error {
		if err := mostFrequent(dstream.Map(upd, func(u kafka.TableUpdate[int64]) dstream.Pair[string, int] {
			return dstream.KV(u.Key, int(u.Value))
		})).Fprint(stdout, o.top); err != nil {
			return err
		}
		outputs = append(outputs, dstream.Map(upd, func(u kafka.TableUpdate[int64]) kafka.Record {
			return kafka.Record{Topic: topic, Partition: u.Partition, Key: []byte(u.Key), Value: strconv.AppendInt(nil, u.Value, 10)}
		}))
		return nil
	}
	if totals != nil {
		if err := emit(t.totals, kafka.UpdateTable(counts, totals,
			func(c counted) (int32, string) { return c.partition, c.word },
			func(c counted, total int64, _ bool) int64 { return total + c.n })); err != nil {
			return err
		}
	}
	if windows != nil {
		if err := emit(t.window, kafka.UpdateTable(assignWindows(counts, windows, o.window, slide, o.retention, log), windows,
			func(w windowed) (int32, string) { return w.partition, w.key },
			func(w windowed, n int64, _ bool) int64 { return n + w.n })); err != nil {
			return err
		}
	}

	// One transactional sink for every topic, with the offsets of both
	// inputs.
	out := repartition.Union(outputs...)
	enc := kafkasink.Encoder[kafka.Record]{}.
		WithTopic(func(r kafka.Record) string { return r.Topic }).
		WithPartition(func(r kafka.Record) int32 { return r.Partition })
	sink, err := kafkasink.New("", enc, kafkasink.Brokers(brokers...), kafkasink.ClientOptions(o.kafkaClient...), kafkasink.Logger(ssc.Logger()),
		kafkasink.Transactional(transactionalID(o), kafkasink.Offsets(ks, o.group)))
	if err != nil {
		return err
	}
	return out.WriteTo(sink, dstream.WriteSpec[kafka.Record]{
		DeadLetter: func(r kafka.Record, err error) {
			log.Warn("wordcount: dead letter: a record not produced", "topic", r.Topic,
				"key_bytes", len(r.Key), "key_prefix", prefix(string(r.Key), 32), "err", err)
		},
	})
}

// assignWindows turns each count into its counts of the windows of
// length window, every slide, that hold its bucket (Kafka Streams'
// hopping windows on the lines' timestamps). A window is kept in memory
// until the newest bucket of its partition is retention past its end;
// a count for a window already closed so is late: it is logged and
// left out.
func assignWindows(counts *dstream.Stream[counted], table *kafka.Table[int64], window, slide, retention time.Duration, log *slog.Logger) *dstream.Stream[windowed] {
	var mu sync.Mutex
	newest := map[int32]int64{} // partition -> newest bucket seen (ms)
	w, s, keep := window.Milliseconds(), slide.Milliseconds(), retention.Milliseconds()
	return dstream.Transform(counts, func(b *dstream.Batch[counted]) (*dstream.Batch[windowed], error) {
		mu.Lock()
		defer mu.Unlock()
		for c := range b.All() {
			newest[c.partition] = max(newest[c.partition], c.bucket)
		}
		for p, at := range newest {
			table.Forget(p, func(key string, _ int64) bool {
				start, err := time.Parse(windowKeyLayout, key[:min(len(key), len(windowKeyLayout))])
				return err == nil && start.UnixMilli()+w+keep < at
			})
		}
		var out []windowed
		late := 0
		for c := range b.All() {
			for start := c.bucket - c.bucket%s; start > c.bucket-w; start -= s {
				if start < 0 {
					break
				}
				if start+w+keep < newest[c.partition] {
					late++
					continue
				}
				key := time.UnixMilli(start).UTC().Format(windowKeyLayout) + " " + c.word
				out = append(out, windowed{partition: c.partition, key: key, n: c.n})
			}
		}
		if late > 0 {
			log.Warn("wordcount: dead letters: counts for windows closed more than -window-retention ago, left out", "counts", late)
		}
		return &dstream.Batch[windowed]{Time: b.Time, Partitions: [][]windowed{out}}, nil
	})
}
