package dstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Pin (section 0): batch times are multiples of the interval since the
// epoch (RecurringTimer.getStartTime); the first batch is at
// zeroTime + interval.
func TestBatchTimesAlignedToEpoch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		startMs   int64
		interval  time.Duration
		wantZero  int64
		wantFirst int64
	}{
		{"on a boundary", 5000, time.Second, 5000, 6000},
		{"mid interval", 1_234_567, time.Second, 1_234_000, 1_235_000},
		{"odd interval", 1000, 700 * time.Millisecond, 700, 1400},
		{"just before a boundary", 1999, time.Second, 1000, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewManualClock(time.UnixMilli(tc.startMs))
			ssc, err := NewContext(tc.interval, WithClock(clk), WithLogger(quietLogger))
			mustNoErr(t, err, "NewContext")
			defer ssc.Stop(context.Background(), Hard)
			q := NewQueue[int]()
			for range 3 {
				q.Push([]int{1})
			}
			k := collect(t, QueueStream(ssc, q))
			mustNoErr(t, ssc.Start(), "Start")
			if got := ssc.ZeroTime().UnixMilli(); got != tc.wantZero {
				t.Fatalf("zero time = %d ms, want %d", got, tc.wantZero)
			}
			for i := range 3 {
				clk.Set(time.UnixMilli(tc.wantFirst + int64(i)*tc.interval.Milliseconds()))
				mustNoErr(t, ssc.WaitForBatch(context.Background(), clk.Now()), "batch %d", i)
			}
			want := []int64{tc.wantFirst, tc.wantFirst + tc.interval.Milliseconds(), tc.wantFirst + 2*tc.interval.Milliseconds()}
			if got := k.seen(); !slices.Equal(got, want) {
				t.Fatalf("batch times = %v, want %v", got, want)
			}
		})
	}
}

// Pin (section 0): a window first emits at zeroTime + slide, and only on
// slide boundaries.
func TestWindowFirstEmitsAtZeroPlusSlide(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	for i := 1; i <= 6; i++ {
		q.Push([]int{i})
	}
	k := collect(t, QueueStream(h.ssc, q).Window(3*time.Second, 2*time.Second))
	h.start()
	h.steps(6)
	if got, want := k.seen(), []int64{2000, 4000, 6000}; !slices.Equal(got, want) {
		t.Fatalf("window batch times = %v, want %v", got, want)
	}
	if got, _ := k.at(2000); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("first (partial) window = %v, want [1 2]", got)
	}
}

// Pin (section 0): lazy — nothing runs without an output operation.
func TestStartWithoutOutputFails(t *testing.T) {
	h := newHarness(t, time.Second)
	Map(QueueStream(h.ssc, NewQueue[int]()), func(x int) int { return x })
	if err := h.ssc.Start(); !errors.Is(err, ErrNoOutputOperations) {
		t.Fatalf("Start = %v, want ErrNoOutputOperations", err)
	}
	if s := h.ssc.State(); s != StateInitialized {
		t.Fatalf("state after failed Start = %v, want INITIALIZED", s)
	}
}

// Pin (section 0): streams that no output operation reaches are not
// computed.
func TestUnreachableStreamsDoNotRun(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	q.Push([]int{1, 2, 3})
	in := QueueStream(h.ssc, q)
	var used, unused atomic.Int64
	collect(t, Map(in, func(x int) int { used.Add(1); return x }))
	Map(in, func(x int) int { unused.Add(1); return x })
	h.start()
	h.step()
	if used.Load() != 3 || unused.Load() != 0 {
		t.Fatalf("map calls: reached %d (want 3), unreached %d (want 0)", used.Load(), unused.Load())
	}
}

// Pin (section 0): output operations run one at a time, in definition order.
func TestOutputOperationsRunInOrder(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	q.Push([]int{1, 2, 3, 4})
	q.Push([]int{5})
	in := QueueStream(h.ssc, q)
	var mu sync.Mutex
	var order []string
	var inFlight, maxInFlight atomic.Int32
	op := func(name string) func(context.Context, *Batch[int]) error {
		return func(_ context.Context, b *Batch[int]) error {
			if n := inFlight.Add(1); n > maxInFlight.Load() {
				maxInFlight.Store(n)
			}
			defer inFlight.Add(-1)
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	for _, name := range []string{"first", "second", "third"} {
		mustNoErr(t, in.ForEachBatch(op(name)), "ForEachBatch")
	}
	h.start()
	h.steps(2)
	want := []string{"first", "second", "third", "first", "second", "third"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("order = %v, want %v", order, want)
	}
	if maxInFlight.Load() != 1 {
		t.Fatalf("%d output operations ran at once, want 1", maxInFlight.Load())
	}
}

// Pin (section 0): INITIALIZED -> ACTIVE -> STOPPED; adding streams or
// output operations after start or after stop is an error; start on a
// stopped context errors; a second start only warns; a stopped context
// cannot restart.
func TestLifecycleStates(t *testing.T) {
	var logs bytes.Buffer
	clk := NewManualClock(time.UnixMilli(0))
	ssc, err := NewContext(time.Second, WithClock(clk), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	mustNoErr(t, err, "NewContext")
	defer ssc.Stop(context.Background(), Hard)
	in := QueueStream(ssc, NewQueue[int]())
	mustNoErr(t, in.Print(), "Print")
	if s := ssc.State(); s != StateInitialized {
		t.Fatalf("state = %v, want INITIALIZED", s)
	}
	mustNoErr(t, ssc.Start(), "Start")
	if s := ssc.State(); s != StateActive {
		t.Fatalf("state = %v, want ACTIVE", s)
	}

	// A second Start only warns.
	mustNoErr(t, ssc.Start(), "second Start")
	if !strings.Contains(logs.String(), "already started") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("second Start logged %q, want a warning", logs.String())
	}

	// Adding after start.
	m := Map(in, func(x int) int { return x })
	if !errors.Is(m.Err(), ErrContextStarted) {
		t.Fatalf("Map after Start: Err = %v, want ErrContextStarted", m.Err())
	}
	if err := in.Print(); !errors.Is(err, ErrContextStarted) {
		t.Fatalf("Print after Start = %v, want ErrContextStarted", err)
	}
	// Naming a running stream changes nothing and only warns.
	if in.Named("renamed"); in.Err() != nil || in.Name() != "queueStream#1" || !strings.Contains(logs.String(), "Named after Start ignored") {
		t.Fatalf("Named after Start: Err = %v, name %q, logs %q", in.Err(), in.Name(), logs.String())
	}
	if s := QueueStream(ssc, NewQueue[int]()); !errors.Is(s.Err(), ErrContextStarted) {
		t.Fatalf("QueueStream after Start: Err = %v, want ErrContextStarted", s.Err())
	}

	mustNoErr(t, ssc.Stop(context.Background(), Graceful), "Stop")
	if s := ssc.State(); s != StateStopped {
		t.Fatalf("state = %v, want STOPPED", s)
	}
	if err := ssc.Start(); !errors.Is(err, ErrContextStopped) {
		t.Fatalf("Start after Stop = %v, want ErrContextStopped", err)
	}
	if err := in.Print(); !errors.Is(err, ErrContextStopped) {
		t.Fatalf("Print after Stop = %v, want ErrContextStopped", err)
	}
	if s := in.Filter(func(int) bool { return true }); !errors.Is(s.Err(), ErrContextStopped) {
		t.Fatalf("Filter after Stop: Err = %v, want ErrContextStopped", s.Err())
	}
	mustNoErr(t, ssc.Stop(context.Background(), Hard), "second Stop")
}

// Pin (section 0): stop before start moves to STOPPED, and the context
// cannot be started afterwards.
func TestStopBeforeStart(t *testing.T) {
	h := newHarness(t, time.Second)
	mustNoErr(t, QueueStream(h.ssc, NewQueue[int]()).Print(), "Print")
	mustNoErr(t, h.ssc.Stop(context.Background(), Graceful), "Stop")
	if s := h.ssc.State(); s != StateStopped {
		t.Fatalf("state = %v, want STOPPED", s)
	}
	if err := h.ssc.Start(); !errors.Is(err, ErrContextStopped) {
		t.Fatalf("Start = %v, want ErrContextStopped", err)
	}
	if stopped, err := h.ssc.AwaitTerminationOrTimeout(time.Second); !stopped || err != nil {
		t.Fatalf("AwaitTerminationOrTimeout = %v, %v; want true, nil", stopped, err)
	}
}

// Deliberate difference from Spark (one active StreamingContext per
// JVM): two contexts run at once in one process, each with its own graph,
// clock, state and output, and stopping one leaves the other running.
func TestTwoContextsRunAtOnce(t *testing.T) {
	t.Parallel()
	type job struct {
		h      *harness
		q      *Queue[string]
		totals map[int64][]Pair[string, int]
		mu     sync.Mutex
	}
	jobs := make([]*job, 2)
	for i := range jobs {
		j := &job{h: newHarness(t, time.Second), q: NewQueue[string](), totals: map[int64][]Pair[string, int]{}}
		words := QueueStream(j.h.ssc, j.q)
		totals := UpdateStateByKey(Map(words, func(w string) Pair[string, int] { return KV(w, 1) }),
			func(vs []int, old *int) (int, bool) {
				n := len(vs)
				if old != nil {
					n += *old
				}
				return n, true
			})
		mustNoErr(t, totals.ForEachBatch(func(_ context.Context, b *Batch[Pair[string, int]]) error {
			j.mu.Lock()
			defer j.mu.Unlock()
			j.totals[b.Time.UnixMilli()] = sortedPairs(b.Collect())
			return nil
		}), "ForEachBatch")
		jobs[i] = j
	}
	for _, j := range jobs {
		j.h.start()
	}
	jobs[0].q.Push([]string{"a", "b", "a"})
	jobs[1].q.Push([]string{"x"})
	for _, j := range jobs {
		j.h.step()
	}
	jobs[0].q.Push([]string{"a"})
	jobs[1].q.Push([]string{"x", "y"})
	jobs[0].h.step()
	mustNoErr(t, jobs[0].h.ssc.Stop(context.Background(), Graceful), "Stop job 0")
	jobs[1].h.step() // job 1 runs on after job 0 stopped
	if st := jobs[1].h.ssc.State(); st != StateActive {
		t.Fatalf("job 1 is %v after job 0 stopped", st)
	}
	want := []map[int64][]Pair[string, int]{
		{1000: {KV("a", 2), KV("b", 1)}, 2000: {KV("a", 3), KV("b", 1)}},
		{1000: {KV("x", 1)}, 2000: {KV("x", 2), KV("y", 1)}},
	}
	for i, j := range jobs {
		j.mu.Lock()
		if fmt.Sprint(j.totals) != fmt.Sprint(want[i]) {
			t.Errorf("job %d totals = %v, want %v", i, j.totals, want[i])
		}
		j.mu.Unlock()
	}
}

// Pin (section 0): awaitTermination re-raises the first error.
func TestAwaitTerminationReturnsFirstError(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	q.Push([]int{1})
	q.Push([]int{2})
	boom := errors.New("sink unavailable")
	calls := 0
	mustNoErr(t, QueueStream(h.ssc, q).ForEachBatch(func(context.Context, *Batch[int]) error {
		calls++
		return boom
	}), "ForEachBatch")
	h.start()
	err := h.stepErr()
	if !errors.Is(err, boom) {
		t.Fatalf("batch error = %v, want %v", err, boom)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = h.ssc.AwaitTermination(ctx)
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, boom) {
		t.Fatalf("AwaitTermination = %v, want a *BatchError wrapping %v", err, boom)
	}
	if be.Time.UnixMilli() != 1000 || be.Op != "forEachBatch" {
		t.Fatalf("BatchError = {Time: %d ms, Op: %q}, want {1000, forEachBatch}", be.Time.UnixMilli(), be.Op)
	}
	if s := h.ssc.State(); s != StateStopped {
		t.Fatalf("state after a failed batch = %v, want STOPPED", s)
	}
	if calls != 1 {
		t.Fatalf("output ran %d times, want 1: batches after a failure must not run", calls)
	}
}

// Pin (section 0): awaitTerminationOrTimeout(d) is true if stopped, false
// on timeout; the timeout is measured on the context's clock.
func TestAwaitTerminationOrTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc, err := NewContext(time.Second, WithLogger(quietLogger))
		mustNoErr(t, err, "NewContext")
		mustNoErr(t, QueueStream(ssc, NewQueue[int]()).Print(), "Print")
		mustNoErr(t, ssc.Start(), "Start")
		begin := time.Now()
		stopped, err := ssc.AwaitTerminationOrTimeout(5 * time.Second)
		if stopped || err != nil {
			t.Fatalf("AwaitTerminationOrTimeout = %v, %v; want false, nil", stopped, err)
		}
		if waited := time.Since(begin); waited != 5*time.Second {
			t.Fatalf("waited %v, want 5s", waited)
		}
		go func() {
			time.Sleep(2 * time.Second)
			ssc.Stop(context.Background(), Graceful)
		}()
		begin = time.Now()
		stopped, err = ssc.AwaitTerminationOrTimeout(time.Hour)
		if !stopped || err != nil {
			t.Fatalf("AwaitTerminationOrTimeout = %v, %v; want true, nil", stopped, err)
		}
		if waited := time.Since(begin); waited != 2*time.Second {
			t.Fatalf("returned after %v, want 2s (when the context stopped)", waited)
		}
	})
}

// Pin (section 0): remember(d) — streams keep their batches at least d
// (default: their slide); older ones are dropped.
func TestRememberDuration(t *testing.T) {
	for _, tc := range []struct {
		remember time.Duration
		want     []int64 // batch times Slice(1 s, 6 s) finds at batch 6
	}{
		{0, []int64{5000, 6000}},
		{3 * time.Second, []int64{3000, 4000, 5000, 6000}},
		{time.Minute, []int64{1000, 2000, 3000, 4000, 5000, 6000}},
	} {
		t.Run(tc.remember.String(), func(t *testing.T) {
			h := newHarness(t, time.Second, WithRemember(tc.remember))
			q := NewQueue[int]()
			for i := 1; i <= 6; i++ {
				q.Push([]int{i})
			}
			in := QueueStream(h.ssc, q)
			var got []int64
			mustNoErr(t, in.ForEachBatch(func(_ context.Context, b *Batch[int]) error {
				if b.Time.UnixMilli() != 6000 {
					return nil
				}
				bs, err := in.Slice(time.UnixMilli(1000), time.UnixMilli(6000))
				for _, b := range bs {
					got = append(got, b.Time.UnixMilli())
				}
				return err
			}), "ForEachBatch")
			h.start()
			h.steps(6)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Slice found batches %v, want %v", got, tc.want)
			}
		})
	}
}

// Options are validated by NewContext, which returns errors, never panics.
func TestNewContextValidation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		opts     []Option
		want     error
	}{
		{"zero interval", 0, nil, ErrInvalidDuration},
		{"negative interval", -time.Second, nil, ErrInvalidDuration},
		{"sub-millisecond interval", 1500 * time.Microsecond, nil, ErrInvalidDuration},
		{"zero parallelism", time.Second, []Option{WithParallelism(0)}, ErrInvalidOption},
		{"nil clock", time.Second, []Option{WithClock(nil)}, ErrInvalidOption},
		{"nil logger", time.Second, []Option{WithLogger(nil)}, ErrInvalidOption},
		{"nil listener", time.Second, []Option{WithListener(nil)}, ErrInvalidOption},
		{"negative remember", time.Second, []Option{WithRemember(-time.Second)}, ErrInvalidDuration},
		{"zero block interval", time.Second, []Option{WithBlockInterval(0)}, ErrInvalidDuration},
		{"zero block queue", time.Second, []Option{WithBlockQueueSize(0)}, ErrInvalidOption},
		{"negative restart delay", time.Second, []Option{WithReceiverRestartDelay(-1)}, ErrInvalidDuration},
		{"zero stop timeout", time.Second, []Option{WithGracefulStopTimeout(0)}, ErrInvalidDuration},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewContext(tc.interval, tc.opts...)
			if !errors.Is(err, tc.want) || c != nil {
				t.Fatalf("NewContext = %v, %v; want nil, %v", c, err, tc.want)
			}
		})
	}
	c, err := NewContext(250*time.Millisecond, WithParallelism(3))
	mustNoErr(t, err, "NewContext")
	if c.BatchInterval() != 250*time.Millisecond || c.Parallelism() != 3 || !c.ZeroTime().IsZero() {
		t.Fatalf("context = interval %v, parallelism %d, zero %v", c.BatchInterval(), c.Parallelism(), c.ZeroTime())
	}
}

// Run starts the context and stops it gracefully when its context.Context
// ends, after processing what was generated.
func TestRunStopsGracefullyOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc, err := NewContext(time.Second, WithLogger(quietLogger))
		mustNoErr(t, err, "NewContext")
		q := NewQueue[int]()
		q.Push([]int{1, 2})
		k := collect(t, QueueStream(ssc, q))
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		if err := ssc.Run(ctx); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		first := ssc.ZeroTime().Add(time.Second).UnixMilli()
		if got, ok := k.at(first); !ok || !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("first batch = %v (%v), want [1 2]", got, ok)
		}
		if s := ssc.State(); s != StateStopped {
			t.Fatalf("state = %v, want STOPPED", s)
		}
	})
}

// A graceful stop that cannot finish within the graceful stop timeout
// stops hard, cancels the running batch and says so.
func TestGracefulStopTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc, err := NewContext(time.Second, WithLogger(quietLogger), WithGracefulStopTimeout(3*time.Second))
		mustNoErr(t, err, "NewContext")
		q := NewQueue[int]()
		q.Push([]int{1})
		var cancelled atomic.Bool
		mustNoErr(t, QueueStream(ssc, q).ForEachBatch(func(ctx context.Context, _ *Batch[int]) error {
			<-ctx.Done() // a batch that never finishes by itself
			cancelled.Store(true)
			return ctx.Err()
		}), "ForEachBatch")
		mustNoErr(t, ssc.Start(), "Start")
		time.Sleep(time.Until(ssc.ZeroTime().Add(time.Second))) // the first batch is running
		synctest.Wait()
		begin := time.Now()
		if err := ssc.Stop(context.Background(), Graceful); !errors.Is(err, ErrStopTimeout) {
			t.Fatalf("Stop = %v, want ErrStopTimeout", err)
		}
		if waited := time.Since(begin); waited != 3*time.Second {
			t.Fatalf("Stop returned after %v, want the 3s timeout", waited)
		}
		if !cancelled.Load() {
			t.Fatal("the running batch's context was not cancelled by the hard stop")
		}
		if s := ssc.State(); s != StateStopped {
			t.Fatalf("state = %v, want STOPPED", s)
		}
	})
}

// Adding streams after Start, while batches run, is refused and touches
// nothing the running batches read (run under -race).
func TestAddingStreamsWhileRunning(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	in := QueueStream(h.ssc, q, EmptyWhenIdle())
	k := collect(t, in.Window(3*time.Second, time.Second))
	h.start()
	done := make(chan error, 1)
	go func() {
		var err error
		for i := range 200 {
			s := Map(in, func(x int) int { return x + i }).Named("late")
			if !errors.Is(s.Err(), ErrContextStarted) {
				err = s.Err()
				break
			}
		}
		done <- err
	}()
	for i := 1; i <= 10; i++ {
		q.Push([]int{i})
		h.step()
	}
	if err := <-done; err != nil {
		t.Fatalf("a stream added after Start: Err = %v, want ErrContextStarted", err)
	}
	if got, _ := k.at(10000); !slices.Equal(got, []int{8, 9, 10}) {
		t.Fatalf("window at 10 s = %v, want [8 9 10]", got)
	}
}

// Reserve hands a name to its first user only, per context.
func TestReserve(t *testing.T) {
	a, err := NewContext(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewContext(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		c    *Context
		name string
		want bool
	}{
		{a, "kafka group g", true},
		{a, "kafka group g", false},
		{a, "kafka group h", true},
		{b, "kafka group g", true}, // another context: its own names
		{b, "kafka group g", false},
	} {
		if got := step.c.Reserve(step.name); got != step.want {
			t.Errorf("Reserve(%q) = %v, want %v", step.name, got, step.want)
		}
	}
}
