package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/runner"
)

// writeConf writes a configuration file and returns its name.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "application.conf")
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// noteText formats the notes as the log would show them.
func noteText(notes []note) string {
	var b strings.Builder
	for _, n := range notes {
		fmt.Fprintf(&b, "warn=%v %s %v\n", n.warn, n.msg, n.args)
	}
	return b.String()
}

// The original's application.conf (testdata/application.conf, in its
// layout) sets every flag it has a key for; its other keys are ignored
// with notes (spark.streaming.kafka.maxRatePerPartition and
// spark.streaming.backpressure.enabled are read, the other Spark keys
// ignored); flags on the command line win.
func TestConfigOriginalLayout(t *testing.T) {
	o, err := parseFlags([]string{"-config", "testdata/application.conf"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.brokers, []string{"kafka-1.example:9092", "kafka-2.example:9092"}) || o.group != "daf-iot-manager" ||
		o.topic != "daf-iot-events" || o.hdfsOut != "hdfs://namenode.example:8020/daf/iot/events" ||
		!slices.Equal(o.kuduMasters, []string{"kudu-master-1.example:7051", "kudu-master-2.example:7051"}) ||
		o.kuduTable != "Events" || o.kuduBuckets != 8 || o.batch != 10*time.Second ||
		o.scale.MaxRatePerPartition != 500 || !o.scale.Backpressure {
		t.Errorf("options %+v", o)
	}
	notes := noteText(o.notes)
	for _, want := range []string{
		"warn=false config: keys of the original ignored [keys batch.duration why the batch interval is -batch",
		"warn=false config: keys of the original ignored [keys kudu.offsets.table.name,kudu.offsets.table.numberOfBuckets why offsets are kept in the -checkpoint directory",
		"warn=false config: keys of the original ignored [keys spark.dynamicAllocation.enabled,spark.dynamicAllocation.minExecutors,spark.executor.cores,spark.executor.memory,spark.io.compression.codec,spark.serializer why Spark settings do not apply (but for maxRatePerPartition and backpressure.enabled, read as -max-rate-per-partition and -backpressure)]",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "warn=true") {
		t.Errorf("warnings for the original's file:\n%s", notes)
	}

	o, err = parseFlags([]string{"-topic", "mine", "-kudu-buckets", "4", "-config", "testdata/application.conf", "-brokers", "b:1"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if o.topic != "mine" || o.kuduBuckets != 4 || !slices.Equal(o.brokers, []string{"b:1"}) || o.group != "daf-iot-manager" {
		t.Errorf("flags do not win: %+v", o)
	}
	notes = noteText(o.notes)
	if !strings.Contains(notes, "config: key overridden by the command line [key kafka.topic at testdata/application.conf:9 flag -topic]") ||
		!strings.Contains(notes, "[key kudu.events.table.numberOfBuckets at testdata/application.conf:20 flag -kudu-buckets]") {
		t.Errorf("notes:\n%s", notes)
	}
}

// Keys in other spellings of the same file: flat dotted keys, colons,
// unquoted values, substitutions from the environment, unknown keys and
// includes (warned about).
func TestConfigForms(t *testing.T) {
	t.Setenv("IOT_TEST_BROKERS", "env-broker:9092")
	name := writeConf(t, `include "spark.conf"
kafka.bootstrap.servers = ${?IOT_TEST_BROKERS}
kafka.topic: events-v2
hdfs.path = /data/iot
kudu.master.addresses = [ "m1:7051", "m2:7051" ]
kudu.events.table.numberOfBuckets = 16
kafka.zookeeper.connect = "zk:2181"
`)
	o, err := parseFlags([]string{"-config", name}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.brokers, []string{"env-broker:9092"}) || o.topic != "events-v2" || o.hdfsOut != "/data/iot" ||
		!slices.Equal(o.kuduMasters, []string{"m1:7051", "m2:7051"}) || o.kuduBuckets != 16 || o.kuduTable != "Events" || o.group != "daf-iot-manager" {
		t.Errorf("options %+v", o)
	}
	notes := noteText(o.notes)
	for _, want := range []string{
		`warn=true config: ` + name + `:1: include "spark.conf": includes are not supported; skipped`,
		"warn=true config: unknown key ignored [key kafka.zookeeper.connect at " + name + ":7]",
		"warn=true config: hdfs.path is a plain path, so the Parquet output goes to local disk; give an hdfs://namenode:8020/... URI for HDFS [at " + name + ":4 path /data/iot]",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	// Without the variable, ${?...} leaves the default.
	os.Unsetenv("IOT_TEST_BROKERS")
	if o, err := parseFlags([]string{"-config", name}, new(bytes.Buffer)); err != nil || !slices.Equal(o.brokers, []string{"127.0.0.1:9092"}) {
		t.Errorf("without the variable: %v, %v", o.brokers, err)
	}
}

// A configuration file that is missing, does not parse or holds a bad
// value is a usage error naming the file, the line and the key.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		text, want string
	}{
		{"kafka {\n  topic = x\n", "application.conf:3:1: missing '}'"},
		{`kudu.events.table.numberOfBuckets = "eight"`, `application.conf:1: kudu.events.table.numberOfBuckets = "eight": parse error`},
		{"kudu.events.table.numberOfBuckets = 1\nhdfs.path = /x", "-kudu-buckets 1: want 2 to 65536"},
		{"kafka.bootstrap.servers = \"\"\nhdfs.path = /x", "-brokers is empty"},
		{"hdfs.path = ${HDFS_PATH_NOT_SET_ANYWHERE}", "${HDFS_PATH_NOT_SET_ANYWHERE} is neither a key of the file nor an environment variable"},
		{"kafka.topic = \"\"\nhdfs.path = /x", "-topic is empty"},
	} {
		name := writeConf(t, tc.text)
		_, err := parseFlags([]string{"-config", name}, new(bytes.Buffer))
		if !runner.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error containing %q", tc.text, err, tc.want)
		}
	}
	_, err := parseFlags([]string{"-config", filepath.Join(t.TempDir(), "nope.conf")}, new(bytes.Buffer))
	if !runner.IsUsage(err) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// Flags: defaults, and every bad one a usage error (exit status 2), not a
// crash.
func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-hdfs-out", "/x"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.brokers, []string{"127.0.0.1:9092"}) || o.topic != "daf-iot-events" || o.group != "daf-iot-manager" ||
		o.batch != 10*time.Second || o.kuduTable != "Events" || o.kuduBuckets != 8 || o.maxMessageBytes != 1<<20 ||
		len(o.kuduMasters) != 0 || o.deadLetter != "" || o.checkpoint != "" || o.duration != 0 || o.demo || o.rate != 50 {
		t.Errorf("defaults %+v", o)
	}
	o, err = parseFlags([]string{"-hdfs-out", "hdfs://nn:8020/iot", "-brokers", " k1:9092, ,k2:9092 ", "-kudu-masters", "m1,m2:7051",
		"-batch", "500ms", "-max-message-bytes", "100", "-instance", "i-1", "-dead-letter", "/d", "-checkpoint", "/c"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.brokers, []string{"k1:9092", "k2:9092"}) || !slices.Equal(o.kuduMasters, []string{"m1", "m2:7051"}) ||
		o.batch != 500*time.Millisecond || o.maxMessageBytes != 100 || o.instance != "i-1" || o.deadLetter != "/d" || o.checkpoint != "/c" {
		t.Errorf("options %+v", o)
	}
	if o, err := parseFlags([]string{"-demo"}, new(bytes.Buffer)); err != nil || !o.demo || o.batch != 2*time.Second {
		t.Errorf("-demo alone: batch %v, %v", o.batch, err)
	}
	if o, err := parseFlags([]string{"-demo", "-batch", "10s"}, new(bytes.Buffer)); err != nil || o.batch != 10*time.Second {
		t.Errorf("-demo -batch 10s: batch %v, %v", o.batch, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-hdfs-out is required"},
		{[]string{"-hdfs-out", "/x", "-brokers", " , "}, "-brokers is empty"},
		{[]string{"-hdfs-out", "/x", "-batch", "0s"}, "-batch 0s"},
		{[]string{"-hdfs-out", "/x", "-batch", "1500us"}, "whole number of milliseconds"},
		{[]string{"-hdfs-out", "/x", "-batch", "soon"}, `invalid value "soon" for flag -batch`},
		{[]string{"-hdfs-out", "/x", "-duration", "-1s"}, "-duration -1s is negative"},
		{[]string{"-hdfs-out", "/x", "-kudu-buckets", "1"}, "-kudu-buckets 1"},
		{[]string{"-hdfs-out", "/x", "-kudu-buckets", "x"}, `invalid value "x" for flag -kudu-buckets`},
		{[]string{"-hdfs-out", "/x", "-kudu-table", ""}, "-kudu-table is empty"},
		{[]string{"-hdfs-out", "/x", "-max-message-bytes", "0"}, "-max-message-bytes 0"},
		{[]string{"-hdfs-out", "/x", "-group", ""}, "-group is empty"},
		{[]string{"-demo", "-rate", "0"}, "-rate 0"},
		{[]string{"-demo", "-checkpoint", "/c"}, "-checkpoint does not work with -demo"},
		{[]string{"-hdfs-out", "/x", "-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-hdfs-out", "/x", "extra"}, "unexpected arguments [extra]"},
		{[]string{"-hdfs-out", "/x", "-kudu-tls-ca", "/ca.pem"}, "-kudu-tls-ca and -kudu-tls-server-name need -kudu-masters"},
		{[]string{"-hdfs-out", "/x", "-kudu-masters", "m1", "-kudu-tls-ca", "/no/such/ca.pem"}, "-kudu-tls-ca /no/such/ca.pem"},
	} {
		err := run(context.Background(), tc.args, new(bytes.Buffer), new(bytes.Buffer))
		switch {
		case err == nil:
			t.Errorf("run(%q) succeeded, want an error", tc.args)
		case !runner.IsUsage(err):
			t.Errorf("run(%q) = %v (%T), want a usage error", tc.args, err, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	// -h prints the usage and is not an error for main.
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, new(bytes.Buffer), &stderr); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(stderr.String(), "-kudu-masters") || !strings.Contains(stderr.String(), "-config") {
		t.Errorf("-h: %v\n%s", err, stderr.String())
	}
}

// An -hdfs-out or -dead-letter the storage cannot open fails at start,
// before anything is read, with status 1 (not a usage error).
func TestBadOutput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-hdfs-out", "nosuch://x/y"}, "-hdfs-out nosuch://x/y"},
		{[]string{"-hdfs-out", "/tmp/x", "-dead-letter", "nosuch://d"}, "-dead-letter nosuch://d"},
	} {
		err := run(context.Background(), append(tc.args, "-brokers", "127.0.0.1:1"), new(bytes.Buffer), new(bytes.Buffer))
		if err == nil || runner.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %q: %v", tc.args, err)
		}
	}
}
