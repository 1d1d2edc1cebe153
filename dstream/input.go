package dstream

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Input is a source the engine asks for each batch, rather than one that
// pushes records through a receiver: Spark's InputDStream, as used by the
// file stream and the Kafka direct stream in package sources. At every
// batch time the engine calls Generate on its generator goroutine to fix
// what the batch holds (offset ranges, a list of files), which must be
// quick; the records are read later, in parallel, when the batch runs.
//
// Implementations are used by one context and need not be safe for
// concurrent calls of Generate, but Read and Done functions of earlier
// batches may run while Generate runs.
type Input[T any] interface {
	// Start is called once by Context.Start before the first batch. It
	// must not block for long (connect in the background), and must not
	// call the Context's methods other than BatchInterval, Clock, Logger
	// and Parallelism, since the context is starting. ctx is done when
	// the context stops. An error fails Context.Start.
	Start(ctx context.Context) error
	// Generate decides what the batch at t holds, for every batch time in
	// order. A nil batch means the stream has no batch at t, so output
	// operations on it skip that time. An error stops the context, as a
	// failed batch does; an input that can recover (a listing error, a
	// broker that is briefly away) should log, return an empty batch and
	// catch up later instead.
	Generate(ctx context.Context, t time.Time) (*InputBatch[T], error)
	// Stop is called once when the context stops, after the last batch
	// has finished (or been abandoned by a hard stop), so it may still
	// commit what completed batches consumed.
	Stop()
}

// InputBatch is what an Input contributes to one batch.
type InputBatch[T any] struct {
	// Partitions is the number of partitions of the batch.
	Partitions int
	// Read returns the records of partition p (0 <= p < Partitions). It
	// is called once per partition when the batch runs, concurrently for
	// different partitions, and its error fails the batch. ctx is
	// cancelled by a hard stop. The engine owns the returned slice.
	Read func(ctx context.Context, p int) ([]T, error)
	// Records is the number of records in the batch when known at
	// Generate; a negative value makes the engine count them as they are
	// read and report that count in BatchInfo.
	Records int64
	// Metadata is reported in the batch's InputInfo (offset ranges, file
	// names).
	Metadata map[string]any
	// Lag is reported in the batch's InputInfo: per partition of the
	// source, the records past the batch's end when it was cut.
	Lag []PartitionLag
	// Done, if not nil, is called once after the batch has finished, with
	// nil when every output operation succeeded and otherwise the batch's
	// error; a Kafka stream commits offsets then.
	Done func(err error)
	// Descriptor describes the batch for checkpoints (offset ranges, file
	// names) so that a Recoverable input can Rebuild it after a restart.
	Descriptor []byte
	// Sources, when not nil, says what each partition holds (one entry per
	// partition, such as a Kafka offset range), for the Lineage that
	// outputs see.
	Sources []any
}

// Recoverable is implemented by inputs whose batches can be rebuilt after
// a restart, which a context with a checkpoint directory requires. The
// checkpoint saves the input's position after each Generate and the
// Descriptor of every batch that may still be needed: batches that were
// pending, and remembered batches that windows and state read again.
type Recoverable[T any] interface {
	// SavePosition returns where the input is after its latest Generate,
	// such as the next offset of every Kafka partition.
	SavePosition() ([]byte, error)
	// RestorePosition is called before Start with a saved position.
	RestorePosition(pos []byte) error
	// Rebuild returns the batch at t that Generate described with desc.
	// Its Read must return the same records as the original.
	Rebuild(t time.Time, desc []byte) (*InputBatch[T], error)
}

// InputStream returns a stream whose batches come from in. name is the
// stream's operator kind in its default name ("kafkaDirectStream#1").
func InputStream[T any](c *Context, name string, in Input[T]) *Stream[T] {
	if name == "" {
		name = "inputStream"
	}
	s := newInputStream[T](c, name)
	if s.n.err != nil {
		return s
	}
	if in == nil {
		s.n.fail(fmt.Errorf("%w: nil input", ErrInvalidOption))
		return s
	}
	d := &directInput[T]{s: s, in: in, pending: map[int64]*InputBatch[T]{}, counts: map[int64]int64{}, descs: map[int64][]byte{}}
	s.compute = d.read
	c.mu.Lock()
	d.id = c.registerInputLocked(s.n, d)
	c.directs = append(c.directs, d)
	c.mu.Unlock()
	return s
}

// FailStream marks s invalid with err, for connectors that validate their
// options after creating the stream: Context.Start and every output
// operation on s then report it as a *BuildError. It returns s.
func FailStream[T any](s *Stream[T], err error) *Stream[T] {
	if s == nil || err == nil || s.n.err != nil {
		return s
	}
	s.n.fail(err)
	return s
}

// directInput adapts an Input to the engine's input streams.
type directInput[T any] struct {
	s  *Stream[T]
	in Input[T]
	id int

	mu      sync.Mutex
	pending map[int64]*InputBatch[T] // generated, not read yet
	counts  map[int64]int64          // records read, for batches with Records < 0
	descs   map[int64][]byte         // Descriptors of the batches a checkpoint saves
}

// directStarter is the untyped view of a directInput the Context uses.
type directStarter interface {
	start(ctx context.Context) error
	stop()
}

func (d *directInput[T]) start(ctx context.Context) error {
	if err := safely(func() error { return d.in.Start(ctx) }); err != nil {
		return fmt.Errorf("dstream: starting input %s: %w", d.s.n.name, err)
	}
	return nil
}

func (d *directInput[T]) stop() {
	if err := safely(func() error { d.in.Stop(); return nil }); err != nil {
		d.s.n.c.log.Error("dstream: stopping input failed", "stream", d.s.n.name, "error", err)
	}
}

func (d *directInput[T]) alwaysGenerate() bool { return false }

func (d *directInput[T]) generate(t int64) (InputInfo, func(error), bool) {
	c := d.s.n.c
	var b *InputBatch[T]
	err := safely(func() (err error) {
		b, err = d.in.Generate(c.runCtx, timeOf(t))
		return err
	})
	if err == nil && b != nil && (b.Partitions < 0 || b.Partitions > 0 && b.Read == nil) {
		err = fmt.Errorf("%w: input batch with %d partitions and no Read function", ErrInvalidOption, b.Partitions)
	}
	if err != nil {
		if c.runCtx.Err() == nil {
			c.fail(&BatchError{Time: timeOf(t), Op: d.s.n.name, Err: err})
		}
		return InputInfo{}, nil, false
	}
	if b == nil {
		return InputInfo{}, nil, false
	}
	return d.queue(t, b)
}

// queue records a batch generated or rebuilt at t and returns its info
// and done function.
func (d *directInput[T]) queue(t int64, b *InputBatch[T]) (InputInfo, func(error), bool) {
	c := d.s.n.c
	d.mu.Lock()
	d.pending[t] = b
	if b.Descriptor != nil && c.ckpt != nil {
		// Only checkpoints use descriptions, and they drop the old ones
		// (ckptSave); without a checkpoint directory they would pile up,
		// one per batch, for as long as the job runs.
		d.descs[t] = b.Descriptor
	}
	d.mu.Unlock()
	done := func(err error) {
		d.mu.Lock()
		delete(d.pending, t)
		delete(d.counts, t)
		d.mu.Unlock()
		if b.Done != nil {
			if perr := safely(func() error { b.Done(err); return nil }); perr != nil {
				c.log.Error("dstream: input's Done failed", "stream", d.s.n.name, "error", perr)
			}
		}
	}
	return InputInfo{StreamID: d.id, Name: d.s.n.name, NumRecords: b.Records, Metadata: b.Metadata, Lag: b.Lag}, done, true
}

// read is the stream's compute: it reads every partition of the batch
// generated at t, in parallel.
func (d *directInput[T]) read(r *run, t int64) (plan[T], error) {
	d.mu.Lock()
	b := d.pending[t]
	desc, restored := d.descs[t]
	d.mu.Unlock()
	if b == nil && restored {
		// A batch from before a restart, which a window or the state's
		// catch-up reads again.
		var err error
		if b, err = d.rebuild(t, desc); err != nil {
			return plan[T]{}, err
		}
	}
	if b == nil {
		return plan[T]{}, nil
	}
	data := make([][]T, b.Partitions)
	err := r.parallel(d.s.n.name, b.Partitions, func(p int) error {
		part, err := b.Read(r.ctx, p)
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		data[p] = part
		return nil
	})
	if err != nil {
		return plan[T]{}, err
	}
	if b.Records < 0 {
		var n int64
		for _, p := range data {
			n += int64(len(p))
		}
		d.mu.Lock()
		d.counts[t] = n
		d.mu.Unlock()
	}
	pp := dataPlan(data)
	name := d.s.n.name
	pp.lin = func(p int) []Lineage {
		l := Lineage{Input: name, Partition: p}
		if p < len(b.Sources) {
			l.Source = b.Sources[p]
		}
		return []Lineage{l}
	}
	return pp, nil
}

// recordsRead returns how many records the batch at t held, once read.
func (d *directInput[T]) recordsRead(t int64) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.counts[t]
	return n, ok
}

// rebuild rebuilds the batch at t from its description.
func (d *directInput[T]) rebuild(t int64, desc []byte) (*InputBatch[T], error) {
	rec, ok := d.in.(Recoverable[T])
	if !ok {
		return nil, nil
	}
	var b *InputBatch[T]
	err := safely(func() (err error) {
		b, err = rec.Rebuild(timeOf(t), desc)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rebuilding the batch of %s at %d ms from the checkpoint: %w", d.s.n.name, t/int64(time.Millisecond), err)
	}
	if b != nil && b.Partitions > 0 && b.Read == nil {
		return nil, fmt.Errorf("%w: rebuilt batch with %d partitions and no Read function", ErrInvalidOption, b.Partitions)
	}
	return b, nil
}

func (d *directInput[T]) recoverable() bool {
	_, ok := d.in.(Recoverable[T])
	return ok
}

func (d *directInput[T]) ckptSave(horizon int64) (inputCkpt, error) {
	rec := d.in.(Recoverable[T])
	var pos []byte
	err := safely(func() (err error) {
		pos, err = rec.SavePosition()
		return err
	})
	if err != nil {
		return inputCkpt{}, err
	}
	out := inputCkpt{Position: pos}
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, desc := range d.descs {
		if t <= horizon {
			delete(d.descs, t)
			continue
		}
		out.Batches = append(out.Batches, batchCkpt{Time: t, Desc: desc})
	}
	slices.SortFunc(out.Batches, func(a, b batchCkpt) int { return cmp.Compare(a.Time, b.Time) })
	return out, nil
}

func (d *directInput[T]) ckptRestore(in inputCkpt) error {
	rec := d.in.(Recoverable[T])
	if err := safely(func() error { return rec.RestorePosition(in.Position) }); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range in.Batches {
		d.descs[b.Time] = b.Desc
	}
	return nil
}

func (d *directInput[T]) regenerate(t int64) (InputInfo, func(error), bool) {
	d.mu.Lock()
	desc, ok := d.descs[t]
	d.mu.Unlock()
	if !ok {
		return InputInfo{}, nil, false
	}
	b, err := d.rebuild(t, desc)
	if err != nil {
		d.s.n.c.fail(&BatchError{Time: timeOf(t), Op: d.s.n.name, Err: err})
		return InputInfo{}, nil, false
	}
	if b == nil {
		return InputInfo{}, nil, false
	}
	return d.queue(t, b)
}
