package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// job is a context on a ManualClock with one direct stream and an output
// that records every batch.
type job struct {
	t     *testing.T
	clock *dstream.ManualClock
	ssc   *dstream.Context
	ds    *kafka.DirectStream

	mu      sync.Mutex
	batches []seenBatch
	fail    func(b *dstream.Batch[kafka.Record]) error // output error, if any
}

type seenBatch struct {
	time   time.Time
	parts  [][]kafka.Record
	ranges []kafka.OffsetRange
}

func newJob(t *testing.T, strategy kafka.Strategy, opts ...kafka.Option) *job {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	j := &job{t: t, clock: clk, ssc: ssc}
	j.ds = kafka.NewDirectStream(ssc, strategy, opts...)
	err = j.ds.Stream().ForEachBatch(func(_ context.Context, b *dstream.Batch[kafka.Record]) error {
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.fail != nil {
			if err := j.fail(b); err != nil {
				return err
			}
		}
		j.batches = append(j.batches, seenBatch{time: b.Time, parts: b.Partitions, ranges: j.ds.OffsetRanges(b.Time)})
		return nil
	})
	if err != nil {
		t.Fatalf("ForEachBatch: %v", err)
	}
	return j
}

func (j *job) start() {
	j.t.Helper()
	if err := j.ssc.Start(); err != nil {
		j.t.Fatalf("Start: %v", err)
	}
}

// step runs one batch and returns its error.
func (j *job) step() error {
	j.clock.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a hang guard
	defer cancel()
	return j.ssc.WaitForBatch(ctx, j.clock.Now())
}

// stepUntil runs batches until cond holds, giving the background fetches
// and the group join real time between batches.
func (j *job) stepUntil(what string, cond func() bool) {
	j.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			j.t.Fatalf("timed out waiting for %s", what)
		}
		if err := j.step(); err != nil {
			j.t.Fatalf("batch: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// records returns every record seen, in batch and partition order.
func (j *job) records() []kafka.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []kafka.Record
	for _, b := range j.batches {
		for _, p := range b.parts {
			out = append(out, p...)
		}
	}
	return out
}

func (j *job) count() int { return len(j.records()) }

// produceN writes n records to topic, spread round-robin over parts
// partitions, with values "<prefix>-<i>".
func produceN(c *kafkatest.Cluster, topic string, parts int32, prefix string, n int) []string {
	var recs []*kgo.Record
	var values []string
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		values = append(values, v)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i) % parts, Value: []byte(v)})
	}
	c.Produce(recs...)
	return values
}

// checkOnce fails unless got holds exactly the want values, once each.
func checkOnce(t *testing.T, got []kafka.Record, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
	}
	for _, v := range want {
		if seen[v] != 1 {
			t.Errorf("record %q seen %d times, want once", v, seen[v])
		}
		delete(seen, v)
	}
	for v, n := range seen {
		t.Errorf("unexpected record %q seen %d times", v, n)
	}
}

func TestDirectStreamBatchesAreOffsetRanges(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"words": 4})
	ts := time.UnixMilli(1_700_000_000_123)
	var recs []*kgo.Record
	var want []string
	for i := range 40 {
		v := fmt.Sprintf("v%d", i)
		want = append(want, v)
		recs = append(recs, &kgo.Record{
			Topic: "words", Partition: int32(i % 4), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(v)}}, Timestamp: ts,
		})
	}
	c.Produce(recs...)

	j := newJob(t, kafka.Subscribe("words"), kafka.Brokers(c.Addrs...), kafka.Group("g1"))
	j.start()
	j.stepUntil("40 records", func() bool { return j.count() >= 40 })
	checkOnce(t, j.records(), want)

	j.mu.Lock()
	for _, b := range j.batches {
		if len(b.parts) != len(b.ranges) {
			t.Fatalf("batch %v: %d partitions but %d offset ranges", b.time, len(b.parts), len(b.ranges))
		}
		if !slices.IsSortedFunc(b.ranges, func(x, y kafka.OffsetRange) int { return int(x.Partition - y.Partition) }) {
			t.Errorf("batch %v: ranges not sorted: %v", b.time, b.ranges)
		}
		for i, r := range b.ranges {
			if int64(len(b.parts[i])) != r.Count() {
				t.Errorf("batch %v: partition %d has %d records, range %v counts %d", b.time, i, len(b.parts[i]), r, r.Count())
			}
			for k, rec := range b.parts[i] {
				if rec.Topic != r.Topic || rec.Partition != r.Partition || rec.Offset != r.From+int64(k) {
					t.Errorf("batch %v: partition %d record %d is %s-%d@%d, want in %v in order", b.time, i, k, rec.Topic, rec.Partition, rec.Offset, r)
				}
				n := strings.TrimPrefix(string(rec.Value), "v")
				if string(rec.Key) != "k"+n || len(rec.Headers) != 1 || rec.Headers[0].Key != "h" || string(rec.Headers[0].Value) != string(rec.Value) {
					t.Errorf("record %s: key %q headers %v", rec.Value, rec.Key, rec.Headers)
				}
				if !rec.Timestamp.Equal(ts) {
					t.Errorf("record %s: timestamp %v, want %v", rec.Value, rec.Timestamp, ts)
				}
			}
		}
	}
	j.mu.Unlock()

	// The ranges are committed during the next batch's generation.
	if err := j.step(); err != nil {
		t.Fatal(err)
	}
	want10 := map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10}
	if got := c.Committed("g1")["words"]; !maps.Equal(got, want10) {
		t.Errorf("committed offsets = %v, want %v", got, want10)
	}
}

func TestDirectStreamExactlyOnceAcrossRestart(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 3})
	first := produceN(c, "t", 3, "a", 30)
	opts := []kafka.Option{kafka.Brokers(c.Addrs...), kafka.Group("g")}

	j1 := newJob(t, kafka.Subscribe("t"), opts...)
	j1.start()
	j1.stepUntil("the first records", func() bool { return j1.count() >= 30 })
	// A graceful stop commits what completed batches consumed.
	if err := j1.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, j1.records(), first)

	second := produceN(c, "t", 3, "b", 30)
	j2 := newJob(t, kafka.Subscribe("t"), opts...)
	j2.start()
	j2.stepUntil("the new records", func() bool { return j2.count() >= 30 })
	// Give late duplicates, if any, a chance to show.
	for range 3 {
		if err := j2.step(); err != nil {
			t.Fatal(err)
		}
	}
	checkOnce(t, j2.records(), second)
}

func TestDirectStreamFailedOutputIsReadAgain(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	produceN(c, "t", 2, "a", 10)
	opts := []kafka.Option{kafka.Brokers(c.Addrs...), kafka.Group("g")}

	j1 := newJob(t, kafka.Subscribe("t"), opts...)
	j1.start()
	j1.stepUntil("the first records", func() bool { return j1.count() >= 10 })
	if err := j1.step(); err != nil { // commits the first records
		t.Fatal(err)
	}
	committed := c.Committed("g")["t"]
	if want := (map[int32]int64{0: 5, 1: 5}); !maps.Equal(committed, want) {
		t.Fatalf("committed = %v, want %v", committed, want)
	}

	boom := errors.New("sink down")
	j1.mu.Lock()
	j1.fail = func(b *dstream.Batch[kafka.Record]) error {
		if b.Len() > 0 {
			return boom
		}
		return nil
	}
	j1.mu.Unlock()
	failed := produceN(c, "t", 2, "b", 10)
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		err = j1.step()
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(err, boom) {
		t.Fatalf("batch error = %v, want %v", err, boom)
	}
	_ = j1.ssc.Stop(context.Background(), dstream.Graceful)
	if got := c.Committed("g")["t"]; !maps.Equal(got, committed) {
		t.Fatalf("after the failed batch the committed offsets moved: %v, want %v", got, committed)
	}

	j2 := newJob(t, kafka.Subscribe("t"), opts...)
	j2.start()
	j2.stepUntil("the records of the failed batch", func() bool { return j2.count() >= 10 })
	checkOnce(t, j2.records(), failed)
}

func TestDirectStreamMaxRatePerPartition(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	want := produceN(c, "t", 2, "a", 50)
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"), kafka.MaxRatePerPartition(7))
	var lagMu sync.Mutex
	lags := map[int64][]dstream.PartitionLag{}
	j.ssc.AddListener(completedFunc(func(b dstream.BatchInfo) {
		lagMu.Lock()
		lags[b.BatchTime.UnixMilli()] = b.Inputs[0].Lag
		lagMu.Unlock()
	}))
	j.start()
	j.stepUntil("every record", func() bool { return j.count() >= 50 })
	checkOnce(t, j.records(), want)
	j.mu.Lock()
	defer j.mu.Unlock()
	lagMu.Lock()
	defer lagMu.Unlock()
	full := 0
	for _, b := range j.batches {
		// The consumer lag reported with the batch is what the cap left
		// behind: 25 records per partition were there from the start.
		var wantLag []dstream.PartitionLag
		for _, r := range b.ranges {
			wantLag = append(wantLag, dstream.PartitionLag{Partition: fmt.Sprintf("t-%d", r.Partition), Records: 25 - r.Until})
		}
		if got := lags[b.time.UnixMilli()]; !slices.Equal(got, wantLag) {
			t.Errorf("batch %v: lag %v, want %v", b.time, got, wantLag)
		}
		for _, r := range b.ranges {
			if r.Count() > 7 { // 7 records/s × 1 s batches
				t.Errorf("batch %v: range %v holds %d records, over the cap of 7", b.time, r, r.Count())
			}
			if r.Count() == 7 {
				full++
			}
		}
	}
	if full < 6 { // 25 records per partition: at least 3 full batches each
		t.Errorf("only %d ranges at the cap; the rate limit was not reached", full)
	}
}

func TestDirectStreamCommitAsyncRunsAtNextBatch(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	produceN(c, "t", 2, "a", 10)
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"), kafka.ManualCommit())
	j.start()
	j.stepUntil("every record", func() bool { return j.count() >= 10 })
	if err := j.step(); err != nil {
		t.Fatal(err)
	}
	if got := c.Committed("g")["t"]; len(got) != 0 {
		t.Fatalf("ManualCommit: offsets were committed without CommitAsync: %v", got)
	}

	// Two commits queued in one batch: the largest Until wins per
	// partition, and only the last callback is called.
	type call struct {
		name    string
		offsets map[kafka.TopicPartition]int64
		err     error
	}
	calls := make(chan call, 4)
	j.ds.CommitAsync([]kafka.OffsetRange{{Topic: "t", Partition: 0, From: 0, Until: 5}, {Topic: "t", Partition: 1, From: 0, Until: 2}},
		func(o map[kafka.TopicPartition]int64, err error) { calls <- call{"first", o, err} })
	j.ds.CommitAsync([]kafka.OffsetRange{{Topic: "t", Partition: 0, From: 0, Until: 3}, {Topic: "t", Partition: 1, From: 2, Until: 4}},
		func(o map[kafka.TopicPartition]int64, err error) { calls <- call{"second", o, err} })
	if got := c.Committed("g")["t"]; len(got) != 0 {
		t.Fatalf("CommitAsync committed before the next batch: %v", got)
	}
	if err := j.step(); err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{0: 5, 1: 4}
	if got := c.Committed("g")["t"]; !maps.Equal(got, want) {
		t.Errorf("committed after the next batch = %v, want %v", got, want)
	}
	select {
	case got := <-calls:
		wantOffsets := map[kafka.TopicPartition]int64{{Topic: "t", Partition: 0}: 5, {Topic: "t", Partition: 1}: 4}
		if got.name != "second" || got.err != nil || !maps.Equal(got.offsets, wantOffsets) {
			t.Errorf("callback = %s(%v, %v), want second(%v, nil)", got.name, got.offsets, got.err, wantOffsets)
		}
	default:
		t.Fatal("no callback after the commit")
	}
	select {
	case got := <-calls:
		t.Errorf("a second callback ran: %s", got.name)
	default:
	}
}

func TestDirectStreamAssignWithStartingOffsets(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 3})
	produceN(c, "t", 3, "a", 30) // partition p holds a-(p + 3k) at offset k
	j := newJob(t, kafka.Assign(kafka.TopicPartition{Topic: "t", Partition: 0}, kafka.TopicPartition{Topic: "t", Partition: 2}),
		kafka.Brokers(c.Addrs...), kafka.Group("g"),
		kafka.StartingOffsets(map[kafka.TopicPartition]int64{{Topic: "t", Partition: 0}: 7, {Topic: "t", Partition: 2}: kafka.Latest}))
	j.start()
	j.stepUntil("the ranges", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return len(j.batches) > 0 && len(j.batches[len(j.batches)-1].ranges) == 2
	})
	produceN(c, "t", 3, "b", 3) // b-0 to partition 0, b-1 to 1, b-2 to 2
	j.stepUntil("the records", func() bool { return j.count() >= 5 })
	checkOnce(t, j.records(), []string{"a-21", "a-24", "a-27", "b-0", "b-2"})
	if err := j.step(); err != nil {
		t.Fatal(err)
	}
	// Assign commits to the group as a simple (generation-less) commit.
	want := map[int32]int64{0: 11, 2: 11}
	if got := c.Committed("g")["t"]; !maps.Equal(got, want) {
		t.Errorf("committed = %v, want %v", got, want)
	}
}

func TestDirectStreamAssignResumesFromCommitted(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	produceN(c, "t", 1, "a", 10)
	adm := kadm.NewClient(c.Client())
	var os kadm.Offsets
	os.AddOffset("t", 0, 6, -1)
	if _, err := adm.CommitOffsets(context.Background(), "g", os); err != nil {
		t.Fatal(err)
	}
	j := newJob(t, kafka.Assign(kafka.TopicPartition{Topic: "t"}), kafka.Brokers(c.Addrs...), kafka.Group("g"))
	j.start()
	j.stepUntil("the records", func() bool { return j.count() >= 4 })
	checkOnce(t, j.records(), []string{"a-6", "a-7", "a-8", "a-9"})
}

func TestDirectStreamSubscribePatternPicksUpNewTopics(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"ev-a": 1, "ev-b": 1, "other": 1})
	c.Produce(&kgo.Record{Topic: "ev-a", Value: []byte("a")}, &kgo.Record{Topic: "ev-b", Value: []byte("b")}, &kgo.Record{Topic: "other", Value: []byte("x")})
	j := newJob(t, kafka.SubscribePattern(`ev-.*`), kafka.Brokers(c.Addrs...), kafka.Group("g"),
		kafka.ClientOptions(kgo.MetadataMaxAge(100*time.Millisecond), kgo.MetadataMinAge(10*time.Millisecond)))
	j.start()
	j.stepUntil("ev-a and ev-b", func() bool { return j.count() >= 2 })

	adm := kadm.NewClient(c.Client())
	if _, err := adm.CreateTopic(context.Background(), 2, 1, nil, "ev-c"); err != nil {
		t.Fatal(err)
	}
	c.Produce(&kgo.Record{Topic: "ev-c", Partition: 1, Value: []byte("c")})
	j.stepUntil("the new topic's record", func() bool { return j.count() >= 3 })
	checkOnce(t, j.records(), []string{"a", "b", "c"})
}

func TestDirectStreamPicksUpNewPartitions(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	c.Produce(&kgo.Record{Topic: "t", Value: []byte("p0")})
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"),
		kafka.ClientOptions(kgo.MetadataMaxAge(100*time.Millisecond), kgo.MetadataMinAge(10*time.Millisecond)))
	j.start()
	j.stepUntil("the first record", func() bool { return j.count() >= 1 })
	adm := kadm.NewClient(c.Client())
	if _, err := adm.CreatePartitions(context.Background(), 2, "t"); err != nil {
		t.Fatal(err)
	}
	c.Produce(&kgo.Record{Topic: "t", Partition: 2, Value: []byte("p2")})
	j.stepUntil("the new partition's record", func() bool { return j.count() >= 2 })
	checkOnce(t, j.records(), []string{"p0", "p2"})
	j.mu.Lock()
	defer j.mu.Unlock()
	if last := j.batches[len(j.batches)-1]; len(last.ranges) != 3 {
		t.Errorf("last batch has ranges %v, want one per partition of 3", last.ranges)
	}
}

// otherMember joins group g for topic t as a second consumer, as a second
// copy of the job would, and returns once it owns a partition.
func otherMember(t *testing.T, c *kafkatest.Cluster, group, topic string) *kgo.Client {
	t.Helper()
	owned := make(chan struct{}, 1)
	cl := c.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[topic]) > 0 {
				select {
				case owned <- struct{}{}:
				default:
				}
			}
		}))
	go func() {
		for {
			if fs := cl.PollFetches(context.Background()); fs.IsClientClosed() {
				return
			}
		}
	}()
	return cl
}

func TestDirectStreamRevokedPartitions(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 4})
	produceN(c, "t", 4, "a", 8)
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"))
	j.start()
	j.stepUntil("the first records", func() bool { return j.count() >= 8 })
	otherMember(t, c, "g", "t")
	// The stream lets the revoked partitions go and goes on with the rest.
	j.stepUntil("a rebalance", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		last := j.batches[len(j.batches)-1]
		return len(last.ranges) > 0 && len(last.ranges) < 4
	})
	if err := j.step(); err != nil {
		t.Fatalf("after the rebalance: %v", err)
	}
}

func TestDirectStreamFailOnRevokedPartitions(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 4})
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"), kafka.FailOnRevokedPartitions())
	j.start()
	j.stepUntil("the assignment", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return len(j.batches) > 0 && len(j.batches[len(j.batches)-1].ranges) == 4
	})
	otherMember(t, c, "g", "t")
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		err = j.step()
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), "revoked") || !strings.Contains(err.Error(), "t-") {
		t.Fatalf("error = %v, want one naming the revoked partitions", err)
	}
}

func TestDirectStreamOptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		strategy kafka.Strategy
		opts     []kafka.Option
		want     string
	}{
		{"no brokers", kafka.Subscribe("t"), []kafka.Option{kafka.Group("g")}, "no brokers"},
		{"no group for Subscribe", kafka.Subscribe("t"), []kafka.Option{kafka.Brokers("127.0.0.1:1")}, "needs a consumer group"},
		{"no topics", kafka.Subscribe(), []kafka.Option{kafka.Brokers("127.0.0.1:1"), kafka.Group("g")}, "at least one topic"},
		{"bad pattern", kafka.SubscribePattern("(["), []kafka.Option{kafka.Brokers("127.0.0.1:1"), kafka.Group("g")}, "SubscribePattern"},
		{"no strategy", nil, []kafka.Option{kafka.Brokers("127.0.0.1:1")}, "no strategy"},
		{"bad partition", kafka.Assign(kafka.TopicPartition{Topic: "t", Partition: -1}), []kafka.Option{kafka.Brokers("127.0.0.1:1")}, "invalid partition"},
		{"negative rate", kafka.Subscribe("t"), []kafka.Option{kafka.Brokers("127.0.0.1:1"), kafka.Group("g"), kafka.MaxRatePerPartition(-1)}, "negative rate"},
		{"bad reset", kafka.Subscribe("t"), []kafka.Option{kafka.Brokers("127.0.0.1:1"), kafka.Group("g"), kafka.ResetOffset(5)}, "neither Earliest nor Latest"},
		{"bad starting offset", kafka.Subscribe("t"), []kafka.Option{kafka.Brokers("127.0.0.1:1"), kafka.Group("g"), kafka.StartingOffsets(map[kafka.TopicPartition]int64{{Topic: "t"}: -3})}, "invalid offset"},
		{"zero poll timeout", kafka.Subscribe("t"), []kafka.Option{kafka.Brokers("127.0.0.1:1"), kafka.Group("g"), kafka.PollTimeout(0)}, "PollTimeout"},
		{"zero stop timeout", kafka.Subscribe("t"), []kafka.Option{kafka.Brokers("127.0.0.1:1"), kafka.Group("g"), kafka.StopTimeout(0)}, "StopTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			ds := kafka.NewDirectStream(ssc, tc.strategy, tc.opts...)
			if err := ds.Err(); !errors.Is(err, dstream.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Err = %v, want ErrInvalidOption mentioning %q", err, tc.want)
			}
			ds.Stream().Print()
			if err := ssc.Start(); !errors.Is(err, dstream.ErrInvalidOption) {
				t.Errorf("Start = %v, want the option error", err)
			}
		})
	}
}

func TestDirectStreamGroupPerStream(t *testing.T) {
	ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	a := kafka.NewDirectStream(ssc, kafka.Subscribe("a"), kafka.Brokers("127.0.0.1:1"), kafka.Group("g"))
	b := kafka.NewDirectStream(ssc, kafka.Subscribe("b"), kafka.Brokers("127.0.0.1:1"), kafka.Group("g"))
	if a.Err() != nil {
		t.Fatalf("first stream: %v", a.Err())
	}
	if err := b.Err(); !errors.Is(err, dstream.ErrInvalidOption) || !strings.Contains(err.Error(), "group per stream") {
		t.Fatalf("second stream with the same group: Err = %v", err)
	}
}

// TestDirectStreamGroupPerContext: the group-per-stream rule is per
// context, so two contexts of one process may each read with one group.
func TestDirectStreamGroupPerContext(t *testing.T) {
	for i := range 2 {
		ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		ds := kafka.NewDirectStream(ssc, kafka.Subscribe("a"), kafka.Brokers("127.0.0.1:1"), kafka.Group("g-per-context"))
		if err := ds.Err(); err != nil {
			t.Fatalf("stream of context %d: Err = %v", i, err)
		}
	}
}

func TestDirectStreamSubscribeStartingOffsetsOverrideCommitted(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	produceN(c, "t", 2, "a", 20) // partition p holds a-(p + 2k) at offset k
	adm := kadm.NewClient(c.Client())
	var os kadm.Offsets
	os.AddOffset("t", 0, 8, -1)
	os.AddOffset("t", 1, 9, -1)
	if _, err := adm.CommitOffsets(context.Background(), "g", os); err != nil {
		t.Fatal(err)
	}
	// Partition 0 starts where StartingOffsets says, partition 1 at the
	// group's committed offset.
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"),
		kafka.StartingOffsets(map[kafka.TopicPartition]int64{{Topic: "t", Partition: 0}: 5}))
	j.start()
	j.stepUntil("the records", func() bool { return j.count() >= 6 })
	checkOnce(t, j.records(), []string{"a-10", "a-12", "a-14", "a-16", "a-18", "a-19"})
}

func TestDirectStreamPollTimeout(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	produceN(c, "t", 1, "a", 5)
	// The broker lists the records but never serves them.
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, errors.New("fetch refused by the test"), true
	})
	j := newJob(t, kafka.Assign(kafka.TopicPartition{Topic: "t"}), kafka.Brokers(c.Addrs...), kafka.PollTimeout(300*time.Millisecond))
	j.start()
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		err = j.step()
	}
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms waiting for the records of t-0 [0, 5)") {
		t.Fatalf("error = %v, want a poll timeout naming the range", err)
	}
}

// completedFunc adapts a function to dstream.BatchCompletedListener.
type completedFunc func(dstream.BatchInfo)

func (f completedFunc) OnBatchCompleted(b dstream.BatchInfo) { f(b) }

// A stream of 10 ms batches starts (franz-go refuses a fetch wait under
// 10 ms, which half of such an interval was) and reads every record once
// on the system clock, with records produced while it runs. Its batches
// end at the records fetched, without listing the offsets per batch: at
// most one listing a second, in the background.
func TestDirectStreamTenMillisecondBatches(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"fast": 2})
	var lists atomic.Int64
	c.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		lists.Add(1)
		return nil, nil, false
	})
	j := startRealTimeJob(t, 10*time.Millisecond, kafka.Subscribe("fast"), kafka.Brokers(c.Addrs...), kafka.Group("g10"))
	ssc, mu := j.ssc, &j.mu
	want := produceN(c, "fast", 2, "a", 100)
	time.Sleep(50 * time.Millisecond)
	want = append(want, produceN(c, "fast", 2, "b", 100)...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n, ran := len(j.got), j.batches
		mu.Unlock()
		if n >= len(want) && ran >= 30 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The listing per batch would make at least one per batch.
	listed := lists.Load()
	if err := ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	checkOnce(t, j.got, want)
	if j.batches < 30 {
		t.Errorf("%d batches ran, want many at 10 ms", j.batches)
	}
	// franz-go lists the starting offsets once; the background listing
	// runs once a second.
	if limit := int64(j.batches / 10); listed > limit {
		t.Errorf("%d offset listings for %d batches, want at most %d", listed, j.batches, limit)
	}
}

// realTimeJob is a direct stream on the system clock collecting its
// records, with the degraded components of its last completed batch.
type realTimeJob struct {
	ssc      *dstream.Context
	mu       sync.Mutex
	got      []kafka.Record
	batches  int
	degraded map[string]string // nil until a batch completed
}

// startRealTimeJob starts a direct stream with opts at interval on the
// system clock; it stops hard when the test ends.
func startRealTimeJob(t *testing.T, interval time.Duration, strategy kafka.Strategy, opts ...kafka.Option) *realTimeJob {
	t.Helper()
	ssc, err := dstream.NewContext(interval, dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	j := &realTimeJob{ssc: ssc}
	ssc.AddListener(completedFunc(func(b dstream.BatchInfo) {
		d := map[string]string{}
		for _, x := range b.Degraded {
			d[x.Component] = x.Err.Error()
		}
		j.mu.Lock()
		j.degraded = d
		j.mu.Unlock()
	}))
	ds := kafka.NewDirectStream(ssc, strategy, opts...)
	if err := ds.Stream().ForEachBatch(func(_ context.Context, b *dstream.Batch[kafka.Record]) error {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.batches++
		j.got = append(j.got, b.Collect()...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return j
}
