package dstream_test

// Cases of Spark's WindowOperationsSuite and of the window case of its
// CheckpointSuite, run with dstreamtest: the inputs and expected outputs
// are Spark's, with 1 s batches and two partitions per input batch as in
// Spark's TestSuiteBase. Spark's expected outputs have one entry per
// window; slides turns them into dstreamtest's one entry per batch time.
//
// These tests start contexts, so they do not run in parallel.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/dstreamtest"
)

// wc is a (word, count) pair, the element of Spark's keyed test inputs.
type wc = dstream.Pair[string, int]

func kv(k string, v int) wc { return dstream.KV(k, v) }

func plus(a, b int) int  { return a + b }
func minus(a, b int) int { return a - b }

// stopMode is a way a job stops before a restart.
type stopMode struct {
	name string
	mode dstream.StopMode
}

// stopModes returns the ways a job stops before a restart: gracefully
// (a final checkpoint) or as if its process died.
func stopModes() []stopMode {
	return []stopMode{{"graceful stop", dstream.Graceful}, {"hard stop", dstream.Hard}}
}

// slides spreads per-window outputs, one every `every` batches, over the
// batch times: the batch times between two slides have no batch (nil).
func slides[T any](every int, windows [][]T) [][]T {
	out := make([][]T, len(windows)*every)
	for j, w := range windows {
		out[(j+1)*every-1] = w
	}
	return out
}

// TestSparkWindow pins Window (WindowOperationsSuite "window - ..."): the
// window at t holds the batches in (t-length, t], in order; it is
// partial near the start and emits only on its slide.
func TestSparkWindow(t *testing.T) {
	t.Parallel()
	input := [][]int{{0}, {1}, {2}, {3}, {4}, {5}}
	for _, tc := range []struct {
		name          string
		length, slide time.Duration
		windows       [][]int // one per slide
	}{
		{"basic window", 2 * time.Second, time.Second, [][]int{{0}, {0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}}},
		{"tumbling window", 2 * time.Second, 2 * time.Second, [][]int{{0, 1}, {2, 3}, {4, 5}}},
		{"larger window", 4 * time.Second, 2 * time.Second, [][]int{{0, 1}, {0, 1, 2, 3}, {2, 3, 4, 5}, {4, 5}}},
		{"non-overlapping window", 2 * time.Second, 3 * time.Second, [][]int{{1, 2}, {4, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			every := int(tc.slide / time.Second)
			want := slides(every, tc.windows)
			got := dstreamtest.Run(t, input, func(s *dstream.Stream[int]) *dstream.Stream[int] {
				return s.Window(tc.length, tc.slide)
			}, dstreamtest.Batches(len(want)))
			dstreamtest.Equal(t, got, want)
		})
	}
}

// largerSlideInput is a Spark input for windows of 4 s sliding 2 s.
func largerSlideInput() [][]wc {
	return [][]wc{{kv("a", 1)}, {kv("a", 2)}, {kv("a", 3)}, {kv("a", 4)}, {kv("a", 5)}, {kv("a", 6)}, {}, {}}
}

// bigInput is Spark's input of the "big test" cases.
func bigInput() [][]wc {
	return [][]wc{
		{kv("a", 1)},
		{kv("a", 1), kv("b", 1)},
		{kv("a", 1), kv("b", 1), kv("c", 1)},
		{kv("a", 1), kv("b", 1)},
		{kv("a", 1)},
		{},
		{kv("a", 1)},
		{kv("a", 1), kv("b", 1)},
		{kv("a", 1), kv("b", 1), kv("c", 1)},
		{kv("a", 1), kv("b", 1)},
		{kv("a", 1)},
		{},
	}
}

// TestSparkReduceByKeyAndWindow pins ReduceByKeyAndWindow
// (WindowOperationsSuite "reduceByKeyAndWindow - ...", "... with inverse
// function - ..." and "... with inverse and filter functions - big
// test"): without an inverse; with one, where keys whose value returns to
// 0 stay as (k, 0); and with one and a filter dropping zeros, which gives
// the same as without an inverse. Spark runs the filtered form on the big
// test only; here it runs on every case, with that same expectation.
func TestSparkReduceByKeyAndWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		input         [][]wc
		length, slide time.Duration
		want          [][]wc // per window, without an inverse (and with one and the filter)
		wantInv       [][]wc // per window, with an inverse and no filter
	}{
		{
			name: "basic reduction", input: [][]wc{{kv("a", 1), kv("a", 3)}},
			want:    [][]wc{{kv("a", 4)}},
			wantInv: [][]wc{{kv("a", 4)}},
		},
		{
			name: "key already in window and new value added into window", input: [][]wc{{kv("a", 1)}, {kv("a", 1)}},
			want:    [][]wc{{kv("a", 1)}, {kv("a", 2)}},
			wantInv: [][]wc{{kv("a", 1)}, {kv("a", 2)}},
		},
		{
			name: "new key added into window", input: [][]wc{{kv("a", 1)}, {kv("a", 1), kv("b", 1)}},
			want:    [][]wc{{kv("a", 1)}, {kv("a", 2), kv("b", 1)}},
			wantInv: [][]wc{{kv("a", 1)}, {kv("a", 2), kv("b", 1)}},
		},
		{
			name: "key removed from window", input: [][]wc{{kv("a", 1)}, {kv("a", 1)}, {}, {}},
			want:    [][]wc{{kv("a", 1)}, {kv("a", 2)}, {kv("a", 1)}, {}},
			wantInv: [][]wc{{kv("a", 1)}, {kv("a", 2)}, {kv("a", 1)}, {kv("a", 0)}},
		},
		{
			name: "larger slide time", input: largerSlideInput(), length: 4 * time.Second, slide: 2 * time.Second,
			want:    [][]wc{{kv("a", 3)}, {kv("a", 10)}, {kv("a", 18)}, {kv("a", 11)}},
			wantInv: [][]wc{{kv("a", 3)}, {kv("a", 10)}, {kv("a", 18)}, {kv("a", 11)}},
		},
		{
			name: "big test", input: bigInput(),
			want: [][]wc{
				{kv("a", 1)},
				{kv("a", 2), kv("b", 1)},
				{kv("a", 2), kv("b", 2), kv("c", 1)},
				{kv("a", 2), kv("b", 2), kv("c", 1)},
				{kv("a", 2), kv("b", 1)},
				{kv("a", 1)},
				{kv("a", 1)},
				{kv("a", 2), kv("b", 1)},
				{kv("a", 2), kv("b", 2), kv("c", 1)},
				{kv("a", 2), kv("b", 2), kv("c", 1)},
				{kv("a", 2), kv("b", 1)},
				{kv("a", 1)},
			},
			wantInv: [][]wc{
				{kv("a", 1)},
				{kv("a", 2), kv("b", 1)},
				{kv("a", 2), kv("b", 2), kv("c", 1)},
				{kv("a", 2), kv("b", 2), kv("c", 1)},
				{kv("a", 2), kv("b", 1), kv("c", 0)},
				{kv("a", 1), kv("b", 0), kv("c", 0)},
				{kv("a", 1), kv("b", 0), kv("c", 0)},
				{kv("a", 2), kv("b", 1), kv("c", 0)},
				{kv("a", 2), kv("b", 2), kv("c", 1)},
				{kv("a", 2), kv("b", 2), kv("c", 1)},
				{kv("a", 2), kv("b", 1), kv("c", 0)},
				{kv("a", 1), kv("b", 0), kv("c", 0)},
			},
		},
	} {
		length, slide := tc.length, tc.slide
		if length == 0 {
			length, slide = 2*time.Second, time.Second // Spark's defaults in the suite
		}
		every := int(slide / time.Second)
		nonZero := func(p wc) bool { return p.Value != 0 }
		for _, variant := range []struct {
			name string
			op   func(*dstream.Stream[wc]) *dstream.Stream[wc]
			want [][]wc
		}{
			{"without inverse", func(s *dstream.Stream[wc]) *dstream.Stream[wc] {
				return dstream.ReduceByKeyAndWindow(s, plus, nil, length, slide)
			}, tc.want},
			{"with inverse", func(s *dstream.Stream[wc]) *dstream.Stream[wc] {
				return dstream.ReduceByKeyAndWindow(s, plus, minus, length, slide)
			}, tc.wantInv},
			{"with inverse and filter", func(s *dstream.Stream[wc]) *dstream.Stream[wc] {
				return dstream.ReduceByKeyAndWindow(s, plus, minus, length, slide).WithStateFilter(nonZero)
			}, tc.want},
		} {
			t.Run(tc.name+"/"+variant.name, func(t *testing.T) {
				want := slides(every, variant.want)
				got := dstreamtest.Run(t, tc.input, variant.op, dstreamtest.Batches(len(want)))
				dstreamtest.EqualUnordered(t, got, want)
			})
		}
	}
}

// TestSparkGroupByKeyAndWindow pins GroupByKeyAndWindow
// (WindowOperationsSuite "groupByKeyAndWindow"). Spark compares the
// values as sets; here they are compared as sorted lists, which also
// pins how often each value occurs.
func TestSparkGroupByKeyAndWindow(t *testing.T) {
	t.Parallel()
	type group = dstream.Pair[string, string]
	g := func(k string, vs ...int) group { return dstream.KV(k, fmt.Sprint(vs)) }
	want := [][]group{
		{g("a", 1)},
		{g("a", 1, 1), g("b", 1)},
		{g("a", 1, 1), g("b", 1, 1), g("c", 1)},
		{g("a", 1, 1), g("b", 1, 1), g("c", 1)},
		{g("a", 1, 1), g("b", 1)},
		{g("a", 1)},
		{g("a", 1)},
		{g("a", 1, 1), g("b", 1)},
		{g("a", 1, 1), g("b", 1, 1), g("c", 1)},
		{g("a", 1, 1), g("b", 1, 1), g("c", 1)},
		{g("a", 1, 1), g("b", 1)},
		{g("a", 1)},
	}
	got := dstreamtest.Run(t, bigInput(), func(s *dstream.Stream[wc]) *dstream.Stream[group] {
		groups := dstream.GroupByKeyAndWindow(s, 2*time.Second, time.Second)
		return dstream.Map(groups, func(p dstream.Pair[string, []int]) group {
			vs := slices.Clone(p.Value)
			slices.Sort(vs)
			return dstream.KV(p.Key, fmt.Sprint(vs))
		})
	})
	dstreamtest.EqualUnordered(t, got, want)
}

// TestSparkCountByWindow pins CountByWindow (WindowOperationsSuite
// "countByWindow"): counted incrementally, 0 included once elements have
// left the window.
func TestSparkCountByWindow(t *testing.T) {
	t.Parallel()
	got := dstreamtest.Run(t, [][]int{{1}, {1}, {1, 2}, {0}, {}, {}}, func(s *dstream.Stream[int]) *dstream.Stream[int64] {
		return s.CountByWindow(2*time.Second, time.Second)
	})
	dstreamtest.Equal(t, got, [][]int64{{1}, {2}, {3}, {3}, {1}, {0}})
}

// TestSparkCountByValueAndWindow pins CountByValueAndWindow
// (WindowOperationsSuite "countByValueAndWindow").
func TestSparkCountByValueAndWindow(t *testing.T) {
	t.Parallel()
	type count = dstream.Pair[string, int64]
	got := dstreamtest.Run(t, [][]string{{"a"}, {"b", "b"}, {"a", "b"}}, func(s *dstream.Stream[string]) *dstream.Stream[count] {
		return dstream.CountByValueAndWindow(s, 2*time.Second, time.Second)
	})
	dstreamtest.EqualUnordered(t, got, [][]count{
		{dstream.KV[string, int64]("a", 1)},
		{dstream.KV[string, int64]("a", 1), dstream.KV[string, int64]("b", 2)},
		{dstream.KV[string, int64]("a", 1), dstream.KV[string, int64]("b", 3)},
	})
}

// TestSparkRecoveryInvertibleWindow pins the recovery of an inverse
// window (CheckpointSuite "recovery with invertible reduceByKeyAndWindow
// operation"): a window of 4 batches, its state checkpointed every 2,
// stopped after 7 batches and restarted from the checkpoint, goes on as
// if it had not stopped. After a hard stop the state is recomputed from
// its checkpoint at batch 6 and batch 7 runs again.
func TestSparkRecoveryInvertibleWindow(t *testing.T) {
	t.Parallel()
	const n, w = 10, 4
	input := make([][]string, n)
	for i := range input {
		input[i] = []string{"a"}
	}
	want := [][]wc{{kv("a", 1)}, {kv("a", 2)}, {kv("a", 3)}}
	for range n - w + 1 {
		want = append(want, []wc{kv("a", 4)})
	}
	window := func(s *dstream.Stream[string]) *dstream.Stream[wc] {
		ones := dstream.Map(s, func(x string) wc { return kv(x, 1) })
		return dstream.ReduceByKeyAndWindow(ones, plus, minus, w*time.Second, time.Second).
			Named("window").Checkpoint(2 * time.Second)
	}
	for _, stop := range stopModes() {
		t.Run(stop.name, func(t *testing.T) {
			got := dstreamtest.Run(t, input, window, dstreamtest.RestartAfter(7, stop.mode))
			dstreamtest.EqualUnordered(t, got, want)
		})
	}
}
