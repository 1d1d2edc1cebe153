// Package dstreamtest runs dstream jobs in tests, batch by batch on a
// manual clock, the way Spark's streaming test suites do.
//
// Run takes the input of each batch, the job as a function from an input
// stream to an output stream, and returns the output of each batch; Run2
// does the same for jobs of two inputs (joins, cogroup, union). Equal and
// EqualUnordered compare the output with what the test expects and report
// each differing batch by index and time:
//
//	func TestWordCount(t *testing.T) {
//		counts := func(lines *dstream.Stream[string]) *dstream.Stream[dstream.Pair[string, int]] {
//			words := dstream.FlatMap(lines, strings.Fields)
//			ones := dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
//			return dstream.ReduceByKey(ones, func(a, b int) int { return a + b })
//		}
//		got := dstreamtest.Run(t, [][]string{{"a b a"}, {}, {"b"}}, counts)
//		dstreamtest.EqualUnordered(t, got, [][]dstream.Pair[string, int]{
//			{dstream.KV("a", 2), dstream.KV("b", 1)},
//			{},
//			{dstream.KV("b", 1)},
//		})
//	}
//
// Batch i (from 0) runs at (i+1)×interval since the Unix epoch, so batch
// times are the same in every run: 1000 ms, 2000 ms, ... with the default
// 1 s interval. The job checkpoints to a directory of t.TempDir, and
// RestartAfter stops it midway and resumes it from that checkpoint in a
// new context, which tests that a stateful job recovers: its output must
// be the same as without the restart.
//
// A MapWithState function can also be tested alone: call it with a state
// from NewState, NoState or TimingOutState, and read what it did with
// ReadState.
//
// Every Run has its own context, clock and checkpoint directory, and
// contexts share nothing, so tests that call Run may call t.Parallel.
package dstreamtest
