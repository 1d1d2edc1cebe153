package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/sources/socket"
	"github.com/microbatch-go/microbatch/ui"
)

// This file holds the millisecond-batch scenarios: latency10ms (10 ms
// batches over a socket and through Kafka), overhead (an empty batch's
// cost) and socket (a receiver's throughput).

// Contender names of the millisecond scenarios.
const (
	oursSocket      = "ours/socket"
	baselineSocket  = "baseline/socket"
	oursKafka10     = "ours/kafka"
	baselineKafka10 = "baseline/kafka"
)

// Targets of the millisecond scenarios.
const (
	// latencyShare is the most the engine's p99 latency may be of the
	// hand-written ticker loop's at 100 ms batches, with default options.
	latencyShare = 1.2
	// p99Limit10ms is the most the p99 latency may be at 10 ms batches.
	p99Limit10ms = 30.0
	// overheadLimitUs is the most an empty batch may cost, median, tick to
	// completion.
	overheadLimitUs = 100.0
	// socketShare is the least share of the hand-written reader's rate
	// the engine's socket receiver must reach.
	socketShare = 0.8
)

// latencySegmentBytes is the segment size of the latency feed's broker.
const latencySegmentBytes = 4 << 20

// millisScenarios returns the latency10ms, overhead and socket scenarios.
func millisScenarios(o options, z sizes) []scenario {
	with := func(s benchkit.Spec, f func(*benchkit.Spec)) benchkit.Spec { f(&s); return s }
	lat := benchkit.Spec{Scenario: "latency10ms", Seed: o.seed, PerLine: 12, Distinct: 100_000, Rate: 50_000,
		Duration: z.latency10Run, Interval: 10 * time.Millisecond}
	over := benchkit.Spec{Scenario: "overhead", Seed: o.seed, Duration: z.overheadRun, Interval: 10 * time.Millisecond}
	sock := benchkit.Spec{Scenario: "socket", Seed: o.seed, PerLine: 12, Distinct: 100_000, Lines: z.socketLines,
		MinTime: z.minTime, Interval: 100 * time.Millisecond}
	return []scenario{
		{
			name:     "latency10ms",
			desc:     fmt.Sprintf("10 ms batches: 50,000 lines/s for %v over a loopback socket, and produced to an in-process kfake broker (4 partitions); latency from send (produce) to counted output, first second skipped", z.latency10Run),
			baseline: baselineSocket,
			latency:  true,
			contenders: []contender{
				{name: oursSocket, kind: self, spec: lat, note: "socket.TextStream -> word count, 10 ms batches, default options"},
				{name: baselineSocket, kind: self, spec: lat, note: "reader goroutine + 10 ms ticker loop counting"},
				{name: oursKafka10, kind: self, spec: lat, baseline: baselineKafka10, note: "direct stream -> word count, 10 ms batches, default options"},
				{name: baselineKafka10, kind: self, spec: lat, baseline: baselineKafka10, note: "franz-go polling goroutine + 10 ms ticker loop counting"},
				{name: "go-streams", kind: peer, cannot: "its TumblingWindow runs on a ticker like the baseline; measured at 100 ms in the latency scenario"},
				{name: "goka", kind: peer, cannot: "per-message processors, no batch interval: not comparable (not measured)"},
			},
		},
		{
			name: "overhead",
			desc: fmt.Sprintf("an empty 10 ms batch of the word count on an idle socket, from its tick to its completion, for %v; records/s column: batches/s", z.overheadRun),
			contenders: []contender{
				{name: ours, kind: self, spec: over, note: "no listener but the measuring one"},
				{name: "ours/listener", kind: self, spec: with(over, func(s *benchkit.Spec) { s.Contender, s.Variant = ours, "listener" }),
					note: "with the status page's listener (ui.Server: batches, metrics, health)"},
				{name: "ours/progress", kind: self, spec: with(over, func(s *benchkit.Spec) { s.Contender, s.Variant = ours, "progress" }),
					note: "with the status page's listener and wordcount's progress line, written to " + os.DevNull},
			},
		},
		{
			name:     "socket",
			desc:     fmt.Sprintf("%d lines (12 words) from a loopback sender as fast as it can, into a job counting them; 100 ms batches", z.socketLines),
			baseline: baseline,
			contenders: []contender{
				{name: ours, kind: self, spec: sock, repeat: true, note: "socket.TextStream -> Count, default options"},
				{name: baseline, kind: self, spec: sock, repeat: true, note: "bufio.Scanner over the connection, a string per line, counted"},
			},
		},
	}
}

// schedDelays collects, per completed batch, how late processing started
// after the batch's tick (its time), in milliseconds, and the tick to
// completion in microseconds.
type schedDelays struct {
	mu    sync.Mutex
	start []float64 // ms, tick to processing start
	total []float64 // µs, tick to completion
	empty []float64 // µs, tick to completion of batches without records
}

func (s *schedDelays) OnBatchCompleted(b dstream.BatchInfo) {
	start := b.ProcessingStartTime.Sub(b.BatchTime)
	total := b.ProcessingEndTime.Sub(b.BatchTime)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = append(s.start, float64(start)/1e6)
	s.total = append(s.total, float64(total)/1e3)
	if b.NumRecords() == 0 {
		s.empty = append(s.empty, float64(total)/1e3)
	}
}

// growth adds the scheduling metrics of a timed run to res: sched_p99_ms,
// the 99th percentile of the batches' start after their tick, and
// sched_growth_ms, the mean of the last quarter of the batches after the
// warm-up minus that of the first quarter (a job that falls behind grows
// it without bound).
func (s *schedDelays) growth(res *benchkit.Result, interval time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	skip := int(benchkit.LatencyWarmup / interval)
	if len(s.start) < skip+8 {
		res.Notes = append(res.Notes, fmt.Sprintf("only %d batches completed", len(s.start)))
		return
	}
	d := s.start[skip:]
	q := len(d) / 4
	mean := func(xs []float64) float64 {
		var t float64
		for _, x := range xs {
			t += x
		}
		return t / float64(len(xs))
	}
	sorted := slices.Sorted(slices.Values(d))
	if res.Metrics == nil {
		res.Metrics = map[string]float64{}
	}
	res.Metrics["sched_p99_ms"] = benchkit.Percentile(sorted, 99)
	res.Metrics["sched_growth_ms"] = mean(d[len(d)-q:]) - mean(d[:q])
	res.Metrics["batches"] = float64(len(s.start))
}

// oursKafkaLatency is the latency run through Kafka: a producer sends the
// feed's lines ("<produce time> <words>") to kfake at spec.Rate; a word
// count on a direct stream at spec.Interval batches records each line's
// latency from its produce time to its counted output.
func oursKafkaLatency(spec benchkit.Spec) (benchkit.Result, error) {
	f, err := startKafkaFeed(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer f.close()
	delays := &schedDelays{}
	ssc, err := dstream.NewContext(spec.Interval, dstream.WithLogger(quiet), dstream.WithListener(delays))
	if err != nil {
		return benchkit.Result{}, fmt.Errorf("new context: %w", err)
	}
	ks := kafka.NewDirectStream(ssc, kafka.Assign(f.partitions()...), kafka.Brokers(f.addrs...))
	lat := &benchkit.Latencies{}
	keys, err := stampedWordCount(ks.Stream(), func(r kafka.Record) string { return string(r.Value) }, lat)
	if err != nil {
		return benchkit.Result{}, err
	}
	if err := ssc.Start(); err != nil {
		return benchkit.Result{}, fmt.Errorf("start: %w", err)
	}
	f.start()
	ferr := f.wait()
	time.Sleep(drain)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ssc.Stop(ctx, dstream.Hard); err != nil {
		return benchkit.Result{}, fmt.Errorf("stop: %w", err)
	}
	if ferr != nil {
		return benchkit.Result{}, ferr
	}
	res := lat.Between(f.from, f.to, f.measured)
	res.Notes = append(res.Notes, fmt.Sprintf("%d counts output", *keys))
	delays.growth(&res, spec.Interval)
	return res, nil
}

// baselineKafkaLatency is the hand-written loop through Kafka: a goroutine
// polls the partitions with franz-go into a buffer; a spec.Interval
// ticker takes the buffer, counts its words and records each line's
// latency.
func baselineKafkaLatency(spec benchkit.Spec) (benchkit.Result, error) {
	f, err := startKafkaFeed(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer f.close()
	ps := map[int32]kgo.Offset{}
	for _, tp := range f.partitions() {
		ps[tp.Partition] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafkaTopic: ps}),
		kgo.FetchMaxWait(max(spec.Interval/2, 10*time.Millisecond)))
	if err != nil {
		return benchkit.Result{}, fmt.Errorf("consumer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var buf []string
	go func() {
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			var got []string
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			mu.Lock()
			buf = append(buf, got...)
			mu.Unlock()
		}
	}()
	f.start()
	fed := make(chan error, 1)
	go func() { fed <- f.wait() }()
	lat := &benchkit.Latencies{}
	return countEvery(spec.Interval, fed, &mu, &buf, lat, func() benchkit.Result { return lat.Between(f.from, f.to, f.measured) })
}

// kafkaFeed produces the latency feed's lines to an in-process kfake
// broker: every millisecond, the lines due by then, stamped with the
// produce time, round-robin over kafkaPartitions partitions.
type kafkaFeed struct {
	cluster *kfake.Cluster
	addrs   []string
	cl      *kgo.Client
	spec    benchkit.Spec
	lines   []string
	done    chan error

	from, to time.Time // the measured part: after the warm-up, to the end
	measured int
}

func startKafkaFeed(spec benchkit.Spec) (*kafkaFeed, error) {
	if spec.Rate <= 0 || spec.Duration <= benchkit.LatencyWarmup {
		return nil, fmt.Errorf("latency: rate %d must be positive and duration %v longer than %v", spec.Rate, spec.Duration, benchkit.LatencyWarmup)
	}
	// kfake keeps its log in memory, a growing slice per segment: at its
	// default segment size (100 MiB) every doubling copies tens of MiB in
	// the broker's one goroutine, a stall of the producer and every fetch
	// (up to 250 ms seen here) that a broker appending to files does not
	// have. Segments of 4 MiB bound the copy.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(kafkaPartitions, kafkaTopic),
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(latencySegmentBytes)}))
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	addrs := cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.DefaultProduceTopic(kafkaTopic), kgo.ProducerLinger(0))
	if err != nil {
		cluster.Close()
		return nil, fmt.Errorf("producer: %w", err)
	}
	c := benchkit.Words(10_000, spec.PerLine, spec.Distinct, spec.Seed)
	return &kafkaFeed{cluster: cluster, addrs: addrs, cl: cl, spec: spec, lines: c.Lines, done: make(chan error, 1)}, nil
}

func (f *kafkaFeed) partitions() []kafka.TopicPartition {
	tps := make([]kafka.TopicPartition, kafkaPartitions)
	for p := range tps {
		tps[p] = kafka.TopicPartition{Topic: kafkaTopic, Partition: int32(p)}
	}
	return tps
}

// start starts producing in the background.
func (f *kafkaFeed) start() { go func() { f.done <- f.produce() }() }

func (f *kafkaFeed) produce() error {
	ctx, cancel := context.WithTimeout(context.Background(), f.spec.Duration+time.Minute)
	defer cancel()
	start := time.Now()
	warm := start.Add(benchkit.LatencyWarmup)
	f.from = warm
	var failed error
	var once sync.Once
	sent, measured := 0, 0
	for {
		now := time.Now()
		elapsed := now.Sub(start)
		if elapsed >= f.spec.Duration {
			break
		}
		due := int(elapsed.Seconds() * float64(f.spec.Rate))
		stamp := strconv.FormatInt(now.UnixNano(), 10)
		for ; sent < due; sent++ {
			v := make([]byte, 0, len(stamp)+1+len(f.lines[sent%len(f.lines)]))
			v = append(append(append(v, stamp...), ' '), f.lines[sent%len(f.lines)]...)
			f.cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					once.Do(func() { failed = err })
				}
			})
			if !now.Before(warm) {
				measured++
			}
		}
		time.Sleep(time.Millisecond)
	}
	if err := f.cl.Flush(ctx); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	f.to, f.measured = time.Now(), measured
	if failed != nil {
		return fmt.Errorf("produce: %w", failed)
	}
	return nil
}

// wait waits until every line is produced.
func (f *kafkaFeed) wait() error {
	select {
	case err := <-f.done:
		return err
	case <-time.After(f.spec.Duration + 2*time.Minute):
		return errors.New("kafka latency feed: still producing")
	}
}

func (f *kafkaFeed) close() {
	f.cl.Close()
	f.cluster.Close()
}

// oursOverhead runs the word count on a socket whose server sends nothing,
// at spec.Interval batches for spec.Duration, and reports the median and
// 99th percentile of its empty batches' time from tick to completion.
// Variant "listener" adds the status page's listener, "progress" that and
// wordcount's progress line, written to os.DevNull.
func oursOverhead(spec benchkit.Spec) (benchkit.Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return benchkit.Result{}, fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c) // sends nothing until the receiver closes
		}
	}()
	delays := &schedDelays{}
	opts := []dstream.Option{dstream.WithLogger(quiet)}
	switch spec.Variant {
	case "":
	case "listener", "progress":
		srv, err := ui.New(spec.Interval, ui.WithLogger(quiet))
		if err != nil {
			return benchkit.Result{}, fmt.Errorf("status page: %w", err)
		}
		opts = append(opts, dstream.WithListener(srv))
		if spec.Variant == "progress" {
			null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				return benchkit.Result{}, err
			}
			defer null.Close()
			opts = append(opts, dstream.WithListener(progressLine{w: null, interval: spec.Interval}))
		}
	default:
		return benchkit.Result{}, fmt.Errorf("overhead: unknown variant %q", spec.Variant)
	}
	opts = append(opts, dstream.WithListener(delays)) // last: sees the batch after the others
	ssc, err := dstream.NewContext(spec.Interval, opts...)
	if err != nil {
		return benchkit.Result{}, fmt.Errorf("new context: %w", err)
	}
	lines := socket.TextStream(ssc, ln.Addr().String())
	counts := dstream.ReduceByKey(dstream.Map(dstream.FlatMap(lines, strings.Fields), wordPair), add)
	if err := counts.ForEachBatch(func(context.Context, *dstream.Batch[dstream.Pair[string, int]]) error { return nil }); err != nil {
		return benchkit.Result{}, fmt.Errorf("build job: %w", err)
	}
	if err := ssc.Start(); err != nil {
		return benchkit.Result{}, fmt.Errorf("start: %w", err)
	}
	time.Sleep(spec.Duration)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ssc.Stop(ctx, dstream.Hard); err != nil {
		return benchkit.Result{}, fmt.Errorf("stop: %w", err)
	}
	delays.mu.Lock()
	defer delays.mu.Unlock()
	skip := min(len(delays.empty), int(benchkit.LatencyWarmup/spec.Interval))
	us := slices.Sorted(slices.Values(delays.empty[skip:]))
	if len(us) < 10 {
		return benchkit.Result{}, fmt.Errorf("overhead: only %d empty batches after the warm-up", len(us))
	}
	res := benchkit.Result{Records: int64(len(us)), Seconds: (spec.Duration - benchkit.LatencyWarmup).Seconds(), Passes: 1,
		Metrics: map[string]float64{"median_us": benchkit.Percentile(us, 50), "p99_us": benchkit.Percentile(us, 99)}}
	if n := len(delays.total) - len(delays.empty); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d batches with records left out", n))
	}
	return res, nil
}

// progressLine is wordcount's progress line (examples/wordcount), one per
// completed batch.
type progressLine struct {
	w        io.Writer
	interval time.Duration
}

func (p progressLine) OnBatchCompleted(b dstream.BatchInfo) {
	status := "ok"
	if b.Err != nil {
		status = "FAILED: " + b.Err.Error()
	}
	fmt.Fprintf(p.w, "batch %s records=%d rate=%.0f/s scheduling=%v processing=%v total=%v %s\n",
		b.BatchTime.Format("15:04:05.000"), b.NumRecords(), float64(b.NumRecords())/p.interval.Seconds(),
		b.SchedulingDelay().Round(time.Microsecond), b.ProcessingDelay().Round(time.Microsecond),
		b.TotalDelay().Round(time.Microsecond), status)
}

// socketSender serves spec.Lines lines (the corpus's first 10,000,
// cycled) to the first client as fast as it reads, then closes.
type socketSender struct {
	addr string
	ln   net.Listener
	done chan error
}

func startSocketSender(chunk []byte, chunkLines, lines int) (*socketSender, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &socketSender{addr: ln.Addr().String(), ln: ln, done: make(chan error, 1)}
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			s.done <- err
			return
		}
		defer c.Close()
		for sent := 0; sent < lines; sent += chunkLines {
			if _, err := c.Write(chunk); err != nil {
				s.done <- fmt.Errorf("send: %w", err)
				return
			}
		}
		s.done <- nil
	}()
	return s, nil
}

// socketChunk is the socket scenario's unit of sending: the corpus's
// first lines, newline-terminated, and their number; spec.Lines is
// rounded up to whole chunks.
func socketChunk(spec benchkit.Spec) ([]byte, int, int, error) {
	if spec.Lines <= 0 {
		return nil, 0, 0, fmt.Errorf("socket: lines %d must be positive", spec.Lines)
	}
	c := benchkit.Words(min(spec.Lines, 10_000), spec.PerLine, spec.Distinct, spec.Seed)
	var b bytes.Buffer
	for _, l := range c.Lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	n := len(c.Lines)
	total := (spec.Lines + n - 1) / n * n
	return b.Bytes(), n, total, nil
}

// oursSocketRate counts the lines a loopback sender sends with
// socket.TextStream and Count, default options, spec.Interval batches,
// from the connection to the batch holding the last line; each pass a new
// context and connection.
func oursSocketRate(spec benchkit.Spec) (benchkit.Result, error) {
	chunk, n, total, err := socketChunk(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	return benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(total), func() error {
		snd, err := startSocketSender(chunk, n, total)
		if err != nil {
			return err
		}
		ssc, err := dstream.NewContext(spec.Interval, dstream.WithLogger(quiet))
		if err != nil {
			return fmt.Errorf("new context: %w", err)
		}
		var mu sync.Mutex
		var counted int64
		all := make(chan struct{})
		if err := socket.TextStream(ssc, snd.addr).Count().ForEachBatch(func(_ context.Context, b *dstream.Batch[int64]) error {
			mu.Lock()
			defer mu.Unlock()
			for c := range b.All() {
				counted += c
			}
			if counted == int64(total) {
				close(all)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("build job: %w", err)
		}
		if err := ssc.Start(); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ssc.Stop(ctx, dstream.Hard)
		}()
		select {
		case <-all:
		case <-time.After(5 * time.Minute):
			mu.Lock()
			defer mu.Unlock()
			return fmt.Errorf("socket: counted %d of %d lines in 5 minutes", counted, total)
		}
		return <-snd.done
	})
}

// baselineSocketRate is the hand-written reader: bufio.Scanner over the
// connection, each line made a string, counted.
func baselineSocketRate(spec benchkit.Spec) (benchkit.Result, error) {
	chunk, n, total, err := socketChunk(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	var keep int
	res, err := benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(total), func() error {
		snd, err := startSocketSender(chunk, n, total)
		if err != nil {
			return err
		}
		conn, err := net.Dial("tcp", snd.addr)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer conn.Close()
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		count := 0
		for sc.Scan() {
			line := sc.Text()
			keep += len(line) & 1
			count++
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if count != total {
			return fmt.Errorf("socket: read %d of %d lines", count, total)
		}
		return <-snd.done
	})
	res.Notes = append(res.Notes, fmt.Sprintf("%d odd lengths", keep))
	return res, err
}

// millisTargets evaluates issue 19's targets on the rows that ran.
func millisTargets(rows []*Row) []Target {
	var out []Target
	if o, b := find(rows, "latency", ours), find(rows, "latency", baseline); o != nil && b != nil {
		name := fmt.Sprintf("latency at 100 ms batches, default options: p99 <= %.1fx the ticker loop's", latencyShare)
		op, bp := o.Metrics["p99_ms"], b.Metrics["p99_ms"]
		if op > 0 && bp > 0 {
			out = append(out, Target{Name: name, Met: op/bp <= latencyShare, Why: fmt.Sprintf("ours %.1f ms, ticker loop %.1f ms: %.2fx", op, bp, op/bp)})
		} else {
			out = append(out, Target{Name: name, Why: "a side did not run"})
		}
	}
	for _, c := range []string{oursSocket, oursKafka10} {
		r := find(rows, "latency10ms", c)
		if r == nil {
			continue
		}
		name := fmt.Sprintf("latency10ms %s: p99 <= %.0f ms and no growth of the scheduling delay", c, p99Limit10ms)
		p99, ok := r.Metrics["p99_ms"]
		growth, gok := r.Metrics["sched_growth_ms"]
		if !ok || !gok {
			out = append(out, Target{Name: name, Why: "did not run: " + r.Error})
			continue
		}
		// No growth: the last quarter's batches start no later after
		// their tick, on average, than the first quarter's plus a batch
		// interval's tenth (1 ms), timer noise.
		out = append(out, Target{Name: name, Met: p99 <= p99Limit10ms && growth <= 1,
			Why: fmt.Sprintf("p99 %.1f ms; scheduling delay last quarter minus first %+.2f ms, p99 %.2f ms", p99, growth, r.Metrics["sched_p99_ms"])})
	}
	for _, c := range []string{ours, "ours/listener", "ours/progress"} {
		r := find(rows, "overhead", c)
		if r == nil {
			continue
		}
		name := fmt.Sprintf("overhead %s: an empty batch's median cost < %.0f µs", c, overheadLimitUs)
		med, ok := r.Metrics["median_us"]
		if !ok {
			out = append(out, Target{Name: name, Why: "did not run: " + r.Error})
			continue
		}
		out = append(out, Target{Name: name, Met: med < overheadLimitUs, Why: fmt.Sprintf("median %.0f µs, p99 %.0f µs", med, r.Metrics["p99_us"])})
	}
	if o, b := find(rows, "socket", ours), find(rows, "socket", baseline); o != nil && b != nil {
		name := fmt.Sprintf("socket: >= %.1f of the hand-written reader", socketShare)
		if o.RecordsPerSec > 0 && b.RecordsPerSec > 0 {
			r := o.RecordsPerSec / b.RecordsPerSec
			out = append(out, Target{Name: name, Met: r >= socketShare, Why: fmt.Sprintf("ours %s lines/s, reader %s: %.2f", human(o.RecordsPerSec), human(b.RecordsPerSec), r)})
		} else {
			out = append(out, Target{Name: name, Why: "a side did not run"})
		}
	}
	return out
}
