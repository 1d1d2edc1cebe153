package faults

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// exitUnavailable is the exit status of a job that cannot start
// (runner.ExitUnavailable).
const exitUnavailable = 3

// startTimeout is the -start-timeout the start tests give; slack is what
// a process may take beyond it to start and exit on a loaded machine.
const (
	startTimeout = 2 * time.Second
	slack        = 5 * time.Second
)

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// runs returns how many times the soak tests repeat each case:
// FAULTS_RUNS, or 1.
func runs(t *testing.T) int { return proctest.Runs(t, "FAULTS_RUNS") }

// secret is a password given in URIs, which no message may show.
const secret = "s3cr3t-pw"

// Each dependency unreachable or missing at start: exit status 3 within
// the start timeout, and one line that names it.
func TestDependencyMissingAtStart(t *testing.T) {
	wordcount := proctest.Build(t, "./examples/wordcount")
	iot := proctest.Build(t, "./examples/iot-manager")
	spot := proctest.Build(t, "./examples/spot-listener")
	broker := kafkatest.New(t, map[string]int32{"daf-iot-events": 2, "spot-flow": 2})
	in := t.TempDir()
	dead := deadAddr(t)
	to := "-start-timeout=" + startTimeout.String()
	for _, tc := range []struct {
		name string
		bin  string
		args []string
		want string // what the one line names
	}{
		{"wordcount: file stream on an unreachable NameNode", wordcount,
			[]string{"-source", "file", "-dir", "hdfs://" + dead + "/in", to},
			"file stream hdfs://" + dead + "/in: "},
		{"wordcount: Kafka brokers unreachable", wordcount,
			[]string{"-source", "kafka", "-brokers", dead, "-topic", "words", to},
			"kafka brokers " + dead + ": "},
		{"wordcount: Kafka topic missing", wordcount,
			[]string{"-source", "kafka", "-brokers", broker.Addrs[0], "-topic", "nosuchtopic", to},
			"kafka topic nosuchtopic: "},
		{"wordcount: -checkpoint forbidden", wordcount,
			[]string{"-source", "file", "-dir", in, "-checkpoint", "/proc/forbidden/ckpt", to},
			"checkpoint directory /proc/forbidden/ckpt: "},
		{"wordcount: -out that cannot be written", wordcount,
			[]string{"-source", "file", "-dir", in, "-out", "/proc/forbidden/counts", to},
			"text output /proc/forbidden/counts: "},
		{"iot-manager: Kudu masters unreachable", iot,
			[]string{"-brokers", broker.Addrs[0], "-hdfs-out", filepath.Join(t.TempDir(), "out"), "-kudu-masters", dead, to},
			"kudu masters " + dead + ": "},
		{"iot-manager: NameNode unreachable", iot,
			[]string{"-brokers", broker.Addrs[0], "-hdfs-out", "hdfs://iot:" + secret + "@" + dead + "/iot/events", to},
			"parquet output hdfs://iot:xxxxx@" + dead + "/iot/events: "},
		{"wordcount: -checkpoint on an unreachable NameNode", wordcount,
			[]string{"-source", "file", "-dir", in, "-checkpoint", "hdfs://wc:" + secret + "@" + dead + "/ckpt", to},
			"checkpoint directory hdfs://wc:xxxxx@" + dead + "/ckpt: "},
		{"spot-listener: -out forbidden", spot,
			[]string{"-type", "flow", "-brokers", broker.Addrs[0], "-out", "/proc/forbidden/flow", to},
			"parquet output /proc/forbidden/flow: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			_, stderr, code := proctest.Run(t, startTimeout+slack+10*time.Second, tc.bin, tc.args...)
			took := time.Since(began)
			if code != exitUnavailable {
				t.Fatalf("exit status %d, want %d\n%s", code, exitUnavailable, stderr)
			}
			if took > startTimeout+slack {
				t.Errorf("took %v to exit; want within the start timeout (%v) and %v", took, startTimeout, slack)
			}
			var lines []string
			for _, l := range strings.Split(stderr, "\n") {
				if strings.Contains(l, "cannot start") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], ": cannot start: "+tc.want) {
				t.Errorf("want one line naming %q; stderr:\n%s", tc.want, stderr)
			}
			for _, l := range strings.Split(stderr, "\n") {
				if strings.Contains(l, "WARN") || strings.Contains(l, "ERROR") {
					t.Errorf("a warning or error besides the one line: %s", l)
				}
			}
			if strings.Contains(stderr, secret) {
				t.Errorf("the password in a URI was printed:\n%s", stderr)
			}
		})
	}
}
