package file_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/file"
	"github.com/microbatch-go/microbatch/storage"
)

// selection runs a text stream over files with chosen modification times
// and checks which batch selects each one (Spark's isNewFile). want is
// the batch time (seconds) that selects the file, or 0 for none of the
// batches run.
type selection struct {
	name string
	mod  float64 // modification time, seconds since the epoch
	want float64
}

// runSelection writes the files, starts, runs batches up to last and
// checks each batch's "files" metadata and records.
func runSelection(t *testing.T, h *harness, files []selection, last float64, opts ...file.Option) {
	t.Helper()
	lines := collect(t, file.TextStream(h.ssc, h.dir, opts...))
	for _, f := range files {
		h.write(f.name, f.name+"\n", sec(f.mod))
	}
	h.start()
	for h.last.Before(sec(last)) {
		bt := h.step()
		var want []string
		for _, f := range files {
			if sec(f.want).Equal(bt) {
				want = append(want, f.name)
			}
		}
		slices.Sort(want)
		var wantPaths []string
		for _, n := range want {
			wantPaths = append(wantPaths, h.path(n))
		}
		if got := h.files(bt); !slices.Equal(got, wantPaths) {
			t.Errorf("batch %v s selected %q, want %q", bt.UnixMilli()/1000, got, wantPaths)
		}
		if got := lines.all(bt); !slices.Equal(got, want) {
			t.Errorf("batch %v s read %q, want %q", bt.UnixMilli()/1000, got, want)
		}
	}
}

// A new file is one whose modification time is after the start time (the
// ignore threshold) and at or before the batch time.
func TestModTimeBoundaries(t *testing.T) {
	h := newHarness(t, time.Second, sec(100)) // the start time, and ignore threshold, is 100 s
	runSelection(t, h, []selection{
		{"before-start", 99, 0},
		{"at-threshold", 100, 0}, // exactly the threshold: ignored
		{"after-threshold", 100.001, 101},
		{"at-batch-time", 101, 101}, // exactly the batch time: taken
		{"after-batch-time", 101.001, 102},
		{"mid-interval", 102.5, 103},
		{"future", 1000, 0},
	}, 104)
}

// Without NewFilesOnly, files already there are read if they are inside
// the remember window: ignoreThreshold = batch time - 60 s.
func TestNewFilesOnlyFalse(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	runSelection(t, h, []selection{
		{"older-than-window", 40, 0},
		{"at-window-start", 41, 0}, // 101 s - 60 s: exactly the threshold
		{"inside-window", 41.001, 101},
		{"before-start", 99, 101},
		{"at-start", 100, 101},
		{"after-start", 101.5, 102},
	}, 103, file.NewFilesOnly(false))
}

// NewFilesOnly(true) is the default.
func TestNewFilesOnly(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []file.Option
		want float64 // the batch that reads the file written before the start
	}{
		{"default", nil, 0},
		{"true", []file.Option{file.NewFilesOnly(true)}, 0},
		{"false", []file.Option{file.NewFilesOnly(false)}, 101},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, time.Second, sec(100))
			runSelection(t, h, []selection{{"old", 99.5, tt.want}, {"new", 100.5, 101}}, 102, tt.opts...)
		})
	}
}

// The remember window is MinRememberDuration rounded up to whole batch
// intervals: 60 s with 7 s batches is 63 s, 10 s is 14 s.
func TestRememberWindowRounding(t *testing.T) {
	for _, tt := range []struct {
		min   time.Duration
		files []selection
	}{
		{60 * time.Second, []selection{
			{"outside", 644, 0}, // 707 s - 63 s
			{"inside", 644.001, 707},
			{"inside-63-not-60", 646, 707}, // a 60 s window would ignore it
		}},
		{10 * time.Second, []selection{
			{"outside", 693, 0}, // 707 s - 14 s
			{"inside", 693.001, 707},
			{"inside-14-not-10", 696, 707},
		}},
	} {
		t.Run(tt.min.String(), func(t *testing.T) {
			h := newHarness(t, 7*time.Second, sec(700)) // first batch at 707 s
			runSelection(t, h, tt.files, 714, file.NewFilesOnly(false), file.MinRememberDuration(tt.min))
		})
	}
}

// A file that appears late, with a modification time already behind
// earlier batches but inside the window, is read; one behind the window
// is never read.
func TestLateFiles(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	lines := collect(t, file.TextStream(h.ssc, h.dir, file.NewFilesOnly(false)))
	h.start()
	h.stepTo(sec(105))
	h.write("late", "late\n", sec(102.5))          // threshold at 106 s is 46 s
	h.write("too-late", "too-late\n", sec(45.999)) // behind it
	h.write("edge", "edge\n", sec(46))             // exactly it
	bt := h.step()
	if got := lines.all(bt); !slices.Equal(got, []string{"late"}) {
		t.Errorf("batch 106 s read %q, want [late]", got)
	}
	for range 5 {
		if bt := h.step(); len(h.files(bt)) != 0 {
			t.Errorf("batch %v selected %q", bt, h.files(bt))
		}
	}
}

// A file's records are read once: appending to it or rewriting it while
// its batch is remembered does not make it new again.
func TestUpdatedFilesAreNotReread(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	lines := collect(t, file.TextStream(h.ssc, h.dir))
	a := h.write("a", "v1\n", sec(100.5))
	b := h.write("b", "b1\n", sec(100.5))
	h.start()
	if bt := h.step(); !slices.Equal(lines.all(bt), []string{"v1", "b1"}) {
		t.Fatalf("batch 101 s read %q", lines.all(bt))
	}
	// Append to a, rewrite b, with new modification times.
	f, err := os.OpenFile(filepath.FromSlash(a), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("v2\n")
	f.Close()
	touch(t, a, sec(101.5))
	writeFile(t, b, "b2\n", sec(102.5))
	h.write("c", "c1\n", sec(101.5))
	if bt := h.step(); !slices.Equal(lines.all(bt), []string{"c1"}) {
		t.Errorf("batch 102 s read %q, want only the new file", lines.all(bt))
	}
	for range 10 {
		if bt := h.step(); len(lines.all(bt)) != 0 {
			t.Errorf("batch %d ms read %q", bt.UnixMilli(), lines.all(bt))
		}
	}
}

// The files a batch selected are forgotten one remember window plus one
// interval after it (Spark forgets them when the batch one window later
// completes). A file whose modification time is then inside the window,
// because it was updated after its batch, is read again; one updated soon
// after its batch is below the threshold by then and is not.
func TestForgottenAfterWindow(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	lines := collect(t, file.TextStream(h.ssc, h.dir, file.NewFilesOnly(false), file.MinRememberDuration(3*time.Second)))
	a := h.write("a", "a1\n", sec(100.5))
	b := h.write("b", "b1\n", sec(100.5))
	h.start()
	if bt := h.step(); !slices.Equal(lines.all(bt), []string{"a1", "b1"}) { // 101 s
		t.Fatalf("batch 101 s read %q", lines.all(bt))
	}
	writeFile(t, b, "b2\n", sec(101.5)) // updated one interval after its batch
	h.stepTo(sec(103))
	writeFile(t, a, "a2\n", sec(103.5)) // updated later
	want := map[int64][]string{
		// 104 s, 105 s: the batch of 101 s is remembered (through 101 + 3 + 1 s).
		// 106 s: forgotten; a (103.5 s) is inside (103 s, 106 s], b (101.5 s) is not.
		106: {"a2"},
	}
	for s := int64(104); s <= 112; s++ {
		bt := h.step()
		if got := lines.all(bt); !slices.Equal(got, want[s]) {
			t.Errorf("batch %d s read %q, want %q", s, got, want[s])
		}
	}
}

// flakyFS fails List while fail is set.
type flakyFS struct {
	storage.FS
	fail atomic.Bool
}

func (f *flakyFS) List(ctx context.Context, dir string) ([]storage.FileInfo, error) {
	if f.fail.Load() {
		return nil, errors.New("namenode unreachable")
	}
	return f.FS.List(ctx, dir)
}

// A listing error is logged and gives an empty batch; the job goes on and
// a later batch picks up the files it missed.
func TestListingErrorGivesEmptyBatch(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	fsys := &flakyFS{FS: storage.Local()}
	lines := collect(t, file.TextStream(h.ssc, h.dir, file.WithFS(fsys)))
	h.write("a", "a\n", sec(100.5))
	h.start()
	fsys.fail.Store(true)
	bt := h.step()
	if got := lines.parts(bt); len(got) != 0 {
		t.Errorf("batch 101 s has partitions %q, want none", got)
	}
	if info, _ := h.infos.at(bt.UnixMilli()); info.NumRecords() != 0 || len(h.files(bt)) != 0 {
		t.Errorf("batch 101 s: %d records, files %q; want none", info.NumRecords(), h.files(bt))
	}
	if n := h.logs.count("level=WARN"); n != 1 || h.logs.count("namenode unreachable") != 1 {
		t.Errorf("logs:\n%s\nwant one warning with the listing error", h.logs)
	}
	if info, _ := h.infos.at(bt.UnixMilli()); len(info.Degraded) != 1 || !strings.Contains(info.Degraded[0].String(), "file stream "+h.dir+": finding new files (the batch is empty): namenode unreachable") {
		t.Errorf("batch 101 s: Degraded = %v; want the listing error", info.Degraded)
	}
	fsys.fail.Store(false)
	if bt := h.step(); !slices.Equal(lines.all(bt), []string{"a"}) {
		t.Errorf("batch 102 s read %q, want the file the failed listing missed", lines.all(bt))
	} else if info, _ := h.infos.at(bt.UnixMilli()); len(info.Degraded) != 0 {
		t.Errorf("batch 102 s: still degraded: %v", info.Degraded)
	}
	if st := h.ssc.State(); st != dstream.StateActive {
		t.Errorf("context state %v after a listing error, want active", st)
	}
}

// slowFS moves the ManualClock forward during its first List once armed
// (after the start-up check's listing), as a slow listing would.
type slowFS struct {
	storage.FS
	clk   *dstream.ManualClock
	delay time.Duration
	armed atomic.Bool
	calls atomic.Int32
}

func (f *slowFS) List(ctx context.Context, dir string) ([]storage.FileInfo, error) {
	if f.armed.Load() && f.calls.Add(1) == 1 {
		f.clk.Advance(f.delay)
	}
	return f.FS.List(ctx, dir)
}

// A listing that takes longer than the batch interval is logged.
func TestSlowListingWarns(t *testing.T) {
	for _, tt := range []struct {
		delay time.Duration
		warn  bool
	}{
		{time.Second, false}, // exactly the interval
		{time.Second + time.Millisecond, true},
		{5 * time.Second, true},
	} {
		t.Run(tt.delay.String(), func(t *testing.T) {
			h := newHarness(t, time.Second, sec(100))
			fsys := &slowFS{FS: storage.Local(), clk: h.clk, delay: tt.delay}
			lines := collect(t, file.TextStream(h.ssc, h.dir, file.WithFS(fsys)))
			h.write("a", "a\n", sec(100.5))
			h.start()
			fsys.armed.Store(true)
			bt := h.step()
			if !slices.Equal(lines.all(bt), []string{"a"}) {
				t.Errorf("batch 101 s read %q", lines.all(bt))
			}
			const msg = "took longer than the batch interval"
			if got := h.logs.count(msg) == 1; got != tt.warn {
				t.Errorf("warned %v, want %v; logs:\n%s", got, tt.warn, h.logs)
			}
			h.stepTo(sec(107)) // the batches the slow listing delayed run
			if h.logs.count(msg) > 1 {
				t.Errorf("more than one warning:\n%s", h.logs)
			}
		})
	}
}

// A glob monitors every directory it matches, including ones created
// later; subdirectories of a monitored directory are not read.
func TestGlobDirectories(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	lines := collect(t, file.TextStream(h.ssc, h.dir+"/*/in"))
	h.write("a/in/x", "x\n", sec(100.5))
	h.write("b/in/y", "y\n", sec(100.5))
	h.write("b/in/.y.tmp", "hidden\n", sec(100.5))
	h.write("c/out/z", "z\n", sec(100.5))
	h.write("a/in/sub/w", "w\n", sec(100.5))
	touch(t, filepath.Join(h.dir, "a", "in", "sub"), sec(100.5)) // a directory inside the window
	h.start()
	bt := h.step()
	if got, want := h.files(bt), []string{h.path("a/in/x"), h.path("b/in/y")}; !slices.Equal(got, want) {
		t.Errorf("batch 101 s selected %q, want %q", got, want)
	}
	if !slices.Equal(lines.all(bt), []string{"x", "y"}) {
		t.Errorf("batch 101 s read %q", lines.all(bt))
	}
	h.write("d/in/v", "v\n", sec(101.5))
	if bt := h.step(); !slices.Equal(lines.all(bt), []string{"v"}) {
		t.Errorf("batch 102 s read %q, want the file of the new directory", lines.all(bt))
	}
}

// The default filter skips names that start with "."; Filter replaces it.
func TestFilter(t *testing.T) {
	names := []string{"a.txt", ".hidden", "_SUCCESS", "b.csv", ".c.csv"}
	for _, tt := range []struct {
		name string
		opts []file.Option
		want []string
	}{
		{"default", nil, []string{"_SUCCESS", "a.txt", "b.csv"}},
		{"custom", []file.Option{file.Filter(func(f storage.FileInfo) bool { return strings.HasSuffix(f.Name, ".csv") })},
			[]string{".c.csv", "b.csv"}},
		{"custom with the default", []file.Option{file.Filter(func(f storage.FileInfo) bool {
			return file.DefaultFilter(f) && strings.HasSuffix(f.Name, ".csv")
		})}, []string{"b.csv"}},
		{"sees the file info", []file.Option{file.Filter(func(f storage.FileInfo) bool {
			return f.Size > 8 && !f.IsDir && strings.HasSuffix(f.Path, "/"+f.Name)
		})}, []string{"_SUCCESS"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, time.Second, sec(100))
			var files []selection
			for _, n := range names {
				want := 0.0
				if slices.Contains(tt.want, n) {
					want = 101
				}
				files = append(files, selection{n, 100.5, want})
			}
			runSelection(t, h, files, 102, tt.opts...)
		})
	}
}

// Lines end with "\n" and lose a "\r" before it; a last line without a
// terminator counts. Each file is one partition, in path order.
func TestTextLines(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	lines := collect(t, file.TextStream(h.ssc, h.dir))
	long := strings.Repeat("x", 300<<10) // longer than any read buffer
	h.write("1-crlf", "a\r\nb\r\n", sec(100.5))
	h.write("2-no-terminator", "c\nd", sec(100.5))
	h.write("3-empty", "", sec(100.5))
	h.write("4-blank-lines", "\n\ne\n", sec(100.5))
	h.write("5-long", long+"\r\nshort", sec(100.5))
	h.start()
	bt := h.step()
	want := [][]string{{"a", "b"}, {"c", "d"}, {}, {"", "", "e"}, {long, "short"}}
	got := lines.parts(bt)
	if len(got) != len(want) {
		t.Fatalf("batch has %d partitions, want one per file (%d)", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("partition %d = %.40q, want %.40q", i, got[i], want[i])
		}
	}
	if info, _ := h.infos.at(bt.UnixMilli()); info.NumRecords() != 9 {
		t.Errorf("NumRecords = %d, want 9", info.NumRecords())
	}
}

// A line longer than MaxLineBytes fails the batch, naming the file.
func TestMaxLineBytes(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	lines := collect(t, file.TextStream(h.ssc, h.dir, file.MaxLineBytes(10)))
	h.write("ok", "0123456789\r\n0123456789", sec(100.5)) // terminators do not count
	h.start()
	if bt := h.step(); len(lines.all(bt)) != 2 {
		t.Fatalf("batch 101 s read %q", lines.all(bt))
	}
	bad := h.write("bad", "short\n0123456789A\n", sec(101.5))
	_, err := h.stepErr()
	if !errors.Is(err, file.ErrLineTooLong) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error = %v, want ErrLineTooLong naming %s and line 2", err, bad)
	}
}

// Binary files are cut into fixed-length records.
func TestBinaryRecords(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	recs := collect(t, file.BinaryRecordsStream(h.ssc, h.dir, 4))
	h.write("a.bin", "aaaabbbbcccc", sec(100.5))
	h.write("b.bin", "", sec(100.5))
	h.write("c.bin", "dddd", sec(100.5))
	h.start()
	bt := h.step()
	parts := recs.parts(bt)
	var got [][]string
	for _, p := range parts {
		var ss []string
		for _, r := range p {
			ss = append(ss, string(r))
		}
		got = append(got, ss)
	}
	if want := fmt.Sprint([][]string{{"aaaa", "bbbb", "cccc"}, nil, {"dddd"}}); fmt.Sprint(got) != want {
		t.Errorf("partitions = %v, want %v", got, want)
	}
	if info, _ := h.infos.at(bt.UnixMilli()); info.NumRecords() != 4 {
		t.Errorf("NumRecords = %d, want 4", info.NumRecords())
	}
	if len(parts) > 0 && len(parts[0]) == 3 && cap(parts[0][0]) != 4 {
		t.Errorf("a record has capacity %d; appending to it would overwrite the next", cap(parts[0][0]))
	}
}

// A file whose size is not a multiple of the record length fails its
// batch, naming the file (Spark fails the job too).
func TestBinaryRecordsPartialRecord(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	collect(t, file.BinaryRecordsStream(h.ssc, h.dir, 4))
	bad := h.write("bad.bin", "aaaabbbbcc", sec(100.5))
	h.start()
	_, err := h.stepErr()
	if !errors.Is(err, file.ErrPartialRecord) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "10 bytes") {
		t.Errorf("error = %v, want ErrPartialRecord naming %s and its 10 bytes", err, bad)
	}
	var be *dstream.BatchError
	if !errors.As(err, &be) || !be.Time.Equal(sec(101)) {
		t.Errorf("error %v is not the BatchError of 101 s", err)
	}
}

// The batch's InputInfo has the sorted paths and the record count.
func TestMetadataAndNumRecords(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	collect(t, file.TextStream(h.ssc, h.dir))
	h.write("b", "1\n2\n3\n", sec(100.2))
	h.write("a", "4\n5", sec(100.7))
	h.start()
	bt := h.step()
	info, ok := h.infos.at(bt.UnixMilli())
	if !ok || len(info.Inputs) != 1 {
		t.Fatalf("BatchInfo %+v", info)
	}
	in := info.Inputs[0]
	if in.Name != "textFileStream#1" || in.NumRecords != 5 {
		t.Errorf("input %q with %d records, want textFileStream#1 with 5", in.Name, in.NumRecords)
	}
	if got, want := in.Metadata["files"], []string{h.path("a"), h.path("b")}; !slices.Equal(got.([]string), want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	bt = h.step() // nothing new
	info, _ = h.infos.at(bt.UnixMilli())
	if got := h.files(bt); got == nil || len(got) != 0 || info.NumRecords() != 0 {
		t.Errorf("empty batch: files %#v, %d records; want an empty list and 0", got, info.NumRecords())
	}
}

// Files are written elsewhere and renamed in; a rename keeps the
// modification time, which must be inside the window. A file being
// written under a name starting with "." is not read.
func TestAtomicMove(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	lines := collect(t, file.TextStream(h.ssc, h.dir))
	h.start()
	h.step()

	// Written in another directory, then moved in.
	elsewhere := filepath.Join(t.TempDir(), "moved")
	writeFile(t, elsewhere, "moved\n", sec(101.5))
	if err := os.Rename(elsewhere, filepath.Join(h.dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if bt := h.step(); !slices.Equal(lines.all(bt), []string{"moved"}) {
		t.Errorf("batch 102 s read %q, want the moved file", lines.all(bt))
	}

	// Written in place with storage.WriteFileAtomic: while it is written,
	// a batch runs and does not see the temporary file.
	target := filepath.ToSlash(filepath.Join(h.dir, "atomic"))
	err := storage.WriteFileAtomic(t.Context(), storage.Local(), target, func(w io.Writer) error {
		io.WriteString(w, "first half\n")
		entries, err := os.ReadDir(h.dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".atomic.tmp-") {
				touch(t, filepath.Join(h.dir, e.Name()), sec(102.5))
			}
		}
		if bt := h.step(); len(h.files(bt)) != 0 { // 103 s
			t.Errorf("batch 103 s selected %q while the file was written", h.files(bt))
		}
		_, err = io.WriteString(w, "second half\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	touch(t, target, sec(103.5))
	if bt := h.step(); !slices.Equal(lines.all(bt), []string{"first half", "second half"}) {
		t.Errorf("batch 104 s read %q, want the whole file", lines.all(bt))
	}
}

// A read error fails the batch with an error naming the file.
func TestReadErrorFailsBatch(t *testing.T) {
	cause := errors.New("corrupt record")
	for _, tt := range []struct {
		name string
		read file.ReadFunc[int]
		want func(error) bool
	}{
		{"error", func(f storage.FileInfo, r io.Reader) ([]int, error) {
			if f.Name == "bad" {
				return nil, cause
			}
			return []int{1}, nil
		}, func(err error) bool { return errors.Is(err, cause) }},
		{"panic", func(f storage.FileInfo, r io.Reader) ([]int, error) {
			if f.Name == "bad" {
				panic("boom")
			}
			return []int{1}, nil
		}, func(err error) bool {
			var pe *dstream.PanicError
			return errors.As(err, &pe) && pe.Value == "boom" && strings.Contains(string(pe.Stack), "file_test.go")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, time.Second, sec(100))
			collect(t, file.Stream(h.ssc, h.dir, tt.read))
			h.write("good", "", sec(100.5))
			bad := h.write("bad", "", sec(100.5))
			h.start()
			_, err := h.stepErr()
			if !tt.want(err) || !strings.Contains(err.Error(), bad) {
				t.Errorf("error = %v, want the read error naming %s", err, bad)
			}
		})
	}
}

// A missing directory gives empty batches and one warning until it
// appears.
func TestMissingDirectory(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	lines := collect(t, file.TextStream(h.ssc, h.dir+"/later"))
	h.start()
	h.stepTo(sec(103))
	if n := h.logs.count("no directory to monitor"); n != 1 {
		t.Errorf("%d warnings about the missing directory, want 1:\n%s", n, h.logs)
	}
	h.write("later/a", "a\n", sec(103.5))
	if bt := h.step(); !slices.Equal(lines.all(bt), []string{"a"}) {
		t.Errorf("batch 104 s read %q", lines.all(bt))
	}
	// Gone again: warned again, once.
	if err := os.RemoveAll(filepath.Join(h.dir, "later")); err != nil {
		t.Fatal(err)
	}
	h.stepTo(sec(107))
	if n := h.logs.count("no directory to monitor"); n != 2 {
		t.Errorf("%d warnings about the missing directory, want 2:\n%s", n, h.logs)
	}
}

// Stream reads files with any ReadFunc, which sees the listed FileInfo.
func TestStream(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	nums := collect(t, file.Stream(h.ssc, h.dir, func(f storage.FileInfo, r io.Reader) ([]int, error) {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		if int64(len(data)) != f.Size || !f.ModTime.Equal(sec(100.5)) {
			return nil, fmt.Errorf("file info %+v does not match %d bytes", f, len(data))
		}
		var out []int
		for _, field := range strings.Fields(string(data)) {
			n, err := strconv.Atoi(field)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	}))
	h.write("a", "1 2 3", sec(100.5))
	h.write("b", "40 50", sec(100.5))
	h.start()
	if bt := h.step(); !slices.Equal(nums.all(bt), []int{1, 2, 3, 40, 50}) {
		t.Errorf("read %v", nums.all(bt))
	}
}

// The directory may be a file URI or a path relative to the working
// directory when the stream is made; the metadata has absolute paths.
func TestDirectoryForms(t *testing.T) {
	for _, tt := range []struct {
		name string
		dir  func(h *harness) string
	}{
		{"file URI", func(h *harness) string { return "file://" + filepath.ToSlash(h.dir) + "/in" }},
		{"relative", func(h *harness) string { h.t.Chdir(h.dir); return "in" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, time.Second, sec(100))
			lines := collect(t, file.TextStream(h.ssc, tt.dir(h)))
			h.write("in/a", "a\n", sec(100.5))
			h.start()
			bt := h.step()
			if !slices.Equal(lines.all(bt), []string{"a"}) {
				t.Errorf("read %q", lines.all(bt))
			}
			if got, want := h.files(bt), []string{h.path("in/a")}; !slices.Equal(got, want) {
				t.Errorf("files = %q, want the absolute path %q", got, want)
			}
		})
	}
}

// Invalid options and directories make the stream invalid: Start fails
// with a BuildError wrapping ErrInvalidOption.
func TestInvalidOptions(t *testing.T) {
	read := func(storage.FileInfo, io.Reader) ([]string, error) { return nil, nil }
	for _, tt := range []struct {
		name  string
		build func(c *dstream.Context, dir string) *dstream.Stream[string]
		also  error // another error the cause wraps
	}{
		{"nil read", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return file.Stream[string](c, dir, nil)
		}, dstream.ErrNilFunc},
		{"empty dir", func(c *dstream.Context, _ string) *dstream.Stream[string] { return file.TextStream(c, "") }, nil},
		{"unknown scheme", func(c *dstream.Context, _ string) *dstream.Stream[string] {
			return file.TextStream(c, "nosuch://host/dir")
		}, storage.ErrUnknownScheme},
		{"bad pattern", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return file.TextStream(c, dir+"/[")
		}, nil},
		{"zero remember", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return file.TextStream(c, dir, file.MinRememberDuration(0))
		}, nil},
		{"negative remember", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return file.TextStream(c, dir, file.MinRememberDuration(-time.Second))
		}, nil},
		{"nil filter", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return file.TextStream(c, dir, file.Filter(nil))
		}, nil},
		{"nil FS", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return file.TextStream(c, dir, file.WithFS(nil))
		}, nil},
		{"zero MaxLineBytes", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return file.TextStream(c, dir, file.MaxLineBytes(0))
		}, nil},
		{"MaxLineBytes on Stream", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return file.Stream(c, dir, read, file.MaxLineBytes(10))
		}, nil},
		{"record length 0", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return dstream.Map(file.BinaryRecordsStream(c, dir, 0), func(b []byte) string { return string(b) })
		}, nil},
		{"record length -1", func(c *dstream.Context, dir string) *dstream.Stream[string] {
			return dstream.Map(file.BinaryRecordsStream(c, dir, -1), func(b []byte) string { return string(b) })
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, time.Second, sec(100))
			s := tt.build(h.ssc, h.dir)
			var be *dstream.BuildError
			if err := s.Err(); !errors.As(err, &be) || !errors.Is(err, dstream.ErrInvalidOption) {
				t.Errorf("Err() = %v, want a BuildError wrapping ErrInvalidOption", err)
			}
			if tt.also != nil && !errors.Is(s.Err(), tt.also) {
				t.Errorf("Err() = %v, want it to wrap %v too", s.Err(), tt.also)
			}
			if err := s.Print(); err == nil {
				t.Errorf("Print on the invalid stream succeeded")
			}
			if err := h.ssc.Start(); !errors.Is(err, dstream.ErrInvalidOption) {
				t.Errorf("Start = %v, want the build error", err)
			}
		})
	}
}

// With several files a batch has one partition per file, read in
// parallel; the result is in path order whatever the read order.
func TestManyFilesReadInParallel(t *testing.T) {
	h := newHarness(t, time.Second, sec(100), dstream.WithParallelism(8))
	var running, peak atomic.Int32
	release := make(chan struct{})
	nums := collect(t, file.Stream(h.ssc, h.dir, func(f storage.FileInfo, r io.Reader) ([]int, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == 8 {
			close(release)
		}
		select { // wait until all 8 run at once (or give up: the check below fails)
		case <-release:
		case <-time.After(5 * time.Second):
		}
		running.Add(-1)
		i, err := strconv.Atoi(strings.TrimPrefix(f.Name, "f"))
		return []int{i}, err
	}))
	for i := range 8 {
		h.write(fmt.Sprintf("f%d", i), "", sec(100.5))
	}
	h.start()
	bt := h.step()
	if !slices.Equal(nums.all(bt), []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("read %v, want the files in path order", nums.all(bt))
	}
	if peak.Load() != 8 {
		t.Errorf("at most %d files were read at once, want 8", peak.Load())
	}
}

// Storage that does not answer at start fails Start, naming the stream's
// directory; a directory that does not exist yet does not.
func TestStartCheck(t *testing.T) {
	h := newHarness(t, time.Second, sec(100))
	fsys := &flakyFS{FS: storage.Local()}
	fsys.fail.Store(true)
	collect(t, file.TextStream(h.ssc, h.dir, file.WithFS(fsys)))
	err := h.ssc.Start()
	var se *dstream.StartError
	if !errors.As(err, &se) || err.Error() != "file stream "+h.dir+": namenode unreachable" {
		t.Fatalf("Start = %v; want a *StartError naming the directory", err)
	}

	h2 := newHarness(t, time.Second, sec(100))
	collect(t, file.TextStream(h2.ssc, h2.dir+"/later"))
	h2.start()
}
