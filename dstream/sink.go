package dstream

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Output is a sink that the engine writes every batch of a stream to: the
// mirror of Input, and Spark's data source write path (a batch writer per
// batch, a writer per partition, one commit for the batch). Register one
// with Stream.WriteTo.
//
// For every batch the engine calls Begin, then WritePartition once for
// each partition of the batch, concurrently (at most the context's
// parallelism at once), then Commit once if every partition succeeded, or
// Abort once if one failed, panicked or the batch was cancelled. The
// engine owns the parallelism, the recovery from panics (a panic fails
// the batch with a *PanicError) and the order: batches are written one
// after another, in batch order, and a batch's Commit returns before the
// next batch's Begin. A failed Begin, WritePartition or Commit fails the
// batch, which stops the context (Spark's behaviour); with a checkpoint,
// a restarted job writes the batch again, so an Output that names what
// it writes by batch time and partition (or by the Lineage of its
// partitions) replaces its own output and is exactly once.
type Output[T any] interface {
	// Open is called once by Context.Start, before the first batch and
	// before any input starts. It must not block for long: a dependency
	// that may be missing at start is better checked with
	// Context.AddStartCheck, which has a timeout. ctx is done when the
	// context stops. An error fails Start.
	Open(ctx context.Context) error
	// Begin starts writing the batch b.
	Begin(ctx context.Context, b OutputBatch) (BatchWriter[T], error)
	// Close is called once when the context stops, after the last
	// batch, if Open succeeded. An error is logged.
	Close() error
}

// StartChecker is implemented by Outputs that can check a dependency at
// start (a store that answers, a directory that can be written): WriteTo
// registers the check with Context.AddStartCheck, so that a missing
// dependency fails Start within the start timeout, naming it, instead of
// the first batch with data.
type StartChecker interface {
	// StartCheck returns the check's name, as Start's error and the logs
	// show it (with no secrets), and the check.
	StartCheck() (name string, check func(ctx context.Context) error)
}

// OutputBatch describes the batch an Output is asked to write.
type OutputBatch struct {
	Time       time.Time // the batch time
	Partitions int       // the number of partitions; WritePartition is called once for each
	Stream     string    // the name of the stream written
	Output     string    // the output operation's name
}

// BatchWriter writes one batch of an Output. WritePartition is called
// concurrently for different partitions; Commit and Abort are called
// once, after every WritePartition call has returned.
type BatchWriter[T any] interface {
	// WritePartition writes one partition. Its records are computed as
	// they are iterated: the narrow operations after the last shuffle run
	// straight into the writer, with no copy of the partition. ctx is
	// cancelled by a hard stop and when another partition failed.
	WritePartition(ctx context.Context, p *Partition[T]) error
	// Commit makes the batch's output visible, once every partition was
	// written. Its error fails the batch.
	Commit(ctx context.Context) error
	// Abort discards what the batch wrote, after a partition failed (cause
	// is the batch's error). It must not block for long; ctx may be done.
	Abort(ctx context.Context, cause error)
}

// Partition is one partition of a batch, handed to BatchWriter.WritePartition.
type Partition[T any] struct {
	// Index is the partition's index in the batch, from 0.
	Index int
	// Lineage says which input partitions the partition's records came
	// from: one entry when only narrow operations (map, filter, flatMap,
	// mapPartitions) lie between the input and the output, several after
	// a union, none after a shuffle, window or transform, whose output
	// partitions mix every input partition.
	Lineage []Lineage

	records iter.Seq[T]
	reject  func(x T, reason error)
}

// Records returns the partition's records. Each iteration computes them
// again from the last materialized batch (an input's, a shuffle's or a
// window's), so iterate once, or keep what a retry needs.
func (p *Partition[T]) Records() iter.Seq[T] { return p.records }

// Reject hands a record the output cannot write (a value its store
// refuses, a record over a size limit) to the job's dead letters with the
// reason, instead of failing the batch: the output goes on with the other
// records. It is safe for concurrent use. The rejection is counted in the
// batch's OutputOperationInfo.Rejected, and handed to the output's
// WriteSpec.DeadLetter or, without one, to the context's dead-letter
// handler (WithDeadLetterHandler), which logs it by default.
func (p *Partition[T]) Reject(x T, reason error) { p.reject(x, reason) }

// OutputStats are what an Output wrote since it was opened, as it counts
// them. Each Output counts what applies to it and documents which: a
// Kafka sink records and bytes, a file sink rows, bytes and files, a
// table sink rows.
type OutputStats struct {
	// Records are the stream's records written (not rejected).
	Records int64
	// Rows are the rows the store holds from them, once visible: rows of
	// committed files, row operations a table applied.
	Rows int64
	// Bytes are the bytes written to the store: encoded records, file
	// bytes.
	Bytes int64
	// Files are the files made visible (committed).
	Files int64
}

// Sub returns o minus p, field by field.
func (o OutputStats) Sub(p OutputStats) OutputStats {
	return OutputStats{Records: o.Records - p.Records, Rows: o.Rows - p.Rows, Bytes: o.Bytes - p.Bytes, Files: o.Files - p.Files}
}

// Add returns o plus p, field by field.
func (o OutputStats) Add(p OutputStats) OutputStats {
	return OutputStats{Records: o.Records + p.Records, Rows: o.Rows + p.Rows, Bytes: o.Bytes + p.Bytes, Files: o.Files + p.Files}
}

// StatsReporter is implemented by Outputs that count what they write.
// The engine reads OutputStats after each batch's write and reports the
// change in the batch's OutputOperationInfo.Wrote, which the status
// page's metrics add up.
type StatsReporter interface {
	// OutputStats returns the counts since Open. It is called from the
	// goroutine that runs the batches, never concurrently with Begin or
	// a BatchWriter's methods, and must not block.
	OutputStats() OutputStats
}

// RejectReasoner is implemented by errors given to Partition.Reject that
// name their reason with a short, fixed word (such as "encode",
// "too_large", "invalid_value"), which metrics count dead letters by.
// The word must come from a small set: it becomes a metric label.
type RejectReasoner interface {
	RejectReason() string
}

// RejectReasonOf returns the reason word of a rejection: that of the
// first error in err's tree that is a RejectReasoner, or "other".
func RejectReasonOf(err error) string {
	var rr RejectReasoner
	if errors.As(err, &rr) {
		if w := rr.RejectReason(); w != "" {
			return w
		}
	}
	return "other"
}

// Lineage names one input partition that a partition's records came from.
type Lineage struct {
	// Input is the input stream's name, e.g. "kafkaDirectStream#1".
	Input string
	// Partition is the partition of the input's batch.
	Partition int
	// Source is what the input says the partition holds, from
	// InputBatch.Sources: a kafka.OffsetRange for the Kafka direct stream;
	// nil when the input does not say.
	Source any
}

// WriteSpec holds the settings of one Stream.WriteTo. Its zero value is
// valid.
type WriteSpec[T any] struct {
	// Name is the output operation's name in listener events and the
	// status page. Default: the output's String method when it has one,
	// or "output".
	Name string
	// DeadLetter receives the records the output rejects
	// (Partition.Reject), with the reason, possibly concurrently from
	// several partitions; it must not block for long. Nil hands them to
	// the context's dead-letter handler.
	DeadLetter func(x T, reason error)
}

// DeadLetter is a record an output rejected, as the context's dead-letter
// handler receives it.
type DeadLetter struct {
	Output    string    // the output operation's name
	Stream    string    // the stream written
	BatchTime time.Time // the batch
	Partition int       // the batch partition holding the record
	Record    any       // the record
	Err       error     // why it was rejected
}

// WithDeadLetterHandler sets the function that receives the records an
// output rejects when its WriteSpec has no DeadLetter function. It may be
// called concurrently and must not block for long. Default: each rejected
// record is logged at WARN level with its output, batch, partition and
// reason (not its contents).
func WithDeadLetterHandler(f func(DeadLetter)) Option {
	return optionFunc(func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: WithDeadLetterHandler: %w", ErrInvalidOption, ErrNilFunc)
		}
		c.deadLetters = f
		return nil
	})
}

// WriteTo registers an output operation that writes every batch of s to
// out (see Output), and registers out's start-up check when it is a
// StartChecker. It returns the stream's build error, or a *BuildError for
// a nil output. Sinks (sinks/parquet, sinks/kafka, sinks/kudu, stdout,
// SaveAsTextFiles) are Outputs; ForEachBatch remains for ad-hoc code.
func (s *Stream[T]) WriteTo(out Output[T], spec ...WriteSpec[T]) error {
	const op = "writeTo"
	if s == nil {
		return &BuildError{Op: op, Err: ErrNilStream}
	}
	if out == nil {
		return &BuildError{Op: op, Err: fmt.Errorf("%w: nil output", ErrInvalidOption)}
	}
	if len(spec) > 1 {
		return &BuildError{Op: op, Err: fmt.Errorf("%w: more than one WriteSpec", ErrInvalidOption)}
	}
	var sp WriteSpec[T]
	if len(spec) == 1 {
		sp = spec[0]
	}
	name := sp.Name
	if name == "" {
		name = "output"
		if str, ok := out.(fmt.Stringer); ok {
			name = str.String()
		}
	}
	w := &outputWriter[T]{s: s, out: out, name: name, dead: sp.DeadLetter}
	if err := s.n.c.addOutputFor(s.n, name, w.write); err != nil {
		return err
	}
	c := s.n.c
	c.mu.Lock()
	c.sinks = append(c.sinks, w)
	c.mu.Unlock()
	if sc, ok := out.(StartChecker); ok {
		c.AddStartCheck(sc.StartCheck())
	}
	return nil
}

// sinkLifecycle is the untyped view of an Output the Context opens and
// closes.
type sinkLifecycle interface {
	open(ctx context.Context) error
	close()
	// completed tells a BatchCompleter the outcome of the batch at t.
	completed(ctx context.Context, t int64, err error) error
	outputName() string
}

// outputWriter drives one Output.
type outputWriter[T any] struct {
	s      *Stream[T]
	out    Output[T]
	name   string
	dead   func(T, error)
	opened bool
	// stats is the Output's StatsReporter, nil when it does not count;
	// last is what it reported after the previous batch.
	stats StatsReporter
	last  OutputStats
}

func (w *outputWriter[T]) open(ctx context.Context) error {
	if err := safely(func() error { return w.out.Open(ctx) }); err != nil {
		return fmt.Errorf("dstream: opening output %s: %w", w.name, err)
	}
	w.opened = true
	if sr, ok := w.out.(StatsReporter); ok {
		w.stats = sr
		w.last = sr.OutputStats()
	}
	return nil
}

func (w *outputWriter[T]) close() {
	if !w.opened {
		return
	}
	w.opened = false
	if err := safely(w.out.Close); err != nil {
		w.s.n.c.log.Error("dstream: closing output failed", "output", w.name, "error", err)
	}
}

func (w *outputWriter[T]) outputName() string { return w.name }

func (w *outputWriter[T]) completed(ctx context.Context, t int64, batchErr error) error {
	bc, ok := w.out.(BatchCompleter)
	if !ok || !w.opened {
		return nil
	}
	return safely(func() error { return bc.BatchCompleted(ctx, timeOf(t), batchErr) })
}

// write writes the batch at t and reports what the Output counted.
func (w *outputWriter[T]) write(r *run, t int64) error {
	err := w.writeBatch(r, t)
	if w.stats != nil {
		var now OutputStats
		if perr := safely(func() error { now = w.stats.OutputStats(); return nil }); perr != nil {
			w.s.n.c.log.Error("dstream: output's OutputStats failed", "output", w.name, "error", perr)
			return err
		}
		r.out.mu.Lock()
		r.out.wrote = now.Sub(w.last)
		r.out.mu.Unlock()
		w.last = now
	}
	return err
}

// writeBatch writes the batch at t.
func (w *outputWriter[T]) writeBatch(r *run, t int64) error {
	pp, err := w.s.get(r, t)
	if err != nil || !pp.ok {
		return err
	}
	b := OutputBatch{Time: timeOf(t), Partitions: pp.parts, Stream: w.s.n.name, Output: w.name}
	var bw BatchWriter[T]
	if err := safely(func() (err error) {
		bw, err = w.out.Begin(r.ctx, b)
		return err
	}); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if bw == nil {
		return fmt.Errorf("begin: %w: the output returned no BatchWriter", ErrInvalidOption)
	}
	err = r.parallel("write", pp.parts, func(p int) error {
		part := &Partition[T]{
			Index:   p,
			records: func(yield func(T) bool) { pp.run(p, yield) },
			reject:  func(x T, reason error) { w.rejected(r, t, p, x, reason) },
		}
		if pp.lin != nil {
			part.Lineage = pp.lin(p)
		}
		return bw.WritePartition(r.ctx, part)
	})
	if err != nil {
		if perr := safely(func() error { bw.Abort(r.ctx, err); return nil }); perr != nil {
			err = errors.Join(err, fmt.Errorf("abort: %w", perr))
		}
		return err
	}
	if err := safely(func() error { return bw.Commit(r.ctx) }); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rejected routes a record the output rejected to the dead letters.
func (w *outputWriter[T]) rejected(r *run, t int64, p int, x T, reason error) {
	r.rejected.Add(1)
	r.out.reject(RejectReasonOf(reason))
	if w.dead != nil {
		if err := safely(func() error { w.dead(x, reason); return nil }); err != nil {
			w.s.n.c.log.Error("dstream: dead-letter function failed", "output", w.name, "error", err)
		}
		return
	}
	c := w.s.n.c
	if f := c.cfg.deadLetters; f != nil {
		dl := DeadLetter{Output: w.name, Stream: w.s.n.name, BatchTime: timeOf(t), Partition: p, Record: x, Err: reason}
		if err := safely(func() error { f(dl); return nil }); err != nil {
			c.log.Error("dstream: dead-letter handler failed", "output", w.name, "error", err)
		}
		return
	}
	c.log.Warn("dstream: record rejected by output", "output", w.name, "stream", w.s.n.name,
		"batch_ms", t/int64(time.Millisecond), "partition", p, "reason", reason)
}
