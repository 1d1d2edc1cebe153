package faults

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// savedCounts reads the complete batch directories <prefix>-<ms> that
// wordcount's -out wrote, by batch time.
func savedCounts(t *testing.T, prefix string) map[int64]map[string]int {
	t.Helper()
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(filepath.Base(prefix)) + `-(\d+)$`)
	entries, err := os.ReadDir(filepath.Dir(prefix))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]map[string]int{}
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		dir := filepath.Join(filepath.Dir(prefix), e.Name())
		if _, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
			continue
		}
		ms, _ := strconv.ParseInt(m[1], 10, 64)
		counts := map[string]int{}
		parts, _ := filepath.Glob(filepath.Join(dir, "part-*"))
		for _, p := range parts {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				word, n, _ := strings.Cut(sc.Text(), "\t")
				v, err := strconv.Atoi(n)
				if err != nil {
					t.Fatalf("%s: bad line %q", p, sc.Text())
				}
				counts[word] += v
			}
			f.Close()
		}
		out[ms] = counts
	}
	return out
}

// latest returns the counts of the newest batch directory, or nil.
func latest(all map[int64]map[string]int) map[string]int {
	var newest int64 = -1
	for ms := range all {
		newest = max(newest, ms)
	}
	return all[newest]
}

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

		sum := map[string]int{}
		for _, counts := range savedCounts(t, prefix) {
			for w, n := range counts {
				sum[w] += n
			}
		}
		totals := latest(savedCounts(t, prefix+"-totals"))
		for _, got := range []map[string]int{sum, totals} {
			if got["common"] != 2*half {
				t.Errorf("run %d: %q counted %d times, want %d", i+1, "common", got["common"], 2*half)
			}
			for j := range 2 * half {
				if w := fmt.Sprintf("w%d", j); got[w] != 1 {
					t.Errorf("run %d: %s counted %d times, want once", i+1, w, got[w])
					break
				}
			}
		}
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
		if got := latest(savedCounts(t, totals)); got["common"] >= n {
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
