package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/security"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

const (
	benchEvents     = 100_000
	benchPartitions = 4
	benchTopic      = "bench-iot"
)

var benchData struct {
	once   sync.Once
	values [][]byte
	bytes  int
}

// benchValues returns the benchmark's messages: the demo generator's
// valid events (5T traffic and parking, lamps, traffic news, metrics
// without values) from a fixed seed, over two days, encoded.
func benchValues(b *testing.B) ([][]byte, int) {
	benchData.once.Do(func() {
		g := newGenerator(42)
		start := time.Date(2018, 3, 12, 12, 0, 0, 0, time.UTC)
		for i := range benchEvents {
			r := g.rng.IntN(100)
			v, err := EncodeEvent(g.event(start.Add(time.Duration(i)*time.Second), r))
			if err != nil {
				panic(err)
			}
			benchData.values = append(benchData.values, v)
			benchData.bytes += len(v)
		}
	})
	return benchData.values, benchData.bytes
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// BenchmarkKafkaAvroParquet measures events/s from Kafka through Avro
// decoding to Parquet: 100,000 events (the demo's: 5T traffic, parking,
// 60 lamps, news; about 430 bytes each, one a second over 28 hours, so
// 128 source/day partitions) are produced once to 4 partitions of an
// in-process kfake broker, and every iteration reads them all from the
// start and writes them as Snappy Parquet partitioned by source and day
// to a temporary directory, files synced. Sub-benchmarks, in the same
// run:
//
//   - engine: the manager's pipeline (buildPipeline, Kudu off, dead letters
//     logged: there are none) on the dstream engine, with a Kafka direct
//     stream over the 4 partitions and one batch driven by a ManualClock,
//     with the default parallelism (one partition per core at once);
//   - engine-p1: the same with parallelism 1, one partition at a time, for
//     the engine's cost per core;
//   - handwritten: one franz-go client polling the 4 partitions from the
//     start until it has every record, each decoded (DecodeEvent) and
//     converted (convert) as the manager does, the rows grouped by Kafka
//     partition, source and day, each group written with a parquet-go
//     GenericWriter to its Hive directory: the same files as the engine's
//     (512: the number of synced files weighs on both);
//   - handwritten-merged: the same, the rows grouped by source and day
//     only, so one file per Hive partition (128).
//
// Each reports events/s; the hand-written ones also report
// engine/handwritten, the ratio of the engine's last rate measured in
// the same run (with -count, its last run) to theirs. The machine's
// speed drifts, so compare rates measured close in time. Both sides
// decode and convert with the same functions, so the ratio is the
// engine's cost (or gain: it reads and writes the Kafka partitions in
// parallel).
func BenchmarkKafkaAvroParquet(b *testing.B) {
	c := kafkatest.New(b, map[string]int32{benchTopic: benchPartitions})
	c.Produce(benchRecords(b)...)

	var engine float64
	b.Run("engine", func(b *testing.B) {
		engine = benchLoop(b, c.Addrs, engineRun(runtime.GOMAXPROCS(0)))
		plainEngine = engine
	})
	b.Run("engine-p1", func(b *testing.B) { benchLoop(b, c.Addrs, engineRun(1)) })
	for _, hw := range []struct {
		name  string
		merge bool
	}{{"handwritten", false}, {"handwritten-merged", true}} {
		b.Run(hw.name, func(b *testing.B) {
			hand := benchLoop(b, c.Addrs, handwrittenRun(hw.merge))
			if engine > 0 {
				b.ReportMetric(engine/hand, "engine/handwritten")
			}
		})
	}
}

// plainEngine is the last rate of BenchmarkKafkaAvroParquet/engine in
// this process, for BenchmarkSecureKafkaAvroParquet's ratio.
var plainEngine float64

// benchRecords returns the benchmark's messages as records of benchTopic,
// spread over its partitions in turn.
func benchRecords(b *testing.B) []*kgo.Record {
	values, size := benchValues(b)
	if size/len(values) < 300 {
		b.Fatalf("events of %d bytes on average; the benchmark describes about 430", size/len(values))
	}
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: benchTopic, Partition: int32(i % benchPartitions), Value: v}
	}
	return recs
}

// BenchmarkSecureKafkaAvroParquet is BenchmarkKafkaAvroParquet/engine
// against a secured cluster: the brokers listen with TLS only (a
// certificate signed by a CA made for the run) and require SASL GSSAPI,
// Kerberos tickets from a real MIT KDC (krbtest.Start: krb5kdc on a
// loopback port; skipped when MIT Kerberos is not installed) verified
// with the brokers' service keytab (kafkatest.NewGSSAPITLS). The same
// events are produced once; each iteration runs the manager's pipeline as
// the engine sub-benchmark does, its Kafka clients configured as the
// manager's flags configure them: security.Kafka with the CA file and
// GSSAPI from a principal's keytab and the realm's krb5.conf, its
// KafkaOptions passed with kafka.ClientOptions. The options (and the
// Kerberos login) are made once, untimed, as the manager makes them once
// at start; every iteration's clients dial anew, so the TLS handshakes and
// the GSSAPI exchanges of their connections are timed. Parquet stays on
// local disk.
//
// Its engine sub-benchmark reports events/s and, when
// BenchmarkKafkaAvroParquet/engine ran before it in the same process
// (-bench 'KafkaAvroParquet/^engine$' runs both), secured/plain: its rate
// over that one's.
func BenchmarkSecureKafkaAvroParquet(b *testing.B) {
	realm := krbtest.Start(b)
	c := kafkatest.NewGSSAPITLS(b, map[string]int32{benchTopic: benchPartitions}, realm)
	c.Produce(benchRecords(b)...)
	principal, keytab := c.GSSAPI.User(b, "daf-iot")
	sec := security.Kafka{
		TLS: security.TLS{CAFile: c.Sec.CAFile},
		SASL: security.SASL{Mechanism: security.GSSAPI, Kerberos: security.Kerberos{
			Principal: principal, Keytab: keytab, Krb5Conf: realm.Krb5Conf()}},
	}
	opts, err := sec.KafkaOptions()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("engine", func(b *testing.B) {
		rate := benchLoop(b, c.Addrs, engineRun(runtime.GOMAXPROCS(0), kafka.ClientOptions(opts...)))
		if plainEngine > 0 {
			b.ReportMetric(rate/plainEngine, "secured/plain")
		}
	})
	if !slices.Contains(c.GSSAPI.Authenticated(), principal) {
		b.Fatalf("%s never authenticated over GSSAPI (authenticated: %v)", principal, c.GSSAPI.Authenticated())
	}
}

// benchLoop runs one side: each iteration from a collected heap, into an
// empty directory. It checks the output and reports events/s.
func benchLoop(b *testing.B, addrs []string, side func(b *testing.B, addrs []string, out string)) float64 {
	out := filepath.Join(b.TempDir(), "events")
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		os.RemoveAll(out)
		runtime.GC()
		b.StartTimer()
		began := time.Now()
		side(b, addrs, out)
		elapsed += time.Since(began)
	}
	b.StopTimer()
	ids, err := countRows(out)
	if err != nil || len(ids) != benchEvents {
		b.Fatalf("%d distinct events written, want %d (%v)", len(ids), benchEvents, err)
	}
	rate := float64(benchEvents) * float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "events/s")
	return rate
}

// engineRun returns the function that runs the manager's pipeline over
// the whole topic in one batch, with the given parallelism; opts are
// added to the direct stream's (the secured run's client options).
func engineRun(parallelism int, opts ...kafka.Option) func(b *testing.B, addrs []string, out string) {
	return func(b *testing.B, addrs []string, out string) { engineBatch(b, addrs, out, parallelism, opts...) }
}

func engineBatch(b *testing.B, addrs []string, out string, parallelism int, opts ...kafka.Option) {
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet), dstream.WithParallelism(parallelism))
	if err != nil {
		b.Fatal(err)
	}
	tps := make([]kafka.TopicPartition, benchPartitions)
	for p := range tps {
		tps[p] = kafka.TopicPartition{Topic: benchTopic, Partition: int32(p)}
	}
	// The manager's defaults: files rotated at 64 MiB or 10 minutes, so
	// committed when the run stops.
	cfg := pipelineConfig{hdfsOut: out, maxMessageBytes: 1 << 20, logger: quiet, parquet: []parquetsink.Option{
		parquetsink.Rotate(parquetsink.Rotation{Bytes: parquetsink.DefaultRotateBytes, Interval: parquetsink.DefaultRotateInterval})}}
	sink, err := newEventSink(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ds := kafka.NewDirectStream(ssc, kafka.Assign(tps...), append([]kafka.Option{kafka.Brokers(addrs...), kafka.ResumeFrom(sink)}, opts...)...)
	rep := newReporter(io.Discard, false)
	if err := buildPipeline(ds, sink, cfg, rep); err != nil {
		b.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		b.Fatal(err)
	}
	clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ssc.WaitForBatch(ctx, clk.Now()); err != nil {
		b.Fatal(err)
	}
	if err := ssc.Stop(ctx, dstream.Hard); err != nil {
		b.Fatal(err)
	}
	if c, _ := rep.Take(clk.Now()); c.events != benchEvents || c.dead != 0 {
		b.Fatalf("batch counts %+v, want %d events", c, benchEvents)
	}
}

// handwrittenRun returns the hand-written baseline: poll, decode,
// convert, group, write each group. Without merge it groups the rows by
// Kafka partition, source and day, so that it writes the files the
// engine writes (one per Kafka partition and Hive partition); with merge
// by source and day only, one file per Hive partition.
func handwrittenRun(merge bool) func(b *testing.B, addrs []string, out string) {
	return func(b *testing.B, addrs []string, out string) {
		ps := map[int32]kgo.Offset{}
		for p := range benchPartitions {
			ps[int32(p)] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{benchTopic: ps}))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		type group struct {
			partition   int32
			source, day string
		}
		groups := map[group][]*HdfsEvent{}
		n := 0
		for n < benchEvents {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				b.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				n++
				e, err := DecodeEvent(r.Value)
				if err != nil {
					b.Fatal(err)
				}
				c, _ := convert(&e, false, origin{r.Topic, r.Partition, r.Offset})
				k := group{r.Partition, c.hdfs.Source, c.hdfs.Day}
				if merge {
					k.partition = 0
				}
				groups[k] = append(groups[k], &c.hdfs)
			})
		}
		for k, rows := range groups {
			dir := filepath.Join(out, parquetsink.PartitionPath(partitionCols, []string{k.source, k.day}))
			if err := writeGroup(filepath.Join(dir, fmt.Sprintf("part-%05d.parquet", k.partition)), rows); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// writeGroup writes rows to the file name, Snappy, synced.
func writeGroup(name string, rows []*HdfsEvent) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	w := parquet.NewGenericWriter[*HdfsEvent](f, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(parquetsink.DefaultRowGroupRows))
	if _, err := w.Write(rows); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return f.Close()
}
