package file_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/testtool"
)

// sec returns the time s seconds after the Unix epoch; tests run their
// ManualClock and file modification times near the epoch.
func sec(s float64) time.Time { return time.UnixMilli(int64(s * 1000)) }

// logBuffer collects the context's log lines.
type logBuffer struct{ testtool.Buffer }

// count returns how many log lines contain part.
func (l *logBuffer) count(part string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		if strings.Contains(line, part) {
			n++
		}
	}
	return n
}

// infos records completed batches' BatchInfo by batch time (ms).
type infos struct {
	mu sync.Mutex
	m  map[int64]dstream.BatchInfo
}

func (i *infos) OnBatchCompleted(b dstream.BatchInfo) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.m[b.BatchTime.UnixMilli()] = b
}

func (i *infos) at(ms int64) (dstream.BatchInfo, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	b, ok := i.m[ms]
	return b, ok
}

// harness runs a Context on a ManualClock that starts at start, stepping
// batch by batch, with a directory to monitor.
type harness struct {
	t     *testing.T
	clk   *dstream.ManualClock
	ssc   *dstream.Context
	iv    time.Duration
	dir   string // the monitored directory (or the root of several)
	logs  *logBuffer
	infos *infos
	last  time.Time // the time of the last batch run
}

// newHarness makes a context with batch interval iv on a ManualClock at
// start (a multiple of iv, so the first batch is at start + iv).
func newHarness(t *testing.T, iv time.Duration, start time.Time, opts ...dstream.Option) *harness {
	t.Helper()
	h := &harness{t: t, clk: dstream.NewManualClock(start), iv: iv, dir: t.TempDir(),
		logs: &logBuffer{}, infos: &infos{m: map[int64]dstream.BatchInfo{}}}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	all := append([]dstream.Option{dstream.WithClock(h.clk), dstream.WithLogger(logger), dstream.WithListener(h.infos)}, opts...)
	ssc, err := dstream.NewContext(iv, all...)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	h.ssc = ssc
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	return h
}

// start starts the context.
func (h *harness) start() {
	h.t.Helper()
	if err := h.ssc.Start(); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	h.last = h.ssc.ZeroTime()
}

// stepErr moves the clock to the next batch time and waits for that
// batch; it returns the batch's error.
func (h *harness) stepErr() (time.Time, error) {
	next := h.last.Add(h.iv)
	// Set, not Advance: a test's FS may have moved the clock past next.
	h.clk.Set(next)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard
	defer cancel()
	err := h.ssc.WaitForBatch(ctx, next)
	h.last = next
	return next, err
}

// step runs the next batch and returns its time.
func (h *harness) step() time.Time {
	h.t.Helper()
	bt, err := h.stepErr()
	if err != nil {
		h.t.Fatalf("batch %d ms: %v", bt.UnixMilli(), err)
	}
	return bt
}

// stepTo runs batches until the one at t.
func (h *harness) stepTo(t time.Time) {
	h.t.Helper()
	for h.last.Before(t) {
		h.step()
	}
}

// write writes a file (directories created) and sets its modification time.
func (h *harness) write(name, content string, mod time.Time) string {
	h.t.Helper()
	p := filepath.Join(h.dir, filepath.FromSlash(name))
	writeFile(h.t, p, content, mod)
	return filepath.ToSlash(p)
}

// writeFile writes p with content and sets its modification time.
func writeFile(t *testing.T, p, content string, mod time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
	touch(t, p, mod)
}

// touch sets the modification time of p.
func touch(t *testing.T, p string, mod time.Time) {
	t.Helper()
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// path returns the slash path of name in the monitored directory.
func (h *harness) path(name string) string {
	return filepath.ToSlash(filepath.Join(h.dir, filepath.FromSlash(name)))
}

// files returns the "files" metadata of the batch at t.
func (h *harness) files(t time.Time) []string {
	h.t.Helper()
	b, ok := h.infos.at(t.UnixMilli())
	if !ok {
		h.t.Fatalf("no BatchInfo for %d ms", t.UnixMilli())
	}
	if len(b.Inputs) != 1 {
		h.t.Fatalf("batch %d ms has inputs %+v, want one", t.UnixMilli(), b.Inputs)
	}
	files, ok := b.Inputs[0].Metadata["files"].([]string)
	if !ok {
		h.t.Fatalf("batch %d ms: metadata %v has no []string files", t.UnixMilli(), b.Inputs[0].Metadata)
	}
	return files
}

// sink records what an output operation saw per batch.
type sink[T any] struct {
	mu      sync.Mutex
	batches map[int64][][]T // batch time (ms) -> partitions
}

func collect[T any](t *testing.T, s *dstream.Stream[T]) *sink[T] {
	t.Helper()
	k := &sink[T]{batches: map[int64][][]T{}}
	err := s.ForEachBatch(func(_ context.Context, b *dstream.Batch[T]) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		parts := make([][]T, len(b.Partitions))
		for i, p := range b.Partitions {
			parts[i] = slices.Clone(p)
		}
		k.batches[b.Time.UnixMilli()] = parts
		return nil
	})
	if err != nil {
		t.Fatalf("ForEachBatch: %v", err)
	}
	return k
}

// parts returns the partitions of the batch at t.
func (k *sink[T]) parts(t time.Time) [][]T {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.batches[t.UnixMilli()]
}

// all returns the elements of the batch at t, in partition order.
func (k *sink[T]) all(t time.Time) []T {
	var out []T
	for _, p := range k.parts(t) {
		out = append(out, p...)
	}
	return out
}
