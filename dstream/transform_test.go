package dstream

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Pin (README, deliberate differences): a parent without a batch at some
// time is not an error, where Spark's transform fails the job. Streams
// with different slides cannot be combined at all, so a parent lacks a
// batch only when it produced none: an idle QueueStream (no
// EmptyWhenIdle) or UpdateStateByKey with neither state nor data.
// Transform then has no batch and does not call its function;
// TransformWith passes the missing side as an empty batch of that time,
// and has no batch when both sides lack one.
func TestTransformParentWithoutBatch(t *testing.T) {
	h := newHarness(t, time.Second)
	qa, qb := NewQueue[int](), NewQueue[int]()
	a, b := QueueStream(h.ssc, qa), QueueStream(h.ssc, qb)

	var mu sync.Mutex
	var calls []string // "<op>@<ms>", in call order
	note := func(op string, tm time.Time) {
		mu.Lock()
		calls = append(calls, fmt.Sprintf("%s@%d", op, tm.UnixMilli()))
		mu.Unlock()
	}
	one := collect(t, Transform(a, func(x *Batch[int]) (*Batch[int], error) {
		note("transform", x.Time)
		return x, nil
	}))
	two := collect(t, TransformWith(a, b, func(x, y *Batch[int]) (*Batch[string], error) {
		if !x.Time.Equal(y.Time) {
			return nil, fmt.Errorf("sides at %v and %v", x.Time, y.Time)
		}
		note("transformWith", x.Time)
		return &Batch[string]{Partitions: [][]string{{fmt.Sprintf("%v|%v", x.Collect(), y.Collect())}}}, nil
	}))
	totals := UpdateStateByKey(Map(a, func(x int) Pair[string, int] { return KV("n", x) }), func(vs []int, s *int) (int, bool) {
		n := len(vs)
		if s != nil {
			n += *s
		}
		return n, true
	})
	overState := collect(t, Transform(totals, func(x *Batch[Pair[string, int]]) (*Batch[Pair[string, int]], error) {
		note("transformState", x.Time)
		return x, nil
	}))

	h.start()
	qb.Push([]int{10}) // batch 1: b only; a and the state have no batch
	h.step()
	qa.Push([]int{1, 2}) // batch 2: a only
	h.step()
	h.step() // batch 3: neither input; the state has a batch

	wantCalls := []string{"transformWith@1000", "transform@2000", "transformWith@2000", "transformState@2000", "transformState@3000"}
	slices.Sort(wantCalls)
	mu.Lock()
	got := slices.Sorted(slices.Values(calls))
	mu.Unlock()
	if !slices.Equal(got, wantCalls) {
		t.Errorf("functions called as %v, want %v", got, wantCalls)
	}
	if times := one.seen(); !slices.Equal(times, []int64{2000}) {
		t.Errorf("Transform of a stream without batches at 1 s and 3 s has batches %v, want [2000]", times)
	}
	if got, _ := one.at(2000); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Transform at 2 s = %v, want [1 2]", got)
	}
	if times := two.seen(); !slices.Equal(times, []int64{1000, 2000}) {
		t.Errorf("TransformWith has batches %v, want [1000 2000] (none at 3 s, where neither side has one)", times)
	}
	for ms, want := range map[int64]string{1000: "[]|[10]", 2000: "[1 2]|[]"} {
		if got, _ := two.at(ms); !slices.Equal(got, []string{want}) {
			t.Errorf("TransformWith at %d ms = %v, want [%s]", ms, got, want)
		}
	}
	if times := overState.seen(); !slices.Equal(times, []int64{2000, 3000}) {
		t.Errorf("Transform over UpdateStateByKey has batches %v, want [2000 3000]", times)
	}
	if got, _ := overState.at(3000); !slices.Equal(got, []Pair[string, int]{KV("n", 2)}) {
		t.Errorf("state at 3 s = %v, want [(n,2)]", got)
	}
}

// Streams whose batch times differ cannot be combined: a window sliding
// by 2 s with a stream of the 1 s batch interval is refused when built
// (Spark's require on equal slides), so a combined stream never meets a
// parent off its grid. Equal slides from different windows combine.
func TestTransformWithSlidesMustMatch(t *testing.T) {
	h := newHarness(t, time.Second)
	in := QueueStream(h.ssc, NewQueue[int]())
	w := in.Window(4*time.Second, 2*time.Second)
	pass := func(x, _ *Batch[int]) (*Batch[int], error) { return x, nil }
	var be *BuildError
	if err := TransformWith(w, in, pass).Err(); !errors.Is(err, ErrSlideMismatch) || !errors.As(err, &be) {
		t.Fatalf("TransformWith of slides 2 s and 1 s: Err = %v, want a *BuildError for ErrSlideMismatch", err)
	}
	if err := TransformWith(w, in.Window(2*time.Second, 2*time.Second), pass).Err(); err != nil {
		t.Fatalf("TransformWith of two windows sliding by 2 s: %v", err)
	}
	if err := in.Window(3*time.Second, 1500*time.Millisecond).Err(); !errors.Is(err, ErrInvalidWindow) {
		t.Fatalf("a slide that is not a multiple of the interval: Err = %v, want ErrInvalidWindow", err)
	}
}
