package dstream_test

// Cases of Spark's BasicOperationsSuite (updateStateByKey), MapWithStateSuite
// and the state cases of its CheckpointSuite, run with dstreamtest: the
// inputs and expected outputs are Spark's, with 1 s batches and two
// partitions per input batch as in Spark's TestSuiteBase. Spark compares
// the batches of these cases as sets; EqualUnordered compares them as
// multisets, which is stricter.
//
// Tests that run jobs start contexts, so they do not run in parallel.

import (
	"errors"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/dstreamtest"
)

// words pairs each word with 1, as Spark's cases do with map(x => (x, 1)).
func words(s *dstream.Stream[string]) *dstream.Stream[wc] {
	return dstream.Map(s, func(w string) wc { return kv(w, 1) })
}

// sumState is the update function of Spark's updateStateByKey cases:
// the sum of the values so far, kept for ever.
func sumState(values []int, state *int) (int, bool) {
	n := 0
	if state != nil {
		n = *state
	}
	for _, v := range values {
		n += v
	}
	return n, true
}

// stateInput is the input of most of Spark's state cases.
func stateInput() [][]string {
	return [][]string{{"a"}, {"a", "b"}, {"a", "b", "c"}, {"a", "b"}, {"a"}, {}}
}

// TestSparkUpdateStateByKey pins UpdateStateByKey (BasicOperationsSuite
// "updateStateByKey" and "updateStateByKey - simple with initial value
// RDD"): every key's state is output every batch, also without new
// values, and an initial state seeds the first batch.
func TestSparkUpdateStateByKey(t *testing.T) {
	t.Parallel()
	t.Run("updateStateByKey", func(t *testing.T) {
		got := dstreamtest.Run(t, stateInput(), func(s *dstream.Stream[string]) *dstream.Stream[wc] {
			return dstream.UpdateStateByKey(words(s), sumState)
		})
		dstreamtest.EqualUnordered(t, got, [][]wc{
			{kv("a", 1)},
			{kv("a", 2), kv("b", 1)},
			{kv("a", 3), kv("b", 2), kv("c", 1)},
			{kv("a", 4), kv("b", 3), kv("c", 1)},
			{kv("a", 5), kv("b", 3), kv("c", 1)},
			{kv("a", 5), kv("b", 3), kv("c", 1)},
		})
	})
	t.Run("simple with initial value", func(t *testing.T) {
		got := dstreamtest.Run(t, stateInput(), func(s *dstream.Stream[string]) *dstream.Stream[wc] {
			return dstream.UpdateStateByKey(words(s), sumState).WithInitialState([]wc{kv("a", 1), kv("c", 2)})
		})
		dstreamtest.EqualUnordered(t, got, [][]wc{
			{kv("a", 2), kv("c", 2)},
			{kv("a", 3), kv("b", 1), kv("c", 2)},
			{kv("a", 4), kv("b", 2), kv("c", 3)},
			{kv("a", 5), kv("b", 3), kv("c", 3)},
			{kv("a", 6), kv("b", 3), kv("c", 3)},
			{kv("a", 6), kv("b", 3), kv("c", 3)},
		})
	})
}

// TestSparkUpdateStateByKeyObjectLifecycle pins the deletion of a key by
// its update function (BasicOperationsSuite "updateStateByKey - object
// lifecycle"): a key seen twice in a row without new values is dropped.
// Spark's batches 2, 5 and 6 are missing (null); here they are empty,
// which updateStateByKey treats alike: every key is updated with no
// values.
func TestSparkUpdateStateByKeyObjectLifecycle(t *testing.T) {
	t.Parallel()
	type object struct{ Counter, ExpireCounter int }
	update := func(values []int, state *object) (object, bool) {
		var obj object
		if state != nil {
			obj = *state
		}
		n := 0
		for _, v := range values {
			n += v
		}
		if n == 0 {
			obj.ExpireCounter++
		} else {
			obj.Counter += n
			obj.ExpireCounter = 0
		}
		return obj, obj.ExpireCounter != 2
	}
	got := dstreamtest.Run(t, [][]string{{"a", "b"}, {}, {"a", "c", "a"}, {"c"}, {}, {}}, func(s *dstream.Stream[string]) *dstream.Stream[wc] {
		st := dstream.UpdateStateByKey(words(s), update)
		return dstream.MapValues(st, func(o object) int { return o.Counter })
	})
	dstreamtest.EqualUnordered(t, got, [][]wc{
		{kv("a", 1), kv("b", 1)},
		{kv("a", 1), kv("b", 1)},
		{kv("a", 3), kv("c", 1)},
		{kv("a", 3), kv("c", 2)},
		{kv("c", 2)},
		{},
	})
}

// mapWithStateInput is the input of most of Spark's mapWithState cases.
func mapWithStateInput() [][]string {
	return [][]string{{}, {"a"}, {"a", "b"}, {"a", "b", "c"}, {"a", "b"}, {"a"}, {}}
}

// mapWithStateRun runs spec over input mapped to (word, 1) and returns
// the mapped output and the state snapshots of each batch, from two runs
// over the same input.
func mapWithStateRun[M comparable](t *testing.T, input [][]string, spec dstream.StateSpec[string, int, int, M], opts ...dstreamtest.Option) (out [][]M, snapshots [][]wc) {
	t.Helper()
	out = dstreamtest.Run(t, input, func(s *dstream.Stream[string]) *dstream.Stream[M] {
		return dstream.MapWithState(words(s), spec).Stream
	}, opts...)
	snapshots = dstreamtest.Run(t, input, func(s *dstream.Stream[string]) *dstream.Stream[wc] {
		return dstream.MapWithState(words(s), spec).StateSnapshots()
	}, opts...)
	return out, snapshots
}

// runningCount is the state of MapWithStateSuite's cases: a running count
// per key.
func runningCount(st *dstream.State[int], v dstream.Optional[int]) int {
	sum := st.GetOption().Value + v.Value
	_ = st.Update(sum)
	return sum
}

// TestSparkMapWithState pins MapWithState (MapWithStateSuite
// "mapWithState - basic operations with simple API", "... with advanced
// API", "... states as mapped data", "... initial states, with nothing
// returned as from mapping function" and "... state removing"): the
// function is called only for the keys with data in the batch, its
// results are the stream, and the snapshots hold every key's state.
func TestSparkMapWithState(t *testing.T) {
	t.Parallel()
	runningStates := [][]wc{
		{},
		{kv("a", 1)},
		{kv("a", 2), kv("b", 1)},
		{kv("a", 3), kv("b", 2), kv("c", 1)},
		{kv("a", 4), kv("b", 3), kv("c", 1)},
		{kv("a", 5), kv("b", 3), kv("c", 1)},
		{kv("a", 5), kv("b", 3), kv("c", 1)},
	}
	t.Run("basic operations with simple API", func(t *testing.T) {
		out, snapshots := mapWithStateRun(t, mapWithStateInput(), dstream.StateSpec[string, int, int, int]{
			Func: func(_ time.Time, _ string, v dstream.Optional[int], st *dstream.State[int]) (int, bool) {
				return runningCount(st, v), true
			},
		})
		dstreamtest.EqualUnordered(t, out, [][]int{{}, {1}, {2, 1}, {3, 2, 1}, {4, 3}, {5}, {}})
		dstreamtest.EqualUnordered(t, snapshots, runningStates)
	})
	t.Run("basic operations with advanced API", func(t *testing.T) {
		out, snapshots := mapWithStateRun(t, mapWithStateInput(), dstream.StateSpec[string, int, int, string]{
			Func: func(_ time.Time, key string, v dstream.Optional[int], st *dstream.State[int]) (string, bool) {
				runningCount(st, v)
				return key + key, true
			},
		})
		dstreamtest.EqualUnordered(t, out, [][]string{{}, {"aa"}, {"aa", "bb"}, {"aa", "bb", "cc"}, {"aa", "bb"}, {"aa"}, {}})
		dstreamtest.EqualUnordered(t, snapshots, runningStates)
	})
	t.Run("states as mapped data", func(t *testing.T) {
		out, snapshots := mapWithStateRun(t, mapWithStateInput(), dstream.StateSpec[string, int, int, wc]{
			Func: func(_ time.Time, key string, v dstream.Optional[int], st *dstream.State[int]) (wc, bool) {
				return kv(key, runningCount(st, v)), true
			},
		})
		dstreamtest.EqualUnordered(t, out, [][]wc{
			{},
			{kv("a", 1)},
			{kv("a", 2), kv("b", 1)},
			{kv("a", 3), kv("b", 2), kv("c", 1)},
			{kv("a", 4), kv("b", 3)},
			{kv("a", 5)},
			{},
		})
		dstreamtest.EqualUnordered(t, snapshots, runningStates)
	})
	t.Run("initial states, with nothing returned", func(t *testing.T) {
		out, snapshots := mapWithStateRun(t, mapWithStateInput(), dstream.StateSpec[string, int, int, int]{
			Func: func(_ time.Time, _ string, v dstream.Optional[int], st *dstream.State[int]) (int, bool) {
				runningCount(st, v)
				return 0, false
			},
			InitialState: []wc{kv("a", 5), kv("b", 10), kv("c", -20), kv("d", 0)},
		})
		dstreamtest.EqualUnordered(t, out, [][]int{{}, {}, {}, {}, {}, {}, {}})
		dstreamtest.EqualUnordered(t, snapshots, [][]wc{
			{kv("a", 5), kv("b", 10), kv("c", -20), kv("d", 0)},
			{kv("a", 6), kv("b", 10), kv("c", -20), kv("d", 0)},
			{kv("a", 7), kv("b", 11), kv("c", -20), kv("d", 0)},
			{kv("a", 8), kv("b", 12), kv("c", -19), kv("d", 0)},
			{kv("a", 9), kv("b", 13), kv("c", -19), kv("d", 0)},
			{kv("a", 10), kv("b", 13), kv("c", -19), kv("d", 0)},
			{kv("a", 10), kv("b", 13), kv("c", -19), kv("d", 0)},
		})
	})
	t.Run("state removing", func(t *testing.T) {
		input := [][]string{{}, {"a"}, {"a", "b"}, {"a", "b", "c"}, {"a", "b", "c"}, {"a", "b"}, {"a"}, {}}
		out, snapshots := mapWithStateRun(t, input, dstream.StateSpec[string, int, int, string]{
			// A key's first value is kept; its next removes the state
			// and outputs the key.
			Func: func(_ time.Time, key string, v dstream.Optional[int], st *dstream.State[int]) (string, bool) {
				if st.Exists() {
					_ = st.Remove()
					return key, true
				}
				_ = st.Update(v.Value)
				return "", false
			},
			Partitions: 1,
		})
		dstreamtest.EqualUnordered(t, out, [][]string{{}, {}, {"a"}, {"b"}, {"a", "c"}, {"b"}, {"a"}, {}})
		dstreamtest.EqualUnordered(t, snapshots, [][]wc{
			{},
			{kv("a", 1)},
			{kv("b", 1)},
			{kv("a", 1), kv("c", 1)},
			{kv("b", 1)},
			{kv("a", 1)},
			{},
			{},
		})
	})
}

// TestSparkMapWithStateTimeout pins the timeout of MapWithState
// (MapWithStateSuite "mapWithState - state timing out", its first 20
// batches as there): keys idle for 3 s get one last call, with no value
// and IsTimingOut, and lose their state. Spark asserts only that b and c
// time out once each and a never does; timeouts are checked on the
// state's checkpoint batches, every 10 batch intervals, so here they
// happen exactly at batch 9 (10 s): c's last data was at 1 s, b's at 2 s,
// a's at 10 s.
func TestSparkMapWithStateTimeout(t *testing.T) {
	t.Parallel()
	input := [][]string{{"a", "b", "c"}, {"a", "b"}, {"a"}, {}, {}}
	for len(input) < 20 {
		input = append(input, []string{"a"})
	}
	spec := dstream.StateSpec[string, int, int, string]{
		Func: func(_ time.Time, key string, v dstream.Optional[int], st *dstream.State[int]) (string, bool) {
			if v.Valid {
				_ = st.Update(1)
			}
			switch {
			case st.IsTimingOut() && v.Valid:
				return "a value in the timing-out call of " + key, true
			case st.IsTimingOut():
				return key, true
			}
			return "", false
		},
		Timeout: 3 * time.Second,
	}
	out, snapshots := mapWithStateRun(t, input, spec)
	wantOut := make([][]string, 20)
	wantSnapshots := make([][]wc, 20)
	for i := range 20 {
		wantOut[i] = []string{}
		wantSnapshots[i] = []wc{kv("a", 1)}
		if i < 9 {
			wantSnapshots[i] = []wc{kv("a", 1), kv("b", 1), kv("c", 1)}
		}
	}
	wantOut[9] = []string{"b", "c"}
	dstreamtest.EqualUnordered(t, out, wantOut)
	dstreamtest.EqualUnordered(t, snapshots, wantSnapshots)
}

// TestSparkRecoveryUpdateStateByKey pins the recovery of
// updateStateByKey (CheckpointSuite "recovery with updateStateByKey
// operation"): its state checkpointed every 2 batches, the job stopped
// after 7 of 10 batches and restarted from the checkpoint counts on.
func TestSparkRecoveryUpdateStateByKey(t *testing.T) {
	t.Parallel()
	input := make([][]string, 10)
	want := make([][]wc, 10)
	for i := range input {
		input[i] = []string{"a"}
		want[i] = []wc{kv("a", i+1)}
	}
	counts := func(s *dstream.Stream[string]) *dstream.Stream[wc] {
		return dstream.UpdateStateByKey(words(s), sumState).Named("counts").Checkpoint(2 * time.Second)
	}
	for _, stop := range stopModes() {
		t.Run(stop.name, func(t *testing.T) {
			got := dstreamtest.Run(t, input, counts, dstreamtest.RestartAfter(7, stop.mode))
			dstreamtest.EqualUnordered(t, got, want)
		})
	}
}

// TestSparkRecoveryMapWithState pins the recovery of MapWithState
// (MapWithStateSuite "mapWithState - driver failure recovery"): the
// state snapshots of a running count checkpointed every 3 batches, the
// job stopped after 3 of 7 batches and restarted from the checkpoint.
func TestSparkRecoveryMapWithState(t *testing.T) {
	t.Parallel()
	snapshots := func(s *dstream.Stream[string]) *dstream.Stream[wc] {
		ms := dstream.MapWithState(words(s), dstream.StateSpec[string, int, int, int]{
			Func: func(_ time.Time, _ string, v dstream.Optional[int], st *dstream.State[int]) (int, bool) {
				return runningCount(st, v), true
			},
		})
		ms.Named("counts").Checkpoint(3 * time.Second)
		return ms.StateSnapshots()
	}
	want := [][]wc{
		{},
		{kv("a", 1)},
		{kv("a", 2), kv("b", 1)},
		{kv("a", 3), kv("b", 2), kv("c", 1)},
		{kv("a", 4), kv("b", 3), kv("c", 1)},
		{kv("a", 5), kv("b", 3), kv("c", 1)},
		{kv("a", 5), kv("b", 3), kv("c", 1)},
	}
	for _, stop := range stopModes() {
		t.Run(stop.name, func(t *testing.T) {
			got := dstreamtest.Run(t, mapWithStateInput(), snapshots, dstreamtest.RestartAfter(3, stop.mode))
			dstreamtest.EqualUnordered(t, got, want)
		})
	}
}

// TestSparkState pins State (MapWithStateSuite "state - get, exists,
// update, remove"): what Get, GetOption and Exists return for a state
// that exists or not, updated, removed or timing out, and that Update and
// Remove are errors on a removed or timing-out state.
func TestSparkState(t *testing.T) {
	t.Parallel()
	// check asserts the state's value (none if !exists) and flags, then
	// that Update and Remove fail where Spark's throw.
	check := func(t *testing.T, st *dstream.State[int], want dstreamtest.StateResult[int]) {
		t.Helper()
		v, err := st.Get()
		switch {
		case want.Exists && (err != nil || v != want.Value):
			t.Errorf("Get() = %d, %v; want %d", v, err, want.Value)
		case !want.Exists && !errors.Is(err, dstream.ErrNoState):
			t.Errorf("Get() = %d, %v; want ErrNoState", v, err)
		}
		if o := st.GetOption(); o.Valid != want.Exists || o.Valid && o.Value != want.Value {
			t.Errorf("GetOption() = %v, want exists %t, value %d", o, want.Exists, want.Value)
		}
		if st.Exists() != want.Exists {
			t.Errorf("Exists() = %t, want %t", st.Exists(), want.Exists)
		}
		if got := dstreamtest.ReadState(st); got != want {
			t.Errorf("ReadState = %+v, want %+v", got, want)
		}
		var misuse error
		switch {
		case want.TimingOut:
			misuse = dstream.ErrStateTimingOut
		case want.Removed:
			misuse = dstream.ErrStateRemoved
		default:
			return
		}
		if err := st.Remove(); !errors.Is(err, misuse) {
			t.Errorf("Remove() = %v, want %v", err, misuse)
		}
		if err := st.Update(-1); !errors.Is(err, misuse) {
			t.Errorf("Update(-1) = %v, want %v", err, misuse)
		}
		if got := dstreamtest.ReadState(st); got.Exists != want.Exists || got.Value != want.Value || !errors.Is(got.Err, misuse) {
			t.Errorf("after the misuse ReadState = %+v: the state changed or the misuse is not reported", got)
		}
	}

	st := dstreamtest.NoState[int]()
	check(t, st, dstreamtest.StateResult[int]{})
	st = dstreamtest.NewState(1)
	check(t, st, dstreamtest.StateResult[int]{Exists: true, Value: 1})
	if err := st.Update(2); err != nil {
		t.Fatal(err)
	}
	check(t, st, dstreamtest.StateResult[int]{Exists: true, Value: 2, Updated: true})

	st = dstreamtest.NoState[int]()
	if err := st.Update(2); err != nil {
		t.Fatal(err)
	}
	check(t, st, dstreamtest.StateResult[int]{Exists: true, Value: 2, Updated: true})
	if err := st.Remove(); err != nil {
		t.Fatal(err)
	}
	check(t, st, dstreamtest.StateResult[int]{Removed: true})

	check(t, dstreamtest.TimingOutState(3), dstreamtest.StateResult[int]{Exists: true, Value: 3, TimingOut: true})
}

// TestSparkStateFunctionUnit tests runningCount, the function of the
// cases above, alone with dstreamtest's states: a new key, a key with a
// count, and the timing-out call, where Update is an error that a
// running job would fail the batch with.
func TestSparkStateFunctionUnit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		state *dstream.State[int]
		v     dstream.Optional[int]
		out   int
		after dstreamtest.StateResult[int]
	}{
		{"new key", dstreamtest.NoState[int](), dstream.Some(1), 1, dstreamtest.StateResult[int]{Exists: true, Value: 1, Updated: true}},
		{"counted key", dstreamtest.NewState(4), dstream.Some(1), 5, dstreamtest.StateResult[int]{Exists: true, Value: 5, Updated: true}},
		{"timing out", dstreamtest.TimingOutState(4), dstream.None[int](), 4,
			dstreamtest.StateResult[int]{Exists: true, Value: 4, TimingOut: true, Err: dstream.ErrStateTimingOut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if out := runningCount(tc.state, tc.v); out != tc.out {
				t.Errorf("runningCount = %d, want %d", out, tc.out)
			}
			if got := dstreamtest.ReadState(tc.state); got != tc.after {
				t.Errorf("ReadState = %+v, want %+v", got, tc.after)
			}
		})
	}
}
