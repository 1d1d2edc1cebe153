package kafka_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	benchTopic      = "bench-words"
	benchPartitions = 4
	benchRecords    = 200_000
)

var benchData struct {
	once  sync.Once
	lines []string
	words int
}

// benchLines returns the benchmark's lines: 12 words each, Zipf-distributed
// over a 500-word vocabulary, from a fixed seed.
func benchLines() ([]string, int) {
	benchData.once.Do(func() {
		vocab := make([]string, 500)
		for i := range vocab {
			vocab[i] = fmt.Sprintf("w%03d", i)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
		var sb strings.Builder
		for range benchRecords {
			sb.Reset()
			for j := range 12 {
				if j > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(vocab[zipf.Uint64()])
			}
			benchData.lines = append(benchData.lines, sb.String())
		}
		benchData.words = benchRecords * 12
	})
	return benchData.lines, benchData.words
}

// BenchmarkKafkaWordCount reads the same 200,000 records from kfake in the
// same process two ways, alternating: the engine (direct stream -> FlatMap
// -> ReduceByKey, one batch holding every record), and a hand-written
// franz-go loop that polls and counts words in a map. Each run uses a new
// client that reads the topic from the start. It reports both rates and
// their ratio.
func BenchmarkKafkaWordCount(b *testing.B) {
	lines, words := benchLines()
	c := kafkatest.New(b, map[string]int32{benchTopic: benchPartitions})
	recs := make([]*kgo.Record, len(lines))
	for i, l := range lines {
		recs[i] = &kgo.Record{Topic: benchTopic, Partition: int32(i % benchPartitions), Value: []byte(l)}
	}
	c.Produce(recs...)
	recs = nil

	var engine, hand time.Duration
	var engineCounts, handCounts map[string]int
	runEngine := func() {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		engineCounts = engineWordCount(b, c.Addrs)
		engine += time.Since(start)
	}
	runHand := func() {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		handCounts = pollAndCount(b, c.Addrs)
		hand += time.Since(start)
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			runEngine()
			runHand()
		} else {
			runHand()
			runEngine()
		}
		i++
	}
	total := 0
	for w, n := range handCounts {
		total += n
		if engineCounts[w] != n {
			b.Fatalf("count of %q: engine %d, hand-written %d", w, engineCounts[w], n)
		}
	}
	if total != words || len(engineCounts) != len(handCounts) {
		b.Fatalf("counted %d words (%d distinct; engine %d distinct), want %d", total, len(handCounts), len(engineCounts), words)
	}
	b.ReportMetric(float64(benchRecords)*float64(b.N)/engine.Seconds(), "engine-records/s")
	b.ReportMetric(float64(benchRecords)*float64(b.N)/hand.Seconds(), "franzgo-loop-records/s")
	b.ReportMetric(hand.Seconds()/engine.Seconds(), "engine/franzgo-loop")
}

// engineWordCount runs one batch of a direct stream over the whole topic.
func engineWordCount(b *testing.B, addrs []string) map[string]int {
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	tps := make([]kafka.TopicPartition, benchPartitions)
	for p := range tps {
		tps[p] = kafka.TopicPartition{Topic: benchTopic, Partition: int32(p)}
	}
	ks := kafka.NewDirectStream(ssc, kafka.Assign(tps...), kafka.Brokers(addrs...))
	words := dstream.FlatMap(ks.Stream(), func(r kafka.Record) []string { return strings.Fields(string(r.Value)) })
	pairs := dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
	counts := dstream.ReduceByKey(pairs, func(x, y int) int { return x + y })
	out := map[string]int{}
	if err := counts.ForEachBatch(func(_ context.Context, bt *dstream.Batch[dstream.Pair[string, int]]) error {
		for p := range bt.All() {
			out[p.Key] += p.Value
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		b.Fatal(err)
	}
	clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ssc.WaitForBatch(ctx, clk.Now()); err != nil {
		b.Fatal(err)
	}
	if err := ssc.Stop(ctx, dstream.Hard); err != nil {
		b.Fatal(err)
	}
	return out
}

// pollAndCount is the hand-written baseline: one franz-go client polling
// every partition from the start and counting words until it has read
// every record.
func pollAndCount(b *testing.B, addrs []string) map[string]int {
	ps := map[int32]kgo.Offset{}
	for p := range benchPartitions {
		ps[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{benchTopic: ps}))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	counts := map[string]int{}
	n := 0
	for n < benchRecords {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			for _, w := range strings.Fields(string(r.Value)) {
				counts[w]++
			}
		})
	}
	return counts
}
