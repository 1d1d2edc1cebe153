package dstream

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/microbatch-go/microbatch/storage"
)

const printRule = "-------------------------------------------"

// Print registers an output operation that prints the first 10 elements
// of every batch to standard output, in Spark's format:
//
//	-------------------------------------------
//	Time: 1700000000000 ms
//	-------------------------------------------
//	(word,3)
//	...
//
// with "..." when the batch has more elements and an empty line after each
// batch. Empty batches print the header. Elements print with fmt's %v;
// pairs print as (key,value). The elements printed are counted in the
// batch's OutputOperationInfo.Wrote.Records. It returns the stream's
// build error, if any.
func (s *Stream[T]) Print() error { return s.PrintN(DefaultPrintCount) }

// PrintN is Print showing the first n elements.
func (s *Stream[T]) PrintN(n int) error { return s.fprint(nil, n, "print") }

// Fprint is PrintN writing to w. Each batch is written with a single Write.
func (s *Stream[T]) Fprint(w io.Writer, n int) error {
	if w == nil {
		return &BuildError{Op: "print", Err: fmt.Errorf("%w: nil writer", ErrInvalidOption)}
	}
	return s.fprint(w, n, "print")
}

func (s *Stream[T]) fprint(w io.Writer, n int, op string) error {
	if s == nil {
		return &BuildError{Op: op, Err: ErrNilStream}
	}
	if n < 0 {
		return &BuildError{Op: op, Err: fmt.Errorf("%w: print count %d is negative", ErrInvalidOption, n)}
	}
	return s.WriteTo(&printOutput[T]{w: w, n: n}, WriteSpec[T]{Name: op})
}

// printOutput is the Output of Print: each partition keeps its first n+1
// elements (computing no more of it), and the commit prints the first n+1
// in partition order, which is what Spark's take(n+1) returns.
type printOutput[T any] struct {
	w io.Writer // nil: os.Stdout at each batch
	n int

	printed atomic.Int64 // elements printed since Open
}

func (o *printOutput[T]) Open(context.Context) error { o.printed.Store(0); return nil }
func (o *printOutput[T]) Close() error               { return nil }

// OutputStats implements StatsReporter: Records are the elements printed
// (at most n per batch, the "..." line left out).
func (o *printOutput[T]) OutputStats() OutputStats {
	return OutputStats{Records: o.printed.Load()}
}

func (o *printOutput[T]) Begin(_ context.Context, b OutputBatch) (BatchWriter[T], error) {
	return &printBatch[T]{o: o, t: b.Time, parts: make([][]T, b.Partitions)}, nil
}

type printBatch[T any] struct {
	o     *printOutput[T]
	t     time.Time
	parts [][]T
}

func (b *printBatch[T]) WritePartition(_ context.Context, p *Partition[T]) error {
	var first []T
	for x := range p.Records() {
		if len(first) == b.o.n+1 {
			break
		}
		first = append(first, x)
	}
	b.parts[p.Index] = first
	return nil
}

func (b *printBatch[T]) Abort(context.Context, error) {}

func (b *printBatch[T]) Commit(context.Context) error {
	n := b.o.n
	var buf bytes.Buffer
	buf.WriteString(printRule + "\n")
	fmt.Fprintf(&buf, "Time: %d ms\n", b.t.UnixMilli())
	buf.WriteString(printRule + "\n")
	shown := 0
	for _, part := range b.parts {
		for _, x := range part {
			if shown == n {
				buf.WriteString("...\n")
				shown++
				break
			}
			fmt.Fprintln(&buf, x)
			shown++
		}
		if shown > n {
			break
		}
	}
	buf.WriteString("\n")
	out := b.o.w
	if out == nil {
		out = os.Stdout
	}
	if _, err := out.Write(buf.Bytes()); err != nil {
		return err
	}
	b.o.printed.Add(int64(min(shown, n)))
	return nil
}

// ForEachBatch registers an output operation that calls f with every batch
// (Spark's foreachRDD), the generic way to write a batch anywhere. ctx is
// cancelled by a hard stop. f must not modify the batch. An error from f
// fails the batch and stops the context; output operations registered
// after it do not run for that batch. Name(...) among opts names the
// operation (default "forEachBatch"). It returns the stream's build
// error, if any.
func (s *Stream[T]) ForEachBatch(f func(ctx context.Context, b *Batch[T]) error, opts ...OpOption) error {
	const op = "forEachBatch"
	if s == nil {
		return &BuildError{Op: op, Err: ErrNilStream}
	}
	if f == nil {
		return &BuildError{Op: op, Err: ErrNilFunc}
	}
	name, err := outputOptions(opts)
	if err != nil {
		return &BuildError{Op: op, Err: err}
	}
	return s.n.c.addOutputFor(s.n, cmp.Or(name, op), func(r *run, t int64) error {
		b, err := s.batch(r, t)
		if err != nil || b == nil {
			return err
		}
		return f(r.ctx, b)
	})
}

// BatchFileName returns the name Spark gives the output of one batch:
// "<prefix>-<ms>", plus ".<suffix>" when suffix is not empty; with an empty
// prefix just "<ms>[.<suffix>]".
func BatchFileName(prefix, suffix string, t time.Time) string {
	name := strconv.FormatInt(t.UnixMilli(), 10)
	if prefix != "" {
		name = prefix + "-" + name
	}
	if suffix != "" {
		name += "." + suffix
	}
	return name
}

// SaveAsTextFiles registers an output operation that writes every batch as
// a directory of text files named as Spark names them: prefix-<ms>[.suffix]
// (see BatchFileName), holding one file per partition, part-00000,
// part-00001, ..., with one element per line (%v; pairs as (key,value)),
// and an empty _SUCCESS file once all parts are in place.
//
// The prefix is a path or a storage URI (file:///..., or hdfs://... with
// its driver imported), opened through the context's storage.Opener
// (WithStorage); directories are created as needed. Each part is
// written to a temporary name and renamed into place, so readers never see
// a partial part, and a batch written again (after a recovery) replaces
// its own output; leftover parts of an earlier attempt with more
// partitions are removed.
//
// The output counts what it writes (OutputOperationInfo.Wrote): Records
// are the lines written to parts, and Rows, Bytes and Files the lines,
// bytes and part files of the batches committed (their _SUCCESS written).
func (s *Stream[T]) SaveAsTextFiles(prefix, suffix string) error {
	if s == nil {
		return &BuildError{Op: "saveAsTextFiles", Err: ErrNilStream}
	}
	var opener *storage.Opener // the context's (WithStorage)
	if s.n != nil && s.n.c != nil {
		opener = s.n.c.cfg.opener
	}
	fsys, p, err := opener.Open(prefix)
	if err != nil {
		return &BuildError{Op: "saveAsTextFiles", Err: fmt.Errorf("%w: prefix %q: %w", ErrInvalidOption, prefix, err)}
	}
	return s.WriteTo(&textOutput[T]{fsys: fsys, uri: prefix, prefix: p, suffix: suffix}, WriteSpec[T]{Name: "saveAsTextFiles"})
}

// textOutput is the Output of SaveAsTextFiles.
type textOutput[T any] struct {
	fsys           storage.FS
	uri            string // the prefix as given, for the start check's name
	prefix, suffix string

	// What it wrote since Open (OutputStats): lines written to parts, and
	// the lines, bytes and parts of the batches committed.
	records, rows, bytes, files atomic.Int64
}

// OutputStats implements StatsReporter. Records are the lines (elements)
// written to part files; Rows, Bytes and Files are the lines, the bytes
// and the number of the part files of the batches committed (their
// _SUCCESS written). A batch written again counts what it wrote again.
func (o *textOutput[T]) OutputStats() OutputStats {
	return OutputStats{Records: o.records.Load(), Rows: o.rows.Load(), Bytes: o.bytes.Load(), Files: o.files.Load()}
}

// StartCheck checks that the output's directory can be written.
func (o *textOutput[T]) StartCheck() (string, func(ctx context.Context) error) {
	return "text output " + storage.Redact(o.uri), func(ctx context.Context) error {
		return storage.CheckWritable(ctx, o.fsys, path.Dir(o.prefix))
	}
}

func (o *textOutput[T]) Open(context.Context) error {
	o.records.Store(0)
	o.rows.Store(0)
	o.bytes.Store(0)
	o.files.Store(0)
	return nil
}

func (o *textOutput[T]) Close() error { return nil }

// Begin makes the batch's directory and removes its _SUCCESS marker
// first, so that a reader never takes a directory being rewritten for
// complete.
func (o *textOutput[T]) Begin(ctx context.Context, b OutputBatch) (BatchWriter[T], error) {
	dir := BatchFileName(o.prefix, o.suffix, b.Time)
	if err := o.fsys.MkdirAll(ctx, dir); err != nil {
		return nil, err
	}
	if err := o.fsys.Remove(ctx, path.Join(dir, "_SUCCESS")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return &textBatch[T]{o: o, fsys: o.fsys, dir: dir, parts: b.Partitions}, nil
}

type textBatch[T any] struct {
	o     *textOutput[T]
	fsys  storage.FS
	dir   string
	parts int

	lines, bytes atomic.Int64 // of the parts written
}

func (b *textBatch[T]) WritePartition(ctx context.Context, p *Partition[T]) error {
	var lines int64
	var cw countingWriter
	err := storage.WriteFileAtomic(ctx, b.fsys, path.Join(b.dir, fmt.Sprintf("part-%05d", p.Index)), func(w io.Writer) error {
		lines, cw = 0, countingWriter{w: w}
		bw := bufio.NewWriterSize(&cw, 64<<10)
		for x := range p.Records() {
			if _, err := fmt.Fprintln(bw, x); err != nil {
				return err
			}
			lines++
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	b.lines.Add(lines)
	b.bytes.Add(cw.n)
	b.o.records.Add(lines)
	return nil
}

// countingWriter counts the bytes written to w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Commit removes parts left by an earlier write of the batch with more
// partitions, then writes _SUCCESS.
func (b *textBatch[T]) Commit(ctx context.Context) error {
	if err := removeExtraParts(ctx, b.fsys, b.dir, b.parts); err != nil {
		return err
	}
	if err := storage.WriteFileAtomic(ctx, b.fsys, path.Join(b.dir, "_SUCCESS"), func(io.Writer) error { return nil }); err != nil {
		return err
	}
	b.o.rows.Add(b.lines.Load())
	b.o.bytes.Add(b.bytes.Load())
	b.o.files.Add(int64(b.parts))
	return nil
}

// Abort leaves the parts written: without _SUCCESS the directory is not
// complete, and the batch run again replaces them.
func (b *textBatch[T]) Abort(context.Context, error) {}

// removeExtraParts removes part files numbered n or more, left by an
// earlier write of the same batch with more partitions.
func removeExtraParts(ctx context.Context, fsys storage.FS, dir string, n int) error {
	entries, err := fsys.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name, "part-")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(num)
		if err != nil || i < n {
			continue
		}
		if err := fsys.Remove(ctx, path.Join(dir, e.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// addOutputFor registers an output operation; see addOutput.
func (c *Context) addOutputFor(n *node, name string, f func(r *run, t int64) error) error {
	if c == nil {
		if n.err != nil {
			return n.err
		}
		return &BuildError{Op: name, Err: ErrNilStream}
	}
	return c.addOutput(n, name, f)
}
