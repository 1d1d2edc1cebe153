package dstream

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// node is the untyped part of a stream: its place in the graph, its slide,
// how long it keeps batches and whether it materializes them.
type node struct {
	c       *Context
	id      int    // creation order in the context
	op      string // operator kind, e.g. "map"
	name    string // stable name: Named, or "<op>#<n>" counted per kind
	named   bool   // name set with Named
	parents []*node
	slide   int64 // ns
	err     error // build error; a stream with an error never runs

	input    inputNode  // set for input streams
	typed    typedNode  // the *Stream[T] owning this node
	stateful bool       // depends on its own previous batch: computed every batch
	store    stateStore // saves and restores the operator's state in checkpoints
	codec    Codec      // the state's codec; nil: the context's

	// sliced: some child reads several past batches of this stream
	// (windows), so its batches are materialized and remembered.
	sliced bool
	// rememberExtra is added to this node's remember duration for its
	// parents: a window of length L needs L more of its parent's history.
	rememberExtra int64
	// checkpointInterval is the interval of the operator's full scans (for
	// MapWithState timeouts) and, later, of its state checkpoints.
	checkpointInterval int64

	// Set by Context.Start.
	reachable bool  // an output operation depends on it
	cache     bool  // computed batches are kept
	remember  int64 // computed batches are kept this long (ns)
	consumers int   // reachable children and output operations
}

// typedNode is implemented by *Stream[T].
type typedNode interface {
	// forget drops kept batches with time <= upTo.
	forget(upTo int64)
	// force computes and keeps the batch at t.
	force(r *run, t int64) error
}

// validTime reports whether the stream has a batch time at t: after the
// zero time and on the stream's slide grid (Spark's isTimeValid).
func (n *node) validTime(t int64) bool {
	z := n.c.zero
	return t > z && (t-z)%n.slide == 0
}

// String names the node in errors and logs.
func (n *node) String() string { return n.name }

// Stream is a discretized stream: a sequence of batches of T, one per slide
// interval. Streams are built from input streams (QueueStream,
// ReceiverStream and the connectors in package sources) with
// transformations, and consumed by output operations (Print, ForEachBatch,
// SaveAsTextFiles). Nothing runs until Context.Start.
//
// Operations that keep the element type are methods; those that change it
// are functions, since Go methods cannot take type parameters:
//
//	words := dstream.FlatMap(lines, strings.Fields)
//	long := words.Filter(func(w string) bool { return len(w) > 3 })
//
// An operation never fails where it is called. If it is invalid (a nil
// function, a window that is not a multiple of the slide, a context already
// started) the returned stream carries a *BuildError, reported by Err, by
// every output operation on the stream and by Context.Start.
type Stream[T any] struct {
	n       *node
	compute func(r *run, t int64) (plan[T], error)

	mu   sync.Mutex
	kept map[int64]*Batch[T] // materialized batches; nil value = no batch at that time
	// lins is the lineage of kept batches that have one.
	lins map[int64]func(p int) []Lineage

	// The latest batch of a stateful stream (see getStateful): unless the
	// stream keeps batches, its plan reads the operator's state and is
	// valid until the next batch is computed.
	live     plan[T]
	liveTime int64

	// hooks set the operator's typed settings (WithInitialState,
	// WithStateFilter); nil for operators that have none.
	hooks *streamHooks[T]
}

// streamHooks are the typed settings an operator accepts after it is
// built; a nil function means it does not accept that one.
type streamHooks[T any] struct {
	initial func([]T)          // UpdateStateByKey
	filter  func(func(T) bool) // ReduceByKeyAndWindow with an inverse
}

// WithInitialState seeds an UpdateStateByKey or UpdateStateByKeyWithTime
// stream with state for some keys, as if it had been computed before the
// first batch (Spark's initialRDD). The pairs have the stream's own type,
// (key, state), so a mismatch does not compile. On another kind of stream,
// or once the context has started, it makes a *BuildError that Err, every
// output operation and Start report. It returns s.
func (s *Stream[T]) WithInitialState(pairs []T) *Stream[T] {
	return s.configure("WithInitialState", "UpdateStateByKey", func(h *streamHooks[T]) bool {
		if h.initial == nil {
			return false
		}
		h.initial(pairs)
		return true
	})
}

// WithStateFilter keeps, in a ReduceByKeyAndWindow stream with an inverse
// function, only the pairs for which keep returns true, both in its output
// and in the window's state (Spark's filterFunc): use it to drop keys whose
// value fell back to zero. keep takes the stream's own element type, so a
// mismatch does not compile. On another kind of stream (the form without
// an inverse keeps no state to filter: use Filter), with a nil keep, or
// once the context has started, it makes a *BuildError. It returns s.
func (s *Stream[T]) WithStateFilter(keep func(T) bool) *Stream[T] {
	if s != nil && keep == nil {
		s.n.fail(fmt.Errorf("WithStateFilter: %w", ErrNilFunc))
		return s
	}
	return s.configure("WithStateFilter", "ReduceByKeyAndWindow with an inverse function", func(h *streamHooks[T]) bool {
		if h.filter == nil {
			return false
		}
		h.filter(keep)
		return true
	})
}

// configure applies a typed setting through the stream's hooks, or marks
// the stream invalid when it does not take it or can no longer change.
func (s *Stream[T]) configure(method, takers string, set func(*streamHooks[T]) bool) *Stream[T] {
	if s == nil || s.n.err != nil {
		return s
	}
	if c := s.n.c; c != nil {
		c.mu.Lock()
		err := c.buildableLocked()
		c.mu.Unlock()
		if err != nil {
			s.n.fail(fmt.Errorf("%s: %w", method, err))
			return s
		}
	}
	if s.hooks == nil || !set(s.hooks) {
		s.n.fail(fmt.Errorf("%w: %s applies only to %s, not to %s", ErrInvalidOption, method, takers, s.n.op))
	}
	return s
}

// Err returns the error that made the stream invalid, or nil.
func (s *Stream[T]) Err() error {
	if s == nil {
		return &BuildError{Op: "stream", Err: ErrNilStream}
	}
	return s.n.err
}

// Name returns the stream's name: the one given to Named, or the operator
// kind followed by its count among operators of that kind, such as
// "reduceByKeyAndWindow#1". The name identifies a stateful operator's
// state across restarts.
func (s *Stream[T]) Name() string { return s.n.name }

// Context returns the stream's context.
func (s *Stream[T]) Context() *Context { return s.n.c }

// SlideDuration returns the interval between the stream's batches: the
// batch interval, or a window's slide.
func (s *Stream[T]) SlideDuration() time.Duration { return time.Duration(s.n.slide) }

// Named sets the stream's name, which must be unique in the context. Give
// stateful operators (UpdateStateByKey, MapWithState, the inverse form of
// ReduceByKeyAndWindow) a name so that their checkpointed state is found
// again after the job's code changes. Call it before Start; afterwards it
// only logs a warning. It returns s.
func (s *Stream[T]) Named(name string) *Stream[T] {
	if s == nil || s.n.err != nil {
		return s
	}
	c := s.n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.buildableLocked(); err != nil {
		c.log.Warn("dstream: Named after Start ignored", "stream", s.n.name, "name", name, "error", err)
		return s
	}
	if name == "" {
		s.n.failLocked(fmt.Errorf("%w: empty stream name", ErrInvalidOption))
		return s
	}
	s.n.name = name
	s.n.named = true
	return s
}

// markStateful marks n as carrying state from batch to batch (computed
// every batch, exactly once), with the checkpoint interval of its full
// scans and, later, of its checkpoints (0 for none).
func (n *node) markStateful(checkpointInterval int64) {
	n.c.mu.Lock()
	n.stateful = true
	n.checkpointInterval = checkpointInterval
	n.c.mu.Unlock()
}

// failLocked marks the node invalid. The context's build errors record it
// while the context can still be started. c.mu must be held.
func (n *node) failLocked(err error) {
	if n.err != nil {
		return
	}
	n.err = &BuildError{Op: n.op, Err: err}
	if n.c != nil && n.c.state == StateInitialized {
		n.c.buildErrs = append(n.c.buildErrs, n.err)
	}
}

// fail is failLocked for callers that do not hold c.mu.
func (n *node) fail(err error) {
	if n.c == nil {
		if n.err == nil {
			n.err = &BuildError{Op: n.op, Err: err}
		}
		return
	}
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	n.failLocked(err)
}

// newStream creates a stream for operator op over the parents. The slide
// is the first parent's; every parent must have the same context and
// slide. A problem with the parents makes an invalid stream.
func newStream[T any](op string, parents ...*node) *Stream[T] {
	s := &Stream[T]{kept: map[int64]*Batch[T]{}}
	var c *Context
	var detachedErr error
	for _, p := range parents {
		switch {
		case p == nil:
			detachedErr = ErrNilStream
		case c == nil && p.c != nil:
			c = p.c
		case p.c == nil && detachedErr == nil:
			detachedErr = p.err
		}
	}
	if c == nil {
		// No parent belongs to a context: nothing to record the error in.
		if detachedErr == nil {
			detachedErr = ErrNilStream
		}
		var be *BuildError
		if !errors.As(detachedErr, &be) {
			detachedErr = &BuildError{Op: op, Err: detachedErr}
		}
		s.n = &node{op: op, err: detachedErr}
		s.n.typed = s
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.newNodeLocked(op)
	n.typed = s
	s.n = n
	if slices.Contains(parents, nil) {
		n.failLocked(ErrNilStream)
		return s
	}
	n.parents = parents
	n.slide = parents[0].slide
	for _, p := range parents {
		if p.err != nil {
			n.err = p.err // already recorded where it arose
			return s
		}
	}
	if err := c.buildableLocked(); err != nil {
		n.failLocked(err)
		return s
	}
	for _, p := range parents[1:] {
		if p.c != c {
			n.failLocked(ErrContextMismatch)
			return s
		}
		if p.slide != n.slide {
			n.failLocked(fmt.Errorf("%w: %v and %v", ErrSlideMismatch, time.Duration(parents[0].slide), time.Duration(p.slide)))
			return s
		}
	}
	return s
}

// newInputStream creates an input stream in c.
func newInputStream[T any](c *Context, op string) *Stream[T] {
	s := &Stream[T]{kept: map[int64]*Batch[T]{}}
	if c == nil {
		s.n = &node{op: op, err: &BuildError{Op: op, Err: fmt.Errorf("%w: nil context", ErrInvalidOption)}}
		s.n.typed = s
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.newNodeLocked(op)
	n.typed = s
	n.slide = int64(c.interval)
	s.n = n
	if err := c.buildableLocked(); err != nil {
		n.failLocked(err)
	}
	s.compute = func(r *run, t int64) (plan[T], error) { return plan[T]{}, nil }
	return s
}

// checkFunc marks s invalid when f is nil. It reports whether f is usable.
func checkFunc[T any](s *Stream[T], isNil bool) bool {
	if s.n.err != nil {
		return false
	}
	if isNil {
		s.n.fail(ErrNilFunc)
		return false
	}
	return true
}

// get returns the plan of the batch at t, computing it if needed. A plan
// with ok == false means the stream has no batch at t.
func (s *Stream[T]) get(r *run, t int64) (plan[T], error) {
	n := s.n
	if !n.validTime(t) {
		return plan[T]{}, nil
	}
	if n.stateful {
		return s.getStateful(r, t)
	}
	if !n.cache {
		return s.compute(r, t)
	}
	s.mu.Lock()
	b, done := s.kept[t]
	lin := s.lins[t]
	s.mu.Unlock()
	if done {
		pp := batchPlan(b)
		pp.lin = lin
		return pp, nil
	}
	p, err := s.compute(r, t)
	if err != nil {
		return plan[T]{}, err
	}
	if p.ok {
		data, err := p.collect(r, n.name)
		if err != nil {
			return plan[T]{}, err
		}
		b = &Batch[T]{Time: timeOf(t), Partitions: data}
	}
	s.mu.Lock()
	s.kept[t] = b
	if p.lin != nil {
		if s.lins == nil {
			s.lins = map[int64]func(int) []Lineage{}
		}
		s.lins[t] = p.lin
	}
	s.mu.Unlock()
	pp := batchPlan(b)
	pp.lin = p.lin
	return pp, nil
}

// getStateful is get for a stream that carries state from batch to batch.
// It computes each batch time exactly once, in order: computing one again
// would apply that batch to the state twice. Its latest batch is a plan
// over the operator's state, valid until the next batch is computed;
// earlier ones exist only if the stream keeps them.
func (s *Stream[T]) getStateful(r *run, t int64) (plan[T], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t == s.liveTime {
		return s.live, nil
	}
	if t < s.liveTime {
		return batchPlan(s.kept[t]), nil // nil, an empty plan, when not kept
	}
	p, err := s.compute(r, t)
	if err != nil {
		return plan[T]{}, err
	}
	if s.n.cache {
		var b *Batch[T]
		if p.ok {
			data, err := p.collect(r, s.n.name)
			if err != nil {
				return plan[T]{}, err
			}
			b = &Batch[T]{Time: timeOf(t), Partitions: data}
			p = dataPlan(data)
		}
		s.kept[t] = b
	}
	s.live, s.liveTime = p, t
	return p, nil
}

// put records the generated batch of an input stream.
func (s *Stream[T]) put(t int64, b *Batch[T]) {
	s.mu.Lock()
	s.kept[t] = b
	s.mu.Unlock()
}

func (s *Stream[T]) forget(upTo int64) {
	s.mu.Lock()
	for t := range s.kept {
		if t <= upTo {
			delete(s.kept, t)
			delete(s.lins, t)
		}
	}
	s.mu.Unlock()
}

func (s *Stream[T]) force(r *run, t int64) error {
	_, err := s.get(r, t)
	return err
}

// batch returns the batch at t, materialized, or nil if there is none.
func (s *Stream[T]) batch(r *run, t int64) (*Batch[T], error) {
	p, err := s.get(r, t)
	if err != nil || !p.ok {
		return nil, err
	}
	data, err := p.collect(r, s.n.name)
	if err != nil {
		return nil, err
	}
	return &Batch[T]{Time: timeOf(t), Partitions: data}, nil
}

// sliceRange returns the batches of s with times in [from, to], both
// floored to the stream's slide grid; times at or before the zero time
// have no batch (Spark's DStream.slice).
func (s *Stream[T]) sliceRange(r *run, from, to int64) ([]*Batch[T], error) {
	n := s.n
	from = floorTo(from, n.c.zero, n.slide)
	to = floorTo(to, n.c.zero, n.slide)
	var out []*Batch[T]
	for t := from; t <= to; t += n.slide {
		if t <= n.c.zero {
			continue
		}
		b, err := s.batch(r, t)
		if err != nil {
			return nil, err
		}
		if b != nil {
			out = append(out, b)
		}
	}
	return out, nil
}

// Slice returns the stream's batches with times in [from, to] (inclusive,
// both floored to the stream's slide grid), in time order, like Spark's
// DStream.slice. Call it from an output operation or a Transform
// function, during a batch. A time without a batch is left out:
//
//   - No time at or before the zero time has a batch (nothing ran before
//     Start), as in Spark.
//   - No time after the batch being computed (or the last one computed,
//     when called from elsewhere) has one: its input has not been taken
//     yet, so it is not computed, nor remembered as empty.
//   - A batch the stream keeps is returned as computed. Streams keep
//     their batches for their remember duration: WithRemember, and at
//     least what their windows and state need.
//   - An older batch is computed again from the stream's parents, as far
//     as they keep theirs (a stream's parents keep their batches at least
//     as long as it does). An input has no batch older than it keeps,
//     unless a checkpoint still describes it: a Recoverable Input then
//     rebuilds it, a receiver with the write-ahead log reads it from the
//     log. A stateful stream (UpdateStateByKey, MapWithState, an inverse
//     window) never computes a past batch again.
//
// So a Slice that must reach back further than the stream's windows and
// state do needs WithRemember. Slice a stream that an output operation
// depends on: the engine keeps batches, and takes input, only for those.
// Slice returns ErrNotStarted before Start.
func (s *Stream[T]) Slice(from, to time.Time) ([]*Batch[T], error) {
	if err := s.Err(); err != nil {
		return nil, err
	}
	c := s.n.c
	r, err := c.sliceRun()
	if err != nil {
		return nil, err
	}
	return s.sliceRange(r, from.UnixNano(), min(to.UnixNano(), c.jobs.current.Load()))
}

// floorTo floors t to the grid zero + k*step.
func floorTo(t, zero, step int64) int64 {
	d := t - zero
	q := d / step
	if d%step != 0 && d < 0 {
		q--
	}
	return zero + q*step
}

// timeOf converts engine nanoseconds to a time.Time.
func timeOf(t int64) time.Time { return time.Unix(0, t) }

// plan is how to produce the elements of a stream's batch. Narrow
// operations wrap their parent's run function, so a chain of them runs as
// one loop per partition with no intermediate slices. ok == false means
// there is no batch.
type plan[T any] struct {
	ok    bool
	parts int
	// run pushes the elements of partition p to yield until yield returns
	// false, and reports whether it reached the end.
	run func(p int, yield func(T) bool) bool
	// data is set when the batch is already materialized.
	data [][]T
	// lin, when not nil, returns the input partitions partition p came
	// from (Partition.Lineage).
	lin func(p int) []Lineage
}

// dataPlan is the plan over materialized partitions.
func dataPlan[T any](data [][]T) plan[T] {
	return plan[T]{ok: true, parts: len(data), data: data, run: func(p int, yield func(T) bool) bool {
		for _, x := range data[p] {
			if !yield(x) {
				return false
			}
		}
		return true
	}}
}

func batchPlan[T any](b *Batch[T]) plan[T] {
	if b == nil {
		return plan[T]{}
	}
	return dataPlan(b.Partitions)
}

// collect materializes the plan's partitions, in parallel.
func (p plan[T]) collect(r *run, op string) ([][]T, error) {
	if p.data != nil {
		return p.data, nil
	}
	out := make([][]T, p.parts)
	err := r.parallel(op, p.parts, func(i int) error {
		var part []T
		p.run(i, func(x T) bool {
			part = append(part, x)
			return true
		})
		out[i] = part
		return nil
	})
	return out, err
}
