package hdfs_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/sources/file"
)

// TestCheckpointOnHDFS keeps a job's checkpoint directory on HDFS: running
// totals survive a restart, restored from the HDFS test server through the
// real client.
func TestCheckpointOnHDFS(t *testing.T) {
	c := hdfstest.New(t, hdfstest.WithBlockSize(64<<10))
	ckpt := "hdfs://" + c.Addr() + "/jobs/wc/checkpoint?user=test"
	watch := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	totals := map[int64]map[string]int{}

	run := func(at time.Time) (*dstream.Context, *dstream.ManualClock) {
		clk := dstream.NewManualClock(at)
		ssc, err := dstream.GetOrCreate(ckpt, time.Second, func(ssc *dstream.Context) error {
			words := dstream.FlatMap(file.TextStream(ssc, watch), strings.Fields)
			pairs := dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
			tot := dstream.UpdateStateByKey(pairs, func(vs []int, s *int) (int, bool) {
				n := len(vs)
				if s != nil {
					n += *s
				}
				return n, true
			}).Named("totals")
			return tot.ForEachBatch(func(_ context.Context, b *dstream.Batch[dstream.Pair[string, int]]) error {
				m := map[string]int{}
				for p := range b.All() {
					m[p.Key] = p.Value
				}
				mu.Lock()
				totals[b.Time.UnixMilli()] = m
				mu.Unlock()
				return nil
			})
		}, dstream.WithClock(clk), dstream.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
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
	put := func(name, text string, mod time.Time) {
		p := filepath.Join(watch, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}

	put("a", "x y x\n", time.UnixMilli(500))
	ssc, clk := run(time.UnixMilli(0))
	step(ssc, clk)
	if err := ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	put("b", "x z\n", time.UnixMilli(1500))
	ssc2, clk2 := run(time.UnixMilli(1000))
	if ok, _ := ssc2.Recovered(); !ok {
		t.Fatal("the second run did not find the checkpoint on HDFS")
	}
	step(ssc2, clk2)
	mu.Lock()
	defer mu.Unlock()
	if got := totals[2000]; got["x"] != 3 || got["y"] != 1 || got["z"] != 1 {
		t.Errorf("totals after the restart = %v, want x=3 y=1 z=1", got)
	}
}
