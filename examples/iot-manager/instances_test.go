package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

// instancesRounds is how many times BenchmarkInstances's input repeats
// the 100,000 benchmark events: enough work that the group's join is a
// small part of a run.
const instancesRounds = 4

// BenchmarkInstances measures the manager scaled out: copies of the
// built binary, each with GOMAXPROCS=1 (standing in for a machine each),
// in one consumer group reading the benchmark's events (4 rounds of
// them: 400,000, about 430 bytes each) from 4 partitions of an
// in-process kfake broker and writing Parquet (the default rotation,
// Kudu off; 500 ms batches of at most 50,000 events per partition and
// second, -max-rate-per-partition). The input is produced once every
// copy has its partitions, and a run is timed from the first progress
// line that read records to the one that makes the copies' events add up
// to the input. broker-cores and copies-cores are the cores the
// benchmark's process (the broker) and the copies kept busy over a run.
//
//   - 1 and 2: events/s with one copy and with two;
//   - restart: with two static members (-instance) reading a topic of its
//     own while events arrive, files committed every second, the time
//     from a SIGKILLed copy's restart to its first batch with records
//     (restart-ms), and from a third copy's start to its first batch with
//     records (scaleup-ms).
//
// The broker runs in the benchmark's process, on the same 2 cores.
func BenchmarkInstances(b *testing.B) {
	values, _ := benchValues(b)
	bin := proctest.Build(b, "./examples/iot-manager")
	c := kafkatest.New(b, map[string]int32{benchTopic: benchPartitions})
	var input []*kgo.Record // Topic set per run
	for range instancesRounds {
		for i, v := range values {
			input = append(input, &kgo.Record{Partition: int32(i % benchPartitions), Value: v})
		}
	}
	total := len(input)
	for _, n := range []int{1, 2} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var elapsed time.Duration
			var use cpuUse
			run := 0
			for b.Loop() {
				run++
				took, u := instancesRun(b, bin, c, fmt.Sprintf("inst-%d-%d", n, run), n, input)
				elapsed += took
				use.add(u)
			}
			b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds(), "events/s")
			// The cores busy while the copies read the input: the
			// benchmark's process (the broker and the producer) and the
			// copies.
			b.ReportMetric(use.self.Seconds()/use.wall.Seconds(), "broker-cores")
			b.ReportMetric(use.copies.Seconds()/use.wall.Seconds(), "copies-cores")
		})
	}
	b.Run("restart", func(b *testing.B) {
		var restart, scaleUp time.Duration
		run := 0
		for b.Loop() {
			run++
			// A topic of its own, without the backlog of the runs above.
			topic := fmt.Sprintf("restart-%d", run)
			if _, err := kadm.NewClient(c.Client()).CreateTopic(b.Context(), benchPartitions, 1, nil, topic); err != nil {
				b.Fatal(err)
			}
			r, s := instancesRestart(b, bin, c, topic)
			restart += r
			scaleUp += s
		}
		b.ReportMetric(float64(restart.Milliseconds())/float64(b.N), "restart-ms")
		b.ReportMetric(float64(scaleUp.Milliseconds())/float64(b.N), "scaleup-ms")
	})
}

// instanceArgs are the arguments of a copy in group reading topic.
func instanceArgs(broker, topic, group, out string, extra ...string) []string {
	return append([]string{"-brokers", broker, "-topic", topic, "-group", group, "-batch", "500ms", "-max-rate-per-partition", "50000", "-hdfs-out", out}, extra...)
}

// startInstance starts a copy with GOMAXPROCS=1.
func startInstance(b *testing.B, bin string, args ...string) *proctest.Proc {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return proctest.StartCmd(b, cmd)
}

// instancesRun runs n copies in a new group on a topic of their own,
// produces the input there once every copy has its partitions (a
// deployment's steady state, not the group's first join, which gives one
// copy the whole backlog), and returns the time from the first batch with
// records (its batch time) until the copies' events add up to the input,
// and the CPU they and the broker used.
func instancesRun(b *testing.B, bin string, c *kafkatest.Cluster, group string, n int, input []*kgo.Record) (time.Duration, cpuUse) {
	b.StopTimer()
	defer b.StartTimer()
	out := filepath.Join(b.TempDir(), "events")
	topic := group
	if _, err := kadm.NewClient(c.Client()).CreateTopic(b.Context(), benchPartitions, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	total := len(input)
	var procs []*proctest.Proc
	for range n {
		procs = append(procs, startInstance(b, bin, instanceArgs(c.Addrs[0], topic, group, out)...))
	}
	for _, p := range procs {
		p.WaitFor(b, p.Stderr, assigned, time.Minute)
	}
	time.Sleep(time.Second) // the rebalance's last round, if any
	recs := make([]*kgo.Record, len(input))
	for i, r := range input {
		recs[i] = &kgo.Record{Topic: topic, Partition: r.Partition, Value: r.Value}
	}
	// The CPU the broker's process and the copies use from here, where
	// the input starts to arrive, until the copies have read it.
	self0, copies0, wall0 := selfCPU(b), procsCPU(procs), time.Now()
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produced := make(chan error, 1)
	go func() {
		start := time.Now()
		err := cl.ProduceSync(b.Context(), recs...).FirstErr()
		b.Logf("produced %d events in %v", len(recs), time.Since(start))
		produced <- err
	}()
	defer func() {
		if err := <-produced; err != nil {
			b.Errorf("producing the input: %v", err)
		}
	}()
	// The first batch that read records, by its batch time (the time it
	// was cut, on this machine's clock), and the moment the events add up.
	var first time.Time
	deadline := time.Now().Add(5 * time.Minute)
	for {
		events := 0
		for _, p := range procs {
			stderr := p.Stderr.String()
			sum, failed := sumProgress(stderr)
			if len(failed) > 0 {
				b.Fatalf("a batch failed: %s", failed[0])
			}
			events += sum[1]
			if m := firstRecords.FindStringSubmatch(stderr); m != nil {
				at, err := time.ParseInLocation("15:04:05.000", m[1], time.Local)
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now()
				at = time.Date(now.Year(), now.Month(), now.Day(), at.Hour(), at.Minute(), at.Second(), at.Nanosecond(), time.Local)
				if first.IsZero() || at.Before(first) {
					first = at
				}
			}
		}
		if events >= total {
			break
		}

		if time.Now().After(deadline) {
			b.Fatalf("%d copies read %d of %d events in 5 minutes", n, events, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(first)
	use := cpuUse{self: selfCPU(b) - self0, copies: procsCPU(procs) - copies0, wall: time.Since(wall0)}
	for _, p := range procs {
		p.Kill(b) // the measure is taken; a graceful stop would wait for the batches queued meanwhile
	}
	return took, use
}

// procsCPU returns the CPU time the processes have used so far, from
// /proc/<pid>/stat (utime and stime, in clock ticks of 10 ms); 0 where
// it cannot be read.
func procsCPU(procs []*proctest.Proc) time.Duration {
	var total time.Duration
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: count fields
		// after it. utime and stime are fields 14 and 15.
		rest := string(b[bytes.LastIndexByte(b, ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(u+st) * 10 * time.Millisecond
	}
	return total
}

// cpuUse is the CPU time the benchmark's process (the broker) and the
// copies used over a wall time.
type cpuUse struct{ self, copies, wall time.Duration }

func (u *cpuUse) add(v cpuUse) {
	u.self += v.self
	u.copies += v.copies
	u.wall += v.wall
}

// selfCPU returns the CPU time this process has used.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// assigned matches the log line of a copy given partitions.
var assigned = regexp.MustCompile(`msg="kafka: partitions assigned"`)

// firstRecords matches a progress line of a batch that read records.
var firstRecords = regexp.MustCompile(`(?m)^batch (\S+) records=[1-9]`)

// instancesRestart runs two static members reading topic while events
// arrive, with files committed every second, kills one and restarts it,
// then starts a third copy; it returns the time from the restart, and
// from the third copy's start, to their first batch with records. The
// restarted copy reads again what it had not committed (up to a second's
// worth: the rotation bounds what a crash costs).
func instancesRestart(b *testing.B, bin string, c *kafkatest.Cluster, topic string) (restart, scaleUp time.Duration) {
	b.StopTimer()
	defer b.StartTimer()
	out := filepath.Join(b.TempDir(), "events")
	stop := make(chan struct{})
	done := make(chan struct{})
	values, _ := benchValues(b)
	go func() { // 2,000 events/s
		defer close(done)
		cl := c.Client()
		for i := 0; ; i += 200 {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var recs []*kgo.Record
			for j := range 200 {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(j % benchPartitions), Value: values[(i+j)%len(values)]})
			}
			cl.ProduceSync(b.Context(), recs...)
		}
	}()
	defer func() { close(stop); <-done }()
	a := startInstance(b, bin, instanceArgs(c.Addrs[0], topic, topic, out, "-instance", "a", "-rebalance-timeout", "10s", "-rotate-interval", "1s")...)
	k := startInstance(b, bin, instanceArgs(c.Addrs[0], topic, topic, out, "-instance", "k", "-rebalance-timeout", "10s", "-rotate-interval", "1s")...)
	a.WaitFor(b, a.Stderr, firstRecords, time.Minute)
	k.WaitFor(b, k.Stderr, firstRecords, time.Minute)
	k.Kill(b)
	began := time.Now()
	k = startInstance(b, bin, instanceArgs(c.Addrs[0], topic, topic, out, "-instance", "k", "-rebalance-timeout", "10s", "-rotate-interval", "1s")...)
	k.WaitFor(b, k.Stderr, firstRecords, time.Minute)
	restart = time.Since(began)
	began = time.Now()
	s := startInstance(b, bin, instanceArgs(c.Addrs[0], topic, topic, out, "-instance", "s", "-rebalance-timeout", "10s", "-rotate-interval", "1s")...)
	s.WaitFor(b, s.Stderr, firstRecords, time.Minute)
	scaleUp = time.Since(began)
	for _, p := range []*proctest.Proc{a, k, s} {
		p.Stop(b, time.Minute)
	}
	return restart, scaleUp
}
