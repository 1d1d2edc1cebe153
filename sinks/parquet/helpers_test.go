package parquetsink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness runs a context on a manual clock at the Unix epoch with a queue
// stream, so that batch i (from 1) is at i*1000 ms.
type harness[T any] struct {
	t   *testing.T
	ssc *dstream.Context
	clk *dstream.ManualClock
	q   *dstream.Queue[T]
	s   *dstream.Stream[T]
}

func newHarness[T any](t *testing.T, parallelism int, opts ...dstream.Option) *harness[T] {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	opts = append([]dstream.Option{dstream.WithClock(clk), dstream.WithParallelism(parallelism), dstream.WithLogger(quietLogger)}, opts...)
	ssc, err := dstream.NewContext(time.Second, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ssc.Stop(context.Background(), dstream.Hard) })
	q := dstream.NewQueue[T]()
	return &harness[T]{t: t, ssc: ssc, clk: clk, q: q, s: dstream.QueueStream(ssc, q, dstream.EmptyWhenIdle())}
}

func (h *harness[T]) start() {
	h.t.Helper()
	if err := h.ssc.Start(); err != nil {
		h.t.Fatal(err)
	}
}

// step runs the next batch and returns its error.
func (h *harness[T]) step() error {
	h.clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.ssc.WaitForBatch(ctx, h.clk.Now()); err != nil {
		if aerr := h.ssc.AwaitTermination(ctx); aerr != nil {
			return aerr
		}
		return err
	}
	return nil
}

// mustStep runs the next batch, which must succeed.
func (h *harness[T]) mustStep() {
	h.t.Helper()
	if err := h.step(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness[T]) stop() {
	h.t.Helper()
	if err := h.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		h.t.Fatal(err)
	}
}

// files returns the paths of the files under dir, relative and slashed,
// sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// dataFiles is files less the staging directory.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	return slices.DeleteFunc(files(t, dir), func(p string) bool { return strings.HasPrefix(p, "_temporary/") })
}

// readAll reads every data file under dir with parquet-go, in file name
// order.
func readAll[T any](t *testing.T, dir string) []T {
	t.Helper()
	var out []T
	for _, f := range dataFiles(t, dir) {
		rows, err := parquet.ReadFile[T](filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		out = append(out, rows...)
	}
	return out
}

// faultFS wraps the local disk and fails operations on demand. It is
// reached through the URI faultfs://<name>/<absolute path>, registered
// with storage.Register, so that the sink is tested through storage.Open
// as users use it.
type faultFS struct {
	storage.FS
	mu           sync.Mutex
	failRenameAt int // fail the n-th rename (1-based) of a data file, 0 never
	renames      int
	failRemoves  bool // fail every remove, as a crash leaves everything in place
	failWrites   bool // fail writes to data files
}

var errInjected = errors.New("injected fault")

var faults = struct {
	sync.Mutex
	m map[string]*faultFS
}{m: map[string]*faultFS{}}

func init() {
	storage.Register("faultfs", func(u *url.URL) (storage.FS, error) {
		faults.Lock()
		defer faults.Unlock()
		f := faults.m[u.Host]
		if f == nil {
			return nil, fmt.Errorf("no fault FS %q", u.Host)
		}
		return f, nil
	})
}

// newFaultFS returns a fault FS and the URI of dir on it.
func newFaultFS(t *testing.T, dir string) (*faultFS, string) {
	f := &faultFS{FS: storage.Local()}
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	faults.Lock()
	faults.m[name] = f
	faults.Unlock()
	t.Cleanup(func() {
		faults.Lock()
		delete(faults.m, name)
		faults.Unlock()
	})
	return f, "faultfs://" + name + filepath.ToSlash(dir)
}

func (f *faultFS) Rename(ctx context.Context, from, to string) error {
	f.mu.Lock()
	fail := false
	if strings.HasSuffix(to, ".parquet") {
		f.renames++
		fail = f.renames == f.failRenameAt
	}
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.FS.Rename(ctx, from, to)
}

func (f *faultFS) Remove(ctx context.Context, name string) error {
	f.mu.Lock()
	fail := f.failRemoves
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.FS.Remove(ctx, name)
}

func (f *faultFS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	f.mu.Lock()
	failWrites := f.failWrites && strings.HasSuffix(name, ".tmp")
	f.mu.Unlock()
	w, err := f.FS.Create(ctx, name)
	if err != nil || !failWrites {
		return w, err
	}
	return failingWriter{w}, nil
}

func (f *faultFS) set(fn func(f *faultFS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// failingWriter fails every write.
type failingWriter struct{ io.WriteCloser }

func (w failingWriter) Write(p []byte) (int, error) { return 0, errInjected }

// CreateExclusive passes exclusive creates (claims of Rotate) through.
func (f *faultFS) CreateExclusive(ctx context.Context, name string) (io.WriteCloser, error) {
	return storage.CreateExclusive(ctx, f.FS, name)
}
