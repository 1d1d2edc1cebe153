package dstream

import (
	"context"
	"sync"
	"time"
)

// Clock is the source of time for a Context: batch times, block intervals,
// rate limiting, restart delays and timeouts all read it. The default is
// the system clock; tests inject a ManualClock, or run the system clock
// inside a testing/synctest bubble, so that timing is deterministic.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// WaitUntil blocks until the clock reads t or later, or until ctx is
	// done, in which case it returns ctx.Err().
	WaitUntil(ctx context.Context, t time.Time) error
}

// SystemClock returns the Clock backed by the time package.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) WaitUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ManualClock is a Clock that moves only when told to, like Spark's
// ManualClock. Goroutines waiting in WaitUntil wake when Advance or Set
// moves the clock to or past their deadline.
//
// The zero value is not usable; create one with NewManualClock.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	changed chan struct{} // closed and replaced on every change
	waiters int
}

// NewManualClock returns a ManualClock that reads start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, changed: make(chan struct{})}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and wakes the waiters whose
// deadline has been reached. A negative d is ignored: time never runs
// backwards.
func (c *ManualClock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.set(c.now.Add(d))
	c.mu.Unlock()
}

// Set moves the clock to t if t is later than the current time.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.set(t)
	}
	c.mu.Unlock()
}

func (c *ManualClock) set(t time.Time) {
	c.now = t
	close(c.changed)
	c.changed = make(chan struct{})
}

// Waiters reports how many goroutines are blocked in WaitUntil. Tests use
// it to know that every timer-driven goroutine has caught up with the clock.
func (c *ManualClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiters
}

// WaitUntil blocks until the clock reads t or later, or ctx is done.
func (c *ManualClock) WaitUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	c.waiters++
	defer func() {
		c.mu.Lock()
		c.waiters--
		c.mu.Unlock()
	}()
	for {
		if !c.now.Before(t) {
			c.mu.Unlock()
			return nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
}
