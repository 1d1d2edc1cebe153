package file_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/file"
)

// putFile writes a file with one line and the given modification time.
func putFile(t *testing.T, dir, name, line string, mod time.Time) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// TestFileStreamRecovery: after a crash, the batch that was pending is
// rebuilt with its own files, the files the checkpoint remembers are not
// read again, and new files are read.
func TestFileStreamRecovery(t *testing.T) {
	watch, ckpt := t.TempDir(), t.TempDir()
	var mu sync.Mutex
	got := map[int64][]string{}
	run := func(at time.Time, blockAt int64, entered chan struct{}) (*dstream.Context, *dstream.ManualClock) {
		clk := dstream.NewManualClock(at)
		ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quietLogger()), dstream.WithCheckpoint(ckpt))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
		err = file.TextStream(ssc, watch).ForEachBatch(func(ctx context.Context, b *dstream.Batch[string]) error {
			if b.Time.UnixMilli() == blockAt {
				close(entered)
				<-ctx.Done()
				return ctx.Err()
			}
			mu.Lock()
			got[b.Time.UnixMilli()] = b.Collect()
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := ssc.Start(); err != nil {
			t.Fatal(err)
		}
		return ssc, clk
	}
	step := func(ssc *dstream.Context, clk *dstream.ManualClock) {
		t.Helper()
		clk.Advance(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ssc.WaitForBatch(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}

	putFile(t, watch, "a", "from a", sec(0.5))
	putFile(t, watch, "b", "from b", sec(1.5))
	entered := make(chan struct{})
	ssc, clk := run(sec(0), 2000, entered)
	step(ssc, clk) // batch 1: a
	clk.Advance(time.Second)
	select { // batch 2 selected b, then the job dies in its output
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("batch 2 never reached its output")
	}
	if err := ssc.Stop(context.Background(), dstream.Hard); err != nil {
		t.Fatal(err)
	}

	putFile(t, watch, "c", "from c", sec(2.5))
	ssc2, clk2 := run(sec(2), 0, nil)
	if ok, _ := ssc2.Recovered(); !ok {
		t.Fatal("no recovery")
	}
	step(ssc2, clk2) // batch 2 again, and batch 3
	mu.Lock()
	defer mu.Unlock()
	for ms, want := range map[int64][]string{1000: {"from a"}, 2000: {"from b"}, 3000: {"from c"}} {
		if !slices.Equal(got[ms], want) {
			t.Errorf("batch %d ms = %v, want %v (all batches: %v)", ms, got[ms], want, got)
		}
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
