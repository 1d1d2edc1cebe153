package faults

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/wcout"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startBroker runs devkafka on addr ("127.0.0.1:0" for any port) with its
// data in dir, and returns the address it listens on.
func startBroker(t *testing.T, devkafka, addr, dir string) (*proctest.Proc, string) {
	t.Helper()
	p := proctest.Start(t, devkafka, "-addr", addr, "-topics", "words:2", "-data", dir)
	m := p.WaitFor(t, p.Stdout, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`), 20*time.Second)
	return p, m[1]
}

// produceLines sends n lines "w<from> ... " with one word each, i from
// from, and waits for the broker to take them.
func produceLines(t *testing.T, addr string, from, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("words"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "w%d common", i)})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// A broker stopped for 10 s and restarted while the job runs with a
// checkpoint: every record is counted exactly once, in the batches and in
// the totals.
func TestBrokerRestartCountsExactlyOnce(t *testing.T) {
	wordcount := proctest.Build(t, "./examples/wordcount")
	devkafka := proctest.Build(t, "./examples/devkafka")
	for i := range runs(t) {
		dir := t.TempDir()
		broker, addr := startBroker(t, devkafka, "127.0.0.1:0", filepath.Join(dir, "kafka"))
		prefix := filepath.Join(dir, "out", "c")
		job := proctest.Start(t, wordcount, "-source", "kafka", "-brokers", addr, "-topic", "words", "-group", "g",
			"-batch", "200ms", "-totals", "-top", "0", "-out", prefix, "-checkpoint", filepath.Join(dir, "ckpt"))
		job.WaitFor(t, job.Stderr, firstBatch, 30*time.Second)

		const half = 500
		produceLines(t, addr, 0, half)
		waitTotal(t, job, prefix+"-totals", half)
		broker.Stop(t, 10*time.Second)
		time.Sleep(10 * time.Second)
		broker, _ = startBroker(t, devkafka, addr, filepath.Join(dir, "kafka"))
		produceLines(t, addr, half, half)
		waitTotal(t, job, prefix+"-totals", 2*half)
		time.Sleep(time.Second) // batches after the last record: nothing may be counted again
		job.Stop(t, 10*time.Second)
		broker.Stop(t, 10*time.Second)

		checkCountedOnce(t, fmt.Sprintf("run %d", i+1), prefix, 2*half)
		if t.Failed() {
			t.Fatalf("run %d: wordcount's stderr:\n%s", i+1, job.Stderr.String())
		}
	}
}

// waitTotal waits until the newest totals directory counts n lines.
func waitTotal(t *testing.T, job *proctest.Proc, totals string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if got := wcout.Latest(wcout.Batches(t, totals, false)); got["common"] >= n {
			return
		}
		select {
		case <-job.Done():
			t.Fatalf("wordcount exited\n%s", job.Output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the totals did not reach %d lines within a minute\n%s", n, job.Output())
		}
	}
}

// checkCountedOnce checks what wordcount saved under prefix for lines
// "w<i> common", i from 0 to n: summed over the batches, and in the
// newest totals, each w<i> is counted once and common n times.
func checkCountedOnce(t *testing.T, what, prefix string, n int) {
	t.Helper()
	sum := map[string]int{}
	for _, counts := range wcout.Batches(t, prefix, true) {
		wcout.AddInto(sum, counts)
	}
	totals := wcout.Latest(wcout.Batches(t, prefix+"-totals", true))
	for _, c := range []struct {
		name   string
		counts map[string]int
	}{{"the batches", sum}, {"the totals", totals}} {
		if c.counts["common"] != n {
			t.Errorf("%s: %s count %q %d times, want %d", what, c.name, "common", c.counts["common"], n)
		}
		for i := range n {
			if w := "w" + strconv.Itoa(i); c.counts[w] != 1 {
				t.Errorf("%s: %s count %s %d times, want once", what, c.name, w, c.counts[w])
				break
			}
		}
	}
}
