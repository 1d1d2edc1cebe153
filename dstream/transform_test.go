package dstream

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// TransformN hands f the batches of every stream for the same time, in
// the order of the list; a stream without a batch is an empty batch of
// that time, and there is no batch when none has one.
func TestTransformN(t *testing.T) {
	h := newHarness(t, time.Second)
	qs := []*Queue[int]{NewQueue[int](), NewQueue[int](), NewQueue[int]()}
	streams := make([]*Stream[int], len(qs))
	for i, q := range qs {
		streams[i] = QueueStream(h.ssc, q)
	}
	qs[0].Push([]int{1, 2})
	qs[2].Push([]int{30})
	qs[1].Push([]int{20, 21, 22})
	var calls atomic.Int32
	k := collect(t, TransformN(streams, func(bs []*Batch[int]) (*Batch[string], error) {
		calls.Add(1)
		var out []string
		for i, b := range bs {
			if b == nil || b.Time.IsZero() {
				return nil, fmt.Errorf("batch %d is %v, want a batch with its time", i, b)
			}
			out = append(out, fmt.Sprintf("%d@%d:%v", i, b.Time.UnixMilli(), b.Collect()))
		}
		return &Batch[string]{Partitions: [][]string{out[:1], out[1:]}}, nil
	}))
	streams[1] = nil // the list is copied: changing it afterwards changes nothing
	h.start()
	h.steps(3)
	want := []string{"0@1000:[1 2]", "1@1000:[20 21 22]", "2@1000:[30]"}
	if got, _ := k.at(1000); !slices.Equal(got, want) {
		t.Errorf("batch 1 = %v, want %v", got, want)
	}
	if times := k.seen(); !slices.Equal(times, []int64{1000}) {
		t.Errorf("batches at %v, want only [1000]: no stream has a batch at 2 s and 3 s", times)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("f called %d times, want 1", n)
	}
	if parts := k.parts[1000]; parts != 2 {
		t.Errorf("result has %d partitions, want f's 2", parts)
	}
}

// Some streams missing: f still runs, with empty batches for them.
func TestTransformNMissingParents(t *testing.T) {
	h := newHarness(t, time.Second)
	qa, qb := NewQueue[int](), NewQueue[int]()
	a, b := QueueStream(h.ssc, qa), QueueStream(h.ssc, qb)
	k := collect(t, TransformN([]*Stream[int]{a, b, a}, func(bs []*Batch[int]) (*Batch[int], error) {
		lens := make([]int, len(bs))
		for i, x := range bs {
			lens[i] = x.Len()
		}
		return &Batch[int]{Partitions: [][]int{lens}}, nil
	}))
	h.start()
	qb.Push([]int{7, 8})
	h.step()
	qa.Push([]int{1})
	h.step()
	h.step()
	if got, _ := k.at(1000); !slices.Equal(got, []int{0, 2, 0}) {
		t.Errorf("batch 1 = %v, want [0 2 0]", got)
	}
	if got, _ := k.at(2000); !slices.Equal(got, []int{1, 0, 1}) {
		t.Errorf("batch 2 = %v, want [1 0 1]", got)
	}
	if _, ok := k.at(3000); ok {
		t.Error("a batch at 3 s, where no stream has one")
	}
}

// An error or a panic in f fails the batch.
func TestTransformNErrorFailsBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func([]*Batch[int]) (*Batch[int], error)
		want func(error) bool
	}{
		{"error", func([]*Batch[int]) (*Batch[int], error) { return nil, errBoom }, func(err error) bool { return errors.Is(err, errBoom) }},
		{"panic", func([]*Batch[int]) (*Batch[int], error) { panic("boom") }, func(err error) bool {
			var pe *PanicError
			return errors.As(err, &pe)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second)
			q := NewQueue[int]()
			q.Push([]int{1})
			in := QueueStream(h.ssc, q)
			mustNoErr(t, TransformN([]*Stream[int]{in, in}, tc.f).Print(), "Print")
			h.start()
			err := h.stepErr()
			var be *BatchError
			if !tc.want(err) || !errors.As(err, &be) || !strings.Contains(err.Error(), "transformN#1") {
				t.Fatalf("batch error = %v, want a *BatchError naming transformN#1", err)
			}
		})
	}
}

var errBoom = errors.New("boom")

// Invalid TransformN calls give a *BuildError, never a panic, and Start
// reports those recorded in a context.
func TestTransformNBuildErrors(t *testing.T) {
	pass := func(bs []*Batch[int]) (*Batch[int], error) { return bs[0], nil }
	for _, tc := range []struct {
		name    string
		build   func(h, other *harness) *Stream[int]
		want    error
		inStart bool // the context records the error: Start fails
	}{
		{"empty list", func(*harness, *harness) *Stream[int] { return TransformN(nil, pass) }, ErrInvalidOption, false},
		{"empty non-nil list", func(*harness, *harness) *Stream[int] { return TransformN([]*Stream[int]{}, pass) }, ErrInvalidOption, false},
		{"only nil streams", func(*harness, *harness) *Stream[int] { return TransformN([]*Stream[int]{nil, nil}, pass) }, ErrNilStream, false},
		{"a nil stream", func(h, _ *harness) *Stream[int] {
			return TransformN([]*Stream[int]{QueueStream(h.ssc, NewQueue[int]()), nil}, pass)
		}, ErrNilStream, true},
		{"nil function", func(h, _ *harness) *Stream[int] {
			return TransformN[int, int]([]*Stream[int]{QueueStream(h.ssc, NewQueue[int]())}, nil)
		}, ErrNilFunc, true},
		{"different contexts", func(h, other *harness) *Stream[int] {
			return TransformN([]*Stream[int]{QueueStream(h.ssc, NewQueue[int]()), QueueStream(other.ssc, NewQueue[int]())}, pass)
		}, ErrContextMismatch, true},
		{"different slides", func(h, _ *harness) *Stream[int] {
			in := QueueStream(h.ssc, NewQueue[int]())
			return TransformN([]*Stream[int]{in, in, in.Window(2*time.Second, 2*time.Second)}, pass)
		}, ErrSlideMismatch, true},
		{"an invalid parent", func(h, _ *harness) *Stream[int] {
			in := QueueStream(h.ssc, NewQueue[int]())
			return TransformN([]*Stream[int]{in, in.Window(1500*time.Millisecond, 0)}, pass)
		}, ErrInvalidWindow, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, other := newHarness(t, time.Second), newHarness(t, time.Second)
			s := tc.build(h, other)
			var be *BuildError
			if err := s.Err(); !errors.Is(err, tc.want) || !errors.As(err, &be) {
				t.Fatalf("Err = %v, want a *BuildError for %v", err, tc.want)
			}
			if err := s.Print(); !errors.Is(err, tc.want) {
				t.Fatalf("Print = %v, want %v", err, tc.want)
			}
			if tc.inStart {
				if err := h.ssc.Start(); !errors.Is(err, tc.want) {
					t.Fatalf("Start = %v, want %v", err, tc.want)
				}
			}
		})
	}
}
