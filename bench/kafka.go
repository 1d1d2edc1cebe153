package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

const (
	kafkaTopic      = "bench-words"
	kafkaPartitions = 4
)

// kafkaFixture starts an in-process kfake broker on a loopback port and
// produces the corpus's lines to it, round-robin over the partitions.
func kafkaFixture(c benchkit.Corpus) (*kfake.Cluster, []string, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(kafkaPartitions, kafkaTopic))
	if err != nil {
		return nil, nil, fmt.Errorf("kfake: %w", err)
	}
	addrs := cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		cluster.Close()
		return nil, nil, fmt.Errorf("producer: %w", err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(c.Lines))
	for i, l := range c.Lines {
		recs[i] = &kgo.Record{Topic: kafkaTopic, Partition: int32(i % kafkaPartitions), Value: []byte(l)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		cluster.Close()
		return nil, nil, fmt.Errorf("produce: %w", err)
	}
	return cluster, addrs, nil
}

// oursKafka reads the whole topic in one batch of a new direct stream
// per pass and counts its words: direct stream -> FlatMap -> Map ->
// ReduceByKey.
func oursKafka(spec benchkit.Spec) (benchkit.Result, error) {
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	cluster, addrs, err := kafkaFixture(c)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer cluster.Close()
	tps := make([]kafka.TopicPartition, kafkaPartitions)
	for p := range tps {
		tps[p] = kafka.TopicPartition{Topic: kafkaTopic, Partition: int32(p)}
	}
	return benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(c.Lines)), func() error {
		job, err := newManualJob()
		if err != nil {
			return err
		}
		defer job.stop()
		ks := kafka.NewDirectStream(job.ssc, kafka.Assign(tps...), kafka.Brokers(addrs...))
		words := dstream.FlatMap(ks.Stream(), func(r kafka.Record) []string { return strings.Fields(string(r.Value)) })
		counts := dstream.ReduceByKey(dstream.Map(words, wordPair), add)
		var total, distinct int
		if err := counts.ForEachBatch(func(_ context.Context, b *dstream.Batch[dstream.Pair[string, int]]) error {
			total, distinct = 0, b.Len()
			for p := range b.All() {
				total += p.Value
			}
			return nil
		}); err != nil {
			return fmt.Errorf("build job: %w", err)
		}
		if err := job.start(); err != nil {
			return err
		}
		if err := job.step(); err != nil {
			return err
		}
		return benchkit.CheckCounts(c, total, distinct)
	})
}

// baselineKafka is a hand-written franz-go loop: a new client per pass
// polls every partition from the start and counts words in a map until
// it has read every record.
func baselineKafka(spec benchkit.Spec) (benchkit.Result, error) {
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	cluster, addrs, err := kafkaFixture(c)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer cluster.Close()
	return benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(c.Lines)), func() error {
		ps := map[int32]kgo.Offset{}
		for p := range kafkaPartitions {
			ps[int32(p)] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafkaTopic: ps}))
		if err != nil {
			return fmt.Errorf("consumer: %w", err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		counts := map[string]int{}
		n := 0
		for n < len(c.Lines) {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				return fmt.Errorf("poll: %w", err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				n++
				for _, w := range strings.Fields(string(r.Value)) {
					counts[w]++
				}
			})
		}
		total := 0
		for _, v := range counts {
			total += v
		}
		return benchkit.CheckCounts(c, total, len(counts))
	})
}
