package dstream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Backpressure tests run in a testing/synctest bubble (see receiver_test.go):
// time is virtual, and an output operation simulates processing that
// costs a fixed time per record by sleeping, so processing and scheduling
// delays are exact.

// bpSleepPerRecord registers an output on s that takes cost per record.
func bpSleepPerRecord(t testing.TB, s *Stream[int], cost time.Duration, processed *atomic.Int64) {
	t.Helper()
	mustNoErr(t, s.ForEachBatch(func(ctx context.Context, b *Batch[int]) error {
		n := b.Len()
		if !rcvSleep(ctx, time.Duration(n)*cost) {
			return ctx.Err() // a hard stop at the end of the test
		}
		if processed != nil {
			processed.Add(int64(n))
		}
		return nil
	}), "ForEachBatch")
}

// rateInput is an Input with rate control: its batch k (from 1) holds
// sizes[k-1] records (none after), and it records the rates it is given.
type rateInput struct {
	sizes []int
	since func() time.Duration // virtual time since the zero time

	mu        sync.Mutex
	k         int
	rates     []string // "rate@offset"
	firstGen  int      // len(rates) when Generate was first called
	generated bool
}

func (in *rateInput) Start(context.Context) error { return nil }
func (in *rateInput) Stop()                       {}

func (in *rateInput) Generate(_ context.Context, _ time.Time) (*InputBatch[int], error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.generated {
		in.generated = true
		in.firstGen = len(in.rates)
	}
	n := 0
	if in.k < len(in.sizes) {
		n = in.sizes[in.k]
	}
	in.k++
	return &InputBatch[int]{
		Partitions: 1,
		Records:    int64(n),
		Read:       func(context.Context, int) ([]int, error) { return make([]int, n), nil },
	}, nil
}

func (in *rateInput) SetRateLimit(r float64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rates = append(in.rates, fmt.Sprintf("%g@%v", r, in.since()))
}

func (in *rateInput) got() ([]string, int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.rates), in.firstGen
}

// Locks down how backpressure drives a RateControlled Input, with hand-
// computed estimates. Batch interval 1 s, processing 1 ms per record
// (1000 records/s), initial rate 500; batches hold 2000, 500, 500, 0, 100
// records, then none:
//
//	batch 1s: runs 1s..3s          -> seeds the estimator with 1000/s
//	batch 2s: waits 1s, 3s..3.5s   -> err 0, hist 1000: 1000-200 = 800 at 3.5s
//	batch 3s: waits 0.5s, 3.5s..4s -> err -200, hist 500: 800+200-100 = 900 at 4s
//	batch 4s: no records           -> skipped
//	batch 5s: 5s..5.1s             -> err -100: 900+100 = 1000 at 5.1s
//
// The initial rate arrives at Start, before the first Generate. Tuned
// gains change the estimates; without backpressure SetRateLimit is never
// called.
func TestBackpressureRateControlledInput(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
		want []string
	}{
		{"defaults", []Option{WithBackpressure(500)},
			[]string{"500@0s", "800@3.5s", "900@4s", "1000@5.1s"}},
		// minRate 950: 800 -> 950; then err -50, hist 500: 950+50-100 =
		// 900 -> 950; then err -50: 1000.
		{"tuned, PID option first", []Option{WithPIDRateEstimator(1, 0.2, 0, 950), WithBackpressure(500)},
			[]string{"500@0s", "950@3.5s", "950@4s", "1000@5.1s"}},
		{"no initial rate", []Option{WithBackpressure(0)},
			[]string{"800@3.5s", "900@4s", "1000@5.1s"}},
		{"disabled", []Option{WithPIDRateEstimator(1, 0.2, 0, 100)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ssc := newRcvContext(t, time.Second, tc.opts...)
				var z time.Time
				in := &rateInput{sizes: []int{2000, 500, 500, 0, 100}}
				in.since = func() time.Duration { return time.Since(z) }
				bpSleepPerRecord(t, InputStream[int](ssc, "rateInput", in), time.Millisecond, nil)
				z = time.Now()
				startRcvContext(t, ssc)
				rcvSleepUntil(z, 10500*time.Millisecond)
				got, firstGen := in.got()
				if !slices.Equal(got, tc.want) {
					t.Errorf("SetRateLimit calls = %q, want %q", got, tc.want)
				}
				if len(tc.want) > 0 && tc.want[0] == "500@0s" && firstGen != 1 {
					t.Errorf("the first Generate came after %d SetRateLimit calls, want after the initial rate only", firstGen)
				}
			})
		})
	}
}

// Locks down: a receiver starts at the backpressure initial rate capped by
// its configured maximum rate, or at its maximum rate without one, and an
// estimate is capped by the maximum rate; a rate of 0 or less is ignored.
func TestBackpressureReceiverRateLimits(t *testing.T) {
	cases := []struct {
		name      string
		ctxOpts   []Option
		rcvOpts   []ReceiverOption
		start     float64
		estimates []float64 // applied in turn
		after     []float64 // the limiter's rate after each
	}{
		{"no backpressure keeps the max rate", nil, []ReceiverOption{MaxRate(300)}, 300, nil, nil},
		{"initial rate above the max", []Option{WithBackpressure(1000)}, []ReceiverOption{MaxRate(300)}, 300,
			[]float64{1000, 120, 0, -5, 300.5}, []float64{300, 120, 120, 120, 300}},
		{"initial rate below the max", []Option{WithBackpressure(200)}, []ReceiverOption{MaxRate(300)}, 200, nil, nil},
		{"initial rate, unlimited receiver", []Option{WithBackpressure(200)}, nil, 200,
			[]float64{5000}, []float64{5000}},
		{"no initial rate", []Option{WithBackpressure(0)}, []ReceiverOption{MaxRate(300)}, 300, nil, nil},
		{"no initial rate, unlimited receiver", []Option{WithBackpressure(0)}, nil, 0, nil, nil},
		{"context-wide max rate", []Option{WithBackpressure(200), WithReceiverMaxRate(150)}, nil, 150,
			[]float64{400, 100}, []float64{150, 100}},
		{"per-receiver max overrides the context's", []Option{WithReceiverMaxRate(150), WithBackpressure(1000)}, []ReceiverOption{MaxRate(600)}, 600,
			[]float64{700}, []float64{600}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ssc, err := NewContext(time.Second, append([]Option{WithLogger(quietLogger)}, tc.ctxOpts...)...)
			mustNoErr(t, err, "NewContext")
			ReceiverStream[int](ssc, &scriptReceiver{name: "r"}, tc.rcvOpts...)
			rs := ssc.inputs[0].input.(*receiverStream[int])
			if got := rs.limiter.rate(); got != tc.start {
				t.Errorf("initial rate limit = %v, want %v", got, tc.start)
			}
			apply, _ := rs.rateControl()
			for i, e := range tc.estimates {
				apply(e)
				if got := rs.limiter.rate(); got != tc.after[i] {
					t.Errorf("after estimate %v: rate limit = %v, want %v", e, got, tc.after[i])
				}
			}
		})
	}
}

// bpBatch is what the acceptance test sees when a batch completes.
type bpBatch struct {
	time    time.Duration // batch time since the zero time
	records int64
	sched   time.Duration
	proc    time.Duration
	pending int64   // records the receiver holds (its queue, WithReceiverQueue)
	queued  int64   // records stored and not yet processed
	limit   float64 // the receiver's rate limit
}

// bpQueue is the receiver queue of the acceptance scenario, in records:
// about 17 s of the surplus of the control run without backpressure.
const bpQueue = 5000

// bpRun runs the acceptance scenario: a receiver that stores as fast as
// Store lets it, capped at maxRate records/s, and processing that costs
// cost per record, for the given number of seconds of virtual time. It
// returns every completed batch in order and the receiver queue's capacity
// in records (bpQueue).
func bpRun(t *testing.T, seconds int, maxRate float64, cost time.Duration, opts ...Option) ([]bpBatch, int64) {
	var result []bpBatch
	var capacity int64
	synctest.Test(t, func(t *testing.T) {
		var stored, processed atomic.Int64
		r := &scriptReceiver{name: "firehose", script: func(_ context.Context, h *ReceiverHost[int], _ int) {
			for i := 0; ; i++ {
				if h.Store(i) != nil {
					return
				}
				stored.Add(1)
			}
		}}
		var mu sync.Mutex
		var batches []bpBatch
		var z time.Time
		var rs *receiverStream[int]
		l := listenerFunc(func(b BatchInfo) {
			rs.mu.Lock()
			pending := rs.waiting.records + rs.inflight.records
			rs.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, bpBatch{
				time: b.BatchTime.Sub(z), records: b.NumRecords(),
				sched: b.SchedulingDelay(), proc: b.ProcessingDelay(),
				pending: pending, queued: stored.Load() - processed.Load(), limit: rs.limiter.rate(),
			})
		})
		ssc := newRcvContext(t, time.Second, append(opts, WithListener(l), WithReceiverQueue(bpQueue, 1<<30))...)
		bpSleepPerRecord(t, ReceiverStream[int](ssc, r, MaxRate(maxRate)), cost, &processed)
		rs = ssc.inputs[0].input.(*receiverStream[int])
		capacity = rs.maxRecords
		z = time.Now() // the zero time (checked by startRcvContext), set before the listener runs
		startRcvContext(t, ssc)
		rcvSleepUntil(z, time.Duration(seconds)*time.Second+500*time.Millisecond)
		mu.Lock()
		result = slices.Clone(batches) // not what the hard stop at cleanup completes
		mu.Unlock()
	})
	return result, capacity
}

func bpDump(t *testing.T, batches []bpBatch) {
	for _, b := range batches {
		t.Logf("batch +%v: %d records, waited %v, ran %v; %d records held by the receiver, %d stored and not processed; rate limit %.1f",
			b.time, b.records, b.sched, b.proc, b.pending, b.queued, b.limit)
	}
}

type listenerFunc func(BatchInfo)

func (f listenerFunc) OnBatchCompleted(b BatchInfo) { f(b) }

// Acceptance test: input faster than processing keeps the scheduling delay
// bounded and memory flat with backpressure. The receiver could store 500
// records/s; processing costs 5 ms per record, 200 records/s. Backpressure
// (no initial rate, default PID) first lets a backlog build up while the
// estimator has no data, drains it at the minimum rate, and settles at the
// processing capacity: from 40 s on every batch waits less than 2 batch
// intervals, holds about 200 records, and the records held by the
// receiver and the queued batches stay low and do not grow. Without
// backpressure (the control), the scheduling delay grows batch after batch
// and the receiver's queue fills up.
func TestBackpressureBoundsSchedulingDelay(t *testing.T) {
	const (
		seconds = 60
		maxRate = 500.0
		cost    = 5 * time.Millisecond
		settled = 40 // batches from here on are checked
	)
	capacityRate := float64(time.Second / cost) // 200 records/s

	t.Run("with backpressure", func(t *testing.T) {
		batches, capacity := bpRun(t, seconds, maxRate, cost, WithBackpressure(0))
		if len(batches) < seconds-2 {
			t.Fatalf("%d batches completed in %d s, want about %d", len(batches), seconds, seconds)
		}
		var late []bpBatch
		maxDelay := time.Duration(0)
		for _, b := range batches {
			maxDelay = max(maxDelay, b.sched)
			if b.limit > maxRate {
				t.Errorf("batch +%v: rate limit %v above the receiver's max rate %v", b.time, b.limit, maxRate)
			}
			if b.time >= settled*time.Second {
				late = append(late, b)
			}
		}
		if len(late) < 15 {
			t.Fatalf("only %d batches after +%ds: %+v", len(late), settled, batches)
		}
		var total int64
		for _, b := range late {
			total += b.records
			if b.sched >= 2*time.Second {
				t.Errorf("batch +%v waited %v, want < 2 batch intervals after convergence", b.time, b.sched)
			}
			if b.records < int64(0.75*capacityRate) || b.records > int64(1.1*capacityRate) {
				t.Errorf("batch +%v holds %d records, want about the processing capacity %v", b.time, b.records, capacityRate)
			}
			// Memory: about one batch's worth of records is held, the
			// next batch's, being received; the blocks of the batch that
			// just completed are released after this event, so they
			// still count. Far below the receiver queue's bound.
			if b.queued > int64(1.5*capacityRate) || b.pending > capacity/3 {
				t.Errorf("batch +%v: %d records stored and %d held by the receiver, want bounded near one batch (queue capacity %d records)", b.time, b.queued, b.pending, capacity)
			}
		}
		avg := float64(total) / float64(len(late))
		if avg < 0.9*capacityRate || avg > 1.02*capacityRate {
			t.Errorf("batches from +%ds hold %.1f records on average, want close to the processing capacity %v", settled, avg, capacityRate)
		}
		// Flat: the second half of the settled batches holds no more than
		// the first half did, plus a block's worth.
		half := len(late) / 2
		peak := func(bs []bpBatch) (q int64) {
			for _, b := range bs {
				q = max(q, b.queued)
			}
			return q
		}
		if a, b := peak(late[:half]), peak(late[half:]); b > a+int64(capacityRate/5) {
			t.Errorf("records held grow: peak %d, then %d", a, b)
		}
		last := late[len(late)-1]
		if last.limit < 0.9*capacityRate || last.limit > 1.05*capacityRate {
			t.Errorf("final rate limit %v, want close to %v", last.limit, capacityRate)
		}
		if t.Failed() {
			bpDump(t, batches)
		}
		t.Logf("max scheduling delay %v; from +%ds: %.1f records/batch on average, final rate limit %.1f", maxDelay, settled, avg, last.limit)
	})

	t.Run("control without backpressure", func(t *testing.T) {
		batches, capacity := bpRun(t, seconds, maxRate, cost)
		if len(batches) < 15 {
			t.Fatalf("only %d batches completed: %+v", len(batches), batches)
		}
		// Every full batch takes 2.5 s to process and one arrives every
		// second, so each waits 1.5 s longer than the one before.
		for i := 1; i < 15; i++ {
			if batches[i].sched <= batches[i-1].sched {
				t.Errorf("batch +%v waited %v, batch +%v %v: want a growing scheduling delay",
					batches[i].time, batches[i].sched, batches[i-1].time, batches[i-1].sched)
			}
		}
		if d := batches[14].sched; d < 10*time.Second {
			t.Errorf("the 15th batch waited %v, want more than 10 batch intervals", d)
		}
		var maxPending int64
		for _, b := range batches {
			maxPending = max(maxPending, b.pending)
		}
		if maxPending < capacity*9/10 {
			t.Errorf("at most %d records held, want the receiver queue (%d) to fill up", maxPending, capacity)
		}
		if t.Failed() {
			bpDump(t, batches)
		}
		last := batches[len(batches)-1]
		t.Logf("batch +%v waited %v; %d records held at most (capacity %d)", last.time, last.sched, maxPending, capacity)
	})
}
