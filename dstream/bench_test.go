package dstream

import (
	"context"
	"math/rand/v2"
	"runtime"
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

func BenchmarkWordCount(b *testing.B) {
	lines := corpusOnce()
	words := float64(len(lines) * 12)
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if m := handWrittenCount(lines, runtime.GOMAXPROCS(0)); len(m) == 0 {
				b.Fatal("no words")
			}
		}
		b.ReportMetric(words*float64(b.N)/b.Elapsed().Seconds(), "words/s")
	})
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		clk := NewManualClock(time.UnixMilli(0))
		ssc, err := NewContext(time.Second, WithClock(clk))
		if err != nil {
			b.Fatal(err)
		}
		q := NewQueue[string]()
		ws := FlatMap(QueueStream(ssc, q), strings.Fields)
		pairs := Map(ws, func(w string) Pair[string, int] { return Pair[string, int]{w, 1} })
		counts := ReduceByKey(pairs, func(a, c int) int { return a + c })
		distinct := 0
		counts.ForEachBatch(func(_ context.Context, bt *Batch[Pair[string, int]]) error {
			distinct = bt.Len()
			return nil
		})
		if err := ssc.Start(); err != nil {
			b.Fatal(err)
		}
		defer ssc.Stop(context.Background(), Hard)
		for b.Loop() {
			q.Push(lines)
			clk.Advance(time.Second)
			if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
				b.Fatal(err)
			}
		}
		if distinct == 0 {
			b.Fatal("no words")
		}
		b.ReportMetric(words*float64(b.N)/b.Elapsed().Seconds(), "words/s")
	})
}
