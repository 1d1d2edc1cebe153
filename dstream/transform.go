package dstream

import (
	"fmt"
	"slices"
)

// Transform returns a stream of f applied to each whole batch, like
// Spark's transform: f sees the batch's time and all its partitions, and
// can do anything a function of a batch can, including joining it with
// other data or changing what it does over time (f is called anew for
// every batch). f must not modify its input; it may return its input's
// partitions unchanged. A nil result is an empty batch; an error fails
// the batch.
//
// When s has no batch at some time (an idle QueueStream, an Input whose
// Generate returned nil, UpdateStateByKey before its first data), f is not
// called and the result has no batch at that time either, as for every
// operator over one stream. Spark fails the job there instead; see
// TransformWith.
func Transform[T, U any](s *Stream[T], f func(*Batch[T]) (*Batch[U], error)) *Stream[U] {
	out := newStream[U]("transform", s.node())
	if !checkFunc(out, f == nil) {
		return out
	}
	out.compute = func(r *run, t int64) (plan[U], error) {
		in, err := s.batch(r, t)
		if err != nil || in == nil {
			return plan[U]{}, err
		}
		var res *Batch[U]
		if err := call(out.n.name, func() (err error) { res, err = f(in); return err }); err != nil {
			return plan[U]{}, err
		}
		if res == nil {
			return dataPlan[U](nil), nil
		}
		return dataPlan(res.Partitions), nil
	}
	return out
}

// TransformWith returns a stream of f applied to the batches of a and b for
// the same time, like Spark's transformWith. A stream without a batch at
// that time is passed as an empty batch (with the batch time); when
// neither has one, f is not called and there is no batch. The streams
// must have the same slide, so both have batch times at the same times.
//
// Spark fails the job when a parent has no batch ("Couldn't generate RDD
// from parent at time ..."), a guard its own inputs never trip since they
// always produce an RDD, if empty. Here having no batch is what an idle
// input does, so it is not an error: like Union and the joins,
// TransformWith treats it as empty.
func TransformWith[T, U, W any](a *Stream[T], b *Stream[U], f func(*Batch[T], *Batch[U]) (*Batch[W], error)) *Stream[W] {
	out := newStream[W]("transformWith", a.node(), b.node())
	if !checkFunc(out, f == nil) {
		return out
	}
	out.compute = func(r *run, t int64) (plan[W], error) {
		ba, err := a.batch(r, t)
		if err != nil {
			return plan[W]{}, err
		}
		bb, err := b.batch(r, t)
		if err != nil {
			return plan[W]{}, err
		}
		if ba == nil && bb == nil {
			return plan[W]{}, nil
		}
		if ba == nil {
			ba = &Batch[T]{Time: timeOf(t)}
		}
		if bb == nil {
			bb = &Batch[U]{Time: timeOf(t)}
		}
		var res *Batch[W]
		if err := call(out.n.name, func() (err error) { res, err = f(ba, bb); return err }); err != nil {
			return plan[W]{}, err
		}
		if res == nil {
			return dataPlan[W](nil), nil
		}
		return dataPlan(res.Partitions), nil
	}
	return out
}

// TransformN returns a stream of f applied to the batches of several
// streams for the same time, like Spark's StreamingContext.transform over
// a list of streams: batches[i] is the batch of streams[i]. Streams of
// different element types can be combined by mapping them to one type
// first. A stream without a batch at that time is passed as an empty
// batch (with the batch time); when none has one, f is not called and
// there is no batch. f must not modify its input. A nil result is an
// empty batch; an error fails the batch.
//
// The list must not be empty or hold a nil stream, and the streams must
// belong to one context and have the same slide; otherwise the returned
// stream carries a *BuildError (ErrInvalidOption, ErrNilStream,
// ErrContextMismatch, ErrSlideMismatch; ErrNilFunc for a nil f).
func TransformN[T, U any](streams []*Stream[T], f func(batches []*Batch[T]) (*Batch[U], error)) *Stream[U] {
	if len(streams) == 0 {
		out := &Stream[U]{kept: map[int64]*Batch[U]{}}
		out.n = &node{op: "transformN", err: &BuildError{Op: "transformN", Err: fmt.Errorf("%w: no streams to transform", ErrInvalidOption)}}
		out.n.typed = out
		return out
	}
	all := slices.Clone(streams)
	parents := make([]*node, len(all))
	for i, s := range all {
		parents[i] = s.node()
	}
	out := newStream[U]("transformN", parents...)
	if !checkFunc(out, f == nil) {
		return out
	}
	out.compute = func(r *run, t int64) (plan[U], error) {
		batches := make([]*Batch[T], len(all))
		some := false
		for i, s := range all {
			b, err := s.batch(r, t)
			if err != nil {
				return plan[U]{}, err
			}
			if b == nil {
				b = &Batch[T]{Time: timeOf(t)}
			} else {
				some = true
			}
			batches[i] = b
		}
		if !some {
			return plan[U]{}, nil
		}
		var res *Batch[U]
		if err := call(out.n.name, func() (err error) { res, err = f(batches); return err }); err != nil {
			return plan[U]{}, err
		}
		if res == nil {
			return dataPlan[U](nil), nil
		}
		return dataPlan(res.Partitions), nil
	}
	return out
}
