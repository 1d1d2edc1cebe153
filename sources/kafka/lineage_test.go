package kafka_test

import (
	"context"
	"sync"
	"testing"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// lineageOutput records, for every partition written, its records'
// positions and its Lineage.
type lineageOutput struct {
	mu    sync.Mutex
	parts []lineagePart
}

type lineagePart struct {
	records []kafka.Record
	lineage []dstream.Lineage
}

func (o *lineageOutput) Open(context.Context) error { return nil }
func (o *lineageOutput) Close() error               { return nil }
func (o *lineageOutput) Begin(context.Context, dstream.OutputBatch) (dstream.BatchWriter[kafka.Record], error) {
	return o, nil
}
func (o *lineageOutput) WritePartition(_ context.Context, p *dstream.Partition[kafka.Record]) error {
	var lp lineagePart
	for r := range p.Records() {
		lp.records = append(lp.records, r)
	}
	lp.lineage = p.Lineage
	o.mu.Lock()
	o.parts = append(o.parts, lp)
	o.mu.Unlock()
	return nil
}
func (o *lineageOutput) Commit(context.Context) error { return nil }
func (o *lineageOutput) Abort(context.Context, error) {}

// An output's partitions name the offset range they hold, through a
// narrow chain (filter), so a sink can name what it writes by source
// range.
func TestDirectStreamLineageIsOffsetRange(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 3})
	produceN(c, "t", 3, "v", 30)
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("lineage"))
	out := &lineageOutput{}
	odd := j.ds.Stream().Filter(func(r kafka.Record) bool { return r.Offset%2 == 1 })
	if err := odd.WriteTo(out); err != nil {
		t.Fatal(err)
	}
	j.start()
	j.stepUntil("30 records", func() bool { return j.count() >= 30 })
	out.mu.Lock()
	defer out.mu.Unlock()
	covered := map[int32]int64{} // partition -> records covered by ranges
	for _, p := range out.parts {
		if len(p.lineage) != 1 {
			t.Fatalf("partition lineage %+v, want one entry", p.lineage)
		}
		r, ok := p.lineage[0].Source.(kafka.OffsetRange)
		if !ok || p.lineage[0].Input != j.ds.Stream().Name() {
			t.Fatalf("lineage %+v: want an OffsetRange of %s", p.lineage[0], j.ds.Stream().Name())
		}
		covered[r.Partition] += r.Count()
		for _, rec := range p.records {
			if rec.Topic != r.Topic || rec.Partition != r.Partition || rec.Offset < r.From || rec.Offset >= r.Until || rec.Offset%2 != 1 {
				t.Errorf("record t-%d@%d written in the partition of range %v", rec.Partition, rec.Offset, r)
			}
		}
	}
	for p := range int32(3) {
		if covered[p] != 10 {
			t.Errorf("ranges of partition %d cover %d records, want 10", p, covered[p])
		}
	}
}
