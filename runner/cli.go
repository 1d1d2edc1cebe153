// Package runner is the frame of a streaming command built on dstream:
// the run loop every example command uses, for jobs of one's own.
//
//	func main() { runner.Main("myjob", run) }
//
//	func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
//		fs := flag.NewFlagSet("myjob", flag.ContinueOnError)
//		var rf runner.RunFlags
//		rf.Register(fs) // -start-timeout, -max-outage, -checkpoint-reset
//		if err := runner.Parse(fs, args, stderr); err != nil {
//			return err // -h, -version, a usage error
//		}
//		ssc, err := dstream.NewContext(time.Second,
//			append(rf.Options(), dstream.WithLogger(runner.Logger(stderr)))...)
//		// ... build the job ...
//		return runner.RunJob(ctx, ssc, nil, "", 0, nil)
//	}
//
// It gives:
//
//   - Main: signals (the first SIGINT or SIGTERM stops the job
//     gracefully, a second exits at once), the error printed once and
//     mapped to an exit status;
//   - Parse: -h, -version, -log-format and -log-level, and usage errors of
//     one line;
//   - Output and Logger: one log/slog log on standard error, text or JSON;
//   - RunJob: a run for a -duration, with the status page (package ui:
//     batches, /metrics, /healthz, /readyz) served until the job stops;
//   - RunFlags: the start-up and outage flags.
//
// Exit statuses, the same in every command:
//
//	0    the job ended as asked (-duration, one signal, -once), -h, or
//	     -version
//	1    the job failed while running (a batch failed, an outage lasted
//	     longer than -max-outage, a stop that did not finish in time)
//	2    a bad command line
//	3    the job could not start: a dependency is unreachable or missing
//	     (brokers, topic, NameNode, Kudu masters, an output or checkpoint
//	     location), refuses the job's credentials (a SASL password, a TLS
//	     certificate, Kerberos), or the checkpoint directory is in use or
//	     cannot be used
//	130  a second SIGINT, 143 a second SIGTERM: exited at once
//
// Stopping: the first SIGINT or SIGTERM stops the job gracefully (the
// batches already cut are finished and committed); a stop that has not
// finished after GracefulStop turns hard (the batch running is abandoned,
// to be run again after a restart with a checkpoint) and the job exits
// with status 1, saying so; a process that still has not exited after
// StopLimit exits with status 1. A second signal
// exits at once. So a signal always ends the process within StopLimit,
// inside the 30 s orchestrators wait before SIGKILL.
package runner

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// Exit statuses (see the package documentation).
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitUnavailable = 3
)

// GracefulStop is how long a stop asked for by a signal waits for the
// batches already cut before it stops hard; StopLimit is how long after
// the signal the process exits in any case.
const (
	GracefulStop = 2500 * time.Millisecond
	StopLimit    = 4500 * time.Millisecond
)

// Main runs a command: run gets a context cancelled by the first SIGINT or
// SIGTERM (so that it stops gracefully), the arguments after the program
// name and the standard streams. A second signal exits at once, and the
// process exits within StopLimit of the first. The error is printed as
// "name: error" and mapped to an exit status by ExitCode.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stderr := NewOutput(os.Stderr)
	exit := func(code int) {
		stderr.Flush()
		os.Exit(code)
	}
	go watchSignals(name, sigs, cancel, stderr, exit, StopLimit)
	err := run(ctx, os.Args[1:], os.Stdout, stderr)
	signal.Stop(sigs)
	cancel()
	if errors.Is(err, ErrVersion) {
		fmt.Fprintln(os.Stdout, Version(name))
	}
	exit(ExitCode(stderr, name, err))
}

// ErrVersion is what Parse returns for -version: Main prints the
// command's version (Version) to standard output and exits with status 0.
var ErrVersion = errors.New("-version: print the version")

// Parse parses args into fs, the same way in every command:
//
//   - -h or -help prints the usage (every flag with its default) to
//     stderr and returns flag.ErrHelp: exit status 0;
//   - -version, which Parse adds to fs, returns ErrVersion: Main prints
//     the version to standard output, exit status 0;
//   - -log-format (text or json) and -log-level (debug, info, warn,
//     error), which Parse adds too, set the format and level of stderr
//     when it is an Output (see Output; Logger returns its logger);
//   - an unknown flag or a bad value returns a usage error naming it,
//     printed by Main as one line: exit status 2. The flag package itself
//     prints nothing, so the error is not printed twice.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	version := fs.Bool("version", false, "print the version (module version, VCS revision, Go version) and exit")
	var logs logFlags
	logs.register(fs)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stderr)
		fmt.Fprintf(stderr, "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return flag.ErrHelp
	case err != nil:
		return Usagef("%v (see %s -h)", err, fs.Name())
	case *version:
		return ErrVersion
	}
	if err := logs.apply(stderr); err != nil {
		return Usage(err)
	}
	return nil
}

// Version returns the command's version line from the build information
// the Go toolchain stamps into the binary: "name module version", the VCS
// revision and time when known (with "+dirty" for uncommitted changes),
// and the Go version.
func Version(name string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return name + " (no build information)"
	}
	line := fmt.Sprintf("%s %s %s", name, bi.Main.Path, cmp.Or(bi.Main.Version, "(devel)"))
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		line += " revision " + rev[:min(12, len(rev))] + dirty
		if at != "" {
			line += " of " + at
		}
	}
	return line + " " + bi.GoVersion
}

// watchSignals cancels the run at the first signal, then exits at the
// second, or when the run has not ended within limit.
func watchSignals(name string, sigs <-chan os.Signal, cancel context.CancelFunc, stderr io.Writer, exit func(int), limit time.Duration) {
	s := <-sigs
	printLine(stderr, slog.LevelWarn, "%s: %v: stopping (a second signal exits at once)", name, s)
	cancel()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case s = <-sigs:
		printLine(stderr, slog.LevelWarn, "%s: %v again: exiting at once, without finishing the batches under way", name, s)
		exit(128 + signalNumber(s))
	case <-timer.C:
		printLine(stderr, slog.LevelError, "%s: the job did not stop within %v of the signal: exiting without finishing", name, limit)
		exit(ExitFailure)
	}
}

// signalNumber returns s's number, for the 128+n exit status of a shell.
func signalNumber(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return int(n)
	}
	return int(syscall.SIGINT)
}

// ExitCode prints err, when there is one to print, as "name: err" to w and
// returns the exit status for it: 0 for nil and flag.ErrHelp, 2 for a
// usage error, 3 when the job could not start (Unavailable), 1 otherwise.
func ExitCode(w io.Writer, name string, err error) int {
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.Is(err, ErrVersion):
		return ExitOK
	case errors.As(err, &usage):
		printLine(w, slog.LevelError, "%s: %v", name, err)
		return ExitUsage
	case Unavailable(err):
		printLine(w, slog.LevelError, "%s: cannot start: %v", name, err)
		return ExitUnavailable
	default:
		printLine(w, slog.LevelError, "%s: %v", name, err)
		return ExitFailure
	}
}

// Unavailable reports whether err says that the job could not start
// because of something outside the command line: a dependency that a
// start-up check found unreachable or missing, a checkpoint directory
// another job holds, or a checkpoint that cannot be used.
func Unavailable(err error) bool {
	var se *dstream.StartError
	return errors.As(err, &se) || errors.Is(err, dstream.ErrCheckpointLocked) || errors.Is(err, dstream.ErrCheckpointUnusable)
}

// Usage marks err as a bad command line (exit status 2). It returns nil
// for nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

// Usagef is Usage(fmt.Errorf(format, args...)).
func Usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// IsUsage reports whether err is, or wraps, a usage error.
func IsUsage(err error) bool {
	var usage *usageError
	return errors.As(err, &usage)
}

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }
