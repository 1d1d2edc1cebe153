package parquetsink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

// Writing by source range (Rotate).
//
// Each input partition (a Kafka topic partition) has a staging directory,
// <dir>/_temporary/<prefix>-<input>-<partition>/, written only by the
// partition's owner:
//
//	_log/start               the offset the partition's first chunk started at
//	_log/<from, 20 digits>   the claim of the chunk that starts at from
//	<writer>-<from>/         the temporary files of a chunk being written
//
// A chunk is committed by creating its claim exclusively (a NameNode
// create that fails when the name exists; O_EXCL on a local disk): the
// claim lists the chunk's end offset and, for each temporary file, its
// final name. Then the files are renamed into place. Of two writers that
// both hold a chunk starting at the same offset (an owner and a zombie
// that lost the partition without noticing), exactly one creates the
// claim; the other discards its chunk and fails its batch. The next owner
// of a partition (Resume) rolls the renames of the recorded claims
// forward, removes what no claim refers to, and starts reading at the end
// of the newest claim: the store, not a checkpoint or the group's commit,
// says what was written.

const (
	logDir      = "_log"
	startName   = "start"
	claimHeader = "parquetsink chunk v1"
	startHeader = "parquetsink start v1"
	// keptClaims is how many claims of a partition are kept at least;
	// older ones are removed once they are keptClaimAge old. A claim
	// stays long enough that a writer with a stale idea of where the
	// partition stands (a paused zombie) finds a newer claim.
	keptClaims   = 8
	keptClaimAge = 10 * time.Minute
	// partialClaimAge is how old a claim that is still empty or partly
	// written must be before the next owner takes it for the leftover of
	// a writer that died while writing it.
	partialClaimAge = time.Minute
	// claimRetries is how often a partly written claim is read again
	// before it is judged (claimRetryWait apart).
	claimRetries   = 10
	claimRetryWait = 100 * time.Millisecond
	// storeConcurrency is how many partitions commit at once.
	storeConcurrency = 8
	// rotatePageBufferSize is the Parquet page buffer size of the writers
	// of Rotate (parquet-go's default is 256 KiB), unless WriterOptions
	// says otherwise.
	rotatePageBufferSize = 32 << 10
	// spillRows is how many rows a Hive partition of a chunk holds in
	// memory before it gets a file and writer of its own; maxHeldRows is
	// how many a chunk holds in all before every Hive partition does.
	spillRows   = 8192
	maxHeldRows = 65536
	// hiveBufRows is how many rows a Hive partition's file collects before
	// they go to parquet-go.
	hiveBufRows = 1024
)

// srcKey names an input partition.
type srcKey struct {
	input     string
	partition int32
}

func (k srcKey) String() string { return k.input + "-" + strconv.Itoa(int(k.partition)) }

// srcPart is the sink's state of one input partition.
type srcPart[T any] struct {
	mu  sync.Mutex
	key srcKey
	dir string // its staging directory

	known  bool  // the store was read since this sink took the partition
	hasTip bool  // the store has a record of the partition
	tip    int64 // where the next chunk starts

	// The open chunk.
	open      bool
	from      int64 // its first offset: tip
	until     int64 // the end of the completed batches' ranges in it
	opened    time.Time
	tmpDir    string
	files     map[string]*chunkFile[T] // by Hive partition key
	order     []*chunkFile[T]
	done      []chunkPart // files of the chunk closed
	doneBytes int64
	rows      int64
	held      int // rows held in the chunk's files (chunkFile.held)
	tmps      int // temporary files created

	// The batch in progress.
	seenAt   int64 // the batch time that last wrote (or skipped) the partition
	dirty    bool  // the batch wrote rows into the chunk
	pending  int64 // the batch's range's end
	released bool  // Release while dirty: discard when the batch completes
	gone     bool  // released: batches generated before are not written
}

// chunkPart is a closed file of a chunk.
type chunkPart struct {
	tmp  string // relative to the root
	hive string // the Hive partition directory, relative
	n    int
	rows int64 // the rows in the file
	size int64 // its size in bytes
}

// chunkFile is one Hive partition of a chunk. Its rows are held in
// memory until it has spillRows of them (or the chunk holds maxHeldRows):
// then a file and a parquet-go writer are opened for it, kept open until
// the chunk is committed. The Hive partitions that never spill are
// written at the commit, one after another, by one writer: a chunk may
// touch hundreds of Hive partitions, and a parquet-go writer's column
// buffers take a few MiB.
type chunkFile[T any] struct {
	hive      string
	err       error // why the Hive partition cannot be made: rows are rejected
	n         int   // files started
	f         io.WriteCloser
	tmp       string
	pw        *parquet.GenericWriter[T] // while the file is open
	inFile    int64
	unchecked int
	held      [][]T // rows not written yet, in chunks of hiveBufRows
	nheld     int
}

// claim is a parsed claim.
type claim struct {
	name   string // its path
	from   int64
	until  int64
	writer string
	files  [][2]string // temporary (relative to the root) and final name
}

func newWriterID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// src returns the state of an input partition.
func (w *Sink[T]) src(input string, partition int32) *srcPart[T] {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := srcKey{input, partition}
	sp := w.srcs[k]
	if sp == nil {
		sp = &srcPart[T]{
			key: k,
			dir: path.Join(w.root, StagingDir, fmt.Sprintf("%s-%s-%05d", w.prefix, EscapePathName(input), partition)),
		}
		w.srcs[k] = sp
	}
	return sp
}

// rotBatch is a batch of a sink with Rotate.
type rotBatch[T any] struct {
	w *Sink[T]
	t int64
}

// WritePartition appends the rows of p to the open chunk of its input
// partition.
func (b *rotBatch[T]) WritePartition(ctx context.Context, p *dstream.Partition[T]) error {
	w := b.w
	sr, ok := dstream.SourceRangeOf(p)
	if !ok {
		return fmt.Errorf("parquetsink: batch partition %d was not read from one range of a replayable input (its lineage: %v); "+
			"Rotate writes what the Kafka direct stream read, with only narrow operations (map, filter, flatMap) between", p.Index, p.Lineage)
	}
	sp := w.src(sr.Input, sr.Partition)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.seenAt == b.t {
		return fmt.Errorf("parquetsink: %v is written twice in one batch", sp.key)
	}
	sp.seenAt = b.t
	if sp.gone {
		// A batch generated before the partition was taken away: its
		// next owner reads the range (from where this sink's record says).
		return nil
	}
	skip, err := w.ready(ctx, sp, sr)
	if err != nil || skip {
		return err
	}
	sp.dirty, sp.pending = true, sr.Until
	return w.appendRows(ctx, sp, p)
}

// Commit does nothing: the batch's rows stay in the open chunks until the
// whole batch has completed (BatchCompleted).
func (b *rotBatch[T]) Commit(context.Context) error { return nil }

// Abort discards the chunks the batch wrote into: their earlier batches'
// rows are read again by whoever resumes the partitions.
func (b *rotBatch[T]) Abort(ctx context.Context, _ error) {
	w := b.w
	for _, sp := range w.srcList() {
		sp.mu.Lock()
		if sp.dirty {
			w.discard(ctx, sp)
			sp.known = false
		}
		sp.mu.Unlock()
	}
}

func (w *Sink[T]) srcList() []*srcPart[T] {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Collect(maps.Values(w.srcs))
}

// ready makes sp ready for the range sr: the store is read if need be, a
// stale chunk discarded, a chunk opened. skip is true when the store
// holds the whole range already.
func (w *Sink[T]) ready(ctx context.Context, sp *srcPart[T], sr dstream.SourceRange) (skip bool, err error) {
	if sp.open && sp.until != sr.From {
		// Not where this chunk stopped: the partition was read elsewhere
		// meanwhile.
		w.discard(ctx, sp)
		sp.known = false
	}
	if sp.open {
		return false, nil
	}
	if !sp.known {
		if err := w.recover(ctx, sp); err != nil {
			return false, err
		}
	}
	if !sp.hasTip {
		if err := w.writeStart(ctx, sp, sr.From); err != nil {
			return false, err
		}
	}
	switch {
	case sr.From == sp.tip:
	case sr.Until <= sp.tip:
		return true, nil // committed already: read again by a second store of ResumeFrom
	case sr.From < sp.tip:
		return false, fmt.Errorf("parquetsink: %v: the batch reads offsets %d to %d, but the output's next offset is %d: "+
			"the input did not resume where the sink says (kafka.ResumeFrom)", sp.key, sr.From, sr.Until-1, sp.tip)
	default:
		return false, fmt.Errorf("parquetsink: %v: the batch reads from offset %d, but the output's next offset is %d: "+
			"offsets %d to %d would be missing; give the sink to the direct stream's kafka.ResumeFrom", sp.key, sr.From, sp.tip, sp.tip, sr.From-1)
	}
	sp.open = true
	sp.from, sp.until = sp.tip, sp.tip
	sp.opened = w.now()
	sp.tmpDir = path.Join(sp.dir, fmt.Sprintf("%s-%020d", w.writerID, sp.from))
	sp.files = map[string]*chunkFile[T]{}
	return false, nil
}

// appendRows writes the rows of p into the files of sp's chunk.
func (w *Sink[T]) appendRows(ctx context.Context, sp *srcPart[T], p *dstream.Partition[T]) error {
	var cur *chunkFile[T]
	var curVals []string
	var key []byte
	var accepted int64 // rows added to the chunk, counted once the partition is written
	i := -1
	for x := range p.Records() {
		i++
		if i%chunkRows == chunkRows-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		cf := cur
		if cf == nil || w.partition != nil {
			var vals []string
			if w.partition != nil {
				vals = w.partition(x)
			}
			if cf == nil || !slices.Equal(vals, curVals) {
				if len(vals) != len(w.cols) {
					if err := w.reject(p, i, x, checkPartition(w.cols, vals)); err != nil {
						return err
					}
					continue
				}
				key = appendHiveKey(key[:0], vals)
				cf = sp.files[string(key)]
				if cf == nil {
					cf = &chunkFile[T]{err: checkPartition(w.cols, vals)}
					if w.partition != nil {
						cf.hive = w.hiveDir(vals)
					}
					sp.files[string(key)] = cf
					sp.order = append(sp.order, cf)
				}
				cur, curVals = cf, slices.Clone(vals)
			}
		}
		if cf.err != nil {
			if err := w.reject(p, i, x, cf.err); err != nil {
				return err
			}
			continue
		}
		if n := len(cf.held); n == 0 || len(cf.held[n-1]) == cap(cf.held[n-1]) {
			if n > 0 && cf.pw != nil {
				// An open file takes its rows a chunk at a time.
				if err := w.flushRows(ctx, sp, cf); err != nil {
					return err
				}
			}
			cf.held = append(cf.held, w.takeRows())
		}
		last := len(cf.held) - 1
		cf.held[last] = append(cf.held[last], x)
		cf.nheld++
		sp.held++
		accepted++
		switch {
		case cf.pw == nil && cf.nheld >= spillRows:
			if err := w.flushRows(ctx, sp, cf); err != nil {
				return err
			}
		case sp.held >= maxHeldRows:
			for _, g := range sp.order {
				if err := w.flushRows(ctx, sp, g); err != nil {
					return err
				}
			}
		}
	}
	for _, cf := range sp.order {
		if cf.pw != nil {
			if err := w.flushRows(ctx, sp, cf); err != nil {
				return err
			}
		}
	}
	w.stats.records.Add(accepted)
	return nil
}

// takeRows returns an empty chunk of hiveBufRows rows.
func (w *Sink[T]) takeRows() []T {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.spareRows); n > 0 {
		c := w.spareRows[n-1]
		w.spareRows = w.spareRows[:n-1]
		return c
	}
	return make([]T, 0, hiveBufRows)
}

// dropHeld forgets the rows held in cf, keeping the chunks for reuse.
func (w *Sink[T]) dropHeld(sp *srcPart[T], cf *chunkFile[T]) {
	w.mu.Lock()
	for _, c := range cf.held {
		clear(c)
		if len(w.spareRows) < w.maxSpare {
			w.spareRows = append(w.spareRows, c[:0])
		}
	}
	w.mu.Unlock()
	sp.held -= cf.nheld
	cf.held, cf.nheld = nil, 0
}

// takeWriter returns a parquet-go writer for a file of a chunk.
func (w *Sink[T]) takeWriter(f io.Writer) *parquet.GenericWriter[T] {
	w.mu.Lock()
	if n := len(w.spareWriters); n > 0 {
		pw := w.spareWriters[n-1]
		w.spareWriters = w.spareWriters[:n-1]
		w.mu.Unlock()
		pw.Reset(f)
		return pw
	}
	w.mu.Unlock()
	return parquet.NewGenericWriter[T](f, w.writerOpts...) // options checked by probe
}

// putWriter keeps a writer whose file is closed for the next file, up to
// a few.
func (w *Sink[T]) putWriter(pw *parquet.GenericWriter[T]) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.spareWriters) < storeConcurrency*2 {
		pw.Reset(io.Discard)
		w.spareWriters = append(w.spareWriters, pw)
	}
}

// flushRows writes the rows held in cf, starting a file when none is open
// and ending it at a file limit (MaxFileRows, MaxFileBytes).
func (w *Sink[T]) flushRows(ctx context.Context, sp *srcPart[T], cf *chunkFile[T]) error {
	for _, rows := range cf.held {
		if err := w.writeRows(ctx, sp, cf, rows); err != nil {
			return err
		}
	}
	w.dropHeld(sp, cf)
	return nil
}

// writeRows writes rows to cf's file.
func (w *Sink[T]) writeRows(ctx context.Context, sp *srcPart[T], cf *chunkFile[T], rows []T) error {
	for len(rows) > 0 {
		if cf.f == nil {
			if err := w.createChunkFile(ctx, sp, cf); err != nil {
				return err
			}
		}
		n := w.fileRows(len(rows), cf.inFile, cf.unchecked)
		if _, err := cf.pw.Write(rows[:n]); err != nil {
			return fmt.Errorf("parquetsink: writing %s: %w", path.Join(w.root, cf.tmp), err)
		}
		rows = rows[n:]
		cf.inFile += int64(n)
		cf.unchecked += n
		sp.rows += int64(n)
		if w.fileFull(cf.pw, cf.inFile, &cf.unchecked) {
			if err := w.closeChunkFile(sp, cf); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Sink[T]) createChunkFile(ctx context.Context, sp *srcPart[T], cf *chunkFile[T]) error {
	rel, err := relTo(w.root, path.Join(sp.tmpDir, strconv.Itoa(sp.tmps)+".tmp"))
	if err != nil {
		return err
	}
	sp.tmps++
	f, err := w.fsys.Create(ctx, path.Join(w.root, rel))
	if err != nil {
		_ = w.fsys.Remove(context.WithoutCancel(ctx), path.Join(w.root, rel))
		return fmt.Errorf("parquetsink: writing %s: %w", path.Join(w.root, rel), err)
	}
	cf.f, cf.tmp = f, rel
	if cf.pw == nil {
		cf.pw = w.takeWriter(f)
	} else {
		cf.pw.Reset(f)
	}
	cf.inFile, cf.unchecked = 0, 0
	return nil
}

// closeChunkFile ends cf's open file: the Parquet footer is written, the
// file synced and closed.
func (w *Sink[T]) closeChunkFile(sp *srcPart[T], cf *chunkFile[T]) error {
	part, size, err := w.finishChunkFile(cf)
	if err != nil {
		return err
	}
	sp.done = append(sp.done, part)
	sp.doneBytes += size
	return nil
}

// finishChunkFile writes the footer of cf's open file and syncs and
// closes it. It touches only cf.
func (w *Sink[T]) finishChunkFile(cf *chunkFile[T]) (chunkPart, int64, error) {
	f, part, size, err := w.endChunkFile(cf)
	if err != nil {
		return part, size, err
	}
	if err := syncClose(f); err != nil {
		return chunkPart{}, 0, fmt.Errorf("parquetsink: writing %s: %w", path.Join(w.root, part.tmp), err)
	}
	return part, size, nil
}

// endChunkFile writes the footer of cf's open file and returns the file,
// to be synced and closed.
func (w *Sink[T]) endChunkFile(cf *chunkFile[T]) (io.WriteCloser, chunkPart, int64, error) {
	f := cf.f
	size := cf.pw.Size()
	err := cf.pw.Close()
	cf.f = nil
	if err != nil {
		_ = f.Close()
		return nil, chunkPart{}, 0, fmt.Errorf("parquetsink: writing %s: %w", path.Join(w.root, cf.tmp), err)
	}
	part := chunkPart{tmp: cf.tmp, hive: cf.hive, n: cf.n, rows: cf.inFile, size: closedSize(cf.pw)}
	cf.n++
	return f, part, size, nil
}

// closeChunkFiles closes the open files of sp's chunk, closeConcurrency
// at a time: a sync waits for the disk or the DataNodes, and a chunk has
// a file for each Hive partition it touches.
func (w *Sink[T]) closeChunkFiles(sp *srcPart[T]) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, closeConcurrency)
	done := func(part chunkPart, size int64, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		sp.done = append(sp.done, part)
		sp.doneBytes += size
	}
	// The Hive partitions whose rows are all held: written one after
	// another by one writer, each file synced and closed in the
	// background while the next is encoded.
	var shared *parquet.GenericWriter[T]
	for _, cf := range sp.order {
		if cf.pw != nil || cf.nheld == 0 {
			continue
		}
		if shared != nil {
			cf.pw = shared
		}
		err := w.flushRows(context.Background(), sp, cf)
		var f io.WriteCloser
		var part chunkPart
		var size int64
		if err == nil && cf.f != nil {
			f, part, size, err = w.endChunkFile(cf)
		}
		shared, cf.pw = cf.pw, nil
		if err != nil {
			done(part, size, err)
			break
		}
		if f == nil {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := syncClose(f); err != nil {
				done(part, size, fmt.Errorf("parquetsink: writing %s: %w", path.Join(w.root, part.tmp), err))
				return
			}
			done(part, size, nil)
		}()
	}
	if shared != nil {
		w.putWriter(shared)
	}
	// The files open since their Hive partition spilled.
	for _, cf := range sp.order {
		if cf.f == nil {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			part, size, err := w.finishChunkFile(cf)
			pw := cf.pw
			cf.pw = nil
			w.putWriter(pw)
			done(part, size, err)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func relTo(root, name string) (string, error) {
	if root == "" || root == "." {
		return name, nil
	}
	rel, ok := strings.CutPrefix(name, strings.TrimSuffix(root, "/")+"/")
	if !ok {
		return "", fmt.Errorf("parquetsink: %s is not under %s", name, root)
	}
	return rel, nil
}

// discard closes and removes the open chunk's files.
func (w *Sink[T]) discard(ctx context.Context, sp *srcPart[T]) {
	ctx = context.WithoutCancel(ctx)
	for _, cf := range sp.order {
		if cf.f != nil {
			_ = cf.f.Close()
			_ = w.fsys.Remove(ctx, path.Join(w.root, cf.tmp))
			cf.f = nil
		}
		cf.pw = nil // its state is the failed file's: not reused
		w.dropHeld(sp, cf)
	}
	for _, d := range sp.done {
		_ = w.fsys.Remove(ctx, path.Join(w.root, d.tmp))
	}
	if sp.tmpDir != "" {
		_ = w.removeDir(ctx, sp.tmpDir)
	}
	sp.resetChunk()
}

func (sp *srcPart[T]) resetChunk() {
	sp.open, sp.dirty = false, false
	sp.files, sp.order, sp.done = nil, nil, nil
	sp.doneBytes, sp.rows, sp.tmps, sp.held = 0, 0, 0, 0
	sp.tmpDir = ""
}

// removeDir removes the files of a flat directory, then the directory.
func (w *Sink[T]) removeDir(ctx context.Context, dir string) error {
	entries, err := w.fsys.List(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("parquetsink: listing %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := w.remove(ctx, e.Path); err != nil {
			return err
		}
	}
	return w.remove(ctx, dir)
}

// BatchCompleted implements dstream.BatchCompleter: once the whole batch
// succeeded, its rows belong to their chunks, and the chunks that are due
// (Rotation) are committed; after a failed batch, the chunks it wrote
// into are discarded. A chunk of a partition that the batch did not read
// (the partition is no longer this job's) is discarded.
func (w *Sink[T]) BatchCompleted(ctx context.Context, t time.Time, batchErr error) error {
	if w.rotate == nil {
		return nil
	}
	tn := t.UnixNano()
	ran := w.lastBegin.Load() == tn
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	slots := make(chan struct{}, storeConcurrency)
	for _, sp := range w.srcList() {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := w.complete(ctx, sp, tn, ran, batchErr); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (w *Sink[T]) complete(ctx context.Context, sp *srcPart[T], t int64, ran bool, batchErr error) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	switch {
	case sp.dirty && (batchErr != nil || sp.released):
		w.discard(ctx, sp)
		sp.known = false
		return nil
	case sp.dirty:
		sp.dirty = false
		sp.until = sp.pending
	case ran && sp.seenAt != t && sp.open:
		w.discard(ctx, sp)
		sp.known = false
		return nil
	}
	if batchErr != nil || !sp.open || !w.due(sp) {
		return nil
	}
	return w.commitChunk(ctx, sp)
}

// due says whether sp's open chunk is to be committed now.
func (w *Sink[T]) due(sp *srcPart[T]) bool {
	if sp.until == sp.from {
		return false // nothing read: nothing to record
	}
	r := w.rotate
	if *r == (Rotation{}) {
		return true
	}
	if r.Rows > 0 && sp.rows+int64(sp.held) >= r.Rows {
		return true
	}
	if r.Interval > 0 && w.now().Sub(sp.opened) >= r.Interval {
		return true
	}
	if r.Bytes > 0 {
		size := sp.doneBytes
		for _, cf := range sp.order {
			if cf.f != nil {
				size += cf.pw.Size()
			}
		}
		return size >= r.Bytes
	}
	return false
}

// ErrLostClaim is wrapped by the error of a Rotate commit that another
// writer of the same Kafka partition made first: this copy of the job
// lost the partition (it was a zombie) or raced one that did. The batch
// fails, and the job stops; restarted, it resumes from the files.
var ErrLostClaim = errors.New("another writer committed this partition's offsets first")

// commitChunk commits sp's open chunk: its files are closed, its claim
// created, its files renamed into place (see the comment at the top).
func (w *Sink[T]) commitChunk(ctx context.Context, sp *srcPart[T]) error {
	if err := w.closeChunkFiles(sp); err != nil {
		w.discard(ctx, sp)
		sp.known = false
		return err
	}
	c := claim{
		name:   w.claimName(sp, sp.from),
		from:   sp.from,
		until:  sp.until,
		writer: w.writerID,
	}
	for _, d := range sp.done {
		c.files = append(c.files, [2]string{d.tmp, path.Join(d.hive, fmt.Sprintf("%s-%s-%05d-%010d-%010d-%d.parquet",
			w.prefix, EscapePathName(sp.key.input), sp.key.partition, sp.from, sp.until-1, d.n))})
	}
	fail := func(err error) error {
		w.discard(ctx, sp)
		sp.known = false
		return fmt.Errorf("parquetsink: committing offsets %d to %d of %v: %w", c.from, c.until-1, sp.key, err)
	}
	if newer, err := w.newerClaim(ctx, sp, c.from); err != nil {
		return fail(err)
	} else if newer != "" {
		return fail(fmt.Errorf("%w: %s exists (this copy lost the partition)", ErrLostClaim, newer))
	}
	wr, err := storage.CreateExclusive(ctx, w.fsys, c.name)
	if errors.Is(err, fs.ErrExist) {
		return fail(fmt.Errorf("%w: %s exists (this copy lost the partition, or raced a copy that did)", ErrLostClaim, c.name))
	}
	if err != nil {
		return fail(err)
	}
	if _, err := wr.Write(c.encode()); err != nil {
		_ = wr.Close()
		_ = w.fsys.Remove(context.WithoutCancel(ctx), c.name)
		return fail(err)
	}
	if err := syncClose(wr); err != nil {
		_ = w.fsys.Remove(context.WithoutCancel(ctx), c.name)
		return fail(err)
	}
	// A claim made after a newer one is a stale writer's: take it back
	// before any file is renamed.
	if newer, err := w.newerClaim(ctx, sp, c.from); err != nil || newer != "" {
		_ = w.fsys.Remove(context.WithoutCancel(ctx), c.name)
		if err == nil {
			err = fmt.Errorf("%w: %s exists (this copy lost the partition)", ErrLostClaim, newer)
		}
		return fail(err)
	}
	if err := w.rollForward(ctx, c); err != nil {
		sp.resetChunk()
		sp.known = false // the next owner, or this one, rolls it forward
		return fmt.Errorf("parquetsink: committing offsets %d to %d of %v: %w", c.from, c.until-1, sp.key, err)
	}
	// The chunk's files are visible, replacing those of an earlier
	// writer of the same chunk with the same names: counted as written
	// by this one.
	w.stats.committedChunk(sp.done)
	tmpDir := sp.tmpDir
	sp.resetChunk()
	sp.tip, sp.hasTip = c.until, true
	_ = w.removeDir(ctx, tmpDir)
	return w.pruneClaims(ctx, sp)
}

func (w *Sink[T]) claimName(sp *srcPart[T], from int64) string {
	return path.Join(sp.dir, logDir, fmt.Sprintf("%020d", from))
}

func (c *claim) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nfrom %d\nuntil %d\nwriter %s\n", claimHeader, c.from, c.until, c.writer)
	for _, f := range c.files {
		fmt.Fprintf(&b, "file %s\t%s\n", f[0], f[1])
	}
	b.WriteString("end\n")
	return b.Bytes()
}

// errPartialClaim is parseClaim's error for a claim without its end.
var errPartialClaim = errors.New("claim not completely written")

// parseClaim reads a claim; a claim still being written (or left so by a
// writer that died) gives errPartialClaim.
func parseClaim(name string, data []byte) (claim, error) {
	c := claim{name: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	bad := func(line string) error {
		return fmt.Errorf("parquetsink: %s: invalid claim line %q", name, line)
	}
	i, ended := 0, false
	for ; sc.Scan(); i++ {
		line := sc.Text()
		if ended {
			return c, bad(line)
		}
		key, val, _ := strings.Cut(line, " ")
		var err error
		switch {
		case i == 0:
			if line != claimHeader {
				return c, fmt.Errorf("parquetsink: %s is not a claim of this version (first line %q)", name, line)
			}
		case key == "from":
			c.from, err = strconv.ParseInt(val, 10, 64)
		case key == "until":
			c.until, err = strconv.ParseInt(val, 10, 64)
		case key == "writer":
			c.writer = val
		case key == "file":
			tmp, rel, ok := strings.Cut(val, "\t")
			if !ok || !validRel(tmp) || !validRel(rel) {
				return c, bad(line)
			}
			c.files = append(c.files, [2]string{tmp, rel})
		case line == "end":
			ended = true
		default:
			return c, bad(line)
		}
		if err != nil {
			return c, bad(line)
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("parquetsink: reading %s: %w", name, err)
	}
	if !ended {
		return c, errPartialClaim
	}
	if c.from < 0 || c.until <= c.from {
		return c, fmt.Errorf("parquetsink: %s: invalid range %d to %d", name, c.from, c.until)
	}
	return c, nil
}

func validRel(p string) bool {
	return p != "" && !path.IsAbs(p) && path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../")
}

// readClaim reads the claim name, waiting a little for one being written.
func (w *Sink[T]) readClaim(ctx context.Context, info storage.FileInfo) (claim, error) {
	for try := 0; ; try++ {
		data, err := w.readAll(ctx, info.Path)
		if err != nil {
			return claim{}, err
		}
		c, err := parseClaim(info.Path, data)
		if !errors.Is(err, errPartialClaim) || try == claimRetries {
			return c, err
		}
		select {
		case <-ctx.Done():
			return claim{}, ctx.Err()
		case <-time.After(claimRetryWait):
		}
	}
}

func (w *Sink[T]) readAll(ctx context.Context, name string) ([]byte, error) {
	r, err := w.fsys.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("parquetsink: reading %s: %w", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("parquetsink: reading %s: %w", name, err)
	}
	return data, nil
}

// claims lists the claims of sp, oldest first.
func (w *Sink[T]) claims(ctx context.Context, sp *srcPart[T]) ([]storage.FileInfo, error) {
	dir := path.Join(sp.dir, logDir)
	entries, err := w.fsys.List(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("parquetsink: listing %s: %w", dir, err)
	}
	var out []storage.FileInfo
	for _, e := range entries {
		if !e.IsDir && len(e.Name) == 20 && strings.Trim(e.Name, "0123456789") == "" {
			out = append(out, e)
		}
	}
	return out, nil // List sorts by name: by offset
}

// newerClaim returns the name of a claim of sp for a chunk after from, if
// there is one.
func (w *Sink[T]) newerClaim(ctx context.Context, sp *srcPart[T], from int64) (string, error) {
	cs, err := w.claims(ctx, sp)
	if err != nil {
		return "", err
	}
	if n := len(cs); n > 0 && cs[n-1].Name > fmt.Sprintf("%020d", from) {
		return cs[n-1].Path, nil
	}
	return "", nil
}

// recover reads the store's record of sp (Resume, or the first batch that
// reads the partition): the recorded claims that form the partition's
// chain, newest back, are rolled forward; claims off the chain (a stale
// writer's) and temporary files of chunks before the tip are removed; the
// tip is the end of the newest claim, else the start record's offset.
func (w *Sink[T]) recover(ctx context.Context, sp *srcPart[T]) error {
	sp.hasTip, sp.known = false, false
	infos, err := w.claims(ctx, sp)
	if err != nil {
		return err
	}
	var chain []claim
	next := int64(-1)
	for i := len(infos) - 1; i >= 0; i-- {
		c, err := w.readClaim(ctx, infos[i])
		if errors.Is(err, errPartialClaim) {
			if w.now().Sub(infos[i].ModTime) < partialClaimAge {
				return fmt.Errorf("parquetsink: %s is being written by another writer of %v; try again later", infos[i].Path, sp.key)
			}
			// Left by a writer that died while writing it: no file of it
			// was renamed.
			if err := w.remove(ctx, infos[i].Path); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if next >= 0 && c.until != next {
			// Off the chain: a stale writer's, taken back or to be.
			if err := w.remove(ctx, c.name); err != nil {
				return err
			}
			continue
		}
		chain = append(chain, c)
		next = c.from
	}
	slices.Reverse(chain)
	for _, c := range chain {
		if err := w.rollForward(ctx, c); err != nil {
			return err
		}
	}
	if n := len(chain); n > 0 {
		sp.tip, sp.hasTip = chain[n-1].until, true
	} else if at, ok, err := w.readStart(ctx, sp); err != nil {
		return err
	} else if ok {
		sp.tip, sp.hasTip = at, true
	}
	// Temporary files of chunks before the tip can never be committed.
	entries, err := w.fsys.List(ctx, sp.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("parquetsink: listing %s: %w", sp.dir, err)
	}
	for _, e := range entries {
		_, fromStr, ok := strings.Cut(e.Name, "-")
		if !e.IsDir || !ok || e.Name == logDir {
			continue
		}
		from, err := strconv.ParseInt(fromStr, 10, 64)
		if err != nil || (sp.hasTip && from < sp.tip) {
			if err := w.removeDir(ctx, e.Path); err != nil {
				return err
			}
		}
	}
	sp.known = true
	return nil
}

// rollForward renames the files of the claim c that are still temporary.
func (w *Sink[T]) rollForward(ctx context.Context, c claim) error {
	files := make([]file, len(c.files))
	for i, f := range c.files {
		files[i] = file{tmp: path.Join(w.root, f[0]), rel: f[1]}
	}
	return w.renameFiles(ctx, files, true)
}

// pruneClaims removes the claims of sp older than the newest keptClaims
// that are keptClaimAge old.
func (w *Sink[T]) pruneClaims(ctx context.Context, sp *srcPart[T]) error {
	cs, err := w.claims(ctx, sp)
	if err != nil {
		return err
	}
	now := w.now()
	for _, c := range cs[:max(0, len(cs)-keptClaims)] {
		if now.Sub(c.ModTime) < keptClaimAge {
			break
		}
		if err := w.remove(ctx, c.Path); err != nil {
			return err
		}
	}
	return nil
}

// writeStart records the offset the partition's first chunk starts at,
// unless another writer did: then sp's tip is what that one recorded.
func (w *Sink[T]) writeStart(ctx context.Context, sp *srcPart[T], at int64) error {
	name := path.Join(sp.dir, logDir, startName)
	wr, err := storage.CreateExclusive(ctx, w.fsys, name)
	if errors.Is(err, fs.ErrExist) {
		got, ok, err := w.readStart(ctx, sp)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("parquetsink: %s is being written by another writer of %v; try again later", name, sp.key)
		}
		sp.tip, sp.hasTip = got, true
		return nil
	}
	if err != nil {
		return fmt.Errorf("parquetsink: %w", err)
	}
	if _, err := fmt.Fprintf(wr, "%s\n%d\nend\n", startHeader, at); err != nil {
		_ = wr.Close()
		_ = w.fsys.Remove(context.WithoutCancel(ctx), name)
		return fmt.Errorf("parquetsink: writing %s: %w", name, err)
	}
	if err := syncClose(wr); err != nil {
		_ = w.fsys.Remove(context.WithoutCancel(ctx), name)
		return fmt.Errorf("parquetsink: writing %s: %w", name, err)
	}
	sp.tip, sp.hasTip = at, true
	return nil
}

// readStart reads the start record of sp; ok is false when there is none
// (or it is still being written).
func (w *Sink[T]) readStart(ctx context.Context, sp *srcPart[T]) (at int64, ok bool, err error) {
	name := path.Join(sp.dir, logDir, startName)
	for try := 0; ; try++ {
		data, err := w.readAll(ctx, name)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		lines := strings.Split(string(data), "\n")
		if len(lines) >= 3 && lines[0] == startHeader && lines[2] == "end" {
			at, err := strconv.ParseInt(lines[1], 10, 64)
			if err != nil || at < 0 {
				return 0, false, fmt.Errorf("parquetsink: %s: invalid offset %q", name, lines[1])
			}
			return at, true, nil
		}
		if len(lines) > 0 && lines[0] != "" && !strings.HasPrefix(startHeader, lines[0]) {
			return 0, false, fmt.Errorf("parquetsink: %s is not a start record of this version", name)
		}
		if try == claimRetries {
			return 0, false, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(claimRetryWait):
		}
	}
}

// Resume implements dstream.PositionStore: it reads the sink's record of
// the input partition (see Rotate) and returns where its next chunk
// starts. A chunk this sink held open for the partition is discarded.
func (w *Sink[T]) Resume(ctx context.Context, input string, partition int32) (int64, bool, error) {
	if w.rotate == nil {
		return 0, false, nil
	}
	sp := w.src(input, partition)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.released, sp.gone = false, false
	if sp.open && !sp.dirty {
		w.discard(ctx, sp)
	}
	if err := w.recover(ctx, sp); err != nil {
		return 0, false, err
	}
	return sp.tip, sp.hasTip, nil
}

// Release implements dstream.PositionStore: with commit, the partition's
// open chunk is committed now rather than read again by the next owner;
// without, it is discarded. A chunk a batch is writing into is discarded
// when the batch completes.
func (w *Sink[T]) Release(ctx context.Context, input string, partition int32, commit bool) error {
	if w.rotate == nil {
		return nil
	}
	sp := w.src(input, partition)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.gone = true
	if sp.dirty {
		sp.released = true
		return nil
	}
	defer func() { sp.known = false }()
	if commit && sp.open && sp.until > sp.from {
		return w.commitChunk(ctx, sp)
	}
	if sp.open {
		w.discard(ctx, sp)
	}
	return nil
}

// closeChunks commits the open chunks at Close: they hold only batches
// that completed.
func (w *Sink[T]) closeChunks() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, storeConcurrency)
	for _, sp := range w.srcList() {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			sp.mu.Lock()
			defer sp.mu.Unlock()
			var err error
			switch {
			case sp.dirty:
				w.discard(ctx, sp)
			case sp.open && sp.until > sp.from:
				err = w.commitChunk(ctx, sp)
			case sp.open:
				w.discard(ctx, sp)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// closeTimeout bounds the commits of Close.
const closeTimeout = time.Minute
