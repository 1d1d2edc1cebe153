// Command wordcount counts words in a stream of text lines, like Spark's
// NetworkWordCount, on the dstream engine.
//
// With no flags it runs a demo: an in-process generator produces lines of
// words (Zipf-distributed over a fixed vocabulary), and every batch the
// job prints the most frequent words of the batch, or of a sliding window
// with -window and -slide, until interrupted:
//
//	go run ./examples/wordcount
//	go run ./examples/wordcount -window 10s -slide 2s -duration 30s
//
// Flags:
//
//	-batch DURATION    batch interval (default 1s)
//	-window DURATION   window length; 0 counts each batch alone (default 0)
//	-slide DURATION    window slide; 0 means the batch interval (default 0)
//	-rate N            lines per second the demo generator produces (default 5000)
//	-top N             words printed per batch (default 10)
//	-out PREFIX        also save each batch's counts with SaveAsTextFiles,
//	                   one "word<TAB>count" line per word
//	-duration DURATION stop gracefully after this long; 0 runs until SIGINT or SIGTERM
//
// A one-line progress summary per batch goes to standard error.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

// run runs the job until ctx is done or -duration has passed, printing
// counts to stdout and progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	batch := fs.Duration("batch", time.Second, "batch interval")
	window := fs.Duration("window", 0, "window length; 0 counts each batch alone")
	slide := fs.Duration("slide", 0, "window slide; 0 means the batch interval")
	rate := fs.Int("rate", 5000, "lines per second the demo generator produces")
	top := fs.Int("top", 10, "words printed per batch")
	out := fs.String("out", "", "also save each batch's counts under this prefix")
	duration := fs.Duration("duration", 0, "stop gracefully after this long; 0 runs until interrupted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rate < 1 || *top < 0 {
		return fmt.Errorf("-rate must be at least 1 and -top not negative")
	}

	ssc, err := dstream.NewContext(*batch, dstream.WithListener(progress{stderr}))
	if err != nil {
		return err
	}
	lines := dstream.ReceiverStream[string](ssc, &generator{linesPerSecond: *rate})
	words := dstream.FlatMap(lines, strings.Fields)
	pairs := dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
	add := func(a, b int) int { return a + b }
	var counts *dstream.Stream[dstream.Pair[string, int]]
	if *window > 0 {
		counts = dstream.ReduceByKeyAndWindow(pairs, add, func(a, b int) int { return a - b }, *window, *slide,
			dstream.WindowFilter(func(p dstream.Pair[string, int]) bool { return p.Value != 0 }))
	} else {
		counts = dstream.ReduceByKey(pairs, add)
	}
	if err := mostFrequent(counts).Fprint(stdout, *top); err != nil {
		return err
	}
	if *out != "" {
		lines := dstream.Map(counts, func(p dstream.Pair[string, int]) string { return fmt.Sprintf("%s\t%d", p.Key, p.Value) })
		if err := lines.SaveAsTextFiles(*out, ""); err != nil {
			return err
		}
	}

	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	return ssc.Run(ctx)
}

// mostFrequent sorts each batch's counts by count, then word.
func mostFrequent(counts *dstream.Stream[dstream.Pair[string, int]]) *dstream.Stream[dstream.Pair[string, int]] {
	return dstream.Transform(counts, func(b *dstream.Batch[dstream.Pair[string, int]]) (*dstream.Batch[dstream.Pair[string, int]], error) {
		all := b.Collect()
		slices.SortFunc(all, func(x, y dstream.Pair[string, int]) int {
			return cmp.Or(cmp.Compare(y.Value, x.Value), cmp.Compare(x.Key, y.Key))
		})
		return &dstream.Batch[dstream.Pair[string, int]]{Partitions: [][]dstream.Pair[string, int]{all}}, nil
	})
}

// progress prints one line per completed batch.
type progress struct{ w io.Writer }

func (p progress) OnBatchCompleted(b dstream.BatchInfo) {
	status := "ok"
	if b.Err != nil {
		status = "FAILED: " + b.Err.Error()
	}
	fmt.Fprintf(p.w, "batch %s records=%d scheduling=%v processing=%v total=%v %s\n",
		b.BatchTime.Format("15:04:05.000"), b.NumRecords(),
		b.SchedulingDelay().Round(time.Microsecond), b.ProcessingDelay().Round(time.Microsecond),
		b.TotalDelay().Round(time.Microsecond), status)
}

// generator is a demo Receiver producing lines of 12 words drawn from a
// Zipf distribution over a fixed vocabulary, at a steady rate.
type generator struct {
	linesPerSecond int
	done           chan struct{}
}

func (g *generator) Name() string { return "demo-generator" }

func (g *generator) OnStart(ctx context.Context, host *dstream.ReceiverHost[string]) error {
	g.done = make(chan struct{})
	go func() {
		defer close(g.done)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))
		zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocabulary)-1))
		const ticks = 20 // per second
		perTick := max(1, g.linesPerSecond/ticks)
		ticker := time.NewTicker(time.Second / ticks)
		defer ticker.Stop()
		var sb strings.Builder
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			lines := make([]string, perTick)
			for i := range lines {
				sb.Reset()
				for j := range 12 {
					if j > 0 {
						sb.WriteByte(' ')
					}
					sb.WriteString(vocabulary[zipf.Uint64()])
				}
				lines[i] = sb.String()
			}
			if err := host.StoreSlice(lines); err != nil {
				return // stopped
			}
		}
	}()
	return nil
}

func (g *generator) OnStop() {
	if g.done != nil {
		<-g.done
	}
}

var vocabulary = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when if so
no will more can who out about up them some could what into than time only other its new also two may
then do first any like now my such make over our even most me state after much because where well way
many should just must these those through long great little own good each under people see old same
year world day work life part stream batch window state key value count word spark kafka parquet hdfs
kudu avro flow event record offset partition checkpoint receiver output input engine core merge reduce`)
