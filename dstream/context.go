package dstream

import (
	"context"
	"errors"
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

	mu        sync.Mutex
	state     ContextState
	stopping  bool
	nodes     []*node
	outputs   []*outputOp
	inputs    []*node
	buildErrs []error
	opCounts  map[string]int
	checks    []startCheck    // AddStartCheck
	sinks     []sinkLifecycle // the Outputs of WriteTo, opened at Start
	reserved  map[string]bool // Reserve
	health    health
	zero      int64 // zero time (ns): the first batch is at zero + interval

	// Running.
	runCtx      context.Context
	cancelRun   context.CancelFunc
	drainCtx    context.Context // done when a graceful stop asks the generator to finish
	drain       context.CancelFunc
	jobs        jobQueue
	genDone     chan struct{}
	runDone     chan struct{}
	done        chan struct{} // closed when stopped
	forced      []*node       // reachable stateful streams and direct inputs, in creation order
	keeping     []*node       // nodes that keep batches, to forget old ones
	receivers   []receiverInput
	directs     []directStarter // inputs without a receiver, in creation order
	ckpt        *checkpointer   // nil without a checkpoint directory
	stateful    []opSig         // the stateful operators, for checkpoints
	maxRemember int64           // the longest remember duration of an input (ns)
	lastGen     int64           // the latest generated batch (generator goroutine)
	errMu       sync.Mutex
	firstErr    error
	batchMu     sync.Mutex
	batchCond   *sync.Cond
	lastDone    int64 // time of the last completed batch (ns)
	terminated  bool  // no more batches will complete
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
	if cfg.blockQueueSize == 0 {
		cfg.blockQueueSize = max(10, int(10*interval/cfg.blockInterval))
	}
	c := &Context{
		interval: interval,
		cfg:      cfg,
		log:      cfg.logger,
		seed:     maphash.MakeSeed(),
		opCounts: map[string]int{},
		done:     make(chan struct{}),
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

// newNodeLocked creates a node and gives it a default name. Only a graph
// that can still change records it: a node made after Start is invalid
// and never runs. c.mu must be held.
func (c *Context) newNodeLocked(op string) *node {
	n := &node{c: c, id: len(c.nodes), op: op, name: op}
	if c.state == StateInitialized {
		c.opCounts[op]++
		n.name = fmt.Sprintf("%s#%d", op, c.opCounts[op])
		c.nodes = append(c.nodes, n)
	}
	return n
}

// buildableLocked reports whether the graph can still change.
func (c *Context) buildableLocked() error {
	switch c.state {
	case StateActive:
		return ErrContextStarted
	case StateStopped:
		return ErrContextStopped
	}
	return nil
}

// Reserve claims name in this context for one user, such as a Kafka
// consumer group for one direct stream, and reports whether it was free:
// false means another user of this context reserved it before. Connectors
// use it to refuse two streams of one job sharing what must not be
// shared; names are the connector's to choose (prefix them with the
// package name). Reservations last as long as the context.
func (c *Context) Reserve(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reserved[name] {
		return false
	}
	if c.reserved == nil {
		c.reserved = map[string]bool{}
	}
	c.reserved[name] = true
	return true
}

// Start validates the graph and starts the receivers and the batch
// scheduler. The first batch is at the first multiple of the batch interval
// after now.
//
// With a checkpoint directory, Start first takes the directory's lock
// and then reads the checkpoint there (see WithCheckpoint).
//
// Start returns the graph's build errors, ErrNoOutputOperations,
// ErrDuplicateName, ErrContextStopped for a stopped context,
// ErrCheckpointLocked (a *CheckpointLockedError
// naming the job that holds the checkpoint directory) or
// ErrCheckpointUnusable, which leave the context initialized and the
// checkpoint directory as it was, a *StartError for a dependency that a
// start-up check found missing, or the error of an Input that failed to
// start, both of which leave the context stopped. Starting an active
// context again only logs a warning.
func (c *Context) Start() error { return c.start(context.Background()) }

// start is Start with start-up checks that also end when ctx ends (Run's
// context: a signal during the checks stops the job at once).
func (c *Context) start(ctx context.Context) error {
	c.mu.Lock()
	initialized := c.state == StateInitialized
	c.mu.Unlock()
	if initialized {
		// Checked before anything else starts, without holding c.mu: a
		// check may take up to the start timeout.
		if err := c.runStartChecks(ctx); err != nil {
			_ = c.Stop(context.Background(), Hard)
			return err
		}
	}
	c.mu.Lock()
	switch c.state {
	case StateActive:
		c.mu.Unlock()
		c.log.Warn("dstream: context already started; Start ignored")
		return nil
	case StateStopped:
		c.mu.Unlock()
		return ErrContextStopped
	}
	if err := c.validateLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	if c.ckpt != nil {
		// The checkpoint is read with the directory locked, so that no
		// other job writes it meanwhile. A failure leaves the context
		// initialized and the directory as it was.
		if err := c.ckpt.open(); err != nil {
			c.ckpt.releaseLock()
			c.mu.Unlock()
			return err
		}
	}

	now := c.cfg.clock.Now()
	iv := int64(c.interval)
	start := (now.UnixNano()/iv + 1) * iv // Spark's RecurringTimer.getStartTime
	c.zero = start - iv
	c.prepareLocked()
	c.lastDone = c.zero
	var catchUp, pending []int64
	if c.ckpt != nil && c.ckpt.restored != nil {
		var err error
		if catchUp, pending, err = c.ckpt.restoreLocked(); err != nil {
			return c.failStartLocked(err)
		}
		rc := c.ckpt.restored
		start = rc.meta.Time + iv // the batches missed while down are generated at once
		c.lastDone = rc.completed
		c.log.Info("dstream: resuming from the checkpoint", "completed_ms", rc.completed/int64(time.Millisecond),
			"recomputed_for_state", len(catchUp), "pending", len(pending), "first_new_ms", start/int64(time.Millisecond))
	}

	c.runCtx, c.cancelRun = context.WithCancel(context.Background())
	c.drainCtx, c.drain = context.WithCancel(c.runCtx)
	for _, o := range c.sinks {
		if err := o.open(c.runCtx); err != nil {
			c.closeSinks()
			c.cancelRun()
			return c.failStartLocked(err)
		}
	}
	for i, d := range c.directs {
		if err := d.start(c.runCtx); err != nil {
			for _, started := range c.directs[:i] {
				started.stop()
			}
			c.closeSinks()
			c.cancelRun()
			return c.failStartLocked(err)
		}
	}
	c.genDone = make(chan struct{})
	c.runDone = make(chan struct{})
	c.jobs.init()
	c.lastGen = start - iv
	for _, r := range c.receivers {
		if err := r.openLog(); err != nil {
			for _, d := range c.directs {
				d.stop()
			}
			c.closeSinks()
			c.cancelRun()
			return c.failStartLocked(err)
		}
	}
	if len(catchUp) > 0 {
		c.jobs.push(&job{t: catchUp[len(catchUp)-1], catchUp: catchUp})
	}
	for _, t := range pending {
		c.jobs.push(c.regenerateJob(t))
	}
	c.state = StateActive
	receivers := c.receivers
	c.mu.Unlock()

	go c.runLoop()
	if c.ckpt != nil {
		c.ckpt.startHeartbeat(c.runCtx)
	}
	for _, r := range receivers {
		r.start(c.runCtx)
	}
	go c.generateLoop(start)
	c.emit(func(l Listener) {
		if x, ok := l.(StreamingStartedListener); ok {
			x.OnStreamingStarted(now)
		}
	})
	c.log.Debug("dstream: started", "interval", c.interval, "first_batch_ms", start/int64(time.Millisecond))
	return nil
}

// failStartLocked ends a Start that failed after the graph was
// validated: the context is stopped. It unlocks c.mu and returns err.
func (c *Context) failStartLocked(err error) error {
	if c.ckpt != nil {
		c.ckpt.releaseLock()
	}
	c.state = StateStopped
	c.terminateLocked()
	c.mu.Unlock()
	return err
}

// validateLocked checks the graph before Start.
func (c *Context) validateLocked() error {
	if len(c.buildErrs) > 0 {
		return errors.Join(c.buildErrs...)
	}
	if len(c.outputs) == 0 {
		return ErrNoOutputOperations
	}
	for _, n := range c.nodes {
		if n.store == nil || n.err != nil {
			continue
		}
		if c.ckpt == nil && !c.cfg.inMemoryState {
			return fmt.Errorf("%w (%s)", ErrCheckpointRequired, n.name)
		}
	}
	if c.ckpt != nil {
		for _, n := range c.inputs {
			if _, ok := n.input.(checkpointInput); !ok {
				return fmt.Errorf("%w: %s: its data is not kept, so it cannot be recovered from the checkpoint directory", ErrNotCheckpointable, n.name)
			}
		}
	}
	seen := map[string]*node{}
	for _, n := range c.nodes {
		if other, ok := seen[n.name]; ok {
			return fmt.Errorf("%w: %q names both a %s and a %s", ErrDuplicateName, n.name, other.op, n.op)
		}
		seen[n.name] = n
	}
	return nil
}

// prepareLocked marks what the output operations reach, decides which
// streams keep their batches, and sets how long they keep them (Spark's
// DStream.initialize and remember).
func (c *Context) prepareLocked() {
	for _, o := range c.outputs {
		markReachable(o.n)
		o.n.consumers++
	}
	for _, n := range c.nodes {
		if !n.reachable {
			continue
		}
		for _, p := range n.parents {
			p.consumers++
		}
	}
	for _, n := range c.nodes {
		if !n.reachable && n.input == nil {
			continue
		}
		// A stateful stream's batch stays valid, without a copy, until its
		// next batch is computed (see Stream.get); it is copied only when
		// older batches must be kept.
		if n.stateful {
			n.cache = n.sliced || c.cfg.remember > 0
		} else {
			n.cache = n.input != nil || n.sliced || n.consumers > 1
		}
		// Stateful streams, and inputs read when their batch runs, are
		// computed at every batch time even when no output needs that
		// time (a window with a longer slide reads it later): state must
		// see every batch, and an input's batch must be read before its
		// Done reports it processed.
		_, direct := n.input.(directStarter)
		if (n.stateful || direct) && n.reachable {
			c.forced = append(c.forced, n)
		}
		if n.cache {
			c.keeping = append(c.keeping, n)
		}
	}
	// Minimum remember durations, then propagation from the outputs
	// downwards: a parent keeps at least what its children need.
	for _, n := range c.nodes {
		min := n.slide
		if n.checkpointInterval > 0 && min <= n.checkpointInterval {
			min = 2 * n.checkpointInterval
		}
		n.remember = max(n.remember, min)
	}
	var remember func(n *node, d int64)
	remember = func(n *node, d int64) {
		if d > n.remember {
			n.remember = d
		}
		for _, p := range n.parents {
			remember(p, n.remember+n.rememberExtra)
		}
	}
	for _, o := range c.outputs {
		remember(o.n, int64(c.cfg.remember))
	}
	c.stateful = c.signaturesLocked()
	for _, n := range c.inputs {
		c.maxRemember = max(c.maxRemember, n.remember)
	}
	if c.ckpt != nil {
		for _, n := range c.nodes {
			if n.store != nil && n.reachable && n.checkpointInterval > 0 {
				if c.ckpt.stateInterval == 0 || n.checkpointInterval < c.ckpt.stateInterval {
					c.ckpt.stateInterval = n.checkpointInterval
				}
			}
		}
		for _, n := range c.inputs {
			if ci, ok := n.input.(checkpointInput); ok && !ci.recoverable() {
				c.log.Warn("dstream: this input cannot replay its data after a restart: records received but not yet processed are lost (a receiver needs the write-ahead log)", "stream", n.name)
			}
		}
	}
}

func markReachable(n *node) {
	if n.reachable {
		return
	}
	n.reachable = true
	for _, p := range n.parents {
		markReachable(p)
	}
}

// Stop stops the context. With Graceful it stops the receivers, waits for
// every record they stored to be put into a batch and for every generated
// batch to finish, bounded by the graceful stop timeout and ctx; if either
// runs out it stops hard and returns ErrStopTimeout or ctx's error. With
// a checkpoint directory a graceful stop then saves a final checkpoint;
// if that fails, Stop returns the error (and AwaitTermination and Run
// too). With Hard it stops at once. Stopping a context that was never
// started moves it to StateStopped; stopping a stopped context does
// nothing.
func (c *Context) Stop(ctx context.Context, mode StopMode) error {
	c.mu.Lock()
	switch {
	case c.state == StateInitialized:
		c.state = StateStopped
		c.terminateLocked()
		c.mu.Unlock()
		return nil
	case c.state == StateStopped:
		c.mu.Unlock()
		c.log.Debug("dstream: context already stopped")
		return nil
	case c.stopping:
		c.mu.Unlock()
		if mode == Hard {
			c.cancelRun()
		}
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.stopping = true
	c.mu.Unlock()
	return c.shutdown(ctx, mode)
}

// shutdown runs the stop sequence. Only one goroutine runs it.
func (c *Context) shutdown(ctx context.Context, mode StopMode) error {
	var stopErr error
	for _, r := range c.receivers {
		r.stop("context stopped", nil)
	}
	if mode == Graceful {
		c.drain()
		stopErr = c.awaitDrain(ctx)
	}
	c.cancelRun()
	<-c.genDone
	<-c.runDone
	if mode == Graceful && stopErr == nil && c.ckpt != nil && c.err() == nil {
		if err := c.finalCheckpoint(); err != nil {
			c.log.Error("dstream: stopped with an error", "error", err)
			c.setErr(err)
			stopErr = err
		}
	}
	for _, r := range c.receivers {
		r.wait()
		r.closeLog()
	}
	for i := len(c.directs) - 1; i >= 0; i-- {
		c.directs[i].stop()
	}
	c.closeSinks()
	// Release the lock before waking the waiters: once Stop or
	// AwaitTermination returns, another context may take the directory.
	if c.ckpt != nil {
		c.ckpt.releaseLock()
	}
	c.mu.Lock()
	c.state = StateStopped
	c.terminateLocked()
	c.mu.Unlock()
	err := c.err()
	c.emit(func(l Listener) {
		if x, ok := l.(StreamingStoppedListener); ok {
			x.OnStreamingStopped(err)
		}
	})
	c.log.Debug("dstream: stopped", "error", err)
	return stopErr
}

// closeSinks closes the outputs that were opened, in reverse order.
func (c *Context) closeSinks() {
	for i := len(c.sinks) - 1; i >= 0; i-- {
		c.sinks[i].close()
	}
}

// awaitDrain waits for the generator and the runner to finish every batch
// after a graceful stop request, bounded by the graceful timeout and ctx.
func (c *Context) awaitDrain(ctx context.Context) error {
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timeout := make(chan struct{})
	deadline := c.cfg.clock.Now().Add(c.cfg.gracefulTimeout)
	go func() {
		if c.cfg.clock.WaitUntil(tctx, deadline) == nil {
			close(timeout)
		}
	}()
	select {
	case <-c.runDone:
		return nil
	case <-timeout:
		c.log.Warn("dstream: graceful stop timed out; stopping hard", "timeout", c.cfg.gracefulTimeout)
		return ErrStopTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// terminateLocked wakes everyone waiting for the context to end.
func (c *Context) terminateLocked() {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	c.batchMu.Lock()
	c.terminated = true
	c.batchCond.Broadcast()
	c.batchMu.Unlock()
}

// setErr records err as the error that stopped the context, unless
// there is one already.
func (c *Context) setErr(err error) {
	c.errMu.Lock()
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.errMu.Unlock()
}

// fail records the first error and stops the context hard.
func (c *Context) fail(err error) {
	c.setErr(err)
	c.log.Error("dstream: failed; stopping", "error", err)
	go func() {
		c.mu.Lock()
		if c.stopping || c.state != StateActive {
			c.mu.Unlock()
			return
		}
		c.stopping = true
		c.mu.Unlock()
		_ = c.shutdown(context.Background(), Hard)
	}()
}

func (c *Context) err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.firstErr
}

// AwaitTermination blocks until the context stops, and returns the first
// error that stopped it (a failed batch), or nil after Stop. If ctx ends
// first it returns ctx's error.
func (c *Context) AwaitTermination(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AwaitTerminationOrTimeout waits up to d, measured on the context's clock,
// for the context to stop. It reports whether it stopped, and the error
// that stopped it.
func (c *Context) AwaitTerminationOrTimeout(d time.Duration) (bool, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timeout := make(chan struct{})
	deadline := c.cfg.clock.Now().Add(d)
	go func() {
		if c.cfg.clock.WaitUntil(ctx, deadline) == nil {
			close(timeout)
		}
	}()
	select {
	case <-c.done:
		return true, c.err()
	case <-timeout:
		select {
		case <-c.done:
			return true, c.err()
		default:
			return false, nil
		}
	}
}

// Run starts the context, runs it until ctx is done or a batch fails, then
// stops it gracefully and returns the first error. When ctx ends during
// the start-up checks, Run returns ctx's error. It is the usual main
// loop of a job:
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err := ssc.Run(ctx)
func (c *Context) Run(ctx context.Context) error {
	if err := c.start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		stopErr := c.Stop(context.Background(), Graceful)
		if err := c.err(); err != nil {
			return err
		}
		return stopErr
	case <-c.done:
		return c.err()
	}
}

// WaitForBatch blocks until the batch at t (or a later one) has completed.
// It returns an error if the context stops first or ctx ends. Tests and
// examples driving a ManualClock use it to step batch by batch.
func (c *Context) WaitForBatch(ctx context.Context, t time.Time) error {
	target := t.UnixNano()
	stop := context.AfterFunc(ctx, func() {
		c.batchMu.Lock()
		c.batchCond.Broadcast()
		c.batchMu.Unlock()
	})
	defer stop()
	c.batchMu.Lock()
	defer c.batchMu.Unlock()
	for c.lastDone < target {
		if c.terminated {
			if err := c.err(); err != nil {
				return err
			}
			return ErrContextStopped
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		c.batchCond.Wait()
	}
	return nil
}

// sliceRun returns a run for Slice called from user code.
func (c *Context) sliceRun() (*run, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateInitialized {
		return nil, ErrNotStarted
	}
	return &run{ctx: c.runCtx, c: c}, nil
}
