package dstream

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// run carries what one batch's computation needs: cancellation and the
// context's worker limit.
type run struct {
	ctx context.Context
	c   *Context
	// rejected counts the records rejected by the output operation
	// running (Partition.Reject); the scheduler reads and resets it after
	// each one.
	rejected atomic.Int64
	// out holds what the output operation running wrote and why it
	// rejected records; the scheduler reads and resets it after each one.
	out opCounts
}

// opCounts are an output operation's counts in one batch.
type opCounts struct {
	mu    sync.Mutex
	wrote OutputStats
	// reasons counts the rejected records by RejectReasonOf.
	reasons map[string]int64
}

// reject counts a rejected record under its reason.
func (o *opCounts) reject(reason string) {
	o.mu.Lock()
	if o.reasons == nil {
		o.reasons = map[string]int64{}
	}
	o.reasons[reason]++
	o.mu.Unlock()
}

// take returns the counts and resets them.
func (o *opCounts) take() (OutputStats, map[string]int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w, r := o.wrote, o.reasons
	o.wrote, o.reasons = OutputStats{}, nil
	return w, r
}

// opError attaches the operator name to an error from a user function or a
// task; a BatchError is returned unchanged.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return fmt.Sprintf("%s: %v", e.op, e.err) }
func (e *opError) Unwrap() error { return e.err }

// parallel runs f(0..n-1) with at most the context's parallelism at once,
// and returns the first error. A panic in f becomes a *PanicError. It stops
// starting new tasks once one failed or the batch was cancelled.
func (r *run) parallel(op string, n int, f func(i int) error) error {
	if n == 0 {
		return nil
	}
	if n == 1 || r.c.cfg.parallelism == 1 {
		return r.serial(op, n, f)
	}
	g, gctx := errgroup.WithContext(r.ctx)
	g.SetLimit(r.c.cfg.parallelism)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return protect(op, i, f) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return r.ctx.Err()
}

// serial is parallel for work too small to share: f(0) to f(n-1) on the
// calling goroutine, one after another. Starting goroutines and waiting
// for them costs tens of microseconds (a parked thread has to wake), more
// than an empty or nearly empty batch's work.
func (r *run) serial(op string, n int, f func(i int) error) error {
	for i := range n {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if err := protect(op, i, f); err != nil {
			return err
		}
	}
	return nil
}

// smallWork is the number of elements under which a stage that knows its
// input's size runs its partitions serially.
const smallWork = 1024

// protect calls f(i), turning a panic into an error.
func protect(op string, i int, f func(int) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &opError{op: op, err: &PanicError{Value: v, Stack: debug.Stack()}}
		}
	}()
	if err := f(i); err != nil {
		return &opError{op: op, err: err}
	}
	return nil
}

// call runs f, turning a panic into an error, for user functions called
// once per batch on the scheduler goroutine (Transform).
func call(op string, f func() error) error {
	return protect(op, 0, func(int) error { return f() })
}

// safely runs f, turning a panic into a *PanicError; errors pass unchanged.
func safely(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}
