package dstreamtest

import (
	"fmt"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// Defaults of the options.
const (
	// DefaultInterval is the batch interval of a run without Interval.
	DefaultInterval = time.Second
	// DefaultInputPartitions is how many partitions each input batch has
	// without InputPartitions, as in Spark's test suites.
	DefaultInputPartitions = 2
	// DefaultParallelism is the context's parallelism (and so the
	// partition count of shuffles and state) without a
	// dstream.WithParallelism in ContextOptions, fixed so that a test
	// runs alike on every machine.
	DefaultParallelism = 2
	// DefaultTimeout bounds each wait of a run without Timeout.
	DefaultTimeout = 30 * time.Second
)

// Option configures Run, Run2 and the comparisons (which use only
// Interval). Options are checked when used: an invalid one fails the test
// with a message naming it.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// config is what the options set.
type config struct {
	interval     time.Duration
	batches      int // 0: the number of inputs
	partitions   int
	restartAfter int // 0: no restart
	stopMode     dstream.StopMode
	ctxOpts      []dstream.Option
	timeout      time.Duration
}

// invalid returns the error of an invalid option.
func invalid(format string, args ...any) error {
	return fmt.Errorf("invalid option: "+format, args...)
}

// Interval sets the batch interval: a positive whole number of
// milliseconds. Default: DefaultInterval (1 s).
func Interval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 || d%time.Millisecond != 0 {
			return invalid("Interval(%v): the batch interval must be a positive whole number of milliseconds", d)
		}
		c.interval = d
		return nil
	})
}

// Batches sets how many batches run: at least as many as there are input
// batches; those beyond the inputs are empty. Default: one per input
// batch (the longer input's, for Run2).
func Batches(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return invalid("Batches(%d): at least one batch must run", n)
		}
		c.batches = n
		return nil
	})
}

// InputPartitions sets how many partitions each input batch is split
// into, evenly and in order; some are empty when a batch has fewer
// elements. Default: DefaultInputPartitions (2).
func InputPartitions(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return invalid("InputPartitions(%d): an input batch needs at least one partition", n)
		}
		c.partitions = n
		return nil
	})
}

// RestartAfter stops the job once its first k batches have completed,
// with mode, and runs the remaining batches in a new context built by
// the same stream function on the same checkpoint directory, which
// resumes from the checkpoint: the way to test that a stateful job
// recovers. With dstream.Graceful the context saves a final checkpoint as
// it stops; with dstream.Hard it stops as if the process died, so the new
// context recomputes the state from the last state checkpoint and runs
// batch k-1 (from 0, the last before the stop) again, its output
// replacing the first one. k must be less than the number of batches.
func RestartAfter(k int, mode dstream.StopMode) Option {
	return optionFunc(func(c *config) error {
		if k < 1 {
			return invalid("RestartAfter(%d): the job must run at least one batch before it stops", k)
		}
		if mode != dstream.Graceful && mode != dstream.Hard {
			return invalid("RestartAfter(%d, %d): the stop mode must be dstream.Graceful or dstream.Hard", k, mode)
		}
		c.restartAfter, c.stopMode = k, mode
		return nil
	})
}

// ContextOptions adds options to the dstream.Context of the run, after
// the harness's own (a manual clock, a checkpoint directory, a logger
// that writes the engine's warnings to the test's log,
// DefaultParallelism), so dstream.WithParallelism or
// dstream.WithStateCodec here take effect. Do not give WithClock or
// WithCheckpoint: the harness drives its own clock and directory.
func ContextOptions(opts ...dstream.Option) Option {
	return optionFunc(func(c *config) error {
		for i, o := range opts {
			if o == nil {
				return invalid("ContextOptions: option %d is nil", i)
			}
		}
		c.ctxOpts = append(c.ctxOpts, opts...)
		return nil
	})
}

// Timeout bounds, in real time, every wait of a run: for each batch to
// complete, for the job to start and to stop. A wait that runs out fails
// the test. Default: DefaultTimeout (30 s).
func Timeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return invalid("Timeout(%v): the timeout must be positive", d)
		}
		c.timeout = d
		return nil
	})
}

// newConfig applies opts over the defaults.
func newConfig(opts []Option) (config, error) {
	c := config{
		interval:   DefaultInterval,
		partitions: DefaultInputPartitions,
		timeout:    DefaultTimeout,
	}
	for i, o := range opts {
		if o == nil {
			return c, invalid("option %d is nil", i)
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}
