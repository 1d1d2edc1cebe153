package runner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/ui"
)

// RunJob runs ssc until ctx ends or, when duration is positive, for that
// long, then stops it gracefully (bounded by the context's graceful stop
// timeout: RunFlags sets GracefulStop, so that a signal ends the job
// promptly; a stop that runs out returns dstream.ErrStopTimeout).
// When status is not nil it serves the status page on addr first, calls
// onURL with the page's address, and keeps it up until the job has
// stopped, not just until the signal that stops it.
func RunJob(ctx context.Context, ssc *dstream.Context, status *ui.Server, addr string, duration time.Duration, onURL func(url string)) error {
	if status != nil {
		uiCtx, stopUI := context.WithCancel(context.WithoutCancel(ctx))
		url, uiDone, err := status.Start(uiCtx, addr)
		if err != nil {
			stopUI()
			return fmt.Errorf("-ui: %w", err)
		}
		defer func() { stopUI(); <-uiDone }()
		onURL(url)
	}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	err := ssc.Run(ctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil // stopped while starting, as asked
	}
	return err
}

// RunFlags are the flags every streaming example has for its
// dependencies: -start-timeout and -max-outage.
type RunFlags struct {
	// StartTimeout bounds the start-up checks (dstream.WithStartTimeout).
	StartTimeout time.Duration
	// MaxOutage fails a job whose dependency is away this long
	// (dstream.WithMaxOutage); 0 waits.
	MaxOutage time.Duration
	// CheckpointReset moves an existing checkpoint aside and starts
	// afresh (dstream.WithCheckpointReset).
	CheckpointReset bool
}

// Register adds the flags to fs.
func (r *RunFlags) Register(fs *flag.FlagSet) {
	fs.DurationVar(&r.StartTimeout, "start-timeout", dstream.DefaultStartTimeout,
		"how long to wait at start for brokers, topics, storage and the checkpoint before exiting with status 3")
	fs.DurationVar(&r.MaxOutage, "max-outage", 0,
		"fail (exit 1) once a dependency has been unavailable this long while running; 0 waits, each progress line saying \"degraded\" and why")
	fs.BoolVar(&r.CheckpointReset, "checkpoint-reset", false,
		"start afresh: move the files of the checkpoint in -checkpoint into a discarded-<ms>/ subdirectory first (a checkpoint that cannot be used otherwise stops the job at start)")
}

// Check returns a usage error for values out of range.
func (r RunFlags) Check() error {
	switch {
	case r.StartTimeout <= 0:
		return Usagef("-start-timeout %v: want a positive duration", r.StartTimeout)
	case r.MaxOutage < 0:
		return Usagef("-max-outage %v must not be negative", r.MaxOutage)
	}
	return nil
}

// Options returns the context options for the flags, and the graceful
// stop timeout of the examples, GracefulStop.
func (r RunFlags) Options() []dstream.Option {
	opts := []dstream.Option{dstream.WithStartTimeout(r.StartTimeout), dstream.WithMaxOutage(r.MaxOutage),
		dstream.WithGracefulStopTimeout(GracefulStop)}
	if r.CheckpointReset {
		opts = append(opts, dstream.WithCheckpointReset())
	}
	return opts
}
