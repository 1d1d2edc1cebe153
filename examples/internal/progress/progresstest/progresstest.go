// Package progresstest runs an example command in the test's process
// until its progress lines (package progress) say it has read enough.
package progresstest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/progress"
	"github.com/microbatch-go/microbatch/internal/testtool"
)

// Run is a command's run function: what its main calls.
type Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// RunUntil runs run with args until the records of its progress lines add
// up to at least records, then cancels it as SIGTERM would and returns
// its standard error. A failed batch, run returning early or an error
// from it, and 30 s without reaching records fail the test.
func RunUntil(t testing.TB, run Run, args []string, records int64) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testtool.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	deadline := time.After(30 * time.Second)
	for {
		var read int64
		for _, l := range progress.Lines(stderr.String()) {
			if l.Err != "" {
				cancel()
				<-done
				t.Fatalf("a batch failed: %s\nstderr:\n%s", l.Err, stderr.String())
			}
			read += l.Records
		}
		if read >= records {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before reading %d records: %v\nstderr:\n%s", records, err, stderr.String())
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("%d of %d records read after 30 s\nstderr:\n%s", read, records, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	return stderr.String()
}
