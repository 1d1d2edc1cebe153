package dstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// modPartitioner places int keys by their value modulo n; bad, if set,
// is returned for key 7, to test out-of-range indexes.
type modPartitioner struct {
	n   int
	bad *int
}

func (p modPartitioner) NumPartitions() int { return p.n }

func (p modPartitioner) Partition(k int) int {
	if k == 7 && p.bad != nil {
		return *p.bad
	}
	return ((k % p.n) + p.n) % p.n
}

// partSink records every batch of a stream partition by partition.
type partSink[T any] struct {
	mu      sync.Mutex
	batches map[int64][][]T
}

func collectParts[T any](t testing.TB, s *Stream[T]) *partSink[T] {
	t.Helper()
	k := &partSink[T]{batches: map[int64][][]T{}}
	mustNoErr(t, s.ForEachBatch(func(_ context.Context, b *Batch[T]) error {
		parts := make([][]T, len(b.Partitions))
		for j, p := range b.Partitions {
			parts[j] = slices.Clone(p)
		}
		k.mu.Lock()
		k.batches[b.Time.UnixMilli()] = parts
		k.mu.Unlock()
		return nil
	}), "ForEachBatch")
	return k
}

// placement builds one operator twice on the same input, with
// PartitionBy(modPartitioner{3}) and with Partitions(3), and returns a
// check to run after the batches: every element of the first is in the
// partition its key's modulo picks, and both hold the same elements as
// multisets in every batch.
func placement[T any](t *testing.T, name string, build func(OpOption) *Stream[T], key func(T) int, show func(T) string) func() {
	custom := collectParts(t, build(PartitionBy[int](modPartitioner{n: 3})))
	hashed := collectParts(t, build(Partitions(3)))
	return func() {
		t.Run(name, func(t *testing.T) {
			custom.mu.Lock()
			defer custom.mu.Unlock()
			hashed.mu.Lock()
			defer hashed.mu.Unlock()
			times := slices.Sorted(func(yield func(int64) bool) {
				for ms := range custom.batches {
					if !yield(ms) {
						return
					}
				}
			})
			if len(times) == 0 || len(times) != len(hashed.batches) {
				t.Fatalf("batches at %v with the partitioner, %d with hashing", times, len(hashed.batches))
			}
			elements := 0
			for _, ms := range times {
				parts := custom.batches[ms]
				if len(parts) != 3 {
					t.Fatalf("batch %d ms has %d partitions, want the partitioner's 3", ms, len(parts))
				}
				var got, want []string
				for j, p := range parts {
					for _, x := range p {
						elements++
						if k := key(x); k%3 != j {
							t.Errorf("batch %d ms: %s (key %d) in partition %d, want %d", ms, show(x), k, j, k%3)
						}
						got = append(got, show(x))
					}
				}
				for _, p := range hashed.batches[ms] {
					for _, x := range p {
						want = append(want, show(x))
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("batch %d ms with the partitioner %v, with hashing %v", ms, got, want)
				}
			}
			if elements == 0 {
				t.Fatal("no elements: nothing was checked")
			}
		})
	}
}

func sortedInts(xs []int) []int { return slices.Sorted(slices.Values(xs)) }

// Every keyed operator places keys where a PartitionBy partitioner says,
// and computes the same as with the default hash partitioner.
func TestPartitionByPlacesKeys(t *testing.T) {
	h := newHarness(t, time.Second, WithParallelism(2))
	qa, qb := NewQueue[Pair[int, int]](), NewQueue[Pair[int, int]]()
	for b := range 4 {
		var as, bs []Pair[int, int]
		for i := range 40 {
			as = append(as, KV((i*7+b)%19, i))
			if i%3 == 0 {
				bs = append(bs, KV((i+b)%23, -i))
			}
		}
		qa.Push(as)
		qb.Push(bs)
	}
	a, b := QueueStream(h.ssc, qa), QueueStream(h.ssc, qb)
	type kv = Pair[int, int]
	pk := func(p kv) int { return p.Key }
	show := func(x any) string { return fmt.Sprint(x) }
	var checks []func()
	check := func(f func()) { checks = append(checks, f) }
	check(placement(t, "ReduceByKey", func(o OpOption) *Stream[kv] { return ReduceByKey(a, add, o) }, pk, func(p kv) string { return show(p) }))
	check(placement(t, "CombineByKey", func(o OpOption) *Stream[Pair[int, []int]] {
		return CombineByKey(a, func(v int) []int { return []int{v} }, func(c []int, v int) []int { return append(c, v) }, func(x, y []int) []int { return append(x, y...) }, o)
	}, func(p Pair[int, []int]) int { return p.Key }, func(p Pair[int, []int]) string { return show(KV(p.Key, sortedInts(p.Value))) }))
	check(placement(t, "GroupByKey", func(o OpOption) *Stream[Pair[int, []int]] { return GroupByKey(a, o) },
		func(p Pair[int, []int]) int { return p.Key }, func(p Pair[int, []int]) string { return show(KV(p.Key, sortedInts(p.Value))) }))
	keys := Map(a, func(p kv) int { return p.Key })
	check(placement(t, "CountByValue", func(o OpOption) *Stream[Pair[int, int64]] { return CountByValue(keys, o) },
		func(p Pair[int, int64]) int { return p.Key }, func(p Pair[int, int64]) string { return show(p) }))
	check(placement(t, "Cogroup", func(o OpOption) *Stream[Pair[int, Pair[[]int, []int]]] { return Cogroup(a, b, o) },
		func(p Pair[int, Pair[[]int, []int]]) int { return p.Key },
		func(p Pair[int, Pair[[]int, []int]]) string {
			return show(KV(p.Key, KV(sortedInts(p.Value.Key), sortedInts(p.Value.Value))))
		}))
	check(placement(t, "Join", func(o OpOption) *Stream[Pair[int, Pair[int, int]]] { return Join(a, b, o) },
		func(p Pair[int, Pair[int, int]]) int { return p.Key }, func(p Pair[int, Pair[int, int]]) string { return show(p) }))
	check(placement(t, "LeftOuterJoin", func(o OpOption) *Stream[Pair[int, Pair[int, Optional[int]]]] { return LeftOuterJoin(a, b, o) },
		func(p Pair[int, Pair[int, Optional[int]]]) int { return p.Key }, func(p Pair[int, Pair[int, Optional[int]]]) string { return show(p) }))
	check(placement(t, "RightOuterJoin", func(o OpOption) *Stream[Pair[int, Pair[Optional[int], int]]] { return RightOuterJoin(a, b, o) },
		func(p Pair[int, Pair[Optional[int], int]]) int { return p.Key }, func(p Pair[int, Pair[Optional[int], int]]) string { return show(p) }))
	check(placement(t, "FullOuterJoin", func(o OpOption) *Stream[Pair[int, Pair[Optional[int], Optional[int]]]] { return FullOuterJoin(a, b, o) },
		func(p Pair[int, Pair[Optional[int], Optional[int]]]) int { return p.Key },
		func(p Pair[int, Pair[Optional[int], Optional[int]]]) string { return show(p) }))
	sum := func(vs []int, s *int) (int, bool) {
		n := 0
		if s != nil {
			n = *s
		}
		for _, v := range vs {
			n += v
		}
		return n, true
	}
	check(placement(t, "UpdateStateByKey", func(o OpOption) *Stream[kv] {
		return UpdateStateByKey(a, sum, o).WithInitialState([]kv{KV(100, 1), KV(101, 2)})
	}, pk, func(p kv) string { return show(p) }))
	check(placement(t, "UpdateStateByKeyWithTime", func(o OpOption) *Stream[kv] {
		return UpdateStateByKeyWithTime(a, func(_ time.Time, _ int, vs []int, s *int) (int, bool) { return sum(vs, s) }, o)
	}, pk, func(p kv) string { return show(p) }))
	check(placement(t, "ReduceByKeyAndWindow", func(o OpOption) *Stream[kv] {
		return ReduceByKeyAndWindow(a, add, nil, 2*time.Second, time.Second, o)
	}, pk, func(p kv) string { return show(p) }))
	check(placement(t, "ReduceByKeyAndWindow inverse", func(o OpOption) *Stream[kv] {
		return ReduceByKeyAndWindow(a, add, sub, 2*time.Second, time.Second, o)
	}, pk, func(p kv) string { return show(p) }))
	check(placement(t, "GroupByKeyAndWindow", func(o OpOption) *Stream[Pair[int, []int]] {
		return GroupByKeyAndWindow(a, 2*time.Second, time.Second, o)
	}, func(p Pair[int, []int]) int { return p.Key }, func(p Pair[int, []int]) string { return show(KV(p.Key, sortedInts(p.Value))) }))
	check(placement(t, "CountByValueAndWindow", func(o OpOption) *Stream[Pair[int, int64]] {
		return CountByValueAndWindow(keys, 2*time.Second, time.Second, o)
	}, func(p Pair[int, int64]) int { return p.Key }, func(p Pair[int, int64]) string { return show(p) }))

	// MapWithState takes its partitioner in the StateSpec.
	spec := StateSpec[int, int, int, kv]{Func: func(_ time.Time, k int, v Optional[int], st *State[int]) (kv, bool) {
		n, _ := st.Get()
		n += v.Value
		_ = st.Update(n)
		return KV(k, n), true
	}}
	custom, hashed := spec, spec
	custom.Partitioner = modPartitioner{n: 3}
	hashed.Partitions = 3
	mws := map[bool]*MapWithStateStream[int, int, kv]{true: MapWithState(a, custom), false: MapWithState(a, hashed)}
	check(placement(t, "MapWithState", func(o OpOption) *Stream[kv] {
		_, isCustom := o.(opOptionFunc) // both are opOptionFuncs: tell them apart by what they set
		var cfg opConfig
		o.applyOp(&cfg)
		isCustom = cfg.partitioner != nil
		return mws[isCustom].Stream
	}, pk, func(p kv) string { return show(p) }))
	check(placement(t, "StateSnapshots", func(o OpOption) *Stream[kv] {
		var cfg opConfig
		o.applyOp(&cfg)
		return mws[cfg.partitioner != nil].StateSnapshots()
	}, pk, func(p kv) string { return show(p) }))

	h.start()
	h.steps(5)
	for _, c := range checks {
		c()
	}
}

// A key placed out of range fails the batch with ErrPartitionOutOfRange
// naming the key, in every place keys are placed: a shuffle, MapWithState,
// an initial state, an inverse window. It is not a panic.
func TestPartitionByOutOfRange(t *testing.T) {
	type kv = Pair[int, int]
	for _, bad := range []int{3, -1} {
		for _, tc := range []struct {
			name  string
			build func(s *Stream[kv], p Partitioner[int]) *Stream[kv]
			input []kv
		}{
			{"ReduceByKey", func(s *Stream[kv], p Partitioner[int]) *Stream[kv] { return ReduceByKey(s, add, PartitionBy(p)) }, []kv{KV(1, 1), KV(7, 1)}},
			{"Join", func(s *Stream[kv], p Partitioner[int]) *Stream[kv] {
				return MapValues(Join(s, s, PartitionBy(p)), func(v Pair[int, int]) int { return v.Key })
			}, []kv{KV(7, 1)}},
			{"MapWithState", func(s *Stream[kv], p Partitioner[int]) *Stream[kv] {
				return MapWithState(s, StateSpec[int, int, int, kv]{Partitioner: p, Func: func(_ time.Time, k int, v Optional[int], _ *State[int]) (kv, bool) {
					return KV(k, v.Value), true
				}}).Stream
			}, []kv{KV(2, 1), KV(7, 1)}},
			{"UpdateStateByKey initial state", func(s *Stream[kv], p Partitioner[int]) *Stream[kv] {
				return UpdateStateByKey(s, func(vs []int, st *int) (int, bool) { return len(vs), true }, PartitionBy(p)).WithInitialState([]kv{KV(7, 0)})
			}, []kv{KV(1, 1)}},
			{"MapWithState initial state", func(s *Stream[kv], p Partitioner[int]) *Stream[kv] {
				return MapWithState(s, StateSpec[int, int, int, kv]{Partitioner: p, InitialState: []kv{KV(7, 0)}, Func: func(_ time.Time, k int, v Optional[int], _ *State[int]) (kv, bool) {
					return KV(k, v.Value), true
				}}).Stream
			}, []kv{KV(1, 1)}},
			{"ReduceByKeyAndWindow inverse", func(s *Stream[kv], p Partitioner[int]) *Stream[kv] {
				return ReduceByKeyAndWindow(s, add, sub, 2*time.Second, time.Second, PartitionBy(p))
			}, []kv{KV(7, 1)}},
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, bad), func(t *testing.T) {
				h := newHarness(t, time.Second, WithParallelism(2))
				q := NewQueue[kv]()
				q.Push(tc.input)
				mustNoErr(t, tc.build(QueueStream(h.ssc, q), modPartitioner{n: 3, bad: &bad}).PrintN(100), "Print")
				h.start()
				err := h.stepErr()
				var be *BatchError
				var pe *PanicError
				if !errors.Is(err, ErrPartitionOutOfRange) || !errors.As(err, &be) || errors.As(err, &pe) {
					t.Fatalf("batch error = %v, want a *BatchError for ErrPartitionOutOfRange, not a panic", err)
				}
				if want := fmt.Sprintf("key 7 in partition %d, outside [0, 3)", bad); !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not say %q", err, want)
				}
			})
		}
	}
}

// panicky panics in NumPartitions.
type panicky struct{}

func (panicky) NumPartitions() int { panic("no count") }
func (panicky) Partition(int) int  { return 0 }

// byFirstByte places string keys by their first byte.
type byFirstByte struct{ n int }

func (p byFirstByte) NumPartitions() int { return p.n }
func (p byFirstByte) Partition(k string) int {
	if k == "" {
		return 0
	}
	return int(k[0]) % p.n
}

// Invalid partitioners are build errors, not panics.
func TestPartitionByBuildErrors(t *testing.T) {
	type kv = Pair[int, int]
	spec := func(p Partitioner[int], n int) StateSpec[int, int, int, int] {
		return StateSpec[int, int, int, int]{Partitioner: p, Partitions: n, Func: func(time.Time, int, Optional[int], *State[int]) (int, bool) { return 0, false }}
	}
	for _, tc := range []struct {
		name  string
		build func(s *Stream[kv]) error
	}{
		{"nil", func(s *Stream[kv]) error { return ReduceByKey(s, add, PartitionBy[int](nil)).Err() }},
		{"no partitions", func(s *Stream[kv]) error { return ReduceByKey(s, add, PartitionBy[int](modPartitioner{n: 0})).Err() }},
		{"NumPartitions panics", func(s *Stream[kv]) error { return GroupByKey(s, PartitionBy[int](panicky{})).Err() }},
		{"other key type", func(s *Stream[kv]) error { return ReduceByKey(s, add, PartitionBy[string](byFirstByte{n: 2})).Err() }},
		{"with Partitions", func(s *Stream[kv]) error {
			return Join(s, s, Partitions(3), PartitionBy[int](modPartitioner{n: 3})).Err()
		}},
		{"state, other key type", func(s *Stream[kv]) error {
			return UpdateStateByKey(s, func([]int, *int) (int, bool) { return 0, true }, PartitionBy[string](byFirstByte{n: 2})).Err()
		}},
		{"inverse window, other key type", func(s *Stream[kv]) error {
			return ReduceByKeyAndWindow(s, add, sub, 2*time.Second, time.Second, PartitionBy[string](byFirstByte{n: 2})).Err()
		}},
		{"window, with Partitions", func(s *Stream[kv]) error {
			return ReduceByKeyAndWindow(s, add, nil, 2*time.Second, time.Second, PartitionBy[int](modPartitioner{n: 3}), Partitions(2)).Err()
		}},
		{"StateSpec with Partitions", func(s *Stream[kv]) error { return MapWithState(s, spec(modPartitioner{n: 3}, 3)).Err() }},
		{"StateSpec, no partitions", func(s *Stream[kv]) error { return MapWithState(s, spec(modPartitioner{n: -1}, 0)).Err() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second)
			err := tc.build(QueueStream(h.ssc, NewQueue[kv]()))
			var be *BuildError
			if !errors.Is(err, ErrInvalidOption) || !errors.As(err, &be) {
				t.Fatalf("Err = %v, want a *BuildError for ErrInvalidOption", err)
			}
			if err := h.ssc.Start(); !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("Start = %v, want ErrInvalidOption", err)
			}
		})
	}
}

// State restored from a checkpoint is placed by the operator's
// partitioner, not by hash.
func TestPartitionByCheckpointRestore(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	build := func(clockAt time.Duration) (*harness, *partSink[Pair[string, int]]) {
		clk := NewManualClock(time.Unix(0, int64(clockAt)))
		c, err := NewContext(time.Second, WithClock(clk), WithLogger(quietLogger), WithCheckpoint(dir), WithParallelism(2))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Stop(context.Background(), Hard) })
		words := FlatMap(InputStream[string](c, "lines", &logInput{log: log}), strings.Fields)
		pairs := Map(words, func(w string) Pair[string, int] { return KV(w, 1) })
		totals := UpdateStateByKey(pairs, func(vs []int, s *int) (int, bool) {
			n := len(vs)
			if s != nil {
				n += *s
			}
			return n, true
		}, PartitionBy[string](byFirstByte{n: 3}))
		return &harness{t: t, clock: clk, ssc: c, interval: time.Second}, collectParts(t, totals)
	}
	h1, _ := build(0)
	h1.start()
	for k := 1; k <= 3; k++ {
		log.append(batchLines(k)...)
		h1.step()
	}
	mustNoErr(t, h1.ssc.Stop(context.Background(), Graceful), "stop")

	h2, k2 := build(3 * time.Second)
	h2.start()
	h2.step() // no new lines: the output is the restored state
	k2.mu.Lock()
	defer k2.mu.Unlock()
	parts := k2.batches[4000]
	if len(parts) != 3 {
		t.Fatalf("batch 4 has %d partitions, want 3", len(parts))
	}
	want := map[string]int{}
	for k := 1; k <= 3; k++ {
		for w, n := range wordCounts(batchLines(k)) {
			want[w] += n
		}
	}
	got := map[string]int{}
	for j, p := range parts {
		for _, kv := range p {
			if wj := int(kv.Key[0]) % 3; wj != j {
				t.Errorf("%v restored into partition %d, want %d", kv, j, wj)
			}
			got[kv.Key] = kv.Value
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restored state %v, want %v", got, want)
	}
}
