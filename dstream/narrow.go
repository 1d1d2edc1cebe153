package dstream

import (
	"fmt"
	"iter"
	"slices"
)

// narrow builds a stream whose partition p is computed from its parent's
// partition p alone. wrap turns the parent's run function into the child's;
// chains of narrow streams thus run as one loop per partition.
func narrow[T, U any](op string, s *Stream[T], fnNil bool, wrap func(run func(int, func(T) bool) bool) func(int, func(U) bool) bool) *Stream[U] {
	var parent *node
	if s != nil {
		parent = s.n
	}
	out := newStream[U](op, parent)
	if !checkFunc(out, fnNil) {
		return out
	}
	out.compute = func(r *run, t int64) (plan[U], error) {
		pp, err := s.get(r, t)
		if err != nil || !pp.ok {
			return plan[U]{}, err
		}
		return plan[U]{ok: true, parts: pp.parts, run: wrap(pp.run), lin: pp.lin}, nil
	}
	return out
}

// Map returns a stream of f applied to every element.
func Map[T, U any](s *Stream[T], f func(T) U) *Stream[U] {
	return narrow("map", s, f == nil, func(run func(int, func(T) bool) bool) func(int, func(U) bool) bool {
		return func(p int, yield func(U) bool) bool {
			return run(p, func(x T) bool { return yield(f(x)) })
		}
	})
}

// FlatMap returns a stream of the elements of f applied to every element.
func FlatMap[T, U any](s *Stream[T], f func(T) []U) *Stream[U] {
	return narrow("flatMap", s, f == nil, func(run func(int, func(T) bool) bool) func(int, func(U) bool) bool {
		return func(p int, yield func(U) bool) bool {
			return run(p, func(x T) bool {
				for _, u := range f(x) {
					if !yield(u) {
						return false
					}
				}
				return true
			})
		}
	})
}

// FlatMapSeq is FlatMap for functions that produce their elements as an
// iterator, which spares the slice per element.
func FlatMapSeq[T, U any](s *Stream[T], f func(T) iter.Seq[U]) *Stream[U] {
	return narrow("flatMap", s, f == nil, func(run func(int, func(T) bool) bool) func(int, func(U) bool) bool {
		return func(p int, yield func(U) bool) bool {
			return run(p, func(x T) bool {
				for u := range f(x) {
					if !yield(u) {
						return false
					}
				}
				return true
			})
		}
	})
}

// Filter returns a stream of the elements for which keep returns true.
func (s *Stream[T]) Filter(keep func(T) bool) *Stream[T] {
	return narrow("filter", s, keep == nil, func(run func(int, func(T) bool) bool) func(int, func(T) bool) bool {
		return func(p int, yield func(T) bool) bool {
			return run(p, func(x T) bool {
				if keep(x) {
					return yield(x)
				}
				return true
			})
		}
	})
}

// MapPartitions returns a stream of f applied to each partition as a whole:
// f receives an iterator over the partition's elements and returns an
// iterator over the new partition's. Use it to set up something once per
// partition, such as a connection or a buffer.
func MapPartitions[T, U any](s *Stream[T], f func(iter.Seq[T]) iter.Seq[U]) *Stream[U] {
	return narrow("mapPartitions", s, f == nil, func(run func(int, func(T) bool) bool) func(int, func(U) bool) bool {
		return func(p int, yield func(U) bool) bool {
			in := func(y func(T) bool) { run(p, y) }
			for u := range f(in) {
				if !yield(u) {
					return false
				}
			}
			return true
		}
	})
}

// MapValues returns a stream of the pairs with f applied to each value.
func MapValues[K, V, W any](s *Stream[Pair[K, V]], f func(V) W) *Stream[Pair[K, W]] {
	return narrow("mapValues", s, f == nil, func(run func(int, func(Pair[K, V]) bool) bool) func(int, func(Pair[K, W]) bool) bool {
		return func(p int, yield func(Pair[K, W]) bool) bool {
			return run(p, func(kv Pair[K, V]) bool { return yield(Pair[K, W]{kv.Key, f(kv.Value)}) })
		}
	})
}

// FlatMapValues returns a stream with one pair (k, w) for every w in
// f(v), for every pair (k, v).
func FlatMapValues[K, V, W any](s *Stream[Pair[K, V]], f func(V) []W) *Stream[Pair[K, W]] {
	return narrow("flatMapValues", s, f == nil, func(run func(int, func(Pair[K, V]) bool) bool) func(int, func(Pair[K, W]) bool) bool {
		return func(p int, yield func(Pair[K, W]) bool) bool {
			return run(p, func(kv Pair[K, V]) bool {
				for _, w := range f(kv.Value) {
					if !yield(Pair[K, W]{kv.Key, w}) {
						return false
					}
				}
				return true
			})
		}
	})
}

// Glom returns a stream with one element per partition: the partition's
// elements as a slice.
func Glom[T any](s *Stream[T]) *Stream[[]T] {
	var parent *node
	if s != nil {
		parent = s.n
	}
	out := newStream[[]T]("glom", parent)
	if out.n.err != nil {
		return out
	}
	out.compute = func(r *run, t int64) (plan[[]T], error) {
		pp, err := s.get(r, t)
		if err != nil || !pp.ok {
			return plan[[]T]{}, err
		}
		return plan[[]T]{ok: true, parts: pp.parts, run: func(p int, yield func([]T) bool) bool {
			var part []T
			if pp.data != nil {
				part = slices.Clone(pp.data[p]) // do not hand out kept data
			} else {
				pp.run(p, func(x T) bool { part = append(part, x); return true })
			}
			return yield(part)
		}}, nil
	}
	return out
}

// Repartition returns a stream with the same elements spread evenly over n
// partitions, in order.
func (s *Stream[T]) Repartition(n int) *Stream[T] {
	out := newStream[T]("repartition", s.n)
	if out.n.err != nil {
		return out
	}
	if n < 1 {
		out.n.fail(fmt.Errorf("%w: repartition to %d partitions", ErrInvalidOption, n))
		return out
	}
	out.compute = func(r *run, t int64) (plan[T], error) {
		pp, err := s.get(r, t)
		if err != nil || !pp.ok {
			return plan[T]{}, err
		}
		data, err := pp.collect(r, out.n.name)
		if err != nil {
			return plan[T]{}, err
		}
		total := 0
		for _, d := range data {
			total += len(d)
		}
		parts := make([][]T, n)
		i, off := 0, 0 // source partition and offset in it
		for j := range n {
			want := (j+1)*total/n - j*total/n
			part := make([]T, 0, want)
			for len(part) < want {
				if off == len(data[i]) {
					i, off = i+1, 0
					continue
				}
				take := min(want-len(part), len(data[i])-off)
				part = append(part, data[i][off:off+take]...)
				off += take
			}
			parts[j] = part
		}
		return dataPlan(parts), nil
	}
	return out
}

// Union returns a stream whose batches hold the partitions of s followed by
// those of each other stream for the same time. All streams must have the
// same context and slide. A stream without a batch at some time adds
// nothing to it.
func (s *Stream[T]) Union(others ...*Stream[T]) *Stream[T] {
	all := make([]*Stream[T], 0, 1+len(others))
	all = append(all, s)
	all = append(all, others...)
	parents := make([]*node, len(all))
	for i, x := range all {
		if x != nil {
			parents[i] = x.n
		}
	}
	out := newStream[T]("union", parents...)
	if out.n.err != nil {
		return out
	}
	out.compute = func(r *run, t int64) (plan[T], error) {
		var plans []plan[T]
		parts := 0
		for _, x := range all {
			p, err := x.get(r, t)
			if err != nil {
				return plan[T]{}, err
			}
			if p.ok {
				plans = append(plans, p)
				parts += p.parts
			}
		}
		if len(plans) == 0 {
			return plan[T]{}, nil
		}
		if len(plans) == 1 {
			return plans[0], nil
		}
		// Map each output partition to (plan, partition).
		which := make([][2]int, 0, parts)
		for i, p := range plans {
			for j := range p.parts {
				which = append(which, [2]int{i, j})
			}
		}
		return plan[T]{ok: true, parts: parts, run: func(p int, yield func(T) bool) bool {
			w := which[p]
			return plans[w[0]].run(w[1], yield)
		}, lin: func(p int) []Lineage {
			w := which[p]
			if l := plans[w[0]].lin; l != nil {
				return l(w[1])
			}
			return nil
		}}, nil
	}
	return out
}
