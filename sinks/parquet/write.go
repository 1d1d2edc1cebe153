package parquetsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

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

// chunkRows is how many rows go to parquet-go per Write call, and the
// size of the buffer a partition's rows are streamed through; files with
// a byte limit are checked every byteCheckRows rows.
const (
	chunkRows     = 8192
	byteCheckRows = 1024
)

// closeConcurrency is how many files a partition has being synced and
// closed in the background at once (see partWriter.finish).
const closeConcurrency = 8

// Write registers an output operation that writes every batch of s as
// Parquet files under dir, a path or a storage URI (see storage.Open:
// "/data/out", "file:///data/out", or "hdfs://namenode:8020/data/out" with
// the hdfs driver imported). It is New, then s.WriteTo with the sink,
// which registers its start-up check: Start fails if dir cannot be
// written. It returns
// the stream's build error, or a *dstream.BuildError wrapping
// dstream.ErrInvalidOption for an invalid dir, option or element type;
// it never panics.
//
// T must be a struct, or a pointer to a struct, that parquet-go can write:
// its Parquet schema comes from T's fields and their parquet struct tags
// (parquet:"name,optional,timestamp(millisecond),zstd,...") as in
// parquet.SchemaOf; fields tagged parquet:"-" are not stored.
//
// Each non-empty partition p of the batch at time t is written to
//
//	<dir>/<prefix>-<t in ms>-<p, 5 digits>-<n>.parquet
//
// with n = 0, 1, ... when MaxFileRows or MaxFileBytes split it. The
// engine writes the partitions of a batch in parallel, as many at once as
// the context's parallelism. Empty batches and empty partitions write
// nothing. WritePartitioned writes into Hive partition directories.
//
// The names depend only on the batch time, the partition and the rows, so
// a batch that runs again after a failure or a restart from a checkpoint
// replaces its own files: see the package documentation for how a batch
// is committed and what a reader can see meanwhile.
func Write[T any](s *dstream.Stream[T], dir string, opts ...Option) error {
	return register(s, "parquetsink.Write", func() (*Sink[T], error) { return New[T](dir, opts...) })
}

// WritePartitioned is Write into Hive partition directories: each row is
// written under <dir>/<col1>=<value1>/.../, with the columns and values
// of part (see PartitionBy), one set of files per batch partition and
// Hive partition:
//
//	<dir>/<col1>=<value1>/.../<prefix>-<t in ms>-<p, 5 digits>-<n>.parquet
//
// part must partition rows of s's element type. A row whose directory
// cannot be made is rejected to the job's dead letters (counted in the
// batch's dstream.OutputOperationInfo.Rejected) or, with
// FailOnInvalidPartition, fails the batch. To give the sink a
// dead-letter function of its own, use NewPartitioned and
// Stream.WriteTo with a dstream.WriteSpec.
func WritePartitioned[T any](s *dstream.Stream[T], dir string, part Partitioning[T], opts ...Option) error {
	return register(s, "parquetsink.WritePartitioned", func() (*Sink[T], error) { return NewPartitioned(dir, part, opts...) })
}

// register makes the sink and registers it on s with its start-up check.
func register[T any](s *dstream.Stream[T], op string, mk func() (*Sink[T], error)) error {
	if s == nil {
		return &dstream.BuildError{Op: op, Err: dstream.ErrNilStream}
	}
	if err := s.Err(); err != nil {
		return err
	}
	out, err := mk()
	if err != nil {
		return &dstream.BuildError{Op: op, Err: err}
	}
	return s.WriteTo(out)
}

// Sink is the dstream.Output that Write and WritePartitioned register: it
// writes every batch of a stream as Parquet files under a directory and
// commits them when every partition of the batch is written (see the
// package documentation). Register it with Stream.WriteTo, once: a Sink
// writes one stream.
type Sink[T any] struct {
	dir          string // as given, for String and the start-up check
	fsys         storage.FS
	root         string
	prefix       string
	writerOpts   []parquet.WriterOption
	maxFileRows  int64
	maxFileBytes int64
	cols         []string // escaped partition column names
	partition    func(T) []string
	failInvalid  bool // FailOnInvalidPartition
	maxSpare     int  // full chunks a partition writer keeps for the next partition

	rotate *Rotation        // Rotate; nil: a file set per batch
	now    func() time.Time // the clock of Rotation.Interval

	mu       sync.Mutex
	open     bool
	unused   []*partWriter[T] // writers of finished partitions, for the next ones
	writerID string           // Rotate: this sink's temporary directories, new at Open
	srcs     map[srcKey]*srcPart[T]
	// Rotate: row chunks and writers kept for the next chunks.
	spareRows    [][]T
	spareWriters []*parquet.GenericWriter[T]

	lastBegin atomic.Int64 // the time of the last batch begun (ns)

	stats sinkStats // what the sink wrote since Open (OutputStats)
}

// sinkStats are the counters of Sink.OutputStats. They are added to once
// per partition written (records) and once per commit (rows, bytes,
// files), from the batch's goroutines, BatchCompleted, Release and Close.
type sinkStats struct {
	records, rows, bytes, files atomic.Int64
}

// committed counts the files of a batch made visible.
func (st *sinkStats) committed(files []file) {
	var rows, size int64
	for _, f := range files {
		rows += f.rows
		size += f.size
	}
	st.add(int64(len(files)), rows, size)
}

// committedChunk counts the files of a Rotate chunk made visible.
func (st *sinkStats) committedChunk(parts []chunkPart) {
	var rows, size int64
	for _, p := range parts {
		rows += p.rows
		size += p.size
	}
	st.add(int64(len(parts)), rows, size)
}

func (st *sinkStats) add(files, rows, size int64) {
	st.files.Add(files)
	st.rows.Add(rows)
	st.bytes.Add(size)
}

// OutputStats implements dstream.StatsReporter: what the sink wrote since
// Open.
//
//   - Records are the rows written into files by the partitions that were
//     written successfully (rows rejected to the dead letters left out),
//     committed yet or not, and so also those of a batch that fails later
//     or whose Rotate chunk is discarded: with Rotate, the rows a batch
//     added to the open chunks.
//   - Rows, Bytes and Files are the rows, the sizes in bytes and the
//     number of the data files made visible (renamed to their final
//     names): a batch's files when it commits, and with Rotate a chunk's
//     files when it is committed (when a batch completes, which the
//     engine reports with the next batch; at Release; and at Close, which
//     no batch reports).
//
// A batch or a chunk written again replaces its files by name, and counts
// what it wrote again: the counts are of what this sink wrote and made
// visible, not of what the directory holds. Files of another writer's
// chunk that Resume rolls forward are not counted.
func (w *Sink[T]) OutputStats() dstream.OutputStats {
	return dstream.OutputStats{
		Records: w.stats.records.Load(),
		Rows:    w.stats.rows.Load(),
		Bytes:   w.stats.bytes.Load(),
		Files:   w.stats.files.Load(),
	}
}

// New returns a Sink that writes rows of type T under dir (see Write),
// without Hive partitions, for Stream.WriteTo. It returns an error
// wrapping dstream.ErrInvalidOption for an invalid dir, option or element
// type; it never panics. It does not touch dir: Start checks it
// (StartCheck, which Stream.WriteTo registers).
func New[T any](dir string, opts ...Option) (*Sink[T], error) {
	s, err := newSink[T](dir, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", dstream.ErrInvalidOption, err)
	}
	return s, nil
}

// NewPartitioned returns a Sink that writes rows of type T under dir in
// the Hive partition directories of part (see WritePartitioned and
// PartitionBy), for Stream.WriteTo. T is inferred from part. It returns
// an error wrapping dstream.ErrInvalidOption for an invalid dir, option,
// partitioning or element type; it never panics.
func NewPartitioned[T any](dir string, part Partitioning[T], opts ...Option) (*Sink[T], error) {
	s, err := newSink(dir, opts, &part)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", dstream.ErrInvalidOption, err)
	}
	return s, nil
}

func newSink[T any](dir string, opts []Option, part *Partitioning[T]) (*Sink[T], error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	rt := reflect.TypeFor[T]()
	if rt.Kind() != reflect.Struct && (rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct) {
		return nil, fmt.Errorf("element type %v is not a struct or a pointer to a struct", rt)
	}
	w := &Sink[T]{
		dir:          dir,
		prefix:       cfg.prefix,
		maxFileRows:  cfg.maxFileRows,
		maxFileBytes: cfg.maxFileBytes,
		failInvalid:  cfg.failInvalid,
		rotate:       cfg.rotate,
		now:          time.Now,
		// Keep up to about 8 MiB of row chunks per writer between
		// partitions.
		maxSpare: max(1, (8<<20)/(chunkRows*max(1, int(unsafe.Sizeof(*new(T)))))),
	}
	base := []parquet.WriterOption{
		parquet.Compression(cfg.compression),
		parquet.MaxRowsPerRowGroup(cfg.rowGroupRows),
	}
	if cfg.rotate != nil {
		// A chunk keeps a writer open per Hive partition it touches, each
		// with column buffers of the page size: smaller pages keep
		// hundreds of open files in tens of MiB.
		base = append(base, parquet.PageBufferSize(rotatePageBufferSize))
	}
	w.writerOpts = append(base, cfg.writerOpts...)
	schema, err := probe[T](w.writerOpts)
	if err != nil {
		return nil, err
	}
	if part != nil {
		switch {
		case part.err != nil:
			return nil, part.err
		case part.values == nil:
			return nil, errors.New("no partitioning: make one with PartitionBy, or use New for none")
		}
		w.partition = part.values
		for _, c := range part.cols {
			for _, f := range schema.Fields() {
				if strings.EqualFold(f.Name(), c) {
					return nil, fmt.Errorf("partition column %q is also the column %q of %v's Parquet schema; "+
						"partition columns are stored only in the paths: tag the field `parquet:\"-\"`", c, f.Name(), rt)
				}
			}
			w.cols = append(w.cols, EscapePathName(c))
		}
	}
	w.fsys, w.root, err = cfg.opener.Open(dir)
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

// String names the sink in listener events and on the status page:
// "parquet <dir>", with the secrets of a URI redacted.
func (w *Sink[T]) String() string { return "parquet " + storage.Redact(w.dir) }

// StartCheck is the sink's start-up check, which Stream.WriteTo
// registers (dstream.StartChecker): that the directory can be written (a
// NameNode that does not answer, a read-only or forbidden path fails Start
// within its timeout, not the first batch with data). It is named
// "parquet output <dir>", with the secrets of a URI redacted.
func (w *Sink[T]) StartCheck() (string, func(ctx context.Context) error) {
	return "parquet output " + storage.Redact(w.dir), func(ctx context.Context) error {
		return storage.CheckWritable(ctx, w.fsys, w.root)
	}
}

// errNotOpen is Begin's error on a sink that is not open.
var errNotOpen = errors.New("parquetsink: the sink is not open (Open is called by Context.Start)")

// Open readies the sink; Context.Start calls it. It fails if the sink is
// already open: a Sink writes one stream, since two output operations
// writing the same files would replace each other's. It does not touch
// the directory (see StartCheck).
func (w *Sink[T]) Open(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open {
		return fmt.Errorf("parquetsink: %s is already open: register a Sink with one Stream.WriteTo", w)
	}
	w.open = true
	w.stats.records.Store(0)
	w.stats.rows.Store(0)
	w.stats.bytes.Store(0)
	w.stats.files.Store(0)
	w.writerID = newWriterID()
	w.srcs = map[srcKey]*srcPart[T]{}
	return nil
}

// Close releases the writers and buffers the sink keeps between batches;
// the context calls it when it stops. Begin fails after it until the
// next Open.
func (w *Sink[T]) Close() error {
	var err error
	if w.rotate != nil {
		err = w.closeChunks()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open = false
	w.unused = nil
	w.srcs = map[srcKey]*srcPart[T]{}
	w.spareRows, w.spareWriters = nil, nil
	return err
}

// Begin starts writing the batch b: it clears what an earlier attempt at
// the same batch left in its staging directory and reads its manifest.
func (w *Sink[T]) Begin(ctx context.Context, b dstream.OutputBatch) (dstream.BatchWriter[T], error) {
	w.mu.Lock()
	open := w.open
	w.mu.Unlock()
	if !open {
		return nil, errNotOpen
	}
	if w.rotate != nil {
		w.lastBegin.Store(b.Time.UnixNano())
		return &rotBatch[T]{w: w, t: b.Time.UnixNano()}, nil
	}
	t := b.Time.UnixMilli()
	bw := &batch[T]{
		w:     w,
		t:     t,
		stage: path.Join(w.root, StagingDir, w.prefix+"-"+strconv.FormatInt(t, 10)),
		files: make([][]file, b.Partitions),
	}
	var err error
	if bw.prev, bw.staged, err = w.clearStage(ctx, bw.stage); err != nil {
		return nil, err
	}
	return bw, nil
}

// writer takes a partition writer: one that a finished partition left,
// or a new one.
func (w *Sink[T]) writer() *partWriter[T] {
	w.mu.Lock()
	if n := len(w.unused); n > 0 {
		pw := w.unused[n-1]
		w.unused = w.unused[:n-1]
		w.mu.Unlock()
		return pw
	}
	w.mu.Unlock()
	return &partWriter[T]{
		w:  w,
		pw: parquet.NewGenericWriter[T](io.Discard, w.writerOpts...), // options checked by probe
	}
}

// release gives back a partition writer for the next partitions, while
// the sink is open.
func (w *Sink[T]) release(pw *partWriter[T]) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open {
		w.unused = append(w.unused, pw)
	}
}

// file is one data file of a batch: its temporary name in the staging
// directory and its final name relative to the root, its rows and its
// size in bytes.
type file struct {
	tmp, rel   string
	rows, size int64
}

// batch writes one batch:
//
//  1. Begin clears the staging directory of the batch: temporary files of
//     an earlier attempt are removed and its manifest, if any, read.
//  2. WritePartition writes the rows of each partition to temporary
//     files in the staging directory, as they come.
//  3. Commit writes the manifest (the final names of this attempt and of
//     the earlier attempt's manifest), renames the temporary files to
//     their final names, then removes the files that the earlier
//     attempt's manifest lists and this attempt did not write, and the
//     staging directories of earlier batches but the last ones
//     (keptManifests).
//
// Every data file of a batch that exists is listed by the manifest in the
// staging directory until a later attempt has removed what it did not
// write again, so a batch that fails at any step, or runs again after it
// committed, leaves exactly its own rows.
type batch[T any] struct {
	w      *Sink[T]
	t      int64
	stage  string
	prev   []string // the final names of an earlier attempt
	staged bool     // the staging directory existed
	files  [][]file // per partition: the temporary files written
}

// WritePartition streams the rows of p into temporary files. On an error
// (or a panic) it removes the temporary files it wrote.
func (b *batch[T]) WritePartition(ctx context.Context, p *dstream.Partition[T]) error {
	pw := b.w.writer()
	ok := false
	defer func() {
		if !ok {
			// A panic, which goes on to the engine: the writer is
			// dropped with the files it wrote.
			pw.abandon(ctx)
			pw.closing.Wait()
			b.w.removeTemps(ctx, pw.closed)
		}
	}()
	files, err := pw.writePartition(ctx, b, p)
	ok = true
	if err != nil {
		// The writer is dropped with the files it wrote.
		pw.abandon(ctx)
		b.w.removeTemps(ctx, files)
		return err
	}
	var rows int64
	for _, f := range files {
		rows += f.rows
	}
	b.w.stats.records.Add(rows)
	b.files[p.Index] = files
	b.w.release(pw)
	return nil
}

// Commit makes the batch's files visible (see batch).
func (b *batch[T]) Commit(ctx context.Context) error {
	files := slices.Concat(b.files...)
	if len(files) == 0 && !b.staged {
		return nil
	}
	return b.w.commit(ctx, b.stage, b.t, files, b.prev)
}

// Abort removes the temporary files that the partitions wrote: the batch
// failed, and its committed files, if an earlier attempt committed any,
// stay until the batch runs again.
func (b *batch[T]) Abort(ctx context.Context, _ error) {
	for p := range b.files {
		b.w.removeTemps(ctx, b.files[p])
		b.files[p] = nil
	}
}
