package runner

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/ui"
)

// RunJob runs ssc until ctx ends or, when duration is positive, for that
// long: Job{Context: ssc, Status: status, Addr: addr, Duration: duration,
// OnURL: onURL}.Run(ctx).
func RunJob(ctx context.Context, ssc *dstream.Context, status *ui.Server, addr string, duration time.Duration, onURL func(url string)) error {
	return Job{Context: ssc, Status: status, Addr: addr, Duration: duration, OnURL: onURL}.Run(ctx)
}

// Job is a streaming job to run, with its status page.
type Job struct {
	// Context is the job.
	Context *dstream.Context
	// Status, when not nil, is served on Addr while the job runs (and
	// until it has stopped, not just until the signal that stops it);
	// OnURL, when not nil, is called with the page's address.
	Status *ui.Server
	Addr   string
	OnURL  func(url string)
	// Duration, when positive, is how long the job runs before it stops
	// gracefully.
	Duration time.Duration
	// Linger, when positive, keeps the status page up this long after
	// the job failed, so that its error can be seen on the page, in the
	// API and in /healthz; ctx ending (a signal) ends it at once.
	Linger time.Duration
}

// Run runs the job until ctx ends or Duration has passed, then stops it
// gracefully (bounded by the context's graceful stop timeout: RunFlags
// sets GracefulStop, so that a signal ends the job promptly; a stop that
// runs out returns dstream.ErrStopTimeout). It returns the job's error;
// nil when it stopped as asked.
func (j Job) Run(ctx context.Context) error {
	if j.Status != nil {
		uiCtx, stopUI := context.WithCancel(context.WithoutCancel(ctx))
		url, uiDone, err := j.Status.Start(uiCtx, j.Addr)
		if err != nil {
			stopUI()
			return fmt.Errorf("-ui: %w", err)
		}
		defer func() { stopUI(); <-uiDone }()
		if j.OnURL != nil {
			j.OnURL(url)
		}
	}
	runCtx := ctx
	if j.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, j.Duration)
		defer cancel()
	}
	err := j.Context.Run(runCtx)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil // stopped while starting, as asked
	}
	if err != nil && j.Status != nil && j.Linger > 0 && ctx.Err() == nil {
		j.Context.Logger().Error("the job failed; its status page stays up for -ui-linger, or until a signal",
			"ui_linger", j.Linger, "error", err)
		t := time.NewTimer(j.Linger)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return err
}

// RunFlags are the flags every streaming example has for its
// dependencies and its run: -start-timeout, -max-outage,
// -checkpoint-reset, -ui-linger and the status page's certificate,
// -ui-tls-cert and -ui-tls-key.
type RunFlags struct {
	// StartTimeout bounds the start-up checks (dstream.WithStartTimeout).
	StartTimeout time.Duration
	// MaxOutage fails a job whose dependency is away this long
	// (dstream.WithMaxOutage); 0 waits.
	MaxOutage time.Duration
	// CheckpointReset moves an existing checkpoint aside and starts
	// afresh (dstream.WithCheckpointReset).
	CheckpointReset bool
	// UILinger keeps the status page up after a failure (Job.Linger).
	UILinger time.Duration
	// UITLSCert and UITLSKey are PEM files of the status page's
	// certificate (chain) and key: with both, it serves HTTPS.
	UITLSCert, UITLSKey string
}

// Register adds the flags to fs.
func (r *RunFlags) Register(fs *flag.FlagSet) {
	fs.DurationVar(&r.StartTimeout, "start-timeout", dstream.DefaultStartTimeout,
		"how long to wait at start for brokers, topics, storage and the checkpoint before exiting with status 3")
	fs.DurationVar(&r.MaxOutage, "max-outage", 0,
		"fail (exit 1) once a dependency has been unavailable this long while running; 0 waits, each progress line saying \"degraded\" and why")
	fs.DurationVar(&r.UILinger, "ui-linger", 0,
		"with -ui: after the job failed, keep the status page up this long (or until a signal), to see the error there")
	fs.StringVar(&r.UITLSCert, "ui-tls-cert", "",
		"with -ui: serve the status page over HTTPS with this PEM certificate (chain) file; needs -ui-tls-key")
	fs.StringVar(&r.UITLSKey, "ui-tls-key", "",
		"with -ui-tls-cert: the PEM file of the certificate's private key")
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
	case r.UILinger < 0:
		return Usagef("-ui-linger %v must not be negative", r.UILinger)
	case (r.UITLSCert == "") != (r.UITLSKey == ""):
		return Usagef("-ui-tls-cert and -ui-tls-key go together")
	}
	return nil
}

// NewStatus returns the status page of a job named name whose batch
// interval is interval, logging to logger, with the flags' certificate
// (UIOptions).
func (r RunFlags) NewStatus(interval time.Duration, name string, logger *slog.Logger) (*ui.Server, error) {
	opts, err := r.UIOptions()
	if err != nil {
		return nil, err
	}
	return ui.New(interval, append(opts, ui.WithLogger(logger), ui.WithName(name))...)
}

// UIOptions returns the status page's options for the flags: WithTLS
// with the certificate of -ui-tls-cert and -ui-tls-key, when given. An
// unreadable or mismatched pair is an error naming the files.
func (r RunFlags) UIOptions() ([]ui.Option, error) {
	if r.UITLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(r.UITLSCert, r.UITLSKey)
	if err != nil {
		return nil, fmt.Errorf("-ui-tls-cert %s, -ui-tls-key %s: %w", r.UITLSCert, r.UITLSKey, err)
	}
	return []ui.Option{ui.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})}, nil
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
