package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
	"github.com/microbatch-go/microbatch/dstream"
)

// oursWordCount counts the words of the corpus with the engine:
// QueueStream -> FlatMap(strings.Fields) -> Map -> ReduceByKey, the whole
// corpus in one batch per pass, the output operation reading every count.
func oursWordCount(spec benchkit.Spec) (benchkit.Result, error) {
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	job, err := newManualJob()
	if err != nil {
		return benchkit.Result{}, err
	}
	defer job.stop()
	q := dstream.NewQueue[string]()
	counts := dstream.ReduceByKey(dstream.Map(dstream.FlatMap(dstream.QueueStream(job.ssc, q), strings.Fields), wordPair), add)
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
	res, err := benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(c.Lines)), func() error {
		q.Push(c.Lines)
		if err := job.step(); err != nil {
			return err
		}
		return benchkit.CheckCounts(c, total, distinct)
	})
	res.Notes = append(res.Notes, fmt.Sprintf("parallelism %d", runtime.GOMAXPROCS(0)))
	return res, err
}

// baselineWordCount is the hand-written parallel count of the same
// corpus, then the same read of every count.
func baselineWordCount(spec benchkit.Spec) (benchkit.Result, error) {
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	workers := runtime.GOMAXPROCS(0)
	res, err := benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(c.Lines)), func() error {
		m := handCount(c.Lines, workers)
		total := 0
		for _, n := range m {
			total += n
		}
		return benchkit.CheckCounts(c, total, len(m))
	})
	res.Notes = append(res.Notes, fmt.Sprintf("%d workers", workers))
	return res, err
}
