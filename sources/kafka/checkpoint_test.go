package kafka_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
)

// byTime is an idempotent sink: each batch time's output replaces what an
// earlier run wrote for that time, as the file sinks do.
type byTime struct {
	mu sync.Mutex
	m  map[int64][]string
}

func (b *byTime) all() []kafka.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []kafka.Record
	for _, vs := range b.m {
		for _, v := range vs {
			out = append(out, kafka.Record{Value: []byte(v)})
		}
	}
	return out
}

func (b *byTime) count() int { return len(b.all()) }

// checkpointedJob runs a direct stream on a context checkpointing to dir,
// from the clock time at, writing each batch's values to out.
func checkpointedJob(t *testing.T, c *kafkatest.Cluster, dir string, at time.Duration, out *byTime) (*dstream.Context, *dstream.ManualClock) {
	t.Helper()
	clk := dstream.NewManualClock(time.Unix(0, int64(at)))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet), dstream.WithCheckpoint(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	// No commits to the group: only the checkpoint knows the position.
	ks := kafka.NewDirectStream(ssc, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"), kafka.ManualCommit())
	values := dstream.Map(ks.Stream(), func(r kafka.Record) string { return string(r.Value) })
	if err := values.ForEachBatch(func(_ context.Context, b *dstream.Batch[string]) error {
		out.mu.Lock()
		defer out.mu.Unlock()
		out.m[b.Time.UnixMilli()] = b.Collect()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	return ssc, clk
}

// stepUntilCount runs batches until out holds n records.
func stepUntilCount(t *testing.T, ssc *dstream.Context, clk *dstream.ManualClock, out *byTime, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for out.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out with %d of %d records", out.count(), n)
		}
		clk.Advance(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := ssc.WaitForBatch(ctx, clk.Now())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDirectStreamResumesFromCheckpoint: after a crash, a direct stream
// resumes at the checkpoint's offsets (the group has no commits), re-runs
// the pending batch with its own ranges, and every record is in the
// output exactly once.
func TestDirectStreamResumesFromCheckpoint(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	dir := t.TempDir()
	out := &byTime{m: map[int64][]string{}}
	first := produceN(c, "t", 2, "a", 20)
	ssc, clk := checkpointedJob(t, c, dir, 0, out)
	stepUntilCount(t, ssc, clk, out, 20)
	if err := ssc.Stop(context.Background(), dstream.Hard); err != nil { // a crash: no final checkpoint
		t.Fatal(err)
	}
	if got := c.Committed("g")["t"]; len(got) != 0 {
		t.Fatalf("the group has commits %v; the test needs the checkpoint alone", got)
	}

	second := produceN(c, "t", 2, "b", 10)
	ssc2, clk2 := checkpointedJob(t, c, dir, clk.Now().Sub(time.Unix(0, 0))+5*time.Second, out)
	if ok, _ := ssc2.Recovered(); !ok {
		t.Fatal("the second run did not recover from the checkpoint")
	}
	stepUntilCount(t, ssc2, clk2, out, 30)
	checkOnce(t, out.all(), append(first, second...))
}

// TestDirectStreamRestoredPositionYieldsToFurtherCommit: a partition whose
// group commit is past the checkpoint's offset (another copy of the job in
// the group read on while this one was down) resumes at the commit; the
// others resume at the checkpoint, even where the group has no commit.
func TestDirectStreamRestoredPositionYieldsToFurtherCommit(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	dir := t.TempDir()
	out := &byTime{m: map[int64][]string{}}
	first := produceN(c, "t", 2, "a", 20) // offsets 0-9 of each partition
	ssc, clk := checkpointedJob(t, c, dir, 0, out)
	stepUntilCount(t, ssc, clk, out, 20)
	if err := ssc.Stop(context.Background(), dstream.Hard); err != nil {
		t.Fatal(err)
	}

	second := produceN(c, "t", 2, "b", 10) // b-0, b-2, ... at offsets 10-14 of partition 0
	var os kadm.Offsets
	os.AddOffset("t", 0, 12, -1)
	if _, err := kadm.NewClient(c.Client()).CommitOffsets(context.Background(), "g", os); err != nil {
		t.Fatal(err)
	}
	ssc2, clk2 := checkpointedJob(t, c, dir, clk.Now().Sub(time.Unix(0, 0))+5*time.Second, out)
	stepUntilCount(t, ssc2, clk2, out, 28)
	want := append(first, slices.DeleteFunc(second, func(v string) bool { return v == "b-0" || v == "b-2" })...)
	checkOnce(t, out.all(), want)
}
