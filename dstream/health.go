package dstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Start-up checks and health.
//
// A job depends on things outside the process: brokers, topics, a
// NameNode, Kudu masters, output directories. The connectors register a
// start-up check for each with AddStartCheck, so that Start fails within
// the start timeout (WithStartTimeout) with one line naming what is
// missing, instead of a job that runs and reports empty batches. While the
// job runs, connectors report with ReportHealth when a dependency goes away
// and when it is back; the engine puts what is degraded in every BatchInfo
// (so a progress line or status page can say so), tells
// HealthChangedListeners, and with WithMaxOutage fails the job when an
// outage lasts too long.

// DefaultStartTimeout is how long Start waits for the start-up checks by
// default.
const DefaultStartTimeout = 30 * time.Second

// WithStartTimeout bounds how long Start waits for the start-up checks of
// the job's dependencies (AddStartCheck): a check that has not succeeded
// by then fails Start. Default: DefaultStartTimeout.
func WithStartTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: start timeout %v must be positive", ErrInvalidDuration, d)
		}
		c.startTimeout = d
		return nil
	})
}

// WithMaxOutage makes the job fail when a dependency has been degraded
// (ReportHealth) for longer than d: the context stops with an
// *OutageError. The default, 0, waits for it however long it takes, and
// reports it in every batch's BatchInfo.Degraded meanwhile.
func WithMaxOutage(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: max outage %v must not be negative", ErrInvalidDuration, d)
		}
		c.maxOutage = d
		return nil
	})
}

// StartTimeout returns how long Start waits for the start-up checks.
// Connectors bound their own connection attempts at start with it.
func (c *Context) StartTimeout() time.Duration { return c.cfg.startTimeout }

// StartError is returned by Start when a start-up check failed: a
// dependency of the job is unreachable, missing or refuses access.
type StartError struct {
	// Check names the dependency, e.g. "kafka brokers 127.0.0.1:9092".
	Check string
	// Err is the cause.
	Err error
}

func (e *StartError) Error() string { return fmt.Sprintf("%s: %v", e.Check, e.Err) }

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

// ErrStartTimeout is the cause of a StartError for a check that did not
// finish within the start timeout.
var ErrStartTimeout = errors.New("no answer within the start timeout")

// startCheckGrace is how long Start still waits, after the start timeout,
// for checks to return the error their ended ctx gave them.
const startCheckGrace = 200 * time.Millisecond

// startCheck is a registered start-up check.
type startCheck struct {
	name  string
	check func(ctx context.Context) error
}

// AddStartCheck registers a check that Start runs before the first batch,
// concurrently with the others, with a context that ends after the start
// timeout. name says what is checked ("kafka brokers 127.0.0.1:9092",
// "parquet output hdfs://nn:8020/data"); the first check to fail fails
// Start with a *StartError carrying name and the check's error, and the
// context is stopped. A check must return promptly when its ctx is done.
// Checks added after Start are ignored.
func (c *Context) AddStartCheck(name string, check func(ctx context.Context) error) {
	if check == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != StateInitialized {
		return
	}
	c.checks = append(c.checks, startCheck{name: name, check: check})
}

// runStartChecks runs the registered checks and returns the first
// failure, in registration order among those that failed.
func (c *Context) runStartChecks(parent context.Context) error {
	c.mu.Lock()
	checks := slices.Clone(c.checks)
	c.mu.Unlock()
	if len(checks) == 0 {
		return nil
	}
	timeout := c.cfg.startTimeout
	ctx, cancel := context.WithTimeoutCause(parent, timeout, ErrStartTimeout)
	defer cancel()
	// A check that ignores its ctx (a dial without a deadline) does not
	// hold Start past the timeout: its result is not waited for.
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(checks))
	for i, ch := range checks {
		go func() {
			results <- result{i, safely(func() error { return ch.check(ctx) })}
		}()
	}
	errs := make([]error, len(checks))
	done := make([]bool, len(checks))
	ended := ctx.Done()
	var grace <-chan time.Time // after the timeout: checks that heed ctx return now
	for n := 0; n < len(checks); {
		select {
		case r := <-results:
			errs[r.i], done[r.i] = r.err, true
			n++
			continue
		case <-ended:
			ended = nil
			t := time.NewTimer(startCheckGrace)
			defer t.Stop()
			grace = t.C
			continue
		case <-grace:
		}
		break
	}
	if err := parent.Err(); err != nil {
		return err
	}
	for i := range checks {
		err := errs[i]
		switch {
		case !done[i]:
			err = ErrStartTimeout
		case err == nil || ctx.Err() == nil || !errors.Is(context.Cause(ctx), ErrStartTimeout):
			continue
		}
		// The check ran out of time: say so, with what it saw.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrStartTimeout) {
			errs[i] = fmt.Errorf("no answer within %v", timeout)
		} else {
			errs[i] = fmt.Errorf("no answer within %v: %w", timeout, err)
		}
	}
	for i, err := range errs {
		if err != nil {
			return &StartError{Check: checks[i].name, Err: err}
		}
	}
	return nil
}

// Degradation is a dependency of the job that is not working: a broker
// that cannot be reached, a topic that does not exist, a directory that is
// missing. Connectors report them with ReportHealth.
type Degradation struct {
	// Component names the dependency, e.g. "kafka brokers 127.0.0.1:9092".
	Component string
	// Err says what is wrong.
	Err error
	// Since is when it was first reported, on the context's clock.
	Since time.Time
}

func (d Degradation) String() string { return fmt.Sprintf("%s: %v", d.Component, d.Err) }

// HealthChangedListener is told when a component becomes degraded, when
// the reason changes, and when it recovers.
type HealthChangedListener interface {
	// OnHealthChanged receives the component's state: Err is nil when it
	// has recovered.
	OnHealthChanged(Degradation)
}

// OutageError stops a context whose dependency was degraded for longer
// than WithMaxOutage allows.
type OutageError struct {
	Degradation
	// Limit is the maximum outage that was exceeded.
	Limit time.Duration
}

func (e *OutageError) Error() string {
	return fmt.Sprintf("dstream: %s has been unavailable since %s, longer than the maximum outage of %v: %v",
		e.Component, e.Since.UTC().Format(time.RFC3339), e.Limit, e.Err)
}

// Unwrap returns the cause.
func (e *OutageError) Unwrap() error { return e.Err }

// health holds the degraded components of a context.
type health struct {
	mu       sync.Mutex
	degraded map[string]Degradation
}

// ReportHealth reports the state of a dependency of the job: err not nil
// means it is degraded (unreachable, missing, refusing), nil that it works
// again. Reporting the same error again keeps its Since; reporting nil for
// a component that is not degraded does nothing, so connectors may report
// success cheaply on every batch. Safe for concurrent use.
func (c *Context) ReportHealth(component string, err error) {
	h := &c.health
	now := c.cfg.clock.Now()
	h.mu.Lock()
	old, was := h.degraded[component]
	var ev Degradation
	switch {
	case err == nil && !was:
		h.mu.Unlock()
		return
	case err == nil:
		delete(h.degraded, component)
		ev = Degradation{Component: component, Since: old.Since}
	default:
		since := now
		if was {
			since = old.Since
			if old.Err != nil && old.Err.Error() == err.Error() {
				h.degraded[component] = Degradation{Component: component, Err: err, Since: since}
				h.mu.Unlock()
				return
			}
		}
		if h.degraded == nil {
			h.degraded = map[string]Degradation{}
		}
		ev = Degradation{Component: component, Err: err, Since: since}
		h.degraded[component] = ev
	}
	h.mu.Unlock()
	if err != nil {
		c.log.Warn("dstream: degraded", "component", component, "error", err)
	} else {
		c.log.Info("dstream: recovered", "component", component, "after", now.Sub(old.Since).Round(time.Millisecond))
	}
	c.emit(func(l Listener) {
		if x, ok := l.(HealthChangedListener); ok {
			x.OnHealthChanged(ev)
		}
	})
}

// Degraded returns the dependencies that are degraded now, by component
// name.
func (c *Context) Degraded() []Degradation {
	h := &c.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.degraded) == 0 {
		return nil
	}
	out := make([]Degradation, 0, len(h.degraded))
	for _, d := range h.degraded {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Degradation) int { return cmp.Compare(a.Component, b.Component) })
	return out
}

// checkOutage fails the context when a dependency has been degraded for
// longer than the maximum outage. It runs on the generator goroutine.
func (c *Context) checkOutage(now time.Time) bool {
	if c.cfg.maxOutage <= 0 {
		return false
	}
	for _, d := range c.Degraded() {
		if now.Sub(d.Since) > c.cfg.maxOutage {
			c.fail(&OutageError{Degradation: d, Limit: c.cfg.maxOutage})
			return true
		}
	}
	return false
}
