// Command wordcount counts words in a stream of text lines, like Spark's
// NetworkWordCount and DirectKafkaWordCount, on the dstream engine. Words
// are strings.Fields of each line, unchanged.
//
// With no flags it runs a demo: an in-process Kafka-protocol broker (kfake)
// is fed by a text generator (Zipf-distributed words over a fixed
// vocabulary), the job reads it with the Kafka direct stream, and every
// batch it prints the most frequent words of the batch, or of a sliding
// window with -window and -slide, until interrupted:
//
//	go run ./examples/wordcount
//	go run ./examples/wordcount -window 10s -slide 2s -duration 30s
//
// Other sources:
//
//	go run ./examples/wordcount -source socket -addr localhost:9999   # e.g. nc -lk 9999
//	go run ./examples/wordcount -source file -dir /tmp/in             # move text files in
//	go run ./examples/devkafka &                                       # a broker on 127.0.0.1:9092
//	go run ./examples/wordcount -source kafka -brokers 127.0.0.1:9092 -topic words
//
// Flags:
//
//	-source NAME       demo, socket, file or kafka (default demo)
//	-addr HOST:PORT    socket: the server to read lines from (default localhost:9999)
//	-ack               socket: write "ack N" back to the server once N lines are stored
//	                   (with -checkpoint, in the write-ahead log), for servers that resend
//	                   what was not acknowledged
//	-dir PATH          file: the directory to watch for new files (a path or URI)
//	-brokers LIST      kafka: comma-separated seed brokers (default 127.0.0.1:9092)
//	-topic NAME        kafka and demo: the topic (default words)
//	-group ID          kafka: the consumer group (default wordcount)
//	-instance ID       kafka: a static group member id (KIP-345), so that a restarted
//	                   job takes its partitions back at once
//	-batch DURATION    batch interval (default 1s)
//	-window DURATION   window length; 0 counts each batch alone (default 0)
//	-slide DURATION    window slide; 0 means the batch interval (default 0)
//	-rate N            demo: lines per second the generator produces (default 5000)
//	-top N             words printed per batch (default 10)
//	-out PREFIX        also save each batch's counts with SaveAsTextFiles, one
//	                   "word<TAB>count" line per word, under PREFIX-<batch ms>; with
//	                   -window the windowed counts under PREFIX-window-<ms> too
//	-out-topic NAME    kafka and demo: also produce each batch's counts to this topic on
//	                   -brokers (or the demo broker), one record per word: the word as its
//	                   key, the count in decimal as its value. A record the broker refuses
//	                   as too large (max.message.bytes) is a dead letter: it is skipped with
//	                   a WARN line naming the word's size, and the rest of the batch is
//	                   written. Without -checkpoint, a batch run again after a crash is
//	                   produced again (at least once)
//	-duration DURATION stop gracefully after this long; 0 runs until SIGINT or SIGTERM
//	-checkpoint DIR    checkpoint directory (path or URI): a restarted job resumes where it
//	                   stopped, with its window and totals, and re-runs unfinished batches;
//	                   the socket source then writes received lines to a write-ahead log
//	                   there (a local directory) before they are processed
//	-totals            also keep running totals of every word since the start, printed and,
//	                   with -out, saved under PREFIX-totals
//	-start-timeout D   how long to wait at start for the brokers and topic (kafka), the
//	                   directory's storage (file), the checkpoint and -out locations; a
//	                   dependency still missing then exits with status 3 (default 30s)
//	-max-outage D      fail (exit 1) once a dependency has been unavailable this long while
//	                   running; 0 waits for it, every progress line saying "degraded" and
//	                   why (default 0)
//	-checkpoint-reset  move an existing checkpoint into a discarded-<ms>/ subdirectory of
//	                   -checkpoint and start afresh; without it, a checkpoint that cannot be
//	                   used (another -batch, another format, unreadable) stops the job at start
//	-exactly-once      kafka and demo: run as one of any number of copies of the job in
//	                   -group (see "Scaling out" below); no -checkpoint, -out or socket
//	                   and file sources with it
//	-totals-topic NAME with -exactly-once and -totals: the compacted topic of the running
//	                   totals, key the word, value the total (default <group>-totals)
//	-window-topic NAME with -exactly-once and -window: the compacted topic of the windows'
//	                   counts, key "<window start, UTC, ms> <word>" (default <group>-window)
//	-window-retention D with -exactly-once and -window: how long after a window's end it
//	                   still takes counts; a later count is logged as a dead letter and left
//	                   out, and the window topic keeps records twice window+retention
//	                   (default 1h)
//	-session-timeout D, -rebalance-timeout D
//	                   kafka: the group's timeouts (defaults 45s and 60s); a copy that stops
//	                   answering loses its partitions after the session timeout
//	-max-rate-per-partition N
//	                   kafka: at most N lines per second of batch from each partition
//	                   (Spark's spark.streaming.kafka.maxRatePerPartition; default 0: a
//	                   batch takes the whole backlog)
//	-backpressure      size batches to the rate the job processed recently (Spark's
//	                   spark.streaming.backpressure.enabled)
//	-ui ADDR           serve the streaming status page (charts of every batch's rate and
//	                   delays, the batches, JSON API, /metrics) on ADDR, e.g. :4040
//	                   (loopback only; 0.0.0.0:4040 for every interface); off by default
//	-ui-tls-cert F, -ui-tls-key F
//	                   with -ui: serve it over HTTPS with this certificate and key
//	-ui-linger D       with -ui: after the job failed, keep the status page up this
//	                   long (or until a signal) to see the error there (default 0)
//	-kafka-tls, -kafka-tls-ca FILE, -kafka-tls-cert FILE, -kafka-tls-key FILE, -kafka-tls-server-name NAME
//	                   kafka: TLS with the brokers: the PEM file of the CAs of their
//	                   certificates (default the system's), a client certificate and its
//	                   key, the name their certificates carry (default each broker's host)
//	-kafka-sasl-mechanism NAME, -kafka-sasl-user NAME, -kafka-sasl-password-file FILE
//	                   kafka: SASL with the brokers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or
//	                   GSSAPI; the password is read from the file, else from
//	                   $KAFKA_SASL_PASSWORD (never a flag, which ps shows). Brokers that
//	                   refuse it, or a certificate not trusted, exit with status 3 at
//	                   start, one line saying which brokers and why
//	-krb5-conf FILE, -principal NAME@REALM, -keytab FILE, -krb5-ccache FILE
//	                   kafka: the Kerberos identity of GSSAPI; and for every hdfs:// URI
//	                   (-dir, -out, -checkpoint), logged in once at start (the HDFS user
//	                   is then the principal's short name); without -keytab, a ticket
//	                   cache of kinit, given with -krb5-ccache
//
// # Scaling out
//
// With -exactly-once the job runs as any number of copies with the same
// flags in one consumer group, as a Kafka Streams application does, and
// every count is exact across joins, leaves, crashes and zombies (a copy
// paused past its session timeout):
//
//   - Lines are split into words, counted per batch (and per -slide of
//     the lines' Kafka timestamps with -window), and re-keyed by word
//     through the topic <group>-repartition, which the same job reads
//     back: every word is counted by the copy that owns its partition of
//     that topic.
//   - Each batch is one Kafka transaction: the records it produces (to
//     the repartition topic, -out-topic, the totals and window topics)
//     and the offsets it consumed of the lines and repartition topics
//     commit together, as the group member that owned them (KIP-447), so
//     a read_committed consumer sees every batch once or not at all.
//   - The totals and window counts are tables split like the repartition
//     topic (kafka.Table); their compacted topics are their changelogs: a
//     partition's next owner reads its part of them back before it
//     processes the partition. Restoring costs one read of the partition's
//     changelog; each restore is logged with its entries and duration.
//   - -window counts windows of the lines' timestamps (Kafka Streams'
//     hopping windows: -window long, starting every -slide), not of batch
//     times as without -exactly-once, so that the counts do not depend on
//     which copy read a line when. Per-batch counts (-out-topic) sum to
//     each word's count in the input.
//
// The repartition, totals and window topics are created at start with as
// many partitions as the lines topic. No -checkpoint is needed or
// allowed: the state is in the topics, the position in the group.
// Without -exactly-once, copies of the job in one group count every line
// at least once, each copy its own totals and windows.
//
// A one-line progress summary per batch goes to standard error: records,
// input rate, scheduling delay, processing time and total delay, then "ok",
// "degraded: <what>: <why>" when a dependency is away (the batch ran, but
// may be empty because of it) or "FAILED: <error>".
//
// Exit statuses and signals are those of every example (see
// package runner): 0 done, 1 failed, 2 bad flags, 3 could not start;
// SIGINT or SIGTERM stops within 5 s, a second one at once.
//
// Every example also takes -h (the flags, exit 0), -version (the build's
// version, exit 0), -log-format text|json and -log-level
// debug|info|warn|error (see package runner).
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/microbatch-go/microbatch/dstream"
	progresspkg "github.com/microbatch-go/microbatch/examples/internal/progress"
	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	"github.com/microbatch-go/microbatch/runner"
	kafkasink "github.com/microbatch-go/microbatch/sinks/kafka"
	"github.com/microbatch-go/microbatch/sources/file"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/sources/socket"
	"github.com/microbatch-go/microbatch/storage"
	_ "github.com/microbatch-go/microbatch/storage/hdfs" // hdfs:// in -dir, -out and -checkpoint
	"github.com/microbatch-go/microbatch/ui"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() { runner.Main("wordcount", run) }

// options are the command's flags.
type options struct {
	source, addr, dir, brokers, topic, group string
	instance                                 string
	batch, window, slide, duration           time.Duration
	run                                      runner.RunFlags
	rate, top                                int
	out, outTopic, checkpoint                string
	totals, ack                              bool
	ui                                       string
	exactlyOnce                              bool
	totalsTopic, windowTopic                 string
	retention                                time.Duration
	groupFlags                               scaleout.Flags
	sec                                      scaleout.Security // -kafka-tls*, -kafka-sasl-*, -krb5-conf, -principal, -keytab, -krb5-ccache
	kafkaClient                              []kgo.Opt         // sec's, for every Kafka client
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	fs.StringVar(&o.source, "source", "demo", "demo, socket, file or kafka")
	fs.StringVar(&o.addr, "addr", "localhost:9999", "socket: the server to read lines from")
	fs.BoolVar(&o.ack, "ack", false, "socket: acknowledge stored lines to the server (\"ack N\" lines)")
	fs.StringVar(&o.dir, "dir", "", "file: the directory to watch for new files")
	fs.StringVar(&o.brokers, "brokers", "127.0.0.1:9092", "kafka: comma-separated seed brokers")
	fs.StringVar(&o.topic, "topic", "words", "kafka and demo: the topic")
	fs.StringVar(&o.group, "group", "wordcount", "kafka: the consumer group")
	fs.StringVar(&o.instance, "instance", "", "kafka: a static group member id, so a restarted job takes its partitions back at once")
	fs.DurationVar(&o.batch, "batch", time.Second, "batch interval")
	fs.DurationVar(&o.window, "window", 0, "window length; 0 counts each batch alone")
	fs.DurationVar(&o.slide, "slide", 0, "window slide; 0 means the batch interval")
	fs.IntVar(&o.rate, "rate", 5000, "demo: lines per second the generator produces")
	fs.IntVar(&o.top, "top", 10, "words printed per batch")
	fs.StringVar(&o.out, "out", "", "also save each batch's counts under this prefix")
	fs.StringVar(&o.outTopic, "out-topic", "", "kafka and demo: also produce each batch's counts to this topic, key the word, value the count")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint directory: resume from it after a stop or crash")
	fs.BoolVar(&o.totals, "totals", false, "also keep running totals since the start, printed and saved under PREFIX-totals")
	fs.DurationVar(&o.duration, "duration", 0, "stop gracefully after this long; 0 runs until interrupted")
	fs.StringVar(&o.ui, "ui", "", "serve the streaming status page on this address, e.g. :4040 (loopback only; 0.0.0.0:4040 for every interface; default off)")
	fs.BoolVar(&o.exactlyOnce, "exactly-once", false, "kafka and demo: run as one of any number of copies in -group, every count exactly once (see the package doc)")
	fs.StringVar(&o.totalsTopic, "totals-topic", "", "with -exactly-once and -totals: the compacted topic of the totals (default <group>-totals)")
	fs.StringVar(&o.windowTopic, "window-topic", "", "with -exactly-once and -window: the compacted topic of the windows' counts (default <group>-window)")
	fs.DurationVar(&o.retention, "window-retention", time.Hour, "with -exactly-once and -window: how long after its end a window still takes late counts")
	o.groupFlags.RegisterGroup(fs)
	o.sec.Register(fs)
	o.run.Register(fs)
	if err := runner.Parse(fs, args, stderr); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, runner.Usagef("unexpected arguments %v", fs.Args())
	case o.rate < 1:
		return o, runner.Usagef("-rate must be at least 1")
	case o.top < 0:
		return o, runner.Usagef("-top must not be negative")
	case o.source == "file" && o.dir == "":
		return o, runner.Usagef("-source file needs -dir")
	case o.outTopic != "" && o.source != "kafka" && o.source != "demo":
		return o, runner.Usagef("-out-topic needs -source kafka or demo, whose brokers it writes to")
	case o.source == "demo" && o.checkpoint != "":
		return o, runner.Usagef("-checkpoint does not work with the demo source, whose in-process broker starts empty on every run: use -source kafka with examples/devkafka")
	case o.source != "demo" && o.source != "socket" && o.source != "file" && o.source != "kafka":
		return o, runner.Usagef("-source %q: want demo, socket, file or kafka", o.source)
	case o.window < 0 || o.slide < 0:
		return o, runner.Usagef("-window and -slide must not be negative")
	case o.exactlyOnce && o.source != "kafka" && o.source != "demo":
		return o, runner.Usagef("-exactly-once needs -source kafka or demo: its state and outputs are Kafka topics")
	case o.exactlyOnce && o.checkpoint != "":
		return o, runner.Usagef("-exactly-once keeps its state in Kafka changelog topics and its position in the group: drop -checkpoint")
	case o.exactlyOnce && o.out != "":
		return o, runner.Usagef("-exactly-once writes Kafka topics only: use -out-topic instead of -out")
	case o.exactlyOnce && o.window > 0 && o.slide > 0 && o.window%o.slide != 0:
		return o, runner.Usagef("-window %v is not a multiple of -slide %v", o.window, o.slide)
	case o.exactlyOnce && o.window > 0 && o.window%o.batch != 0 && o.slide == 0:
		return o, runner.Usagef("-window %v is not a multiple of -batch %v, the default slide", o.window, o.batch)
	case o.retention < 0:
		return o, runner.Usagef("-window-retention must not be negative")
	case (o.totalsTopic != "" || o.windowTopic != "") && !o.exactlyOnce:
		return o, runner.Usagef("-totals-topic and -window-topic need -exactly-once")
	case o.sec.KafkaSecured() && o.source != "kafka":
		return o, runner.Usagef("-kafka-tls and -kafka-sasl-* need -source kafka (the demo's in-process broker takes plaintext only)")
	}
	if err := o.groupFlags.Check(); err != nil {
		return o, runner.Usage(err)
	}
	if err := o.run.Check(); err != nil {
		return o, err
	}
	kc, err := o.sec.KafkaOptions()
	if err != nil {
		return o, runner.Usage(err)
	}
	o.kafkaClient = kc
	return o, nil
}

// run runs the job until ctx is done or -duration has passed, printing
// counts to stdout and progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	// One login, one Opener for every storage URI of the job.
	opener, krb, err := o.sec.Storage()
	if err != nil {
		return err
	}
	if krb != nil {
		defer krb.Destroy()
	}
	logger := runner.Logger(stderr)
	opts := append([]dstream.Option{dstream.WithLogger(logger), dstream.WithListener(progress{w: stderr, interval: o.batch}),
		dstream.WithStorage(opener)}, o.run.Options()...)
	opts = append(opts, o.groupFlags.ContextOptions()...)
	var status *ui.Server
	if o.ui != "" {
		status, err = o.run.NewStatus(o.batch, "wordcount", logger)
		if err != nil {
			return err
		}
		opts = append(opts, dstream.WithListener(status)) // registered before the context starts
	}
	if o.checkpoint != "" {
		opts = append(opts, dstream.WithCheckpoint(o.checkpoint))
		if o.source == "socket" {
			// A socket cannot replay: received lines go to a log first.
			opts = append(opts, dstream.WithWriteAheadLog())
		}
	} else {
		opts = append(opts, dstream.WithInMemoryState()) // windows and totals start afresh on every run
	}
	ssc, err := dstream.NewContext(o.batch, opts...)
	if err != nil {
		return err
	}

	var lines *dstream.Stream[string]
	var brokers []string // of the kafka and demo sources
	switch o.source {
	case "socket":
		var sopts []socket.Option
		if o.ack {
			sopts = append(sopts, socket.Acknowledge())
		}
		lines = socket.TextStream(ssc, o.addr, sopts...)
	case "file":
		lines = file.TextStream(ssc, o.dir, file.WithStorage(opener))
	case "kafka", "demo":
		brokers = strings.Split(o.brokers, ",")
		if o.source == "demo" {
			addr, stop, err := startDemo(o.topic, o.outTopic, o.rate)
			if err != nil {
				return err
			}
			defer stop()
			brokers = []string{addr}
			fmt.Fprintf(stderr, "demo: in-process Kafka broker at %s, topic %q, %d lines/s\n", addr, o.topic, o.rate)
		}
		if o.exactlyOnce {
			if err := exactlyOnce(ctx, ssc, o, brokers, stdout, stderr); err != nil {
				return err
			}
			return o.job(ssc, status, stderr).Run(ctx)
		}
		kopts := append([]kafka.Option{kafka.Brokers(brokers...), kafka.Group(o.group), kafka.ClientOptions(o.kafkaClient...)}, o.groupFlags.GroupOptions()...)
		if o.instance != "" {
			kopts = append(kopts, kafka.InstanceID(o.instance))
		}
		ks := kafka.NewDirectStream(ssc, kafka.Subscribe(o.topic), kopts...)
		lines = dstream.Map(ks.Stream(), func(r kafka.Record) string { return string(r.Value) })
	}

	words := dstream.FlatMap(lines, strings.Fields)
	pairs := dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
	add := func(a, b int) int { return a + b }
	batchCounts := dstream.ReduceByKey(pairs, add)
	counts := batchCounts // what is printed: per batch, or the window
	if o.window > 0 {
		counts = dstream.ReduceByKeyAndWindow(pairs, add, func(a, b int) int { return a - b }, o.window, o.slide).WithStateFilter(func(p dstream.Pair[string, int]) bool { return p.Value != 0 }).Named("windowCounts")
		if o.out != "" {
			if err := saveCounts(counts, o.out+"-window"); err != nil {
				return err
			}
		}
	}
	if o.totals {
		totals := dstream.UpdateStateByKey(batchCounts, func(vs []int, total *int) (int, bool) {
			n := 0
			if total != nil {
				n = *total
			}
			for _, v := range vs {
				n += v
			}
			return n, true
		}).Named("totals")
		if err := mostFrequent(totals).Fprint(stdout, o.top); err != nil {
			return err
		}
		if o.out != "" {
			if err := saveCounts(totals, o.out+"-totals"); err != nil {
				return err
			}
		}
	}
	if err := mostFrequent(counts).Fprint(stdout, o.top); err != nil {
		return err
	}
	if o.out != "" {
		if err := saveCounts(batchCounts, o.out); err != nil {
			return err
		}
	}
	if o.outTopic != "" {
		if err := produceCounts(batchCounts, o.outTopic, brokers, o.kafkaClient, logger); err != nil {
			return err
		}
	}
	if ok, done := ssc.Recovered(); ok {
		fmt.Fprintf(stderr, "wordcount: resuming from the checkpoint in %s after the batch of %s\n", storage.Redact(o.checkpoint), done.Format("15:04:05.000"))
	}

	return o.job(ssc, status, stderr).Run(ctx)
}

// job is the run of ssc the flags ask for.
func (o options) job(ssc *dstream.Context, status *ui.Server, stderr io.Writer) runner.Job {
	return runner.Job{Context: ssc, Status: status, Addr: o.ui, Duration: o.duration, Linger: o.run.UILinger,
		OnURL: func(url string) { fmt.Fprintf(stderr, "wordcount: status page at %s\n", url) }}
}

// saveCounts saves every batch of counts as "word<TAB>count" lines under
// prefix-<batch ms>; a batch run again after a restart replaces its files.
func saveCounts(counts *dstream.Stream[dstream.Pair[string, int]], prefix string) error {
	lines := dstream.Map(counts, func(p dstream.Pair[string, int]) string { return fmt.Sprintf("%s\t%d", p.Key, p.Value) })
	return lines.SaveAsTextFiles(prefix, "")
}

// produceCounts produces every batch's counts to topic, one record per
// word, keyed by the word. A count whose record is too large for the
// topic is logged and skipped, so that one hostile word does not stop the
// job.
func produceCounts(counts *dstream.Stream[dstream.Pair[string, int]], topic string, brokers []string, client []kgo.Opt, log *slog.Logger) error {
	out, err := kafkasink.New(topic,
		kafkasink.Encode(func(p dstream.Pair[string, int]) ([]byte, error) {
			return strconv.AppendInt(nil, int64(p.Value), 10), nil
		}).WithKey(func(p dstream.Pair[string, int]) []byte { return []byte(p.Key) }),
		kafkasink.Brokers(brokers...), kafkasink.ClientOptions(client...), kafkasink.Logger(counts.Context().Logger()))
	if err != nil {
		return err
	}
	return counts.WriteTo(out, dstream.WriteSpec[dstream.Pair[string, int]]{
		DeadLetter: func(p dstream.Pair[string, int], err error) {
			log.Warn("wordcount: dead letter: a count not produced", "topic", topic,
				"word_bytes", len(p.Key), "word_prefix", prefix(p.Key, 32), "count", p.Value, "err", err)
		},
	})
}

// prefix returns at most n bytes of s, cut at a rune boundary.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// mostFrequent sorts each batch's counts by count, then word.
func mostFrequent(counts *dstream.Stream[dstream.Pair[string, int]]) *dstream.Stream[dstream.Pair[string, int]] {
	return dstream.Transform(counts, func(b *dstream.Batch[dstream.Pair[string, int]]) (*dstream.Batch[dstream.Pair[string, int]], error) {
		all := b.Collect()
		slices.SortFunc(all, func(x, y dstream.Pair[string, int]) int {
			return cmp.Or(cmp.Compare(y.Value, x.Value), cmp.Compare(x.Key, y.Key))
		})
		return &dstream.Batch[dstream.Pair[string, int]]{Partitions: [][]dstream.Pair[string, int]{all}}, nil
	})
}

// progress prints one line per completed batch.
type progress struct {
	w        io.Writer
	interval time.Duration
}

func (p progress) OnBatchCompleted(b dstream.BatchInfo) {
	status := progresspkg.Status(b)
	rate := float64(b.NumRecords()) / p.interval.Seconds()
	fmt.Fprintf(p.w, "batch %s records=%d rate=%.0f/s scheduling=%v processing=%v total=%v %s\n",
		b.BatchTime.Format("15:04:05.000"), b.NumRecords(), rate,
		b.SchedulingDelay().Round(time.Microsecond), b.ProcessingDelay().Round(time.Microsecond),
		b.TotalDelay().Round(time.Microsecond), status)
}

// startDemo starts an in-process Kafka-protocol broker on a loopback port
// with the topic (and outTopic, when not ""), and a generator producing lines of 12 words drawn from a
// Zipf distribution over a fixed vocabulary at linesPerSecond. stop ends
// both.
func startDemo(topic, outTopic string, linesPerSecond int) (addr string, stop func(), err error) {
	topics := []string{topic}
	if outTopic != "" && outTopic != topic {
		topics = append(topics, outTopic)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topics...))
	if err != nil {
		return "", nil, fmt.Errorf("demo broker: %w", err)
	}
	addr = cluster.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		cluster.Close()
		return "", nil, fmt.Errorf("demo producer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		generate(ctx, cl, linesPerSecond)
	}()
	return addr, func() {
		cancel()
		<-done
		cl.Close()
		cluster.Close()
	}, nil
}

// generate produces lines to the client's default topic until ctx ends.
func generate(ctx context.Context, cl *kgo.Client, linesPerSecond int) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocabulary)-1))
	// Every 2 ms, the lines due by then: a steady flow even at 10 ms
	// batches (a burst every 50 ms left four batches in five empty).
	ticker := time.NewTicker(2 * time.Millisecond)
	defer ticker.Stop()
	start, sent := time.Now(), 0
	var sb strings.Builder
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		due := int(time.Since(start).Seconds() * float64(linesPerSecond))
		for ; sent < due; sent++ {
			sb.Reset()
			for j := range 12 {
				if j > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(vocabulary[zipf.Uint64()])
			}
			cl.Produce(ctx, &kgo.Record{Value: []byte(sb.String())}, nil)
		}
	}
}

var vocabulary = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when if so
no will more can who out about up them some could what into than time only other its new also two may
then do first any like now my such make over our even most me state after much because where well way
many should just must these those through long great little own good each under people see old same
year world day work life part stream batch window state key value count word spark kafka parquet hdfs
kudu avro flow event record offset partition checkpoint receiver output input engine core merge reduce`)
