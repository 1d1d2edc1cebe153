package dstream

import (
	"hash/maphash"
	"sync/atomic"
)

// partitioner assigns keys to n partitions by hash, or with the user's
// Partitioner (PartitionBy). All shuffles of a context share its seed, so
// equal keys land in equal partition numbers in every stream with the
// same partition count; windows and joins rely on it.
type partitioner[K comparable] struct {
	n      int
	seed   maphash.Seed
	custom Partitioner[K] // nil: by hash
}

func newPartitioner[K comparable](c *Context, n int) partitioner[K] {
	return partitioner[K]{n: n, seed: c.seed}
}

// shufflePartitioner returns the partitioner a shuffle's options ask for
// (Partitions or PartitionBy, and no other option). An invalid option
// marks n invalid.
func shufflePartitioner[K comparable](n *node, opts []OpOption) (partitioner[K], bool) {
	cfg, err := opOptions(n.c, opts, false)
	var part partitioner[K]
	if err == nil {
		part, err = keyPartitioner[K](n.c, cfg)
	}
	if err != nil {
		n.fail(err)
		return partitioner[K]{}, false
	}
	return part, true
}

// of returns the hash partition of k; a custom partitioner's keys are
// placed with index.
func (p partitioner[K]) of(k K) int {
	if p.n == 1 {
		return 0
	}
	return int(maphash.Comparable(p.seed, k) % uint64(p.n))
}

// table is an insertion-ordered hash table from keys to combined values.
// Looking up an existing key costs one map access.
type table[K comparable, C any] struct {
	idx  map[K]int32
	keys []K
	vals []C
}

func newTable[K comparable, C any](hint int) *table[K, C] {
	return &table[K, C]{idx: make(map[K]int32, hint), keys: make([]K, 0, hint), vals: make([]C, 0, hint)}
}

func (t *table[K, C]) add(k K, c C) {
	t.idx[k] = int32(len(t.keys))
	t.keys = append(t.keys, k)
	t.vals = append(t.vals, c)
}

// pairs returns the table's entries in insertion order.
func (t *table[K, C]) pairs() []Pair[K, C] {
	out := make([]Pair[K, C], len(t.keys))
	for i, k := range t.keys {
		out[i] = Pair[K, C]{k, t.vals[i]}
	}
	return out
}

// split distributes the entries over the partitioner's partitions. Only
// a custom partitioner can fail, with a key out of range.
func (t *table[K, C]) split(part partitioner[K]) ([][]Pair[K, C], error) {
	if part.custom != nil {
		return t.splitCustom(part)
	}
	if part.n == 1 {
		return [][]Pair[K, C]{t.pairs()}, nil
	}
	where := make([]int32, len(t.keys))
	counts := make([]int, part.n)
	for i, k := range t.keys {
		j := part.of(k)
		where[i] = int32(j)
		counts[j]++
	}
	return t.place(part.n, where, counts), nil
}

// splitCustom is split for a custom partitioner.
func (t *table[K, C]) splitCustom(part partitioner[K]) ([][]Pair[K, C], error) {
	where := make([]int32, len(t.keys))
	counts := make([]int, part.n)
	for i, k := range t.keys {
		j := part.custom.Partition(k)
		if j < 0 || j >= part.n {
			return nil, part.outOfRange(k, j)
		}
		where[i] = int32(j)
		counts[j]++
	}
	return t.place(part.n, where, counts), nil
}

// place builds the n partitions: entry i goes to where[i], and partition
// j gets counts[j] entries.
func (t *table[K, C]) place(n int, where []int32, counts []int) [][]Pair[K, C] {
	out := make([][]Pair[K, C], n)
	for j, c := range counts {
		out[j] = make([]Pair[K, C], 0, c)
	}
	for i, k := range t.keys {
		j := where[i]
		out[j] = append(out[j], Pair[K, C]{k, t.vals[i]})
	}
	return out
}

// combiner says how values V are combined into a C per key, as in Spark's
// combineByKey.
type combiner[V, C any] struct {
	create         func(V) C
	mergeValue     func(C, V) C
	mergeCombiners func(C, C) C
}

// sizeHint remembers how many distinct keys an operator's input
// partitions held in the last batch, to size the next batch's tables:
// keyed streams tend to have as many keys from one batch to the next, and
// growing a hash table from empty rehashes it many times.
type sizeHint struct{ keys atomic.Int64 }

func (h *sizeHint) get() int {
	if h == nil {
		return 0
	}
	return int(h.keys.Load())
}

func (h *sizeHint) set(n int) {
	if h != nil {
		h.keys.Store(int64(n))
	}
}

// shuffle combines the values of each key of pp into nOut hash
// partitions: first within each input partition (map side), then across
// input partitions for each output partition, both in parallel. hint, if
// not nil, sizes the map-side tables and learns from this batch.
func shuffle[K comparable, V, C any](r *run, op string, pp plan[Pair[K, V]], part partitioner[K], cb combiner[V, C], hint *sizeHint) ([][]Pair[K, C], error) {
	buckets := make([][][]Pair[K, C], pp.parts)
	size := hint.get()
	var most atomic.Int64
	err := r.parallel(op, pp.parts, func(p int) error {
		tab := newTable[K, C](size)
		create, merge := cb.create, cb.mergeValue
		pp.run(p, func(kv Pair[K, V]) bool {
			if i, ok := tab.idx[kv.Key]; ok {
				tab.vals[i] = merge(tab.vals[i], kv.Value)
			} else {
				tab.add(kv.Key, create(kv.Value))
			}
			return true
		})
		var err error
		if buckets[p], err = tab.split(part); err != nil {
			return err
		}
		for n := int64(len(tab.keys)); ; {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	hint.set(int(most.Load()))
	return mergeBuckets(r, op, buckets, part.n, cb.mergeCombiners)
}

// sumLens returns the number of elements of buckets.
func sumLens[E any](buckets [][][]E) int {
	n := 0
	for _, b := range buckets {
		for _, x := range b {
			n += len(x)
		}
	}
	return n
}

// mergeBuckets merges buckets[p][j] over p into output partition j, in
// parallel over j (serially when they hold fewer than smallWork elements).
func mergeBuckets[K comparable, C any](r *run, op string, buckets [][][]Pair[K, C], n int, merge func(C, C) C) ([][]Pair[K, C], error) {
	out := make([][]Pair[K, C], n)
	each := r.parallel
	if sumLens(buckets) < smallWork {
		each = r.serial
	}
	err := each(op, n, func(j int) error {
		var only []Pair[K, C]
		nonEmpty, total := 0, 0
		for _, b := range buckets {
			if len(b[j]) > 0 {
				nonEmpty++
				total += len(b[j])
				only = b[j]
			}
		}
		if nonEmpty <= 1 {
			out[j] = only
			return nil
		}
		tab := newTable[K, C](total)
		for _, b := range buckets {
			for _, kv := range b[j] {
				if i, ok := tab.idx[kv.Key]; ok {
					tab.vals[i] = merge(tab.vals[i], kv.Value)
				} else {
					tab.add(kv.Key, kv.Value)
				}
			}
		}
		out[j] = tab.pairs()
		return nil
	})
	return out, err
}

// shuffled builds a stream computed by shuffling its parent.
func shuffled[K comparable, V, C any](op string, s *Stream[Pair[K, V]], fnNil bool, opts []OpOption, cb func() combiner[V, C]) *Stream[Pair[K, C]] {
	out := newStream[Pair[K, C]](op, s.node())
	if !checkFunc(out, fnNil) {
		return out
	}
	part, ok := shufflePartitioner[K](out.n, opts)
	if !ok {
		return out
	}
	return shuffleWith(out, s, part, cb())
}

// shuffleWith makes out the shuffle of s into part's partitions.
func shuffleWith[K comparable, V, C any](out *Stream[Pair[K, C]], s *Stream[Pair[K, V]], part partitioner[K], comb combiner[V, C]) *Stream[Pair[K, C]] {
	hint := &sizeHint{}
	out.compute = func(r *run, t int64) (plan[Pair[K, C]], error) {
		pp, err := s.get(r, t)
		if err != nil || !pp.ok {
			return plan[Pair[K, C]]{}, err
		}
		data, err := shuffle(r, out.n.name, pp, part, comb, hint)
		if err != nil {
			return plan[Pair[K, C]]{}, err
		}
		return dataPlan(data), nil
	}
	return out
}

func identity[V any](v V) V { return v }

// ReduceByKey returns a stream with one pair per key of each batch, its
// values combined with f, which must be associative and commutative.
// Values are combined within each partition before the shuffle.
// Options: Partitions or PartitionBy.
func ReduceByKey[K comparable, V any](s *Stream[Pair[K, V]], f func(V, V) V, opts ...OpOption) *Stream[Pair[K, V]] {
	return shuffled("reduceByKey", s, f == nil, opts, func() combiner[V, V] {
		return combiner[V, V]{create: identity[V], mergeValue: f, mergeCombiners: f}
	})
}

// reduceByKeyWith is ReduceByKey into the partitions of part, which the
// caller built: the inverse window reads the partitions of its input by
// the partitioner of its state.
func reduceByKeyWith[K comparable, V any](s *Stream[Pair[K, V]], f func(V, V) V, part partitioner[K]) *Stream[Pair[K, V]] {
	out := newStream[Pair[K, V]]("reduceByKey", s.node())
	if !checkFunc(out, f == nil) {
		return out
	}
	return shuffleWith(out, s, part, combiner[V, V]{create: identity[V], mergeValue: f, mergeCombiners: f})
}

// CombineByKey returns a stream with one pair per key of each batch: the
// first value of a key in a partition makes a combiner with create, later
// ones are added with mergeValue, and the combiners of different
// partitions are merged with mergeCombiners. Options: Partitions or
// PartitionBy.
func CombineByKey[K comparable, V, C any](s *Stream[Pair[K, V]], create func(V) C, mergeValue func(C, V) C, mergeCombiners func(C, C) C, opts ...OpOption) *Stream[Pair[K, C]] {
	return shuffled("combineByKey", s, create == nil || mergeValue == nil || mergeCombiners == nil, opts, func() combiner[V, C] {
		return combiner[V, C]{create: create, mergeValue: mergeValue, mergeCombiners: mergeCombiners}
	})
}

// groupCombiner collects values in slices; the slices are new, never
// shared with the input.
func groupCombiner[V any]() combiner[V, []V] {
	return combiner[V, []V]{
		create:         func(v V) []V { return []V{v} },
		mergeValue:     func(c []V, v V) []V { return append(c, v) },
		mergeCombiners: func(a, b []V) []V { return append(a, b...) },
	}
}

// GroupByKey returns a stream with one pair per key of each batch holding
// all the key's values. Options: Partitions or PartitionBy.
func GroupByKey[K comparable, V any](s *Stream[Pair[K, V]], opts ...OpOption) *Stream[Pair[K, []V]] {
	return shuffled("groupByKey", s, false, opts, groupCombiner[V])
}

// CountByValue returns a stream with one pair (x, n) per distinct element
// x of each batch, n being how often x occurs. Options: Partitions or
// PartitionBy.
func CountByValue[T comparable](s *Stream[T], opts ...OpOption) *Stream[Pair[T, int64]] {
	ones := Map(s, func(x T) Pair[T, int64] { return Pair[T, int64]{x, 1} })
	return shuffled("countByValue", ones, false, opts, func() combiner[int64, int64] {
		return combiner[int64, int64]{create: identity[int64], mergeValue: addInt64, mergeCombiners: addInt64}
	})
}

func addInt64(a, b int64) int64 { return a + b }
func subInt64(a, b int64) int64 { return a - b }

// Count returns a stream with exactly one element per batch: the number of
// elements in the batch, 0 for an empty batch.
func (s *Stream[T]) Count() *Stream[int64] {
	out := newStream[int64]("count", s.node())
	if out.n.err != nil {
		return out
	}
	out.compute = func(r *run, t int64) (plan[int64], error) {
		pp, err := s.get(r, t)
		if err != nil || !pp.ok {
			return plan[int64]{}, err
		}
		n, err := countPlan(r, out.n.name, pp)
		if err != nil {
			return plan[int64]{}, err
		}
		return dataPlan([][]int64{{n}}), nil
	}
	return out
}

// countPlan counts the elements of a plan, in parallel.
func countPlan[T any](r *run, op string, pp plan[T]) (int64, error) {
	if pp.data != nil {
		var n int64
		for _, d := range pp.data {
			n += int64(len(d))
		}
		return n, nil
	}
	counts := make([]int64, pp.parts)
	err := r.parallel(op, pp.parts, func(p int) error {
		var n int64
		pp.run(p, func(T) bool { n++; return true })
		counts[p] = n
		return nil
	})
	var n int64
	for _, c := range counts {
		n += c
	}
	return n, err
}

// Reduce returns a stream with one element per batch, the batch's
// elements combined with f, which must be associative and commutative. An
// empty batch gives an empty batch.
func (s *Stream[T]) Reduce(f func(T, T) T) *Stream[T] {
	out := newStream[T]("reduce", s.node())
	if !checkFunc(out, f == nil) {
		return out
	}
	out.compute = func(r *run, t int64) (plan[T], error) {
		pp, err := s.get(r, t)
		if err != nil || !pp.ok {
			return plan[T]{}, err
		}
		v, ok, err := reducePlan(r, out.n.name, pp, f)
		if err != nil {
			return plan[T]{}, err
		}
		if !ok {
			return dataPlan([][]T{nil}), nil
		}
		return dataPlan([][]T{{v}}), nil
	}
	return out
}

// reducePlan reduces each partition in parallel, then the partial results
// in partition order.
func reducePlan[T any](r *run, op string, pp plan[T], f func(T, T) T) (T, bool, error) {
	type partial struct {
		v  T
		ok bool
	}
	parts := make([]partial, pp.parts)
	err := r.parallel(op, pp.parts, func(p int) error {
		var acc partial
		pp.run(p, func(x T) bool {
			if acc.ok {
				acc.v = f(acc.v, x)
			} else {
				acc = partial{x, true}
			}
			return true
		})
		parts[p] = acc
		return nil
	})
	var acc partial
	if err != nil {
		return acc.v, false, err
	}
	for _, p := range parts {
		if !p.ok {
			continue
		}
		if acc.ok {
			acc.v = f(acc.v, p.v)
		} else {
			acc = p
		}
	}
	return acc.v, acc.ok, nil
}

// node returns the stream's node, or nil for a nil stream.
func (s *Stream[T]) node() *node {
	if s == nil {
		return nil
	}
	return s.n
}
