package dstream

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Receiver brings data into a stream from a source that pushes it, such as
// a socket (Spark's Receiver). The engine calls OnStart when the context
// starts and OnStop when it stops or the receiver restarts.
//
// OnStart must not block: it starts the goroutines that receive and
// returns. They hand records to the host with Store or StoreAll (buffered
// and cut into a block every block interval) or StoreSlice (one block,
// stored before it returns, which is what a reliable receiver needs
// before acknowledging its source). ctx is cancelled when this run of the receiver stops; the
// goroutines should watch it. If OnStart returns an error the receiver is
// restarted after the restart delay.
//
// OnStop must release what OnStart acquired (close connections so blocked
// reads return). A receiver that implements interface{ Name() string } is
// shown under that name in events.
type Receiver[T any] interface {
	OnStart(ctx context.Context, host *ReceiverHost[T]) error
	OnStop()
}

// ReceiverOption configures a ReceiverStream.
type ReceiverOption interface{ applyReceiver(*receiverConfig) }

type receiverConfig struct {
	maxRate    float64
	maxRateSet bool
}

type receiverOptionFunc func(*receiverConfig)

func (f receiverOptionFunc) applyReceiver(c *receiverConfig) { f(c) }

// MaxRate caps the records per second this receiver may store; 0 or less
// means unlimited. It overrides WithReceiverMaxRate.
func MaxRate(recordsPerSecond float64) ReceiverOption {
	return receiverOptionFunc(func(c *receiverConfig) { c.maxRate, c.maxRateSet = recordsPerSecond, true })
}

// ReceiverStream returns an input stream fed by r. Every block the
// receiver stores becomes one partition of the next batch.
func ReceiverStream[T any](c *Context, r Receiver[T], opts ...ReceiverOption) *Stream[T] {
	s := newInputStream[T](c, "receiverStream")
	if s.n.err != nil {
		return s
	}
	if r == nil {
		s.n.fail(fmt.Errorf("%w: nil receiver", ErrInvalidOption))
		return s
	}
	cfg := receiverConfig{maxRate: c.cfg.receiverMaxRate}
	for _, o := range opts {
		if o != nil {
			o.applyReceiver(&cfg)
		}
	}
	rs := &receiverStream[T]{s: s, c: c, r: r, maxRate: cfg.maxRate, stopDone: make(chan struct{}),
		maxBlocks: c.cfg.blockQueueSize, maxRecords: int64(c.cfg.queueRecords), maxBytes: c.cfg.queueBytes,
		size: sizerOf[T]()}
	rs.cond = sync.NewCond(&rs.mu)
	rs.limiter = newRateLimiter(c.cfg.clock, c.cfg.initialReceiverRate(cfg.maxRate))
	rs.host = &ReceiverHost[T]{rs: rs}
	s.compute = rs.computeLogged
	c.mu.Lock()
	rs.id = c.registerInputLocked(s.n, rs)
	rs.name = s.n.name
	if named, ok := r.(interface{ Name() string }); ok && named.Name() != "" {
		rs.name = named.Name()
	}
	c.receivers = append(c.receivers, rs)
	c.mu.Unlock()
	return s
}

// receiverInput is the untyped view of a receiver stream the Context uses.
type receiverInput interface {
	openLog() error
	closeLog()
	start(runCtx context.Context)
	stop(msg string, err error)
	wait()
	hasUnallocated() bool
}

// receiverStream supervises one receiver: its runs, its block generator
// and its bounded block queue.
type receiverStream[T any] struct {
	s       *Stream[T]
	c       *Context
	r       Receiver[T]
	id      int
	name    string
	host    *ReceiverHost[T]
	limiter *rateLimiter
	maxRate float64 // configured cap (MaxRate, WithReceiverMaxRate); <= 0 is none

	stopCtx    context.Context // done when stopped for good
	stopCancel context.CancelFunc
	stopDone   chan struct{}  // closed when a stop has finished its last block
	wg         sync.WaitGroup // block generator, restarts and stops

	// The queue's bounds (0 blocks: none) and size, the bytes of a
	// slice of records (nil: records are not counted in bytes).
	maxBlocks            int
	maxRecords, maxBytes int64
	size                 func([]T) int64

	mu         sync.Mutex
	cond       *sync.Cond // signalled when blocks are released or on stop
	buf        []T        // records since the last block
	bufHint    int        // the last block's length: the next buffer's capacity
	blocks     [][]T      // blocks not yet in a batch
	seqs       []uint64   // with a write-ahead log: each block's record, parallel to blocks
	log        *receiverLog
	waiting    held // in buf and blocks
	inflight   held // in batches not yet processed
	stopped    bool
	active     bool
	restarting bool
	runCancel  context.CancelFunc // of the current run
	lastErr    error
	lastErrMsg string
	lastErrAt  time.Time
}

func (rs *receiverStream[T]) info() ReceiverInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return ReceiverInfo{StreamID: rs.id, Name: rs.name, Active: rs.active, LastErrorMessage: rs.lastErrMsg, LastError: rs.lastErr, LastErrorTime: rs.lastErrAt}
}

func (rs *receiverStream[T]) start(runCtx context.Context) {
	rs.stopCtx, rs.stopCancel = context.WithCancel(runCtx)
	rs.wg.Add(1)
	go rs.generateBlocks()
	rs.startRun()
}

// generateBlocks cuts the buffered records into a block at every block
// interval (Spark's BlockGenerator).
func (rs *receiverStream[T]) generateBlocks() {
	defer rs.wg.Done()
	clk := rs.c.cfg.clock
	bi := int64(rs.c.cfg.blockInterval)
	for {
		next := (clk.Now().UnixNano()/bi + 1) * bi
		if clk.WaitUntil(rs.stopCtx, timeOf(next)) != nil {
			return
		}
		rs.mu.Lock()
		rs.sealLocked()
		rs.mu.Unlock()
	}
}

func (rs *receiverStream[T]) sealLocked() {
	if len(rs.buf) > 0 {
		block := rs.buf
		rs.buf = nil
		rs.bufHint = len(block)
		seq, err := rs.logBlockLocked(block)
		if err != nil {
			// Kept in memory: processed, but not replayable after a crash.
			go rs.reportError("writing a block to the write-ahead log failed; its records are not protected against a crash", err)
		}
		rs.addBlockLocked(block, seq)
	}
}

// addBlockLocked queues a block for the next batch; its records are
// already counted in rs.waiting. rs.mu must be held.
func (rs *receiverStream[T]) addBlockLocked(block []T, seq uint64) {
	rs.blocks = append(rs.blocks, block)
	if rs.log != nil {
		rs.seqs = append(rs.seqs, seq)
	}
	rs.waiting.blocks++
}

// growLocked gives an empty buffer the capacity of the last block, at
// least n, so that a steady stream of records fills a block without
// copying it as it grows. rs.mu must be held.
func (rs *receiverStream[T]) growLocked(n int) {
	if rs.buf == nil && rs.bufHint > 0 {
		rs.buf = make([]T, 0, max(rs.bufHint, n))
	}
}

// held is what a receiver holds: blocks, records and the bytes of its
// string and []byte records.
type held struct {
	blocks         int
	records, bytes int64
}

func (q *held) add(o held) {
	q.blocks += o.blocks
	q.records += o.records
	q.bytes += o.bytes
}

func (q *held) sub(o held) {
	q.blocks -= o.blocks
	q.records -= o.records
	q.bytes -= o.bytes
}

// countLocked adds records to what the receiver holds. rs.mu must be held.
func (rs *receiverStream[T]) countLocked(xs []T) {
	rs.waiting.records += int64(len(xs))
	if rs.size != nil {
		rs.waiting.bytes += rs.size(xs)
	}
}

// sizerOf returns the function that sums the lengths of a slice of string
// or []byte records, or nil for records of another type.
func sizerOf[T any]() func([]T) int64 {
	switch any((*T)(nil)).(type) {
	case *string:
		return func(xs []T) int64 {
			var n int64
			for _, x := range unsafe.Slice((*string)(unsafe.Pointer(unsafe.SliceData(xs))), len(xs)) {
				n += int64(len(x))
			}
			return n
		}
	case *[]byte:
		return func(xs []T) int64 {
			var n int64
			for _, x := range unsafe.Slice((*[]byte)(unsafe.Pointer(unsafe.SliceData(xs))), len(xs)) {
				n += int64(len(x))
			}
			return n
		}
	}
	return nil
}

func (rs *receiverStream[T]) startRun() {
	rs.mu.Lock()
	if rs.stopped {
		rs.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(rs.stopCtx)
	rs.runCancel = cancel
	rs.active = true
	rs.mu.Unlock()
	if err := call(rs.name, func() error { return rs.r.OnStart(ctx, rs.host) }); err != nil {
		rs.reportError("error starting receiver", err)
		rs.restart("error starting receiver", err, rs.c.cfg.receiverRestartWait)
		return
	}
	info := rs.info()
	rs.c.emit(func(l Listener) {
		if x, ok := l.(ReceiverStartedListener); ok {
			x.OnReceiverStarted(info)
		}
	})
}

// stopRun ends the current run: cancels its context and calls OnStop.
func (rs *receiverStream[T]) stopRun(msg string, err error) {
	rs.mu.Lock()
	if !rs.active {
		rs.mu.Unlock()
		return
	}
	rs.active = false
	cancel := rs.runCancel
	rs.mu.Unlock()
	cancel()
	if perr := call(rs.name, func() error { rs.r.OnStop(); return nil }); perr != nil {
		rs.reportError("error stopping receiver", perr)
	}
	if err != nil {
		rs.recordError(msg, err)
	}
	rs.c.log.Debug("dstream: receiver stopped", "receiver", rs.name, "reason", msg, "error", err)
	info := rs.info()
	rs.c.emit(func(l Listener) {
		if x, ok := l.(ReceiverStoppedListener); ok {
			x.OnReceiverStopped(info)
		}
	})
}

// restart stops the current run and starts a new one after delay, in the
// background. A restart already under way absorbs further requests.
func (rs *receiverStream[T]) restart(msg string, err error, delay time.Duration) {
	rs.mu.Lock()
	if rs.stopped || rs.restarting {
		rs.mu.Unlock()
		return
	}
	rs.restarting = true
	rs.wg.Add(1)
	rs.mu.Unlock()
	rs.c.log.Warn("dstream: restarting receiver", "receiver", rs.name, "reason", msg, "error", err, "delay", delay)
	go func() {
		defer rs.wg.Done()
		rs.stopRun(msg, err)
		clk := rs.c.cfg.clock
		waitErr := clk.WaitUntil(rs.stopCtx, clk.Now().Add(delay))
		rs.mu.Lock()
		rs.restarting = false
		rs.mu.Unlock()
		if waitErr == nil {
			rs.startRun()
		}
	}()
}

// stop stops the receiver for good and puts its buffered records into a
// last block. If a stop is already under way it waits for it, so that when
// stop returns every record the receiver accepted is in a block.
func (rs *receiverStream[T]) stop(msg string, err error) {
	rs.mu.Lock()
	if rs.stopped {
		rs.mu.Unlock()
		<-rs.stopDone
		return
	}
	rs.stopped = true
	rs.cond.Broadcast()
	rs.mu.Unlock()
	rs.finishStop(msg, err)
}

// finishStop ends the receiver's goroutines and runs after stopped is set:
// no record is accepted any more.
func (rs *receiverStream[T]) finishStop(msg string, err error) {
	defer close(rs.stopDone)
	if rs.stopCancel != nil {
		rs.stopCancel()
	}
	rs.stopRun(msg, err)
	rs.mu.Lock()
	rs.sealLocked()
	rs.mu.Unlock()
}

func (rs *receiverStream[T]) wait() { rs.wg.Wait() }

func (rs *receiverStream[T]) hasUnallocated() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.blocks) > 0 || len(rs.buf) > 0
}

func (rs *receiverStream[T]) alwaysGenerate() bool { return true }

// generate puts every record stored so far into batch t: the blocks, and
// the records buffered since the last block, cut now so that they do not
// slip into the next batch when the block and batch ticks coincide. The
// blocks count against the queue until the batch has been processed.
func (rs *receiverStream[T]) generate(t int64) (InputInfo, func(error), bool) {
	rs.mu.Lock()
	rs.sealLocked()
	blocks := rs.blocks
	rs.blocks = nil
	taken := rs.waiting
	rs.waiting = held{}
	rs.inflight.add(taken)
	rs.allocateLocked(t)
	rs.mu.Unlock()
	rs.s.put(t, &Batch[T]{Time: timeOf(t), Partitions: blocks})
	done := func(error) {
		if taken == (held{}) {
			return
		}
		rs.mu.Lock()
		rs.inflight.sub(taken)
		rs.cond.Broadcast()
		rs.mu.Unlock()
	}
	return InputInfo{StreamID: rs.id, Name: rs.name, NumRecords: taken.records}, done, true
}

// fullLocked reports whether the receiver holds as much as it may. Each
// bound applies only when something is held, so that one store larger
// than a bound proceeds once the queue is empty. rs.mu must be held.
func (rs *receiverStream[T]) fullLocked() bool {
	blocks := rs.waiting.blocks + rs.inflight.blocks
	records := rs.waiting.records + rs.inflight.records
	bytes := rs.waiting.bytes + rs.inflight.bytes
	return (rs.maxBlocks > 0 && blocks >= rs.maxBlocks) ||
		(records > 0 && records >= rs.maxRecords) ||
		(bytes > 0 && bytes >= rs.maxBytes)
}

// lockRoom waits for n records' worth of the rate limit and for room in
// the queue, and returns with rs.mu held, or an error without it.
func (rs *receiverStream[T]) lockRoom(n int) error {
	if err := rs.limiter.wait(rs.stopCtx, n); err != nil {
		return ErrReceiverStopped
	}
	rs.mu.Lock()
	if err := rs.waitRoomLocked(); err != nil {
		rs.mu.Unlock()
		return err
	}
	return nil
}

// waitRoomLocked blocks while the queue is full. rs.mu must be held.
func (rs *receiverStream[T]) waitRoomLocked() error {
	for !rs.stopped && rs.fullLocked() {
		rs.cond.Wait()
	}
	if rs.stopped {
		return ErrReceiverStopped
	}
	return nil
}

func (rs *receiverStream[T]) recordError(msg string, err error) {
	rs.mu.Lock()
	rs.lastErr, rs.lastErrMsg, rs.lastErrAt = err, msg, rs.c.cfg.clock.Now()
	rs.mu.Unlock()
}

func (rs *receiverStream[T]) reportError(msg string, err error) {
	rs.recordError(msg, err)
	rs.c.log.Warn("dstream: receiver error", "receiver", rs.name, "message", msg, "error", err)
	info := rs.info()
	rs.c.emit(func(l Listener) {
		if x, ok := l.(ReceiverErrorListener); ok {
			x.OnReceiverError(info)
		}
	})
}

// ReceiverHost is a receiver's handle on the engine: it stores records and
// reports on the receiver. Its methods are safe for concurrent use.
type ReceiverHost[T any] struct {
	rs *receiverStream[T]
}

// Store adds one record to the current block. It blocks while the
// receiver is over its rate limit or its queue is full (WithReceiverQueue),
// and returns ErrReceiverStopped once the receiver has stopped. The record
// is buffered until the block is cut (every block interval, and when a
// batch starts), and only then written to the write-ahead log, if there is
// one: a receiver that acknowledges its source uses StoreSlice, which
// returns once its records are safe.
func (h *ReceiverHost[T]) Store(x T) error {
	rs := h.rs
	if err := rs.lockRoom(1); err != nil {
		return err
	}
	defer rs.mu.Unlock()
	rs.growLocked(1)
	rs.buf = append(rs.buf, x)
	rs.countLocked(rs.buf[len(rs.buf)-1:])
	return nil
}

// StoreAll adds the records to the current block, as Store does for one,
// under one lock: what a receiver that reads records in runs uses, so
// that blocks are cut on the block interval however small the runs are.
// The slice is copied. Like Store, it blocks while the receiver is over
// its rate limit or its queue is full, returns ErrReceiverStopped once
// the receiver has stopped, and leaves the records out of the write-ahead
// log until the block is cut.
func (h *ReceiverHost[T]) StoreAll(xs []T) error {
	if len(xs) == 0 {
		return nil
	}
	rs := h.rs
	if err := rs.lockRoom(len(xs)); err != nil {
		return err
	}
	defer rs.mu.Unlock()
	rs.growLocked(len(xs))
	rs.buf = append(rs.buf, xs...)
	rs.countLocked(xs)
	return nil
}

// StoreSlice stores the records as one block and returns once it is
// stored (with WithWriteAheadLog, written to the log and synced to disk),
// so a reliable receiver may then acknowledge them to its source.
// The slice is copied. It blocks while the receiver is over its rate limit
// or its queue is full, and returns ErrReceiverStopped once the receiver
// has stopped. Each call makes a block, one partition of the batch: a
// receiver that does not acknowledge its source uses StoreAll, which
// leaves the cut to the block interval.
func (h *ReceiverHost[T]) StoreSlice(xs []T) error {
	if len(xs) == 0 {
		return nil
	}
	rs := h.rs
	if err := rs.lockRoom(len(xs)); err != nil {
		return err
	}
	defer rs.mu.Unlock()
	block := slices.Clone(xs)
	seq, err := rs.logBlockLocked(block)
	if err != nil {
		return fmt.Errorf("dstream: the write-ahead log: %w", err)
	}
	rs.countLocked(block)
	rs.addBlockLocked(block, seq)
	return nil
}

// ReportError reports an error to the listeners and the log without
// stopping the receiver.
func (h *ReceiverHost[T]) ReportError(msg string, err error) { h.rs.reportError(msg, err) }

// Restart stops the receiver (OnStop) and starts it again (OnStart) after
// the context's restart delay, in the background. Records already stored
// are kept.
func (h *ReceiverHost[T]) Restart(msg string, err error) {
	h.rs.restart(msg, err, h.rs.c.cfg.receiverRestartWait)
}

// RestartAfter is Restart with a given delay.
func (h *ReceiverHost[T]) RestartAfter(msg string, err error, delay time.Duration) {
	h.rs.restart(msg, err, max(delay, 0))
}

// Stop stops the receiver for good: from its return IsStopped is true and
// Store and StoreSlice return ErrReceiverStopped. Records already stored
// are kept and processed; the stream's later batches are empty. OnStop
// runs in the background, so it may wait for the goroutine calling Stop.
func (h *ReceiverHost[T]) Stop(msg string, err error) {
	rs := h.rs
	rs.mu.Lock()
	if rs.stopped {
		rs.mu.Unlock()
		return
	}
	rs.stopped = true
	rs.cond.Broadcast()
	rs.wg.Add(1)
	rs.mu.Unlock()
	go func() {
		defer rs.wg.Done()
		rs.finishStop(msg, err)
	}()
}

// IsStopped reports whether the receiver has stopped for good.
func (h *ReceiverHost[T]) IsStopped() bool {
	h.rs.mu.Lock()
	defer h.rs.mu.Unlock()
	return h.rs.stopped
}

// SetMaxRate changes the receiver's rate limit (records per second; 0 or
// less is unlimited). With WithBackpressure, the next estimate replaces it.
func (h *ReceiverHost[T]) SetMaxRate(recordsPerSecond float64) {
	h.rs.limiter.setRate(recordsPerSecond)
}

// StreamID returns the receiver's input stream id.
func (h *ReceiverHost[T]) StreamID() int { return h.rs.id }

// Logger returns the context's logger, with the receiver's name.
func (h *ReceiverHost[T]) Logger() *slog.Logger { return h.rs.c.log.With("receiver", h.rs.name) }

// rateLimiter spaces out permits at a rate per second on the context's
// clock. A request for n permits proceeds at once if the limiter is idle
// and makes the next request wait n/rate seconds, so over any stretch the
// rate holds without bursts.
type rateLimiter struct {
	clk  Clock
	bits atomic.Uint64 // math.Float64bits of the rate; <= 0 is unlimited
	mu   sync.Mutex
	next int64 // when the next permit is free (ns)
}

func newRateLimiter(clk Clock, rate float64) *rateLimiter {
	l := &rateLimiter{clk: clk}
	l.setRate(rate)
	return l
}

func (l *rateLimiter) setRate(rate float64) { l.bits.Store(math.Float64bits(rate)) }

func (l *rateLimiter) rate() float64 { return math.Float64frombits(l.bits.Load()) }

func (l *rateLimiter) wait(ctx context.Context, n int) error {
	rate := l.rate()
	if rate <= 0 || math.IsNaN(rate) {
		return nil
	}
	l.mu.Lock()
	now := l.clk.Now().UnixNano()
	at := max(l.next, now)
	l.next = at + int64(float64(n)/rate*1e9)
	l.mu.Unlock()
	if at > now {
		return l.clk.WaitUntil(ctx, timeOf(at))
	}
	return nil
}
