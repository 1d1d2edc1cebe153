package dstream

import (
	"fmt"
	"github.com/microbatch-go/microbatch/storage"
	"log/slog"
	"runtime"
	"strings"
	"time"
)

// Defaults for the Context options.
const (
	// DefaultBlockInterval is the longest default block interval: how
	// often a receiver's buffered records are cut into a block, each
	// block one partition of the batch (Spark's
	// spark.streaming.blockInterval, whose default this is). The default
	// is a fifth of the batch interval, whole milliseconds, at least 1 ms
	// and at most this: 200 ms at 1 s batches, 20 ms at 100 ms, 2 ms at
	// 10 ms, so that a batch has about five partitions per receiver and a
	// record waits for a block cut a fraction of a batch at most.
	DefaultBlockInterval = 200 * time.Millisecond

	// DefaultReceiverQueueRecords bounds the records a receiver holds
	// that have not been processed yet (WithReceiverQueue).
	DefaultReceiverQueueRecords = 2_000_000

	// DefaultReceiverQueueBytes bounds the bytes of the string and []byte
	// records a receiver holds that have not been processed yet
	// (WithReceiverQueue).
	DefaultReceiverQueueBytes = 256 << 20

	// DefaultReceiverRestartDelay is how long a receiver waits between
	// OnStop and OnStart when it restarts (spark.streaming.receiverRestartDelay).
	DefaultReceiverRestartDelay = 2 * time.Second

	// DefaultPrintCount is how many elements Print shows per batch.
	DefaultPrintCount = 10
)

// Option configures a Context. Options are validated by NewContext, which
// returns an error for an invalid one.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	parallelism         int
	clock               Clock
	remember            time.Duration
	logger              *slog.Logger
	listeners           []Listener
	blockInterval       time.Duration
	receiverMaxRate     float64
	blockQueueSize      int   // WithBlockQueueSize; 0: no bound on blocks
	queueRecords        int   // WithReceiverQueue
	queueBytes          int64 // WithReceiverQueue
	receiverRestartWait time.Duration
	gracefulTimeout     time.Duration
	backpressure        *backpressure   // WithBackpressure, WithPIDRateEstimator; nil if neither
	ckptRaw             string          // the checkpoint directory as given to WithCheckpoint; "": none
	opener              *storage.Opener // WithStorage; nil: storage.Open
	ckptFS              storage.FS      // the checkpoint directory's storage, opened by NewContext; nil: no checkpoint
	ckptDir             string
	ckptURI             string // the checkpoint directory as given, password masked, for messages
	ckptReset           bool   // WithCheckpointReset
	ckptLockTimeout     time.Duration
	inMemoryState       bool
	wal                 bool
	codec               Codec
	startTimeout        time.Duration    // WithStartTimeout
	maxOutage           time.Duration    // WithMaxOutage; 0: wait
	deadLetters         func(DeadLetter) // WithDeadLetterHandler; nil: log
}

func defaultConfig(interval time.Duration) config {
	return config{
		parallelism:         runtime.GOMAXPROCS(0),
		clock:               SystemClock(),
		logger:              slog.Default(),
		blockInterval:       defaultBlockInterval(interval),
		queueRecords:        DefaultReceiverQueueRecords,
		queueBytes:          DefaultReceiverQueueBytes,
		receiverRestartWait: DefaultReceiverRestartDelay,
		gracefulTimeout:     10 * interval,
		ckptLockTimeout:     DefaultCheckpointLockTimeout,
		codec:               GobCodec{},
		startTimeout:        DefaultStartTimeout,
	}
}

// WithParallelism sets how many partitions are processed at once and the
// default number of partitions of shuffles (ReduceByKey, joins, state).
// Default: runtime.GOMAXPROCS(0), one per core.
func WithParallelism(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: parallelism %d must be at least 1", ErrInvalidOption, n)
		}
		c.parallelism = n
		return nil
	})
}

// WithClock sets the clock that drives batch times, block intervals and
// timeouts. Default: SystemClock(). Tests pass a ManualClock.
func WithClock(clk Clock) Option {
	return optionFunc(func(c *config) error {
		if clk == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		c.clock = clk
		return nil
	})
}

// WithRemember makes every stream keep its computed batches for at least
// d after their batch time (Spark's StreamingContext.remember), so that
// Slice can reach back that far. Streams already keep what their windows
// and state need. Default: 0, only what the graph needs.
func WithRemember(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: remember duration %v is negative", ErrInvalidDuration, d)
		}
		c.remember = d
		return nil
	})
}

// WithLogger sets the logger for warnings and lifecycle messages.
// Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	})
}

// WithListener registers a listener for batch, output operation and
// receiver events. See Listener for the event interfaces.
func WithListener(l Listener) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil listener", ErrInvalidOption)
		}
		c.listeners = append(c.listeners, l)
		return nil
	})
}

// WithBlockInterval sets how often receivers cut buffered records into a
// block. Each block is one partition of the batch, so the number of
// partitions per receiver per batch is about interval / blockInterval.
// Default: a fifth of the batch interval, at most DefaultBlockInterval
// (200 ms). It must be a whole number of milliseconds, at least 1 ms.
func WithBlockInterval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if err := checkMillis("block interval", d); err != nil {
			return err
		}
		c.blockInterval = d
		return nil
	})
}

// WithReceiverMaxRate caps how many records per second each receiver may
// store (spark.streaming.receiver.maxRate); Store and StoreSlice block to
// hold the rate. A rate of 0 or less means unlimited, the default. A
// per-receiver MaxRate overrides it.
func WithReceiverMaxRate(recordsPerSecond float64) Option {
	return optionFunc(func(c *config) error {
		c.receiverMaxRate = recordsPerSecond
		return nil
	})
}

// WithBlockQueueSize also bounds how many blocks a receiver may hold that
// have not yet been processed: blocks waiting for a batch plus blocks of
// batches still running. Store and StoreSlice block while it is reached.
// By default there is no bound on blocks, only on records and bytes
// (WithReceiverQueue): the number of blocks says little about memory, and
// a receiver that stores many small slices would wait on the queue, not on
// work.
func WithBlockQueueSize(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: block queue size %d must be at least 1", ErrInvalidOption, n)
		}
		c.blockQueueSize = n
		return nil
	})
}

// WithReceiverQueue bounds what each receiver may hold that has not been
// processed yet: records buffered or in blocks waiting for a batch, plus
// those of batches still running. When either bound is reached, Store,
// StoreAll and StoreSlice block until a batch completes, so a slow job
// slows its receivers instead of growing memory without limit. bytes
// counts the length of string and []byte records only; other records
// count against records alone. A store is never refused for being larger
// than a bound: it waits until nothing else is held. Defaults:
// DefaultReceiverQueueRecords and DefaultReceiverQueueBytes.
func WithReceiverQueue(records int, bytes int64) Option {
	return optionFunc(func(c *config) error {
		if records < 1 || bytes < 1 {
			return fmt.Errorf("%w: receiver queue of %d records and %d bytes: both must be at least 1", ErrInvalidOption, records, bytes)
		}
		c.queueRecords, c.queueBytes = records, bytes
		return nil
	})
}

// defaultBlockInterval is the block interval for a batch interval: a fifth
// of it in whole milliseconds, between 1 ms and DefaultBlockInterval.
func defaultBlockInterval(interval time.Duration) time.Duration {
	d := (interval / 5).Truncate(time.Millisecond)
	return min(max(d, time.Millisecond), DefaultBlockInterval)
}

// WithReceiverRestartDelay sets how long ReceiverHost.Restart waits between
// stopping and starting a receiver. Default: DefaultReceiverRestartDelay.
func WithReceiverRestartDelay(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: restart delay %v is negative", ErrInvalidDuration, d)
		}
		c.receiverRestartWait = d
		return nil
	})
}

// WithGracefulStopTimeout bounds how long a graceful Stop waits for
// received data to be processed before it stops hard
// (spark.streaming.gracefulStopTimeout). Default: 10 batch intervals.
func WithGracefulStopTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: graceful stop timeout %v must be positive", ErrInvalidDuration, d)
		}
		c.gracefulTimeout = d
		return nil
	})
}

// checkMillis reports whether d is a positive whole number of milliseconds,
// the resolution of batch times (as in Spark).
func checkMillis(what string, d time.Duration) error {
	if d <= 0 || d%time.Millisecond != 0 {
		return fmt.Errorf("%w: %s %v must be a positive whole number of milliseconds", ErrInvalidDuration, what, d)
	}
	return nil
}

// OpOption configures one operator: the number of output partitions of a
// shuffle or its Partitioner, the codec of its state. An option that does
// not apply to the operator it is given to makes a BuildError. Settings
// typed by the operator's keys and values are methods of the stream it
// returns, so that the compiler checks them: Stream.WithInitialState,
// Stream.WithStateFilter.
type OpOption interface {
	applyOp(*opConfig)
}

type opConfig struct {
	name        string // Name, for output operations
	partitions  int
	partitioner any // Partitioner[K], checked by the operator
	codec       Codec
	errs        []error
}

type opOptionFunc func(*opConfig)

func (f opOptionFunc) applyOp(c *opConfig) { f(c) }

// Partitions sets the number of output partitions of a shuffle (the
// by-key operations, joins, state and windowed reductions), into which
// keys are hashed. Default: the context's parallelism. PartitionBy places
// keys with a Partitioner instead.
func Partitions(n int) OpOption {
	return opOptionFunc(func(c *opConfig) {
		if n < 1 {
			c.errs = append(c.errs, fmt.Errorf("%w: partitions %d must be at least 1", ErrInvalidOption, n))
			return
		}
		c.partitions = n
	})
}

// Name names an output operation registered with ForEachBatch, as
// listener events, the status page, its metrics and its errors show it
// (default "forEachBatch"), such as "dead letters" or "progress". WriteTo
// takes its name from WriteSpec.Name. Other operators refuse it with a
// BuildError.
func Name(name string) OpOption {
	return opOptionFunc(func(c *opConfig) {
		if strings.TrimSpace(name) == "" {
			c.errs = append(c.errs, fmt.Errorf("%w: empty Name", ErrInvalidOption))
			return
		}
		c.name = name
	})
}

// outputOptions applies the options of an output operation: Name only.
func outputOptions(opts []OpOption) (name string, err error) {
	var cfg opConfig
	for _, o := range opts {
		if o != nil {
			o.applyOp(&cfg)
		}
	}
	switch {
	case len(cfg.errs) > 0:
		return "", cfg.errs[0]
	case cfg.partitions != 0 || cfg.partitioner != nil || cfg.codec != nil:
		return "", fmt.Errorf("%w: an output operation takes no Partitions, PartitionBy or StateCodec", ErrInvalidOption)
	}
	return cfg.name, nil
}

// opOptions applies opts and reports an error for any option the operator
// does not accept. allowState and allowFilter say which typed options the
// operator accepts.
func opOptions(c *Context, opts []OpOption, stateful bool) (opConfig, error) {
	var cfg opConfig
	for _, o := range opts {
		if o == nil {
			continue
		}
		o.applyOp(&cfg)
	}
	if len(cfg.errs) > 0 {
		return cfg, cfg.errs[0]
	}
	if cfg.name != "" {
		return cfg, fmt.Errorf("%w: Name applies only to output operations (ForEachBatch)", ErrInvalidOption)
	}
	if cfg.codec != nil && !stateful {
		return cfg, fmt.Errorf("%w: StateCodec applies only to stateful operators", ErrInvalidOption)
	}
	if cfg.partitioner != nil && cfg.partitions != 0 {
		return cfg, fmt.Errorf("%w: Partitions and PartitionBy both given; the Partitioner sets the number of partitions", ErrInvalidOption)
	}
	if cfg.partitions == 0 && c != nil {
		cfg.partitions = c.cfg.parallelism
	}
	if cfg.partitions == 0 {
		cfg.partitions = 1
	}
	return cfg, nil
}
