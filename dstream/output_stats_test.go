package dstream

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// wroteByBatch collects the Wrote of every completed output operation
// named name, by batch time in milliseconds.
func wroteByBatch(c *Context, name string) func() map[int64]OutputStats {
	var mu sync.Mutex
	got := map[int64]OutputStats{}
	c.AddListener(outputListener(func(o OutputOperationInfo) {
		if o.Name != name {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got[o.BatchTime.UnixMilli()] = o.Wrote
	}))
	return func() map[int64]OutputStats {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[int64]OutputStats, len(got))
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}

// statsOf returns the StatsReporter of the context's only Output.
func statsOf(t *testing.T, c *Context) StatsReporter {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sinks) != 1 {
		t.Fatalf("%d outputs, want 1", len(c.sinks))
	}
	w, ok := c.sinks[0].(*outputWriter[int])
	if !ok {
		t.Fatalf("the output is a %T", c.sinks[0])
	}
	sr, ok := w.out.(StatsReporter)
	if !ok {
		t.Fatalf("%T does not count what it writes", w.out)
	}
	return sr
}

// SaveAsTextFiles counts, per batch, the lines it wrote and the lines,
// bytes and part files of the batch's directory, as they are on disk;
// the batches' counts add up to the output's.
func TestSaveAsTextFilesOutputStats(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "out")
	h := newHarness(t, time.Second, WithParallelism(2))
	q := NewQueue[int]()
	q.Push([]int{1, 22, 333, 4444, 55555})
	q.Push(nil)
	q.Push([]int{6, 77, 888})
	mustNoErr(t, QueueStream(h.ssc, q).SaveAsTextFiles(prefix, ""), "SaveAsTextFiles")
	wrote := wroteByBatch(h.ssc, "saveAsTextFiles")
	out := statsOf(t, h.ssc)
	h.start()
	h.steps(3)
	mustNoErr(t, h.ssc.Stop(context.Background(), Graceful), "Stop")

	got := wrote()
	if len(got) != 3 {
		t.Fatalf("Wrote of %d batches, want 3: %v", len(got), got)
	}
	var sum OutputStats
	for _, ms := range []int64{1000, 2000, 3000} {
		// What the batch's directory holds.
		var want OutputStats
		entries, err := os.ReadDir(BatchFileName(prefix, "", time.UnixMilli(ms)))
		mustNoErr(t, err, "read the directory of batch %d", ms)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "part-") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(BatchFileName(prefix, "", time.UnixMilli(ms)), e.Name()))
			mustNoErr(t, err, "read %s", e.Name())
			lines := int64(bytes.Count(data, []byte("\n")))
			want.Files++
			want.Bytes += int64(len(data))
			want.Records += lines
			want.Rows += lines
		}
		if got[ms] != want {
			t.Errorf("batch %d: Wrote = %+v, the directory holds %+v", ms, got[ms], want)
		}
		sum = sum.Add(got[ms])
	}
	if want := (OutputStats{Records: 8, Rows: 8, Bytes: 8 + 1 + 2 + 3 + 4 + 5 + 1 + 2 + 3, Files: 4}); sum != want {
		t.Errorf("the batches wrote %+v in all, want %+v", sum, want)
	}
	if total := out.OutputStats(); total != sum {
		t.Errorf("the output counted %+v, the batches' Wrote add up to %+v", total, sum)
	}
}

// Print counts the elements it printed, at most n per batch.
func TestPrintOutputStats(t *testing.T) {
	h := newHarness(t, time.Second, WithParallelism(2))
	q := NewQueue[int]()
	q.Push([]int{1, 2, 3, 4}) // more than 2: two printed, then "..."
	q.Push([]int{5})
	q.Push(nil)
	var buf bytes.Buffer
	mustNoErr(t, QueueStream(h.ssc, q).Fprint(&buf, 2), "Fprint")
	wrote := wroteByBatch(h.ssc, "print")
	out := statsOf(t, h.ssc)
	h.start()
	h.steps(3)
	mustNoErr(t, h.ssc.Stop(context.Background(), Graceful), "Stop")

	// The elements printed, per batch: the lines between a header and
	// the empty line that ends the batch, "..." left out.
	printed := map[int64]int64{}
	var at int64
	for _, line := range strings.Split(buf.String(), "\n") {
		switch {
		case line == printRule, line == "", line == "...":
		case strings.HasPrefix(line, "Time: "):
			ms, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(line, "Time: "), " ms"), 10, 64)
			mustNoErr(t, err, "header %q", line)
			at = ms
			printed[at] = 0
		default:
			printed[at]++
		}
	}
	got := wrote()
	var sum OutputStats
	for _, ms := range []int64{1000, 2000, 3000} {
		want := OutputStats{Records: printed[ms]}
		if got[ms] != want {
			t.Errorf("batch %d: Wrote = %+v, want %+v (what it printed)", ms, got[ms], want)
		}
		sum = sum.Add(got[ms])
	}
	if sum.Records != 3 {
		t.Errorf("%d elements printed in all, want 3:\n%s", sum.Records, buf.String())
	}
	if total := out.OutputStats(); total != sum {
		t.Errorf("the output counted %+v, the batches' Wrote add up to %+v", total, sum)
	}
}
