// Command spot-listener is Apache Spot's streaming listener on the dstream
// engine: it reads the chunks that the collector (examples/spot-collector)
// publishes to Kafka, parses every line into a row of Spot's flow, dns or
// proxy table, and writes the rows as Parquet in the Hive layout of those
// tables, batch after batch. Spot's original is a Spark Streaming job
// (spot-ingest/common/listener.py) that inserts into the Hive tables.
//
//	go run ./examples/devkafka -topics spot-flow:4 &
//	go run ./examples/spot-listener -type flow -brokers 127.0.0.1:9092 -out /data/spot/flow/hive
//	go run ./examples/spot-listener -type proxy -out hdfs://namenode:8020/user/spot/proxy/hive \
//		-checkpoint hdfs://namenode:8020/user/spot/checkpoints/proxy -dead-letter /var/spot/dead/proxy
//	go run ./examples/spot-listener -type dns -print-ddl -out hdfs://namenode:8020/user/spot/dns/hive
//
// Flags:
//
//	-type TYPE          flow, dns or proxy (required)
//	-brokers LIST       comma-separated seed brokers (default 127.0.0.1:9092)
//	-topic NAME         the topic the collector publishes to (default spot-<type>)
//	-group ID           the consumer group (default spot-listener-<type>)
//	-instance ID        a static group member id (KIP-345), so that a restarted
//	                    listener takes its partitions back at once instead of
//	                    waiting for the group to drop its old member
//	-batch DURATION     batch interval (default 30s, Spot's spark_batch_size)
//	-out URI            the table's directory: a path, file:// or hdfs:// URI
//	                    (required unless -print-ddl)
//	-checkpoint URI     checkpoint directory: Kafka offsets are kept there, and a
//	                    restarted listener resumes exactly where it stopped
//	-dead-letter URI    write the inputs that do not parse there as JSON lines,
//	                    instead of logging them
//	-rotate-bytes N, -rotate-interval D, -rotate-rows N
//	                    commit a Kafka partition's Parquet files once they are
//	                    about N bytes (default 64 MiB) or D old (default 10m),
//	                    or hold N rows (default 0: no limit); all three 0
//	                    commits at every batch (see Delivery)
//	-session-timeout D, -rebalance-timeout D
//	                    the consumer group's timeouts (default 45s and 60s)
//	-max-rate-per-partition N
//	                    at most N lines per second of batch from each Kafka partition
//	                    (Spark's spark.streaming.kafka.maxRatePerPartition; default 0:
//	                    a batch takes the whole backlog)
//	-backpressure       size batches to the rate the job processed recently (Spark's
//	                    spark.streaming.backpressure.enabled)
//	-duration DURATION  stop gracefully after this long; 0 runs until SIGINT or
//	                    SIGTERM (default 0)
//	-db NAME            the Hive database, for -print-ddl (default spot)
//	-print-ddl          print the CREATE EXTERNAL TABLE statement of -type, with
//	                    LOCATION -out (default /user/spot/<type>/hive), and exit
//	-ui ADDR            serve the streaming status page (charts of every batch's
//	                    rate and delays, the batches, JSON API, /metrics) on ADDR,
//	                    e.g. :4040 (loopback only; 0.0.0.0:4040 for every
//	                    interface); off by default
//	-ui-tls-cert F, -ui-tls-key F
//	                    with -ui: serve it over HTTPS with this certificate and key
//	-ui-linger D        with -ui: after the job failed, keep the status page up this
//	                    long (or until a signal) to see the error there (default 0)
//	-start-timeout D    how long to wait at start for the brokers, topic, -out,
//	                    -dead-letter and checkpoint (default 30s)
//	-max-outage D       fail once a dependency has been away this long while
//	                    running; 0 waits, the progress lines saying "degraded"
//	                    and why (default 0)
//	-checkpoint-reset   move an existing checkpoint into a discarded-<ms>/ subdirectory of
//	                    -checkpoint and start afresh; without it, a checkpoint that cannot be
//	                    used (another -batch, another format, unreadable) stops the job at start
//	-kafka-tls, -kafka-tls-ca FILE, -kafka-tls-cert FILE, -kafka-tls-key FILE, -kafka-tls-server-name NAME
//	                    TLS with the brokers: the PEM file of the CAs of their certificates
//	                    (default the system's), a client certificate and its key, the name
//	                    their certificates carry (default each broker's host)
//	-kafka-sasl-mechanism NAME, -kafka-sasl-user NAME, -kafka-sasl-password-file FILE
//	                    SASL with the brokers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI;
//	                    the password is read from the file, else from $KAFKA_SASL_PASSWORD
//	                    (never a flag, which ps shows)
//	-krb5-conf FILE, -principal NAME@REALM, -keytab FILE, -krb5-ccache FILE
//	                    the Kerberos identity of GSSAPI and of every hdfs:// URI (-out,
//	                    -dead-letter, -checkpoint; the HDFS user is then the principal's
//	                    short name); without -keytab, a ticket cache of kinit
//
// As Spot's ingest does, the environment variable KRB_AUTH turns Kerberos
// on: the listener logs in as $KRB_USER with the keytab $KEYTABPATH (in
// the process: KINITPATH and KINITOPTS are not needed) and authenticates
// to the brokers with SASL GSSAPI; -principal, -keytab, -krb5-ccache and
// -kafka-sasl-mechanism win over the environment. The listener logs in
// once at start and opens all its hdfs:// URIs with that identity.
//
// A usage error exits with status 2, a dependency missing at start (or a
// checkpoint in use or unusable; brokers that refuse the password or whose
// certificate is not trusted; a Kerberos identity that cannot log in, or
// a Kerberized NameNode given none) with status 3, a failure with status 1.
// SIGINT or SIGTERM stops the listener gracefully: the batch that runs is
// finished (and its offsets committed) if that takes less than a few
// seconds, and the process exits within 5 s in any case; a second signal
// exits at once.
//
// # Input
//
// Every Kafka message is one chunk: a raw Avro datum of Spot's schema
// (namespace SPOT.INGEST, record list.avsc, one field list: array of
// strings), without container header, schema-registry prefix or key. Each
// item is one line of nfdump's CSV (flow), of tshark's field output (dns)
// or of a Bluecoat access log (proxy); see package
// examples/internal/spot for the formats.
//
// # Output
//
// The rows are written with the Parquet sink (sinks/parquet),
// Snappy-compressed, in Hive partitions of the hour, a file per Kafka
// partition and rotation (see Delivery):
//
//	<out>/y=2016/m=8/d=17/h=10/part-<topic>-<partition>-<first offset>-<last offset>-<n>.parquet   (flow, dns)
//	<out>/y=2016/m=08/d=17/h=10/part-<topic>-<partition>-<first offset>-<last offset>-<n>.parquet  (proxy)
//
// The columns are those of Spot's tables, in their order, and the y, m,
// d, h columns are in the paths only, so -print-ddl's statement declares
// the directory as Spot's table; after new partitions appear, Hive finds
// them with MSCK REPAIR TABLE <db>.<type> (Impala: ALTER TABLE ... RECOVER
// PARTITIONS). The sink's staging directory, <out>/_temporary, is skipped
// by Hive.
//
// # Dead letters
//
// A line that does not parse, or a message that is not a valid chunk,
// does not stop the listener and is never dropped in silence: it becomes
// a dead letter, counted in the progress line. With -dead-letter URI the
// dead letters of each Kafka message are written to
//
//	<URI>/<topic>-<partition, 5 digits>/dead-<offset, 10 digits>.jsonl
//
// one JSON object per line,
//
//	{"topic":"spot-flow","partition":0,"offset":17,"index":3,"reason":"flow: column dport: \"x\": not a number","line":"2016-08-17 ..."}
//	{"topic":"spot-flow","partition":1,"offset":4,"reason":"spot: not an Avro chunk: ...","value_base64":"aGVsbG8="}
//
// where index is the line's position in its chunk; only messages with
// dead letters have a file. Without -dead-letter each dead letter is
// logged as a warning with the same fields.
//
// # Progress
//
// One line per batch on standard error:
//
//	batch 10:58:30.000 records=12 lines=9000 rows=8998 dead=2 processing=412ms ok
//
// records are the Kafka messages, lines the lines of the chunks among
// them; every line is a row or a dead letter, and so is every message
// that is not a chunk.
//
// # Delivery
//
// Exactly once, with or without -checkpoint, and with N copies of the
// listener in one group (same flags, same -out): the Parquet files are
// written by source range and roll over batches (-rotate-bytes 64 MiB,
// -rotate-interval 10 minutes, -rotate-rows; all three 0: every batch),
// named part-<topic>-<partition>-<first offset>-<last offset>-<n>.parquet
// in each y/m/d/h directory, and they are the record of what was written:
// each Kafka partition resumes where its committed files end, whichever
// copy wrote them (parquetsink.Rotate with kafka.ResumeFrom). A crash loses
// only the files not yet committed, whose lines the partition's next owner
// reads again. Dead letters are JSON lines, a file per Kafka message
// (<dead-letter>/<topic>-<partition>/dead-<offset>.jsonl), so one written
// again replaces itself. Offsets are also committed to the group, for
// monitoring. See "Scaling out" in the README.
//
// A batch whose output cannot be written (a full disk, HDFS away) stops
// the listener with status 1, and a restarted listener reads the
// uncommitted lines again.
//
// Spot's listener reads with the receiver-based Kafka API and
// ZooKeeper-committed offsets, so a crash loses or repeats a batch.
//
// Every example also takes -h (the flags, exit 0), -version (the build's
// version, exit 0), -log-format text|json and -log-level
// debug|info|warn|error (see package runner).
package main

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/examples/internal/progress"
	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/runner"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/storage"
	_ "github.com/microbatch-go/microbatch/storage/hdfs" // hdfs:// URIs for -out, -checkpoint and -dead-letter
	"github.com/microbatch-go/microbatch/ui"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() { runner.Main("spot-listener", run) }

func usagef(format string, args ...any) error {
	return runner.Usagef(format, args...)
}

// listen builds the listener's job on ssc: the table's Parquet sink, the
// direct stream resuming each partition where the sink's committed files
// end (see "Scaling out" in the README), and the pipeline.
func listen[R any](ssc *dstream.Context, table spot.Table[R], o options, kopts []kafka.Option, cfg pipelineConfig, prog *progress.Reporter[counts]) error {
	sink, err := newTableSink(table, cfg)
	if err != nil {
		return err
	}
	ds := kafka.NewDirectStream(ssc, kafka.Subscribe(o.topic), append(kopts, o.scale.KafkaOptions(sink)...)...)
	return buildPipeline(ds.Stream(), table, sink, cfg, prog)
}

// options are the command's flags.
type options struct {
	run                             runner.RunFlags // -start-timeout, -max-outage
	typ                             spot.Type
	brokers                         []string
	topic, group, instance          string
	batch, duration                 time.Duration
	out, checkpoint, deadLetter, db string
	printDDL                        bool
	ui                              string
	scale                           scaleout.Flags    // -rotate-*, -session-timeout, -rebalance-timeout
	sec                             scaleout.Security // -kafka-tls*, -kafka-sasl-*, -krb5-conf, -principal, -keytab, -krb5-ccache; KRB_AUTH
	kafkaClient                     []kgo.Opt         // sec's, for the Kafka client
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var typ, brokers string
	fs := flag.NewFlagSet("spot-listener", flag.ContinueOnError)
	fs.StringVar(&typ, "type", "", "flow, dns or proxy (required)")
	fs.StringVar(&brokers, "brokers", "127.0.0.1:9092", "comma-separated seed brokers")
	fs.StringVar(&o.topic, "topic", "", "the topic (default spot-<type>)")
	fs.StringVar(&o.group, "group", "", "the consumer group (default spot-listener-<type>)")
	fs.StringVar(&o.instance, "instance", "", "a static group member id, so a restarted listener takes its partitions back at once")
	fs.DurationVar(&o.batch, "batch", 30*time.Second, "batch interval")
	fs.StringVar(&o.out, "out", "", "the table's directory, a path or URI (required unless -print-ddl)")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint directory: offsets are kept there, and a restart resumes exactly where it stopped")
	fs.StringVar(&o.deadLetter, "dead-letter", "", "write inputs that do not parse there as JSON lines, instead of logging them")
	fs.DurationVar(&o.duration, "duration", 0, "stop gracefully after this long; 0 runs until interrupted")
	fs.StringVar(&o.db, "db", "spot", "the Hive database, for -print-ddl")
	fs.BoolVar(&o.printDDL, "print-ddl", false, "print the CREATE EXTERNAL TABLE statement of -type and exit")
	fs.StringVar(&o.ui, "ui", "", "serve the streaming status page on this address, e.g. :4040 (loopback only; 0.0.0.0:4040 for every interface; default off)")
	o.scale.Register(fs)
	o.sec.Register(fs)
	o.run.Register(fs)
	if err := runner.Parse(fs, args, stderr); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected arguments %v", fs.Args())
	}
	if typ == "" {
		return o, usagef("-type is required: flow, dns or proxy")
	}
	if err := o.scale.Check(); err != nil {
		return o, runner.Usage(err)
	}
	t, err := spot.ParseType(typ)
	if err != nil {
		return o, usagef("-type: %v", err)
	}
	o.typ = t
	if o.printDDL {
		return o, nil
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	switch {
	case len(o.brokers) == 0:
		return o, usagef("-brokers is empty")
	case o.out == "":
		return o, usagef("-out is required (the table's directory)")
	case o.batch <= 0 || o.batch%time.Millisecond != 0:
		return o, usagef("-batch %v: want a positive whole number of milliseconds", o.batch)
	case o.duration < 0:
		return o, usagef("-duration %v is negative", o.duration)
	}
	if err := o.run.Check(); err != nil {
		return o, err
	}
	if o.topic == "" {
		o.topic = "spot-" + string(t)
	}
	if o.group == "" {
		o.group = "spot-listener-" + string(t)
	}
	if err := o.sec.SpotEnv(os.Getenv); err != nil {
		return o, runner.Usage(err)
	}
	if o.kafkaClient, err = o.sec.KafkaOptions(); err != nil {
		return o, runner.Usage(err)
	}
	return o, nil
}

// run runs the listener until ctx is done or -duration has passed, with
// progress and log messages on stderr; -print-ddl writes to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.printDDL {
		loc := o.out
		if loc == "" {
			loc = "/user/spot/" + string(o.typ) + "/hive"
		}
		ddl, err := spot.DDL(o.typ, o.db, loc)
		if err != nil {
			return runner.Usage(err)
		}
		_, err = io.WriteString(stdout, ddl)
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
	prog := newReporter(stderr)
	opts := append([]dstream.Option{dstream.WithLogger(logger), dstream.WithListener(prog), dstream.WithStorage(opener)}, o.run.Options()...)
	opts = append(opts, o.scale.ContextOptions()...)
	if o.checkpoint != "" {
		opts = append(opts, dstream.WithCheckpoint(o.checkpoint))
	}
	var status *ui.Server
	if o.ui != "" {
		if status, err = o.run.NewStatus(o.batch, "spot-listener "+string(o.typ), logger); err != nil {
			return err
		}
		opts = append(opts, dstream.WithListener(status)) // registered before the context starts
	}
	ssc, err := dstream.NewContext(o.batch, opts...)
	if err != nil {
		return err
	}
	kopts := []kafka.Option{kafka.Brokers(o.brokers...), kafka.Group(o.group), kafka.ClientOptions(o.kafkaClient...)}
	if o.instance != "" {
		kopts = append(kopts, kafka.InstanceID(o.instance))
	}
	cfg := pipelineConfig{out: o.out, deadLetter: o.deadLetter, logger: logger,
		parquet: append(o.scale.ParquetOptions(), parquetsink.Storage(opener)), storage: opener}
	switch o.typ {
	case spot.Flow:
		err = listen(ssc, spot.FlowTable, o, kopts, cfg, prog)
	case spot.DNS:
		err = listen(ssc, spot.DNSTable, o, kopts, cfg, prog)
	case spot.Proxy:
		err = listen(ssc, spot.ProxyTable, o, kopts, cfg, prog)
	}
	if err != nil {
		return err
	}
	if ok, done := ssc.Recovered(); ok {
		logger.Info("resuming from the checkpoint", "checkpoint", storage.Redact(o.checkpoint), "last_batch", done.Format("15:04:05.000"))
	}
	logger.Info("listening", "type", o.typ, "topic", o.topic, "group", o.group, "brokers", strings.Join(o.brokers, ","),
		"kafka_security", o.sec.Kafka.String(), "batch", o.batch, "out", o.out)
	err = runner.Job{Context: ssc, Status: status, Addr: o.ui, Duration: o.duration, Linger: o.run.UILinger,
		OnURL: func(url string) { logger.Info("status page", "url", url) }}.Run(ctx)
	t := prog.Total()
	logger.Info("stopped", "batches", t.Batches, "records", t.Records, "lines", t.Counts.lines, "rows", t.Counts.rows, "dead", t.Counts.dead)
	return err
}
