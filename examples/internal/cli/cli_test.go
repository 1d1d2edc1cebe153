package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
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
