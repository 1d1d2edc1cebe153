package dstream

// The lifecycle of a Context: Start, Stop, Run and waiting for batches or
// for the end.

import (
	"context"
	"sync"
	"time"
)

// lifecycle is the part of a Context that moves it from initialized to
// active to stopped, and records the error that stopped it.
type lifecycle struct {
	state     ContextState // guarded by Context.mu
	stopping  bool         // guarded by Context.mu
	runCtx    context.Context
	cancelRun context.CancelFunc
	drainCtx  context.Context // done when a graceful stop asks the generator to finish
	drain     context.CancelFunc
	done      chan struct{} // closed when stopped
	errMu     sync.Mutex
	firstErr  error
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
