package dstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a listener that implements every event interface and keeps
// what it saw.
type recorder struct {
	mu        sync.Mutex
	events    []string
	completed []BatchInfo
	outputs   []OutputOperationInfo
	stopErr   error
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) OnStreamingStarted(time.Time) { r.add("started") }
func (r *recorder) OnStreamingStopped(err error) {
	r.mu.Lock()
	r.stopErr = err
	r.mu.Unlock()
	r.add("stopped")
}
func (r *recorder) OnBatchSubmitted(b BatchInfo) {
	r.add("submitted %d records=%d", b.BatchTime.UnixMilli(), b.NumRecords())
}
func (r *recorder) OnBatchStarted(b BatchInfo) { r.add("batch started %d", b.BatchTime.UnixMilli()) }
func (r *recorder) OnBatchCompleted(b BatchInfo) {
	r.mu.Lock()
	r.completed = append(r.completed, b)
	r.mu.Unlock()
	r.add("batch completed %d ops=%d/%d", b.BatchTime.UnixMilli(), b.Succeeded(), len(b.OutputOperations))
}
func (r *recorder) OnOutputOperationStarted(o OutputOperationInfo) {
	r.add("op started %d %d %s", o.BatchTime.UnixMilli(), o.ID, o.Name)
}
func (r *recorder) OnOutputOperationCompleted(o OutputOperationInfo) {
	r.mu.Lock()
	r.outputs = append(r.outputs, o)
	r.mu.Unlock()
	r.add("op completed %d %d %s err=%v", o.BatchTime.UnixMilli(), o.ID, o.Name, o.Err)
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Pin (section 8): the listener events of a batch come in Spark's order
// (submitted, started, each output operation started and completed in
// definition order, completed), with the records of the batch's inputs and
// each output operation's outcome.
func TestListenerEventOrder(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, time.Second, WithListener(rec))
	q := NewQueue[int]()
	q.Push([]int{1, 2, 3})
	in := QueueStream(h.ssc, q, EmptyWhenIdle())
	mustNoErr(t, in.ForEachBatch(func(context.Context, *Batch[int]) error { return nil }), "ForEachBatch")
	mustNoErr(t, in.Count().ForEachBatch(func(context.Context, *Batch[int64]) error { return nil }), "ForEachBatch")
	h.start()
	h.steps(2)
	mustNoErr(t, h.ssc.Stop(context.Background(), Graceful), "Stop")
	want := []string{
		"started",
		"submitted 1000 records=3",
		"batch started 1000",
		"op started 1000 0 forEachBatch",
		"op completed 1000 0 forEachBatch err=<nil>",
		"op started 1000 1 forEachBatch",
		"op completed 1000 1 forEachBatch err=<nil>",
		"batch completed 1000 ops=2/2",
		"submitted 2000 records=0",
		"batch started 2000",
		"op started 2000 0 forEachBatch",
		"op completed 2000 0 forEachBatch err=<nil>",
		"op started 2000 1 forEachBatch",
		"op completed 2000 1 forEachBatch err=<nil>",
		"batch completed 2000 ops=2/2",
		"stopped",
	}
	if got := rec.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("events:\n%q\nwant:\n%q", got, want)
	}
	b := rec.completed[0]
	if len(b.Inputs) != 1 || b.Inputs[0].StreamID != 0 || b.Inputs[0].Name != "queueStream#1" || b.Inputs[0].NumRecords != 3 {
		t.Fatalf("inputs = %+v", b.Inputs)
	}
	if b.Err != nil || rec.stopErr != nil {
		t.Fatalf("errors: batch %v, stop %v", b.Err, rec.stopErr)
	}
}

// A failed output operation is recorded in its OutputOperationInfo and in
// the BatchInfo; later output operations of the batch do not run.
func TestListenerFailedOutput(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, time.Second, WithListener(rec))
	q := NewQueue[int]()
	q.Push([]int{1})
	in := QueueStream(h.ssc, q)
	boom := errors.New("boom")
	mustNoErr(t, in.ForEachBatch(func(context.Context, *Batch[int]) error { return nil }), "ForEachBatch")
	mustNoErr(t, in.ForEachBatch(func(context.Context, *Batch[int]) error { return boom }), "ForEachBatch")
	mustNoErr(t, in.ForEachBatch(func(context.Context, *Batch[int]) error { t.Error("ran after a failure"); return nil }), "ForEachBatch")
	h.start()
	if err := h.stepErr(); !errors.Is(err, boom) {
		t.Fatalf("batch error = %v", err)
	}
	if err := h.ssc.AwaitTermination(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("AwaitTermination = %v, want %v", err, boom)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.completed) != 1 {
		t.Fatalf("%d batches completed, want 1", len(rec.completed))
	}
	b := rec.completed[0]
	if !errors.Is(b.Err, boom) || len(b.OutputOperations) != 2 || b.Succeeded() != 1 {
		t.Fatalf("batch info: err %v, %d ops, %d succeeded; want boom, 2, 1", b.Err, len(b.OutputOperations), b.Succeeded())
	}
	if op := b.OutputOperations[1]; op.ID != 1 || !errors.Is(op.Err, boom) || op.EndTime.IsZero() {
		t.Fatalf("failed op info = %+v", op)
	}
	if !errors.Is(rec.stopErr, boom) {
		t.Fatalf("OnStreamingStopped got %v, want the batch error", rec.stopErr)
	}
}

// Pin (section 8): schedulingDelay = start - submission, processingDelay =
// end - start, totalDelay = their sum; a slow batch delays the next ones,
// which shows as scheduling delay.
func TestBatchInfoDelays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		ssc, err := NewContext(time.Second, WithLogger(quietLogger), WithListener(rec))
		mustNoErr(t, err, "NewContext")
		q := NewQueue[int]()
		q.Push([]int{1})
		q.Push([]int{2})
		q.Push([]int{3})
		mustNoErr(t, QueueStream(ssc, q).ForEachBatch(func(_ context.Context, b *Batch[int]) error {
			if b.Collect()[0] == 1 {
				time.Sleep(2500 * time.Millisecond) // the first batch is slow
			} else {
				time.Sleep(100 * time.Millisecond)
			}
			return nil
		}), "ForEachBatch")
		mustNoErr(t, ssc.Start(), "Start")
		time.Sleep(time.Until(ssc.ZeroTime().Add(5 * time.Second)))
		mustNoErr(t, ssc.Stop(context.Background(), Hard), "Stop")

		rec.mu.Lock()
		defer rec.mu.Unlock()
		zero := ssc.ZeroTime()
		ms := func(d time.Duration) int64 { return d.Milliseconds() }
		// Batch 1 at +1s runs 2.5s until +3.5s; batch 2 (submitted at +2s)
		// starts at +3.5s and ends at +3.6s; batch 3 (+3s) runs +3.6s..+3.7s;
		// later batches have no data.
		want := []struct {
			at                            time.Duration
			sched, proc, total, submitted int64
		}{
			{time.Second, 0, 2500, 2500, 1000},
			{2 * time.Second, 1500, 100, 1600, 2000},
			{3 * time.Second, 600, 100, 700, 3000},
		}
		if len(rec.completed) < len(want) {
			t.Fatalf("%d batches completed, want at least %d", len(rec.completed), len(want))
		}
		for i, w := range want {
			b := rec.completed[i]
			got := []int64{ms(b.BatchTime.Sub(zero)), ms(b.SchedulingDelay()), ms(b.ProcessingDelay()), ms(b.TotalDelay()), ms(b.SubmissionTime.Sub(zero))}
			exp := []int64{ms(w.at), w.sched, w.proc, w.total, w.submitted}
			if !slices.Equal(got, exp) {
				t.Errorf("batch %d: [time sched proc total submitted] = %v ms, want %v", i+1, got, exp)
			}
		}
	})
}
