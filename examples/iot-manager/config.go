package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/microbatch-go/microbatch/examples/iot-manager/internal/hocon"
	"github.com/microbatch-go/microbatch/runner"
)

// configFlags are the keys of the original's application.conf that the
// manager reads, and the flags they set.
var configFlags = []struct{ key, flag string }{
	{"kafka.bootstrap.servers", "brokers"},
	{"kafka.group.id", "group"},
	{"kafka.topic", "topic"},
	{"hdfs.path", "hdfs-out"},
	{"kudu.master.addresses", "kudu-masters"},
	{"kudu.events.table.name", "kudu-table"},
	{"kudu.events.table.numberOfBuckets", "kudu-buckets"},
	{"spark.streaming.kafka.maxRatePerPartition", "max-rate-per-partition"},
	{"spark.streaming.backpressure.enabled", "backpressure"},
}

// configIgnored are the other keys of the original's configuration: they
// are accepted, and ignored with a note saying why. A key ending in "."
// covers every key under it.
var configIgnored = []struct{ key, why string }{
	{"batch.duration", "the batch interval is -batch (the original ignored this key too and ran 10 s batches)"},
	{"kudu.offsets.", "offsets are kept in the -checkpoint directory, or committed to the consumer group without one, not in a Kudu table"},
	{"spark.", "Spark settings do not apply (but for maxRatePerPartition and backpressure.enabled, read as -max-rate-per-partition and -backpressure)"},
}

// note is a message about the configuration file, logged when the
// manager starts.
type note struct {
	warn bool
	msg  string
	args []any
}

// applyConfig reads the configuration file and sets the flags its keys
// name, unless the command line set them (set). It returns notes about
// what it ignored or overrode. Every error is a usage error.
func applyConfig(fs *flag.FlagSet, set map[string]bool, file string) ([]note, error) {
	cfg, err := hocon.ReadFile(file)
	if err != nil {
		return nil, runner.Usage(fmt.Errorf("-config: %w", err))
	}
	var notes []note
	ignored := make([][]string, len(configIgnored))
	for _, w := range cfg.Warnings() {
		notes = append(notes, note{warn: true, msg: "config: " + w})
	}
keys:
	for _, key := range cfg.Keys() {
		value, _ := cfg.Get(key)
		where := fmt.Sprintf("%s:%d", file, cfg.Line(key))
		for _, m := range configFlags {
			if m.key != key {
				continue
			}
			if set[m.flag] {
				notes = append(notes, note{msg: "config: key overridden by the command line", args: []any{"key", key, "at", where, "flag", "-" + m.flag}})
				continue keys
			}
			if err := fs.Set(m.flag, strings.TrimSpace(value)); err != nil {
				return nil, runner.Usagef("-config: %s: %s = %q: %v", where, key, value, err)
			}
			if key == "hdfs.path" && !strings.Contains(value, "://") && !strings.HasPrefix(value, "file:") {
				// Spark resolved it against fs.defaultFS; here a path is on local disk.
				notes = append(notes, note{warn: true, msg: "config: hdfs.path is a plain path, so the Parquet output goes to local disk; give an hdfs://namenode:8020/... URI for HDFS",
					args: []any{"at", where, "path", value}})
			}
			continue keys
		}
		for i, ig := range configIgnored {
			if key == ig.key || strings.HasSuffix(ig.key, ".") && strings.HasPrefix(key, ig.key) {
				ignored[i] = append(ignored[i], key)
				continue keys
			}
		}
		notes = append(notes, note{warn: true, msg: "config: unknown key ignored", args: []any{"key", key, "at", where}})
	}
	for i, keys := range ignored {
		if len(keys) > 0 {
			notes = append(notes, note{msg: "config: keys of the original ignored", args: []any{"keys", strings.Join(keys, ","), "why", configIgnored[i].why}})
		}
	}
	return notes, nil
}
