package kafka_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// outRow is a Kafka record as the Parquet files of the scale-out tests
// hold it.
type outRow struct {
	Value     string `parquet:"value"`
	Partition int32  `parquet:"partition"`
	Offset    int64  `parquet:"offset"`
}

// parquetJob is a copy of a job reading topic t in group g and writing
// dir with Rotate, resuming from the sink's store.
type parquetJob struct {
	ssc   *dstream.Context
	clock *dstream.ManualClock
}

func newParquetJob(t *testing.T, c *kafkatest.Cluster, group, dir string, rot parquetsink.Rotation, resume bool) *parquetJob {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	sink, err := parquetsink.New[outRow](dir, parquetsink.Rotate(rot))
	if err != nil {
		t.Fatal(err)
	}
	opts := []kafka.Option{kafka.Brokers(c.Addrs...), kafka.Group(group), kafka.ResetOffset(kafka.Earliest)}
	if resume {
		opts = append(opts, kafka.ResumeFrom(sink))
	}
	ds := kafka.NewDirectStream(ssc, kafka.Subscribe("t"), opts...)
	rows := dstream.Map(ds.Stream(), func(r kafka.Record) outRow {
		return outRow{Value: string(r.Value), Partition: r.Partition, Offset: r.Offset}
	})
	if err := rows.WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	return &parquetJob{ssc: ssc, clock: clk}
}

func (j *parquetJob) step() error {
	j.clock.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return j.ssc.WaitForBatch(ctx, j.clock.Now())
}

// parquetValues reads the values in the data files under dir.
func parquetValues(t *testing.T, dir string) []kafka.Record {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Record
	for _, n := range names {
		rows, err := parquet.ReadFile[outRow](n)
		if err != nil {
			t.Fatalf("reading %s: %v", n, err)
		}
		for _, r := range rows {
			out = append(out, kafka.Record{Value: []byte(r.Value), Partition: r.Partition, Offset: r.Offset})
		}
	}
	return out
}

// Copies of a job in one group, writing one directory with Rotate and
// resuming from it (ResumeFrom), under joins and a graceful leave while
// every partition has a chunk open: every record is in the files once.
// Without ResumeFrom, a partition's next owner starts at the group's
// commit, ahead of the chunk its previous owner had open, and the sink
// refuses the gap (or, were it not checked, would lose the chunk).
func TestResumeFromSinkAcrossCopies(t *testing.T) {
	for _, resume := range []bool{true, false} {
		t.Run(fmt.Sprint("ResumeFrom=", resume), func(t *testing.T) {
			got, want, err := scaleOut(t, resume)
			if !resume {
				if err == nil || !strings.Contains(err.Error(), "would be missing") {
					t.Fatalf("without ResumeFrom: %v, want the sink refusing the gap (\"would be missing\")", err)
				}
				t.Logf("without ResumeFrom: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkOnce(t, got, want)
		})
	}
}

// scaleOut runs copies of a job in one group with joins and a graceful
// leave, and returns what the files hold, what was produced, and the
// first error of a batch.
func scaleOut(t *testing.T, resume bool) (got []kafka.Record, want []string, err error) {
	c := kafkatest.New(t, map[string]int32{"t": 6})
	dir := t.TempDir()
	rot := parquetsink.Rotation{Rows: 1000} // chunks stay open: only Release and Resume commit them
	produce := func(prefix string) { want = append(want, produceN(c, "t", 6, prefix, 90)...) }
	var jobs []*parquetJob
	round := func(n int) error {
		for range n {
			for _, j := range jobs {
				if err := j.step(); err != nil {
					return err
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	}
	a := newParquetJob(t, c, "g", dir, rot, resume)
	jobs = append(jobs, a)
	produce("a")
	if err := round(3); err != nil {
		return nil, want, err
	}
	b := newParquetJob(t, c, "g", dir, rot, resume) // joins: partitions move from a
	jobs = append(jobs, b)
	produce("b")
	if err := round(5); err != nil {
		return nil, want, err
	}
	jobs = append(jobs, newParquetJob(t, c, "g", dir, rot, resume))
	produce("c")
	if err := round(5); err != nil {
		return nil, want, err
	}
	// b leaves gracefully: its open chunks are committed as it leaves.
	if err := b.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		return nil, want, err
	}
	jobs = slices.DeleteFunc(jobs, func(j *parquetJob) bool { return j == b })
	produce("d")
	// Until the group has rebalanced b's partitions (the others learn of
	// it at a heartbeat, 3 s by default) and the copies committed every
	// partition to its end.
	ends := c.EndOffsets("t")["t"]
	for i := 0; ; i++ {
		if err := round(1); err != nil {
			return nil, want, err
		}
		done := true
		committed := c.Committed("g")["t"]
		for p, end := range ends {
			if committed[p] < end {
				done = false
			}
		}
		if done {
			break
		}
		if i == 100 {
			return nil, want, fmt.Errorf("the copies did not read every partition to its end: committed %v of %v", committed, ends)
		}
	}
	for _, j := range jobs {
		if err := j.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
			return nil, want, err
		}
	}
	names, _ := filepath.Glob(filepath.Join(dir, "part-t-*.parquet"))
	if len(names) == 0 {
		return nil, want, fmt.Errorf("no file named by source range in %s", dir)
	}
	return parquetValues(t, dir), want, nil
}
