package dstream

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// scheduler is the part of a Context that generates a batch every
// interval and runs the batches one after another.
type scheduler struct {
	zero       int64 // zero time (ns): the first batch is at zero + interval
	jobs       jobQueue
	genDone    chan struct{}
	runDone    chan struct{}
	lastGen    int64 // the latest generated batch (generator goroutine)
	batchMu    sync.Mutex
	batchCond  *sync.Cond
	lastDone   int64 // time of the last completed batch (ns)
	terminated bool  // no more batches will complete
}

// job is one generated batch waiting to run.
type job struct {
	t    int64
	info BatchInfo
	// done is called after the batch completes, with its error or nil:
	// receivers release the blocks it held, direct inputs commit.
	done []func(error)
	// catchUp, after a restart, lists the batch times whose state is
	// recomputed (without outputs) before the pending batches run.
	catchUp []int64
}

// jobQueue is the unbounded FIFO between the generator and the runner:
// generation never waits for processing, so a slow batch shows up as
// scheduling delay of the next ones, as in Spark.
type jobQueue struct {
	mu     sync.Mutex
	items  []*job
	closed bool
	signal chan struct{} // has a token when items or closed changed
	soon   chan struct{} // has a token when a batch is about to be pushed (expect)
	ready  atomic.Bool   // set with items or closed, for await

	// current is the time of the batch the runner is computing, or
	// computed last (ns; 0 before the first). Slice computes no later
	// batch: its input has not been taken yet.
	current atomic.Int64
}

func (q *jobQueue) init() {
	q.items = nil
	q.closed = false
	q.ready.Store(false)
	q.signal = make(chan struct{}, 1)
	q.soon = make(chan struct{}, 1)
}

// expect tells an idle runner that a batch is about to be pushed, so that
// it is awake to take it: a parked goroutine takes tens of microseconds to
// wake, as much as an empty batch costs.
func (q *jobQueue) expect() {
	select {
	case q.soon <- struct{}{}:
	default:
	}
}

// spinFor bounds how long (and how many checks) a runner told a batch is
// coming waits for it without parking.
const (
	spinFor    = time.Millisecond
	spinChecks = 1 << 22
)

// await spins until the queue has a job or is closed, for at most spinFor
// or spinChecks checks (whichever ends first: the checks bound it where
// the clock does not move, in a testing/synctest bubble). It does not
// yield: a yielding goroutine goes to the global run queue, where another
// thread, woken for it, takes it tens of microseconds later. It reports
// whether the queue changed.
func (q *jobQueue) await() bool {
	start := time.Now()
	for i := range spinChecks {
		if q.ready.Load() {
			return true
		}
		if i%1024 == 1023 && time.Since(start) > spinFor {
			return false
		}
	}
	return false
}

func (q *jobQueue) notify() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *jobQueue) push(j *job) {
	q.mu.Lock()
	q.items = append(q.items, j)
	q.ready.Store(true)
	q.mu.Unlock()
	q.notify()
}

func (q *jobQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.ready.Store(true)
	q.mu.Unlock()
	q.notify()
}

// pop returns the next job, or false when the queue is closed and empty or
// ctx is done.
func (q *jobQueue) pop(ctx context.Context) (*job, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			j := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.ready.Store(len(q.items) > 0 || q.closed)
			q.mu.Unlock()
			return j, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-q.signal:
		case <-q.soon:
			q.await()
		case <-ctx.Done():
			return nil, false
		}
	}
}

// preciseTicksBelow is the batch interval under which the generator waits
// for ticks precisely (tickWaiter): from 100 ms on, a Go timer's half a
// millisecond is under 0.5 % of the interval, and a thread of its own per
// context is not worth it (with one processor it costs the batches a hand
// off of the processor at every tick).
const preciseTicksBelow = 100 * time.Millisecond

// generateLoop cuts a batch at every interval from first on (Spark's
// JobGenerator). After a graceful stop request it generates until every
// record stored by the stopped receivers is in a batch, then closes the
// queue.
//
// On the system clock and at batch intervals under preciseTicksBelow it
// waits for each tick on a thread of its own, within microseconds of it
// (tickWaiter), instead of the half a millisecond a Go timer is late on
// average: at 10 ms batches that is most of an empty batch's cost from
// tick to completion.
func (c *Context) generateLoop(first int64) {
	defer close(c.genDone)
	clk := c.cfg.clock
	wait := clk.WaitUntil
	if _, ok := clk.(systemClock); ok && c.interval < preciseTicksBelow && tickThread() {
		tw := &tickWaiter{soon: c.jobs.expect, spin: runtime.GOMAXPROCS(0) > 1}
		if !tw.spin {
			// One processor: a spinning thread would hold it from the
			// goroutine it waits for.
			tw.soon = nil
		}
		wait = tw.wait
	}
	iv := int64(c.interval)
	for t := first; ; t += iv {
		if err := wait(c.drainCtx, timeOf(t)); err != nil {
			if c.runCtx.Err() != nil {
				return // hard stop
			}
			// Graceful stop while waiting: finish now if nothing is
			// pending, otherwise the data goes into the batch at t.
			if !c.unallocated() {
				c.jobs.close()
				return
			}
			if clk.WaitUntil(c.runCtx, timeOf(t)) != nil {
				return
			}
		}
		if !c.generate(t) {
			return // the context failed
		}
		if c.drainCtx.Err() != nil && !c.unallocated() {
			c.jobs.close()
			return
		}
	}
}

// unallocated reports whether a receiver holds blocks not yet in a batch.
func (c *Context) unallocated() bool {
	for _, r := range c.receivers {
		if r.hasUnallocated() {
			return true
		}
	}
	return false
}

// generate takes the input of batch t from every input stream, saves the
// checkpoint and queues the batch. It returns false when the batch could
// not be generated and the context is failing.
func (c *Context) generate(t int64) bool {
	j := &job{t: t}
	for _, n := range c.inputs {
		if !n.reachable && !n.input.alwaysGenerate() {
			continue
		}
		info, done, ok := n.input.generate(t)
		if !ok {
			continue
		}
		j.info.Inputs = append(j.info.Inputs, info)
		if done != nil {
			j.done = append(j.done, done)
		}
	}
	if c.err() != nil {
		// An input failed to generate (and stopped the context): the
		// batch is not run without it.
		for _, f := range j.done {
			f(c.err())
		}
		return false
	}
	j.info.BatchTime = timeOf(t)
	j.info.SubmissionTime = c.cfg.clock.Now()
	if c.checkOutage(j.info.SubmissionTime) {
		for _, f := range j.done {
			f(c.err())
		}
		return false
	}
	if c.ckpt != nil {
		// Saved before the batch runs, so that after a crash the batch is
		// rebuilt exactly as it was and its output replaced, not redone
		// with other data. A batch that could not be saved must not run:
		// after a restart it would be generated again with other data.
		if err := c.ckpt.writeMeta(t); err != nil {
			err = &BatchError{Time: timeOf(t), Op: "checkpoint", Err: err}
			for _, f := range j.done {
				f(err)
			}
			c.fail(err)
			return false
		}
	}
	c.lastGen = t
	// Told before the batch is queued: once queued it may start at once,
	// and a listener must see it submitted before it starts.
	info := j.info
	c.emit(func(l Listener) {
		if x, ok := l.(BatchSubmittedListener); ok {
			x.OnBatchSubmitted(info)
		}
	})
	c.jobs.push(j)
	return true
}

// regenerateJob rebuilds, after a restart, the batch at t that was
// pending when the job stopped, from the inputs' restored descriptions.
func (c *Context) regenerateJob(t int64) *job {
	j := &job{t: t}
	for _, n := range c.inputs {
		ci, ok := n.input.(checkpointInput)
		if !ok {
			continue
		}
		info, done, ok := ci.regenerate(t)
		if !ok {
			continue
		}
		j.info.Inputs = append(j.info.Inputs, info)
		if done != nil {
			j.done = append(j.done, done)
		}
	}
	j.info.BatchTime = timeOf(t)
	j.info.SubmissionTime = c.cfg.clock.Now()
	return j
}

// runCatchUp recomputes the state of the stateful streams for the batch
// times between the restored state and the last completed batch, whose
// outputs already ran before the restart.
func (c *Context) runCatchUp(times []int64) error {
	r := &run{ctx: c.runCtx, c: c}
	for _, t := range times {
		c.jobs.current.Store(t)
		for _, n := range c.forced {
			if !n.stateful || !n.validTime(t) {
				continue // inputs are read only as the state needs them
			}
			if err := safely(func() error { return n.typed.force(r, t) }); err != nil {
				return &BatchError{Time: timeOf(t), Op: n.name, Err: fmt.Errorf("recomputing the state after a restart: %w", err)}
			}
		}
		c.forgetOld(t)
	}
	return nil
}

// finalCheckpoint saves the state and the position after a graceful stop,
// so that a restart has nothing to recompute.
func (c *Context) finalCheckpoint() error {
	c.batchMu.Lock()
	done := c.lastDone
	c.batchMu.Unlock()
	if done <= c.zero {
		return nil
	}
	if c.ckpt.stateInterval > 0 && c.ckpt.stateTime.Load() != done {
		if err := c.ckpt.writeState(done); err != nil {
			return fmt.Errorf("dstream: the final checkpoint at stop failed: %w", err)
		}
	}
	if err := c.ckpt.writeMeta(c.lastGen); err != nil {
		return fmt.Errorf("dstream: the final checkpoint at stop failed: %w", err)
	}
	return nil
}

// runLoop runs the queued batches one at a time, in order (Spark's
// JobScheduler with one concurrent job).
func (c *Context) runLoop() {
	defer close(c.runDone)
	for {
		j, ok := c.jobs.pop(c.runCtx)
		if !ok {
			return
		}
		if j.catchUp != nil {
			if err := c.runCatchUp(j.catchUp); err != nil {
				c.fail(err)
				return
			}
			continue
		}
		c.jobs.current.Store(j.t)
		err := c.runBatch(j)
		for _, f := range j.done {
			f(err)
		}
		if err != nil {
			if c.runCtx.Err() != nil && errors.Is(err, context.Canceled) {
				return // a hard stop interrupted the batch
			}
			c.fail(err)
			return
		}
		c.forgetOld(j.t)
		c.batchMu.Lock()
		c.lastDone = j.t
		c.batchCond.Broadcast()
		c.batchMu.Unlock()
	}
}

// runBatch computes the stateful streams, then runs every output operation
// in definition order, stopping at the first failure so that no later
// output (an offset commit, say) runs after an earlier one failed. At a
// state checkpoint time it then saves the state: a failure to save fails
// the batch, as listeners are told.
func (c *Context) runBatch(j *job) error {
	clk := c.cfg.clock
	info := &j.info
	info.ProcessingStartTime = clk.Now()
	started := *info
	c.emit(func(l Listener) {
		if x, ok := l.(BatchStartedListener); ok {
			x.OnBatchStarted(started)
		}
	})
	r := &run{ctx: c.runCtx, c: c}
	t := j.t
	var batchErr error
	for _, n := range c.forced {
		if !n.validTime(t) {
			continue
		}
		if err := safely(func() error { return n.typed.force(r, t) }); err != nil {
			batchErr = &BatchError{Time: timeOf(t), Op: n.name, Err: err}
			break
		}
	}
	for id, o := range c.outputs {
		if batchErr != nil {
			break
		}
		if !o.n.validTime(t) {
			continue
		}
		oi := OutputOperationInfo{BatchTime: timeOf(t), ID: id, Name: o.name, Stream: o.n.name, StartTime: clk.Now()}
		c.emit(func(l Listener) {
			if x, ok := l.(OutputOperationStartedListener); ok {
				x.OnOutputOperationStarted(oi)
			}
		})
		err := safely(func() error { return o.run(r, t) })
		oi.EndTime = clk.Now()
		oi.Rejected = r.rejected.Swap(0)
		oi.Wrote, oi.RejectedBy = r.out.take()
		if err != nil {
			oi.Err = err
			batchErr = &BatchError{Time: timeOf(t), Op: o.name, Err: err}
		}
		info.OutputOperations = append(info.OutputOperations, oi)
		c.emit(func(l Listener) {
			if x, ok := l.(OutputOperationCompletedListener); ok {
				x.OnOutputOperationCompleted(oi)
			}
		})
	}
	if batchErr == nil && c.ckpt != nil && c.ckpt.isStateTime(t) {
		batchErr = c.ckpt.writeState(t)
	}
	for _, s := range c.sinks {
		if err := s.completed(r.ctx, t, batchErr); err != nil && batchErr == nil {
			batchErr = &BatchError{Time: timeOf(t), Op: s.outputName(), Err: err}
		}
	}
	info.ProcessingEndTime = clk.Now()
	info.Err = batchErr
	info.Degraded = c.Degraded()
	for i, in := range info.Inputs {
		if in.NumRecords >= 0 {
			continue
		}
		if rr, ok := c.inputs[in.StreamID].input.(interface{ recordsRead(int64) (int64, bool) }); ok {
			if n, ok := rr.recordsRead(t); ok {
				info.Inputs[i].NumRecords = n
			} else {
				info.Inputs[i].NumRecords = 0 // not read: no output needed it
			}
		}
	}
	completed := *info
	c.emit(func(l Listener) {
		if x, ok := l.(BatchCompletedListener); ok {
			x.OnBatchCompleted(completed)
		}
	})
	return batchErr
}

// forgetOld drops kept batches older than each stream's remember duration
// (Spark's clearMetadata).
func (c *Context) forgetOld(t int64) {
	for _, n := range c.keeping {
		n.typed.forget(t - n.remember)
	}
}

// outputOp is a registered output operation.
type outputOp struct {
	name string
	n    *node
	run  func(r *run, t int64) error
}

// addOutput registers an output operation on n.
func (c *Context) addOutput(n *node, name string, f func(r *run, t int64) error) error {
	if n.err != nil {
		return n.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.buildableLocked(); err != nil {
		return &BuildError{Op: name, Err: err}
	}
	c.outputs = append(c.outputs, &outputOp{name: name, n: n, run: f})
	return nil
}

// inputNode is implemented by input streams.
type inputNode interface {
	// generate takes the stream's input for batch t. ok is false when the
	// stream has no batch at t. done, if not nil, runs when the batch has
	// been processed, with the batch's error or nil.
	generate(t int64) (info InputInfo, done func(error), ok bool)
	// alwaysGenerate reports whether the input must be taken every batch
	// even when no output reaches the stream (receivers, whose data would
	// otherwise pile up).
	alwaysGenerate() bool
}

// registerInput adds an input stream to the context. c.mu must be held.
func (c *Context) registerInputLocked(n *node, in inputNode) int {
	n.input = in
	c.inputs = append(c.inputs, n)
	return len(c.inputs) - 1
}
