package runner

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/testtool"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{fmt.Errorf("parse: %w", flag.ErrHelp), 0, ""},
		{Usagef("-type is required"), 2, "cmd: -type is required\n"},
		{fmt.Errorf("flags: %w", Usage(errors.New("bad -batch"))), 2, "cmd: flags: bad -batch\n"},
		{errors.New("broker down"), 1, "cmd: broker down\n"},
	} {
		var b strings.Builder
		if got := ExitCode(&b, "cmd", tc.err); got != tc.code || b.String() != tc.out {
			t.Errorf("ExitCode(%v) = %d, printed %q; want %d, %q", tc.err, got, b.String(), tc.code, tc.out)
		}
	}
	if Usage(nil) != nil {
		t.Error("Usage(nil) is not nil")
	}
	if !IsUsage(Usagef("x")) || IsUsage(errors.New("x")) {
		t.Error("IsUsage")
	}
}

func TestExitCodeCannotStart(t *testing.T) {
	err := fmt.Errorf("running: %w", &dstream.StartError{Check: "kafka brokers 127.0.0.1:1", Err: errors.New("connection refused")})
	var b strings.Builder
	if got := ExitCode(&b, "cmd", err); got != ExitUnavailable {
		t.Errorf("ExitCode = %d, want %d", got, ExitUnavailable)
	}
	if want := "cmd: cannot start: running: kafka brokers 127.0.0.1:1: connection refused\n"; b.String() != want {
		t.Errorf("printed %q, want %q", b.String(), want)
	}
}

func TestWatchSignals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second os.Signal // nil: no second signal
		limit  time.Duration
		code   int
		msg    string
	}{
		{"second SIGTERM", syscall.SIGTERM, time.Hour, 143, "cmd: terminated again: exiting at once"},
		{"second SIGINT", os.Interrupt, time.Hour, 130, "cmd: interrupt again: exiting at once"},
		{"no stop in time", nil, 50 * time.Millisecond, ExitFailure, "cmd: the job did not stop within 50ms of the signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 2)
			cancelled := make(chan struct{})
			exited := make(chan int, 1)
			var out testtool.Buffer
			go watchSignals("cmd", sigs, func() { close(cancelled) }, &out, func(code int) { exited <- code }, tc.limit)
			sigs <- syscall.SIGTERM
			<-cancelled // the first signal cancels the run
			if tc.second != nil {
				select {
				case code := <-exited:
					t.Fatalf("exited with %d after one signal, before the limit", code)
				case <-time.After(20 * time.Millisecond):
				}
			}
			if tc.second != nil {
				sigs <- tc.second
			}
			if code := <-exited; code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			if !strings.Contains(out.String(), "cmd: terminated: stopping (a second signal exits at once)\n") || !strings.Contains(out.String(), tc.msg) {
				t.Errorf("printed %q; want the stop notice and %q", out.String(), tc.msg)
			}
		})
	}
}
