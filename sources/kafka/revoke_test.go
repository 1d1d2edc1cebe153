package kafka_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// A second member joining the group takes partitions away from the first
// while the first's batch holding them is still being written: the
// rebalance waits for that batch, which commits, so the new owner starts
// after it and no record is read twice across the two jobs (two contexts
// of one process, as two copies of a job would be).
func TestRevokeWaitsForBatchesInFlight(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 4})
	first := produceN(c, "t", 4, "a", 40)
	opts := []kafka.Option{kafka.Brokers(c.Addrs...), kafka.Group("revoke"), kafka.RevokeTimeout(30 * time.Second)}

	a := newJob(t, kafka.Subscribe("t"), opts...)
	gate := make(chan struct{})
	var blocked atomic.Bool
	err := a.ds.Stream().ForEachBatch(func(_ context.Context, b *dstream.Batch[kafka.Record]) error {
		if b.Len() > 0 && blocked.CompareAndSwap(false, true) {
			<-gate // the first batch with records is slow to write
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a.start()
	deadline := time.Now().Add(30 * time.Second)
	for a.count() < len(first) { // batches run until the slow one holds the records
		if time.Now().After(deadline) {
			t.Fatalf("job a saw %d of %d records", a.count(), len(first))
		}
		a.clock.Advance(time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	if !blocked.Load() {
		t.Fatal("no batch is blocked")
	}

	b := newJob(t, kafka.Subscribe("t"), opts...)
	b.start() // joins the group: a rebalance takes partitions from a
	time.Sleep(time.Second)
	close(gate) // a's batch finishes during the rebalance

	second := produceN(c, "t", 4, "b", 40)
	want := append(first, second...)
	deadline = time.Now().Add(60 * time.Second)
	for a.count()+b.count() < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("a saw %d and b %d records of %d", a.count(), b.count(), len(want))
		}
		for _, j := range []*job{a, b} {
			if err := j.step(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.count() == 0 {
		t.Fatal("b read nothing: it was given no partition")
	}
	checkOnce(t, append(a.records(), b.records()...), want)
}
