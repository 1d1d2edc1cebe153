package parquetsink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
)

// partWriter writes one partition of a batch at a time into its files,
// with one parquet-go writer and buffers that it keeps for the next
// partition (Sink.writer, Sink.release).
//
// The rows come from the partition's iterator, computed as they are
// iterated. Without Hive partitions they are streamed to the file through
// buf, chunkRows at a time. With Hive partitions, the rows of the first
// Hive partition that the batch partition meets are streamed likewise;
// those of the others are buffered, in chunks, and written after the
// partition's last row, one Hive partition after another, so that one
// parquet-go writer (whose column buffers take PageBufferSize per column)
// is open at a time, however many Hive partitions a batch partition
// spreads over.
type partWriter[T any] struct {
	w     *Sink[T]
	pw    *parquet.GenericWriter[T]
	buf   []T   // rows on their way to the open file
	spare [][]T // empty chunks of chunkRows rows, for buffered Hive partitions

	// The partition being written.
	b   *batch[T]
	p   int
	tmp int // temporary files created

	// The files of the partition that are written, synced and closed in
	// the background (see finish).
	closing  sync.WaitGroup
	slots    chan struct{} // one per file being closed, up to closeConcurrency
	closedMu sync.Mutex
	closed   []file  // the files closed
	closeErr []error // the errors of those that failed

	// The open file.
	f         io.WriteCloser
	fTmp      string
	fRel      string
	inFile    int64 // rows in the file
	unchecked int   // rows since its size was checked (MaxFileBytes)

	// The Hive partitions of the batch partition, by key (see lookup).
	groups []*hiveGroup[T]
	byKey  map[string]*hiveGroup[T]
	key    []byte
}

// fileSeq is where the files of one batch partition and Hive partition
// go: <dir>/<prefix>-<t>-<p>-<n>.parquet for n = 0, 1, ...
type fileSeq struct {
	dir string // relative, "" without PartitionBy
	n   int    // files started
}

// hiveGroup is one Hive partition of a batch partition.
type hiveGroup[T any] struct {
	vals   []string // the partition function's values
	seq    fileSeq
	err    error // why its directory cannot be made: its rows are rejected
	chunks [][]T // its rows, unless it is streamed
}

// writePartition writes the rows of p and returns the temporary files it
// wrote, synced and closed. On an error the partition writer is to be
// dropped after abandon.
func (w *partWriter[T]) writePartition(ctx context.Context, b *batch[T], p *dstream.Partition[T]) ([]file, error) {
	w.b, w.p, w.tmp = b, p.Index, 0
	if cap(w.buf) == 0 {
		w.buf = make([]T, 0, chunkRows)
	}
	if w.slots == nil {
		w.slots = make(chan struct{}, closeConcurrency)
	}
	var err error
	if w.w.partition == nil {
		err = w.stream(ctx, p)
	} else {
		err = w.grouped(ctx, p)
	}
	w.closing.Wait()
	files := w.closed
	if err == nil {
		err = errors.Join(w.closeErr...)
	}
	w.closed, w.closeErr = nil, nil
	if err != nil {
		return files, err
	}
	// Drop the references to the rows, and the partition's state.
	clear(w.buf[:cap(w.buf)])
	w.buf = w.buf[:0]
	clear(w.groups)
	w.groups = w.groups[:0]
	clear(w.byKey)
	w.b = nil
	return files, nil
}

// stream writes every row of p to the files of the batch partition.
func (w *partWriter[T]) stream(ctx context.Context, p *dstream.Partition[T]) error {
	var seq fileSeq
	buf := w.buf
	for x := range p.Records() {
		buf = append(buf, x)
		if len(buf) == cap(buf) {
			if err := w.write(ctx, &seq, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if err := w.write(ctx, &seq, buf); err != nil {
		return err
	}
	w.buf = buf
	return w.finish(ctx)
}

// grouped writes the rows of p to the files of their Hive partitions. The
// values of a Hive partition are checked once, when its first row is
// seen; the rows of one that cannot be made, and rows with the wrong
// number of values, are rejected (or fail the batch).
func (w *partWriter[T]) grouped(ctx context.Context, p *dstream.Partition[T]) error {
	values, ncols := w.w.partition, len(w.w.cols)
	var cur, streamed *hiveGroup[T]
	buf := w.buf
	i := -1
	for x := range p.Records() {
		i++
		if i%chunkRows == chunkRows-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		vals := values(x)
		g := cur
		if g == nil || !slices.Equal(vals, g.vals) {
			if len(vals) != ncols {
				if err := w.reject(p, i, x, checkPartition(w.w.cols, vals)); err != nil {
					return err
				}
				continue
			}
			g = w.lookup(vals)
			cur = g
		}
		switch {
		case g.err != nil:
			if err := w.reject(p, i, x, g.err); err != nil {
				return err
			}
		case g == streamed:
			buf = append(buf, x)
			if len(buf) == cap(buf) {
				if err := w.write(ctx, &g.seq, buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		case streamed == nil:
			streamed = g
			buf = append(buf, x)
		default:
			w.buffer(g, x)
		}
	}
	if streamed != nil {
		if err := w.write(ctx, &streamed.seq, buf); err != nil {
			return err
		}
		if err := w.finish(ctx); err != nil {
			return err
		}
	}
	w.buf = buf
	for _, g := range w.groups {
		for j, c := range g.chunks {
			if err := w.write(ctx, &g.seq, c); err != nil {
				return err
			}
			w.recycle(c)
			g.chunks[j] = nil
		}
		if err := w.finish(ctx); err != nil {
			return err
		}
	}
	return nil
}

// lookup returns the Hive partition of the values vals, made when it is
// new. Its key is the values, each preceded by its length, so that no
// two lists of values share one; building it in w.key and looking it up
// allocates nothing.
func (w *partWriter[T]) lookup(vals []string) *hiveGroup[T] {
	key := appendHiveKey(w.key[:0], vals)
	w.key = key
	if g, ok := w.byKey[string(key)]; ok {
		return g
	}
	g := &hiveGroup[T]{
		vals: slices.Clone(vals),
		seq:  fileSeq{dir: w.w.hiveDir(vals)},
		err:  checkPartition(w.w.cols, vals),
	}
	if w.byKey == nil {
		w.byKey = map[string]*hiveGroup[T]{}
	}
	w.byKey[string(key)] = g
	w.groups = append(w.groups, g)
	return g
}

// buffer keeps the row x of the Hive partition g for later, in chunks of
// 64, 128, ... up to chunkRows rows: rows are copied once, and a Hive
// partition of a few rows takes little room.
func (w *partWriter[T]) buffer(g *hiveGroup[T], x T) {
	n := len(g.chunks)
	if n == 0 || len(g.chunks[n-1]) == cap(g.chunks[n-1]) {
		size := chunkRows
		if n < 7 {
			size = 64 << n
		}
		var c []T
		if size == chunkRows && len(w.spare) > 0 {
			c = w.spare[len(w.spare)-1]
			w.spare = w.spare[:len(w.spare)-1]
		} else {
			c = make([]T, 0, size)
		}
		g.chunks = append(g.chunks, c)
		n++
	}
	g.chunks[n-1] = append(g.chunks[n-1], x)
}

// recycle keeps the written chunk c for the next buffered rows, up to the
// sink's maxSpare chunks.
func (w *partWriter[T]) recycle(c []T) {
	if cap(c) != chunkRows || len(w.spare) >= w.w.maxSpare {
		return
	}
	clear(c)
	w.spare = append(w.spare, c[:0])
}

// reject hands row i of the partition p, which cannot be written for err,
// to the dead letters, or returns the error that fails the batch with
// FailOnInvalidPartition.
func (w *partWriter[T]) reject(p *dstream.Partition[T], i int, row T, err error) error {
	return w.w.reject(p, i, row, err)
}

// reject hands row i of the partition p, which cannot be written for
// err, to the dead letters, or returns the error that fails the batch
// with FailOnInvalidPartition. err is checkPartition's *partitionError,
// which names the rejection's reason (dstream.RejectReasonOf).
func (w *Sink[T]) reject(p *dstream.Partition[T], i int, row T, err error) error {
	if w.failInvalid {
		return fmt.Errorf("%w: row %d of batch partition %d (FailOnInvalidPartition; without it, such rows go to the job's dead letters, e.g. dstream.WriteSpec.DeadLetter)", err, i, p.Index)
	}
	p.Reject(row, err)
	return nil
}

// appendHiveKey appends the key of a Hive partition's values to dst: the
// values, each preceded by its length, so that no two lists of values
// share one.
func appendHiveKey(dst []byte, vals []string) []byte {
	for _, v := range vals {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// fileRows is how many of n rows go to a file holding inFile rows, with
// unchecked rows since its size was checked, before a file limit
// (MaxFileRows, MaxFileBytes) is looked at again.
func (w *Sink[T]) fileRows(n int, inFile int64, unchecked int) int {
	if w.maxFileRows > 0 {
		n = int(min(int64(n), w.maxFileRows-inFile))
	}
	if w.maxFileBytes > 0 {
		n = min(n, byteCheckRows-unchecked)
	}
	return n
}

// fileFull says whether a file of pw holding inFile rows has reached a
// file limit; its size is checked, and *unchecked reset, every
// byteCheckRows rows.
func (w *Sink[T]) fileFull(pw *parquet.GenericWriter[T], inFile int64, unchecked *int) bool {
	full := w.maxFileRows > 0 && inFile >= w.maxFileRows
	if w.maxFileBytes > 0 && *unchecked >= byteCheckRows {
		*unchecked = 0
		full = full || pw.Size() >= w.maxFileBytes
	}
	return full
}

func (w *Sink[T]) hiveDir(vals []string) string {
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

// write writes rows to the files of seq, starting one when none is open
// and ending it at a file limit (MaxFileRows, MaxFileBytes).
func (w *partWriter[T]) write(ctx context.Context, seq *fileSeq, rows []T) error {
	s := w.w
	for len(rows) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("parquetsink: batch partition %d: %w", w.p, err)
		}
		if w.f == nil {
			if err := w.create(ctx, seq); err != nil {
				return err
			}
		}
		n := s.fileRows(len(rows), w.inFile, w.unchecked)
		if _, err := w.pw.Write(rows[:n]); err != nil {
			return w.fileErr(err)
		}
		rows = rows[n:]
		w.inFile += int64(n)
		w.unchecked += n
		if s.fileFull(w.pw, w.inFile, &w.unchecked) {
			if err := w.finish(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// create starts the next file of seq: a temporary file in the staging
// directory, named by the partition, and its final name.
func (w *partWriter[T]) create(ctx context.Context, seq *fileSeq) error {
	s, b := w.w, w.b
	w.fRel = path.Join(seq.dir, s.prefix+"-"+strconv.FormatInt(b.t, 10)+"-"+fmt.Sprintf("%05d", w.p)+"-"+strconv.Itoa(seq.n)+".parquet")
	w.fTmp = path.Join(b.stage, fmt.Sprintf("%05d-%d-%s.tmp", w.p, w.tmp, strconv.FormatUint(rand.Uint64(), 36)))
	seq.n++
	w.tmp++
	f, err := s.fsys.Create(ctx, w.fTmp)
	if err != nil {
		_ = s.fsys.Remove(context.WithoutCancel(ctx), w.fTmp) // some stores leave an entry behind
		return w.fileErr(err)
	}
	w.f = f
	w.pw.Reset(f)
	w.inFile, w.unchecked = 0, 0
	return nil
}

// finish ends the open file, if any: parquet-go writes the rest of its
// data and the Parquet footer, then the file is synced and closed in the
// background, while the partition's next rows are encoded, and listed in
// closed; on an error it is removed and the error kept in closeErr. A
// sync waits for the disk (or, on HDFS, for the DataNodes), which
// partitions of many Hive partitions, with a file each, would otherwise
// wait for one file after another.
func (w *partWriter[T]) finish(ctx context.Context) error {
	f := w.f
	if f == nil {
		return nil
	}
	if err := w.pw.Close(); err != nil {
		w.abandon(ctx)
		return w.fileErr(err)
	}
	w.f = nil
	fsys, done := w.w.fsys, file{tmp: w.fTmp, rel: w.fRel, rows: w.inFile, size: closedSize(w.pw)}
	name := path.Join(w.w.root, w.fRel)
	w.slots <- struct{}{}
	w.closing.Add(1)
	go func() {
		defer func() {
			<-w.slots
			w.closing.Done()
		}()
		err := syncClose(f)
		if err != nil {
			_ = fsys.Remove(context.WithoutCancel(ctx), done.tmp)
		}
		w.closedMu.Lock()
		defer w.closedMu.Unlock()
		if err != nil {
			w.closeErr = append(w.closeErr, fmt.Errorf("parquetsink: writing %s: %w", name, err))
			return
		}
		w.closed = append(w.closed, done)
	}()
	return nil
}

// closedSize is the size in bytes of the file that pw has just closed:
// what parquet-go wrote to it, footer included.
func closedSize[T any](pw *parquet.GenericWriter[T]) int64 {
	if fv := pw.File(); fv != nil {
		return fv.Size()
	}
	return pw.Size()
}

// syncClose syncs f, when it can be, and closes it.
func syncClose(f io.WriteCloser) error {
	if s, ok := f.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			_ = f.Close()
			return fmt.Errorf("sync: %w", err)
		}
	}
	return f.Close()
}

// abandon closes and removes the open file, if any, after a failure.
func (w *partWriter[T]) abandon(ctx context.Context) {
	if w.f == nil {
		return
	}
	_ = w.f.Close()
	_ = w.w.fsys.Remove(context.WithoutCancel(ctx), w.fTmp)
	w.f = nil
}

// fileErr says which file failed.
func (w *partWriter[T]) fileErr(err error) error {
	return fmt.Errorf("parquetsink: writing %s: %w", path.Join(w.w.root, w.fRel), err)
}
