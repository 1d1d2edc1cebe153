// Command spot-collector is Apache Spot's distributed collector
// (spot-ingest's collector.py) on franz-go. It watches a directory for
// captures (nfcapd files for flow, pcaps for dns, Bluecoat logs for
// proxy), converts each into Spot's CSV (nfdump for flow, tshark for dns,
// a copy for proxy), cuts the CSV into chunks of consecutive lines of one
// UTC hour that fit in one Kafka request, and publishes each chunk as one
// Kafka message: the Avro datum of its lines (Spot's list.avsc, no key),
// whose record timestamp is the time of its first line.
// examples/spot-listener reads them.
//
//	go run ./examples/devkafka -topics spot-flow:4 &
//	nfcapd -w /data/nfcapd ... &   # or: nfpcapd -r capture.pcap -w /data/nfcapd
//	go run ./examples/spot-collector -type flow -watch /data/nfcapd -staging /var/lib/spot/flow
//
// Flags:
//
//	-type TYPE            flow, dns or proxy (required)
//	-watch DIR            the directory watched for captures, with its subdirectories (required)
//	-staging DIR          the collector's own persistent directory (required; see below)
//	-brokers LIST         comma-separated seed brokers (default 127.0.0.1:9092)
//	-topic NAME           the topic, which must exist (default spot-<type>)
//	-skip-conversion      take every input as Spot's CSV already (copied as it is)
//	-max-request-bytes N  the largest produce request (default 1048576, Kafka's
//	                      max.request.size); a chunk's encoding takes at most
//	                      N - 512 bytes, 512 bytes being kept for Kafka's framing
//	-pattern REGEX        the captures' base names (default per type: flow
//	                      ^nfcapd\.[0-9]{12,14}$, so that nfcapd's in-progress
//	                      nfcapd.current.* is never read; dns \.pcap$; proxy \.log$)
//	-workers N            captures converted and published at once (default 2)
//	-once                 process the captures already there, then exit
//	-interval DURATION    how often -watch is scanned (default 1s)
//	-nfdump PATH          the nfdump program (default nfdump)
//	-tshark PATH          the tshark program (default tshark)
//	-send-timeout DURATION
//	                      how long one chunk may take to be acknowledged (default
//	                      10s, Spot's future.get(timeout=10); at least 100ms)
//	-kafka-tls, -kafka-tls-ca FILE, -kafka-tls-cert FILE, -kafka-tls-key FILE, -kafka-tls-server-name NAME
//	                      TLS with the brokers: the PEM file of the CAs of their
//	                      certificates (default the system's), a client certificate and
//	                      its key, the name their certificates carry (default each
//	                      broker's host)
//	-kafka-sasl-mechanism NAME, -kafka-sasl-user NAME, -kafka-sasl-password-file FILE
//	                      SASL with the brokers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or
//	                      GSSAPI; the password is read from the file, else from
//	                      $KAFKA_SASL_PASSWORD (never a flag, which ps shows)
//	-krb5-conf FILE, -principal NAME@REALM, -keytab FILE, -krb5-ccache FILE
//	                      the Kerberos identity of GSSAPI; without -keytab, a ticket
//	                      cache of kinit
//
// As Spot's collector does, the environment variable KRB_AUTH turns
// Kerberos on: the collector logs in as $KRB_USER with the keytab
// $KEYTABPATH (in the process: KINITPATH and KINITOPTS are not needed)
// and authenticates to the brokers with SASL GSSAPI; -principal, -keytab,
// -krb5-ccache and -kafka-sasl-mechanism win over the environment.
//
// A capture is taken when its base name matches -pattern and it is not in
// the processed ledger; without -once, also only when its size and time
// have not changed since the previous scan. Conversions run nfdump -r FILE
// -o csv (stock nfdump's CSV is mapped onto Spot's 27 columns by
// spot.ConvertNfdumpCSV) and tshark -r FILE with Spot's fields and the
// filter dns.flags.response == 1, both with TZ=UTC. A capture whose
// conversion fails (its tool's error is logged) is not marked processed:
// the next run tries it again; the others go on. The CSV is then split as
// spot.Splitter does: empty lines are dropped, lines without a time
// (headers, nfdump's Summary trailer) are skipped and counted, and a chunk
// ends where the UTC hour changes or the next line would not fit.
//
// The staging directory holds, and keeps across runs:
//
//	csv/<name>.csv            a converted capture being published (<name> is the
//	                          capture's path under -watch); written under a
//	                          temporary name and renamed when complete
//	csv/<name>.csv.progress   the chunks of it already handled (sent or kept),
//	                          one line each, synced after each; a restarted
//	                          collector resumes after them (the split is
//	                          deterministic, and the progress file keeps the
//	                          chunk size it was made with)
//	failed/<dir>/<base>_segment-<id>.csv
//	                          a chunk that could not be sent, one line per item,
//	                          named as Spot does (<base> is the capture's name
//	                          with dots replaced by _, <dir> its directory under
//	                          -watch); every run re-sends these first, each file
//	                          as one chunk timed by its first line, and deletes
//	                          each one sent
//	rejected/<name>.lines     lines too large for any message, kept for a person
//	processed                 the ledger: one capture name per line, appended and
//	                          synced once all its chunks are sent or kept
//
// When a capture's chunks are all sent or kept, its staged CSV and progress
// file are deleted. The capture itself is never modified or deleted. Give
// each collector (each -watch and -type) its own staging directory, and
// run one collector on it at a time.
//
// Delivery: each chunk is produced synchronously and acknowledged by all
// in-sync replicas before the next one, within -send-timeout. A chunk that
// fails (broker down, unknown topic, message too large) is kept in
// failed/, and the rest of that capture's chunks go there without trying
// the broker again; the next capture tries again. So a run with the
// broker down keeps every chunk, and a later run (for example with
// -skip-conversion -once, Spot's way of re-sending) sends each of them.
// Every chunk is sent at least once: a crash between the broker's
// acknowledgment and the progress file's sync sends that chunk again on
// restart. Lines that no message can hold are in rejected/, never lost.
//
// Progress goes to standard error: one line per capture (lines, chunks
// sent and kept, lines skipped and rejected) and a summary at exit. The
// exit status is 2 for a usage error and 1 for a failure; with -once also
// 1 when chunks were kept or captures could not be converted, with a
// message saying how to send them. Brokers that refuse the collector's
// password or certificate at start, which no retry fixes, exit with
// status 3 and one line naming them and the cause ("spot-collector:
// cannot start: kafka brokers 10.0.0.1:9093: SASL authentication failed:
// invalid credentials (mechanism SCRAM-SHA-256)"), before any capture is
// taken; brokers that cannot be reached are not checked at start (the
// chunks are kept, as above).
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
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/runner"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() { runner.Main("spot-collector", run) }

// defaultPatterns are the -pattern defaults per type.
var defaultPatterns = map[spot.Type]string{
	spot.Flow:  `^nfcapd\.[0-9]{12,14}$`,
	spot.DNS:   `\.pcap$`,
	spot.Proxy: `\.log$`,
}

// minRequestBytes is the smallest -max-request-bytes: Kafka's framing
// and a line of a few hundred bytes.
const minRequestBytes = 1024

// options are the command's flags.
type options struct {
	typ            spot.Type
	watch, staging string
	brokers        []string
	topic          string
	skipConversion bool
	maxRequest     int
	pattern        *regexp.Regexp
	workers        int
	once           bool
	interval       time.Duration
	nfdump, tshark string
	sendTimeout    time.Duration
	sec            scaleout.Security // -kafka-tls*, -kafka-sasl-*, -krb5-conf, -principal, -keytab, -krb5-ccache; KRB_AUTH
	kafkaClient    []kgo.Opt         // sec's, for the Kafka client
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var (
		o                                  options
		typ, brokers, pattern, watch, stag string
	)
	fs := flag.NewFlagSet("spot-collector", flag.ContinueOnError)
	fs.StringVar(&typ, "type", "", "flow, dns or proxy (required)")
	fs.StringVar(&watch, "watch", "", "the directory watched for captures, recursively (required)")
	fs.StringVar(&stag, "staging", "", "the collector's persistent staging directory (required)")
	fs.StringVar(&brokers, "brokers", "127.0.0.1:9092", "comma-separated seed brokers")
	fs.StringVar(&o.topic, "topic", "", "the topic (default spot-<type>)")
	fs.BoolVar(&o.skipConversion, "skip-conversion", false, "take every input as Spot's CSV already")
	fs.IntVar(&o.maxRequest, "max-request-bytes", 1048576, "the largest produce request; a chunk takes at most this minus 512 bytes")
	fs.StringVar(&pattern, "pattern", "", "regular expression for the captures' base names (default per type)")
	fs.IntVar(&o.workers, "workers", 2, "captures converted and published at once")
	fs.BoolVar(&o.once, "once", false, "process the captures already there and the kept chunks, then exit")
	fs.DurationVar(&o.interval, "interval", time.Second, "how often -watch is scanned")
	fs.StringVar(&o.nfdump, "nfdump", "nfdump", "the nfdump program")
	fs.StringVar(&o.tshark, "tshark", "tshark", "the tshark program")
	fs.DurationVar(&o.sendTimeout, "send-timeout", 10*time.Second, "how long one chunk may take to be acknowledged")
	o.sec.Register(fs)
	if err := runner.Parse(fs, args, stderr); err != nil {
		return o, err
	}
	bad := func(format string, a ...any) (options, error) { return o, runner.Usagef(format, a...) }
	if fs.NArg() > 0 {
		return bad("unexpected arguments %v", fs.Args())
	}
	if typ == "" {
		return bad("-type is required: flow, dns or proxy")
	}
	t, err := spot.ParseType(typ)
	if err != nil {
		return bad("-type: %v", err)
	}
	o.typ = t
	if watch == "" {
		return bad("-watch is required")
	}
	if stag == "" {
		return bad("-staging is required")
	}
	if o.watch, err = filepath.Abs(watch); err != nil {
		return bad("-watch: %v", err)
	}
	if o.staging, err = filepath.Abs(stag); err != nil {
		return bad("-staging: %v", err)
	}
	if within(o.staging, o.watch) || within(o.watch, o.staging) {
		return bad("-watch %s and -staging %s must not contain each other", o.watch, o.staging)
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	if len(o.brokers) == 0 {
		return bad("-brokers is empty")
	}
	if o.topic == "" {
		o.topic = "spot-" + string(o.typ)
	}
	if pattern == "" {
		pattern = defaultPatterns[o.typ]
	}
	if o.pattern, err = regexp.Compile(pattern); err != nil {
		return bad("-pattern: %v", err)
	}
	switch {
	case o.maxRequest < minRequestBytes || o.maxRequest > 1<<30:
		return bad("-max-request-bytes %d: want %d to %d", o.maxRequest, minRequestBytes, 1<<30)
	case o.workers < 1:
		return bad("-workers must be at least 1")
	case o.interval <= 0:
		return bad("-interval must be positive")
	case o.sendTimeout < 100*time.Millisecond:
		return bad("-send-timeout must be at least 100ms")
	case o.nfdump == "" || o.tshark == "":
		return bad("-nfdump and -tshark must not be empty")
	}
	if err := o.sec.SpotEnv(os.Getenv); err != nil {
		return o, runner.Usage(err)
	}
	if o.kafkaClient, err = o.sec.KafkaOptions(); err != nil {
		return o, runner.Usage(err)
	}
	return o, nil
}

// within tells whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// run runs the collector until ctx is done, or with -once until the
// captures there are processed; it logs to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(o.watch); err != nil || !fi.IsDir() {
		return runner.Usagef("-watch %s is not a directory", o.watch)
	}
	log := runner.Logger(stderr)
	c, err := newCollector(o, log)
	if err != nil {
		return err
	}
	defer c.close()
	return c.run(ctx)
}
