package dstream_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// newExampleContext returns a context on a manual clock at the Unix epoch,
// so the examples' batch times are 1000 ms, 2000 ms, ...; real jobs use the
// system clock and Run.
func newExampleContext(opts ...dstream.Option) (*dstream.Context, *dstream.ManualClock) {
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, append([]dstream.Option{dstream.WithClock(clk), dstream.WithParallelism(1)}, opts...)...)
	if err != nil {
		panic(err)
	}
	return ssc, clk
}

// runBatches starts ssc, runs n batches by moving the clock, and stops.
func runBatches(ssc *dstream.Context, clk *dstream.ManualClock, n int) {
	if err := ssc.Start(); err != nil {
		fmt.Println("start:", err)
		return
	}
	for range n {
		clk.Advance(time.Second)
		if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
			fmt.Println("batch:", err)
			return
		}
	}
	if err := ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		fmt.Println("stop:", err)
	}
}

// printSorted prints each batch's elements sorted, one line per batch.
func printSorted[K cmp.Ordered, V any](s *dstream.Stream[dstream.Pair[K, V]]) {
	s.ForEachBatch(func(_ context.Context, b *dstream.Batch[dstream.Pair[K, V]]) error {
		ps := b.Collect()
		slices.SortFunc(ps, func(a, b dstream.Pair[K, V]) int { return cmp.Compare(a.Key, b.Key) })
		fmt.Println(b.Time.UnixMilli(), ps)
		return nil
	})
}

// The classic word count: lines are split into words, each word is paired
// with 1 and the pairs are reduced by key every batch.
func Example() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[string]()
	q.Push([]string{"to be or not to be"})
	lines := dstream.QueueStream(ssc, q)
	words := dstream.FlatMap(lines, strings.Fields)
	pairs := dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
	counts := dstream.ReduceByKey(pairs, func(a, b int) int { return a + b })
	counts.Print()
	runBatches(ssc, clk, 1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// (to,2)
	// (be,2)
	// (or,1)
	// (not,1)
}

func ExampleMap() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[int]()
	q.Push([]int{1, 2, 3})
	dstream.Map(dstream.QueueStream(ssc, q), func(x int) string { return strings.Repeat("*", x) }).Print()
	runBatches(ssc, clk, 1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// *
	// **
	// ***
}

func ExampleFlatMap() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[string]()
	q.Push([]string{"a b", "c"})
	dstream.FlatMap(dstream.QueueStream(ssc, q), strings.Fields).Print()
	runBatches(ssc, clk, 1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// a
	// b
	// c
}

func ExampleStream_Filter() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[int]()
	q.Push([]int{1, 2, 3, 4, 5, 6})
	dstream.QueueStream(ssc, q).Filter(func(x int) bool { return x%2 == 0 }).Print()
	runBatches(ssc, clk, 1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// 2
	// 4
	// 6
}

// Print shows the first 10 elements of each batch and "..." when there are
// more; empty batches print their header.
func ExampleStream_PrintN() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[int]()
	q.Push([]int{1, 2, 3, 4})
	q.Push(nil)
	dstream.QueueStream(ssc, q).PrintN(2)
	runBatches(ssc, clk, 2)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// 1
	// 2
	// ...
	//
	// -------------------------------------------
	// Time: 2000 ms
	// -------------------------------------------
}

func ExampleStream_Count() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[string]()
	q.Push([]string{"x", "y", "z"})
	q.Push(nil)
	dstream.QueueStream(ssc, q).Count().ForEachBatch(func(_ context.Context, b *dstream.Batch[int64]) error {
		fmt.Println(b.Time.UnixMilli(), b.Collect())
		return nil
	})
	runBatches(ssc, clk, 2)
	// Output:
	// 1000 [3]
	// 2000 [0]
}

func ExampleReduceByKey() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[dstream.Pair[string, int]]()
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 1), dstream.KV("b", 2), dstream.KV("a", 3)})
	printSorted(dstream.ReduceByKey(dstream.QueueStream(ssc, q), func(x, y int) int { return x + y }))
	runBatches(ssc, clk, 1)
	// Output:
	// 1000 [(a,4) (b,2)]
}

// alphabetHalves is a Partitioner that puts words before "n" in
// partition 0 and the rest in partition 1.
type alphabetHalves struct{}

func (alphabetHalves) NumPartitions() int { return 2 }

func (alphabetHalves) Partition(word string) int {
	if word < "n" {
		return 0
	}
	return 1
}

// PartitionBy places the keys of a keyed operator with a Partitioner
// instead of hashing them: here by range.
func ExamplePartitionBy() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[dstream.Pair[string, int]]()
	q.Push([]dstream.Pair[string, int]{dstream.KV("pear", 1), dstream.KV("apple", 2), dstream.KV("zucchini", 3), dstream.KV("apple", 4)})
	sums := dstream.ReduceByKey(dstream.QueueStream(ssc, q), func(a, b int) int { return a + b }, dstream.PartitionBy[string](alphabetHalves{}))
	sums.ForEachBatch(func(_ context.Context, b *dstream.Batch[dstream.Pair[string, int]]) error {
		for j, p := range b.Partitions {
			p = slices.Clone(p)
			slices.SortFunc(p, func(x, y dstream.Pair[string, int]) int { return cmp.Compare(x.Key, y.Key) })
			fmt.Println("partition", j, p)
		}
		return nil
	})
	runBatches(ssc, clk, 1)
	// Output:
	// partition 0 [(apple,6)]
	// partition 1 [(pear,1) (zucchini,3)]
}

func ExampleGroupByKey() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[dstream.Pair[string, int]]()
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 1), dstream.KV("b", 2), dstream.KV("a", 3)})
	printSorted(dstream.GroupByKey(dstream.QueueStream(ssc, q)))
	runBatches(ssc, clk, 1)
	// Output:
	// 1000 [(a,[1 3]) (b,[2])]
}

// Joins pair the two streams' batches of the same time.
func ExampleLeftOuterJoin() {
	ssc, clk := newExampleContext()
	users := dstream.NewQueue[dstream.Pair[int, string]]()
	clicks := dstream.NewQueue[dstream.Pair[int, string]]()
	users.Push([]dstream.Pair[int, string]{dstream.KV(1, "ann"), dstream.KV(2, "bob")})
	clicks.Push([]dstream.Pair[int, string]{dstream.KV(1, "/home")})
	joined := dstream.LeftOuterJoin(dstream.QueueStream(ssc, users), dstream.QueueStream(ssc, clicks))
	printSorted(joined)
	runBatches(ssc, clk, 1)
	// Output:
	// 1000 [(1,(ann,Some(/home))) (2,(bob,None))]
}

// Transform applies any function of a whole batch; here it sorts it.
func ExampleTransform() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[int]()
	q.Push([]int{3, 1, 2})
	sorted := dstream.Transform(dstream.QueueStream(ssc, q), func(b *dstream.Batch[int]) (*dstream.Batch[int], error) {
		all := b.Collect()
		slices.Sort(all)
		return &dstream.Batch[int]{Partitions: [][]int{all}}, nil
	})
	sorted.Print()
	runBatches(ssc, clk, 1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// 1
	// 2
	// 3
}

// TransformN combines the batches of several streams for the same time;
// here it reports each stream's size and the largest element of all. The
// third queue is idle, so its stream has no batch and f gets an empty one.
func ExampleTransformN() {
	ssc, clk := newExampleContext()
	var streams []*dstream.Stream[int]
	for _, xs := range [][]int{{3, 1}, {7}, nil} {
		q := dstream.NewQueue[int]()
		if xs != nil {
			q.Push(xs)
		}
		streams = append(streams, dstream.QueueStream(ssc, q))
	}
	summary := dstream.TransformN(streams, func(batches []*dstream.Batch[int]) (*dstream.Batch[string], error) {
		var sizes []int
		var all []int
		for _, b := range batches {
			sizes = append(sizes, b.Len())
			all = append(all, b.Collect()...)
		}
		line := fmt.Sprintf("sizes %v max %d", sizes, slices.Max(all))
		return &dstream.Batch[string]{Partitions: [][]string{{line}}}, nil
	})
	summary.ForEachBatch(func(_ context.Context, b *dstream.Batch[string]) error {
		fmt.Println(b.Time.UnixMilli(), b.Collect()[0])
		return nil
	})
	runBatches(ssc, clk, 2) // no stream has a batch at 2000 ms: no output
	// Output:
	// 1000 sizes [2 1 0] max 7
}

// A window of 3 batches sliding by 1: each output holds the last three
// batches, partial at the start.
func ExampleStream_Window() {
	ssc, clk := newExampleContext()
	q := dstream.NewQueue[int]()
	for i := 1; i <= 4; i++ {
		q.Push([]int{i})
	}
	dstream.QueueStream(ssc, q).Window(3*time.Second, time.Second).ForEachBatch(func(_ context.Context, b *dstream.Batch[int]) error {
		fmt.Println(b.Time.UnixMilli(), b.Collect())
		return nil
	})
	runBatches(ssc, clk, 4)
	// Output:
	// 1000 [1]
	// 2000 [1 2]
	// 3000 [1 2 3]
	// 4000 [2 3 4]
}

// With an inverse function each window is computed from the previous one;
// keys whose count falls to zero stay unless a filter drops them.
func ExampleReduceByKeyAndWindow() {
	ssc, clk := newExampleContext(dstream.WithInMemoryState()) // state in memory only; real jobs use WithCheckpoint
	q := dstream.NewQueue[dstream.Pair[string, int]]()
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 1), dstream.KV("b", 1)})
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 1)})
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 1)})
	add := func(x, y int) int { return x + y }
	sub := func(x, y int) int { return x - y }
	counts := dstream.ReduceByKeyAndWindow(dstream.QueueStream(ssc, q), add, sub, 2*time.Second, time.Second).WithStateFilter(func(p dstream.Pair[string, int]) bool { return p.Value > 0 })
	printSorted(counts)
	runBatches(ssc, clk, 3)
	// Output:
	// 1000 [(a,1) (b,1)]
	// 2000 [(a,2) (b,1)]
	// 3000 [(a,2)]
}

// UpdateStateByKey keeps a running total per key across batches.
func ExampleUpdateStateByKey() {
	ssc, clk := newExampleContext(dstream.WithInMemoryState()) // state in memory only; real jobs use WithCheckpoint
	q := dstream.NewQueue[dstream.Pair[string, int]]()
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 1), dstream.KV("b", 5)})
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 2)})
	totals := dstream.UpdateStateByKey(dstream.QueueStream(ssc, q), func(values []int, state *int) (int, bool) {
		sum := 0
		if state != nil {
			sum = *state
		}
		for _, v := range values {
			sum += v
		}
		return sum, true
	})
	printSorted(totals)
	runBatches(ssc, clk, 3)
	// Output:
	// 1000 [(a,1) (b,5)]
	// 2000 [(a,3) (b,5)]
	// 3000 [(a,3) (b,5)]
}

// UpdateStateByKeyWithTime also gets the batch time and the key: here
// each user's state is the time of their last click, and a user idle for
// two seconds is dropped.
func ExampleUpdateStateByKeyWithTime() {
	ssc, clk := newExampleContext(dstream.WithInMemoryState()) // state in memory only; real jobs use WithCheckpoint
	q := dstream.NewQueue[dstream.Pair[string, string]]()
	q.Push([]dstream.Pair[string, string]{dstream.KV("ann", "/home"), dstream.KV("bob", "/cart")})
	q.Push([]dstream.Pair[string, string]{dstream.KV("ann", "/pay")})
	lastClick := dstream.UpdateStateByKeyWithTime(dstream.QueueStream(ssc, q),
		func(t time.Time, user string, clicks []string, last *time.Time) (time.Time, bool) {
			if len(clicks) > 0 {
				return t, true
			}
			return *last, t.Sub(*last) < 2*time.Second
		})
	printSorted(dstream.MapValues(lastClick, func(t time.Time) int64 { return t.UnixMilli() }))
	runBatches(ssc, clk, 4)
	// Output:
	// 1000 [(ann,1000) (bob,1000)]
	// 2000 [(ann,2000) (bob,1000)]
	// 3000 [(ann,2000)]
	// 4000 []
}

// MapWithState emits a running count per element and keeps the state of
// the keys with data only.
func ExampleMapWithState() {
	ssc, clk := newExampleContext(dstream.WithInMemoryState()) // state in memory only; real jobs use WithCheckpoint
	q := dstream.NewQueue[dstream.Pair[string, int]]()
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 1), dstream.KV("a", 1), dstream.KV("b", 1)})
	q.Push([]dstream.Pair[string, int]{dstream.KV("a", 1)})
	running := dstream.MapWithState(dstream.QueueStream(ssc, q), dstream.StateSpec[string, int, int, string]{
		Func: func(_ time.Time, key string, value dstream.Optional[int], state *dstream.State[int]) (string, bool) {
			n, _ := state.Get() // 0 when the key has no state yet
			n += value.Value
			state.Update(n)
			return fmt.Sprintf("%s=%d", key, n), true
		},
	})
	running.Print()
	printSorted(running.StateSnapshots())
	runBatches(ssc, clk, 2)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// a=1
	// a=2
	// b=1
	//
	// 1000 [(a,2) (b,1)]
	// -------------------------------------------
	// Time: 2000 ms
	// -------------------------------------------
	// a=3
	//
	// 2000 [(a,3) (b,1)]
}

// An invalid operation does not panic: the stream carries the error, and
// the output operation and Start report it.
func ExampleBuildError() {
	ssc, _ := newExampleContext()
	in := dstream.QueueStream(ssc, dstream.NewQueue[int]())
	err := in.Window(1500*time.Millisecond, 0).Print()
	fmt.Println(err)
	fmt.Println(ssc.Start() != nil)
	// Output:
	// dstream: window: dstream: invalid window: window length 1.5s must be a positive multiple of the parent's slide 1s
	// true
}

// lineReceiver is a minimal Receiver: it stores some lines as one block.
type lineReceiver struct{ lines []string }

func (r lineReceiver) OnStart(ctx context.Context, host *dstream.ReceiverHost[string]) error {
	return host.StoreSlice(r.lines) // small and quick; real receivers start a goroutine
}

func (r lineReceiver) OnStop() {}

func ExampleReceiverStream() {
	ssc, clk := newExampleContext()
	lines := dstream.ReceiverStream[string](ssc, lineReceiver{lines: []string{"hello", "world"}})
	lines.Print()
	runBatches(ssc, clk, 1)
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// hello
	// world
}
