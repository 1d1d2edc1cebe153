// Command benthos runs the bench's word count on Benthos
// (redpanda-data/benthos/v4 v4.76.0, the MIT core), a config-driven
// message pipeline with a plugin API, as a child of the bench command
// (see bench/internal/benchkit).
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"

	// The core's pure components: the drop output.
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

func main() {
	benchkit.Main(map[string]func(benchkit.Spec) (benchkit.Result, error){
		"wordcount": wordCount,
	})
}

// batchSize is the messages (lines) in each batch pushed into the
// stream.
const batchSize = 1000

// counter is the word count the processor plugin adds to.
type counter struct {
	mu     sync.Mutex
	counts map[string]int
}

// wordCountProc is a batch processor plugin: it counts the words of its
// batch's messages in a map of its own, merges it into the shared count
// and passes the batch on.
type wordCountProc struct{ c *counter }

func (p *wordCountProc) ProcessBatch(_ context.Context, b service.MessageBatch) ([]service.MessageBatch, error) {
	m := make(map[string]int, len(b)*4)
	for _, msg := range b {
		raw, err := msg.AsBytes()
		if err != nil {
			return nil, fmt.Errorf("message: %w", err)
		}
		for _, w := range strings.Fields(string(raw)) {
			m[w]++
		}
	}
	p.c.mu.Lock()
	benchkit.MergeCounts(p.c.counts, m)
	p.c.mu.Unlock()
	return []service.MessageBatch{b}, nil
}

func (p *wordCountProc) Close(context.Context) error { return nil }

// wordCount pushes the corpus into a stream built with the stream
// builder, one message per line in batches of 1000, from two goroutines
// through the producer function; two pipeline threads run the word-count
// processor plugin; the output is drop. Each pass builds and runs a new
// stream.
func wordCount(spec benchkit.Spec) (benchkit.Result, error) {
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	cnt := &counter{}
	env := service.NewEnvironment()
	if err := env.RegisterBatchProcessor("wordcount", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Resources) (service.BatchProcessor, error) {
			return &wordCountProc{c: cnt}, nil
		}); err != nil {
		return benchkit.Result{}, fmt.Errorf("register processor: %w", err)
	}
	return benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(c.Lines)), func() error {
		cnt.counts = map[string]int{}
		if err := runStream(env, c.Lines); err != nil {
			return err
		}
		total, distinct := benchkit.Totals(cnt.counts)
		return benchkit.CheckCounts(c, total, distinct)
	})
}

// runStream builds a stream, pushes lines through it and stops it.
func runStream(env *service.Environment, lines []string) error {
	b := env.NewStreamBuilder()
	for _, err := range []error{
		b.SetLoggerYAML("level: NONE"),
		b.SetMetricsYAML("none: {}"),
		b.AddProcessorYAML("wordcount: {}"),
		b.AddOutputYAML("drop: {}"),
	} {
		if err != nil {
			return fmt.Errorf("stream config: %w", err)
		}
	}
	b.SetThreads(2)
	push, err := b.AddBatchProducerFunc()
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	strm, err := b.Build()
	if err != nil {
		return fmt.Errorf("build stream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- strm.Run(ctx) }()
	const producers = 2
	errs := make([]error, producers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			share := lines[p*len(lines)/producers : (p+1)*len(lines)/producers]
			for len(share) > 0 {
				n := min(batchSize, len(share))
				batch := make(service.MessageBatch, n)
				for i, l := range share[:n] {
					batch[i] = service.NewMessage([]byte(l))
				}
				if err := push(ctx, batch); err != nil {
					errs[p] = fmt.Errorf("push: %w", err)
					return
				}
				share = share[n:]
			}
		})
	}
	wg.Wait()
	if err := strm.StopWithin(time.Minute); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("run: %w", err)
	}
	return errors.Join(errs...)
}
