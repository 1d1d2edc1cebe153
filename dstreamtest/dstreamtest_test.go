package dstreamtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/dstreamtest"
)

// recorder is a testing.TB that records what the harness reports instead
// of failing the test, to test the harness's failures. Fatal ends the
// goroutine, as it does in a test; capture runs the code in its own.
type recorder struct {
	testing.TB // the real test, for TempDir

	mu       sync.Mutex
	errors   []string
	fatal    string
	cleanups []func()
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// report is what a capture recorded.
type report struct {
	errors []string
	fatal  string
}

// capture runs f with a recorder, then release (to let a blocked user
// function return), then the cleanups f registered, as a test would.
func capture(t *testing.T, f func(tb testing.TB), release ...func()) report {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the harness did not return within a minute")
	}
	for _, f := range release {
		f()
	}
	r.mu.Lock()
	cleanups := r.cleanups
	r.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return report{errors: slices.Clone(r.errors), fatal: r.fatal}
}

// wantFatal checks that rep failed the test with a message holding every
// part of want.
func wantFatal(t *testing.T, rep report, want ...string) {
	t.Helper()
	if rep.fatal == "" {
		t.Errorf("the harness did not fail the test (errors: %q), want a failure with %q", rep.errors, want)
		return
	}
	for _, w := range want {
		if !strings.Contains(rep.fatal, w) {
			t.Errorf("failure %q does not say %q", rep.fatal, w)
		}
	}
}

func identity[T any](s *dstream.Stream[T]) *dstream.Stream[T] { return s }

// TestRunBatchesAndPartitions: one output per batch, in order; batches
// past the inputs are empty, not missing; each input batch has the
// partitions asked for, split evenly in order.
func TestRunBatchesAndPartitions(t *testing.T) {
	t.Parallel()
	got := dstreamtest.Run(t, [][]int{{1, 2, 3, 4, 5}, {}, nil, {6}}, identity[int], dstreamtest.Batches(5))
	want := [][]int{{1, 2, 3, 4, 5}, {}, {}, {6}, {}}
	if len(got) != len(want) {
		t.Fatalf("got %d batches %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] == nil || !slices.Equal(got[i], want[i]) {
			t.Errorf("batch %d = %#v, want %#v", i, got[i], want[i])
		}
	}

	parts := dstreamtest.Run(t, [][]int{{1, 2, 3, 4, 5}, {7}}, dstream.Glom[int], dstreamtest.InputPartitions(3))
	wantParts := [][][]int{{{1}, {2, 3}, {4, 5}}, {{}, {}, {7}}}
	for i := range wantParts {
		if len(parts[i]) != len(wantParts[i]) {
			t.Fatalf("batch %d has partitions %v, want %v", i, parts[i], wantParts[i])
		}
		for p := range wantParts[i] {
			if !slices.Equal(parts[i][p], wantParts[i][p]) {
				t.Errorf("batch %d partition %d = %v, want %v", i, p, parts[i][p], wantParts[i][p])
			}
		}
	}
}

// TestRunBatchTimes: batch i is at (i+1) intervals since the epoch, and
// the output of a window is nil at the times between its slides.
func TestRunBatchTimes(t *testing.T) {
	t.Parallel()
	times := func(s *dstream.Stream[int]) *dstream.Stream[int64] {
		return dstream.Transform(s, func(b *dstream.Batch[int]) (*dstream.Batch[int64], error) {
			return &dstream.Batch[int64]{Time: b.Time, Partitions: [][]int64{{b.Time.UnixMilli()}}}, nil
		}).Window(750*time.Millisecond, 500*time.Millisecond)
	}
	got := dstreamtest.Run(t, nil, times, dstreamtest.Interval(250*time.Millisecond), dstreamtest.Batches(5))
	want := [][]int64{nil, {250, 500}, nil, {500, 750, 1000}, nil}
	if !dstreamtest.Equal(t, got, want, dstreamtest.Interval(250*time.Millisecond)) {
		t.Logf("got %#v", got)
	}
}

// TestRun2: two inputs of different lengths; the shorter one's missing
// batches are empty, so a union has the longer one's elements there.
func TestRun2(t *testing.T) {
	t.Parallel()
	union := func(a, b *dstream.Stream[string]) *dstream.Stream[string] { return a.Union(b) }
	got := dstreamtest.Run2(t, [][]string{{"a1"}, {"a2"}}, [][]string{{"b1"}, {"b2"}, {"b3"}}, union)
	dstreamtest.Equal(t, got, [][]string{{"a1", "b1"}, {"a2", "b2"}, {"b3"}})

	type joined = dstream.Pair[string, dstream.Pair[int, string]]
	join := func(a *dstream.Stream[dstream.Pair[string, int]], b *dstream.Stream[dstream.Pair[string, string]]) *dstream.Stream[joined] {
		return dstream.Join(a, b)
	}
	gotJoin := dstreamtest.Run2(t,
		[][]dstream.Pair[string, int]{{dstream.KV("k", 1), dstream.KV("x", 2)}},
		[][]dstream.Pair[string, string]{{dstream.KV("k", "v")}, {dstream.KV("k", "w")}},
		join)
	dstreamtest.EqualUnordered(t, gotJoin, [][]joined{{dstream.KV("k", dstream.KV(1, "v"))}, {}})

	// Both inputs resume from the checkpoint: totals over the union.
	totals := func(a, b *dstream.Stream[string]) *dstream.Stream[dstream.Pair[string, int]] {
		return runningTotals(a.Union(b))
	}
	a, b := [][]string{{"x"}, {"y"}, {"x"}}, [][]string{{"y"}, {}, {"y"}, {"x"}}
	want := dstreamtest.Run2(t, a, b, totals)
	dstreamtest.EqualUnordered(t, want, [][]dstream.Pair[string, int]{
		{dstream.KV("x", 1), dstream.KV("y", 1)},
		{dstream.KV("x", 1), dstream.KV("y", 2)},
		{dstream.KV("x", 2), dstream.KV("y", 3)},
		{dstream.KV("x", 3), dstream.KV("y", 3)},
	})
	dstreamtest.EqualUnordered(t, dstreamtest.Run2(t, a, b, totals, dstreamtest.RestartAfter(2, dstream.Hard)), want)
}

// runningTotals is a stateful job, the same in every run of a test.
func runningTotals(lines *dstream.Stream[string]) *dstream.Stream[dstream.Pair[string, int]] {
	ones := dstream.Map(dstream.FlatMap(lines, strings.Fields), func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
	return dstream.UpdateStateByKey(ones, func(vs []int, s *int) (int, bool) {
		n := len(vs)
		if s != nil {
			n += *s
		}
		return n, true
	}).Named("totals")
}

// TestRestartAfter: a job restarted from its checkpoint, gracefully or
// as after a crash, gives the output of a run without a restart; the
// stream function is called once per context; a hard stop runs the last
// batch again in the new context, a graceful one does not.
func TestRestartAfter(t *testing.T) {
	t.Parallel()
	inputs := [][]string{{"a b"}, {"a"}, {"c"}, {}, {"a c"}, {"b"}}
	want := dstreamtest.Run(t, inputs, runningTotals)
	dstreamtest.EqualUnordered(t, want, [][]dstream.Pair[string, int]{
		{dstream.KV("a", 1), dstream.KV("b", 1)},
		{dstream.KV("a", 2), dstream.KV("b", 1)},
		{dstream.KV("a", 2), dstream.KV("b", 1), dstream.KV("c", 1)},
		{dstream.KV("a", 2), dstream.KV("b", 1), dstream.KV("c", 1)},
		{dstream.KV("a", 3), dstream.KV("b", 1), dstream.KV("c", 2)},
		{dstream.KV("a", 3), dstream.KV("b", 2), dstream.KV("c", 2)},
	})
	for _, tc := range []struct {
		name string
		mode dstream.StopMode
		// batch times (ms) whose output each context computed
		first, second []int64
	}{
		{"graceful stop", dstream.Graceful, []int64{1000, 2000, 3000}, []int64{4000, 5000, 6000}},
		{"hard stop", dstream.Hard, []int64{1000, 2000, 3000}, []int64{3000, 4000, 5000, 6000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen [][]int64 // per context
			f := func(lines *dstream.Stream[string]) *dstream.Stream[dstream.Pair[string, int]] {
				mu.Lock()
				seen = append(seen, nil)
				ctx := len(seen) - 1
				mu.Unlock()
				return dstream.Transform(runningTotals(lines), func(b *dstream.Batch[dstream.Pair[string, int]]) (*dstream.Batch[dstream.Pair[string, int]], error) {
					mu.Lock()
					seen[ctx] = append(seen[ctx], b.Time.UnixMilli())
					mu.Unlock()
					return b, nil
				})
			}
			got := dstreamtest.Run(t, inputs, f, dstreamtest.RestartAfter(3, tc.mode))
			dstreamtest.EqualUnordered(t, got, want)
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 2 || !slices.Equal(seen[0], tc.first) || !slices.Equal(seen[1], tc.second) {
				t.Errorf("batches computed per context = %v, want [%v %v]", seen, tc.first, tc.second)
			}
		})
	}
}

// TestRestartAfterDetectsLostState is the control of TestRestartAfter:
// the restart is a new context, so state that the checkpoint does not
// hold (here a count kept in the function's closure) starts again, and
// the output shows it.
func TestRestartAfterDetectsLostState(t *testing.T) {
	t.Parallel()
	inputs := [][]string{{"a"}, {"a"}, {"a"}}
	// A count kept in the function's closure, not in the engine's state:
	// the restarted context starts it again from zero.
	f := func(lines *dstream.Stream[string]) *dstream.Stream[int] {
		n := 0
		return dstream.Transform(lines, func(b *dstream.Batch[string]) (*dstream.Batch[int], error) {
			n += b.Len()
			return &dstream.Batch[int]{Time: b.Time, Partitions: [][]int{{n}}}, nil
		})
	}
	got := dstreamtest.Run(t, inputs, f, dstreamtest.RestartAfter(2, dstream.Graceful))
	dstreamtest.Equal(t, got, [][]int{{1}, {2}, {1}})
}

// TestRunFailures: invalid options, streams and jobs fail the test with a
// message saying what is wrong.
func TestRunFailures(t *testing.T) {
	t.Parallel()
	in := [][]int{{1}, {2}}
	// options runs identity over in with opts.
	options := func(opts ...dstreamtest.Option) func(testing.TB) {
		return func(tb testing.TB) { dstreamtest.Run(tb, in, identity[int], opts...) }
	}
	for _, tc := range []struct {
		name string
		run  func(tb testing.TB)
		want []string
	}{
		{"no batches", func(tb testing.TB) { dstreamtest.Run(tb, nil, identity[int]) }, []string{"no batches to run"}},
		{"fewer batches than inputs", options(dstreamtest.Batches(1)), []string{"Batches(1) is fewer than the 2 input batches"}},
		{"zero batches", options(dstreamtest.Batches(0)), []string{"Batches(0)"}},
		{"interval", options(dstreamtest.Interval(1500 * time.Microsecond)), []string{"Interval(1.5ms)", "whole number of milliseconds"}},
		{"partitions", options(dstreamtest.InputPartitions(0)), []string{"InputPartitions(0)"}},
		{"restart at the end", options(dstreamtest.RestartAfter(2, dstream.Hard)), []string{"RestartAfter(2) leaves no batch"}},
		{"restart before the start", options(dstreamtest.RestartAfter(0, dstream.Hard)), []string{"RestartAfter(0)"}},
		{"stop mode", options(dstreamtest.RestartAfter(1, dstream.StopMode(7))), []string{"dstream.Graceful or dstream.Hard"}},
		{"timeout", options(dstreamtest.Timeout(0)), []string{"Timeout(0s)"}},
		{"nil option", options(nil), []string{"option 0 is nil"}},
		{"nil context option", options(dstreamtest.ContextOptions(nil)), []string{"ContextOptions: option 0 is nil"}},
		{"invalid context option", options(dstreamtest.ContextOptions(dstream.WithParallelism(0))), []string{"creating the context", "parallelism 0"}},
		{"nil function", func(tb testing.TB) { dstreamtest.Run[int, int](tb, in, nil) }, []string{"stream function is nil"}},
		{"nil stream", func(tb testing.TB) {
			dstreamtest.Run(tb, in, func(*dstream.Stream[int]) *dstream.Stream[int] { return nil })
		}, []string{"returned a nil stream"}},
		{"invalid stream", func(tb testing.TB) {
			dstreamtest.Run(tb, in, func(s *dstream.Stream[int]) *dstream.Stream[int] { return s.Window(1500*time.Millisecond, 0) })
		}, []string{"stream is invalid", "window length 1.5s"}},
		{"panic in a user function", func(tb testing.TB) {
			dstreamtest.Run(tb, [][]int{{1}, {2}, {3}}, func(s *dstream.Stream[int]) *dstream.Stream[int] {
				return dstream.Map(s, func(x int) int {
					if x == 2 {
						panic("two")
					}
					return x
				})
			})
		}, []string{"batch 1 at 2000 ms: the job failed", "two"}},
		{"state that cannot be saved", func(tb testing.TB) {
			// gob cannot encode a struct without exported fields: the
			// final checkpoint of the graceful stop fails.
			type hidden struct{ n int }
			dstreamtest.Run(tb, in, func(s *dstream.Stream[int]) *dstream.Stream[dstream.Pair[int, hidden]] {
				kv := dstream.Map(s, func(x int) dstream.Pair[int, int] { return dstream.KV(x, x) })
				return dstream.UpdateStateByKey(kv, func(vs []int, _ *hidden) (hidden, bool) { return hidden{len(vs)}, true })
			})
		}, []string{"stopping the job after 2 batches", "no exported fields"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFatal(t, capture(t, tc.run), tc.want...)
		})
	}
}

// TestRunTimeout: a batch that never completes fails the test after the
// timeout instead of hanging it.
func TestRunTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	start := time.Now()
	rep := capture(t, func(tb testing.TB) {
		dstreamtest.Run(tb, [][]int{{1}, {2}}, func(s *dstream.Stream[int]) *dstream.Stream[int] {
			return dstream.Map(s, func(x int) int {
				if x == 2 {
					<-release
				}
				return x
			})
		}, dstreamtest.Timeout(300*time.Millisecond))
	}, func() { close(release) })
	wantFatal(t, rep, "batch 1 at 2000 ms did not complete within 300ms")
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the harness took %v to give up", d)
	}
}

// TestRunBesideAnotherContext: a context already running in the process
// does not disturb a run.
func TestRunBesideAnotherContext(t *testing.T) {
	t.Parallel()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	c, err := dstream.NewContext(time.Second, dstream.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	dstream.QueueStream(c, dstream.NewQueue[int]()).ForEachBatch(func(context.Context, *dstream.Batch[int]) error { return nil })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background(), dstream.Hard)
	got := dstreamtest.Run(t, [][]int{{1, 2}, {3}}, identity[int])
	dstreamtest.EqualUnordered(t, got, [][]int{{1, 2}, {3}})
}

// TestEqualMessages: each difference is reported with its batch index
// and time; equal outputs report nothing.
func TestEqualMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		unordered bool
		got, want [][]string
		opts      []dstreamtest.Option
		errors    []string
	}{
		{name: "equal", got: [][]string{{"a", "b"}, {}, nil}, want: [][]string{{"a", "b"}, {}, nil}},
		{name: "equal unordered", unordered: true, got: [][]string{{"b", "a", "a"}}, want: [][]string{{"a", "b", "a"}}},
		{name: "order", got: [][]string{{"a"}, {"b", "a"}}, want: [][]string{{"a"}, {"a", "b"}},
			errors: []string{`dstreamtest: Equal: batch 1 at 2000 ms: got ["b" "a"], want ["a" "b"]: element 0 is "b", want "a"`}},
		{name: "missing element", got: [][]string{{"a"}}, want: [][]string{{"a", ""}},
			errors: []string{`dstreamtest: Equal: batch 0 at 1000 ms: got ["a"], want ["a" ""]: 1 elements instead of 2, "" missing at the end`}},
		{name: "multiset", unordered: true, got: [][]string{{"a", "b", "b"}}, want: [][]string{{"b", "a", "c"}},
			errors: []string{`dstreamtest: EqualUnordered: batch 0 at 1000 ms: got ["a" "b" "b"], want ["b" "a" "c"] in any order: missing ["c"], unexpected ["b"]`}},
		{name: "no batch", got: [][]string{nil, {}}, want: [][]string{{}, nil},
			errors: []string{
				`dstreamtest: Equal: batch 0 at 1000 ms: got no batch, want []`,
				`dstreamtest: Equal: batch 1 at 2000 ms: got [], want no batch`,
			}},
		{name: "more batches", got: [][]string{{"a"}, {"b"}}, want: [][]string{{"a"}}, opts: []dstreamtest.Option{dstreamtest.Interval(250 * time.Millisecond)},
			errors: []string{`dstreamtest: Equal: got 2 batches, want 1: extra batch 1 at 500 ms: ["b"]`}},
		{name: "fewer batches", unordered: true, got: [][]string{}, want: [][]string{{"a"}},
			errors: []string{`dstreamtest: EqualUnordered: got 0 batches, want 1: missing batch 0 at 1000 ms: want ["a"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ok bool
			rep := capture(t, func(tb testing.TB) {
				if tc.unordered {
					ok = dstreamtest.EqualUnordered(tb, tc.got, tc.want, tc.opts...)
				} else {
					ok = dstreamtest.Equal(tb, tc.got, tc.want, tc.opts...)
				}
			})
			if rep.fatal != "" {
				t.Fatalf("fatal: %s", rep.fatal)
			}
			if !slices.Equal(rep.errors, tc.errors) {
				t.Errorf("reported\n%s\nwant\n%s", strings.Join(rep.errors, "\n"), strings.Join(tc.errors, "\n"))
			}
			if ok != (len(tc.errors) == 0) {
				t.Errorf("returned %t with errors %q", ok, rep.errors)
			}
		})
	}
}

// TestEqualLongBatches: messages show at most 20 elements of a list.
func TestEqualLongBatches(t *testing.T) {
	t.Parallel()
	long := make([]int, 25)
	rep := capture(t, func(tb testing.TB) { dstreamtest.Equal(tb, [][]int{long}, [][]int{{}}) })
	if len(rep.errors) != 1 || !strings.Contains(rep.errors[0], "0 0 ... (5 more)]") {
		t.Errorf("reported %q, want the list cut after 20 elements", rep.errors)
	}
}

// TestEqualInvalidOption: the comparisons check their options.
func TestEqualInvalidOption(t *testing.T) {
	t.Parallel()
	rep := capture(t, func(tb testing.TB) { dstreamtest.Equal(tb, nil, [][]int{}, dstreamtest.Interval(-time.Second)) })
	wantFatal(t, rep, "Equal", "Interval(-1s)")
}

// TestStates: the states a MapWithState function can be called with, and
// what ReadState tells of each use of them.
func TestStates(t *testing.T) {
	t.Parallel()
	type result = dstreamtest.StateResult[int]
	for _, tc := range []struct {
		name  string
		state func() *dstream.State[int]
		use   func(*dstream.State[int])
		want  result
	}{
		{"existing, untouched", func() *dstream.State[int] { return dstreamtest.NewState(4) }, func(*dstream.State[int]) {},
			result{Exists: true, Value: 4}},
		{"existing, updated", func() *dstream.State[int] { return dstreamtest.NewState(4) }, func(s *dstream.State[int]) { _ = s.Update(5) },
			result{Exists: true, Value: 5, Updated: true}},
		{"existing, removed", func() *dstream.State[int] { return dstreamtest.NewState(4) }, func(s *dstream.State[int]) { _ = s.Remove() },
			result{Removed: true}},
		{"updated then removed", func() *dstream.State[int] { return dstreamtest.NewState(4) }, func(s *dstream.State[int]) { _ = s.Update(5); _ = s.Remove() },
			result{Removed: true}},
		{"removed then updated", func() *dstream.State[int] { return dstreamtest.NewState(4) }, func(s *dstream.State[int]) { _ = s.Remove(); _ = s.Update(5) },
			result{Removed: true, Err: dstream.ErrStateRemoved}},
		{"new, untouched", dstreamtest.NoState[int], func(*dstream.State[int]) {}, result{}},
		{"new, updated", dstreamtest.NoState[int], func(s *dstream.State[int]) { _ = s.Update(1) }, result{Exists: true, Value: 1, Updated: true}},
		{"timing out, read", func() *dstream.State[int] { return dstreamtest.TimingOutState(9) }, func(*dstream.State[int]) {},
			result{Exists: true, Value: 9, TimingOut: true}},
		{"timing out, updated", func() *dstream.State[int] { return dstreamtest.TimingOutState(9) }, func(s *dstream.State[int]) { _ = s.Update(1) },
			result{Exists: true, Value: 9, TimingOut: true, Err: dstream.ErrStateTimingOut}},
		{"timing out, removed", func() *dstream.State[int] { return dstreamtest.TimingOutState(9) }, func(s *dstream.State[int]) { _ = s.Remove() },
			result{Exists: true, Value: 9, TimingOut: true, Err: dstream.ErrStateTimingOut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.state()
			tc.use(s)
			if got := dstreamtest.ReadState(s); got != tc.want {
				t.Errorf("ReadState = %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := dstreamtest.NoState[string]().Get(); !errors.Is(err, dstream.ErrNoState) {
		t.Errorf("NoState().Get() error = %v, want ErrNoState", err)
	}
}
