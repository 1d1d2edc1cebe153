package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
)

// kind says which program runs a contender.
type kind int

const (
	// self: this binary, as a child (-child): the engine and the
	// hand-written baselines.
	self kind = iota
	// peer: one of the peers' binaries, built from bench/peers/<bin>.
	peer
	// testBinary: an example's test binary running one of its
	// benchmarks (the applications' scenarios).
	testBinary
)

// contender is one program measured in a scenario.
type contender struct {
	// name is shown in the table ("ours", "baseline", "go-streams", ...).
	name string
	kind kind
	// bin names the peer binary (peer) or the example (testBinary).
	bin  string
	spec benchkit.Spec
	// env is added to the child's environment (e.g. GOMAXPROCS=1).
	env []string
	// baseline names the contender this one's ratio is taken against;
	// empty means the scenario's.
	baseline string
	// repeat makes the contender run in every round, alternating with
	// the others that repeat; the rest run once, except peers that came
	// within closePeer of the engine in the first round, which repeat too.
	repeat bool
	// fullOnly leaves the contender out of -quick runs.
	fullOnly bool
	// cannot, when set, says why this peer cannot do the scenario: it is
	// not run, and the reason is printed.
	cannot string
	// note is printed with the contender's row.
	note string
	// bench is the -test.bench pattern of a testBinary contender and
	// metric the unit of its rate ("events/s").
	bench, metric string
}

// scenario is one row group of the table.
type scenario struct {
	name, desc string
	// baseline names the contender the ratios are taken against.
	baseline string
	// minRounds, when larger, replaces the default number of rounds (not
	// an explicit -rounds).
	minRounds int
	// latency makes the ratio the contender's p99 latency over the
	// baseline's instead of records/s.
	latency    bool
	contenders []contender
	// finish adds notes that compare rows once all have run; earlier
	// holds the rows of the scenarios run before this one.
	finish func(rows, earlier []*Row)
}

// sizes are the scenarios' input sizes.
type sizes struct {
	// wcLines is the word count's corpus (also Kafka's records and
	// scaling's), beamLines the part of it Beam's direct runner counts.
	wcLines, beamLines int
	kafkaRecords       int
	// windowBatchLines is the lines of each batch of the windows;
	// beamWindowLines Beam's, by window length.
	windowBatchLines int
	beamWindowLines  map[int]int
	// goStreamsSlide and goStreamsWindowRun pace go-streams' processing-
	// time windows.
	goStreamsSlide, goStreamsWindowRun time.Duration
	stateKeys, stateBatch              int
	stateWarmBatches                   int
	latencyRate                        int
	latencyRun                         time.Duration
	// latency10Run is the latency10ms scenario's run, overheadRun the
	// overhead scenario's, socketLines the lines of the socket
	// scenario's passes: 20 million, about four seconds, so that the
	// engine's pass, which ends with the batch holding the last line (up
	// to a batch and a block interval after the sender's last byte, about
	// 0.1 s), measures its rate, not that tail (a tenth of a 4-million-line
	// pass).
	latency10Run, overheadRun time.Duration
	socketLines               int
	// appBenchtime is -test.benchtime for the applications' benchmarks.
	appBenchtime string
	minTime      time.Duration
}

func sizesFor(o options) sizes {
	s := sizes{
		wcLines: 1_000_000, beamLines: 100_000,
		kafkaRecords:     200_000,
		windowBatchLines: 16_000, beamWindowLines: map[int]int{6: 500, 60: 100},
		goStreamsSlide: 50 * time.Millisecond, goStreamsWindowRun: 5 * time.Second,
		stateKeys: 1_000_000, stateBatch: 200_000, stateWarmBatches: 10,
		latencyRate: 50_000, latencyRun: 10 * time.Second,
		latency10Run: 30 * time.Second, overheadRun: 6 * time.Second, socketLines: 20_000_000,
		appBenchtime: "3x",
	}
	if o.quick {
		s.wcLines, s.beamLines = 200_000, 20_000
		s.kafkaRecords = 100_000
		s.windowBatchLines, s.beamWindowLines = 4_000, map[int]int{6: 100, 60: 20}
		s.goStreamsSlide, s.goStreamsWindowRun = 25*time.Millisecond, time.Second
		s.stateWarmBatches = 5
		s.latencyRate, s.latencyRun = 20_000, 2500*time.Millisecond
		s.latency10Run, s.overheadRun, s.socketLines = 5*time.Second, 3*time.Second, 1_000_000
		s.appBenchtime = "1x"
	}
	s.minTime = o.minTime
	return s
}

// Contender names shared by the scenarios, and the iot scenario's
// secured engine.
const (
	ours        = "ours"
	baseline    = "baseline"
	oursSecured = "ours-secured"
)

// kerberosTools are the MIT Kerberos programs internal/krbtest runs for
// the secured IoT benchmark's throwaway realm.
var kerberosTools = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist"}

// kerberosMissing returns why the secured IoT contender cannot run here
// (the MIT Kerberos programs it needs are missing), or "". Like
// internal/krbtest, it looks on PATH, then in $KRBTEST_SBIN_DIRS (default
// /usr/sbin, /usr/local/sbin, /sbin).
func kerberosMissing() string {
	dirs := []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}
	if v, ok := os.LookupEnv("KRBTEST_SBIN_DIRS"); ok {
		dirs = filepath.SplitList(v)
	}
	var missing []string
	for _, name := range kerberosTools {
		if !findProgram(name, dirs) {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("no MIT Kerberos KDC here (%s not found; install krb5-kdc, krb5-admin-server and krb5-user): the secured run needs a real KDC", strings.Join(missing, ", "))
}

// findProgram reports whether name is an executable on PATH or in dirs.
func findProgram(name string, dirs []string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d, name)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// allScenarios returns every scenario, sized for o.
func allScenarios(o options) []scenario {
	z := sizesFor(o)
	words := func(scenarioName string, lines int) benchkit.Spec {
		return benchkit.Spec{Scenario: scenarioName, Seed: o.seed, Lines: lines, PerLine: 12, Distinct: 100_000, MinTime: z.minTime}
	}
	with := func(s benchkit.Spec, f func(*benchkit.Spec)) benchkit.Spec { f(&s); return s }
	noKafka := "no Kafka connector in this module set: "
	var out []scenario

	// In-memory word count.
	wc := words("wordcount", z.wcLines)
	out = append(out, scenario{
		name:      "wordcount",
		desc:      fmt.Sprintf("%d lines x 12 words (Zipf over 100,000) in memory: split, count per word", z.wcLines),
		baseline:  baseline,
		minRounds: 3, // the target's scenario: a third round for the median
		contenders: []contender{
			{name: ours, kind: self, spec: wc, repeat: true, note: "FlatMap -> Map -> ReduceByKey, one batch"},
			{name: baseline, kind: self, spec: wc, repeat: true, note: "goroutine + map per core, merge"},
			{name: "go-streams", kind: peer, bin: "gostreams", spec: with(wc, func(s *benchkit.Spec) { s.Variant = "words" }),
				note: "FlatMap(words, 2) -> Batch(10000) -> Map(count, 2) -> merge"},
			{name: "go-streams/lines", kind: peer, bin: "gostreams", spec: with(wc, func(s *benchkit.Spec) { s.Variant = "lines" }),
				note: "Batch(1000 lines) -> Map(split+count, 2) -> merge"},
			{name: "benthos", kind: peer, bin: "benthos", spec: wc, note: "producer func, batches of 1000 -> Go batch processor (2 threads) -> drop"},
			{name: "beam", kind: peer, bin: "beam", spec: with(wc, func(s *benchkit.Spec) { s.Lines = min(z.beamLines, s.Lines) }),
				note: fmt.Sprintf("direct runner: CreateList -> ParDo(split) -> stats.Count; first %d lines", min(z.beamLines, wc.Lines))},
			{name: "watermill", kind: peer, bin: "watermill", spec: wc, note: "GoChannel, 1000 lines/message, router handler (a goroutine per message), merge"},
		},
		finish: finishWordCount,
	})

	// Kafka (kfake) word count.
	kc := words("kafka", z.kafkaRecords)
	out = append(out, scenario{
		name:     "kafka",
		desc:     fmt.Sprintf("%d records (lines of 12 words) in 4 partitions of an in-process kfake broker, read from the start, word count", z.kafkaRecords),
		baseline: baseline,
		contenders: []contender{
			{name: ours, kind: self, spec: kc, repeat: true, note: "direct stream -> FlatMap -> Map -> ReduceByKey, one batch"},
			{name: baseline, kind: self, spec: kc, repeat: true, note: "franz-go client polling, counting in a map"},
			{name: "go-streams", kind: peer, cannot: noKafka + "go-streams' Kafka connector is a separate module (sarama)"},
			{name: "benthos", kind: peer, cannot: noKafka + "kafka_franz is in redpanda-data/connect, not the MIT core"},
			{name: "beam", kind: peer, cannot: "Go SDK's kafkaio is cross-language: needs a Java expansion service"},
			{name: "watermill", kind: peer, cannot: noKafka + "watermill-kafka is a separate module (sarama)"},
			{name: "goka", kind: peer, bin: "goka", spec: kc,
				note: "sarama; processor of a new group per pass: lines -> Loopback(word, 1) -> count in the group table (Persist, storage.NewMemory)"},
		},
	})

	// Windowed word count with an inverse function.
	for _, w := range []int{6, 60} {
		ws := with(words("window", 0), func(s *benchkit.Spec) {
			s.BatchLines, s.Window = z.windowBatchLines, w
		})
		out = append(out, scenario{
			name:     fmt.Sprintf("window%d", w),
			desc:     fmt.Sprintf("sliding word count over %d batches of %d lines, slide 1 batch, steady state", w, z.windowBatchLines),
			baseline: baseline,
			contenders: []contender{
				{name: ours, kind: self, spec: ws, repeat: true, note: "ReduceByKeyAndWindow with inverse, zero counts filtered"},
				{name: baseline, kind: self, spec: ws, repeat: true, note: "parallel count per batch, window map += new, -= expired"},
				{name: "go-streams", kind: peer, bin: "gostreams", spec: with(ws, func(s *benchkit.Spec) {
					s.Interval, s.Duration = z.goStreamsSlide, z.goStreamsWindowRun
				}), note: fmt.Sprintf("SlidingWindow of lines (processing time, slide %v), window recounted each slide; no inverse", z.goStreamsSlide)},
				{name: "benthos", kind: peer, cannot: "system_window buffer: one global processing-time window, not per key, no inverse"},
				{name: "beam", kind: peer, bin: "beam", spec: with(ws, func(s *benchkit.Spec) { s.BatchLines = z.beamWindowLines[w] }),
					note: fmt.Sprintf("SlidingWindows (event time) -> stats.Count, no inverse; %d batches of %d lines", w+10, z.beamWindowLines[w])},
				{name: "watermill", kind: peer, cannot: "no windows"},
			},
			finish: finishWindow,
		})
	}

	// MapWithState over 1M keys.
	st := benchkit.Spec{Scenario: "state", Seed: o.seed, Keys: z.stateKeys, BatchRecords: z.stateBatch, MinTime: z.minTime, Warmup: z.stateWarmBatches}
	out = append(out, scenario{
		name:     "state",
		desc:     fmt.Sprintf("running count per key, %d records a batch over %d keys (uniform)", z.stateBatch, z.stateKeys),
		baseline: baseline,
		contenders: []contender{
			{name: ours, kind: self, spec: st, repeat: true, note: "MapWithState, in-memory state"},
			{name: baseline, kind: self, spec: st, repeat: true, note: "one goroutine + map[int64]int64 per core, keys by hash"},
			{name: "go-streams", kind: peer, cannot: "Keyed makes one sub-flow (goroutines) per key; no state API, no checkpoints"},
			{name: "benthos", kind: peer, cannot: "caches only: no keyed state API"},
			{name: "beam", kind: peer, cannot: "stateful DoFns not supported by the Go direct runner"},
			{name: "watermill", kind: peer, cannot: "no state"},
			{name: "goka", kind: peer, bin: "goka", spec: st,
				note: "(key, 1) from kfake -> processor: count in the group table (Persist, LevelDB in memory); rate after the warm-up"},
		},
	})

	// The applications.
	out = append(out, scenario{
		name:     "iot",
		desc:     "IoT manager: 100,000 Avro events from kfake (4 partitions) -> Parquet by source/day, synced; plaintext, and over TLS + Kerberos",
		baseline: baseline,
		contenders: []contender{
			{name: ours, kind: testBinary, bin: "iot-manager", bench: "BenchmarkKafkaAvroParquet/^engine$", metric: "events/s", repeat: true,
				note: "the manager's pipeline, direct stream, 2 cores"},
			{name: oursSecured, kind: testBinary, bin: "iot-manager", bench: "BenchmarkSecureKafkaAvroParquet/^engine$", metric: "events/s", repeat: true,
				baseline: ours, cannot: kerberosMissing(),
				note: "vs ours (plain): the same over TLS + SASL GSSAPI, tickets from an MIT KDC (keytab), security.Kafka options"},
			{name: "ours-p1", kind: testBinary, bin: "iot-manager", bench: "BenchmarkKafkaAvroParquet/^engine-p1$", metric: "events/s",
				fullOnly: true, note: "the same, parallelism 1"},
			{name: baseline, kind: testBinary, bin: "iot-manager", bench: "BenchmarkKafkaAvroParquet/^handwritten-merged$", metric: "events/s", repeat: true,
				note: "franz-go poll, decode, group, one parquet-go file per Hive partition"},
			{name: "baseline-samefiles", kind: testBinary, bin: "iot-manager", bench: "BenchmarkKafkaAvroParquet/^handwritten$", metric: "events/s",
				fullOnly: true, note: "the same, one file per Kafka and Hive partition like the engine"},
			{name: "go-streams", kind: peer, cannot: "no Kafka or Parquet connector in its module"},
			{name: "benthos", kind: peer, cannot: "Kafka, Avro schema and parquet_encode are in redpanda-data/connect, not the core"},
			{name: "beam", kind: peer, cannot: "kafkaio needs a Java expansion service"},
			{name: "watermill", kind: peer, cannot: "no Parquet; Kafka is a separate module"},
		},
	})
	out = append(out, scenario{
		name:     "instances",
		desc:     "IoT manager scaled out: 400,000 Avro events from kfake (4 partitions) read by copies in one group, GOMAXPROCS=1 each",
		baseline: "ours/1",
		contenders: []contender{
			{name: "ours/1", kind: testBinary, bin: "iot-manager", bench: "BenchmarkInstances/^1$", metric: "events/s", repeat: true,
				note: "one copy of the built binary (a machine)"},
			{name: "ours/2", kind: testBinary, bin: "iot-manager", bench: "BenchmarkInstances/^2$", metric: "events/s", repeat: true,
				note: "two copies in one group"},
			{name: "restart", kind: testBinary, bin: "iot-manager", bench: "BenchmarkInstances/^restart$", metric: "restart-ms",
				note: "records/s column: not a rate; see restart/scaleup: a SIGKILLed static member's restart, and a third copy's start, to their first batch with records (500 ms batches)"},
			{name: "go-streams", kind: peer, cannot: "no consumer groups: one process"},
			{name: "benthos", kind: peer, cannot: "kafka_franz is in redpanda-data/connect, not the MIT core"},
			{name: "beam", kind: peer, cannot: "the Go direct runner is one process"},
			{name: "watermill", kind: peer, cannot: "no Parquet; Kafka is a separate module"},
			{name: "goka", kind: peer, cannot: "the scenario runs the manager's own binaries; goka scales processors in a group, but has no Avro or Parquet: its copies would be hand-written sinks"},
		},
		finish: finishInstances,
	})
	out = append(out, scenario{
		name:     "spot",
		desc:     "Spot flow listener: 200,000 CSV flow lines in 40 Avro chunks -> Parquet by y/m/d/h, synced",
		baseline: baseline,
		contenders: []contender{
			{name: ours, kind: testBinary, bin: "spot-listener", bench: "BenchmarkFlowParquet/^engine$", metric: "lines/s", repeat: true,
				note: "the listener's pipeline, 2 cores"},
			{name: "ours-p1", kind: testBinary, bin: "spot-listener", bench: "BenchmarkFlowParquet/^engine-p1$", metric: "lines/s",
				fullOnly: true, note: "the same, parallelism 1"},
			{name: baseline, kind: testBinary, bin: "spot-listener", bench: "BenchmarkFlowParquet/^handwritten-spotparse$", metric: "lines/s", repeat: true,
				note: "one goroutine, the listener's parser: the practical limit per core"},
			{name: "baseline-naive", kind: testBinary, bin: "spot-listener", bench: "BenchmarkFlowParquet/^handwritten$", metric: "lines/s",
				fullOnly: true, note: "one goroutine, strings.Split/strconv/time.Parse"},
			{name: "go-streams", kind: peer, cannot: "no Parquet connector"},
			{name: "benthos", kind: peer, cannot: "parquet_encode is in redpanda-data/connect, not the core"},
			{name: "beam", kind: peer, cannot: "parquetio exists, but its reads/writes go through xitongsys/parquet-go and the direct runner; not built here"},
			{name: "watermill", kind: peer, cannot: "no Parquet"},
		},
	})

	// End-to-end latency.
	lat := benchkit.Spec{Scenario: "latency", Seed: o.seed, PerLine: 12, Distinct: 100_000, Rate: z.latencyRate,
		Duration: z.latencyRun, Interval: 100 * time.Millisecond}
	out = append(out, scenario{
		name:     "latency",
		desc:     fmt.Sprintf("%d lines/s over a loopback TCP socket for %v, 100 ms batches; latency from send to output, first second skipped", z.latencyRate, z.latencyRun),
		baseline: baseline,
		latency:  true,
		contenders: []contender{
			{name: ours, kind: self, spec: lat, note: "socket.TextStream -> word count, 100 ms batches, default options"},
			{name: baseline, kind: self, spec: lat, note: "reader goroutine + 100 ms ticker loop counting"},
			{name: "go-streams", kind: peer, bin: "gostreams", spec: lat, note: "reader -> ChanSource -> TumblingWindow(100ms) -> Map(count)"},
			{name: "benthos", kind: peer, cannot: "per-message pipeline, no batch interval: not comparable (not measured)"},
			{name: "beam", kind: peer, cannot: "the Go direct runner runs bounded pipelines only"},
			{name: "watermill", kind: peer, cannot: "per-message router, no batch interval: not comparable (not measured)"},
		},
	})

	// Millisecond batches: latency at 10 ms, an empty batch's cost, a
	// receiver's throughput.
	out = append(out, millisScenarios(o, z)...)

	// Scaling from 1 to 2 cores.
	sc := words("wordcount", z.wcLines)
	one, two := []string{"GOMAXPROCS=1"}, []string{"GOMAXPROCS=2"}
	out = append(out, scenario{
		name:     "scaling",
		desc:     fmt.Sprintf("the in-memory word count (%d lines) with GOMAXPROCS=1 and 2", z.wcLines),
		baseline: "baseline/1",
		contenders: []contender{
			{name: "ours/1", kind: self, spec: with(sc, func(s *benchkit.Spec) { s.Contender = ours }), env: one, baseline: "baseline/1", repeat: true},
			{name: "baseline/1", kind: self, spec: with(sc, func(s *benchkit.Spec) { s.Contender = baseline }), env: one, repeat: true},
			{name: "ours/2", kind: self, spec: with(sc, func(s *benchkit.Spec) { s.Contender = ours }), env: two, baseline: "baseline/2", repeat: true},
			{name: "baseline/2", kind: self, spec: with(sc, func(s *benchkit.Spec) { s.Contender = baseline }), env: two, baseline: "baseline/2", repeat: true},
		},
		finish: finishScaling,
	})

	for i := range out {
		for j := range out[i].contenders {
			c := &out[i].contenders[j]
			if c.spec.Contender == "" {
				c.spec.Contender = c.name
			}
		}
	}
	return out
}

// selectScenarios returns the scenarios whose name matches re.
func selectScenarios(all []scenario, re *regexp.Regexp) []scenario {
	var out []scenario
	for _, s := range all {
		if re.MatchString(s.name) {
			out = append(out, s)
		}
	}
	return out
}
