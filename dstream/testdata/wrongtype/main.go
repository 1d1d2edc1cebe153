// This program must not compile (TestWrongTypesDoNotCompile): each line
// marked WANT gives an operator a typed setting of another type than its
// stream's: a key or state of type int64 for a stream of string keys and
// int values.
package main

import (
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

func main() {
	ssc, _ := dstream.NewContext(time.Second)
	pairs := dstream.QueueStream(ssc, dstream.NewQueue[dstream.Pair[string, int]]())
	sum := func(vs []int, st *int) (int, bool) { return len(vs), true }
	add := func(a, b int) int { return a + b }
	sub := func(a, b int) int { return a - b }

	dstream.UpdateStateByKey(pairs, sum).WithInitialState([]dstream.Pair[int64, int]{{Key: 1, Value: 1}}) // WANT initial state, key type
	dstream.UpdateStateByKey(pairs, sum).WithInitialState([]dstream.Pair[string, int64]{{Key: "a"}})      // WANT initial state, state type
	w := dstream.ReduceByKeyAndWindow(pairs, add, sub, 2*time.Second, time.Second)
	w.WithStateFilter(func(p dstream.Pair[string, int64]) bool { return p.Value != 0 }) // WANT state filter, value type
	w.WithStateFilter(func(p dstream.Pair[int64, int]) bool { return p.Value != 0 })    // WANT state filter, key type
}
