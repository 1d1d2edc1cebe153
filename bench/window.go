package main

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
	"github.com/microbatch-go/microbatch/dstream"
)

// windowInputs are the windowed scenarios' batches: 16 different ones,
// cycled.
func windowInputs(spec benchkit.Spec) ([][]string, error) {
	if spec.BatchLines <= 0 || spec.Window <= 0 {
		return nil, fmt.Errorf("window: batch lines %d and window %d must be positive", spec.BatchLines, spec.Window)
	}
	c := benchkit.Words(16*spec.BatchLines, spec.PerLine, spec.Distinct, spec.Seed)
	return benchkit.Batches(c.Lines, spec.BatchLines, 16), nil
}

// windowWords is the number of words in the window once it is full.
func windowWords(spec benchkit.Spec) int { return spec.Window * spec.BatchLines * spec.PerLine }

// oursWindow runs a sliding word count with an inverse function over
// Window batches, sliding by one: FlatMap -> Map ->
// ReduceByKeyAndWindow(add, sub) with zero counts filtered out. The
// output operation reads every count of the window. It fills the window
// untimed, then times one batch per pass: the steady state.
func oursWindow(spec benchkit.Spec) (benchkit.Result, error) {
	batches, err := windowInputs(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	job, err := newManualJob(dstream.WithInMemoryState())
	if err != nil {
		return benchkit.Result{}, err
	}
	defer job.stop()
	q := dstream.NewQueue[string]()
	pairs := dstream.Map(dstream.FlatMap(dstream.QueueStream(job.ssc, q), strings.Fields), wordPair)
	counts := dstream.ReduceByKeyAndWindow(pairs, add, sub, time.Duration(spec.Window)*time.Second, time.Second).WithStateFilter(func(p dstream.Pair[string, int]) bool { return p.Value != 0 })
	var total, distinct int
	if err := counts.ForEachBatch(func(_ context.Context, b *dstream.Batch[dstream.Pair[string, int]]) error {
		total, distinct = 0, b.Len()
		for p := range b.All() {
			total += p.Value
		}
		return nil
	}); err != nil {
		return benchkit.Result{}, fmt.Errorf("build job: %w", err)
	}
	if err := job.start(); err != nil {
		return benchkit.Result{}, err
	}
	n := 0
	next := func() error {
		q.Push(batches[n%len(batches)])
		n++
		return job.step()
	}
	for range spec.Window {
		if err := next(); err != nil {
			return benchkit.Result{}, err
		}
	}
	res, err := benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(spec.BatchLines), func() error {
		if err := next(); err != nil {
			return err
		}
		if total != windowWords(spec) {
			return fmt.Errorf("window holds %d words, want %d", total, windowWords(spec))
		}
		return nil
	})
	res.Notes = append(res.Notes, fmt.Sprintf("%d keys in the window", distinct))
	return res, err
}

// baselineWindow is the hand-written sliding count: every core counts its
// share of the batch into one map per key shard; each core then owns a
// shard of the window, adds the new batch's counts to it, subtracts those
// of the batch leaving the window (kept from Window batches ago) and
// deletes the keys that reach zero; the output reads every count.
func baselineWindow(spec benchkit.Spec) (benchkit.Result, error) {
	batches, err := windowInputs(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	workers := runtime.GOMAXPROCS(0)
	seed := maphash.MakeSeed()
	window := make([]map[string]int, workers)
	for i := range window {
		window[i] = map[string]int{}
	}
	// ring[b][w][s]: batch b's counts from worker w for shard s.
	ring := make([][][]map[string]int, spec.Window)
	totals := make([]int, workers)
	n := 0
	distinct := 0
	next := func() {
		lines := batches[n%len(batches)]
		slot := n % spec.Window
		n++
		counted := make([][]map[string]int, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				shards := make([]map[string]int, workers)
				for s := range shards {
					shards[s] = map[string]int{}
				}
				for _, line := range lines[w*len(lines)/workers : (w+1)*len(lines)/workers] {
					for _, word := range strings.Fields(line) {
						shards[maphash.String(seed, word)%uint64(workers)][word]++
					}
				}
				counted[w] = shards
			})
		}
		wg.Wait()
		expired := ring[slot]
		ring[slot] = counted
		for s := range workers {
			wg.Go(func() {
				win := window[s]
				for w := range workers {
					for k, v := range counted[w][s] {
						win[k] += v
					}
				}
				for w := range expired {
					for k, v := range expired[w][s] {
						if win[k] -= v; win[k] == 0 {
							delete(win, k)
						}
					}
				}
				t := 0
				for _, v := range win {
					t += v
				}
				totals[s] = t
			})
		}
		wg.Wait()
		distinct = 0
		for _, m := range window {
			distinct += len(m)
		}
	}
	for range spec.Window {
		next()
	}
	res, err := benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(spec.BatchLines), func() error {
		next()
		total := 0
		for _, t := range totals {
			total += t
		}
		if total != windowWords(spec) {
			return fmt.Errorf("window holds %d words, want %d", total, windowWords(spec))
		}
		return nil
	})
	res.Notes = append(res.Notes, fmt.Sprintf("%d keys in the window", distinct))
	return res, err
}
