// Package cli is the shared frame of the example commands: signals, exit
// statuses and usage errors.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a command: run gets a context cancelled by SIGINT or SIGTERM
// (so that it stops gracefully), the arguments after the program name and
// the standard streams. A nil error or flag.ErrHelp exits 0, an error
// marked by Usage exits 2 and any other error 1, each printed as
// "name: error".
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(ExitCode(os.Stderr, name, err))
}

// ExitCode prints err, when there is one to print, as "name: err" to w and
// returns the exit status for it: 0 for nil and flag.ErrHelp, 2 for a
// usage error, 1 otherwise.
func ExitCode(w io.Writer, name string, err error) int {
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return 1
	}
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
