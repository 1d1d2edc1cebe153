package dstream

// group is one key's values from the two sides of a cogroup.
type group[K comparable, V, W any] struct {
	key   K
	left  []V
	right []W
}

// cogroupPlans groups both sides by key into the partitioner's partitions.
// A side without a batch counts as empty.
func cogroupPlans[K comparable, V, W any](r *run, op string, pa plan[Pair[K, V]], pb plan[Pair[K, W]], part partitioner[K]) ([][]group[K, V, W], error) {
	var left [][]Pair[K, []V]
	var right [][]Pair[K, []W]
	var err error
	if pa.ok {
		if left, err = shuffle(r, op, pa, part, groupCombiner[V](), nil); err != nil {
			return nil, err
		}
	}
	if pb.ok {
		if right, err = shuffle(r, op, pb, part, groupCombiner[W](), nil); err != nil {
			return nil, err
		}
	}
	out := make([][]group[K, V, W], part.n)
	err = r.parallel(op, part.n, func(j int) error {
		var ls []Pair[K, []V]
		var rs []Pair[K, []W]
		if left != nil {
			ls = left[j]
		}
		if right != nil {
			rs = right[j]
		}
		idx := make(map[K]int, len(ls)+len(rs))
		gs := make([]group[K, V, W], 0, len(ls)+len(rs))
		for _, kv := range ls {
			idx[kv.Key] = len(gs)
			gs = append(gs, group[K, V, W]{key: kv.Key, left: kv.Value})
		}
		for _, kw := range rs {
			if i, ok := idx[kw.Key]; ok {
				gs[i].right = kw.Value
			} else {
				gs = append(gs, group[K, V, W]{key: kw.Key, right: kw.Value})
			}
		}
		out[j] = gs
		return nil
	})
	return out, err
}

// cogrouped builds a stream from the cogroup of a and b: emit turns each
// key's group into output elements.
func cogrouped[K comparable, V, W, O any](op string, a *Stream[Pair[K, V]], b *Stream[Pair[K, W]], opts []OpOption, emit func(g group[K, V, W], yield func(O) bool) bool) *Stream[O] {
	out := newStream[O](op, a.node(), b.node())
	if out.n.err != nil {
		return out
	}
	part, ok := shufflePartitioner[K](out.n, opts)
	if !ok {
		return out
	}
	out.compute = func(r *run, t int64) (plan[O], error) {
		pa, err := a.get(r, t)
		if err != nil {
			return plan[O]{}, err
		}
		pb, err := b.get(r, t)
		if err != nil {
			return plan[O]{}, err
		}
		if !pa.ok && !pb.ok {
			return plan[O]{}, nil
		}
		groups, err := cogroupPlans(r, out.n.name, pa, pb, part)
		if err != nil {
			return plan[O]{}, err
		}
		return plan[O]{ok: true, parts: len(groups), run: func(p int, yield func(O) bool) bool {
			for _, g := range groups[p] {
				if !emit(g, yield) {
					return false
				}
			}
			return true
		}}, nil
	}
	return out
}

// Cogroup returns a stream with one pair per key found in either stream's
// batch for the same time, holding the key's values from each side (an
// empty slice for a side without the key). The streams must have the same
// slide. Options: Partitions or PartitionBy.
func Cogroup[K comparable, V, W any](a *Stream[Pair[K, V]], b *Stream[Pair[K, W]], opts ...OpOption) *Stream[Pair[K, Pair[[]V, []W]]] {
	return cogrouped("cogroup", a, b, opts, func(g group[K, V, W], yield func(Pair[K, Pair[[]V, []W]]) bool) bool {
		l, r := g.left, g.right
		if l == nil {
			l = []V{}
		}
		if r == nil {
			r = []W{}
		}
		return yield(Pair[K, Pair[[]V, []W]]{g.key, Pair[[]V, []W]{l, r}})
	})
}

// Join returns the inner join of the two streams' batches for the same
// time: a pair (k, (v, w)) for every v and w of a key found on both sides.
// Options: Partitions or PartitionBy.
func Join[K comparable, V, W any](a *Stream[Pair[K, V]], b *Stream[Pair[K, W]], opts ...OpOption) *Stream[Pair[K, Pair[V, W]]] {
	return cogrouped("join", a, b, opts, func(g group[K, V, W], yield func(Pair[K, Pair[V, W]]) bool) bool {
		for _, v := range g.left {
			for _, w := range g.right {
				if !yield(Pair[K, Pair[V, W]]{g.key, Pair[V, W]{v, w}}) {
					return false
				}
			}
		}
		return true
	})
}

// LeftOuterJoin returns (k, (v, Some(w))) for keys on both sides and
// (k, (v, None)) for keys only in a. Options: Partitions or PartitionBy.
func LeftOuterJoin[K comparable, V, W any](a *Stream[Pair[K, V]], b *Stream[Pair[K, W]], opts ...OpOption) *Stream[Pair[K, Pair[V, Optional[W]]]] {
	return cogrouped("leftOuterJoin", a, b, opts, func(g group[K, V, W], yield func(Pair[K, Pair[V, Optional[W]]]) bool) bool {
		for _, v := range g.left {
			if len(g.right) == 0 {
				if !yield(Pair[K, Pair[V, Optional[W]]]{g.key, Pair[V, Optional[W]]{v, None[W]()}}) {
					return false
				}
				continue
			}
			for _, w := range g.right {
				if !yield(Pair[K, Pair[V, Optional[W]]]{g.key, Pair[V, Optional[W]]{v, Some(w)}}) {
					return false
				}
			}
		}
		return true
	})
}

// RightOuterJoin returns (k, (Some(v), w)) for keys on both sides and
// (k, (None, w)) for keys only in b. Options: Partitions or PartitionBy.
func RightOuterJoin[K comparable, V, W any](a *Stream[Pair[K, V]], b *Stream[Pair[K, W]], opts ...OpOption) *Stream[Pair[K, Pair[Optional[V], W]]] {
	return cogrouped("rightOuterJoin", a, b, opts, func(g group[K, V, W], yield func(Pair[K, Pair[Optional[V], W]]) bool) bool {
		for _, w := range g.right {
			if len(g.left) == 0 {
				if !yield(Pair[K, Pair[Optional[V], W]]{g.key, Pair[Optional[V], W]{None[V](), w}}) {
					return false
				}
				continue
			}
			for _, v := range g.left {
				if !yield(Pair[K, Pair[Optional[V], W]]{g.key, Pair[Optional[V], W]{Some(v), w}}) {
					return false
				}
			}
		}
		return true
	})
}

// FullOuterJoin returns (k, (Some(v), Some(w))) for keys on both sides,
// (k, (Some(v), None)) for keys only in a and (k, (None, Some(w))) for
// keys only in b. Options: Partitions or PartitionBy.
func FullOuterJoin[K comparable, V, W any](a *Stream[Pair[K, V]], b *Stream[Pair[K, W]], opts ...OpOption) *Stream[Pair[K, Pair[Optional[V], Optional[W]]]] {
	type out = Pair[K, Pair[Optional[V], Optional[W]]]
	return cogrouped("fullOuterJoin", a, b, opts, func(g group[K, V, W], yield func(out) bool) bool {
		switch {
		case len(g.right) == 0:
			for _, v := range g.left {
				if !yield(out{g.key, Pair[Optional[V], Optional[W]]{Some(v), None[W]()}}) {
					return false
				}
			}
		case len(g.left) == 0:
			for _, w := range g.right {
				if !yield(out{g.key, Pair[Optional[V], Optional[W]]{None[V](), Some(w)}}) {
					return false
				}
			}
		default:
			for _, v := range g.left {
				for _, w := range g.right {
					if !yield(out{g.key, Pair[Optional[V], Optional[W]]{Some(v), Some(w)}}) {
						return false
					}
				}
			}
		}
		return true
	})
}
