package dstream

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"
	"sync/atomic"
	"time"
)

// keyedState is the per-partition state of a stateful operator, the form
// in which it can be snapshotted and restored by operator name.
type keyedState[K comparable, S any] struct {
	parts []map[K]S
	last  int64 // batch time of the state, for operators that build on their previous batch; 0 before the first
}

func (ks *keyedState[K, S]) reset(n int) {
	ks.parts = make([]map[K]S, n)
	for j := range ks.parts {
		ks.parts[j] = map[K]S{}
	}
}

// UpdateStateByKey returns a stream of the state of every key, updated
// every batch by update (Spark's updateStateByKey). update is called for
// every key that has new values or a state, every batch, even with no new
// values (values is then empty); state is nil for a key without one. It
// returns the new state and whether to keep it: false deletes the key.
// With no state yet and no batch from s there is no output batch.
//
// Options: Partitions or PartitionBy, StateCodec; seed the state with
// WithInitialState on the returned stream.
func UpdateStateByKey[K comparable, V, S any](s *Stream[Pair[K, V]], update func(values []V, state *S) (S, bool), opts ...OpOption) *Stream[Pair[K, S]] {
	var f func(time.Time, K, []V, *S) (S, bool)
	if update != nil {
		f = func(_ time.Time, _ K, values []V, state *S) (S, bool) { return update(values, state) }
	}
	return updateStateByKey(s, f, opts)
}

// UpdateStateByKeyWithTime is UpdateStateByKey with an update function
// that also receives the batch time and the key, like Spark's
// updateStateByKey with a (Time, K, Seq[V], Option[S]) function: use it
// to stamp the state with the time of a key's last data, or to expire keys
// by age. update is called as in UpdateStateByKey, for every key with new
// values or a state, every batch; t is the time of the batch being
// computed, also when the state is recomputed for past batches after a
// restart from a checkpoint, never the time of the call.
//
// It is the same operator as UpdateStateByKey: its default name is
// "updateStateByKey#n" and it saves the same state in checkpoints, so a
// job may switch from one to the other and keep its state.
//
// Options: Partitions or PartitionBy, StateCodec; seed the state with
// WithInitialState on the returned stream.
func UpdateStateByKeyWithTime[K comparable, V, S any](s *Stream[Pair[K, V]], update func(t time.Time, key K, values []V, state *S) (S, bool), opts ...OpOption) *Stream[Pair[K, S]] {
	return updateStateByKey(s, update, opts)
}

// updateStateByKey is UpdateStateByKey with the time-aware function.
func updateStateByKey[K comparable, V, S any](s *Stream[Pair[K, V]], update func(t time.Time, key K, values []V, state *S) (S, bool), opts []OpOption) *Stream[Pair[K, S]] {
	out := newStream[Pair[K, S]]("updateStateByKey", s.node())
	if !checkFunc(out, update == nil) {
		return out
	}
	c := out.n.c
	cfg, err := opOptions(c, opts, true)
	var initial []Pair[K, S] // WithInitialState
	out.hooks = &streamHooks[Pair[K, S]]{initial: func(pairs []Pair[K, S]) { initial = pairs }}
	var part partitioner[K]
	if err == nil {
		part, err = keyPartitioner[K](c, cfg)
	}
	if err != nil {
		out.n.fail(err)
		return out
	}
	out.n.markStateful(defaultStateCheckpoint(out.n.slide))

	st := &keyedState[K, S]{}
	out.n.store, out.n.codec = pairStore(st, part), cfg.codec
	out.compute = func(r *run, t int64) (plan[Pair[K, S]], error) {
		pp, err := s.get(r, t)
		if err != nil {
			return plan[Pair[K, S]]{}, err
		}
		hasPrev := st.parts != nil && st.last == t-out.n.slide
		if !hasPrev {
			if !pp.ok {
				st.parts = nil
				return plan[Pair[K, S]]{}, nil
			}
			st.reset(part.n)
			for _, kv := range initial {
				j, err := part.index(kv.Key)
				if err != nil {
					st.parts = nil
					return plan[Pair[K, S]]{}, fmt.Errorf("initial state: %w", err)
				}
				st.parts[j][kv.Key] = kv.Value
			}
		}
		var groups [][]Pair[K, []V]
		if pp.ok {
			if groups, err = shuffle(r, out.n.name, pp, part, groupCombiner[V](), nil); err != nil {
				return plan[Pair[K, S]]{}, err
			}
		}
		bt := timeOf(t)
		err = r.parallel(out.n.name, part.n, func(j int) error {
			m := st.parts[j]
			var g []Pair[K, []V]
			if groups != nil {
				g = groups[j]
			}
			fresh := make(map[K]struct{}, len(g))
			for _, kv := range g {
				fresh[kv.Key] = struct{}{}
				prev, had := m[kv.Key]
				var p *S
				if had {
					p = &prev
				}
				if ns, keep := update(bt, kv.Key, kv.Value, p); keep {
					m[kv.Key] = ns
				} else {
					delete(m, kv.Key)
				}
			}
			for k, prev := range m {
				if _, ok := fresh[k]; ok {
					continue
				}
				if ns, keep := update(bt, k, nil, &prev); keep {
					m[k] = ns
				} else {
					delete(m, k)
				}
			}
			return nil
		})
		if err != nil {
			st.parts = nil
			return plan[Pair[K, S]]{}, err
		}
		st.last = t
		return mapsPlan(st.parts), nil
	}
	return out
}

// State is the state of one key, handed to a MapWithState function (Spark's
// State). It is valid only during the call.
type State[S any] struct {
	value     S
	exists    bool
	updated   bool
	removed   bool
	timingOut bool
	misuse    error
}

func (s *State[S]) wrap(v S, exists bool) {
	*s = State[S]{value: v, exists: exists}
}

// Exists reports whether the key has a state.
func (s *State[S]) Exists() bool { return s.exists }

// Get returns the state, or ErrNoState if the key has none.
func (s *State[S]) Get() (S, error) {
	if !s.exists {
		var zero S
		return zero, ErrNoState
	}
	return s.value, nil
}

// GetOption returns the state if the key has one.
func (s *State[S]) GetOption() Optional[S] {
	if !s.exists {
		return None[S]()
	}
	return Some(s.value)
}

// Update sets the key's state. It is an error after Remove, and while the
// state is timing out; the error also fails the batch.
func (s *State[S]) Update(v S) error {
	switch {
	case s.removed:
		return s.misused(ErrStateRemoved)
	case s.timingOut:
		return s.misused(ErrStateTimingOut)
	}
	s.value, s.exists, s.updated = v, true, true
	return nil
}

// Remove deletes the key's state. It is an error after a previous Remove,
// and while the state is timing out (the engine removes it); the error also
// fails the batch.
func (s *State[S]) Remove() error {
	switch {
	case s.timingOut:
		return s.misused(ErrStateTimingOut)
	case s.removed:
		return s.misused(ErrStateRemoved)
	}
	var zero S
	s.value, s.exists, s.updated, s.removed = zero, false, false, true
	return nil
}

// IsTimingOut reports whether this call is the key's last: its state has
// been idle longer than the timeout and is being removed.
func (s *State[S]) IsTimingOut() bool { return s.timingOut }

func (s *State[S]) misused(err error) error {
	if s.misuse == nil {
		s.misuse = err
	}
	return err
}

// StateSpec configures MapWithState (Spark's StateSpec).
type StateSpec[K comparable, V, S, M any] struct {
	// Func is called for every element (key, value) of every batch, in
	// order within the key's partition, with the key's state. It returns
	// an element for the output stream, if ok. When a key times out it is
	// called once more with an empty value and state.IsTimingOut() true.
	Func func(t time.Time, key K, value Optional[V], state *State[S]) (out M, ok bool)
	// InitialState seeds the state of some keys before the first batch.
	InitialState []Pair[K, S]
	// Partitions is the number of state partitions, into which keys are
	// hashed; 0 means the context's parallelism.
	Partitions int
	// Partitioner, if not nil, places the keys instead of hashing them
	// (see Partitioner); Partitions must then be 0.
	Partitioner Partitioner[K]
	// Codec encodes the state in checkpoints, as []StateRecord[K, S];
	// nil means the context's (GobCodec unless WithStateCodec).
	Codec Codec
	// Timeout, if positive, removes the state of keys that received no
	// data for that long. Timeouts are checked on full-scan batches, every
	// 10 batch intervals (the state's checkpoint interval, as in Spark), so
	// a key expires between Timeout and Timeout plus that interval after
	// its last data. Any data for a key refreshes its idle time, even if
	// Func does not update the state.
	Timeout time.Duration
}

// MapWithStateStream is the output of MapWithState: the stream of the
// elements returned by the function, and the state behind it.
type MapWithStateStream[K comparable, S, M any] struct {
	*Stream[M]
	state     *mapState[K, S]
	snapshots *Stream[Pair[K, S]]
}

// StateRecord is how MapWithState saves a key's state in a checkpoint:
// the key, its state and the time (Unix nanoseconds) of its last data,
// from which its timeout runs. An operator without a timeout does not
// keep that time and saves the time of the checkpointed batch instead.
type StateRecord[K comparable, S any] struct {
	Key     K
	Value   S
	Updated int64
}

// mapState is MapWithState's state: one table per partition.
type mapState[K comparable, S any] struct {
	parts []*stateTable[K, S]
	last  int64 // batch time of the state; 0 before the first
	seed  maphash.Seed
	timed bool // the tables keep the time of each key's last data
}

func (ms *mapState[K, S]) reset(n int) {
	ms.parts = make([]*stateTable[K, S], n)
	for j := range ms.parts {
		ms.parts[j] = newStateTable[K, S](ms.seed, ms.timed)
	}
}

// mapStateStore is the stateStore of MapWithState: its keys are saved as
// StateRecords and restored through the partitioner of this process, as
// keyedStore does.
type mapStateStore[K comparable, S any] struct {
	st   *mapState[K, S]
	part partitioner[K]
}

func (k *mapStateStore[K, S]) save(codec Codec) ([]byte, int64, error) {
	var out []StateRecord[K, S]
	n := 0
	for _, tab := range k.st.parts {
		n += tab.len()
	}
	if n > 0 {
		out = make([]StateRecord[K, S], 0, n)
	}
	for _, tab := range k.st.parts {
		for i, c := range tab.ctrl {
			if c&slotFull == 0 {
				continue
			}
			at := k.st.last
			if tab.timed {
				at = tab.times[i]
			}
			out = append(out, StateRecord[K, S]{tab.slots[i].key, tab.slots[i].val, at})
		}
	}
	return marshalState(codec, out, k.st.parts != nil, k.st.last)
}

func (k *mapStateStore[K, S]) load(codec Codec, data []byte, last int64) error {
	var in []StateRecord[K, S]
	if err := codec.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("decoding the state with the %s codec: %w", codec.Name(), err)
	}
	if last == 0 {
		k.st.parts, k.st.last = nil, 0
		return nil
	}
	k.st.reset(k.part.n)
	for _, r := range in {
		j, err := k.part.index(r.Key)
		if err != nil {
			k.st.parts = nil
			return fmt.Errorf("restoring the state: %w", err)
		}
		k.st.parts[j].set(r.Key, r.Value, r.Updated)
	}
	k.st.last = last
	return nil
}

func (k *mapStateStore[K, S]) signature() string {
	return reflect.TypeFor[StateRecord[K, S]]().String()
}

// MapWithState returns a stream of spec.Func applied to every element
// with the state of its key (Spark's mapWithState). Unlike
// UpdateStateByKey it touches only the keys with data in the batch, plus
// timed-out keys on full-scan batches, so its cost follows the batch, not
// the number of keys.
func MapWithState[K comparable, V, S, M any](s *Stream[Pair[K, V]], spec StateSpec[K, V, S, M]) *MapWithStateStream[K, S, M] {
	out := newStream[M]("mapWithState", s.node())
	ms := &MapWithStateStream[K, S, M]{Stream: out, state: &mapState[K, S]{}}
	if !checkFunc(out, spec.Func == nil) {
		return ms
	}
	c := out.n.c
	switch {
	case spec.Partitions < 0:
		out.n.fail(fmt.Errorf("%w: StateSpec.Partitions %d is negative", ErrInvalidOption, spec.Partitions))
		return ms
	case spec.Timeout < 0 || spec.Timeout%time.Millisecond != 0:
		out.n.fail(fmt.Errorf("%w: StateSpec.Timeout %v must be zero or a positive whole number of milliseconds", ErrInvalidDuration, spec.Timeout))
		return ms
	case spec.Partitions != 0 && spec.Partitioner != nil:
		out.n.fail(fmt.Errorf("%w: StateSpec has both Partitions and a Partitioner; the Partitioner sets the number of partitions", ErrInvalidOption))
		return ms
	}
	nparts := spec.Partitions
	if nparts == 0 {
		nparts = c.cfg.parallelism
	}
	part := newPartitioner[K](c, nparts)
	if spec.Partitioner != nil {
		var err error
		if part, err = customPartitioner(spec.Partitioner); err != nil {
			out.n.fail(err)
			return ms
		}
		nparts = part.n
	}
	out.n.markStateful(10 * out.n.slide)

	timeout := int64(spec.Timeout)
	st := ms.state
	st.seed, st.timed = c.seed, timeout > 0
	out.n.store = &mapStateStore[K, S]{st: st, part: part}
	out.n.codec = spec.Codec
	var hint sizeHint // the largest bucket of the last batch
	out.compute = func(r *run, t int64) (plan[M], error) {
		pp, err := s.get(r, t)
		if err != nil {
			return plan[M]{}, err
		}
		if st.parts == nil {
			st.reset(nparts)
			for _, kv := range spec.InitialState {
				j, err := part.index(kv.Key)
				if err != nil {
					st.parts = nil
					return plan[M]{}, fmt.Errorf("initial state: %w", err)
				}
				st.parts[j].set(kv.Key, kv.Value, t)
			}
		}
		var buckets [][][]hashedPair[K, V]
		if pp.ok {
			if buckets, err = partitionPlan(r, out.n.name, pp, part, st.seed, &hint); err != nil {
				return plan[M]{}, err
			}
		}
		fullScan := timeout > 0 && (t-c.zero)%out.n.checkpointInterval == 0
		threshold := t - timeout
		bt := timeOf(t)
		data := make([][]M, nparts)
		err = r.parallel(out.n.name, nparts, func(j int) error {
			tab := st.parts[j]
			records := 0
			for _, b := range buckets {
				records += len(b[j])
			}
			res := make([]M, 0, records)
			var state State[S]
			for _, b := range buckets {
				for _, e := range b[j] {
					i, had := tab.find(e.h, e.kv.Key)
					if had {
						state.wrap(tab.slots[i].val, true)
					} else {
						var zero S
						state.wrap(zero, false)
					}
					v, ok := spec.Func(bt, e.kv.Key, Some(e.kv.Value), &state)
					if state.misuse != nil {
						return fmt.Errorf("key %v: %w", e.kv.Key, state.misuse)
					}
					switch {
					case state.removed:
						if had {
							tab.deleteAt(i)
						}
					case !had:
						if state.updated {
							tab.insert(i, e.h, e.kv.Key, state.value, t)
						}
					default:
						if state.updated {
							tab.slots[i].val = state.value
						}
						if tab.timed { // any data refreshes the idle time
							tab.times[i] = t
						}
					}
					if ok {
						res = append(res, v)
					}
				}
			}
			if fullScan {
				for i, b := range tab.ctrl {
					if b&slotFull == 0 || tab.times[i] >= threshold {
						continue
					}
					k := tab.slots[i].key
					state.wrap(tab.slots[i].val, true)
					state.timingOut = true
					v, ok := spec.Func(bt, k, None[V](), &state)
					if state.misuse != nil {
						return fmt.Errorf("key %v: %w", k, state.misuse)
					}
					tab.deleteAt(i)
					if ok {
						res = append(res, v)
					}
				}
			}
			switch {
			case len(res) == 0:
				res = nil
			case len(res) < cap(res)/4:
				res = slices.Clone(res) // do not keep a mostly empty array with the batch
			}
			data[j] = res
			return nil
		})
		if err != nil {
			st.parts = nil
			return plan[M]{}, err
		}
		st.last = t // the time the state is at, for checkpoints
		return dataPlan(data), nil
	}
	return ms
}

// hashedPair is an element of a partitioned batch with the hash of its
// key, which the state's tables take as it is.
type hashedPair[K comparable, V any] struct {
	h  uint64
	kv Pair[K, V]
}

// partitionPlan distributes the elements of pp over the partitioner's
// partitions without combining them: buckets[p][j] holds the elements of
// input partition p for output partition j, in order, each with the hash
// of its key with seed. A hash partitioner must hash with seed too: the
// element's partition is then the hash modulo the partition count, as
// partitioner.of computes it.
//
// The buckets of a large input partition start with room for an even
// share of it: its length when the plan is materialized, else hint, the
// length of the largest input partition of the last batch, which it
// learns from this one. A partition that gets more grows as usual.
func partitionPlan[K comparable, V any](r *run, op string, pp plan[Pair[K, V]], part partitioner[K], seed maphash.Seed, hint *sizeHint) ([][][]hashedPair[K, V], error) {
	buckets := make([][][]hashedPair[K, V], pp.parts)
	last := hint.get()
	var most atomic.Int64
	err := r.parallel(op, pp.parts, func(p int) error {
		b := make([][]hashedPair[K, V], part.n)
		records := last
		if pp.data != nil {
			records = len(pp.data[p])
		}
		if share := records / part.n; share >= 64 {
			for j := range b {
				b[j] = make([]hashedPair[K, V], 0, share+share/16) // room for the spread of random keys
			}
		}
		defer func() {
			n := 0
			for _, x := range b {
				n += len(x)
			}
			for m := most.Load(); int64(n) > m && !most.CompareAndSwap(m, int64(n)); m = most.Load() {
			}
			buckets[p] = b
		}()
		if part.custom != nil {
			var err error
			pp.run(p, func(kv Pair[K, V]) bool {
				j := part.custom.Partition(kv.Key)
				if j < 0 || j >= part.n {
					err = part.outOfRange(kv.Key, j)
					return false
				}
				b[j] = append(b[j], hashedPair[K, V]{maphash.Comparable(seed, kv.Key), kv})
				return true
			})
			return err
		}
		n := uint64(part.n)
		pp.run(p, func(kv Pair[K, V]) bool {
			h := maphash.Comparable(seed, kv.Key)
			j := 0
			if n > 1 {
				j = int(h % n)
			}
			b[j] = append(b[j], hashedPair[K, V]{h, kv})
			return true
		})
		return nil
	})
	hint.set(int(most.Load()))
	return buckets, err
}

// StateSnapshots returns a stream of the state of every key after each
// batch, as (key, state) pairs.
func (m *MapWithStateStream[K, S, M]) StateSnapshots() *Stream[Pair[K, S]] {
	if m.snapshots != nil {
		return m.snapshots
	}
	out := newStream[Pair[K, S]]("stateSnapshots", m.node())
	m.snapshots = out
	if out.n.err != nil {
		return out
	}
	out.n.markStateful(0) // must be taken right after its batch
	out.compute = func(r *run, t int64) (plan[Pair[K, S]], error) {
		pp, err := m.get(r, t)
		if err != nil || !pp.ok {
			return plan[Pair[K, S]]{}, err
		}
		parts := m.state.parts
		return plan[Pair[K, S]]{ok: true, parts: len(parts), run: func(j int, yield func(Pair[K, S]) bool) bool {
			tab := parts[j]
			for i, c := range tab.ctrl {
				if c&slotFull != 0 && !yield(Pair[K, S]{tab.slots[i].key, tab.slots[i].val}) {
					return false
				}
			}
			return true
		}}, nil
	}
	return out
}
