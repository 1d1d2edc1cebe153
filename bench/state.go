package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
	"github.com/microbatch-go/microbatch/dstream"
)

// stateInputs are the keyed-state scenario's batches: 16 different ones
// of (key, 1), keys uniform over spec.Keys, cycled.
func stateInputs(spec benchkit.Spec) ([][]dstream.Pair[int64, int64], error) {
	if spec.Keys <= 0 || spec.BatchRecords <= 0 {
		return nil, fmt.Errorf("state: keys %d and batch records %d must be positive", spec.Keys, spec.BatchRecords)
	}
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed+3))
	out := make([][]dstream.Pair[int64, int64], 16)
	for i := range out {
		ps := make([]dstream.Pair[int64, int64], spec.BatchRecords)
		for j := range ps {
			ps[j] = dstream.KV(rng.Int64N(int64(spec.Keys)), int64(1))
		}
		out[i] = ps
	}
	return out, nil
}

// distinctKeys counts the keys of the first n batches (all of them once
// n reaches their number).
func distinctKeys(batches [][]dstream.Pair[int64, int64], n, keys int) int {
	seen := make([]bool, keys)
	d := 0
	for _, b := range batches[:min(n, len(batches))] {
		for _, p := range b {
			if !seen[p.Key] {
				seen[p.Key] = true
				d++
			}
		}
	}
	return d
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// stateResult adds the state's bytes per key to res: the growth of the
// live heap from before the job to after the run, over the keys seen.
func stateResult(res benchkit.Result, before uint64, batches [][]dstream.Pair[int64, int64], n, keys int) benchkit.Result {
	after := heapInUse()
	d := distinctKeys(batches, n, keys)
	if d > 0 && after > before {
		res.Metrics = map[string]float64{"bytes_per_key": float64(after-before) / float64(d), "keys": float64(d)}
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d keys in state", d))
	return res
}

// oursState keeps a running count per key with MapWithState, which
// returns the new count of every record.
func oursState(spec benchkit.Spec) (benchkit.Result, error) {
	batches, err := stateInputs(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	before := heapInUse()
	job, err := newManualJob(dstream.WithInMemoryState())
	if err != nil {
		return benchkit.Result{}, err
	}
	defer job.stop()
	q := dstream.NewQueue[dstream.Pair[int64, int64]]()
	ms := dstream.MapWithState(dstream.QueueStream(job.ssc, q), dstream.StateSpec[int64, int64, int64, int64]{
		Func: func(_ time.Time, _ int64, v dstream.Optional[int64], st *dstream.State[int64]) (int64, bool) {
			n, _ := st.Get()
			n += v.Value
			st.Update(n)
			return n, true
		},
	})
	out := 0
	if err := ms.ForEachBatch(func(_ context.Context, b *dstream.Batch[int64]) error { out = b.Len(); return nil }); err != nil {
		return benchkit.Result{}, fmt.Errorf("build job: %w", err)
	}
	if err := job.start(); err != nil {
		return benchkit.Result{}, err
	}
	n := 0
	next := func() error {
		q.Push(batches[n%len(batches)])
		n++
		if err := job.step(); err != nil {
			return err
		}
		if out != spec.BatchRecords {
			return fmt.Errorf("mapped %d records, want %d", out, spec.BatchRecords)
		}
		return nil
	}
	for range spec.Warmup {
		if err := next(); err != nil {
			return benchkit.Result{}, err
		}
	}
	res, err := benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(spec.BatchRecords), next)
	if err != nil {
		return res, err
	}
	return stateResult(res, before, batches, n, spec.Keys), nil
}

// baselineState is the hand-written keyed state: one goroutine and one
// map[int64]int64 per core, each owning the keys equal to its index
// modulo the cores, scanning the batch and writing the new count of each
// of its records to its output.
func baselineState(spec benchkit.Spec) (benchkit.Result, error) {
	batches, err := stateInputs(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	before := heapInUse()
	workers := runtime.GOMAXPROCS(0)
	maps := make([]map[int64]int64, workers)
	for i := range maps {
		maps[i] = map[int64]int64{}
	}
	outs := make([][]int64, workers)
	n := 0
	next := func() error {
		b := batches[n%len(batches)]
		n++
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				m, out := maps[w], outs[w][:0]
				for _, p := range b {
					if int(p.Key%int64(workers)) != w {
						continue
					}
					c := m[p.Key] + p.Value
					m[p.Key] = c
					out = append(out, c)
				}
				outs[w] = out
			})
		}
		wg.Wait()
		total := 0
		for _, o := range outs {
			total += len(o)
		}
		if total != spec.BatchRecords {
			return fmt.Errorf("mapped %d records, want %d", total, spec.BatchRecords)
		}
		return nil
	}
	for range spec.Warmup {
		if err := next(); err != nil {
			return benchkit.Result{}, err
		}
	}
	res, err := benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(spec.BatchRecords), next)
	if err != nil {
		return res, err
	}
	res = stateResult(res, before, batches, n, spec.Keys)
	runtime.KeepAlive(maps)
	return res, nil
}
