package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
	"github.com/microbatch-go/microbatch/dstream"
)

// runChild is the child mode: run the contender the -spec flag names and
// print its Result on out.
func runChild(args []string, out io.Writer) error {
	spec, err := benchkit.ParseChildFlags(args)
	if err != nil {
		return err
	}
	f, ok := childFuncs[spec.Scenario+"/"+spec.Contender]
	if !ok {
		return fmt.Errorf("no contender %s/%s in this binary", spec.Scenario, spec.Contender)
	}
	if name := os.Getenv(profileEnv); name != "" {
		stop, err := startProfile(name)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := f(spec)
	if err != nil {
		return fmt.Errorf("%s/%s: %w", spec.Scenario, spec.Contender, err)
	}
	return benchkit.Emit(out, res)
}

// profileEnv names an environment variable: when set, a child of this
// binary writes a CPU profile of its whole run (input generation
// included) to the file it names.
const profileEnv = "MICROBATCH_BENCH_CPUPROFILE"

// startProfile starts a CPU profile into name and returns its stop.
func startProfile(name string) (func(), error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// childFuncs are the contenders this binary runs, by scenario/contender.
var childFuncs = map[string]func(benchkit.Spec) (benchkit.Result, error){
	"wordcount/ours":                 oursWordCount,
	"wordcount/baseline":             baselineWordCount,
	"kafka/ours":                     oursKafka,
	"kafka/baseline":                 baselineKafka,
	"window/ours":                    oursWindow,
	"window/baseline":                baselineWindow,
	"state/ours":                     oursState,
	"state/baseline":                 baselineState,
	"latency/ours":                   oursLatency,
	"latency/baseline":               baselineLatency,
	"latency10ms/" + oursSocket:      oursLatency,
	"latency10ms/" + baselineSocket:  baselineLatency,
	"latency10ms/" + oursKafka10:     oursKafkaLatency,
	"latency10ms/" + baselineKafka10: baselineKafkaLatency,
	"overhead/ours":                  oursOverhead,
	"socket/ours":                    oursSocketRate,
	"socket/baseline":                baselineSocketRate,
}

// quiet discards the engine's log.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// manualJob is a started context on a manual clock, with a function that
// runs the next batch.
type manualJob struct {
	ssc *dstream.Context
	clk *dstream.ManualClock
}

// newManualJob returns a context on a manual clock at a 1 s interval;
// the caller builds the job on it, then calls start.
func newManualJob(opts ...dstream.Option) (*manualJob, error) {
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, append([]dstream.Option{dstream.WithClock(clk), dstream.WithLogger(quiet)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("new context: %w", err)
	}
	return &manualJob{ssc: ssc, clk: clk}, nil
}

func (j *manualJob) start() error {
	if err := j.ssc.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// step runs one batch and waits for it.
func (j *manualJob) step() error {
	j.clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := j.ssc.WaitForBatch(ctx, j.clk.Now()); err != nil {
		return fmt.Errorf("batch %v: %w", j.clk.Now(), err)
	}
	return nil
}

func (j *manualJob) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	j.ssc.Stop(ctx, dstream.Hard)
}

// wordPair is the word count's Map.
func wordPair(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) }

func add(a, b int) int { return a + b }
func sub(a, b int) int { return a - b }

// handCount is the hand-written word count: one goroutine per worker,
// each counting its share of lines into its own map, then a merge into
// the first map.
func handCount(lines []string, workers int) map[string]int {
	if workers < 1 {
		workers = 1
	}
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
