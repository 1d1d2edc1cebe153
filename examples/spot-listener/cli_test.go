package main

// Tests of the spot-listener command as a program: the binary is built
// once and run as a subprocess against an in-process Kafka (kfake) on a
// loopback port.

import (
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// buildListener builds the command, once per test process.
func buildListener(t *testing.T) string {
	t.Helper()
	return proctest.Build(t, "./examples/spot-listener")
}

// The exit statuses: 2 for a usage error, 0 for -print-ddl and -h, 1 for
// a failure; SIGTERM stops a running listener gracefully with status 0.
func TestCLIExitStatus(t *testing.T) {
	bin := buildListener(t)
	for _, tc := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{}, 2, "spot-listener: -type is required"},
		{[]string{"-type", "flow"}, 2, "-out is required"},
		{[]string{"-type", "flow", "-out", "/x", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"-h"}, 0, "Usage of spot-listener"},
		{[]string{"-type", "proxy", "-print-ddl"}, 0, ""},
		{[]string{"-type", "flow", "-out", "nosuch://x"}, 1, "spot-listener: -out nosuch://x"},
	} {
		p := proctest.Start(t, bin, tc.args...)
		if got := p.ExitCode(t, 30*time.Second); got != tc.status || !strings.Contains(p.Stderr.String(), tc.stderr) {
			t.Errorf("spot-listener %q: status %d, stderr:\n%s\nwant status %d and %q", tc.args, got, p.Stderr.String(), tc.status, tc.stderr)
		}
	}
	want, _ := spot.DDL(spot.Proxy, "spot", "/user/spot/proxy/hive")
	p := proctest.Start(t, bin, "-type", "proxy", "-print-ddl")
	p.ExitCode(t, 30*time.Second)
	if p.Stdout.String() != want {
		t.Errorf("-print-ddl printed\n%s", p.Stdout.String())
	}

	c := kafkatest.New(t, map[string]int32{"spot-dns": 1})
	lines := testLines(t, dnsSample)
	produce(t, c, "spot-dns", message{0, chunk(t, lines...)})
	out := filepath.Join(t.TempDir(), "dns")
	p = proctest.Start(t, bin, "-type", "dns", "-brokers", c.Addrs[0], "-batch", "100ms", "-out", out)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.Stderr.String(), "records=1 lines=10 rows=10 dead=0") {
		if time.Now().After(deadline) {
			t.Fatalf("no batch read the chunk\nstderr:\n%s", p.Stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := p.ExitCode(t, 30*time.Second); got != 0 {
		t.Fatalf("status %d after SIGTERM\nstderr:\n%s", got, p.Stderr.String())
	}
	if !regexp.MustCompile(`msg=stopped batches=\d+ records=1 lines=10 rows=10 dead=0`).MatchString(p.Stderr.String()) {
		t.Errorf("no summary at the stop:\n%s", p.Stderr.String())
	}
	n := 0
	for _, rows := range readTable[spot.DNSRow](t, out) {
		n += len(rows)
	}
	if n != 10 {
		t.Errorf("%d rows written, want 10", n)
	}
	if got := c.Committed("spot-listener-dns")["spot-dns"][0]; got != 1 {
		t.Errorf("committed offset %d, want 1", got)
	}
}
