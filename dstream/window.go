package dstream

import (
	"errors"
	"fmt"
	"time"
)

// defaultStateCheckpoint is the checkpoint interval Spark gives stateful
// streams: the slide times ceil(10 s / slide).
func defaultStateCheckpoint(slide int64) int64 {
	tenS := int64(10 * time.Second)
	return slide * ((tenS + slide - 1) / slide)
}

// windowDurations checks a window's length and slide against its parent's
// slide and returns them in nanoseconds; slide 0 means the parent's slide.
func windowDurations(parentSlide int64, length, slide time.Duration) (int64, int64, error) {
	if slide == 0 {
		slide = time.Duration(parentSlide)
	}
	ps := time.Duration(parentSlide)
	if length <= 0 || length%ps != 0 {
		return 0, 0, fmt.Errorf("%w: window length %v must be a positive multiple of the parent's slide %v", ErrInvalidWindow, length, ps)
	}
	if slide < 0 || slide%ps != 0 {
		return 0, 0, fmt.Errorf("%w: window slide %v must be a positive multiple of the parent's slide %v", ErrInvalidWindow, slide, ps)
	}
	return int64(length), int64(slide), nil
}

// windowed creates a stream over a window of parent: it checks the
// durations, sets the stream's slide and makes the parent keep enough
// history. It reports whether the stream is valid.
func windowed(n *node, parent *node, length, slide time.Duration) (int64, int64, bool) {
	if n.err != nil {
		return 0, 0, false
	}
	l, sl, err := windowDurations(parent.slide, length, slide)
	if err != nil {
		n.fail(err)
		return 0, 0, false
	}
	c := n.c
	c.mu.Lock()
	n.slide = sl
	n.rememberExtra = l
	parent.sliced = true
	c.mu.Unlock()
	return l, sl, true
}

// Window returns a stream whose batch at time t holds the partitions of
// every batch of s in the window (t - length, t]. A new window starts
// every slide; slide 0 means the slide of s. Both must be positive
// multiples of the slide of s. Windows before the first batch are partial.
func (s *Stream[T]) Window(length, slide time.Duration) *Stream[T] {
	out := newStream[T]("window", s.node())
	l, _, ok := windowed(out.n, s.node(), length, slide)
	if !ok {
		return out
	}
	out.compute = func(r *run, t int64) (plan[T], error) {
		batches, err := s.sliceRange(r, t-l+s.n.slide, t)
		if err != nil {
			return plan[T]{}, err
		}
		var parts [][]T
		for _, b := range batches {
			parts = append(parts, b.Partitions...)
		}
		return dataPlan(parts), nil
	}
	return out
}

// CountByWindow returns a stream with the number of elements in each
// window. Like Spark it counts incrementally (adding the new batches and
// subtracting the old), and emits nothing until the first element arrives;
// from then on it emits a count every slide, 0 included.
func (s *Stream[T]) CountByWindow(length, slide time.Duration) *Stream[int64] {
	ones := Map(s, func(T) int64 { return 1 })
	return ones.ReduceByWindow(addInt64, subInt64, length, slide)
}

// ReduceByWindow returns a stream with one element per window: the
// window's elements combined with f, which must be associative and
// commutative. With inv nil the window is reduced from its batches every
// slide. With inv, the inverse of f (inv(f(a, b), b) == a), the new value
// is computed from the previous window's by removing the batches that left
// and adding those that entered, which costs the slide, not the window.
func (s *Stream[T]) ReduceByWindow(f, inv func(T, T) T, length, slide time.Duration) *Stream[T] {
	if inv == nil {
		return s.Reduce(f).Window(length, slide).Reduce(f)
	}
	return reducedWindowValue(s, f, inv, length, slide)
}

// reducedWindowValue is the inverse form of ReduceByWindow: Spark's
// reduceByKeyAndWindow over a single key, written out because a method of
// Stream[T] cannot build a Stream of a type made from T.
func reducedWindowValue[T any](s *Stream[T], f, inv func(T, T) T, length, slide time.Duration) *Stream[T] {
	reduced := s.Reduce(f)
	out := newStream[T]("reduceByWindow", reduced.node())
	if !checkFunc(out, f == nil) {
		return out
	}
	l, sl, ok := windowed(out.n, reduced.n, length, slide)
	if !ok {
		return out
	}
	out.n.markStateful(defaultStateCheckpoint(sl))
	var prev T
	var hasValue bool
	var last int64
	out.compute = func(r *run, t int64) (plan[T], error) {
		olds, news, err := windowDelta(r, reduced, t, l, sl)
		if err != nil {
			return plan[T]{}, err
		}
		if last != t-sl {
			hasValue = false
		}
		old, hasOld := foldBatches(olds, f)
		nw, hasNew := foldBatches(news, f)
		switch {
		case hasValue:
			if hasOld {
				prev = inv(prev, old)
			}
			if hasNew {
				prev = f(prev, nw)
			}
		case hasNew:
			prev, hasValue = nw, true
		case hasOld:
			return plan[T]{}, errors.New("the window has neither a previous value nor new values")
		}
		last = t
		if !hasValue {
			return dataPlan([][]T{nil}), nil
		}
		return dataPlan([][]T{{prev}}), nil
	}
	return out
}

// foldBatches combines every element of the batches with f.
func foldBatches[T any](bs []*Batch[T], f func(T, T) T) (T, bool) {
	var acc T
	ok := false
	for _, b := range bs {
		for x := range b.All() {
			if ok {
				acc = f(acc, x)
			} else {
				acc, ok = x, true
			}
		}
	}
	return acc, ok
}

// ReduceByKeyAndWindow returns a stream with one pair per key of each
// window, the key's values in the window combined with f.
//
// With inv nil it is ReduceByKey, then Window, then ReduceByKey again.
// With inv, the inverse of f, each window is computed from the previous
// one: v = inv(previous, reduce(batches that left)), then f(v, reduce(batches
// that entered)), so the cost per slide does not grow with the window's
// length. A key whose value returns to the zero value stays in the output
// (as (k, 0) for sums) unless the returned stream's WithStateFilter drops
// it (inverse form only).
//
// Length and slide must be positive multiples of the slide of s; slide 0
// means the slide of s. Options: Partitions or PartitionBy.
func ReduceByKeyAndWindow[K comparable, V any](s *Stream[Pair[K, V]], f, inv func(V, V) V, length, slide time.Duration, opts ...OpOption) *Stream[Pair[K, V]] {
	if inv == nil {
		if _, err := opOptions(nil, opts, false); err != nil {
			out := newStream[Pair[K, V]]("reduceByKeyAndWindow", s.node())
			out.n.fail(err)
			return out
		}
		return ReduceByKey(ReduceByKey(s, f, opts...).Window(length, slide), f, opts...)
	}
	return reducedWindow(s, f, inv, length, slide, opts)
}

func reducedWindow[K comparable, V any](s *Stream[Pair[K, V]], f, inv func(V, V) V, length, slide time.Duration, opts []OpOption) *Stream[Pair[K, V]] {
	var c *Context
	if s != nil {
		c = s.n.c
	}
	cfg, cfgErr := opOptions(c, opts, true)
	var keep func(Pair[K, V]) bool // WithStateFilter
	// The window reads partition j of its input's batches into partition
	// j of its state: both use one partitioner.
	part := partitioner[K]{n: 1}
	if cfgErr == nil && c != nil {
		part, cfgErr = keyPartitioner[K](c, cfg)
	}
	if cfgErr != nil && c != nil {
		part = newPartitioner[K](c, 1)
	}
	reduced := reduceByKeyWith(s, f, part)
	out := newStream[Pair[K, V]]("reduceByKeyAndWindow", reduced.node())
	if !checkFunc(out, f == nil || inv == nil) {
		return out
	}
	if cfgErr != nil {
		out.n.fail(cfgErr)
		return out
	}
	out.hooks = &streamHooks[Pair[K, V]]{filter: func(f func(Pair[K, V]) bool) { keep = f }}
	l, sl, ok := windowed(out.n, reduced.n, length, slide)
	if !ok {
		return out
	}
	out.n.markStateful(defaultStateCheckpoint(sl))

	nparts := part.n
	st := &keyedState[K, V]{} // the value of every key in the last window
	out.n.store, out.n.codec = pairStore(st, part), cfg.codec
	out.compute = func(r *run, t int64) (plan[Pair[K, V]], error) {
		olds, news, err := windowDelta(r, reduced, t, l, sl)
		if err != nil {
			return plan[Pair[K, V]]{}, err
		}
		prevEnd := t - sl
		if st.parts == nil || st.last != prevEnd {
			st.reset(nparts)
		}
		// Only keys in the batches that left or entered can change; the
		// rest keep values that already passed the filter. The work is
		// proportional to the slide, not to the window.
		err = r.parallel(out.n.name, nparts, func(j int) error {
			m := st.parts[j]
			oldAgg := reduceSlices(olds, j, f)
			newAgg := reduceSlices(news, j, f)
			for i, k := range oldAgg.keys {
				if v, ok := m[k]; ok {
					m[k] = inv(v, oldAgg.vals[i])
				} else if _, ok := newAgg.idx[k]; !ok {
					return fmt.Errorf("key %v has neither a value in the previous window nor new values (did a WithStateFilter drop a key that still had values in the window?)", k)
				}
			}
			for i, k := range newAgg.keys {
				if v, ok := m[k]; ok {
					m[k] = f(v, newAgg.vals[i])
				} else {
					m[k] = newAgg.vals[i]
				}
			}
			if keep != nil {
				for _, agg := range []*table[K, V]{oldAgg, newAgg} {
					for _, k := range agg.keys {
						if v, ok := m[k]; ok && !keep(Pair[K, V]{k, v}) {
							delete(m, k)
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			st.parts = nil // the window state is unknown after a failure
			return plan[Pair[K, V]]{}, err
		}
		st.last = t
		return mapsPlan(st.parts), nil
	}
	return out
}

// mapsPlan is the plan whose partition j is the entries of parts[j]: a
// stateful operator's output read straight from its state, valid until
// the operator's next batch.
func mapsPlan[K comparable, V any](parts []map[K]V) plan[Pair[K, V]] {
	return plan[Pair[K, V]]{ok: true, parts: len(parts), run: func(j int, yield func(Pair[K, V]) bool) bool {
		for k, v := range parts[j] {
			if !yield(Pair[K, V]{k, v}) {
				return false
			}
		}
		return true
	}}
}

// windowDelta returns the batches of s that left the window between the
// window ending at t - slide and the one ending at t, and those that
// entered it. The ranges are Spark's ReducedWindowedDStream's, clamped to
// the two windows: when the slide is longer than the window, the batches
// between windows belong to neither, and Spark's unclamped ranges count
// them for keys that were not in the previous window.
func windowDelta[T any](r *run, s *Stream[T], t, length, slide int64) (olds, news []*Batch[T], err error) {
	ps := s.n.slide
	curBegin := t - length + ps
	prevBegin := curBegin - slide
	prevEnd := t - slide
	if olds, err = s.sliceRange(r, prevBegin, min(curBegin-ps, prevEnd)); err != nil {
		return nil, nil, err
	}
	news, err = s.sliceRange(r, max(prevEnd+ps, curBegin), t)
	return olds, news, err
}

// reduceSlices reduces partition j of several batches into one table.
func reduceSlices[K comparable, V any](batches []*Batch[Pair[K, V]], j int, f func(V, V) V) *table[K, V] {
	if len(batches) == 0 {
		return &table[K, V]{}
	}
	tab := newTable[K, V](len(batches[0].Partitions[j]))
	for _, b := range batches {
		for _, kv := range b.Partitions[j] {
			if i, ok := tab.idx[kv.Key]; ok {
				tab.vals[i] = f(tab.vals[i], kv.Value)
			} else {
				tab.add(kv.Key, kv.Value)
			}
		}
	}
	return tab
}

// CountByValueAndWindow returns a stream with one pair (x, n) per distinct
// element x of each window, n being how often x occurs in the window. It
// counts incrementally (Spark's inverse form with a filter), so elements
// whose count falls to zero disappear. Options: Partitions or PartitionBy.
func CountByValueAndWindow[T comparable](s *Stream[T], length, slide time.Duration, opts ...OpOption) *Stream[Pair[T, int64]] {
	ones := Map(s, func(x T) Pair[T, int64] { return Pair[T, int64]{x, 1} })
	return ReduceByKeyAndWindow(ones, addInt64, subInt64, length, slide, opts...).
		WithStateFilter(func(p Pair[T, int64]) bool { return p.Value != 0 })
}

// GroupByKeyAndWindow returns a stream with one pair per key of each
// window, holding all the key's values in the window. Options: Partitions
// or PartitionBy.
func GroupByKeyAndWindow[K comparable, V any](s *Stream[Pair[K, V]], length, slide time.Duration, opts ...OpOption) *Stream[Pair[K, []V]] {
	grouped := GroupByKey(s, opts...).Window(length, slide)
	return CombineByKey(grouped,
		func(vs []V) []V { return append([]V(nil), vs...) }, // copy: the window's batches are shared
		func(buf, vs []V) []V { return append(buf, vs...) },
		func(a, b []V) []V { return append(a, b...) },
		opts...)
}
