package parquetsink

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

const opName = "parquetsink.Write"

// Names in the output directory that are not data files.
const (
	// StagingDir is the directory under the output directory where a batch
	// is written before its files are renamed into place:
	// <dir>/_temporary/<prefix>-<batch ms>/. Besides the batch being
	// written (or one that failed), it keeps the small manifests of the
	// last three committed batches. Hive and Spark skip names that start
	// with "_", and globs for *.parquet match nothing in it.
	StagingDir = "_temporary"

	manifestName   = "_manifest"
	manifestHeader = "parquetsink manifest v1"
	// keptManifests is how many manifests of committed batches are kept.
	keptManifests = 3
)

// chunkRows is how many rows go to parquet-go per Write call; files with a
// byte limit are checked every byteCheckRows rows.
const (
	chunkRows     = 8192
	byteCheckRows = 1024
)

// Write registers an output operation that writes every batch of s as
// Parquet files under dir, a path or a storage URI (see storage.Open:
// "/data/out", "file:///data/out", or "hdfs://namenode:8020/data/out" with
// the hdfs driver imported). It returns the stream's build error, or an
// error wrapping dstream.ErrInvalidOption for an invalid dir, option or
// element type; it never panics.
//
// T must be a struct, or a pointer to a struct, that parquet-go can write:
// its Parquet schema comes from T's fields and their parquet struct tags
// (parquet:"name,optional,timestamp(millisecond),zstd,...") as in
// parquet.SchemaOf; fields tagged parquet:"-" are not stored.
//
// Each non-empty partition p of the batch at time t is written to
//
//	<dir>[/<hive partition>]/<prefix>-<t in ms>-<p, 5 digits>-<n>.parquet
//
// with n = 0, 1, ... when MaxFileRows or MaxFileBytes split it, and one
// set of files per Hive partition with PartitionBy. The partitions of a
// batch are written in parallel, as many at once as the context's
// parallelism. Empty batches and empty partitions write nothing. A row
// whose Hive partition directory cannot be made goes to the DeadLetter
// function, or, without one, fails the batch with an error wrapping
// ErrPartitionValue.
//
// The names depend only on the batch time, the partition and the rows, so
// a batch that runs again after a failure or a restart from a checkpoint
// replaces its own files: see the package documentation for how a batch
// is committed and what a reader can see meanwhile.
func Write[T any](s *dstream.Stream[T], dir string, opts ...Option) error {
	if s == nil {
		return &dstream.BuildError{Op: opName, Err: dstream.ErrNilStream}
	}
	if err := s.Err(); err != nil {
		return err
	}
	w, err := newSink[T](dir, opts)
	if err != nil {
		return &dstream.BuildError{Op: opName, Err: fmt.Errorf("%w: %w", dstream.ErrInvalidOption, err)}
	}
	w.parallelism = max(1, s.Context().Parallelism())
	// The directory must be writable at start (a NameNode that does not
	// answer, a read-only or forbidden path), not at the first batch
	// with data.
	s.Context().AddStartCheck("parquet output "+storage.Redact(dir), func(ctx context.Context) error {
		return storage.CheckWritable(ctx, w.fsys, w.root)
	})
	return s.ForEachBatch(w.writeBatch)
}

// sink writes the batches of one stream.
type sink[T any] struct {
	fsys         storage.FS
	root         string
	prefix       string
	writerOpts   []parquet.WriterOption
	maxFileRows  int64
	maxFileBytes int64
	cols         []string // escaped partition column names
	partition    func(T) []string
	deadLetter   func(T, error) // nil: a row without a partition fails the batch
	parallelism  int
}

func newSink[T any](dir string, opts []Option) (*sink[T], error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	rt := reflect.TypeFor[T]()
	if rt.Kind() != reflect.Struct && (rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct) {
		return nil, fmt.Errorf("element type %v is not a struct or a pointer to a struct", rt)
	}
	w := &sink[T]{
		prefix:       cfg.prefix,
		maxFileRows:  cfg.maxFileRows,
		maxFileBytes: cfg.maxFileBytes,
		parallelism:  1,
	}
	w.writerOpts = append([]parquet.WriterOption{
		parquet.Compression(cfg.compression),
		parquet.MaxRowsPerRowGroup(cfg.rowGroupRows),
	}, cfg.writerOpts...)
	schema, err := probe[T](w.writerOpts)
	if err != nil {
		return nil, err
	}
	if cfg.partitionFn != nil {
		fn, ok := cfg.partitionFn.(func(T) []string)
		if !ok {
			return nil, fmt.Errorf("the PartitionBy function takes a %v, but the stream's elements are %v", cfg.partitionType, rt)
		}
		w.partition = fn
		for _, c := range cfg.partitionCols {
			for _, f := range schema.Fields() {
				if strings.EqualFold(f.Name(), c) {
					return nil, fmt.Errorf("partition column %q is also the column %q of %v's Parquet schema; "+
						"partition columns are stored only in the paths: tag the field `parquet:\"-\"`", c, f.Name(), rt)
				}
			}
			w.cols = append(w.cols, EscapePathName(c))
		}
	}
	if cfg.deadLetter != nil {
		fn, ok := cfg.deadLetter.(func(T, error))
		if !ok {
			return nil, fmt.Errorf("the DeadLetter function takes a %v, but the stream's elements are %v", cfg.deadLetterType, rt)
		}
		w.deadLetter = fn
	}
	w.fsys, w.root, err = storage.Open(dir)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// probe checks that parquet-go can write T with opts, by writing one zero
// row to nowhere: NewGenericWriter panics on invalid options and on types
// it cannot map, and some schema errors show only on Write.
func probe[T any](opts []parquet.WriterOption) (schema *parquet.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			schema, err = nil, fmt.Errorf("parquet-go cannot write %v: %v", reflect.TypeFor[T](), r)
		}
	}()
	if _, err := parquet.NewWriterConfig(opts...); err != nil {
		return nil, err
	}
	pw := parquet.NewGenericWriter[T](io.Discard, opts...)
	var row [1]T
	if rt := reflect.TypeFor[T](); rt.Kind() == reflect.Pointer {
		reflect.ValueOf(&row[0]).Elem().Set(reflect.New(rt.Elem()))
	}
	if _, err := pw.Write(row[:]); err != nil {
		return nil, fmt.Errorf("parquet-go cannot write %v: %w", reflect.TypeFor[T](), err)
	}
	if err := pw.Close(); err != nil {
		return nil, fmt.Errorf("parquet-go cannot write %v: %w", reflect.TypeFor[T](), err)
	}
	return pw.Schema(), nil
}

// file is one data file of a batch: its temporary name in the staging
// directory and its final name relative to the root.
type file struct {
	tmp, rel string
}

// writeBatch writes one batch and commits it:
//
//  1. The staging directory of the batch is cleared: temporary files of
//     an earlier attempt are removed and its manifest, if any, read.
//  2. Every non-empty partition is written, in parallel, to temporary
//     files in the staging directory.
//  3. The manifest is written: the final names of this attempt and of
//     the earlier attempt's manifest.
//  4. The temporary files are renamed to their final names.
//  5. Files that the earlier attempt's manifest lists and this attempt
//     did not write are removed, then the staging directories of earlier
//     batches but the last ones (keptManifests).
//
// Every data file of a batch that exists is listed by the manifest in the
// staging directory until a later attempt has removed what it did not
// write again, so a batch that fails at any step, or runs again after it
// committed, leaves exactly its own rows.
func (w *sink[T]) writeBatch(ctx context.Context, b *dstream.Batch[T]) error {
	t := b.Time.UnixMilli()
	stage := path.Join(w.root, StagingDir, w.prefix+"-"+strconv.FormatInt(t, 10))
	prev, staged, err := w.clearStage(ctx, stage)
	if err != nil {
		return err
	}
	var files []file
	if b.Len() > 0 {
		if files, err = w.writeTemps(ctx, stage, t, b.Partitions); err != nil {
			return err
		}
	} else if !staged {
		return nil
	}
	return w.commit(ctx, stage, t, files, prev)
}

// clearStage removes what an earlier attempt left in the staging
// directory but its manifest, and returns the names the manifest lists
// and whether the directory existed.
func (w *sink[T]) clearStage(ctx context.Context, stage string) (prev []string, staged bool, err error) {
	entries, err := w.fsys.List(ctx, stage)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("parquetsink: listing %s: %w", stage, err)
	}
	for _, e := range entries {
		if e.Name == manifestName && !e.IsDir {
			if prev, err = w.readManifest(ctx, e.Path); err != nil {
				return nil, true, err
			}
			continue
		}
		if err := w.remove(ctx, e.Path); err != nil {
			return nil, true, err
		}
	}
	return prev, true, nil
}

func (w *sink[T]) readManifest(ctx context.Context, name string) ([]string, error) {
	r, err := w.fsys.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("parquetsink: reading %s: %w", name, err)
	}
	defer r.Close()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		line := sc.Text()
		switch {
		case i == 0:
			if line != manifestHeader {
				return nil, fmt.Errorf("parquetsink: %s is not a manifest of this version (first line %q)", name, line)
			}
		case line == "" || path.IsAbs(line) || line == ".." || strings.HasPrefix(line, "../"):
			return nil, fmt.Errorf("parquetsink: %s: invalid entry %q", name, line)
		default:
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parquetsink: reading %s: %w", name, err)
	}
	return out, nil
}

// remove removes name; a name that is already gone is not an error.
func (w *sink[T]) remove(ctx context.Context, name string) error {
	if err := w.fsys.Remove(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("parquetsink: %w", err)
	}
	return nil
}

// writeTemps writes the partitions to temporary files, in parallel. On an
// error it removes the temporary files it wrote.
func (w *sink[T]) writeTemps(ctx context.Context, stage string, t int64, parts [][]T) ([]file, error) {
	out := make([][]file, len(parts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.parallelism)
	for p, rows := range parts {
		if len(rows) == 0 {
			continue
		}
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("parquetsink: partition %d: panic: %v", p, r)
				}
			}()
			return w.writePartition(gctx, stage, t, p, rows, &out[p])
		})
	}
	err := g.Wait()
	files := slices.Concat(out...)
	if err != nil {
		for _, f := range files {
			_ = w.fsys.Remove(context.WithoutCancel(ctx), f.tmp)
		}
		return nil, err
	}
	return files, nil
}

// group is the rows of a partition that go to one Hive partition.
type group struct {
	dir string // relative, "" without PartitionBy
	idx []int  // the rows' indexes
	err error  // why dir cannot be made: its rows are rejected, idx is empty
}

// writePartition writes the rows of partition p, appending the files it
// wrote to out.
func (w *sink[T]) writePartition(ctx context.Context, stage string, t int64, p int, rows []T, out *[]file) error {
	pw := parquet.NewGenericWriter[T](io.Discard, w.writerOpts...) // options checked by probe
	seq := 0
	if w.partition == nil {
		return w.writeGroup(ctx, pw, stage, t, p, &seq, "", rowSource[T]{rows: rows}, out)
	}
	groups, err := w.group(p, rows)
	if err != nil {
		return err
	}
	var buf []T
	for _, g := range groups {
		if len(g.idx) == 0 {
			continue
		}
		if buf == nil {
			buf = make([]T, min(chunkRows, len(rows)))
		}
		if err := w.writeGroup(ctx, pw, stage, t, p, &seq, g.dir, rowSource[T]{rows: rows, idx: g.idx, buf: buf}, out); err != nil {
			return err
		}
	}
	return nil
}

// group splits the rows of partition p by Hive partition, keeping their
// order. The values of a Hive partition are checked once, when its first
// row is seen; the rows of one that cannot be made, and rows with the
// wrong number of values, are rejected.
func (w *sink[T]) group(p int, rows []T) ([]group, error) {
	index := map[string]int{}
	var groups []group
	var last []string
	lastG := -1
	for i := range rows {
		vals := w.partition(rows[i])
		g := lastG
		if g < 0 || !slices.Equal(vals, last) {
			if len(vals) != len(w.cols) {
				if err := w.reject(p, i, rows[i], checkPartition(w.cols, vals)); err != nil {
					return nil, err
				}
				continue
			}
			dir := w.hiveDir(vals)
			var ok bool
			if g, ok = index[dir]; !ok {
				g = len(groups)
				index[dir] = g
				groups = append(groups, group{dir: dir, err: checkPartition(w.cols, vals)})
			}
			last, lastG = append(last[:0], vals...), g
		}
		if err := groups[g].err; err != nil {
			if err := w.reject(p, i, rows[i], err); err != nil {
				return nil, err
			}
			continue
		}
		groups[g].idx = append(groups[g].idx, i)
	}
	return groups, nil
}

// reject hands row i of partition p, which cannot be written for err, to
// the dead letter, or returns the error that fails the batch without one.
func (w *sink[T]) reject(p, i int, row T, err error) error {
	if w.deadLetter == nil {
		return fmt.Errorf("%w: row %d of batch partition %d (the DeadLetter option sets such rows aside)", err, i, p)
	}
	w.deadLetter(row, err)
	return nil
}

func (w *sink[T]) hiveDir(vals []string) string {
	var b strings.Builder
	for i, c := range w.cols {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(c)
		b.WriteByte('=')
		b.WriteString(partitionValue(vals[i]))
	}
	return b.String()
}

// rowSource is the rows of a group: rows itself, or the rows at idx
// gathered into buf.
type rowSource[T any] struct {
	rows []T
	idx  []int
	buf  []T
}

func (s *rowSource[T]) len() int {
	if s.idx == nil {
		return len(s.rows)
	}
	return len(s.idx)
}

// chunk returns the rows from..from+n of the group; n <= len(buf) when the
// group has indexes.
func (s *rowSource[T]) chunk(from, n int) []T {
	if s.idx == nil {
		return s.rows[from : from+n]
	}
	out := s.buf[:n]
	for i, j := range s.idx[from : from+n] {
		out[i] = s.rows[j]
	}
	return out
}

// writeGroup writes the rows of src to files n = 0, 1, ... of (t, p, dir).
func (w *sink[T]) writeGroup(ctx context.Context, pw *parquet.GenericWriter[T], stage string, t int64, p int, seq *int, dir string, src rowSource[T], out *[]file) error {
	for n, from := 0, 0; from < src.len(); n++ {
		name := fmt.Sprintf("%s-%d-%05d-%d.parquet", w.prefix, t, p, n)
		f := file{
			tmp: path.Join(stage, fmt.Sprintf("%05d-%d-%s.tmp", p, *seq, strconv.FormatUint(rand.Uint64(), 36))),
			rel: path.Join(dir, name),
		}
		*seq++
		next, err := w.writeFile(ctx, pw, f.tmp, &src, from)
		if err != nil {
			return fmt.Errorf("parquetsink: writing %s: %w", path.Join(w.root, f.rel), err)
		}
		*out = append(*out, f)
		from = next
	}
	return nil
}

// writeFile writes rows of src from from on to the file tmp until the
// rows or a file limit end, and returns where it stopped. The file is
// synced and closed; on an error (or a panic) it is removed.
func (w *sink[T]) writeFile(ctx context.Context, pw *parquet.GenericWriter[T], tmp string, src *rowSource[T], from int) (next int, err error) {
	out, err := w.fsys.Create(ctx, tmp)
	if err != nil {
		_ = w.fsys.Remove(context.WithoutCancel(ctx), tmp) // some stores leave an entry behind
		return 0, err
	}
	open, ok := true, false
	defer func() {
		if open {
			_ = out.Close()
		}
		if !ok {
			_ = w.fsys.Remove(context.WithoutCancel(ctx), tmp)
		}
	}()
	pw.Reset(out)
	step := chunkRows
	if w.maxFileBytes > 0 {
		step = byteCheckRows
	}
	var inFile int64
	for from < src.len() {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := min(step, src.len()-from)
		if w.maxFileRows > 0 {
			n = int(min(int64(n), w.maxFileRows-inFile))
		}
		if _, err := pw.Write(src.chunk(from, n)); err != nil {
			return 0, err
		}
		from += n
		inFile += int64(n)
		if w.maxFileRows > 0 && inFile >= w.maxFileRows || w.maxFileBytes > 0 && pw.Size() >= w.maxFileBytes {
			break
		}
	}
	if err := pw.Close(); err != nil {
		return 0, err
	}
	if s, isSyncer := out.(interface{ Sync() error }); isSyncer {
		if err := s.Sync(); err != nil {
			return 0, fmt.Errorf("sync: %w", err)
		}
	}
	open = false
	if err := out.Close(); err != nil {
		return 0, err
	}
	ok = true
	return from, nil
}

// commit writes the manifest, renames the files into place, removes the
// files of an earlier attempt that this one did not write, and removes
// the staging directories of earlier batches.
func (w *sink[T]) commit(ctx context.Context, stage string, t int64, files []file, prev []string) error {
	manifest := path.Join(stage, manifestName)
	if len(files) > 0 {
		names := make([]string, 0, len(files)+len(prev))
		for _, f := range files {
			names = append(names, f.rel)
		}
		names = append(names, prev...)
		slices.Sort(names)
		names = slices.Compact(names)
		err := storage.WriteFileAtomic(ctx, w.fsys, manifest, func(wr io.Writer) error {
			bw := bufio.NewWriter(wr)
			bw.WriteString(manifestHeader + "\n")
			for _, n := range names {
				bw.WriteString(n + "\n")
			}
			return bw.Flush()
		})
		if err != nil {
			w.removeTemps(ctx, files)
			return fmt.Errorf("parquetsink: %w", err)
		}
	}
	if err := w.rename(ctx, files); err != nil {
		w.removeTemps(ctx, files)
		return err
	}
	written := make(map[string]bool, len(files))
	for _, f := range files {
		written[f.rel] = true
	}
	for _, rel := range prev {
		if !written[rel] {
			if err := w.remove(ctx, path.Join(w.root, rel)); err != nil {
				return err
			}
		}
	}
	if len(files) == 0 {
		// Nothing of this batch is left: forget the earlier attempt.
		if err := w.remove(ctx, manifest); err != nil {
			return err
		}
		return w.remove(ctx, stage)
	}
	return w.removeOlderStages(ctx, t)
}

// removeOlderStages removes the staging directories of this prefix for
// batches before t, but for the newest keptManifests-1 of them. The
// manifests of the last committed batches are kept, so that if one of
// them runs again (after a crash before the engine's next checkpoint
// recorded it as done), the files it no longer writes are still found and
// removed.
func (w *sink[T]) removeOlderStages(ctx context.Context, t int64) error {
	dir := path.Join(w.root, StagingDir)
	entries, err := w.fsys.List(ctx, dir)
	if err != nil {
		return fmt.Errorf("parquetsink: listing %s: %w", dir, err)
	}
	type stage struct {
		t    int64
		path string
	}
	var older []stage
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name, w.prefix+"-")
		if !ok || !e.IsDir {
			continue
		}
		if bt, err := strconv.ParseInt(rest, 10, 64); err == nil && bt < t {
			older = append(older, stage{bt, e.Path})
		}
	}
	slices.SortFunc(older, func(a, b stage) int { return cmp.Compare(a.t, b.t) })
	for _, st := range older[:max(0, len(older)-(keptManifests-1))] {
		inside, err := w.fsys.List(ctx, st.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("parquetsink: listing %s: %w", st.path, err)
		}
		for _, f := range inside {
			if err := w.remove(ctx, f.Path); err != nil {
				return err
			}
		}
		if err := w.remove(ctx, st.path); err != nil {
			return err
		}
	}
	return nil
}

// rename creates the directories of the files and renames them into
// place, in parallel.
func (w *sink[T]) rename(ctx context.Context, files []file) error {
	var dirs []string
	for _, f := range files {
		dirs = append(dirs, path.Dir(path.Join(w.root, f.rel)))
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.parallelism)
	for _, d := range dirs {
		g.Go(func() error {
			if err := w.fsys.MkdirAll(gctx, d); err != nil {
				return fmt.Errorf("parquetsink: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(w.parallelism)
	for _, f := range files {
		g.Go(func() error {
			if err := w.fsys.Rename(gctx, f.tmp, path.Join(w.root, f.rel)); err != nil {
				return fmt.Errorf("parquetsink: committing %s: %w", path.Join(w.root, f.rel), err)
			}
			return nil
		})
	}
	return g.Wait()
}

// removeTemps removes the temporary files that are still there, after a
// failure.
func (w *sink[T]) removeTemps(ctx context.Context, files []file) {
	for _, f := range files {
		_ = w.fsys.Remove(context.WithoutCancel(ctx), f.tmp)
	}
}
