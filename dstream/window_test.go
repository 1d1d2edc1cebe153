package dstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Window tests. The harness runs a 1 s context on a ManualClock at the
// epoch, so the zero time is 0 and batch k is at k*1000 ms. Inputs are
// given per batch: inputs[k-1] is what batch k gets; a nil entry means the
// queue is empty at that time (no batch at all), an empty non-nil slice
// means an empty batch.

const (
	second      = time.Second
	millisecond = time.Millisecond
)

// winNoPanic runs f and fails the test if it panics.
func winNoPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("%s panicked: %v", what, v)
		}
	}()
	f()
}

// winRun pushes inputs[k-1] before batch k (nothing when it is nil) and
// runs steps batches, failing the test if a batch fails.
func winRun[T any](t *testing.T, h *harness, q *Queue[T], inputs [][]T, steps int, what string) {
	t.Helper()
	for k := 1; k <= steps; k++ {
		if k-1 < len(inputs) && inputs[k-1] != nil {
			q.Push(inputs[k-1])
		}
		if err := h.stepErr(); err != nil {
			t.Fatalf("%s: batch %d ms failed: %v", what, h.ms(k), err)
		}
	}
}

// winTimes returns the batch times in ms of a stream with the given slide
// (in batches) among the first steps batches.
func winTimes(steps, slideK int) []int64 {
	var out []int64
	for k := slideK; k <= steps; k += slideK {
		out = append(out, int64(k)*1000)
	}
	return out
}

// winSorted returns a sorted copy.
func winSorted[T cmp.Ordered](xs []T) []T {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

// winInWindow calls f for every batch index j (1-based, existing in
// inputs) in the window (k-lenK, k].
func winInWindow[T any](inputs [][]T, k, lenK int, f func(j int, batch []T)) {
	for j := max(1, k-lenK+1); j <= k; j++ {
		if j-1 < len(inputs) && inputs[j-1] != nil {
			f(j, inputs[j-1])
		}
	}
}

// ---------------------------------------------------------------------------
// 1. Window contents, partial windows at startup, slide boundaries.

func TestWindowContents(t *testing.T) {
	// Pin: the window at t covers (t-length, t]; windows near startup are
	// partial (no batches before the zero time); output comes only on slide
	// boundaries, the first at zeroTime+slide; slide 0 means the parent's
	// slide; a window over a window works. Windows with no parent batch in
	// range still emit an (empty) batch, like Spark's UnionRDD of nothing.
	inputs := [][]int{
		{10, 11}, // 1000
		{20},     // 2000
		nil,      // 3000: no batch
		{40, 41, 42},
		{}, // 5000: empty batch
		{60},
		nil, // 7000: no batch
		{80},
		nil,
		nil,
	}
	const steps = 10
	type wcase struct {
		name      string
		build     func(s *Stream[int]) *Stream[int]
		wantSlide time.Duration
		want      map[int64][]int // batch time (ms) -> elements (any order)
	}
	cases := []wcase{
		{"len3s_slide1s", func(s *Stream[int]) *Stream[int] { return s.Window(3*second, second) }, second,
			map[int64][]int{
				1000: {10, 11}, 2000: {10, 11, 20}, 3000: {10, 11, 20}, 4000: {20, 40, 41, 42},
				5000: {40, 41, 42}, 6000: {40, 41, 42, 60}, 7000: {60}, 8000: {60, 80},
				9000: {80}, 10000: {80},
			}},
		{"len2s_slide0_is_parent_slide", func(s *Stream[int]) *Stream[int] { return s.Window(2*second, 0) }, second,
			map[int64][]int{
				1000: {10, 11}, 2000: {10, 11, 20}, 3000: {20}, 4000: {40, 41, 42},
				5000: {40, 41, 42}, 6000: {60}, 7000: {60}, 8000: {80}, 9000: {80}, 10000: {},
			}},
		{"len1s_slide1s_identity", func(s *Stream[int]) *Stream[int] { return s.Window(second, second) }, second,
			map[int64][]int{
				1000: {10, 11}, 2000: {20}, 3000: {}, 4000: {40, 41, 42}, 5000: {},
				6000: {60}, 7000: {}, 8000: {80}, 9000: {}, 10000: {},
			}},
		{"len2s_slide2s_tumbling", func(s *Stream[int]) *Stream[int] { return s.Window(2*second, 2*second) }, 2 * second,
			map[int64][]int{
				2000: {10, 11, 20}, 4000: {40, 41, 42}, 6000: {60}, 8000: {80}, 10000: {},
			}},
		{"len3s_slide2s", func(s *Stream[int]) *Stream[int] { return s.Window(3*second, 2*second) }, 2 * second,
			map[int64][]int{
				2000: {10, 11, 20}, 4000: {20, 40, 41, 42}, 6000: {40, 41, 42, 60}, 8000: {60, 80}, 10000: {80},
			}},
		{"len5s_slide5s", func(s *Stream[int]) *Stream[int] { return s.Window(5*second, 5*second) }, 5 * second,
			map[int64][]int{
				5000: {10, 11, 20, 40, 41, 42}, 10000: {60, 80},
			}},
		{"len2s_slide3s_window_shorter_than_slide", func(s *Stream[int]) *Stream[int] { return s.Window(2*second, 3*second) }, 3 * second,
			map[int64][]int{
				3000: {20}, 6000: {60}, 9000: {80},
			}},
		{"len1s_slide3s", func(s *Stream[int]) *Stream[int] { return s.Window(second, 3*second) }, 3 * second,
			map[int64][]int{
				3000: {}, 6000: {60}, 9000: {},
			}},
		{"window_of_tumbling_window", func(s *Stream[int]) *Stream[int] {
			return s.Window(2*second, 2*second).Window(4*second, 4*second)
		}, 4 * second,
			map[int64][]int{
				4000: {10, 11, 20, 40, 41, 42}, 8000: {60, 80},
			}},
		{"window_of_sliding_window", func(s *Stream[int]) *Stream[int] {
			// Inner at u holds batches u-1 and u; outer at t holds inner at
			// t-2, t-1, t, so batch t-3 once, t-2 and t-1 twice, t once.
			return s.Window(2*second, second).Window(3*second, 2*second)
		}, 2 * second,
			map[int64][]int{
				2000:  {10, 11, 10, 11, 20},
				4000:  {10, 11, 20, 20, 40, 41, 42},
				6000:  {40, 41, 42, 40, 41, 42, 60},
				8000:  {60, 60, 80},
				10000: {80, 80},
			}},
	}

	h := newHarness(t, second)
	q := NewQueue[int]()
	s := QueueStream(h.ssc, q)
	sinks := make([]*sink[int], len(cases))
	for i, c := range cases {
		w := c.build(s)
		mustNoErr(t, w.Err(), "%s: build", c.name)
		if got := w.SlideDuration(); got != c.wantSlide {
			t.Errorf("%s: SlideDuration = %v, want %v", c.name, got, c.wantSlide)
		}
		sinks[i] = collect(t, w)
	}
	h.start()
	winRun(t, h, q, inputs, steps, "windows")

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantTimes := slices.Sorted(maps.Keys(c.want))
			if got := sinks[i].seen(); !slices.Equal(got, wantTimes) {
				t.Errorf("batch times = %v, want %v", got, wantTimes)
			}
			for _, ms := range wantTimes {
				got, ok := sinks[i].at(ms)
				if !ok {
					continue // reported above
				}
				if g, w := winSorted(got), winSorted(c.want[ms]); !slices.Equal(g, w) {
					t.Errorf("window at %d ms = %v, want %v", ms, g, w)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 2. Build-time checks.

// winBuilt is what the build-error tests need of a stream of any type.
type winBuilt struct {
	err   error
	print func() error
	slide time.Duration
}

func winBuiltOf[T any](s *Stream[T]) winBuilt {
	return winBuilt{err: s.Err(), print: s.Print, slide: s.SlideDuration()}
}

// winIntSource is a queue stream of ints with the given slide: the batch
// interval, or a tumbling window of it.
func winIntSource(c *Context, slide time.Duration) *Stream[int] {
	s := QueueStream(c, NewQueue[int]())
	if slide != c.BatchInterval() {
		s = s.Window(slide, slide)
	}
	return s
}

func winPairSource(c *Context, slide time.Duration) *Stream[Pair[string, int]] {
	s := QueueStream(c, NewQueue[Pair[string, int]]())
	if slide != c.BatchInterval() {
		s = s.Window(slide, slide)
	}
	return s
}

type winOp struct {
	name  string
	build func(c *Context, parentSlide, length, slide time.Duration) winBuilt
}

func winOps() []winOp {
	nonZero := func(p Pair[string, int]) bool { return p.Value != 0 }
	return []winOp{
		{"Window", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(winIntSource(c, ps).Window(l, sl))
		}},
		{"ReduceByWindow_inv_nil", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(winIntSource(c, ps).ReduceByWindow(add, nil, l, sl))
		}},
		{"ReduceByWindow_inv", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(winIntSource(c, ps).ReduceByWindow(add, sub, l, sl))
		}},
		{"CountByWindow", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(winIntSource(c, ps).CountByWindow(l, sl))
		}},
		{"ReduceByKeyAndWindow_inv_nil", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, ps), add, nil, l, sl))
		}},
		{"ReduceByKeyAndWindow_inv", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, ps), add, sub, l, sl))
		}},
		{"ReduceByKeyAndWindow_inv_filter_partitions", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, ps), add, sub, l, sl, Partitions(3)).WithStateFilter(nonZero))
		}},
		{"CountByValueAndWindow", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(CountByValueAndWindow(winIntSource(c, ps), l, sl))
		}},
		{"GroupByKeyAndWindow", func(c *Context, ps, l, sl time.Duration) winBuilt {
			return winBuiltOf(GroupByKeyAndWindow(winPairSource(c, ps), l, sl))
		}},
	}
}

// winCheckBuildErr checks that the stream's error, the output operation's
// error and Start's error are all a *BuildError caused by want, and that
// the failed Start leaves the context initialized.
func winCheckBuildErr(t *testing.T, ssc *Context, b winBuilt, want error) {
	t.Helper()
	var be *BuildError
	if b.err == nil {
		t.Fatalf("Err() = nil, want a *BuildError wrapping %v", want)
	}
	if !errors.As(b.err, &be) || !errors.Is(b.err, want) {
		t.Errorf("Err() = %v (%T), want a *BuildError wrapping %v", b.err, b.err, want)
	}
	perr := b.print()
	if !errors.As(perr, &be) || !errors.Is(perr, want) {
		t.Errorf("Print() = %v, want a *BuildError wrapping %v", perr, want)
	}
	serr := ssc.Start()
	if !errors.As(serr, &be) || !errors.Is(serr, want) {
		t.Errorf("Start() = %v, want a *BuildError wrapping %v", serr, want)
	}
	if st := ssc.State(); st != StateInitialized {
		t.Errorf("state after failed Start = %v, want INITIALIZED", st)
	}
}

func TestWindowBuildErrorsInvalidDurations(t *testing.T) {
	// Pin: all lengths and slides must be positive multiples of the parent's
	// slide, checked when the stream is built: a *BuildError wrapping
	// ErrInvalidWindow from Stream.Err, the output operation and Start, for
	// every windowed operator, over a batch-interval parent and over a
	// parent that is itself a window (slide 2 s). Nothing panics.
	type dur struct{ l, sl time.Duration }
	bad := map[time.Duration][]dur{
		second: {
			{1500 * millisecond, second},     // length not a multiple
			{2 * second, 1500 * millisecond}, // slide not a multiple
			{3 * second, 2500 * millisecond}, // slide not a multiple, > length
			{500 * millisecond, 0},           // length below the parent's slide
			{0, second},                      // zero length
			{0, 0},                           // zero length, default slide
			{-2 * second, second},            // negative length
			{2 * second, -second},            // negative slide
			{-second, -second},               // both negative
		},
		2 * second: {
			{3 * second, 0},          // length not a multiple of the window parent's 2 s
			{second, 0},              // length below the parent's slide
			{4 * second, second},     // slide not a multiple
			{4 * second, 3 * second}, // slide not a multiple
			{2 * second, -2 * second},
		},
	}
	for _, op := range winOps() {
		for _, ps := range []time.Duration{second, 2 * second} {
			for _, d := range bad[ps] {
				t.Run(fmt.Sprintf("%s/parent%v/len%v_slide%v", op.name, ps, d.l, d.sl), func(t *testing.T) {
					h := newHarness(t, second)
					var b winBuilt
					winNoPanic(t, "build", func() { b = op.build(h.ssc, ps, d.l, d.sl) })
					winCheckBuildErr(t, h.ssc, b, ErrInvalidWindow)
				})
			}
		}
	}
}

func TestWindowBuildValidDurations(t *testing.T) {
	// Pin: valid windows (including window < slide and lengths that are not
	// multiples of the window's own slide) build without error, and slide 0
	// means the parent's slide, for every windowed operator.
	type dur struct{ l, sl, wantSlide time.Duration }
	good := map[time.Duration][]dur{
		second: {
			{3 * second, 0, second},
			{3 * second, 2 * second, 2 * second},
			{second, 3 * second, 3 * second},
			{second, second, second},
		},
		2 * second: {
			{4 * second, 0, 2 * second},
			{6 * second, 4 * second, 4 * second},
			{2 * second, 6 * second, 6 * second},
		},
	}
	for _, op := range winOps() {
		for _, ps := range []time.Duration{second, 2 * second} {
			for _, d := range good[ps] {
				t.Run(fmt.Sprintf("%s/parent%v/len%v_slide%v", op.name, ps, d.l, d.sl), func(t *testing.T) {
					h := newHarness(t, second)
					var b winBuilt
					winNoPanic(t, "build", func() { b = op.build(h.ssc, ps, d.l, d.sl) })
					if b.err != nil {
						t.Fatalf("Err() = %v, want nil", b.err)
					}
					if b.slide != d.wantSlide {
						t.Errorf("SlideDuration = %v, want %v", b.slide, d.wantSlide)
					}
				})
			}
		}
	}
}

func TestWindowBuildErrorsFuncsAndOptions(t *testing.T) {
	// Pin: a nil reduce function is ErrNilFunc; WindowFilter with types that
	// do not match the stream, WindowFilter on the non-inverse form and
	// Partitions < 1 are ErrInvalidOption; all as *BuildError from Err, the
	// output operation and Start, and none panics.
	nonZero := func(p Pair[string, int]) bool { return p.Value != 0 }
	cases := []struct {
		name  string
		build func(c *Context) winBuilt
		want  error
	}{
		{"ReduceByWindow_nil_f_inv_nil", func(c *Context) winBuilt {
			return winBuiltOf(winIntSource(c, second).ReduceByWindow(nil, nil, 2*second, second))
		}, ErrNilFunc},
		{"ReduceByWindow_nil_f_with_inv", func(c *Context) winBuilt {
			return winBuiltOf(winIntSource(c, second).ReduceByWindow(nil, sub, 2*second, second))
		}, ErrNilFunc},
		{"ReduceByKeyAndWindow_nil_f_inv_nil", func(c *Context) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, second), nil, nil, 2*second, second))
		}, ErrNilFunc},
		{"ReduceByKeyAndWindow_nil_f_with_inv", func(c *Context) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, second), nil, sub, 2*second, second))
		}, ErrNilFunc},
		{"ReduceByKeyAndWindow_nil_f_with_filter", func(c *Context) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, second), nil, sub, 2*second, second).WithStateFilter(nonZero))
		}, ErrNilFunc},
		{"WindowFilter_nil_func", func(c *Context) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, second), add, sub, 2*second, second).WithStateFilter(nil))
		}, ErrNilFunc},
		{"WindowFilter_on_non_inverse_form", func(c *Context) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, second), add, nil, 2*second, second).WithStateFilter(nonZero))
		}, ErrInvalidOption},
		{"WindowFilter_on_non_inverse_form_with_valid_partitions", func(c *Context) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, second), add, nil, 2*second, second, Partitions(2)).WithStateFilter(nonZero))
		}, ErrInvalidOption},
		{"ReduceByKeyAndWindow_inv_partitions_0", func(c *Context) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, second), add, sub, 2*second, second, Partitions(0)))
		}, ErrInvalidOption},
		{"ReduceByKeyAndWindow_inv_nil_partitions_0", func(c *Context) winBuilt {
			return winBuiltOf(ReduceByKeyAndWindow(winPairSource(c, second), add, nil, 2*second, second, Partitions(0)))
		}, ErrInvalidOption},
		{"CountByValueAndWindow_partitions_0", func(c *Context) winBuilt {
			return winBuiltOf(CountByValueAndWindow(winIntSource(c, second), 2*second, second, Partitions(0)))
		}, ErrInvalidOption},
		{"GroupByKeyAndWindow_partitions_0", func(c *Context) winBuilt {
			return winBuiltOf(GroupByKeyAndWindow(winPairSource(c, second), 2*second, second, Partitions(0)))
		}, ErrInvalidOption},
		{"GroupByKeyAndWindow_WithStateFilter", func(c *Context) winBuilt {
			return winBuiltOf(GroupByKeyAndWindow(winPairSource(c, second), 2*second, second).WithStateFilter(func(Pair[string, []int]) bool { return true }))
		}, ErrInvalidOption},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, second)
			var b winBuilt
			winNoPanic(t, "build", func() { b = c.build(h.ssc) })
			winCheckBuildErr(t, h.ssc, b, c.want)
		})
	}
}

// ---------------------------------------------------------------------------
// 3. ReduceByKeyAndWindow with an inverse: zero-valued keys and WindowFilter.

func TestReduceByKeyAndWindowInverseZeroKeys(t *testing.T) {
	// Pin: keys that reach the zero value stay as (k, 0) unless the
	// WithStateFilter drops them; with WithStateFilter(value != 0) they vanish.
	// The non-inverse form never has them. Hand-computed, window 3s/slide
	// 1s and window 4s/slide 2s, on one queue stream.
	type kv = Pair[string, int]
	inputs := [][]kv{
		{{"a", 1}, {"a", 1}, {"b", 1}}, // 1000
		{{"b", 1}},                     // 2000
		nil,                            // 3000: no batch
		{{"c", 2}},                     // 4000
		{},                             // 5000: empty batch
		{{"a", 1}},                     // 6000
		nil, nil, nil, nil,
	}
	const steps = 10
	nonZero := func(p kv) bool { return p.Value != 0 }
	type m = map[string]int
	cases := []struct {
		name  string
		build func(s *Stream[kv]) *Stream[kv]
		want  map[int64]m
	}{
		{"len3s_slide1s_no_filter", func(s *Stream[kv]) *Stream[kv] {
			return ReduceByKeyAndWindow(s, add, sub, 3*second, second)
		}, map[int64]m{
			1000:  {"a": 2, "b": 1},
			2000:  {"a": 2, "b": 2},
			3000:  {"a": 2, "b": 2},
			4000:  {"a": 0, "b": 1, "c": 2},
			5000:  {"a": 0, "b": 0, "c": 2},
			6000:  {"a": 1, "b": 0, "c": 2},
			7000:  {"a": 1, "b": 0, "c": 0},
			8000:  {"a": 1, "b": 0, "c": 0},
			9000:  {"a": 0, "b": 0, "c": 0},
			10000: {"a": 0, "b": 0, "c": 0},
		}},
		{"len3s_slide1s_filter", func(s *Stream[kv]) *Stream[kv] {
			return ReduceByKeyAndWindow(s, add, sub, 3*second, second).WithStateFilter(nonZero)
		}, map[int64]m{
			1000:  {"a": 2, "b": 1},
			2000:  {"a": 2, "b": 2},
			3000:  {"a": 2, "b": 2},
			4000:  {"b": 1, "c": 2},
			5000:  {"c": 2},
			6000:  {"a": 1, "c": 2},
			7000:  {"a": 1},
			8000:  {"a": 1},
			9000:  {},
			10000: {},
		}},
		{"len3s_slide1s_non_inverse", func(s *Stream[kv]) *Stream[kv] {
			return ReduceByKeyAndWindow(s, add, nil, 3*second, second)
		}, map[int64]m{
			1000:  {"a": 2, "b": 1},
			2000:  {"a": 2, "b": 2},
			3000:  {"a": 2, "b": 2},
			4000:  {"b": 1, "c": 2},
			5000:  {"c": 2},
			6000:  {"a": 1, "c": 2},
			7000:  {"a": 1},
			8000:  {"a": 1},
			9000:  {},
			10000: {},
		}},
		{"len4s_slide2s_no_filter", func(s *Stream[kv]) *Stream[kv] {
			return ReduceByKeyAndWindow(s, add, sub, 4*second, 2*second)
		}, map[int64]m{
			2000:  {"a": 2, "b": 2},
			4000:  {"a": 2, "b": 2, "c": 2},
			6000:  {"a": 1, "b": 0, "c": 2},
			8000:  {"a": 1, "b": 0, "c": 0},
			10000: {"a": 0, "b": 0, "c": 0},
		}},
		{"len4s_slide2s_filter_3_partitions", func(s *Stream[kv]) *Stream[kv] {
			return ReduceByKeyAndWindow(s, add, sub, 4*second, 2*second, Partitions(3)).WithStateFilter(nonZero)
		}, map[int64]m{
			2000:  {"a": 2, "b": 2},
			4000:  {"a": 2, "b": 2, "c": 2},
			6000:  {"a": 1, "c": 2},
			8000:  {"a": 1},
			10000: {},
		}},
		{"len4s_slide2s_non_inverse", func(s *Stream[kv]) *Stream[kv] {
			return ReduceByKeyAndWindow(s, add, nil, 4*second, 2*second)
		}, map[int64]m{
			2000:  {"a": 2, "b": 2},
			4000:  {"a": 2, "b": 2, "c": 2},
			6000:  {"a": 1, "c": 2},
			8000:  {"a": 1},
			10000: {},
		}},
	}
	h := newHarness(t, second)
	q := NewQueue[kv]()
	s := QueueStream(h.ssc, q)
	sinks := make([]*sink[kv], len(cases))
	for i, c := range cases {
		w := c.build(s)
		mustNoErr(t, w.Err(), "%s: build", c.name)
		sinks[i] = collect(t, w)
	}
	h.start()
	winRun(t, h, q, inputs, steps, "reduceByKeyAndWindow")
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantTimes := slices.Sorted(maps.Keys(c.want))
			if got := sinks[i].seen(); !slices.Equal(got, wantTimes) {
				t.Errorf("batch times = %v, want %v", got, wantTimes)
			}
			for _, ms := range wantTimes {
				got, ok := sinks[i].at(ms)
				if !ok {
					continue
				}
				if g := pairMap(t, got); !maps.Equal(g, c.want[ms]) {
					t.Errorf("at %d ms = %v, want %v", ms, sortedPairs(got), c.want[ms])
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 4. Property: inverse form == non-inverse form == brute force.

type winScenario struct {
	seed         uint64
	parallelism  int
	partitions   int
	lenK, slideK int           // window length and slide in batches
	slideArg     time.Duration // the slide passed (0 means the parent's)
	inputs       [][]Pair[string, int]
	steps        int
}

func (sc winScenario) String() string {
	return fmt.Sprintf("seed=%d len=%ds slide=%ds (arg %v) par=%d parts=%d batches=%d",
		sc.seed, sc.lenK, sc.slideK, sc.slideArg, sc.parallelism, sc.partitions, len(sc.inputs))
}

// winGenScenario makes a random scenario. With short the window is
// shorter than the slide.
func winGenScenario(seed uint64, short bool) winScenario {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	sc := winScenario{seed: seed, parallelism: 1 + rng.IntN(3), partitions: 1 + rng.IntN(3)}
	if short {
		sc.slideK = 2 + rng.IntN(3)
		sc.lenK = 1 + rng.IntN(sc.slideK-1)
	} else {
		sc.slideK = 1 + rng.IntN(3)
		sc.lenK = sc.slideK + rng.IntN(5) // any multiple of the interval >= slide
	}
	sc.slideArg = time.Duration(sc.slideK) * second
	if sc.slideK == 1 && rng.IntN(2) == 0 {
		sc.slideArg = 0
	}
	n := 5 + rng.IntN(21)
	keys := []string{"a", "b", "c", "d", "e"}
	for range n {
		switch r := rng.IntN(10); {
		case r < 2:
			sc.inputs = append(sc.inputs, nil) // no batch
		case r == 2:
			sc.inputs = append(sc.inputs, []Pair[string, int]{}) // empty batch
		default:
			var b []Pair[string, int]
			for range 1 + rng.IntN(6) {
				b = append(b, KV(keys[rng.IntN(len(keys))], 1+rng.IntN(5)))
			}
			sc.inputs = append(sc.inputs, b)
		}
	}
	// Run past the last input so that windows drain to nothing.
	sc.steps = n + sc.lenK + sc.slideK
	return sc
}

// winMismatch records the first mismatch of one output per scenario.
type winMismatch struct {
	t      *testing.T
	sc     winScenario
	failed map[string]bool
}

func (w *winMismatch) report(output string, ms int64, format string, args ...any) {
	w.t.Helper()
	if w.failed[output] {
		return
	}
	w.failed[output] = true
	w.t.Errorf("%v: %s at %d ms: %s", w.sc, output, ms, fmt.Sprintf(format, args...))
}

func winDropZeros(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func TestReduceByKeyAndWindowInverseMatchesBruteForce(t *testing.T) {
	// Pin: for an associative, invertible f the inverse form's result equals
	// the non-inverse version's (after dropping zero-valued keys, or with a
	// WindowFilter), and both equal a brute-force sum over (t-len, t]; keys
	// that reach zero stay as (k, 0) without a filter; CountByValueAndWindow
	// counts and GroupByKeyAndWindow groups the same windows. Random
	// scenarios with empty batches and missing batches, window >= slide and
	// window < slide.
	type kv = Pair[string, int]
	for i := range 48 {
		seed := uint64(1000 + i)
		short := i%4 == 3
		sc := winGenScenario(seed, short)
		t.Run(fmt.Sprintf("seed%d_len%d_slide%d", seed, sc.lenK, sc.slideK), func(t *testing.T) {
			h := newHarness(t, second, WithParallelism(sc.parallelism))
			q := NewQueue[kv]()
			s := QueueStream(h.ssc, q)
			L := time.Duration(sc.lenK) * second
			parts := Partitions(sc.partitions)
			nonZero := func(p kv) bool { return p.Value != 0 }
			nonInv := ReduceByKeyAndWindow(s, add, nil, L, sc.slideArg, parts)
			inv := ReduceByKeyAndWindow(s, add, sub, L, sc.slideArg, parts)
			invF := ReduceByKeyAndWindow(s, add, sub, L, sc.slideArg, parts).WithStateFilter(nonZero)
			counts := CountByValueAndWindow(Map(s, func(p kv) string { return p.Key }), L, sc.slideArg, parts)
			groups := GroupByKeyAndWindow(s, L, sc.slideArg, parts)
			for _, e := range []error{nonInv.Err(), inv.Err(), invF.Err(), counts.Err(), groups.Err()} {
				mustNoErr(t, e, "build")
			}
			kNonInv, kInv, kInvF := collect(t, nonInv), collect(t, inv), collect(t, invF)
			kCounts, kGroups := collect(t, counts), collect(t, groups)
			h.start()
			winRun(t, h, q, sc.inputs, sc.steps, sc.String())

			mm := &winMismatch{t: t, sc: sc, failed: map[string]bool{}}
			wantTimes := winTimes(sc.steps, sc.slideK)
			for name, got := range map[string][]int64{
				"non-inverse": kNonInv.seen(), "inverse": kInv.seen(), "inverse+filter": kInvF.seen(),
				"countByValueAndWindow": kCounts.seen(), "groupByKeyAndWindow": kGroups.seen(),
			} {
				if !slices.Equal(got, wantTimes) {
					mm.report(name, 0, "batch times = %v, want %v", got, wantTimes)
				}
			}
			everIn := map[string]bool{} // keys that were in some window so far
			for _, ms := range wantTimes {
				k := int(ms / 1000)
				sums, cnt, grp := map[string]int{}, map[string]int64{}, map[string][]int{}
				winInWindow(sc.inputs, k, sc.lenK, func(_ int, b []kv) {
					for _, p := range b {
						sums[p.Key] += p.Value
						cnt[p.Key]++
						grp[p.Key] = append(grp[p.Key], p.Value)
						everIn[p.Key] = true
					}
				})
				wantInv := map[string]int{}
				for key := range everIn {
					wantInv[key] = sums[key] // 0 for keys that left the window
				}

				gotNon, _ := kNonInv.at(ms)
				gotInv, _ := kInv.at(ms)
				gotInvF, _ := kInvF.at(ms)
				mNon, mInv, mInvF := pairMap(t, gotNon), pairMap(t, gotInv), pairMap(t, gotInvF)
				if !maps.Equal(mNon, sums) {
					mm.report("non-inverse", ms, "got %v, want (brute force) %v", mNon, sums)
				}
				if !maps.Equal(mInvF, sums) {
					mm.report("inverse+filter", ms, "got %v, want (brute force) %v", mInvF, sums)
				}
				if !maps.Equal(winDropZeros(mInv), mNon) {
					mm.report("inverse-vs-non-inverse", ms, "inverse without zeros %v != non-inverse %v", winDropZeros(mInv), mNon)
				}
				if !maps.Equal(mInv, wantInv) {
					mm.report("inverse", ms, "got %v, want %v (zero-valued keys kept)", mInv, wantInv)
				}

				gotCnt, _ := kCounts.at(ms)
				if mCnt := pairMap(t, gotCnt); !maps.Equal(mCnt, cnt) {
					mm.report("countByValueAndWindow", ms, "got %v, want %v", mCnt, cnt)
				}
				gotGrp, _ := kGroups.at(ms)
				mGrp := pairMap(t, gotGrp)
				if len(mGrp) != len(grp) {
					mm.report("groupByKeyAndWindow", ms, "got keys %v, want %v", slices.Sorted(maps.Keys(mGrp)), slices.Sorted(maps.Keys(grp)))
				}
				for key, vs := range grp {
					if g := winSorted(mGrp[key]); !slices.Equal(g, winSorted(vs)) {
						mm.report("groupByKeyAndWindow", ms, "key %s: got %v, want %v", key, g, winSorted(vs))
					}
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 5. CountByWindow and ReduceByWindow.

func TestCountByWindowAndReduceByWindowValues(t *testing.T) {
	// Pin: CountByWindow (inverse form, like Spark) emits nothing until the
	// first element arrives, then a count every slide, 0 included;
	// ReduceByWindow without inv emits nothing for an empty window, with inv
	// it emits the (zero) value once a first element has been seen.
	inputs := [][]int{
		nil,    // 1000: no batch
		{},     // 2000: empty batch
		{1, 2}, // 3000
		nil,    // 4000
		{4},    // 5000
		nil, nil, nil, nil,
	}
	const steps = 9
	type ints = []int
	type i64s = []int64
	h := newHarness(t, second)
	q := NewQueue[int]()
	s := QueueStream(h.ssc, q)
	c31 := s.CountByWindow(3*second, second)
	c32 := s.CountByWindow(3*second, 2*second)
	rInv := s.ReduceByWindow(add, sub, 3*second, second)
	rNon := s.ReduceByWindow(add, nil, 3*second, second)
	rInv42 := s.ReduceByWindow(add, sub, 4*second, 2*second)
	for _, e := range []error{c31.Err(), c32.Err(), rInv.Err(), rNon.Err(), rInv42.Err()} {
		mustNoErr(t, e, "build")
	}
	kc31, kc32 := collect(t, c31), collect(t, c32)
	krInv, krNon, krInv42 := collect(t, rInv), collect(t, rNon), collect(t, rInv42)
	h.start()
	winRun(t, h, q, inputs, steps, "countByWindow")

	countCases := []struct {
		name string
		k    *sink[int64]
		want map[int64]i64s
	}{
		{"CountByWindow_len3s_slide1s", kc31, map[int64]i64s{
			1000: {}, 2000: {}, 3000: {2}, 4000: {2}, 5000: {3}, 6000: {1}, 7000: {1}, 8000: {0}, 9000: {0},
		}},
		{"CountByWindow_len3s_slide2s", kc32, map[int64]i64s{
			2000: {}, 4000: {2}, 6000: {1}, 8000: {0},
		}},
	}
	for _, c := range countCases {
		t.Run(c.name, func(t *testing.T) {
			wantTimes := slices.Sorted(maps.Keys(c.want))
			if got := c.k.seen(); !slices.Equal(got, wantTimes) {
				t.Errorf("batch times = %v, want %v", got, wantTimes)
			}
			for _, ms := range wantTimes {
				if got, _ := c.k.at(ms); !slices.Equal(got, c.want[ms]) {
					t.Errorf("at %d ms = %v, want %v", ms, got, c.want[ms])
				}
			}
		})
	}
	reduceCases := []struct {
		name string
		k    *sink[int]
		want map[int64]ints
	}{
		{"ReduceByWindow_inv_len3s_slide1s", krInv, map[int64]ints{
			1000: {}, 2000: {}, 3000: {3}, 4000: {3}, 5000: {7}, 6000: {4}, 7000: {4}, 8000: {0}, 9000: {0},
		}},
		{"ReduceByWindow_non_inverse_len3s_slide1s", krNon, map[int64]ints{
			1000: {}, 2000: {}, 3000: {3}, 4000: {3}, 5000: {7}, 6000: {4}, 7000: {4}, 8000: {}, 9000: {},
		}},
		{"ReduceByWindow_inv_len4s_slide2s", krInv42, map[int64]ints{
			2000: {}, 4000: {3}, 6000: {7}, 8000: {4},
		}},
	}
	for _, c := range reduceCases {
		t.Run(c.name, func(t *testing.T) {
			wantTimes := slices.Sorted(maps.Keys(c.want))
			if got := c.k.seen(); !slices.Equal(got, wantTimes) {
				t.Errorf("batch times = %v, want %v", got, wantTimes)
			}
			for _, ms := range wantTimes {
				if got, _ := c.k.at(ms); !slices.Equal(got, c.want[ms]) {
					t.Errorf("at %d ms = %v, want %v", ms, got, c.want[ms])
				}
			}
		})
	}
}

func TestReduceByWindowInverseMatchesNonInverse(t *testing.T) {
	// Pin: ReduceByWindow with inv equals ReduceByWindow with inv nil on
	// random data (except that the inverse form reports 0 where the
	// non-inverse form has an empty window, once an element was seen), and
	// CountByWindow counts the window, 0 included, once an element was
	// seen. Window >= slide and window < slide.
	for i := range 32 {
		seed := uint64(5000 + i)
		short := i%4 == 3
		rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
		var slideK, lenK int
		if short {
			slideK = 2 + rng.IntN(3)
			lenK = 1 + rng.IntN(slideK-1)
		} else {
			slideK = 1 + rng.IntN(3)
			lenK = slideK + rng.IntN(5)
		}
		par := 1 + rng.IntN(3)
		n := 5 + rng.IntN(21)
		var inputs [][]int
		for range n {
			switch r := rng.IntN(10); {
			case r < 3:
				inputs = append(inputs, nil)
			case r == 3:
				inputs = append(inputs, []int{})
			default:
				var b []int
				for range 1 + rng.IntN(5) {
					b = append(b, 1+rng.IntN(9))
				}
				inputs = append(inputs, b)
			}
		}
		steps := n + lenK + slideK
		desc := fmt.Sprintf("seed=%d len=%ds slide=%ds par=%d inputs=%v", seed, lenK, slideK, par, inputs)
		t.Run(fmt.Sprintf("seed%d_len%d_slide%d", seed, lenK, slideK), func(t *testing.T) {
			h := newHarness(t, second, WithParallelism(par))
			q := NewQueue[int]()
			s := QueueStream(h.ssc, q)
			L, SL := time.Duration(lenK)*second, time.Duration(slideK)*second
			inv := s.ReduceByWindow(add, sub, L, SL)
			non := s.ReduceByWindow(add, nil, L, SL)
			cnt := s.CountByWindow(L, SL)
			for _, e := range []error{inv.Err(), non.Err(), cnt.Err()} {
				mustNoErr(t, e, "build")
			}
			kInv, kNon, kCnt := collect(t, inv), collect(t, non), collect(t, cnt)
			h.start()
			winRun(t, h, q, inputs, steps, desc)

			wantTimes := winTimes(steps, slideK)
			for name, got := range map[string][]int64{"inverse": kInv.seen(), "non-inverse": kNon.seen(), "count": kCnt.seen()} {
				if !slices.Equal(got, wantTimes) {
					t.Errorf("%s: %s batch times = %v, want %v", desc, name, got, wantTimes)
				}
			}
			seen := false // an element was in some window so far
			failed := map[string]bool{}
			report := func(name string, ms int64, got, want any) {
				if !failed[name] {
					failed[name] = true
					t.Errorf("%s: %s at %d ms = %v, want %v", desc, name, ms, got, want)
				}
			}
			for _, ms := range wantTimes {
				sum, n := 0, int64(0)
				winInWindow(inputs, int(ms/1000), lenK, func(_ int, b []int) {
					for _, x := range b {
						sum += x
						n++
					}
				})
				seen = seen || n > 0
				wantNon, wantInv, wantCnt := []int{}, []int{}, []int64{}
				if n > 0 {
					wantNon = []int{sum}
				}
				if seen {
					wantInv, wantCnt = []int{sum}, []int64{n}
				}
				gotNon, _ := kNon.at(ms)
				gotInv, _ := kInv.at(ms)
				gotCnt, _ := kCnt.at(ms)
				if !slices.Equal(gotNon, wantNon) {
					report("non-inverse", ms, gotNon, wantNon)
				}
				if !slices.Equal(gotInv, wantInv) {
					report("inverse", ms, gotInv, wantInv)
				}
				if len(gotNon) > 0 && !slices.Equal(gotInv, gotNon) {
					report("inverse-vs-non-inverse", ms, gotInv, gotNon)
				}
				if !slices.Equal(gotCnt, wantCnt) {
					report("countByWindow", ms, gotCnt, wantCnt)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 6. CountByValueAndWindow and GroupByKeyAndWindow, hand-computed.

func TestCountByValueAndWindow(t *testing.T) {
	// Pin: countByValueAndWindow counts each value in the window; counts
	// that fall to zero vanish (inverse form with filter count != 0).
	inputs := [][]string{
		{"x", "y", "x"}, // 1000
		{"y"},           // 2000
		nil,             // 3000: no batch
		{"z"},           // 4000
		nil, nil,
	}
	const steps = 6
	want := map[int64]map[string]int64{
		1000: {"x": 2, "y": 1},
		2000: {"x": 2, "y": 2},
		3000: {"y": 1},
		4000: {"z": 1},
		5000: {"z": 1},
		6000: {},
	}
	for _, parts := range []int{1, 3} {
		t.Run(fmt.Sprintf("partitions%d", parts), func(t *testing.T) {
			h := newHarness(t, second)
			q := NewQueue[string]()
			s := QueueStream(h.ssc, q)
			c := CountByValueAndWindow(s, 2*second, second, Partitions(parts))
			mustNoErr(t, c.Err(), "build")
			k := collect(t, c)
			h.start()
			winRun(t, h, q, inputs, steps, "countByValueAndWindow")
			wantTimes := slices.Sorted(maps.Keys(want))
			if got := k.seen(); !slices.Equal(got, wantTimes) {
				t.Errorf("batch times = %v, want %v", got, wantTimes)
			}
			for _, ms := range wantTimes {
				got, _ := k.at(ms)
				if g := pairMap(t, got); !maps.Equal(g, want[ms]) {
					t.Errorf("at %d ms = %v, want %v", ms, sortedPairs(got), want[ms])
				}
				if nparts := k.parts[ms]; nparts != parts {
					t.Errorf("at %d ms: %d partitions, want %d", ms, nparts, parts)
				}
			}
		})
	}
}

func TestGroupByKeyAndWindow(t *testing.T) {
	// Pin: groupByKeyAndWindow gives each key all its values in the window
	// (t-len, t] (compared as sorted multisets), emitted on slide
	// boundaries only.
	type kv = Pair[string, int]
	inputs := [][]kv{
		{{"a", 1}, {"b", 2}, {"a", 3}}, // 1000
		{{"a", 4}, {"a", 1}},           // 2000
		nil,                            // 3000: no batch
		{{"b", 5}, {"c", 6}},           // 4000
		{{"a", 7}},                     // 5000
		{},                             // 6000: empty batch
		nil, nil,
	}
	const steps = 8
	want := map[int64]map[string][]int{
		2000: {"a": {1, 1, 3, 4}, "b": {2}},
		4000: {"a": {1, 4}, "b": {5}, "c": {6}},
		6000: {"a": {7}, "b": {5}, "c": {6}},
		8000: {},
	}
	for _, parts := range []int{1, 3} {
		t.Run(fmt.Sprintf("partitions%d", parts), func(t *testing.T) {
			h := newHarness(t, second)
			q := NewQueue[kv]()
			s := QueueStream(h.ssc, q)
			g := GroupByKeyAndWindow(s, 3*second, 2*second, Partitions(parts))
			mustNoErr(t, g.Err(), "build")
			if g.SlideDuration() != 2*second {
				t.Errorf("SlideDuration = %v, want 2s", g.SlideDuration())
			}
			k := collect(t, g)
			h.start()
			winRun(t, h, q, inputs, steps, "groupByKeyAndWindow")
			wantTimes := slices.Sorted(maps.Keys(want))
			if got := k.seen(); !slices.Equal(got, wantTimes) {
				t.Errorf("batch times = %v, want %v", got, wantTimes)
			}
			for _, ms := range wantTimes {
				got, _ := k.at(ms)
				gm := pairMap(t, got)
				if !slices.Equal(slices.Sorted(maps.Keys(gm)), slices.Sorted(maps.Keys(want[ms]))) {
					t.Errorf("at %d ms: keys %v, want %v", ms, slices.Sorted(maps.Keys(gm)), slices.Sorted(maps.Keys(want[ms])))
				}
				for key, vs := range want[ms] {
					if g := winSorted(gm[key]); !slices.Equal(g, vs) {
						t.Errorf("at %d ms: key %s = %v, want %v", ms, key, g, vs)
					}
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 7. Slice.

// winSliced is one batch returned by Slice: its time and sorted elements.
type winSliced struct {
	ms    int64
	elems []int
}

func winSlicedOf(bs []*Batch[int]) []winSliced {
	out := []winSliced{}
	for _, b := range bs {
		out = append(out, winSliced{b.Time.UnixMilli(), winSorted(b.Collect())})
	}
	return out
}

func winSlicedEqual(a, b []winSliced) bool {
	return slices.EqualFunc(a, b, func(x, y winSliced) bool { return x.ms == y.ms && slices.Equal(x.elems, y.elems) })
}

func TestSlice(t *testing.T) {
	// Pin: slice(from, to) returns the batches with times in [from, to],
	// inclusive at both ends, both floored to the stream's slide grid; times
	// at or before the zero time yield nothing, as do times with no batch;
	// called from an output operation with WithRemember, old batches are
	// still there; before Start it returns ErrNotStarted.
	inputs := [][]int{
		{1, 2}, // 1000
		{3},    // 2000
		nil,    // 3000: no batch
		{4},    // 4000
		{},     // 5000: empty batch
		{6},    // 6000
	}
	h := newHarness(t, second, WithRemember(10*second))
	q := NewQueue[int]()
	s := QueueStream(h.ssc, q)
	m := Map(s, func(x int) int { return x * 10 })
	w := s.Window(2*second, 2*second)
	streams := map[string]*Stream[int]{"input": s, "map": m, "window2s": w}
	for name, st := range streams {
		if _, err := st.Slice(time.UnixMilli(0), time.UnixMilli(5000)); !errors.Is(err, ErrNotStarted) {
			t.Errorf("%s: Slice before Start = %v, want ErrNotStarted", name, err)
		}
	}

	type query struct {
		name     string
		stream   string
		from, to int64 // ms
		want     []winSliced
	}
	queries := []query{
		{"all", "input", 1000, 6000, []winSliced{{1000, []int{1, 2}}, {2000, []int{3}}, {4000, []int{4}}, {5000, []int{}}, {6000, []int{6}}}},
		{"floored_ends", "input", 1500, 4999, []winSliced{{1000, []int{1, 2}}, {2000, []int{3}}, {4000, []int{4}}}},
		{"from_floored_down_inclusive", "input", 2001, 2999, []winSliced{{2000, []int{3}}}},
		{"single_time_inclusive", "input", 2000, 2000, []winSliced{{2000, []int{3}}}},
		{"time_without_batch", "input", 3000, 3000, []winSliced{}},
		{"from_before_zero", "input", -2500, 2000, []winSliced{{1000, []int{1, 2}}, {2000, []int{3}}}},
		{"at_zero", "input", 0, 0, []winSliced{}},
		{"before_zero", "input", -5000, -1000, []winSliced{}},
		{"up_to_zero_plus_fraction", "input", -1000, 999, []winSliced{}},
		{"from_after_to", "input", 4000, 2000, []winSliced{}},
		{"derived_stream_recomputed", "map", 1000, 4000, []winSliced{{1000, []int{10, 20}}, {2000, []int{30}}, {4000, []int{40}}}},
		{"window_grid_2s", "window2s", 1000, 5999, []winSliced{{2000, []int{1, 2, 3}}, {4000, []int{4}}}},
		{"window_grid_2s_to_now", "window2s", 2000, 6000, []winSliced{{2000, []int{1, 2, 3}}, {4000, []int{4}}, {6000, []int{6}}}},
		{"window_grid_off_grid", "window2s", 2500, 3999, []winSliced{{2000, []int{1, 2, 3}}}},
		{"window_before_zero", "window2s", -4000, 1999, []winSliced{}},
	}
	got := map[string][]winSliced{}
	errs := map[string]error{}
	called := false
	mustNoErr(t, s.ForEachBatch(func(_ context.Context, b *Batch[int]) error {
		if b.Time.UnixMilli() != 6000 {
			return nil
		}
		called = true
		for _, qu := range queries {
			bs, err := streams[qu.stream].Slice(time.UnixMilli(qu.from), time.UnixMilli(qu.to))
			errs[qu.name] = err
			got[qu.name] = winSlicedOf(bs)
		}
		return nil
	}), "ForEachBatch")
	h.start()
	winRun(t, h, q, inputs, len(inputs), "slice")
	if !called {
		t.Fatalf("the output operation never ran at 6000 ms")
	}
	for _, qu := range queries {
		t.Run(qu.name, func(t *testing.T) {
			if errs[qu.name] != nil {
				t.Fatalf("%s.Slice(%d, %d): %v", qu.stream, qu.from, qu.to, errs[qu.name])
			}
			if !winSlicedEqual(got[qu.name], qu.want) {
				t.Errorf("%s.Slice(%d ms, %d ms) = %v, want %v", qu.stream, qu.from, qu.to, got[qu.name], qu.want)
			}
		})
	}
}

func TestSliceInvalidStream(t *testing.T) {
	// Pin: Slice on a stream with a build error returns that error (a
	// *BuildError wrapping ErrInvalidWindow), without panicking.
	h := newHarness(t, second)
	bad := QueueStream(h.ssc, NewQueue[int]()).Window(1500*millisecond, 0)
	var err error
	winNoPanic(t, "Slice", func() { _, err = bad.Slice(time.UnixMilli(0), time.UnixMilli(1000)) })
	var be *BuildError
	if !errors.As(err, &be) || !errors.Is(err, ErrInvalidWindow) {
		t.Errorf("Slice on an invalid stream = %v, want a *BuildError wrapping ErrInvalidWindow", err)
	}
}

func TestInverseWindowShorterThanSlide(t *testing.T) {
	// Pin: for an invertible f the inverse forms equal the non-inverse
	// forms, also when the window is shorter than the slide (length 1 s,
	// slide 2 s: the batch between two windows belongs to neither). Spark's
	// ReducedWindowedDStream gets this case wrong; see windowDelta.
	// Hand-computed: windows at 2000, 4000, 6000 hold batches 2, 4 and 6.
	type kv = Pair[string, int]
	keyed := [][]kv{{{"a", 1}}, {{"b", 1}}, {{"a", 2}}, {{"c", 1}}, nil, {{"a", 1}}}
	ints := [][]int{{5}, {7}, {1}, {2}, nil, {3}}
	const steps = 6
	nonZero := func(p kv) bool { return p.Value != 0 }
	h := newHarness(t, second)
	qk, qi := NewQueue[kv](), NewQueue[int]()
	sk, si := QueueStream(h.ssc, qk), QueueStream(h.ssc, qi)
	keyedCases := []struct {
		name string
		s    *Stream[kv]
		want map[int64]map[string]int
	}{
		{"ReduceByKeyAndWindow_non_inverse", ReduceByKeyAndWindow(sk, add, nil, second, 2*second),
			map[int64]map[string]int{2000: {"b": 1}, 4000: {"c": 1}, 6000: {"a": 1}}},
		{"ReduceByKeyAndWindow_inverse", ReduceByKeyAndWindow(sk, add, sub, second, 2*second),
			map[int64]map[string]int{2000: {"b": 1}, 4000: {"b": 0, "c": 1}, 6000: {"a": 1, "b": 0, "c": 0}}},
		{"ReduceByKeyAndWindow_inverse_filter", ReduceByKeyAndWindow(sk, add, sub, second, 2*second).WithStateFilter(nonZero),
			map[int64]map[string]int{2000: {"b": 1}, 4000: {"c": 1}, 6000: {"a": 1}}},
	}
	intCases := []struct {
		name string
		s    *Stream[int]
		want map[int64][]int
	}{
		{"ReduceByWindow_non_inverse", si.ReduceByWindow(add, nil, second, 2*second), map[int64][]int{2000: {7}, 4000: {2}, 6000: {3}}},
		{"ReduceByWindow_inverse", si.ReduceByWindow(add, sub, second, 2*second), map[int64][]int{2000: {7}, 4000: {2}, 6000: {3}}},
	}
	cnt := si.CountByWindow(second, 2*second)
	ksinks := make([]*sink[kv], len(keyedCases))
	for i, c := range keyedCases {
		mustNoErr(t, c.s.Err(), "%s: build", c.name)
		ksinks[i] = collect(t, c.s)
	}
	isinks := make([]*sink[int], len(intCases))
	for i, c := range intCases {
		mustNoErr(t, c.s.Err(), "%s: build", c.name)
		isinks[i] = collect(t, c.s)
	}
	mustNoErr(t, cnt.Err(), "CountByWindow: build")
	kcnt := collect(t, cnt)
	h.start()
	for k := 1; k <= steps; k++ {
		if keyed[k-1] != nil {
			qk.Push(keyed[k-1])
		}
		if ints[k-1] != nil {
			qi.Push(ints[k-1])
		}
		if err := h.stepErr(); err != nil {
			t.Fatalf("batch %d ms: %v", h.ms(k), err)
		}
	}
	times := []int64{2000, 4000, 6000}
	for i, c := range keyedCases {
		t.Run(c.name, func(t *testing.T) {
			if got := ksinks[i].seen(); !slices.Equal(got, times) {
				t.Errorf("batch times = %v, want %v", got, times)
			}
			for _, ms := range times {
				got, _ := ksinks[i].at(ms)
				if g := pairMap(t, got); !maps.Equal(g, c.want[ms]) {
					t.Errorf("at %d ms = %v, want %v", ms, sortedPairs(got), c.want[ms])
				}
			}
		})
	}
	for i, c := range intCases {
		t.Run(c.name, func(t *testing.T) {
			if got := isinks[i].seen(); !slices.Equal(got, times) {
				t.Errorf("batch times = %v, want %v", got, times)
			}
			for _, ms := range times {
				if got, _ := isinks[i].at(ms); !slices.Equal(got, c.want[ms]) {
					t.Errorf("at %d ms = %v, want %v", ms, got, c.want[ms])
				}
			}
		})
	}
	t.Run("CountByWindow", func(t *testing.T) {
		want := map[int64][]int64{2000: {1}, 4000: {1}, 6000: {1}}
		for _, ms := range times {
			if got, _ := kcnt.at(ms); !slices.Equal(got, want[ms]) {
				t.Errorf("at %d ms = %v, want %v", ms, got, want[ms])
			}
		}
	})
}

// Pin (section 2): the default checkpoint interval of stateful streams
// (updateStateByKey, inverse windows) is slide * ceil(10 s / slide); for
// mapWithState it is 10 batch intervals. Each keeps its batches for twice
// that.
func TestDefaultCheckpointInterval(t *testing.T) {
	for _, tc := range []struct{ slide, want time.Duration }{
		{time.Second, 10 * time.Second},
		{3 * time.Second, 12 * time.Second},
		{7 * time.Second, 14 * time.Second},
		{10 * time.Second, 10 * time.Second},
		{20 * time.Second, 20 * time.Second},
		{300 * time.Millisecond, 10200 * time.Millisecond},
	} {
		if got := time.Duration(defaultStateCheckpoint(int64(tc.slide))); got != tc.want {
			t.Errorf("slide %v: checkpoint interval %v, want %v", tc.slide, got, tc.want)
		}
	}
	h := newHarness(t, 2*time.Second)
	in := QueueStream(h.ssc, NewQueue[Pair[string, int]]())
	upd := UpdateStateByKey(in, func(vs []int, s *int) (int, bool) { return 0, true })
	win := ReduceByKeyAndWindow(in, add, sub, 12*time.Second, 6*time.Second)
	mws := MapWithState(in, StateSpec[string, int, int, int]{Func: func(time.Time, string, Optional[int], *State[int]) (int, bool) { return 0, false }})
	plain := in.Window(8*time.Second, 4*time.Second)
	for _, s := range []*Stream[Pair[string, int]]{upd, win, plain} {
		mustNoErr(t, s.Print(), "Print")
	}
	mustNoErr(t, mws.Print(), "Print")
	h.start()
	for _, tc := range []struct {
		n                    *node
		checkpoint, remember time.Duration
	}{
		{upd.n, 10 * time.Second, 20 * time.Second},
		{win.n, 12 * time.Second, 24 * time.Second},
		{mws.n, 20 * time.Second, 40 * time.Second},
		// Window parents keep the window's remember plus its length.
		{win.n.parents[0], 0, 24*time.Second + 12*time.Second},
		{plain.n, 0, 4 * time.Second},
		{in.n, 0, 40 * time.Second}, // the longest its children need
	} {
		if got := time.Duration(tc.n.checkpointInterval); got != tc.checkpoint {
			t.Errorf("%s: checkpoint interval %v, want %v", tc.n.name, got, tc.checkpoint)
		}
		if got := time.Duration(tc.n.remember); got != tc.remember {
			t.Errorf("%s: remember %v, want %v", tc.n.name, got, tc.remember)
		}
	}
}
