package dstream

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wordCorpus generates lines of words drawn from a Zipf distribution over
// distinct words of 3 to 10 lowercase letters, deterministically.
func wordCorpus(lines, perLine, distinct int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[string]bool, distinct)
	vocab := make([]string, 0, distinct)
	for len(vocab) < distinct {
		n := 3 + rng.IntN(8)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		if w := string(b); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(distinct-1))
	out := make([]string, lines)
	var sb strings.Builder
	for i := range out {
		sb.Reset()
		for j := range perLine {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(vocab[zipf.Uint64()])
		}
		out[i] = sb.String()
	}
	return out
}

var corpusOnce = sync.OnceValue(func() []string { return wordCorpus(2_000_000, 12, 100_000) })

// handWrittenCount is the practical limit: one goroutine per core, each
// counting its share of the lines into its own map, then a merge.
func handWrittenCount(lines []string, workers int) map[string]int {
	maps := make([]map[string]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m := make(map[string]int)
			for _, line := range lines[w*len(lines)/workers : (w+1)*len(lines)/workers] {
				for _, word := range strings.Fields(line) {
					m[word]++
				}
			}
			maps[w] = m
		})
	}
	wg.Wait()
	total := maps[0]
	for _, m := range maps[1:] {
		for k, v := range m {
			total[k] += v
		}
	}
	return total
}

// benchContext returns a started-ready context on a manual clock and a
// function that runs one batch.
func benchContext(b *testing.B, opts ...Option) (*Context, func()) {
	b.Helper()
	clk := NewManualClock(time.UnixMilli(0))
	ssc, err := NewContext(time.Second, append([]Option{WithClock(clk), WithLogger(quietLogger), WithInMemoryState()}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ssc.Stop(context.Background(), Hard) })
	step := func() {
		clk.Advance(time.Second)
		if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
			b.Fatal(err)
		}
	}
	return ssc, step
}

// reportRate reports records per second over the benchmark.
func reportRate(b *testing.B, recordsPerOp int) {
	b.ReportMetric(float64(recordsPerOp)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWordCount compares the engine's FlatMap -> Map -> ReduceByKey
// word count with a hand-written parallel count of the same lines on the
// same cores: 2,000,000 lines of 12 words, Zipf over 100,000 words. Every
// iteration runs both, in alternating order, so that drift in the
// machine's speed hits both alike; it reports each one's words/s and the
// engine's speed as a fraction of the hand-written one's.
func BenchmarkWordCount(b *testing.B) {
	lines := corpusOnce()
	words := float64(len(lines) * 12)
	workers := runtime.GOMAXPROCS(0)

	ssc, step := benchContext(b)
	q := NewQueue[string]()
	ws := FlatMap(QueueStream(ssc, q), strings.Fields)
	pairs := Map(ws, func(w string) Pair[string, int] { return Pair[string, int]{w, 1} })
	counts := ReduceByKey(pairs, func(a, c int) int { return a + c })
	var engineCounts map[string]int
	counts.ForEachBatch(func(_ context.Context, bt *Batch[Pair[string, int]]) error {
		engineCounts = make(map[string]int, bt.Len())
		for p := range bt.All() {
			engineCounts[p.Key] = p.Value
		}
		return nil
	})
	if err := ssc.Start(); err != nil {
		b.Fatal(err)
	}
	var engine, hand time.Duration
	var handCounts map[string]int
	// Each run starts from a collected heap, so that neither pays for the
	// other's garbage.
	runEngine := func() {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		q.Push(lines)
		step()
		engine += time.Since(start)
	}
	runHand := func() {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		handCounts = handWrittenCount(lines, workers)
		hand += time.Since(start)
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			runEngine()
			runHand()
		} else {
			runHand()
			runEngine()
		}
		i++
	}
	if len(engineCounts) != len(handCounts) || len(handCounts) == 0 {
		b.Fatalf("engine counted %d words, hand-written %d", len(engineCounts), len(handCounts))
	}
	for w, n := range handCounts {
		if engineCounts[w] != n {
			b.Fatalf("count of %q: engine %d, hand-written %d", w, engineCounts[w], n)
		}
	}
	b.ReportMetric(words*float64(b.N)/engine.Seconds(), "engine-words/s")
	b.ReportMetric(words*float64(b.N)/hand.Seconds(), "handwritten-words/s")
	b.ReportMetric(hand.Seconds()/engine.Seconds(), "engine/handwritten")
}

// BenchmarkNarrowChain runs Map -> Filter -> FlatMap -> Map over 1,000,000
// records per batch, fused into one loop per partition, into Count.
func BenchmarkNarrowChain(b *testing.B) {
	const n = 1_000_000
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	b.ReportAllocs()
	ssc, step := benchContext(b)
	q := NewQueue[int]()
	s := Map(QueueStream(ssc, q), func(x int) int { return x * 3 })
	s = s.Filter(func(x int) bool { return x%2 == 0 })
	s = FlatMap(s, func(x int) []int { return []int{x, x + 1} })
	s = Map(s, func(x int) int { return x - 1 })
	var count int64
	s.Count().ForEachBatch(func(_ context.Context, bt *Batch[int64]) error { count = bt.Collect()[0]; return nil })
	if err := ssc.Start(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		q.Push(in)
		step()
	}
	if count != n {
		b.Fatalf("count = %d, want %d", count, n)
	}
	reportRate(b, n)
}

// wordPairs cuts the corpus into batches of (word, 1) pairs.
func wordPairs(batches, perBatch int) [][]Pair[string, int] {
	lines := corpusOnce()
	out := make([][]Pair[string, int], batches)
	i := 0
	for bi := range out {
		ps := make([]Pair[string, int], 0, perBatch)
		for len(ps) < perBatch {
			for _, w := range strings.Fields(lines[i%len(lines)]) {
				ps = append(ps, Pair[string, int]{w, 1})
			}
			i++
		}
		out[bi] = ps
	}
	return out
}

// BenchmarkReduceByKey reduces 1,000,000 (word, 1) pairs per batch.
func BenchmarkReduceByKey(b *testing.B) {
	input := wordPairs(1, 1_000_000)[0]
	b.ReportAllocs()
	ssc, step := benchContext(b)
	q := NewQueue[Pair[string, int]]()
	keys := 0
	ReduceByKey(QueueStream(ssc, q), func(a, c int) int { return a + c }).ForEachBatch(func(_ context.Context, bt *Batch[Pair[string, int]]) error {
		keys = bt.Len()
		return nil
	})
	if err := ssc.Start(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		q.Push(input)
		step()
	}
	if keys == 0 {
		b.Fatal("no keys")
	}
	reportRate(b, len(input))
}

// BenchmarkReduceByKeyAndWindowInverse measures the steady-state cost per
// batch of a sliding word count with an inverse function, for a window of
// 6 batches and one of 60 with the same slide (200,000 words a batch).
// Both windows run in one context on the same batches, so that drift in
// the machine's speed hits both alike; each one's time is its operator's
// own work (reducing the new batch and updating the window). With "print"
// the output is consumed like Spark's print(): that is all the work. With
// "collect" each whole window is also copied out every batch, and the
// time of that output operation is added; it grows with the number of
// distinct keys in the window.
func BenchmarkReduceByKeyAndWindowInverse(b *testing.B) {
	const perBatch = 200_000
	batches := wordPairs(16, perBatch)
	windows := []int{6, 60}
	for _, consumer := range []string{"print", "collect"} {
		b.Run(consumer, func(b *testing.B) {
			b.ReportAllocs()
			outputTime := &opTimer{byID: map[int]time.Duration{}}
			ssc, step := benchContext(b, WithListener(outputTime))
			q := NewQueue[Pair[string, int]]()
			in := QueueStream(ssc, q)
			spent := make([]time.Duration, len(windows))
			keys := make([]int, len(windows))
			for i, window := range windows {
				counts := ReduceByKeyAndWindow(in, func(a, c int) int { return a + c }, func(a, c int) int { return a - c },
					time.Duration(window)*time.Second, time.Second).WithStateFilter(func(p Pair[string, int]) bool { return p.Value != 0 })
				compute := counts.compute
				counts.compute = func(r *run, t int64) (plan[Pair[string, int]], error) {
					start := time.Now()
					p, err := compute(r, t)
					spent[i] += time.Since(start)
					return p, err
				}
				if consumer == "print" {
					counts.Fprint(io.Discard, 10)
				} else {
					counts.ForEachBatch(func(_ context.Context, bt *Batch[Pair[string, int]]) error { keys[i] = bt.Len(); return nil })
				}
			}
			if err := ssc.Start(); err != nil {
				b.Fatal(err)
			}
			n := 0
			for range slices.Max(windows) { // fill the windows: steady state from here
				q.Push(batches[n%len(batches)])
				n++
				step()
			}
			clear(spent)
			outputTime.reset()
			for b.Loop() {
				q.Push(batches[n%len(batches)])
				n++
				step()
			}
			for i, window := range windows {
				perBatchTime := (spent[i] + outputTime.get(i)).Seconds() / float64(b.N)
				b.ReportMetric(perBatchTime*1e3, fmt.Sprintf("window%d-ms/batch", window))
				if consumer == "collect" {
					b.ReportMetric(float64(keys[i]), fmt.Sprintf("window%d-keys", window))
				}
			}
			ratio := (spent[1] + outputTime.get(1)).Seconds() / (spent[0] + outputTime.get(0)).Seconds()
			b.ReportMetric(ratio, "window60/window6")
		})
	}
}

// opTimer is a listener adding up the time of each output operation.
type opTimer struct {
	mu   sync.Mutex
	byID map[int]time.Duration
}

func (o *opTimer) OnOutputOperationCompleted(info OutputOperationInfo) {
	o.mu.Lock()
	o.byID[info.ID] += info.Duration()
	o.mu.Unlock()
}

func (o *opTimer) get(id int) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.byID[id]
}

func (o *opTimer) reset() {
	o.mu.Lock()
	clear(o.byID)
	o.mu.Unlock()
}

// BenchmarkMapWithState runs a running count per key over 200,000 records
// per batch drawn from 1,000,000 keys, and reports the state's memory per
// key.
func BenchmarkMapWithState(b *testing.B) {
	const perBatch, keys = 200_000, 1_000_000
	rng := rand.New(rand.NewPCG(3, 4))
	batches := make([][]Pair[int64, int64], 16)
	for i := range batches {
		ps := make([]Pair[int64, int64], perBatch)
		for j := range ps {
			ps[j] = Pair[int64, int64]{rng.Int64N(keys), 1}
		}
		batches[i] = ps
	}
	b.ReportAllocs()
	ssc, step := benchContext(b)
	q := NewQueue[Pair[int64, int64]]()
	ms := MapWithState(QueueStream(ssc, q), StateSpec[int64, int64, int64, int64]{
		Func: func(_ time.Time, _ int64, v Optional[int64], st *State[int64]) (int64, bool) {
			n, _ := st.Get()
			n += v.Value
			st.Update(n)
			return n, true
		},
	})
	var out int
	ms.ForEachBatch(func(_ context.Context, bt *Batch[int64]) error { out = bt.Len(); return nil })
	if err := ssc.Start(); err != nil {
		b.Fatal(err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	i := 0
	for b.Loop() {
		q.Push(batches[i%len(batches)])
		i++
		step()
	}
	if out != perBatch {
		b.Fatalf("mapped %d records, want %d", out, perBatch)
	}
	reportRate(b, perBatch)
	stateKeys := 0
	for _, tab := range ms.state.parts {
		stateKeys += tab.len()
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if stateKeys > 0 && after.HeapAlloc > before.HeapAlloc {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(stateKeys), "state-bytes/key")
	}
}
