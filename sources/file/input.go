package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

// input is the dstream.Input of a file stream (Spark's FileInputDStream).
type input[T any] struct {
	c       *dstream.Context
	s       *dstream.Stream[T]
	fsys    storage.FS
	pattern string // the directory or glob, a path in fsys
	read    ReadFunc[T]
	cfg     config

	// Set by Start.
	clock    dstream.Clock
	log      *slog.Logger
	interval time.Duration
	window   time.Duration // the remember window
	initial  time.Time     // the start time with NewFilesOnly, else the zero time
	// skew is how far the storage's clock, which stamps the modification
	// times, is ahead of the job's (negative: behind), as the first
	// Generate measured it for an FS that can tell (fsClock); zero for
	// others. It never changes afterwards, so that no file's place
	// relative to the window moves.
	skew         time.Duration
	skewMeasured bool

	restoredInitial time.Time // the first run's initial, from a checkpoint

	// Used by Generate only.
	noDir bool // no directory matched the latest listing

	component string // its name in start-up checks and health reports

	// The files of the remembered batches; what a checkpoint of the
	// stream will save and restore.
	selected selectedFiles
}

// configure applies the options and checks them and dir.
func (in *input[T]) configure(dir string, opts []Option, text bool, reader func(*config) (ReadFunc[T], error)) error {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&cfg); err != nil {
			return err
		}
	}
	if cfg.maxLineSet && !text {
		return fmt.Errorf("%w: MaxLineBytes applies only to TextStream", dstream.ErrInvalidOption)
	}
	read, err := reader(&cfg)
	if err != nil {
		return err
	}
	if dir == "" {
		return fmt.Errorf("%w: empty directory", dstream.ErrInvalidOption)
	}
	fsys, p := cfg.fsys, dir
	if fsys == nil {
		if fsys, p, err = cfg.opener.Open(dir); err != nil {
			return fmt.Errorf("%w: directory %q: %w", dstream.ErrInvalidOption, dir, err)
		}
		if fsys == storage.Local() {
			// Relative to the working directory of now, not of later.
			abs, err := filepath.Abs(filepath.FromSlash(p))
			if err != nil {
				return fmt.Errorf("%w: directory %q: %w", dstream.ErrInvalidOption, dir, err)
			}
			p = filepath.ToSlash(abs)
		}
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%w: directory pattern %q: %w", dstream.ErrInvalidOption, p, err)
	}
	in.fsys, in.pattern, in.read, in.cfg = fsys, p, read, cfg
	in.component = "file stream " + storage.Redact(dir)
	// The storage must answer at start; a directory that does not exist
	// yet is waited for (as in Spark), and reported as degraded.
	in.c.AddStartCheck(in.component, func(ctx context.Context) error {
		matches, err := storage.GlobInfo(ctx, fsys, p)
		for _, m := range matches {
			if m.IsDir { // listed as every batch will list it
				_, err = fsys.List(ctx, m.Path)
				break
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
	return nil
}

// rememberWindow is minRemember rounded up to a whole number of batch
// intervals (Spark's calculateNumBatchesToRemember times the interval).
func rememberWindow(interval, minRemember time.Duration) time.Duration {
	n := (minRemember + interval - 1) / interval
	return max(n, 1) * interval
}

// fsClock is a storage.FS whose own clock stamps the modification times
// it lists, and which can read that clock: HDFS, whose NameNode stamps
// them (storage/hdfs.FS.Now). The local disk's clock is the job's host's.
type fsClock interface {
	Now(ctx context.Context) (time.Time, error)
}

// Start implements dstream.Input. It fixes the start time of NewFilesOnly
// from the context's clock.
func (in *input[T]) Start(context.Context) error {
	in.clock = in.c.Clock()
	in.interval = in.c.BatchInterval()
	in.window = rememberWindow(in.interval, in.cfg.minRemember)
	in.log = in.c.Logger().With("stream", in.s.Name(), "directory", in.pattern)
	if in.cfg.newFilesOnly {
		in.initial = in.clock.Now()
		if !in.restoredInitial.IsZero() {
			in.initial = in.restoredInitial
		}
	}
	in.log.Debug("file stream: started", "remember_window", in.window, "new_files_only", in.cfg.newFilesOnly)
	return nil
}

// measureSkew sets skew from the storage's clock, when the FS can read
// it; the first Generate calls it, off the context's lock that Start
// holds, as it costs the storage a few calls. The storage's time is stamped before the job's is read, so the
// measure is at most the true skew (by the call's duration and the
// storage's millisecond truncation), and a millisecond less still: files
// then count as at most as old as they are, never older, so that none
// written after the start falls at or below the start threshold; one
// written within that margin before the start may count as new. A clock
// that cannot be read leaves the modification times as they are, with a
// warning.
func (in *input[T]) measureSkew(ctx context.Context) {
	fc, ok := in.fsys.(fsClock)
	if !ok {
		return
	}
	fsNow, err := fc.Now(ctx)
	jobNow := in.clock.Now()
	if err != nil {
		in.log.Warn("file stream: cannot read the storage's clock; modification times are compared with the job's clock "+
			"as they are, and files may be missed if the storage's clock is behind", "error", err)
		return
	}
	in.skew = fsNow.Sub(jobNow) - time.Millisecond
	if in.skew > time.Second || in.skew < -time.Second {
		in.log.Info("file stream: the storage's clock is off the job's; modification times are compared on the job's clock",
			"storage_ahead_by", in.skew)
	}
}

// Stop implements dstream.Input. There is nothing to release.
func (in *input[T]) Stop() {}

// threshold returns the modification time at or before which files are
// ignored by the batch at t.
func (in *input[T]) threshold(t time.Time) time.Time {
	th := t.Add(-in.window)
	if in.initial.After(th) {
		th = in.initial
	}
	return th
}

// Generate implements dstream.Input: it selects the batch's files.
func (in *input[T]) Generate(ctx context.Context, t time.Time) (*dstream.InputBatch[T], error) {
	// Spark forgets a batch's files when the batch one window later has
	// completed, which in the steady state is before the next is generated.
	in.selected.forgetBefore(t.Add(-in.window - in.interval))
	if !in.skewMeasured {
		in.skewMeasured = true
		mctx, cancel := context.WithTimeout(ctx, max(in.interval, 10*time.Second))
		in.measureSkew(mctx)
		cancel()
	}
	th := in.threshold(t)
	began := in.clock.Now()
	files, err := in.find(ctx, t, th)
	if took := in.clock.Now().Sub(began); took > in.interval {
		in.log.Warn("file stream: finding new files took longer than the batch interval; "+
			"consider a longer batch interval or fewer files in the monitored directories",
			"took", took, "interval", in.interval, "batch_ms", t.UnixMilli())
	}
	switch {
	case err != nil:
		// Logged by the engine once per outage, and shown in every
		// batch's BatchInfo.Degraded until a listing succeeds.
		if ctx.Err() == nil {
			in.c.ReportHealth(in.component, fmt.Errorf("finding new files (the batch is empty): %w", err))
		}
		files = nil
	case in.noDir:
		in.c.ReportHealth(in.component, errNoDirectory)
	default:
		in.c.ReportHealth(in.component, nil)
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	in.selected.add(t, paths)
	if len(files) > 0 {
		in.log.Debug("file stream: new files", "batch_ms", t.UnixMilli(), "files", paths)
	}
	return in.batchOf(files)
}

// errNoDirectory is the degradation of a file stream whose directory
// does not exist (yet).
var errNoDirectory = errors.New("no directory to monitor matches; waiting for one to appear")

// find lists the monitored directories and returns the files the batch at
// t selects, sorted by path.
func (in *input[T]) find(ctx context.Context, t, threshold time.Time) ([]storage.FileInfo, error) {
	matches, err := storage.GlobInfo(ctx, in.fsys, in.pattern)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, m := range matches {
		if m.IsDir {
			dirs = append(dirs, m.Path)
		}
	}
	if len(dirs) == 0 {
		in.noDir = true // reported by Generate
		return nil, nil
	}
	in.noDir = false
	var out []storage.FileInfo
	for _, d := range dirs {
		entries, err := in.fsys.List(ctx, d)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the glob
		}
		if err != nil {
			return nil, err
		}
		for _, f := range entries {
			if in.accept(f, t, threshold) {
				out = append(out, f)
			}
		}
	}
	slices.SortFunc(out, func(a, b storage.FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// accept reports whether the batch at t selects the listed file f (Spark's
// isNewFile), with its modification time on the job's clock.
func (in *input[T]) accept(f storage.FileInfo, t, threshold time.Time) bool {
	mod := f.ModTime.Add(-in.skew)
	return !f.IsDir &&
		in.cfg.filter(f) &&
		mod.After(threshold) &&
		!mod.After(t) &&
		!in.selected.contains(f.Path)
}

// readFile reads the records of f; its errors name the file.
func (in *input[T]) readFile(ctx context.Context, f storage.FileInfo) (recs []T, err error) {
	r, err := in.fsys.Open(ctx, f.Path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Path, err)
	}
	defer r.Close()
	defer func() {
		if v := recover(); v != nil {
			// The stack of the panic, which the engine's recover would
			// no longer see, and the file's name.
			recs, err = nil, fmt.Errorf("reading %s: %w", f.Path, &dstream.PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	recs, err = in.read(f, ctxReader{ctx: ctx, r: r})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Path, err)
	}
	return recs, nil
}

// ctxReader stops reading when ctx is done, so that a hard stop does not
// wait for a large file to be read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// selectedFiles remembers which files recent batches selected (Spark's
// batchTimeToSelectedFiles and recentlySelectedFiles), so that a file is
// selected once while its batch is remembered. It is what a checkpoint of
// the stream saves (snapshot) and restores (restore).
type selectedFiles struct {
	mu      sync.Mutex
	byBatch map[int64][]string // batch time (ms) -> paths it selected, sorted
	recent  map[string]int64   // path -> the latest remembered batch that selected it
}

// add records the files that the batch at t selected; a batch without
// files is recorded too.
func (s *selectedFiles) add(t time.Time, paths []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byBatch == nil {
		s.byBatch, s.recent = map[int64][]string{}, map[string]int64{}
	}
	ms := t.UnixMilli()
	s.byBatch[ms] = paths
	for _, p := range paths {
		s.recent[p] = ms
	}
}

// contains reports whether a remembered batch selected the file at p.
func (s *selectedFiles) contains(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.recent[p]
	return ok
}

// forgetBefore forgets the batches before t.
func (s *selectedFiles) forgetBefore(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := t.UnixMilli()
	for ms, paths := range s.byBatch {
		if ms >= cut {
			continue
		}
		for _, p := range paths {
			if s.recent[p] == ms {
				delete(s.recent, p)
			}
		}
		delete(s.byBatch, ms)
	}
}

// snapshot returns a copy of the remembered batches: batch time in
// milliseconds to the sorted paths the batch selected.
func (s *selectedFiles) snapshot() map[int64][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64][]string, len(s.byBatch))
	for ms, paths := range s.byBatch {
		out[ms] = slices.Clone(paths)
	}
	return out
}

// restore replaces the remembered batches with those of a snapshot.
func (s *selectedFiles) restore(batches map[int64][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byBatch, s.recent = map[int64][]string{}, map[string]int64{}
	for _, ms := range slices.Sorted(maps.Keys(batches)) {
		paths := slices.Clone(batches[ms])
		s.byBatch[ms] = paths
		for _, p := range paths {
			s.recent[p] = ms
		}
	}
}
