package dstream

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// runOne pushes one batch of input through build and returns the output
// of the first batch (and whether there was one).
func runOne[T, U any](t *testing.T, input []T, build func(*Stream[T]) *Stream[U], opts ...Option) ([]U, bool) {
	t.Helper()
	h := newHarness(t, time.Second, opts...)
	q := NewQueue[T]()
	q.Push(input)
	k := collect(t, build(QueueStream(h.ssc, q)))
	h.start()
	h.step()
	mustNoErr(t, h.ssc.Stop(context.Background(), Hard), "Stop")
	return k.at(1000)
}

// Per-batch narrow transformations keep order within the batch.
func TestNarrowTransformations(t *testing.T) {
	in := []string{"a b", "", "c d e", "f"}
	if got, _ := runOne(t, in, func(s *Stream[string]) *Stream[int] { return Map(s, func(x string) int { return len(x) }) }); !slices.Equal(got, []int{3, 0, 5, 1}) {
		t.Errorf("Map = %v", got)
	}
	if got, _ := runOne(t, in, func(s *Stream[string]) *Stream[string] { return FlatMap(s, strings.Fields) }); !slices.Equal(got, []string{"a", "b", "c", "d", "e", "f"}) {
		t.Errorf("FlatMap = %v", got)
	}
	if got, _ := runOne(t, in, func(s *Stream[string]) *Stream[string] { return FlatMapSeq(s, strings.FieldsSeq) }); !slices.Equal(got, []string{"a", "b", "c", "d", "e", "f"}) {
		t.Errorf("FlatMapSeq = %v", got)
	}
	if got, _ := runOne(t, in, func(s *Stream[string]) *Stream[string] {
		return s.Filter(func(x string) bool { return len(x) > 1 })
	}); !slices.Equal(got, []string{"a b", "c d e"}) {
		t.Errorf("Filter = %v", got)
	}
	// MapPartitions sees each partition once; with parallelism 2 the four
	// lines are two partitions of two.
	got, _ := runOne(t, in, func(s *Stream[string]) *Stream[string] {
		return MapPartitions(s, func(xs iter.Seq[string]) iter.Seq[string] {
			return func(yield func(string) bool) {
				n := 0
				for range xs {
					n++
				}
				yield(fmt.Sprintf("partition of %d", n))
			}
		})
	}, WithParallelism(2))
	if !slices.Equal(got, []string{"partition of 2", "partition of 2"}) {
		t.Errorf("MapPartitions = %v", got)
	}
	glom, _ := runOne(t, []int{1, 2, 3, 4, 5}, Glom[int], WithParallelism(2))
	if len(glom) != 2 || !slices.Equal(glom[0], []int{1, 2}) || !slices.Equal(glom[1], []int{3, 4, 5}) {
		t.Errorf("Glom = %v, want [[1 2] [3 4 5]]", glom)
	}
}

// A chain of narrow operations stops early when its consumer does, and a
// stream used by two outputs is computed once per batch.
func TestSharedStreamComputedOnce(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	q.Push([]int{1, 2, 3, 4, 5})
	var calls atomic.Int64
	doubled := Map(QueueStream(h.ssc, q), func(x int) int { calls.Add(1); return 2 * x })
	a := collect(t, doubled)
	b := collect(t, doubled.Filter(func(x int) bool { return x > 4 }))
	h.start()
	h.step()
	if calls.Load() != 5 {
		t.Fatalf("map ran %d times for 5 elements used by two outputs, want 5", calls.Load())
	}
	if got, _ := a.at(1000); !slices.Equal(got, []int{2, 4, 6, 8, 10}) {
		t.Fatalf("first output = %v", got)
	}
	if got, _ := b.at(1000); !slices.Equal(got, []int{6, 8, 10}) {
		t.Fatalf("second output = %v", got)
	}
}

// Repartition(n) gives n partitions holding the same elements in order.
func TestRepartition(t *testing.T) {
	for _, n := range []int{1, 3, 7, 20} {
		h := newHarness(t, time.Second, WithParallelism(2))
		q := NewQueue[int]()
		in := make([]int, 17)
		for i := range in {
			in[i] = i
		}
		q.Push(in)
		k := collect(t, QueueStream(h.ssc, q).Repartition(n))
		h.start()
		h.step()
		got, _ := k.at(1000)
		if !slices.Equal(got, in) || k.parts[1000] != n {
			t.Fatalf("Repartition(%d) = %v in %d partitions", n, got, k.parts[1000])
		}
		mustNoErr(t, h.ssc.Stop(context.Background(), Hard), "Stop")
	}
}

// Pin (section 2): union of streams with different slides is an error; a
// union holds the partitions of every stream for the same time.
func TestUnion(t *testing.T) {
	h := newHarness(t, time.Second)
	qa, qb := NewQueue[int](), NewQueue[int]()
	qa.Push([]int{1, 2})
	qb.Push([]int{3})
	qa.Push([]int{4})
	a, b := QueueStream(h.ssc, qa), QueueStream(h.ssc, qb)
	collect(t, a.Union(b))
	bad := a.Union(b.Window(2*time.Second, 2*time.Second))
	if !errors.Is(bad.Err(), ErrSlideMismatch) {
		t.Fatalf("union with a different slide: Err = %v, want ErrSlideMismatch", bad.Err())
	}
	other := newHarness(t, time.Second)
	if u := a.Union(QueueStream(other.ssc, NewQueue[int]())); !errors.Is(u.Err(), ErrContextMismatch) {
		t.Fatalf("union across contexts: Err = %v, want ErrContextMismatch", u.Err())
	}
	if err := h.ssc.Start(); !errors.Is(err, ErrSlideMismatch) {
		t.Fatalf("Start = %v, want the union's build error", err)
	}
	// A valid graph in a fresh context.
	h = newHarness(t, time.Second)
	qa, qb = NewQueue[int](), NewQueue[int]()
	qa.Push([]int{1, 2})
	qb.Push([]int{3})
	qa.Push([]int{4})
	k := collect(t, QueueStream(h.ssc, qa).Union(QueueStream(h.ssc, qb)))
	h.start()
	h.steps(3)
	if got, _ := k.at(1000); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("union at 1000 = %v, want [1 2 3]", got)
	}
	// Only the first stream has a batch at 2000: the union is that batch.
	if got, _ := k.at(2000); !slices.Equal(got, []int{4}) {
		t.Fatalf("union at 2000 = %v, want [4]", got)
	}
	// Neither has a batch at 3000: no batch.
	if _, ok := k.at(3000); ok {
		t.Fatal("union has a batch at 3000, where neither input has one")
	}
}

// Pin (section 2): count always emits exactly one element (0 for an empty
// batch); reduce on an empty batch emits nothing.
func TestCountAndReduceOnEmptyBatches(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	q.Push([]int{1, 2, 3})
	q.Push(nil)
	in := QueueStream(h.ssc, q, EmptyWhenIdle())
	counts := collect(t, in.Count())
	sums := collect(t, in.Reduce(add))
	h.start()
	h.steps(3)
	for _, tc := range []struct {
		ms          int64
		count, sums []int
	}{
		{1000, []int{3}, []int{6}},
		{2000, []int{0}, []int{}}, // an empty batch pushed
		{3000, []int{0}, []int{}}, // nothing queued: EmptyWhenIdle gives an empty batch
	} {
		c, _ := counts.at(tc.ms)
		s, ok := sums.at(tc.ms)
		if len(c) != 1 || int(c[0]) != tc.count[0] {
			t.Errorf("count at %d = %v, want %v", tc.ms, c, tc.count)
		}
		if !ok || !slices.Equal(s, tc.sums) {
			t.Errorf("reduce at %d = %v (batch %v), want %v", tc.ms, s, ok, tc.sums)
		}
	}
}

// Without EmptyWhenIdle an empty queue gives no batch at all, so count
// emits nothing for that time (Spark's queueStream without a default RDD).
func TestQueueWithoutDefaultHasNoBatch(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	q.Push([]int{7})
	counts := collect(t, QueueStream(h.ssc, q).Count())
	h.start()
	h.steps(2)
	if got := counts.seen(); !slices.Equal(got, []int64{1000}) {
		t.Fatalf("count batches at %v, want only 1000", got)
	}
}

// TakeAll takes every queued item for one batch; by default each batch
// takes one.
func TestQueueTakeAll(t *testing.T) {
	h := newHarness(t, time.Second)
	one, all := NewQueue[int](), NewQueue[int]()
	for _, q := range []*Queue[int]{one, all} {
		q.Push([]int{1})
		q.PushPartitions([][]int{{2}, {3}})
	}
	k1 := collect(t, QueueStream(h.ssc, one))
	k2 := collect(t, QueueStream(h.ssc, all, TakeAll()))
	h.start()
	h.steps(2)
	if got, _ := k1.at(1000); !slices.Equal(got, []int{1}) {
		t.Errorf("one at a time, batch 1 = %v", got)
	}
	if got, _ := k1.at(2000); !slices.Equal(got, []int{2, 3}) || k1.parts[2000] != 2 {
		t.Errorf("one at a time, batch 2 = %v in %d partitions", got, k1.parts[2000])
	}
	if got, _ := k2.at(1000); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("take all, batch 1 = %v", got)
	}
	if _, ok := k2.at(2000); ok {
		t.Error("take all has a batch at 2000 with an empty queue")
	}
}

// Pin (section 2): the transform function is re-evaluated every batch, so
// its logic can change over time; it sees the batch time.
func TestTransformReevaluatedEveryBatch(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	for range 3 {
		q.Push([]int{1, 2})
	}
	factor := 1
	k := collect(t, Transform(QueueStream(h.ssc, q), func(b *Batch[int]) (*Batch[string], error) {
		out := []string{strconv.FormatInt(b.Time.UnixMilli(), 10)}
		for x := range b.All() {
			out = append(out, strconv.Itoa(x*factor))
		}
		factor *= 10
		return &Batch[string]{Partitions: [][]string{out}}, nil
	}))
	h.start()
	h.steps(3)
	for i, want := range [][]string{{"1000", "1", "2"}, {"2000", "10", "20"}, {"3000", "100", "200"}} {
		if got, _ := k.at(h.ms(i + 1)); !slices.Equal(got, want) {
			t.Errorf("batch %d = %v, want %v", i+1, got, want)
		}
	}
}

// A Transform error fails the batch.
func TestTransformErrorFailsBatch(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	q.Push([]int{1})
	boom := errors.New("bad batch")
	mustNoErr(t, Transform(QueueStream(h.ssc, q), func(*Batch[int]) (*Batch[int], error) { return nil, boom }).Print(), "Print")
	h.start()
	if err := h.stepErr(); !errors.Is(err, boom) {
		t.Fatalf("batch error = %v, want %v", err, boom)
	}
}

// TransformWith pairs the two streams' batches for the same time; a
// missing side is an empty batch.
func TestTransformWith(t *testing.T) {
	h := newHarness(t, time.Second)
	qa, qb := NewQueue[int](), NewQueue[string]()
	qa.Push([]int{1, 2})
	qb.Push([]string{"x"})
	qa.Push([]int{3})
	k := collect(t, TransformWith(QueueStream(h.ssc, qa), QueueStream(h.ssc, qb), func(a *Batch[int], b *Batch[string]) (*Batch[string], error) {
		return &Batch[string]{Partitions: [][]string{{fmt.Sprintf("%d ints, %d strings", a.Len(), b.Len())}}}, nil
	}))
	h.start()
	h.steps(3)
	if got, _ := k.at(1000); !slices.Equal(got, []string{"2 ints, 1 strings"}) {
		t.Errorf("batch 1 = %v", got)
	}
	if got, _ := k.at(2000); !slices.Equal(got, []string{"1 ints, 0 strings"}) {
		t.Errorf("batch 2 = %v", got)
	}
	if _, ok := k.at(3000); ok {
		t.Error("a batch at 3000, where neither side has one")
	}
}

// By-key operations combine per key; Partitions(n) sets the partition
// count, and a key lands in the same partition in every batch.
func TestByKeyOperations(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[Pair[string, int]]()
	in := []Pair[string, int]{KV("a", 1), KV("b", 2), KV("a", 3), KV("c", 4), KV("b", 5), KV("a", 6)}
	q.Push(in)
	q.Push([]Pair[string, int]{KV("a", 10), KV("c", 1)})
	s := QueueStream(h.ssc, q)
	reduced := collect(t, ReduceByKey(s, add, Partitions(3)))
	grouped := collect(t, GroupByKey(s))
	combined := collect(t, CombineByKey(s,
		func(v int) string { return strconv.Itoa(v) },
		func(c string, v int) string { return c + "+" + strconv.Itoa(v) },
		func(a, b string) string { return a + "+" + b }))
	values := collect(t, MapValues(s, func(v int) string { return strings.Repeat("*", v) }))
	flat := collect(t, FlatMapValues(s, func(v int) []int {
		if v%2 == 0 {
			return nil
		}
		return []int{v, -v}
	}))
	byValue := collect(t, CountByValue(Map(s, func(p Pair[string, int]) string { return p.Key })))
	partOf := map[string]int{}
	mustNoErr(t, ReduceByKey(s, add, Partitions(3)).ForEachBatch(func(_ context.Context, b *Batch[Pair[string, int]]) error {
		if len(b.Partitions) != 3 {
			return fmt.Errorf("%d partitions, want 3", len(b.Partitions))
		}
		for p, part := range b.Partitions {
			for _, kv := range part {
				if prev, ok := partOf[kv.Key]; ok && prev != p {
					return fmt.Errorf("key %s moved from partition %d to %d", kv.Key, prev, p)
				}
				partOf[kv.Key] = p
			}
		}
		return nil
	}), "ForEachBatch")
	h.start()
	h.steps(2)

	if got, _ := reduced.at(1000); fmt.Sprint(sortedPairs(got)) != "[(a,10) (b,7) (c,4)]" {
		t.Errorf("ReduceByKey = %v", sortedPairs(got))
	}
	if got, _ := reduced.at(2000); fmt.Sprint(sortedPairs(got)) != "[(a,10) (c,1)]" {
		t.Errorf("ReduceByKey batch 2 = %v", sortedPairs(got))
	}
	if got, _ := grouped.at(1000); fmt.Sprint(sortedGroups(got)) != "[(a,[1 3 6]) (b,[2 5]) (c,[4])]" {
		t.Errorf("GroupByKey = %v", sortedGroups(got))
	}
	if got, _ := combined.at(1000); len(got) != 3 {
		t.Errorf("CombineByKey = %v, want 3 keys", got)
	} else {
		m := pairMap(t, got)
		if sum := sumSigned(m["a"]); sum != 10 || len(strings.Split(m["a"], "+")) != 3 {
			t.Errorf("CombineByKey a = %q, want the three values 1, 3, 6", m["a"])
		}
	}
	if got, _ := values.at(1000); fmt.Sprint(got) != "[(a,*) (b,**) (a,***) (c,****) (b,*****) (a,******)]" {
		t.Errorf("MapValues = %v", got)
	}
	if got, _ := flat.at(1000); fmt.Sprint(got) != "[(a,1) (a,-1) (a,3) (a,-3) (b,5) (b,-5)]" {
		t.Errorf("FlatMapValues = %v", got)
	}
	if got, _ := byValue.at(1000); fmt.Sprint(sortedPairs(got)) != "[(a,3) (b,2) (c,1)]" {
		t.Errorf("CountByValue = %v", sortedPairs(got))
	}
	if len(partOf) != 3 {
		t.Errorf("partition check saw %d keys", len(partOf))
	}
}

func sortedGroups(ps []Pair[string, []int]) []Pair[string, []int] {
	out := sortedPairs(ps)
	for _, p := range out {
		slices.Sort(p.Value)
	}
	return out
}

func sumSigned(expr string) int {
	n := 0
	for _, f := range strings.Split(expr, "+") {
		v, _ := strconv.Atoi(f)
		n += v
	}
	return n
}

// Joins pair the two streams' batches for the same batch time; the outer
// side is optional.
func TestJoins(t *testing.T) {
	h := newHarness(t, time.Second)
	qa, qb := NewQueue[Pair[string, int]](), NewQueue[Pair[string, string]]()
	qa.Push([]Pair[string, int]{KV("a", 1), KV("a", 2), KV("b", 3)})
	qb.Push([]Pair[string, string]{KV("a", "x"), KV("c", "y"), KV("a", "z")})
	qa.Push([]Pair[string, int]{KV("d", 4)}) // second batch: left only
	a, b := QueueStream(h.ssc, qa), QueueStream(h.ssc, qb)
	join := collect(t, Join(a, b))
	left := collect(t, LeftOuterJoin(a, b))
	right := collect(t, RightOuterJoin(a, b))
	full := collect(t, FullOuterJoin(a, b))
	cog := collect(t, Cogroup(a, b, Partitions(1)))
	h.start()
	h.steps(2)
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"join", strs(join, 1000), []string{"(a,(1,x))", "(a,(1,z))", "(a,(2,x))", "(a,(2,z))"}},
		{"leftOuterJoin", strs(left, 1000), []string{"(a,(1,Some(x)))", "(a,(1,Some(z)))", "(a,(2,Some(x)))", "(a,(2,Some(z)))", "(b,(3,None))"}},
		{"rightOuterJoin", strs(right, 1000), []string{"(a,(Some(1),x))", "(a,(Some(1),z))", "(a,(Some(2),x))", "(a,(Some(2),z))", "(c,(None,y))"}},
		{"fullOuterJoin", strs(full, 1000), []string{"(a,(Some(1),Some(x)))", "(a,(Some(1),Some(z)))", "(a,(Some(2),Some(x)))", "(a,(Some(2),Some(z)))", "(b,(Some(3),None))", "(c,(None,Some(y)))"}},
		{"cogroup", strs(cog, 1000), []string{"(a,([1 2],[x z]))", "(b,([3],[]))", "(c,([],[y]))"}},
		{"join, left only", strs(join, 2000), nil},
		{"leftOuterJoin, left only", strs(left, 2000), []string{"(d,(4,None))"}},
		{"fullOuterJoin, left only", strs(full, 2000), []string{"(d,(Some(4),None))"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// strs formats a batch's elements and sorts them.
func strs[T any](k *sink[T], ms int64) []string {
	b, _ := k.at(ms)
	var out []string
	for _, x := range b {
		out = append(out, fmt.Sprint(x))
	}
	slices.Sort(out)
	return out
}

// Adding an operation with a nil function, a nil stream or a bad option
// returns a clear error, not a panic; Start reports it.
func TestBuildErrors(t *testing.T) {
	type kv = Pair[string, int]
	for _, tc := range []struct {
		name  string
		build func(s *Stream[kv]) error
		want  error
	}{
		{"map", func(s *Stream[kv]) error { return Map[kv, int](s, nil).Err() }, ErrNilFunc},
		{"flatMap", func(s *Stream[kv]) error { return FlatMap[kv, int](s, nil).Err() }, ErrNilFunc},
		{"flatMapSeq", func(s *Stream[kv]) error { return FlatMapSeq[kv, int](s, nil).Err() }, ErrNilFunc},
		{"filter", func(s *Stream[kv]) error { return s.Filter(nil).Err() }, ErrNilFunc},
		{"mapPartitions", func(s *Stream[kv]) error { return MapPartitions[kv, int](s, nil).Err() }, ErrNilFunc},
		{"mapValues", func(s *Stream[kv]) error { return MapValues[string, int, int](s, nil).Err() }, ErrNilFunc},
		{"flatMapValues", func(s *Stream[kv]) error { return FlatMapValues[string, int, int](s, nil).Err() }, ErrNilFunc},
		{"reduce", func(s *Stream[kv]) error { return s.Reduce(nil).Err() }, ErrNilFunc},
		{"reduceByKey", func(s *Stream[kv]) error { return ReduceByKey(s, nil).Err() }, ErrNilFunc},
		{"combineByKey", func(s *Stream[kv]) error {
			return CombineByKey[string, int, int](s, nil, func(c, v int) int { return c }, add).Err()
		}, ErrNilFunc},
		{"transform", func(s *Stream[kv]) error { return Transform[kv, int](s, nil).Err() }, ErrNilFunc},
		{"transformWith", func(s *Stream[kv]) error { return TransformWith[kv, kv, int](s, s, nil).Err() }, ErrNilFunc},
		{"forEachBatch", func(s *Stream[kv]) error { return s.ForEachBatch(nil) }, ErrNilFunc},
		{"map of nil stream", func(*Stream[kv]) error { return Map((*Stream[int])(nil), func(int) int { return 0 }).Err() }, ErrNilStream},
		{"print of nil stream", func(*Stream[kv]) error { return (*Stream[int])(nil).Print() }, ErrNilStream},
		{"join with nil", func(s *Stream[kv]) error { return Join(s, (*Stream[kv])(nil)).Err() }, ErrNilStream},
		{"repartition 0", func(s *Stream[kv]) error { return s.Repartition(0).Err() }, ErrInvalidOption},
		{"partitions 0", func(s *Stream[kv]) error { return ReduceByKey(s, add, Partitions(0)).Err() }, ErrInvalidOption},
		{"initial state on reduceByKey", func(s *Stream[kv]) error {
			return ReduceByKey(s, add).WithInitialState([]kv{KV("a", 1)}).Err()
		}, ErrInvalidOption},
		{"negative print count", func(s *Stream[kv]) error { return s.PrintN(-1) }, ErrInvalidOption},
		{"nil print writer", func(s *Stream[kv]) error { return s.Fprint(nil, 1) }, ErrInvalidOption},
		{"empty name", func(s *Stream[kv]) error { return s.Filter(func(kv) bool { return true }).Named("").Err() }, ErrInvalidOption},
		{"nil queue", func(s *Stream[kv]) error { return QueueStream[int](s.Context(), nil).Err() }, ErrNilStream},
		{"nil context", func(*Stream[kv]) error { return QueueStream(nil, NewQueue[int]()).Err() }, ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second)
			s := QueueStream(h.ssc, NewQueue[kv]())
			err := tc.build(s)
			var be *BuildError
			if !errors.Is(err, tc.want) || !errors.As(err, &be) {
				t.Fatalf("error = %v, want a *BuildError wrapping %v", err, tc.want)
			}
			// Errors in the context's own graph also stop Start.
			if s.Context() != nil && !strings.Contains(tc.name, "nil stream") && tc.name != "nil context" && tc.name != "forEachBatch" && !strings.Contains(tc.name, "print") {
				mustNoErr(t, s.Print(), "Print")
				if err := h.ssc.Start(); !errors.Is(err, tc.want) {
					t.Fatalf("Start = %v, want %v", err, tc.want)
				}
			}
		})
	}
}

// A stream name given with Named must be unique; duplicates are reported
// by Start.
func TestNamedStreams(t *testing.T) {
	h := newHarness(t, time.Second)
	in := QueueStream(h.ssc, NewQueue[int]())
	a := Map(in, func(x int) int { return x }).Named("doubled")
	if a.Name() != "doubled" {
		t.Fatalf("Name = %q", a.Name())
	}
	b := Map(in, func(x int) int { return x })
	if b.Name() != "map#2" {
		t.Fatalf("default name = %q, want map#2 (counted per operator kind)", b.Name())
	}
	b.Named("doubled")
	mustNoErr(t, a.Print(), "Print")
	if err := h.ssc.Start(); !errors.Is(err, ErrDuplicateName) {
		t.Fatalf("Start = %v, want ErrDuplicateName", err)
	}
}

// A panic in a user function fails the batch with a *PanicError instead of
// crashing the process.
func TestPanicFailsBatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(*Stream[int]) *Stream[int]
	}{
		{"map", func(s *Stream[int]) *Stream[int] {
			return Map(s, func(x int) int {
				if x == 3 {
					panic("three")
				}
				return x
			})
		}},
		{"reduceByKey", func(s *Stream[int]) *Stream[int] {
			pairs := Map(s, func(x int) Pair[int, int] { return KV(x%2, x) })
			return Map(ReduceByKey(pairs, func(a, b int) int { panic("reduce") }), func(p Pair[int, int]) int { return p.Value })
		}},
		{"transform", func(s *Stream[int]) *Stream[int] {
			return Transform(s, func(*Batch[int]) (*Batch[int], error) { panic(errors.New("transform")) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithParallelism(2))
			q := NewQueue[int]()
			q.Push([]int{1, 2, 3, 4})
			mustNoErr(t, tc.build(QueueStream(h.ssc, q)).Print(), "Print")
			h.start()
			err := h.stepErr()
			var pe *PanicError
			var be *BatchError
			if !errors.As(err, &pe) || !errors.As(err, &be) {
				t.Fatalf("batch error = %v, want a *BatchError holding a *PanicError", err)
			}
			if len(pe.Stack) == 0 {
				t.Fatal("PanicError has no stack")
			}
		})
	}
}

// Narrow operations are fused: a chain of them allocates nothing per
// record (no intermediate slice per operator, no goroutine or channel per
// record), so a batch's allocations do not grow with its size.
func TestFusedChainAllocationsDoNotGrowWithRecords(t *testing.T) {
	measure := func(n int) float64 {
		h := newHarness(t, time.Second, WithParallelism(2))
		q := NewQueue[int]()
		in := make([]int, n)
		for i := range in {
			in[i] = i
		}
		s := Map(QueueStream(h.ssc, q), func(x int) int { return x * 3 })
		s = s.Filter(func(x int) bool { return x%2 == 0 })
		s = Map(s, func(x int) int { return x + 1 })
		var got int64
		mustNoErr(t, s.Count().ForEachBatch(func(_ context.Context, b *Batch[int64]) error {
			got = b.Collect()[0]
			return nil
		}), "ForEachBatch")
		h.start()
		q.Push(in)
		h.step() // warm up
		allocs := testing.AllocsPerRun(10, func() {
			q.Push(in)
			h.step()
		})
		if want := int64((n + 1) / 2); got != want {
			t.Fatalf("count = %d, want %d", got, want)
		}
		mustNoErr(t, h.ssc.Stop(context.Background(), Hard), "Stop")
		return allocs
	}
	small, large := measure(1_000), measure(200_000)
	if large > small+16 {
		t.Fatalf("allocations per batch: %v for 1,000 records, %v for 200,000: the chain allocates per record", small, large)
	}
	t.Logf("allocations per batch: %v (1,000 records), %v (200,000 records)", small, large)
}
