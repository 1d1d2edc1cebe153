// Command beam runs the bench's word counts on Apache Beam's Go SDK
// (beam/sdks/v2 v2.77.0) with its direct runner, as a child of the bench
// command (see bench/internal/benchkit).
package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
)

func init() {
	register.Function2x0(splitFn)
	register.Function2x0(splitTimedFn)
	register.Emitter1[string]()
	register.Emitter2[beam.EventTime, string]()
	register.Function2x0(collectFn)
	register.Function3x0(collectWindowedFn)
}

func main() {
	beam.Init()
	benchkit.Main(map[string]func(benchkit.Spec) (benchkit.Result, error){
		"wordcount": wordCount,
		"window":    slidingWordCount,
	})
}

// splitFn emits the words of a line.
func splitFn(line string, emit func(string)) {
	for _, w := range strings.Fields(line) {
		emit(w)
	}
}

// splitTimedFn emits the words of a line "<batch> <words>" with the
// batch's event time: batch n at n seconds.
func splitTimedFn(line string, emit func(beam.EventTime, string)) {
	b, words, _ := strings.Cut(line, " ")
	n, _ := strconv.Atoi(b)
	t := mtime.FromMilliseconds(int64(n) * 1000)
	for _, w := range strings.Fields(words) {
		emit(t, w)
	}
}

// results is where the last ParDo adds up what the pipeline counted
// (the direct runner runs in this process).
var results struct {
	mu       sync.Mutex
	total    int
	distinct int
	windows  map[string]bool
}

func collectFn(_ string, n int) {
	results.mu.Lock()
	results.total += n
	results.distinct++
	results.mu.Unlock()
}

func collectWindowedFn(w beam.Window, _ string, n int) {
	results.mu.Lock()
	results.total += n
	results.distinct++
	results.windows[fmt.Sprint(w)] = true
	results.mu.Unlock()
}

func resetResults() {
	results.mu.Lock()
	results.total, results.distinct, results.windows = 0, 0, map[string]bool{}
	results.mu.Unlock()
}

// wordCount runs CreateList(lines) -> ParDo(split) -> stats.Count ->
// ParDo(collect) on the direct runner; each pass builds and runs a new
// pipeline.
func wordCount(spec benchkit.Spec) (benchkit.Result, error) {
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	return benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(c.Lines)), func() error {
		resetResults()
		p, s := beam.NewPipelineWithRoot()
		words := beam.ParDo(s, splitFn, beam.CreateList(s, c.Lines))
		beam.ParDo0(s, collectFn, stats.Count(s, words))
		if _, err := direct.Execute(context.Background(), p); err != nil {
			return fmt.Errorf("direct runner: %w", err)
		}
		return benchkit.CheckCounts(c, results.total, results.distinct)
	})
}

// slidingWordCount counts words in sliding event-time windows of Window
// batches (a batch is one second of event time), sliding by one batch:
// CreateList("<batch> <line>") -> ParDo(split, with the batch's time) ->
// WindowInto(SlidingWindows) -> stats.Count -> ParDo(collect). Beam has
// no inverse function: each word is counted in every window it falls in.
// The input is Window+10 batches of spec.BatchLines lines.
func slidingWordCount(spec benchkit.Spec) (benchkit.Result, error) {
	if spec.Window <= 0 || spec.BatchLines <= 0 {
		return benchkit.Result{}, fmt.Errorf("window %d and batch lines %d must be positive", spec.Window, spec.BatchLines)
	}
	c := benchkit.Words(16*spec.BatchLines, spec.PerLine, spec.Distinct, spec.Seed)
	batches := benchkit.Batches(c.Lines, spec.BatchLines, 16)
	n := spec.Window + 10
	var input []string
	for b := range n {
		for _, l := range batches[b%len(batches)] {
			input = append(input, strconv.Itoa(b)+" "+l)
		}
	}
	want := len(input) * spec.PerLine * spec.Window
	res, err := benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(input)), func() error {
		resetResults()
		p, s := beam.NewPipelineWithRoot()
		words := beam.ParDo(s, splitTimedFn, beam.CreateList(s, input))
		windowed := beam.WindowInto(s, window.NewSlidingWindows(time.Second, time.Duration(spec.Window)*time.Second), words)
		beam.ParDo0(s, collectWindowedFn, stats.Count(s, windowed))
		if _, err := direct.Execute(context.Background(), p); err != nil {
			return fmt.Errorf("direct runner: %w", err)
		}
		if results.total != want || len(results.windows) != n+spec.Window-1 {
			return fmt.Errorf("counted %d words in %d windows, want %d in %d", results.total, len(results.windows), want, n+spec.Window-1)
		}
		return nil
	})
	res.Notes = append(res.Notes, fmt.Sprintf("%d lines in %d batches", len(input), n))
	return res, err
}
