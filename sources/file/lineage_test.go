package file_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/file"
	"github.com/microbatch-go/microbatch/storage"
)

// pathsOutput records the Lineage source of every partition written, and
// the lines it held.
type pathsOutput struct {
	mu    sync.Mutex
	lines map[string][]string // file path -> lines
}

func (o *pathsOutput) Open(context.Context) error { return nil }
func (o *pathsOutput) Close() error               { return nil }
func (o *pathsOutput) Begin(context.Context, dstream.OutputBatch) (dstream.BatchWriter[string], error) {
	return o, nil
}
func (o *pathsOutput) Commit(context.Context) error { return nil }
func (o *pathsOutput) Abort(context.Context, error) {}
func (o *pathsOutput) WritePartition(_ context.Context, p *dstream.Partition[string]) error {
	if len(p.Lineage) != 1 {
		return nil // left out: the test finds no lines for the file
	}
	fi, ok := p.Lineage[0].Source.(storage.FileInfo)
	if !ok {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines[fi.Path] = slices.Collect(p.Records())
	return nil
}

// Each partition of a file batch names the file it read, in its Lineage.
func TestLineageIsTheFile(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	out := &pathsOutput{lines: map[string][]string{}}
	if err := file.TextStream(h.ssc, h.dir).WriteTo(out); err != nil {
		t.Fatal(err)
	}
	h.start()
	a := h.write("a.txt", "a1\na2\n", sec(100.5))
	b := h.write("b.txt", "b1\n", sec(100.7))
	h.step()
	out.mu.Lock()
	defer out.mu.Unlock()
	want := map[string][]string{filepath.ToSlash(a): {"a1", "a2"}, filepath.ToSlash(b): {"b1"}}
	if len(out.lines) != 2 {
		t.Fatalf("lines by file %v, want %v", out.lines, want)
	}
	for p, lines := range out.lines {
		if !slices.Equal(lines, want[p]) {
			t.Errorf("lines of %s = %q, want %q (all: %v)", p, lines, want[p], out.lines)
		}
	}
}
