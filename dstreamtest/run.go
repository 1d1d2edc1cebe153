package dstreamtest

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// epoch is the time of the run's clock at start: batch i (from 0) is at
// epoch + (i+1)*interval.
func epoch() time.Time { return time.UnixMilli(0) }

// Run runs the stream function f over inputs, one slice per batch (nil
// or empty for an empty batch), and returns the output stream's elements per batch time: out[i] holds what
// the stream produced at batch i (from 0), at (i+1)×interval since the
// Unix epoch, in partition order, which for wide operations (by key,
// joins, state) is not defined; see EqualUnordered. An empty batch gives
// an empty, non-nil slice; a time at which the stream has no batch (a
// window between two slides) gives nil. Batches past the inputs are empty
// (see Batches), and len(out) is the number of batches.
//
// The job runs in a dstream.Context on a manual clock, with a checkpoint
// directory from t.TempDir (so stateful operators work and their state
// must be encodable), each batch split into InputPartitions partitions.
// Run fails the test with a message when f's stream is invalid, when the
// job fails (a panic in a user function, an output error, a checkpoint
// that cannot be written) and when a wait runs out (Timeout).
func Run[In, Out any](t testing.TB, inputs [][]In, f func(*dstream.Stream[In]) *dstream.Stream[Out], opts ...Option) [][]Out {
	t.Helper()
	cfg := setup(t, "Run", opts, len(inputs))
	if f == nil {
		t.Fatal("dstreamtest: Run: the stream function is nil")
	}
	return run(t, cfg, func(c *dstream.Context) *dstream.Stream[Out] {
		return f(dstream.InputStream[In](c, "dstreamtest", newInput(inputs, cfg.partitions, cfg.interval)))
	})
}

// Run2 is Run for a function of two input streams, such as a join, a
// cogroup or a union: a and b are their per-batch inputs, and the number
// of batches is by default the longer one's.
func Run2[A, B, Out any](t testing.TB, a [][]A, b [][]B, f func(*dstream.Stream[A], *dstream.Stream[B]) *dstream.Stream[Out], opts ...Option) [][]Out {
	t.Helper()
	cfg := setup(t, "Run2", opts, max(len(a), len(b)))
	if f == nil {
		t.Fatal("dstreamtest: Run2: the stream function is nil")
	}
	return run(t, cfg, func(c *dstream.Context) *dstream.Stream[Out] {
		sa := dstream.InputStream[A](c, "dstreamtest", newInput(a, cfg.partitions, cfg.interval))
		sb := dstream.InputStream[B](c, "dstreamtest", newInput(b, cfg.partitions, cfg.interval))
		return f(sa, sb)
	})
}

// setup checks the options of a run over n input batches.
func setup(t testing.TB, fn string, opts []Option, n int) config {
	t.Helper()
	cfg, err := newConfig(opts)
	if err != nil {
		t.Fatalf("dstreamtest: %s: %v", fn, err)
	}
	switch {
	case cfg.batches == 0 && n == 0:
		t.Fatalf("dstreamtest: %s: no batches to run: give inputs or Batches(n)", fn)
	case cfg.batches == 0:
		cfg.batches = n
	case cfg.batches < n:
		t.Fatalf("dstreamtest: %s: invalid option: Batches(%d) is fewer than the %d input batches", fn, cfg.batches, n)
	}
	if cfg.restartAfter >= cfg.batches {
		t.Fatalf("dstreamtest: %s: invalid option: RestartAfter(%d) leaves no batch to run after the restart (%d batches)", fn, cfg.restartAfter, cfg.batches)
	}
	return cfg
}

// runner runs one job, in one context or two (RestartAfter), and
// collects its output.
type runner[Out any] struct {
	t     testing.TB
	cfg   config
	dir   string
	log   *testLog
	build func(*dstream.Context) *dstream.Stream[Out]

	mu    sync.Mutex
	out   [][]Out
	stray []time.Time // output batches at times the run does not have
}

// job is one context of a run and its clock.
type job struct {
	c     *dstream.Context
	clock *dstream.ManualClock
	last  int // batches completed, counted from 1
}

func run[Out any](t testing.TB, cfg config, build func(*dstream.Context) *dstream.Stream[Out]) [][]Out {
	t.Helper()
	r := &runner[Out]{t: t, cfg: cfg, dir: t.TempDir(), build: build, out: make([][]Out, cfg.batches)}
	r.log = &testLog{t: t}
	defer r.log.close()
	stopAt := cfg.batches
	if cfg.restartAfter > 0 {
		stopAt = cfg.restartAfter
	}
	j := r.start(0)
	r.steps(j, stopAt)
	if cfg.restartAfter > 0 {
		r.stop(j, cfg.stopMode)
		j = r.start(stopAt)
		if ok, _ := j.c.Recovered(); !ok {
			t.Fatalf("dstreamtest: the job restarted after %d batches did not resume from its checkpoint", stopAt)
		}
		r.steps(j, cfg.batches)
	}
	r.stop(j, dstream.Graceful)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, bt := range r.stray {
		t.Errorf("dstreamtest: the stream produced a batch at %d ms, which is not one of the run's %d batch times", bt.UnixMilli(), cfg.batches)
	}
	return r.out
}

// start builds and starts a context whose clock reads the time of batch
// done (from 1), 0 being the start.
func (r *runner[Out]) start(done int) *job {
	t := r.t
	t.Helper()
	clk := dstream.NewManualClock(epoch().Add(time.Duration(done) * r.cfg.interval))
	opts := append([]dstream.Option{
		dstream.WithClock(clk),
		dstream.WithCheckpoint(r.dir),
		dstream.WithLogger(slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		dstream.WithParallelism(DefaultParallelism),
	}, r.cfg.ctxOpts...)
	c, err := dstream.NewContext(r.cfg.interval, opts...)
	if err != nil {
		t.Fatalf("dstreamtest: creating the context: %v", err)
	}
	t.Cleanup(func() {
		// Stops a job that a failed test left running; does nothing
		// after a run that completed.
		if stopped, _ := stopWithin(c, dstream.Hard, r.cfg.timeout); !stopped {
			t.Errorf("dstreamtest: the job did not stop within %v: a user function is still running", r.cfg.timeout)
		}
	})
	s := r.build(c)
	if s == nil {
		t.Fatal("dstreamtest: the stream function returned a nil stream")
	}
	if err := s.ForEachBatch(r.collect); err != nil {
		t.Fatalf("dstreamtest: the stream function's stream is invalid: %v", err)
	}
	started := make(chan error, 1)
	go func() { started <- c.Start() }()
	select {
	case err = <-started:
	case <-time.After(r.cfg.timeout):
		t.Fatalf("dstreamtest: the job did not start within %v", r.cfg.timeout)
	}
	if err != nil {
		t.Fatalf("dstreamtest: starting the job: %v", err)
	}
	return &job{c: c, clock: clk, last: done}
}

// steps runs the batches of j up to batch last (from 1), one at a time.
func (r *runner[Out]) steps(j *job, last int) {
	t := r.t
	t.Helper()
	for j.last < last {
		j.clock.Advance(r.cfg.interval)
		j.last++
		bt := epoch().Add(time.Duration(j.last) * r.cfg.interval)
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.timeout)
		err := j.c.WaitForBatch(ctx, bt)
		timedOut := ctx.Err() != nil && j.c.State() != dstream.StateStopped
		cancel()
		switch {
		case err == nil:
		case timedOut:
			t.Fatalf("dstreamtest: batch %d at %d ms did not complete within %v; a slow job needs a longer Timeout", j.last-1, bt.UnixMilli(), r.cfg.timeout)
		default:
			t.Fatalf("dstreamtest: batch %d at %d ms: the job failed: %v", j.last-1, bt.UnixMilli(), err)
		}
	}
}

// stop stops j with mode, bounded by the timeout.
func (r *runner[Out]) stop(j *job, mode dstream.StopMode) {
	t := r.t
	t.Helper()
	stopped, err := stopWithin(j.c, mode, r.cfg.timeout)
	switch {
	case !stopped:
		t.Fatalf("dstreamtest: the job did not stop within %v after %d batches: a user function is still running", r.cfg.timeout, j.last)
	case err != nil:
		t.Fatalf("dstreamtest: stopping the job after %d batches: %v", j.last, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.timeout)
	defer cancel()
	if err := j.c.AwaitTermination(ctx); err != nil {
		t.Fatalf("dstreamtest: the job stopped after %d batches with an error: %v", j.last, err)
	}
}

// stopWithin stops c with mode, waiting at most about d, and returns
// whether Stop returned and its error: a hard stop still waits for the
// user function running then to return, which may never happen in a
// failed test.
func stopWithin(c *dstream.Context, mode dstream.StopMode, d time.Duration) (stopped bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Stop(ctx, mode) }()
	select {
	case err := <-done:
		return true, err
	case <-time.After(d + d/10):
		return false, nil
	}
}

// collect is the run's output operation: it records each batch by its
// index, so that a batch run again after a restart replaces its output.
func (r *runner[Out]) collect(_ context.Context, b *dstream.Batch[Out]) error {
	elems := b.Collect()
	if elems == nil {
		elems = []Out{}
	}
	d := b.Time.Sub(epoch())
	i := int(d/r.cfg.interval) - 1
	r.mu.Lock()
	defer r.mu.Unlock()
	if d%r.cfg.interval != 0 || i < 0 || i >= len(r.out) {
		r.stray = append(r.stray, b.Time)
		return nil
	}
	r.out[i] = elems
	return nil
}

// testLog writes the engine's warnings and errors to the test's log
// until the run ends; later ones (a context stopped by a cleanup) are
// dropped, since a test cannot log once it has finished.
type testLog struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Logf("dstreamtest: engine log: %s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}
