package kafkasink

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// etlJob is a Kafka-to-Kafka job: a direct stream of "in" (ManualCommit,
// group "etl") mapped and written to "out" in transactions that commit the
// stream's offsets.
type etlJob struct {
	t   *testing.T
	clk *dstream.ManualClock
	ssc *dstream.Context
	ds  *kafka.DirectStream
}

func newETLJob(t *testing.T, c *kafkatest.Cluster, hooks *testHooks) *etlJob {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet), dstream.WithParallelism(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	ds := kafka.NewDirectStream(ssc, kafka.Subscribe("in"), kafka.Brokers(c.Addrs...), kafka.Group("etl"),
		kafka.ManualCommit(), kafka.MaxRatePerPartition(5))
	out := dstream.Map(ds.Stream(), func(r kafka.Record) dstream.Pair[[]byte, string] {
		return dstream.KV(r.Key, "OUT-"+string(r.Value))
	})
	opts := []Option{Brokers(c.Addrs...), Transactional("etl-0", Offsets(ds, "etl"))}
	if hooks != nil {
		opts = append(opts, withHooks(hooks))
	}
	if err := Write(out, "out", opts...); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return &etlJob{t: t, clk: clk, ssc: ssc, ds: ds}
}

func (j *etlJob) start() {
	j.t.Helper()
	if err := j.ssc.Start(); err != nil {
		j.t.Fatalf("Start: %v", err)
	}
}

// step runs the next batch; ctx ends the wait early.
func (j *etlJob) step(ctx context.Context) error {
	j.clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := j.ssc.WaitForBatch(ctx, j.clk.Now())
	time.Sleep(10 * time.Millisecond) // real time for the background fetches and the group
	return err
}

// holdsRecords reports whether the direct stream's batch at t has any.
func (j *etlJob) holdsRecords(t time.Time) bool {
	for _, r := range j.ds.OffsetRanges(t) {
		if r.Count() > 0 {
			return true
		}
	}
	return false
}

// TestExactlyOnceKafkaToKafka runs a Kafka-to-Kafka job three times: the
// first run's sink dies in the middle of a transaction that holds records
// and offsets, leaving it open with a live producer (a zombie); the
// second run is stopped hard while a transaction is open; the third runs
// to the end. The output, read with read_committed, holds each input
// record exactly once, and the zombie cannot commit.
func TestExactlyOnceKafkaToKafka(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"in": 3, "out": 2})
	const n = 90
	var recs []*kgo.Record
	want := map[string]int{}
	for i := range n {
		v := fmt.Sprintf("v-%03d", i)
		recs = append(recs, &kgo.Record{Topic: "in", Partition: int32(i % 3), Key: []byte(v), Value: []byte(v)})
		want["OUT-"+v] = 1
	}
	c.Produce(recs...)

	// Run 1: the second transaction with records is abandoned after its
	// records and offsets were added.
	var mu sync.Mutex
	var zombie *kgo.Client
	withRecords := 0
	var j1 *etlJob
	j1 = newETLJob(t, c, &testHooks{abandon: func(bt time.Time, cl *kgo.Client) bool {
		mu.Lock()
		defer mu.Unlock()
		if !j1.holdsRecords(bt) {
			return false
		}
		withRecords++
		if withRecords == 2 {
			zombie = cl
			return true
		}
		return false
	}})
	j1.start()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		err = j1.step(context.Background())
	}
	if err == nil {
		t.Fatal("run 1 did not stop")
	}
	_ = j1.ssc.Stop(context.Background(), dstream.Hard)
	mu.Lock()
	if zombie == nil {
		mu.Unlock()
		t.Fatalf("run 1 ended without abandoning a transaction: %v", err)
	}
	mu.Unlock()
	defer zombie.Close()
	run1 := readTopic(t, c, "out", true)
	if len(run1) == 0 || len(run1) >= n {
		t.Fatalf("run 1 committed %d records; want some, not all", len(run1))
	}
	t.Logf("run 1: %d records committed, then a transaction was abandoned: %v", len(run1), err)

	// Run 2: a hard stop while the second transaction with records is
	// open.
	reached := make(chan struct{})
	mu.Lock()
	withRecords = 0
	mu.Unlock()
	var j2 *etlJob
	j2 = newETLJob(t, c, &testHooks{beforeCommit: func(ctx context.Context, bt time.Time) error {
		mu.Lock()
		if !j2.holdsRecords(bt) {
			mu.Unlock()
			return nil
		}
		withRecords++
		hold := withRecords == 2
		mu.Unlock()
		if !hold {
			return nil
		}
		close(reached)
		<-ctx.Done()
		return ctx.Err()
	}})
	j2.start()
	waitCtx, cancel := context.WithCancel(context.Background())
	go func() {
		<-reached
		cancel()
	}()
	deadline = time.Now().Add(30 * time.Second)
	for waitCtx.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("run 2 never reached its second transaction with records")
		}
		if err := j2.step(waitCtx); err != nil && waitCtx.Err() == nil {
			t.Fatalf("run 2: %v", err)
		}
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := j2.ssc.Stop(stopCtx, dstream.Hard); err != nil {
		t.Fatalf("run 2: hard stop: %v", err)
	}
	run2 := readTopic(t, c, "out", true)
	if len(run2) <= len(run1) || len(run2) >= n {
		t.Fatalf("after run 2, %d records are committed (run 1: %d); want more, not all", len(run2), len(run1))
	}
	t.Logf("run 2: %d records committed, then stopped hard", len(run2))

	// The zombie of run 1 was fenced by run 2's producer.
	ctx, zcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer zcancel()
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the zombie producer committed its transaction")
	} else {
		t.Logf("zombie commit: %v", err)
	}

	// Run 3: to the end.
	j3 := newETLJob(t, c, nil)
	j3.start()
	deadline = time.Now().Add(60 * time.Second)
	end := map[int32]int64{0: n / 3, 1: n / 3, 2: n / 3}
	for !maps.Equal(c.Committed("etl")["in"], end) {
		if time.Now().After(deadline) {
			t.Fatalf("run 3: the group's offsets are %v, want %v", c.Committed("etl")["in"], end)
		}
		if err := j3.step(context.Background()); err != nil {
			t.Fatalf("run 3: %v", err)
		}
	}
	for range 3 { // late duplicates, if any, would show
		if err := j3.step(context.Background()); err != nil {
			t.Fatalf("run 3: %v", err)
		}
	}
	if err := j3.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}

	out := readTopic(t, c, "out", true)
	got := map[string]int{}
	for _, r := range out {
		got[string(r.Value)]++
		if "OUT-"+string(r.Key) != string(r.Value) {
			t.Errorf("record %q has key %q", r.Value, r.Key)
		}
	}
	if !maps.Equal(got, want) {
		for v, k := range got {
			if k != 1 {
				t.Errorf("%s written %d times", v, k)
			}
		}
		for v := range want {
			if got[v] == 0 {
				t.Errorf("%s missing", v)
			}
		}
		t.Fatalf("read_committed holds %d records, want each of the %d once", len(out), n)
	}
	all := readTopic(t, c, "out", false)
	if len(all) <= n {
		t.Errorf("read_uncommitted holds %d records: no aborted records, the test proves little", len(all))
	}
	t.Logf("read_committed: %d records, each once; read_uncommitted: %d (aborted ones included)", len(out), len(all))
}
