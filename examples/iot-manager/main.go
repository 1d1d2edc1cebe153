// Command iot-manager is the DAF IoT Ingestion Manager on the dstream
// engine: it reads IoT events (raw Avro datums of the Event schema) from
// a Kafka topic in batches, writes every event as Parquet in source/day
// Hive partitions on local disk or HDFS, and upserts the metrics and
// changes of state into a Kudu table. The original is a Spark Streaming
// job (italia/daf, iot_ingestion_manager, IotIngestionManager.scala).
//
//	go run ./examples/iot-manager -demo -duration 20s
//	go run ./examples/devkafka -topics daf-iot-events:12 &
//	go run ./examples/iot-manager -brokers 127.0.0.1:9092 -hdfs-out /data/iot/events \
//		-kudu-masters kudu1:7051,kudu2:7051 -dead-letter /data/iot/dead -checkpoint /data/iot/ckpt
//	go run ./examples/iot-manager -config application.conf -checkpoint hdfs://nn:8020/iot/ckpt
//
// -demo runs everything in the process: a Kafka-protocol broker (kfake)
// fed by a generator of Torino traffic, parking, lamp and traffic-news
// events (a few of them invalid, a few messages not Avro at all), the
// in-process Kudu test server unless -kudu-masters is given, and output to
// a new temporary directory unless -hdfs-out is given. It prints where the
// output is.
//
// Flags:
//
//	-brokers LIST          comma-separated seed brokers (default 127.0.0.1:9092)
//	-topic NAME            the topic (default daf-iot-events)
//	-group ID              the consumer group (default daf-iot-manager)
//	-instance ID           a static group member id (KIP-345), so that a restarted
//	                       manager takes its partitions back at once
//	-batch DURATION        batch interval (default 10s, the original's)
//	-hdfs-out URI          the Parquet directory: a path, file:// or hdfs:// URI
//	                       (required unless -demo)
//	-kudu-masters LIST     comma-separated Kudu masters, host:port; without it the
//	                       Kudu path is off
//	-kudu-table NAME       the Kudu table (default Events)
//	-kudu-buckets N        hash buckets on source of a table the manager creates
//	                       (default 8)
//	-dead-letter URI       write dead letters there as JSON lines, instead of
//	                       logging them
//	-checkpoint URI        checkpoint directory: Kafka offsets are kept there, and a
//	                       restarted manager resumes exactly where it stopped
//	-rotate-bytes N, -rotate-interval D, -rotate-rows N
//	                       commit a Kafka partition's Parquet files once they are
//	                       about N bytes (default 64 MiB) or D old (default 10m,
//	                       10s with -demo), or hold N rows (default 0: no limit);
//	                       all three 0 commits at every batch
//	-session-timeout D, -rebalance-timeout D
//	                       the consumer group's timeouts (default 45s and 60s)
//	-max-rate-per-partition N
//	                       at most N events per second of batch from each Kafka
//	                       partition (Spark's spark.streaming.kafka.maxRatePerPartition);
//	                       bounded batches let a rebalance move partitions promptly
//	                       under a backlog (default 0: a batch takes the whole backlog)
//	-backpressure          size batches to the rate the job processed recently, within
//	                       -max-rate-per-partition (Spark's spark.streaming.backpressure.enabled)
//	-max-message-bytes N   larger messages are dead letters, not decoded
//	                       (default 1048576)
//	-duration DURATION     stop gracefully after this long; 0 runs until SIGINT or
//	                       SIGTERM (default 0)
//	-config FILE           read settings from the original's application.conf
//	                       (below); flags given on the command line win
//	-demo                  run the demo described above, with 2 s batches unless
//	                       -batch is given
//	-rate N                -demo: events per second the generator produces
//	                       (default 50)
//	-ui ADDR               serve the streaming status page (charts of every batch's
//	                       rate and delays, the batches, JSON API, /metrics) on
//	                       ADDR, e.g. :4040 (loopback only; 0.0.0.0:4040 for every
//	                       interface); off by default
//	-ui-tls-cert F, -ui-tls-key F
//	                       with -ui: serve it over HTTPS with this certificate and key
//	-ui-linger D           with -ui: after the job failed, keep the status page up this
//	                       long (or until a signal) to see the error there (default 0)
//	-start-timeout D       how long to wait at start for the brokers, topic, Parquet
//	                       directory, Kudu masters and checkpoint (default 30s)
//	-max-outage D          fail once a dependency has been away this long while
//	                       running; 0 waits, the progress lines saying "degraded"
//	                       and why (default 0)
//	-checkpoint-reset      move an existing checkpoint into a discarded-<ms>/ subdirectory of
//	                       -checkpoint and start afresh; without it, a checkpoint that cannot be
//	                       used (another -batch, another format, unreadable) stops the job at start
//	-kafka-tls, -kafka-tls-ca FILE, -kafka-tls-cert FILE, -kafka-tls-key FILE, -kafka-tls-server-name NAME
//	                       TLS with the brokers: the PEM file of the CAs of their certificates
//	                       (default the system's), a client certificate and its key, the name
//	                       their certificates carry (default each broker's host)
//	-kafka-sasl-mechanism NAME, -kafka-sasl-user NAME, -kafka-sasl-password-file FILE
//	                       SASL with the brokers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI;
//	                       the password is read from the file, else from $KAFKA_SASL_PASSWORD
//	                       (never a flag, which ps shows)
//	-krb5-conf FILE, -principal NAME@REALM, -keytab FILE, -krb5-ccache FILE
//	                       the Kerberos identity (the original's spark2-submit --principal
//	                       and --keytab); without -keytab, a ticket cache of kinit. The
//	                       manager logs in once at start and uses it for GSSAPI with the
//	                       brokers, for every hdfs:// URI (-hdfs-out, -dead-letter,
//	                       -checkpoint) and for Kudu; the HDFS user is then the
//	                       principal's short name
//	-kudu-tls-ca FILE, -kudu-tls-server-name NAME
//	                       TLS with the Kudu masters and tablet servers: the PEM file of
//	                       the cluster's CA (turns TLS on), the name their certificates
//	                       carry (default each server's host)
//
// A usage error (bad flags, a configuration file that does not parse or
// holds a bad value) exits with status 2, a dependency missing at start
// (or a checkpoint in use or unusable) with status 3, a failure with
// status 1. Brokers that refuse the password or whose certificate is not
// trusted are a dependency missing at start: one line says so, such as
// "iot-manager: cannot start: kafka brokers 10.0.0.1:9093: SASL
// authentication failed: invalid credentials (mechanism SCRAM-SHA-256)".
// So is a Kerberos identity that cannot log in (a keytab of another
// principal, an expired ticket cache, a realm no KDC serves), a
// Kerberized NameNode given no identity, and Kudu servers whose
// certificate is not trusted: one line names the service and the cause.
// SIGINT or SIGTERM stops the manager gracefully: the batch
// that runs is finished (and its offsets committed) if that takes less
// than a few seconds, and the process exits within 5 s in any case; a
// second signal exits at once.
//
// # Configuration file
//
// -config reads the HOCON of the original's application.conf (the subset
// that such files use: nested blocks, dotted keys, quoted and unquoted
// values, comments, ${?ENV} substitutions; include lines are skipped with
// a warning). These keys set flags, unless the command line gives the
// flag too:
//
//	kafka.bootstrap.servers               -brokers
//	kafka.group.id                        -group
//	kafka.topic                           -topic
//	hdfs.path                             -hdfs-out
//	kudu.master.addresses                 -kudu-masters
//	kudu.events.table.name                -kudu-table
//	kudu.events.table.numberOfBuckets     -kudu-buckets
//
// The other keys of the original, batch.duration (which it did not use
// either), kudu.offsets.* and spark.*, are accepted and ignored with a
// note in the log; any other key is ignored with a warning. hdfs.path,
// like -hdfs-out, is on local disk unless it is an hdfs:// URI (Spark
// resolved a plain path against the cluster's default file system), which
// is warned about.
//
// # Input
//
// Every Kafka message is one event: a raw Avro binary datum of the
// schema in event.avsc (namespace it.gov.daf.iotingestion.event, record
// Event), without container header, schema-registry prefix or key.
//
// # Parquet output
//
// Every event that decodes is written with the Parquet sink
// (sinks/parquet), Snappy-compressed, in Hive partitions of its source
// (escaped as Spark escapes partition values) and its day (ddMMyyyy of
// ts in UTC):
//
//	<hdfs-out>/source=http%3A%2F%2Fopendata.5t.torino.it%2Fget_fdt/day=12032018/part-<topic>-<partition>-<first offset>-<last offset>-<n>.parquet
//
// Files roll over batches (parquetsink.Rotate): each Kafka partition's
// files are committed when they are about -rotate-bytes (64 MiB) or
// -rotate-interval (10 minutes) old, or hold -rotate-rows rows, and when
// the partition moves to another copy of the manager or the manager
// stops; with all three 0, at every batch. So a Hive partition gets at
// most one file per Kafka partition per rotation, not one per batch. The
// files are the record of what was ingested: a Kafka partition resumes
// where its committed files end (kafka.ResumeFrom), whichever copy of the
// manager wrote them, so copies of the manager in one group (same flags,
// same -hdfs-out) write every event once; events of a rotation not
// committed when a manager crashes are read again by the partition's
// next owner. See "Scaling out" in the README.
//
// The columns are those the original stored: version, id, ts (epoch ms),
// temporal_granularity, event_certainty, event_type_id, event_subtype_id,
// event_annotation, metric (the "value" attribute as a DOUBLE, null when it
// is absent or not a number), location, body, attributesKeys and
// attributesValues (the attribute keys in key order and their values,
// each joined with "#"), plus attributes, the attributes as a Parquet
// MAP<STRING, STRING>. source and day are in the paths only; read them
// with DuckDB's read_parquet(..., hive_partitioning = true), Spark, or a
// Hive table partitioned by (source STRING, day STRING).
//
// # Kudu output
//
// With -kudu-masters, the events of type 0 (metric) and 1 (change of
// state) that have an event_subtype_id and a numeric "value" attribute
// (the others are dead letters, below) are upserted into the table
// -kudu-table. The manager creates it at the first batch when it is
// missing, with the original's columns: primary key (source STRING, ts
// INT64, metric_id STRING), then version INT64, id STRING,
// temporal_granularity STRING NULL, event_certainty DOUBLE, event_type_id
// INT32, event_annotation STRING NULL, location STRING, metric DOUBLE,
// attributesKeys STRING, attributesValues STRING; hash partitioned on
// source into -kudu-buckets buckets (the original's unbounded range
// partition on ts is the same as none). metric_id is the event's
// event_subtype_id and metric its "value" attribute. A table the original
// created is written as it is. Rows are UPSERTed, so a batch written again
// leaves one row per key, and of events with the same key the last one
// written wins (the original used INSERT IGNORE, which kept the first).
//
// # Dead letters
//
// Nothing is dropped in silence, and nothing bad stops the manager: these
// become dead letters, counted in the progress line:
//
//   - a message that is not one valid Avro Event datum (garbage, a
//     truncated datum, trailing bytes, a datum of another schema, a
//     string that is not UTF-8); its value is kept, in base64;
//   - a message larger than -max-message-bytes, which is not decoded
//     (reason "oversized");
//   - with the Kudu path on, an event of type 0 or 1 without a numeric
//     "value" attribute or without event_subtype_id, and an event of an
//     unknown type (not 0, 1 or 2), which cannot be Kudu rows; the event
//     is in the Parquet output all the same;
//   - a row the Kudu server rejects (a cell over its size limit, say);
//   - an event whose Parquet partition directory cannot be made: a source
//     whose escaped source=<source> is longer than 255 bytes, the longest
//     a directory name may be on Linux file systems and HDFS, or that is
//     not valid UTF-8; the event is in Kudu all the same.
//
// With -dead-letter URI they are written as JSON lines, a file per Kafka
// message (a message's dead letters: one that is not an event, or the
// refusals of its event by the Kudu path or a sink):
//
//	<URI>/<topic>-<partition, 5 digits>/dead-<offset, 10 digits>.jsonl
//
// such as
//
//	{"topic":"daf-iot-events","partition":3,"offset":17,"reason":"not an Avro Event: ...","value_base64":"aGVsbG8="}
//	{"topic":"daf-iot-events","partition":0,"offset":4,"reason":"kudu: no \"value\" attribute","id":"wrongmetric-no-value"}
//
// They are written atomically after the batch's Parquet and Kudu writes.
// A dead letter written again (its partition read again after a crash,
// by this copy of the manager or another) replaces its own file, so each
// is there once. Without
// -dead-letter each dead letter is logged as a warning with the same
// fields.
//
// # Progress
//
// One line per batch on standard error:
//
//	batch 10:58:30.000 records=120 events=118 kudu=80 dead=5 processing=412ms ok
//
// records are the Kafka messages; every one is an event or a dead letter,
// and events may also give dead letters of the Kudu or the Parquet path.
// events counts the rows written to Parquet, kudu those written to Kudu
// ("off" without -kudu-masters).
//
// With -ui, the status page's /metrics has the same counts as counters,
// labelled job_name="iot-manager" like the engine's series:
// iot_manager_messages_total, iot_manager_events_total,
// iot_manager_kudu_rows_total and iot_manager_dead_letters_total{reason},
// the reason one of oversized, not_an_event, not_a_kudu_row,
// kudu_rejected and parquet_rejected. The engine's series add the
// consumer lag per partition (microbatch_streaming_input_lag_records),
// and per sink the rows, bytes and files written and its rejected rows
// by reason (microbatch_streaming_output_*); the ui package's doc lists
// them all.
//
// # Delivery
//
// With -checkpoint, exactly once: the offsets of every batch are saved in
// the checkpoint before it runs, and a manager restarted after a crash
// (even kill -9) runs the unfinished batches again with the same records;
// the Parquet sink replaces the files of a batch that runs again, the
// Kudu rows are upserted again with the same values, and the dead letters
// are replaced, so every event is in the output once. Offsets are also
// committed to the group, for monitoring.
//
// Without -checkpoint, at least once: the offsets of a batch are committed
// to the consumer group after its output is written, so a restart resumes
// after the last committed batch, but a crash between the write and the
// commit writes that batch's Parquet rows again in a later batch (Kudu
// stays idempotent).
//
// A batch whose output cannot be written (a full disk, HDFS or Kudu away)
// stops the manager with status 1, and a restarted manager reads that
// batch's records again, with or without -checkpoint.
//
// # Fixed from the original
//
//   - It never saved its offsets (no commit, no checkpoint, auto-commit
//     off), so every restart read the topic from the start again and
//     appended duplicates to HDFS: offsets are now checkpointed or
//     committed, and replayed batches replace their files.
//   - It converted the "value" attribute with asInstanceOf[Double] on a
//     String, a ClassCastException that dropped every event with a value
//     from HDFS: metric is now parsed as a number, null when it is not one.
//   - Its day partition was in the JVM's time zone; it is now UTC.
//   - Its attributesKeys and attributesValues followed the hash map's
//     order; they are now in key order.
//   - It dropped undecodable messages and unconvertible events after
//     logging the first ten per batch; they are now dead letters.
//
// Every example also takes -h (the flags, exit 0), -version (the build's
// version, exit 0), -log-format text|json and -log-level
// debug|info|warn|error (see package runner).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	"github.com/microbatch-go/microbatch/runner"
	"github.com/microbatch-go/microbatch/security"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/storage"
	_ "github.com/microbatch-go/microbatch/storage/hdfs" // hdfs:// URIs for -hdfs-out, -checkpoint and -dead-letter
	"github.com/microbatch-go/microbatch/ui"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() { runner.Main("iot-manager", run) }

// options are the command's flags.
type options struct {
	run                             runner.RunFlags // -start-timeout, -max-outage
	brokers, kuduMasters            []string
	topic, group, instance          string
	batch, duration                 time.Duration
	hdfsOut, checkpoint, deadLetter string
	kuduTable                       string
	kuduBuckets, maxMessageBytes    int
	scale                           scaleout.Flags    // -rotate-*, -session-timeout, -rebalance-timeout
	sec                             scaleout.Security // -kafka-tls*, -kafka-sasl-*, -krb5-conf, -principal, -keytab, -krb5-ccache
	kafkaClient                     []kgo.Opt         // sec's, for the Kafka client
	kuduTLS                         security.TLS      // -kudu-tls-ca, -kudu-tls-server-name
	kuduTLSConfig                   *tls.Config       // kuduTLS's; nil: no TLS with Kudu
	demo                            bool
	rate                            int
	ui                              string
	notes                           []note // about -config, for the log
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var brokers, kuduMasters, config string
	fs := flag.NewFlagSet("iot-manager", flag.ContinueOnError)
	fs.StringVar(&brokers, "brokers", "127.0.0.1:9092", "comma-separated seed brokers")
	fs.StringVar(&o.topic, "topic", "daf-iot-events", "the topic")
	fs.StringVar(&o.group, "group", "daf-iot-manager", "the consumer group")
	fs.StringVar(&o.instance, "instance", "", "a static group member id, so a restarted manager takes its partitions back at once")
	fs.DurationVar(&o.batch, "batch", 10*time.Second, "batch interval")
	fs.StringVar(&o.hdfsOut, "hdfs-out", "", "the Parquet directory, a path or URI (required unless -demo)")
	fs.StringVar(&kuduMasters, "kudu-masters", "", "comma-separated Kudu masters; without it the Kudu path is off")
	fs.StringVar(&o.kuduTable, "kudu-table", "Events", "the Kudu table")
	fs.IntVar(&o.kuduBuckets, "kudu-buckets", 8, "hash buckets on source of a Kudu table created by the manager")
	fs.StringVar(&o.deadLetter, "dead-letter", "", "write dead letters there as JSON lines, instead of logging them")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint directory: offsets are kept there, and a restart resumes exactly where it stopped")
	fs.IntVar(&o.maxMessageBytes, "max-message-bytes", 1<<20, "larger messages are dead letters, not decoded")
	o.scale.Register(fs)
	o.sec.Register(fs)
	fs.StringVar(&o.kuduTLS.CAFile, "kudu-tls-ca", "", "TLS with Kudu: the PEM file of the cluster's CA (turns TLS on)")
	fs.StringVar(&o.kuduTLS.ServerName, "kudu-tls-server-name", "", "TLS with Kudu: the name the servers' certificates carry (default each server's host)")
	fs.DurationVar(&o.duration, "duration", 0, "stop gracefully after this long; 0 runs until interrupted")
	fs.StringVar(&config, "config", "", "read settings from the original's application.conf; flags given here win")
	fs.BoolVar(&o.demo, "demo", false, "run with an in-process broker, event generator and Kudu test server")
	fs.IntVar(&o.rate, "rate", 50, "-demo: events per second the generator produces")
	fs.StringVar(&o.ui, "ui", "", "serve the streaming status page on this address, e.g. :4040 (loopback only; 0.0.0.0:4040 for every interface; default off)")
	o.run.Register(fs)
	if err := runner.Parse(fs, args, stderr); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, runner.Usagef("unexpected arguments %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.demo && !set["batch"] {
		o.batch = demoBatch
	}
	if o.demo && !set["rotate-bytes"] && !set["rotate-interval"] && !set["rotate-rows"] {
		o.scale.Rotation = parquetsink.Rotation{Interval: demoRotate} // files to look at while the demo runs
	}
	if config != "" {
		notes, err := applyConfig(fs, set, config)
		if err != nil {
			return o, err
		}
		o.notes = notes
	}
	o.brokers, o.kuduMasters = splitList(brokers), splitList(kuduMasters)
	switch {
	case len(o.brokers) == 0 && !o.demo:
		return o, runner.Usagef("-brokers is empty")
	case o.hdfsOut == "" && !o.demo:
		return o, runner.Usagef("-hdfs-out is required (the Parquet directory), or try -demo")
	case o.topic == "":
		return o, runner.Usagef("-topic is empty")
	case o.group == "":
		return o, runner.Usagef("-group is empty")
	case o.batch <= 0 || o.batch%time.Millisecond != 0:
		return o, runner.Usagef("-batch %v: want a positive whole number of milliseconds", o.batch)
	case o.duration < 0:
		return o, runner.Usagef("-duration %v is negative", o.duration)
	case slices.ContainsFunc(o.kuduMasters, func(m string) bool { return strings.Contains(m, "@") }):
		// Not echoed: what stands before the @ may be a password.
		return o, runner.Usagef("-kudu-masters: an address holds user info (user@host); give host:port only")
	case o.kuduTable == "":
		return o, runner.Usagef("-kudu-table is empty")
	case o.kuduBuckets < 2 || o.kuduBuckets > 1<<16:
		return o, runner.Usagef("-kudu-buckets %d: want 2 to 65536 (Kudu hashes into at least 2 buckets)", o.kuduBuckets)
	case o.maxMessageBytes <= 0:
		return o, runner.Usagef("-max-message-bytes %d: want a positive size", o.maxMessageBytes)
	case o.scale.Check() != nil:
		return o, runner.Usage(o.scale.Check())
	case o.rate < 1:
		return o, runner.Usagef("-rate %d: want at least 1 event per second", o.rate)
	case o.demo && o.checkpoint != "":
		return o, runner.Usagef("-checkpoint does not work with -demo, whose in-process broker starts empty on every run: run examples/devkafka and give -brokers instead")
	case o.demo && o.sec.KafkaSecured():
		return o, runner.Usagef("-kafka-tls and -kafka-sasl-* do not work with -demo, whose in-process broker takes plaintext only")
	case o.kuduTLS.On() && len(o.kuduMasters) == 0:
		return o, runner.Usagef("-kudu-tls-ca and -kudu-tls-server-name need -kudu-masters")
	}
	if err := o.run.Check(); err != nil {
		return o, err
	}
	kc, err := o.sec.KafkaOptions()
	if err != nil {
		return o, runner.Usage(err)
	}
	o.kafkaClient = kc
	if o.kuduTLSConfig, err = o.kuduTLS.Config(); err != nil {
		return o, runner.Usagef("-kudu-tls-ca %s: %w", o.kuduTLS.CAFile, err)
	}
	return o, nil
}

// run runs the manager until ctx is done or -duration has passed, with
// progress and log messages on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := runner.Logger(stderr)
	for _, n := range o.notes {
		if n.warn {
			logger.Warn(n.msg, n.args...)
		} else {
			logger.Info(n.msg, n.args...)
		}
	}
	if o.demo {
		d, err := startDemo(o, stderr, logger)
		if err != nil {
			return err
		}
		defer d.stop(stderr)
		o = d.opts
	}

	// One login, one Opener for every storage URI of the job.
	opener, krb, err := o.sec.Storage()
	if err != nil {
		return err
	}
	if krb != nil {
		defer krb.Destroy()
	}
	rep := newReporter(stderr, len(o.kuduMasters) > 0)
	opts := append([]dstream.Option{dstream.WithLogger(logger), dstream.WithListener(rep), dstream.WithStorage(opener)}, o.run.Options()...)
	opts = append(opts, o.scale.ContextOptions()...)
	if o.checkpoint != "" {
		opts = append(opts, dstream.WithCheckpoint(o.checkpoint))
	}
	var status *ui.Server
	if o.ui != "" {
		if status, err = o.run.NewStatus(o.batch, "iot-manager", logger); err != nil {
			return err
		}
		opts = append(opts, dstream.WithListener(status)) // registered before the context starts
	}
	ssc, err := dstream.NewContext(o.batch, opts...)
	if err != nil {
		return err
	}
	cfg := pipelineConfig{
		hdfsOut: o.hdfsOut, deadLetter: o.deadLetter, kuduMasters: o.kuduMasters, kuduTable: o.kuduTable,
		kuduBuckets: int32(o.kuduBuckets), maxMessageBytes: o.maxMessageBytes, logger: logger,
		parquet: append(o.scale.ParquetOptions(), parquetsink.Storage(opener)), storage: opener,
	}
	if o.kuduTLSConfig != nil {
		cfg.kudu = append(cfg.kudu, kudusink.TLS(o.kuduTLSConfig))
	}
	if krb != nil {
		cfg.kudu = append(cfg.kudu, kudusink.Kerberos(krb))
	}
	if status != nil {
		cfg.metrics = status.Registerer()
	}
	events, err := newEventSink(cfg)
	if err != nil {
		return err
	}
	// The Parquet files are the record of what was ingested: each Kafka
	// partition resumes where they end, whichever copy of the manager
	// wrote them (see "Scaling out" in the README).
	kopts := append([]kafka.Option{kafka.Brokers(o.brokers...), kafka.Group(o.group), kafka.ClientOptions(o.kafkaClient...)}, o.scale.KafkaOptions(events)...)
	if o.instance != "" {
		kopts = append(kopts, kafka.InstanceID(o.instance))
	}
	ds := kafka.NewDirectStream(ssc, kafka.Subscribe(o.topic), kopts...)
	if err := buildPipeline(ds, events, cfg, rep); err != nil {
		return err
	}
	if ok, done := ssc.Recovered(); ok {
		logger.Info("resuming from the checkpoint", "checkpoint", storage.Redact(o.checkpoint), "last_batch", done.Format("15:04:05.000"))
	}
	kuduDesc := "off"
	if len(o.kuduMasters) > 0 {
		kuduDesc = o.kuduTable + "@" + strings.Join(o.kuduMasters, ",")
	}
	logger.Info("ingesting", "topic", o.topic, "group", o.group, "brokers", strings.Join(o.brokers, ","),
		"batch", o.batch, "hdfs_out", storage.Redact(o.hdfsOut), "kudu", kuduDesc)
	err = runner.Job{Context: ssc, Status: status, Addr: o.ui, Duration: o.duration, Linger: o.run.UILinger,
		OnURL: func(url string) { logger.Info("status page", "url", url) }}.Run(ctx)
	t := rep.Total()
	logger.Info("stopped", "batches", t.Batches, "records", t.Records, "events", t.Counts.events, "kudu", t.Counts.kudu, "dead", t.Counts.dead)
	return err
}
