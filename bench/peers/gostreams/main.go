// Command gostreams runs the bench's scenarios on reugn/go-streams
// (v0.13.0), a channel pipeline of Source, Flow and Sink stages, as a
// child of the bench command (see bench/internal/benchkit).
package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reugn/go-streams/extension"
	"github.com/reugn/go-streams/flow"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
)

func main() {
	benchkit.Main(map[string]func(benchkit.Spec) (benchkit.Result, error){
		"wordcount": wordCount,
		"window":    window,
		"latency":   latency,
	})
}

// wordCount counts the corpus's words. Variant "words": source of lines
// -> FlatMap(strings.Fields, parallelism 2) -> Batch(10,000 words) ->
// Map(count, parallelism 2) -> sink merging the counts. Variant "lines":
// source of lines -> Batch(1,000 lines) -> Map(split and count,
// parallelism 2) -> the same sink.
func wordCount(spec benchkit.Spec) (benchkit.Result, error) {
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	var pass func() map[string]int
	switch spec.Variant {
	case "words":
		pass = func() map[string]int {
			in, out := make(chan any), make(chan any)
			go feed(in, c.Lines)
			go extension.NewChanSource(in).
				Via(flow.NewFlatMap(strings.Fields, 2)).
				Via(flow.NewBatch[string](10_000, 100*time.Millisecond)).
				Via(flow.NewMap(func(words []string) map[string]int {
					m := make(map[string]int, len(words)/2)
					for _, w := range words {
						m[w]++
					}
					return m
				}, 2)).
				To(extension.NewChanSink(out))
			return mergeAll(out)
		}
	case "lines":
		pass = func() map[string]int {
			in, out := make(chan any), make(chan any)
			go feed(in, c.Lines)
			go extension.NewChanSource(in).
				Via(flow.NewBatch[string](1_000, 100*time.Millisecond)).
				Via(flow.NewMap(func(lines []string) map[string]int {
					m := make(map[string]int, len(lines)*4)
					benchkit.CountWords(m, lines)
					return m
				}, 2)).
				To(extension.NewChanSink(out))
			return mergeAll(out)
		}
	default:
		return benchkit.Result{}, fmt.Errorf("unknown variant %q", spec.Variant)
	}
	return benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(c.Lines)), func() error {
		total, distinct := benchkit.Totals(pass())
		return benchkit.CheckCounts(c, total, distinct)
	})
}

// feed sends lines into in, then closes it.
func feed(in chan<- any, lines []string) {
	for _, l := range lines {
		in <- l
	}
	close(in)
}

// mergeAll merges the count maps that arrive on out until it closes
// (the pipeline's To, which sends them, runs in its own goroutine).
func mergeAll(out chan any) map[string]int {
	total := map[string]int{}
	for m := range out {
		benchkit.MergeCounts(total, m.(map[string]int))
	}
	return total
}

// window runs a sliding word count: lines -> SlidingWindow (processing
// time, Window slides of spec.Interval) -> Map(count every word of the
// window). go-streams has no inverse function: every window is counted
// again. A source sends one batch of spec.BatchLines lines per slide,
// like the engine's batches. Once the first window is full, it times
// each window's count for spec.Duration; the rate is the lines a window
// adds (its lines over Window) over the time to count it, on one core
// (Map parallelism 1; the window's sort and dispatch are not timed).
func window(spec benchkit.Spec) (benchkit.Result, error) {
	if spec.Interval <= 0 || spec.Window <= 0 || spec.Duration <= 0 || spec.BatchLines <= 0 {
		return benchkit.Result{}, fmt.Errorf("window: slide %v, window %d, batch %d lines and duration %v must be positive",
			spec.Interval, spec.Window, spec.BatchLines, spec.Duration)
	}
	c := benchkit.Words(16*spec.BatchLines, spec.PerLine, spec.Distinct, spec.Seed)
	batches := benchkit.Batches(c.Lines, spec.BatchLines, 16)
	in, out := make(chan any), make(chan any)
	stop := make(chan struct{})
	go func() {
		defer close(in)
		tick := time.NewTicker(spec.Interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			for _, l := range batches[i%len(batches)] {
				select {
				case in <- l:
				case <-stop:
					return
				}
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	size := time.Duration(spec.Window) * spec.Interval
	var mu sync.Mutex
	measuring := false
	var lines int64
	var spent time.Duration
	windows, keys := 0, 0
	go extension.NewChanSource(in).
		Via(flow.NewSlidingWindow[string](size, spec.Interval)).
		Via(flow.NewMap(func(ls []string) int {
			start := time.Now()
			m := make(map[string]int)
			benchkit.CountWords(m, ls)
			d := time.Since(start)
			mu.Lock()
			if measuring {
				lines += int64(len(ls))
				spent += d
				windows++
				keys = len(m)
			}
			mu.Unlock()
			return len(m)
		}, 1)).
		To(extension.NewChanSink(out))
	go func() {
		for range out {
		}
	}()
	time.Sleep(size + spec.Interval)
	mu.Lock()
	measuring = true
	mu.Unlock()
	time.Sleep(spec.Duration)
	mu.Lock()
	measuring = false
	l, d, w, k := lines, spent, windows, keys
	mu.Unlock()
	// The windows still queued are not waited for: the process ends.
	close(stop)
	if w == 0 {
		return benchkit.Result{}, fmt.Errorf("no window counted in %v", spec.Duration)
	}
	return benchkit.Result{
		Records: l / int64(spec.Window), Seconds: d.Seconds(), Passes: w,
		Metrics: map[string]float64{"lines_per_window": float64(l) / float64(w)},
		Notes:   []string{fmt.Sprintf("%d windows counted (%d lines each on average, last %d keys)", w, l/int64(w), k)},
	}, nil
}

// latency reads the feed with a goroutine into a ChanSource ->
// TumblingWindow(spec.Interval) -> Map(count the window's words, then
// record each line's latency) -> ignore.
func latency(spec benchkit.Spec) (benchkit.Result, error) {
	f, err := benchkit.StartFeed(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	conn, err := net.Dial("tcp", f.Addr)
	if err != nil {
		return benchkit.Result{}, fmt.Errorf("dial: %w", err)
	}
	in := make(chan any)
	go func() {
		defer close(in)
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			in <- sc.Text()
		}
	}()
	lat := &benchkit.Latencies{}
	var parseErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		extension.NewChanSource(in).
			Via(flow.NewTumblingWindow[string](spec.Interval)).
			Via(flow.NewMap(func(lines []string) int {
				m := map[string]int{}
				sent := make([]int64, len(lines))
				for i, l := range lines {
					s, words, err := benchkit.ParseStamp(l)
					if err != nil {
						parseErr.Store(err)
						return 0
					}
					sent[i] = s
					for _, w := range strings.Fields(words) {
						m[w]++
					}
				}
				lat.Add(sent, time.Now())
				return len(m)
			}, 1)).
			To(extension.NewIgnoreSink())
	}()
	ferr := f.Wait(spec.Duration + 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	conn.Close()
	<-done
	if ferr != nil {
		return benchkit.Result{}, ferr
	}
	if err, ok := parseErr.Load().(error); ok {
		return benchkit.Result{}, err
	}
	return lat.Result(f), nil
}
