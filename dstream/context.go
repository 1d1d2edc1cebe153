package dstream

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ContextState is the lifecycle state of a Context.
type ContextState int

// The states of a Context: Initialized until Start, Active until Stop,
// then Stopped for good.
const (
	StateInitialized ContextState = iota
	StateActive
	StateStopped
)

func (s ContextState) String() string {
	switch s {
	case StateInitialized:
		return "INITIALIZED"
	case StateActive:
		return "ACTIVE"
	case StateStopped:
		return "STOPPED"
	}
	return fmt.Sprintf("ContextState(%d)", int(s))
}

// StopMode says how Stop treats data already received.
type StopMode int

const (
	// Graceful stops the receivers, puts every record they stored into a
	// batch, and waits for every generated batch to finish, bounded by the
	// graceful stop timeout (WithGracefulStopTimeout) and Stop's context.
	Graceful StopMode = iota
	// Hard stops at once: queued batches are dropped, and the running
	// batch stops starting partitions and has its context cancelled (the
	// ctx of ForEachBatch); Stop still waits for the function running
	// then to return.
	Hard
)

// Context is the entry point of a streaming job, like Spark's
// StreamingContext: it owns the batch interval, the graph of streams, the
// receivers and the scheduler that runs one batch after another.
//
// Build the graph (input streams, transformations, output operations),
// then Start it, or Run it until a context.Context is cancelled. A Context
// moves from StateInitialized to StateActive to StateStopped and cannot be
// restarted. Contexts are independent: several can run in one process
// (unlike Spark's one active StreamingContext per JVM), each with its own
// graph, scheduler, clock and checkpoint directory.
type Context struct {
	interval time.Duration
	cfg      config
	log      *slog.Logger
	seed     maphash.Seed

	listeners atomic.Pointer[[]Listener]

	// mu guards the graph while it is built and the lifecycle's state;
	// the scheduler's fields have their own locks or one goroutine.
	mu     sync.Mutex
	health health
	ckpt   *checkpointer // nil without a checkpoint directory

	graph     // graph.go
	scheduler // scheduler.go
	lifecycle // lifecycle.go
}

// NewContext returns a Context that cuts streams into batches every
// interval. The interval must be a positive whole number of milliseconds;
// batch times are multiples of it since the Unix epoch.
func NewContext(interval time.Duration, opts ...Option) (*Context, error) {
	if err := checkMillis("batch interval", interval); err != nil {
		return nil, err
	}
	cfg := defaultConfig(interval)
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.openCheckpoint(); err != nil {
		return nil, err
	}
	c := &Context{
		interval:  interval,
		cfg:       cfg,
		log:       cfg.logger,
		seed:      maphash.MakeSeed(),
		graph:     graph{opCounts: map[string]int{}},
		lifecycle: lifecycle{done: make(chan struct{})},
	}
	c.batchCond = sync.NewCond(&c.batchMu)
	if cfg.ckptFS != nil {
		c.ckpt = &checkpointer{c: c, fsys: cfg.ckptFS, dir: cfg.ckptDir}
	}
	ls := append([]Listener(nil), cfg.listeners...)
	c.listeners.Store(&ls)
	c.cfg.backpressure.bind(c) // nil-safe; backpressure finds its input streams at Start
	return c, nil
}

// BatchInterval returns the batch interval.
func (c *Context) BatchInterval() time.Duration { return c.interval }

// Parallelism returns how many partitions run at once, and the default
// partition count of shuffles.
func (c *Context) Parallelism() int { return c.cfg.parallelism }

// Clock returns the context's clock.
func (c *Context) Clock() Clock { return c.cfg.clock }

// Logger returns the context's logger.
func (c *Context) Logger() *slog.Logger { return c.log }

// State returns the lifecycle state.
func (c *Context) State() ContextState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ZeroTime returns the time before the first batch: batch k (from 1) is at
// ZeroTime + k*interval. It is the zero time.Time before Start.
func (c *Context) ZeroTime() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateInitialized {
		return time.Time{}
	}
	return timeOf(c.zero)
}

// AddListener registers a listener; it receives events from the next one
// on. See Listener.
func (c *Context) AddListener(l Listener) {
	if l == nil {
		return
	}
	for {
		old := c.listeners.Load()
		ls := append(append([]Listener(nil), *old...), l)
		if c.listeners.CompareAndSwap(old, &ls) {
			return
		}
	}
}

func (c *Context) emit(f func(Listener)) {
	for _, l := range *c.listeners.Load() {
		f(l)
	}
}
