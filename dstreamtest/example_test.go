package dstreamtest_test

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/dstreamtest"
)

// exampleT stands in for the *testing.T of a test function, which
// examples do not have: it prints what a test would report. In a test,
// pass the test's t.
type exampleT struct {
	testing.TB // not set: dstreamtest uses only the methods below
	cleanups   []func()
}

func (*exampleT) Helper()             {}
func (*exampleT) Logf(string, ...any) {}
func (*exampleT) Errorf(format string, args ...any) {
	fmt.Printf("ERROR "+format+"\n", args...)
}
func (*exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (*exampleT) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (e *exampleT) Cleanup(f func())                { e.cleanups = append(e.cleanups, f) }
func (e *exampleT) TempDir() string {
	dir, err := os.MkdirTemp("", "dstreamtest-example")
	if err != nil {
		panic(err)
	}
	e.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// finish runs the cleanups, last registered first, as a test does.
func (e *exampleT) finish() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

type count = dstream.Pair[string, int]

// wordCount is the job under test: the count of each word per batch.
func wordCount(lines *dstream.Stream[string]) *dstream.Stream[count] {
	words := dstream.FlatMap(lines, strings.Fields)
	ones := dstream.Map(words, func(w string) count { return dstream.KV(w, 1) })
	return dstream.ReduceByKey(ones, func(a, b int) int { return a + b })
}

// byKey sorts pairs by key, for printing a batch of a wide operation.
func byKey(b []count) []count {
	return slices.SortedFunc(slices.Values(b), func(x, y count) int { return cmp.Compare(x.Key, y.Key) })
}

// A word count per batch. The order of the pairs in a batch is not
// defined (ReduceByKey shuffles), so the test compares each batch as a
// multiset; the third batch runs with no input.
func Example() {
	t := &exampleT{} // in a test: the test's t
	defer t.finish()

	got := dstreamtest.Run(t, [][]string{{"to be or", "not to be"}, {"be quick"}}, wordCount,
		dstreamtest.Batches(3))
	for i, b := range got {
		fmt.Println(i, byKey(b))
	}
	ok := dstreamtest.EqualUnordered(t, got, [][]count{
		{dstream.KV("be", 2), dstream.KV("not", 1), dstream.KV("or", 1), dstream.KV("to", 2)},
		{dstream.KV("quick", 1), dstream.KV("be", 1)},
		{},
	})
	fmt.Println("equal:", ok)
	// Output:
	// 0 [(be,2) (not,1) (or,1) (to,2)]
	// 1 [(be,1) (quick,1)]
	// 2 []
	// equal: true
}

// A window of 3 batches sliding every 2: the stream has a batch every
// second batch time only, so the others are nil ("no batch"), and its
// first window is partial. A window keeps its batches' order.
func ExampleRun_window() {
	t := &exampleT{}
	defer t.finish()

	window := func(s *dstream.Stream[int]) *dstream.Stream[int] {
		return s.Window(3*time.Second, 2*time.Second)
	}
	got := dstreamtest.Run(t, [][]int{{1}, {2}, {3}, {4}, {5}, {6}}, window)
	for i, b := range got {
		fmt.Printf("batch %d at %d ms: %v (nil: %t)\n", i, (i+1)*1000, b, b == nil)
	}
	dstreamtest.Equal(t, got, [][]int{nil, {1, 2}, nil, {2, 3, 4}, nil, {4, 5, 6}})
	// Output:
	// batch 0 at 1000 ms: [] (nil: true)
	// batch 1 at 2000 ms: [1 2] (nil: false)
	// batch 2 at 3000 ms: [] (nil: true)
	// batch 3 at 4000 ms: [2 3 4] (nil: false)
	// batch 4 at 5000 ms: [] (nil: true)
	// batch 5 at 6000 ms: [4 5 6] (nil: false)
}

// runningTotal is a MapWithState function: it adds each value to the
// key's total and returns the new total.
func runningTotal(_ time.Time, key string, v dstream.Optional[int], st *dstream.State[int]) (count, bool) {
	if st.IsTimingOut() {
		total, _ := st.Get()
		return dstream.KV(key+" (final)", total), true
	}
	total := st.GetOption().Value + v.Value
	if err := st.Update(total); err != nil {
		return count{}, false
	}
	return dstream.KV(key, total), true
}

// A MapWithState function tested alone, without a job: call it with a
// state and read what it did.
func ExampleNewState() {
	st := dstreamtest.NewState(3) // the key's total so far
	out, ok := runningTotal(time.UnixMilli(1000), "a", dstream.Some(2), st)
	fmt.Println(out, ok)
	fmt.Printf("%+v\n", dstreamtest.ReadState(st))

	st = dstreamtest.NoState[int]() // the key's first value
	out, _ = runningTotal(time.UnixMilli(1000), "b", dstream.Some(5), st)
	fmt.Println(out, dstreamtest.ReadState(st).Value)

	st = dstreamtest.TimingOutState(7) // the key's last call, with no value
	out, ok = runningTotal(time.UnixMilli(1000), "c", dstream.None[int](), st)
	fmt.Println(out, ok)
	fmt.Printf("%+v\n", dstreamtest.ReadState(st))
	// Output:
	// (a,5) true
	// {Exists:true Value:5 Updated:true Removed:false TimingOut:false Err:<nil>}
	// (b,5) 5
	// (c (final),7) true
	// {Exists:true Value:7 Updated:false Removed:false TimingOut:true Err:<nil>}
}

// A stateful job stopped after two batches as if its process died, and
// restarted from its checkpoint: the running totals go on as if nothing
// happened.
func ExampleRestartAfter() {
	t := &exampleT{}
	defer t.finish()

	totals := func(lines *dstream.Stream[string]) *dstream.Stream[count] {
		return dstream.UpdateStateByKey(wordCount(lines), func(vs []int, total *int) (int, bool) {
			n := 0
			if total != nil {
				n = *total
			}
			for _, v := range vs {
				n += v
			}
			return n, true
		}).Named("totals") // a stable name finds the state again after a restart
	}
	got := dstreamtest.Run(t, [][]string{{"a b"}, {"a"}, {"b b"}, {"a"}}, totals,
		dstreamtest.RestartAfter(2, dstream.Hard))
	for i, b := range got {
		fmt.Println(i, byKey(b))
	}
	// Output:
	// 0 [(a,1) (b,1)]
	// 1 [(a,2) (b,1)]
	// 2 [(a,2) (b,3)]
	// 3 [(a,3) (b,3)]
}

// What a test reports when a batch differs: its index and time, and the
// elements missing or unexpected.
func ExampleEqualUnordered() {
	t := &exampleT{}
	defer t.finish()

	got := dstreamtest.Run(t, [][]string{{"a b"}, {"a a"}}, wordCount)
	dstreamtest.EqualUnordered(t, got, [][]count{
		{dstream.KV("a", 1), dstream.KV("b", 1)},
		{dstream.KV("a", 3)},
	})
	// Output:
	// ERROR dstreamtest: EqualUnordered: batch 1 at 2000 ms: got [(a,2)], want [(a,3)] in any order: missing [(a,3)], unexpected [(a,2)]
}
