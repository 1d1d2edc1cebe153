package dstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/testtool"
)

// ---------------------------------------------------------------------------
// Helpers for the state tests.

// stNoBatch in a script means: push nothing, so the queue stream has no
// batch at that time. An empty string pushes an empty batch.
const stNoBatch = "-"

// stIn parses "a1 b-2 a3" into the pairs (a,1), (b,-2), (a,3): the key is
// the first byte of each field, the rest is the value.
func stIn(s string) []Pair[string, int] {
	var out []Pair[string, int]
	for _, f := range strings.Fields(s) {
		n, err := strconv.Atoi(f[1:])
		if err != nil {
			panic(fmt.Sprintf("bad test input %q", f))
		}
		out = append(out, KV(f[:1], n))
	}
	return out
}

// stTag is an UpdateStateByKey value that carries its key, since the
// update function is not given the key.
type stTag struct {
	Key string
	N   int
}

// stAcc is an UpdateStateByKey state: the key and the running sum.
type stAcc struct {
	Key string
	Sum int
}

func stTagged(s string) []Pair[string, stTag] {
	var out []Pair[string, stTag]
	for _, p := range stIn(s) {
		out = append(out, KV(p.Key, stTag{p.Key, p.Value}))
	}
	return out
}

// usbkRec records UpdateStateByKey calls as "key[values]/prev", with
// prev "-" for a nil state; the engine calls update concurrently across
// partitions.
type usbkRec struct {
	mu    sync.Mutex
	calls []string
}

func (r *usbkRec) add(values []stTag, prev *stAcc) {
	key := "?"
	ns := make([]int, 0, len(values))
	for _, v := range values {
		ns = append(ns, v.N)
		key = v.Key
	}
	slices.Sort(ns) // the values' order within a key is not specified
	p := "-"
	if prev != nil {
		key = prev.Key
		p = strconv.Itoa(prev.Sum)
	}
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf("%s%v/%s", key, ns, p))
	r.mu.Unlock()
}

// drain returns the calls since the last drain, sorted.
func (r *usbkRec) drain() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// stSumUpdate returns an update function summing the values; drop decides
// when to return keep == false.
func stSumUpdate(rec *usbkRec, drop func(values []stTag, prev *stAcc) bool) func([]stTag, *stAcc) (stAcc, bool) {
	return func(values []stTag, prev *stAcc) (stAcc, bool) {
		rec.add(values, prev)
		var s stAcc
		if prev != nil {
			s = *prev
		} else if len(values) > 0 {
			s.Key = values[0].Key
		}
		for _, v := range values {
			s.Sum += v.N
		}
		if drop != nil && drop(values, prev) {
			return stAcc{}, false
		}
		return s, true
	}
}

// stAccs renders UpdateStateByKey output as sorted "key=sum"; a state
// whose Key disagrees with its pair's key is flagged.
func stAccs(ps []Pair[string, stAcc]) []string {
	out := []string{}
	for _, p := range ps {
		s := fmt.Sprintf("%s=%d", p.Key, p.Value.Sum)
		if p.Value.Key != p.Key {
			s += "!" + p.Value.Key
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// stPairs renders (key, int) pairs as sorted "key=value".
func stPairs(ps []Pair[string, int]) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s=%d", p.Key, p.Value))
	}
	slices.Sort(out)
	return out
}

func stSorted(xs []string) []string {
	out := append([]string{}, xs...)
	slices.Sort(out)
	return out
}

// stParts returns the number of partitions of the sink's batch at ms.
func stParts[T any](k *sink[T], ms int64) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.parts[ms]
}

// stPush pushes one script entry for the next batch.
func stPush(q *Queue[Pair[string, int]], in string) {
	if in != stNoBatch {
		q.Push(stIn(in))
	}
}

// mwsRec records MapWithState calls per batch time and key, in call order,
// as "value prev[ timingOut]", e.g. "Some(2) 1", "Some(1) -", "None 3 timingOut".
type mwsRec struct {
	mu    sync.Mutex
	calls map[int64]map[string][]string
}

func newMwsRec() *mwsRec { return &mwsRec{calls: map[int64]map[string][]string{}} }

func (r *mwsRec) note(t time.Time, key string, v Optional[int], st *State[int]) {
	prev := "-"
	if st.Exists() {
		g, _ := st.Get()
		prev = strconv.Itoa(g)
	}
	s := fmt.Sprintf("%v %s", v, prev)
	if st.IsTimingOut() {
		s += " timingOut"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := t.UnixMilli()
	if r.calls[ms] == nil {
		r.calls[ms] = map[string][]string{}
	}
	r.calls[ms][key] = append(r.calls[ms][key], s)
}

// at returns the calls of the batch at ms, by key.
func (r *mwsRec) at(ms int64) map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for k, v := range r.calls[ms] {
		out[k] = slices.Clone(v)
	}
	return out
}

// timingOut returns "ms key state" for every timing-out call, sorted by time.
func (r *mwsRec) timingOut() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type tc struct {
		ms int64
		s  string
	}
	var all []tc
	for ms, byKey := range r.calls {
		for k, calls := range byKey {
			for _, c := range calls {
				if strings.HasSuffix(c, " timingOut") {
					all = append(all, tc{ms, fmt.Sprintf("%d %s %s", ms, k, c)})
				}
			}
		}
	}
	slices.SortFunc(all, func(a, b tc) int {
		if a.ms != b.ms {
			return int(a.ms - b.ms)
		}
		return strings.Compare(a.s, b.s)
	})
	out := []string{}
	for _, c := range all {
		out = append(out, c.s)
	}
	return out
}

func stEqualCalls(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// stAwait returns what AwaitTermination reports, with a hang guard.
func stAwait(t *testing.T, h *harness) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard, not a timing assertion
	defer cancel()
	err := h.ssc.AwaitTermination(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AwaitTermination: context did not stop after a failed batch")
	}
	return err
}

// stCheckBatchErr checks that err is a *BatchError for the batch at ms
// wrapping want (errors.Is), and returns it.
func stCheckBatchErr(t *testing.T, what string, err error, ms int64, want error) *BatchError {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want a *BatchError at %d ms", what, ms)
	}
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("%s: error %v (%T) is not a *BatchError", what, err, err)
	}
	if got := be.Time.UnixMilli(); got != ms {
		t.Errorf("%s: BatchError.Time = %d ms, want %d ms", what, got, ms)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("%s: error %v does not wrap %v", what, err, want)
	}
	return be
}

// ---------------------------------------------------------------------------
// UpdateStateByKey

// usbkStep is one batch of an UpdateStateByKey script: the input, the
// update calls expected ("key[values]/prev"), and the output expected
// ("key=sum"), or noBatch when the output operation must not be called.
type usbkStep struct {
	in      string
	calls   []string
	state   []string
	noBatch bool
}

// Pin (updateStateByKey): update is called for every existing key every
// batch, even with no new values (empty slice); returning "none"
// (keep=false) deletes the key; with no data and no prior state there is
// no output batch; InitialState seeds the state.
func TestUpdateStateByKeyScript(t *testing.T) {
	none := []string{}
	dropZero := func(values []stTag, prev *stAcc) bool {
		for _, v := range values {
			if v.N == 0 {
				return true // any 0 among the new values deletes the key
			}
		}
		return len(values) == 0 && prev != nil && prev.Sum >= 100 // big idle keys delete themselves
	}
	initial := []Pair[string, stAcc]{KV("a", stAcc{"a", 10}), KV("z", stAcc{"z", 1})}
	for _, tc := range []struct {
		name    string
		drop    func([]stTag, *stAcc) bool
		opts    []OpOption
		initial []Pair[string, stAcc] // WithInitialState
		steps   []usbkStep
	}{
		{
			name: "called for every key every batch, with empty values",
			steps: []usbkStep{
				{in: "a1 a2 b5", calls: []string{"a[1 2]/-", "b[5]/-"}, state: []string{"a=3", "b=5"}},
				{in: "b1", calls: []string{"a[]/3", "b[1]/5"}, state: []string{"a=3", "b=6"}},
				{in: "c7", calls: []string{"a[]/3", "b[]/6", "c[7]/-"}, state: []string{"a=3", "b=6", "c=7"}},
				{in: "", calls: []string{"a[]/3", "b[]/6", "c[]/7"}, state: []string{"a=3", "b=6", "c=7"}},
				{in: stNoBatch, calls: []string{"a[]/3", "b[]/6", "c[]/7"}, state: []string{"a=3", "b=6", "c=7"}},
				{in: "a-3", calls: []string{"a[-3]/3", "b[]/6", "c[]/7"}, state: []string{"a=0", "b=6", "c=7"}},
			},
		},
		{
			name: "keep=false deletes the key; its next call gets a nil state",
			drop: dropZero,
			steps: []usbkStep{
				{in: "a1 b100 c3", calls: []string{"a[1]/-", "b[100]/-", "c[3]/-"}, state: []string{"a=1", "b=100", "c=3"}},
				// a is deleted with data, b without data.
				{in: "a0", calls: []string{"a[0]/1", "b[]/100", "c[]/3"}, state: []string{"c=3"}},
				{in: "a4 b2", calls: []string{"a[4]/-", "b[2]/-", "c[]/3"}, state: []string{"a=4", "b=2", "c=3"}},
				// d is never kept, so it is not called again.
				{in: "d0", calls: []string{"a[]/4", "b[]/2", "c[]/3", "d[0]/-"}, state: []string{"a=4", "b=2", "c=3"}},
				{in: stNoBatch, calls: []string{"a[]/4", "b[]/2", "c[]/3"}, state: []string{"a=4", "b=2", "c=3"}},
			},
		},
		{
			name: "no data and no state: no output batch; then state without data is output",
			steps: []usbkStep{
				{in: stNoBatch, calls: none, noBatch: true},
				{in: stNoBatch, calls: none, noBatch: true},
				{in: "a1", calls: []string{"a[1]/-"}, state: []string{"a=1"}},
				{in: stNoBatch, calls: []string{"a[]/1"}, state: []string{"a=1"}},
				{in: "", calls: []string{"a[]/1"}, state: []string{"a=1"}},
			},
		},
		{
			// As Spark's StateDStream: an input batch, even an empty one,
			// gives a state batch.
			name: "empty input batch without state: empty output batch, update not called",
			steps: []usbkStep{
				{in: "", calls: none, state: none},
				{in: "a2", calls: []string{"a[2]/-"}, state: []string{"a=2"}},
			},
		},
		{
			// Once there is a state, even an empty one, every batch has output.
			name: "all keys deleted: later batches are empty, not missing",
			drop: dropZero,
			steps: []usbkStep{
				{in: "a0", calls: []string{"a[0]/-"}, state: none},
				{in: stNoBatch, calls: none, state: none},
				{in: "b3", calls: []string{"b[3]/-"}, state: []string{"b=3"}},
			},
		},
		{
			name:    "InitialState seeds the state at the first batch",
			initial: initial,
			steps: []usbkStep{
				{in: "a1 b2", calls: []string{"a[1]/10", "b[2]/-", "z[]/1"}, state: []string{"a=11", "b=2", "z=1"}},
				{in: stNoBatch, calls: []string{"a[]/11", "b[]/2", "z[]/1"}, state: []string{"a=11", "b=2", "z=1"}},
			},
		},
		{
			// As Spark's StateDStream: the initial state is used with the
			// first input batch; before it there is no output.
			name:    "InitialState waits for the first input batch",
			initial: initial,
			steps: []usbkStep{
				{in: stNoBatch, calls: none, noBatch: true},
				{in: "b2", calls: []string{"a[]/10", "b[2]/-", "z[]/1"}, state: []string{"a=10", "b=2", "z=1"}},
				{in: "z0", calls: []string{"a[]/10", "b[]/2", "z[0]/1"}, state: []string{"a=10", "b=2", "z=1"}},
			},
		},
		{
			name:    "InitialState key deleted by keep=false",
			drop:    dropZero,
			initial: initial,
			steps: []usbkStep{
				{in: "a0", calls: []string{"a[0]/10", "z[]/1"}, state: []string{"z=1"}},
				{in: "a5", calls: []string{"a[5]/-", "z[]/1"}, state: []string{"a=5", "z=1"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithParallelism(2))
			q := NewQueue[Pair[string, stTag]]()
			rec := &usbkRec{}
			st := UpdateStateByKey(QueueStream(h.ssc, q), stSumUpdate(rec, tc.drop), tc.opts...)
			if tc.initial != nil {
				st = st.WithInitialState(tc.initial)
			}
			mustNoErr(t, st.Err(), "UpdateStateByKey")
			out := collect(t, st)
			h.start()
			var wantSeen []int64
			for i, s := range tc.steps {
				k := i + 1
				if s.in != stNoBatch {
					q.Push(stTagged(s.in))
				}
				h.step()
				if got := rec.drain(); !slices.Equal(got, s.calls) {
					t.Errorf("batch %d (input %q): update calls = %q, want %q", k, s.in, got, s.calls)
				}
				got, ok := out.at(h.ms(k))
				if s.noBatch {
					if ok {
						t.Errorf("batch %d: output batch %v, want no output batch", k, stAccs(got))
					}
					continue
				}
				wantSeen = append(wantSeen, h.ms(k))
				if !ok {
					t.Errorf("batch %d: no output batch, want %q", k, s.state)
					continue
				}
				if g := stAccs(got); !slices.Equal(g, s.state) {
					t.Errorf("batch %d: state = %q, want %q", k, g, s.state)
				}
			}
			if got := out.seen(); !slices.Equal(got, wantSeen) {
				t.Errorf("output batch times = %v, want %v", got, wantSeen)
			}
		})
	}
}

// Pin (updateStateByKey, numPartitions variant): Partitions(n) gives n
// output partitions, every batch; the default is the context's parallelism.
func TestUpdateStateByKeyPartitions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []OpOption
		want int
	}{
		{"default is the parallelism", nil, 3},
		{"Partitions(1)", []OpOption{Partitions(1)}, 1},
		{"Partitions(5)", []OpOption{Partitions(5)}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithParallelism(3))
			q := NewQueue[Pair[string, stTag]]()
			out := collect(t, UpdateStateByKey(QueueStream(h.ssc, q), stSumUpdate(&usbkRec{}, nil), tc.opts...))
			h.start()
			q.Push(stTagged("a1 b2 c3 d4 e5 f6 g7 a1"))
			h.steps(2) // the second batch has no input
			want := []string{"a=2", "b=2", "c=3", "d=4", "e=5", "f=6", "g=7"}
			for k := 1; k <= 2; k++ {
				got, _ := out.at(h.ms(k))
				if g := stAccs(got); !slices.Equal(g, want) {
					t.Errorf("batch %d: state = %q, want %q", k, g, want)
				}
				if n := stParts(out, h.ms(k)); n != tc.want {
					t.Errorf("batch %d: %d partitions, want %d", k, n, tc.want)
				}
			}
		})
	}
}

// Pin (updateStateByKey options): a nil update function, WithStateFilter
// and a bad Partitions are BuildErrors (an initial state of the wrong
// types does not compile: testdata/wrongtype)
// (ErrNilFunc / ErrInvalidOption) carried by the stream, returned by its
// output operations and by Start; nothing panics.
func TestUpdateStateByKeyBuildErrors(t *testing.T) {
	sum := stSumUpdate(&usbkRec{}, nil)
	for _, tc := range []struct {
		name string
		mk   func(s *Stream[Pair[string, stTag]]) *Stream[Pair[string, stAcc]]
		want error
	}{
		{"nil update", func(s *Stream[Pair[string, stTag]]) *Stream[Pair[string, stAcc]] {
			var f func([]stTag, *stAcc) (stAcc, bool)
			return UpdateStateByKey(s, f)
		}, ErrNilFunc},
		{"WithStateFilter", func(s *Stream[Pair[string, stTag]]) *Stream[Pair[string, stAcc]] {
			return UpdateStateByKey(s, sum).WithStateFilter(func(Pair[string, stAcc]) bool { return true })
		}, ErrInvalidOption},
		{"Partitions(0)", func(s *Stream[Pair[string, stTag]]) *Stream[Pair[string, stAcc]] {
			return UpdateStateByKey(s, sum, Partitions(0))
		}, ErrInvalidOption},
		{"Partitions(-2)", func(s *Stream[Pair[string, stTag]]) *Stream[Pair[string, stAcc]] {
			return UpdateStateByKey(s, sum, Partitions(-2))
		}, ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithParallelism(2))
			s := UpdateStateByKey(QueueStream(h.ssc, NewQueue[Pair[string, stTag]]()), sum) // a valid sibling
			bad := tc.mk(QueueStream(h.ssc, NewQueue[Pair[string, stTag]]()))
			err := bad.Err()
			var be *BuildError
			if !errors.As(err, &be) {
				t.Fatalf("Err() = %v (%T), want a *BuildError", err, err)
			}
			if be.Op != "updateStateByKey" {
				t.Errorf("BuildError.Op = %q, want %q", be.Op, "updateStateByKey")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Err() = %v, want it to wrap %v", err, tc.want)
			}
			if err := bad.ForEachBatch(func(context.Context, *Batch[Pair[string, stAcc]]) error { return nil }); !errors.Is(err, tc.want) {
				t.Errorf("ForEachBatch on the invalid stream = %v, want %v", err, tc.want)
			}
			mustNoErr(t, s.ForEachBatch(func(context.Context, *Batch[Pair[string, stAcc]]) error { return nil }), "ForEachBatch on a valid stream")
			err = h.ssc.Start()
			if !errors.Is(err, tc.want) || !errors.As(err, &be) {
				t.Errorf("Start = %v, want a *BuildError wrapping %v", err, tc.want)
			}
			if got := h.ssc.State(); got != StateInitialized {
				t.Errorf("state after a failed Start = %v, want %v", got, StateInitialized)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// MapWithState

// stSumFunc is a MapWithState function that records its calls, keeps a
// running sum, and outputs "key=sum" for data and "bye key=state" for a
// timing-out key.
func stSumFunc(rec *mwsRec) func(time.Time, string, Optional[int], *State[int]) (string, bool) {
	return func(t time.Time, key string, v Optional[int], st *State[int]) (string, bool) {
		rec.note(t, key, v, st)
		prev, _ := st.Get()
		if st.IsTimingOut() {
			return fmt.Sprintf("bye %s=%d", key, prev), true
		}
		sum := prev + v.Value
		if err := st.Update(sum); err != nil {
			panic(err)
		}
		return fmt.Sprintf("%s=%d", key, sum), true
	}
}

// Pin (mapWithState): the function is called only for keys that have data
// in the batch, once per element, in order within a key; without a
// timeout no key is ever called without data, not even on full-scan
// batches.
func TestMapWithStateCallsOnlyKeysWithData(t *testing.T) {
	h := newHarness(t, time.Second, WithParallelism(2))
	q := NewQueue[Pair[string, int]]()
	rec := newMwsRec()
	ms := MapWithState(QueueStream(h.ssc, q), StateSpec[string, int, int, string]{Func: stSumFunc(rec), Partitions: 3})
	mustNoErr(t, ms.Err(), "MapWithState")
	out := collect(t, ms.Stream)
	h.start()
	type step struct {
		in    string
		calls map[string][]string
		out   []string
	}
	steps := []step{
		// Input partitions [a1 b1 a2] [c1 a3 b2]: a's elements span both.
		{"a1 b1 a2 c1 a3 b2", map[string][]string{
			"a": {"Some(1) -", "Some(2) 1", "Some(3) 3"},
			"b": {"Some(1) -", "Some(2) 1"},
			"c": {"Some(1) -"},
		}, []string{"a=1", "a=3", "a=6", "b=1", "b=3", "c=1"}},
		{"b5", map[string][]string{"b": {"Some(5) 3"}}, []string{"b=8"}},
		{stNoBatch, map[string][]string{}, []string{}},
		{"", map[string][]string{}, []string{}},
		{"c4 c-4 c6", map[string][]string{"c": {"Some(4) 1", "Some(-4) 5", "Some(6) 1"}}, []string{"c=1", "c=5", "c=7"}},
	}
	for range 7 { // batches 6..12 include the full-scan batch 10
		steps = append(steps, step{stNoBatch, map[string][]string{}, []string{}})
	}
	for i, s := range steps {
		k := i + 1
		stPush(q, s.in)
		h.step()
		if got := rec.at(h.ms(k)); !stEqualCalls(got, s.calls) {
			t.Errorf("batch %d (input %q): calls = %q, want %q", k, s.in, got, s.calls)
		}
		got, ok := out.at(h.ms(k))
		if !ok {
			t.Errorf("batch %d: no mapped batch, want %q", k, s.out)
			continue
		}
		if g := stSorted(got); !slices.Equal(g, s.out) {
			t.Errorf("batch %d: mapped output = %q, want %q", k, g, s.out)
		}
	}
	// The outputs of one key keep the order of its elements.
	got, _ := out.at(h.ms(1))
	var as []string
	for _, x := range got {
		if strings.HasPrefix(x, "a=") {
			as = append(as, x)
		}
	}
	if want := []string{"a=1", "a=3", "a=6"}; !slices.Equal(as, want) {
		t.Errorf("batch 1: outputs of key a in order = %q, want %q", as, want)
	}
}

// Pin (mapWithState): timeouts are checked only on full-scan batches,
// every 10 batch intervals after the zero time, so a key expires at least
// Timeout and up to Timeout + 10 intervals after its last data; a key
// idle for exactly Timeout is kept (Spark's updateTime < batchTime -
// timeout); any data refreshes the idle clock even without Update; the
// initial state is stamped with the first batch time; the timed-out key
// gets exactly one final call (value None, IsTimingOut) and its state is
// gone.
func TestMapWithStateTimeoutBatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		timeout  time.Duration
		offset   int // batch intervals the clock is advanced before Start
		initial  []Pair[string, int]
		data     []int // batches (from 1) with the element (k, 1)
		noUpdate bool  // Func updates k only when it has no state
		want     int   // batch of the final call; 0 = never
		state    int   // k's state in the final call
		runTo    int
	}{
		{name: "timeout 3s, last data at 2 -> 10", interval: time.Second, timeout: 3 * time.Second, data: []int{2}, want: 10, state: 1},
		{name: "timeout 3s, last data at 8 -> 20 (idle 2s at 10)", interval: time.Second, timeout: 3 * time.Second, data: []int{8}, want: 20, state: 1},
		{name: "timeout 3s, data at 2 and 8 -> 20", interval: time.Second, timeout: 3 * time.Second, data: []int{2, 8}, want: 20, state: 2},
		{name: "timeout 3s, last data at 6 -> 10 (idle 4s)", interval: time.Second, timeout: 3 * time.Second, data: []int{6}, want: 10, state: 1},
		{name: "timeout 3s, last data at 7 -> 20 (idle exactly 3s at 10 is kept)", interval: time.Second, timeout: 3 * time.Second, data: []int{7}, want: 20, state: 1},
		{name: "data in the full-scan batch refreshes it", interval: time.Second, timeout: 3 * time.Second, data: []int{2, 10}, want: 20, state: 2},
		{name: "timeout 12s, data at 1 -> 20", interval: time.Second, timeout: 12 * time.Second, data: []int{1}, want: 20, state: 1},
		{name: "timeout 15s, data at 5 -> 30 (idle exactly 15s at 20)", interval: time.Second, timeout: 15 * time.Second, data: []int{5}, want: 30, state: 1},
		{name: "timeout shorter than the interval, data at 9 -> 10", interval: time.Second, timeout: 500 * time.Millisecond, data: []int{9}, want: 10, state: 1},
		{name: "timeout shorter than the interval, data at 10 -> 20", interval: time.Second, timeout: 500 * time.Millisecond, data: []int{10}, want: 20, state: 1},
		{name: "interval 500ms, timeout 2s, data at 3 -> 10", interval: 500 * time.Millisecond, timeout: 2 * time.Second, data: []int{3}, want: 10, state: 1},
		{name: "interval 500ms, timeout 2s, data at 7 -> 20", interval: 500 * time.Millisecond, timeout: 2 * time.Second, data: []int{7}, want: 20, state: 1},
		{name: "full scans counted from the zero time, not the epoch", interval: time.Second, timeout: 3 * time.Second, offset: 3, data: []int{2}, want: 10, state: 1},
		{name: "data without Update refreshes the idle clock", interval: time.Second, timeout: 3 * time.Second, data: []int{1, 8}, noUpdate: true, want: 20, state: 1},
		{name: "data without Update, no later data -> 10", interval: time.Second, timeout: 3 * time.Second, data: []int{1, 2}, noUpdate: true, want: 10, state: 1},
		{name: "initial state times out without data", interval: time.Second, timeout: 3 * time.Second, initial: []Pair[string, int]{KV("k", 5)}, want: 10, state: 5},
		{name: "initial state is stamped with the first batch time", interval: time.Second, timeout: 9 * time.Second, initial: []Pair[string, int]{KV("k", 5)}, want: 20, state: 5},
		{name: "no timeout: never expires", interval: time.Second, data: []int{1}, want: 0, state: 1, runTo: 31},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.interval, WithParallelism(2))
			q := NewQueue[Pair[string, int]]()
			rec := newMwsRec()
			spec := StateSpec[string, int, int, string]{
				InitialState: tc.initial,
				Timeout:      tc.timeout,
				Func: func(bt time.Time, key string, v Optional[int], st *State[int]) (string, bool) {
					rec.note(bt, key, v, st)
					if st.IsTimingOut() {
						g, _ := st.Get()
						return fmt.Sprintf("bye %s=%d", key, g), true
					}
					if !tc.noUpdate || !st.Exists() {
						g, _ := st.Get()
						if err := st.Update(g + v.Value); err != nil {
							panic(err)
						}
					}
					return "", false
				},
			}
			ms := MapWithState(QueueStream(h.ssc, q), spec)
			out := collect(t, ms.Stream)
			snaps := collect(t, ms.StateSnapshots())
			h.clock.Advance(time.Duration(tc.offset) * tc.interval)
			h.start()
			zero := h.ssc.ZeroTime().UnixMilli()
			if want := int64(tc.offset) * tc.interval.Milliseconds(); zero != want {
				t.Fatalf("zero time = %d ms, want %d", zero, want)
			}
			at := func(k int) int64 { return zero + int64(k)*tc.interval.Milliseconds() }
			runTo := tc.runTo
			if runTo == 0 {
				runTo = tc.want + 10 // through the next full scan
			}
			first := 1
			if len(tc.initial) == 0 {
				first = tc.data[0]
			}
			for k := 1; k <= runTo; k++ {
				if slices.Contains(tc.data, k) {
					q.Push(stIn("k1"))
				}
				h.step()
				b, _ := snaps.at(at(k))
				_, present := pairMap(t, b)["k"]
				wantPresent := k >= first && (tc.want == 0 || k < tc.want)
				if present != wantPresent {
					t.Errorf("batch %d: k in snapshot = %v, want %v (snapshot %v)", k, present, wantPresent, b)
				}
			}
			var want []string
			if tc.want > 0 {
				want = []string{fmt.Sprintf("%d k None %d timingOut", at(tc.want), tc.state)}
				got, _ := out.at(at(tc.want))
				if w := []string{fmt.Sprintf("bye k=%d", tc.state)}; !slices.Equal(got, w) {
					t.Errorf("mapped output at batch %d = %q, want %q", tc.want, got, w)
				}
			}
			if got := rec.timingOut(); !slices.Equal(got, want) {
				t.Errorf("timing-out calls = %q, want %q", got, want)
			}
		})
	}
}

// stView is what a MapWithState function sees of its state.
type stView struct {
	Exists    bool
	Get       int
	GetErr    error
	Opt       Optional[int]
	TimingOut bool
	Value     Optional[int]
}

func stViewOf(st *State[int], v Optional[int]) stView {
	g, err := st.Get()
	return stView{Exists: st.Exists(), Get: g, GetErr: err, Opt: st.GetOption(), TimingOut: st.IsTimingOut(), Value: v}
}

func stCheckView(t *testing.T, what string, got, want stView) {
	t.Helper()
	if got.Exists != want.Exists || got.Get != want.Get || got.Opt != want.Opt || got.TimingOut != want.TimingOut || got.Value != want.Value {
		t.Errorf("%s: state view = %+v, want %+v", what, got, want)
	}
	if want.GetErr == nil && got.GetErr != nil || want.GetErr != nil && !errors.Is(got.GetErr, want.GetErr) {
		t.Errorf("%s: Get error = %v, want %v", what, got.GetErr, want.GetErr)
	}
}

// Pin (mapWithState, State.scala): a timed-out key gets one final call with
// value None and IsTimingOut true (its state still readable), its output
// is emitted, and its state is then gone: new data for it starts from no
// state. A key that received data but never got a state gets no final
// call.
func TestMapWithStateTimingOutCall(t *testing.T) {
	h := newHarness(t, time.Second, WithParallelism(2))
	q := NewQueue[Pair[string, int]]()
	var mu sync.Mutex
	views := map[string][]stView{} // "ms key" -> views in call order
	spec := StateSpec[string, int, int, string]{
		Timeout: 2 * time.Second,
		Func: func(bt time.Time, key string, v Optional[int], st *State[int]) (string, bool) {
			mu.Lock()
			id := fmt.Sprintf("%d %s", bt.UnixMilli(), key)
			views[id] = append(views[id], stViewOf(st, v))
			mu.Unlock()
			if st.IsTimingOut() {
				g, _ := st.Get()
				return fmt.Sprintf("bye %s=%d", key, g), true
			}
			if key != "x" { // x never gets a state
				if err := st.Update(v.Value); err != nil {
					panic(err)
				}
			}
			return "", false
		},
	}
	ms := MapWithState(QueueStream(h.ssc, q), spec)
	out := collect(t, ms.Stream)
	snaps := collect(t, ms.StateSnapshots())
	h.start()
	script := map[int]string{1: "k7 x1", 9: "m1", 12: "k3"}
	for k := 1; k <= 21; k++ {
		stPush(q, stScriptAt(script, k))
		h.step()
	}
	want := map[string][]stView{
		"1000 k":  {{Value: Some(7), GetErr: ErrNoState}},
		"1000 x":  {{Value: Some(1), GetErr: ErrNoState}},
		"9000 m":  {{Value: Some(1), GetErr: ErrNoState}},
		"10000 k": {{Value: None[int](), Exists: true, Get: 7, Opt: Some(7), TimingOut: true}},
		"12000 k": {{Value: Some(3), GetErr: ErrNoState}},
		"20000 k": {{Value: None[int](), Exists: true, Get: 3, Opt: Some(3), TimingOut: true}},
		"20000 m": {{Value: None[int](), Exists: true, Get: 1, Opt: Some(1), TimingOut: true}},
	}
	mu.Lock()
	defer mu.Unlock()
	for id, w := range want {
		g := views[id]
		if len(g) != len(w) {
			t.Errorf("%s: %d calls, want %d (%+v)", id, len(g), len(w), g)
			continue
		}
		for i := range w {
			stCheckView(t, fmt.Sprintf("%s call %d", id, i), g[i], w[i])
		}
	}
	for id, g := range views {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected call %s: %+v", id, g)
		}
	}
	for _, c := range []struct {
		k    int
		out  []string
		snap []string
	}{
		{1, []string{}, []string{"k=7"}},
		{9, []string{}, []string{"k=7", "m=1"}},
		{10, []string{"bye k=7"}, []string{"m=1"}},
		{11, []string{}, []string{"m=1"}},
		{12, []string{}, []string{"k=3", "m=1"}},
		{20, []string{"bye k=3", "bye m=1"}, []string{}},
		{21, []string{}, []string{}},
	} {
		got, _ := out.at(h.ms(c.k))
		if g := stSorted(got); !slices.Equal(g, c.out) {
			t.Errorf("batch %d: mapped output = %q, want %q", c.k, g, c.out)
		}
		snap, _ := snaps.at(h.ms(c.k))
		if g := stPairs(snap); !slices.Equal(g, c.snap) {
			t.Errorf("batch %d: snapshot = %q, want %q", c.k, g, c.snap)
		}
	}
}

// Pin (mapWithState, State.scala): Update or Remove on a timing-out state,
// and Update or Remove after Remove, are errors: the call returns
// ErrStateTimingOut / ErrStateRemoved, and the batch fails (even if the
// function ignores the error) with a *BatchError that AwaitTermination
// returns; the failed batch produces no output.
func TestMapWithStateMisuseFailsBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		script  map[int]string
		// act makes the state calls for a call at batch k, returning their errors.
		act    func(k int, v Optional[int], st *State[int]) []error
		failAt int
		want   []error // errors returned by the calls of the failing call
		werr   error
	}{
		{
			name: "Update while timing out", timeout: time.Second, script: map[int]string{1: "a1"},
			act: func(k int, v Optional[int], st *State[int]) []error {
				if st.IsTimingOut() {
					return []error{st.Update(9)}
				}
				return []error{st.Update(v.Value)}
			},
			failAt: 10, want: []error{ErrStateTimingOut}, werr: ErrStateTimingOut,
		},
		{
			name: "Remove while timing out", timeout: time.Second, script: map[int]string{1: "a1"},
			act: func(k int, v Optional[int], st *State[int]) []error {
				if st.IsTimingOut() {
					return []error{st.Remove()}
				}
				return []error{st.Update(v.Value)}
			},
			failAt: 10, want: []error{ErrStateTimingOut}, werr: ErrStateTimingOut,
		},
		{
			name: "Update after Remove of a new key", script: map[int]string{1: "a1"},
			act: func(k int, v Optional[int], st *State[int]) []error {
				return []error{st.Remove(), st.Update(2)}
			},
			failAt: 1, want: []error{nil, ErrStateRemoved}, werr: ErrStateRemoved,
		},
		{
			name: "Update after Remove of an existing key", script: map[int]string{1: "a1", 2: "a2"},
			act: func(k int, v Optional[int], st *State[int]) []error {
				if k == 1 {
					return []error{st.Update(v.Value)}
				}
				return []error{st.Remove(), st.Update(2)}
			},
			failAt: 2, want: []error{nil, ErrStateRemoved}, werr: ErrStateRemoved,
		},
		{
			name: "Remove after Remove", script: map[int]string{1: "a1", 2: "a2"},
			act: func(k int, v Optional[int], st *State[int]) []error {
				if k == 1 {
					return []error{st.Update(v.Value)}
				}
				return []error{st.Remove(), st.Remove()}
			},
			failAt: 2, want: []error{nil, ErrStateRemoved}, werr: ErrStateRemoved,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithParallelism(2))
			q := NewQueue[Pair[string, int]]()
			var mu sync.Mutex
			got := map[int][]error{}
			ms := MapWithState(QueueStream(h.ssc, q), StateSpec[string, int, int, string]{
				Timeout: tc.timeout,
				Func: func(bt time.Time, key string, v Optional[int], st *State[int]) (string, bool) {
					k := int(bt.UnixMilli() / 1000)
					errs := tc.act(k, v, st) // errors deliberately ignored by the function
					mu.Lock()
					got[k] = errs
					mu.Unlock()
					return fmt.Sprintf("%s@%d", key, k), true
				},
			})
			out := collect(t, ms.Stream)
			h.start()
			for k := 1; k < tc.failAt; k++ {
				stPush(q, stScriptAt(tc.script, k))
				h.step()
			}
			stPush(q, stScriptAt(tc.script, tc.failAt))
			err := h.stepErr()
			wantMs := h.ms(tc.failAt)
			be := stCheckBatchErr(t, "stepErr", err, wantMs, tc.werr)
			if be.Op != ms.Name() {
				t.Errorf("BatchError.Op = %q, want %q", be.Op, ms.Name())
			}
			mu.Lock()
			g := got[tc.failAt]
			mu.Unlock()
			if len(g) != len(tc.want) {
				t.Fatalf("state calls at batch %d returned %v, want %v", tc.failAt, g, tc.want)
			}
			for i := range g {
				if (tc.want[i] == nil) != (g[i] == nil) || !errors.Is(g[i], tc.want[i]) {
					t.Errorf("state call %d at batch %d returned %v, want %v", i, tc.failAt, g[i], tc.want[i])
				}
			}
			stCheckBatchErr(t, "AwaitTermination", stAwait(t, h), wantMs, tc.werr)
			if s := h.ssc.State(); s != StateStopped {
				t.Errorf("context state after the failed batch = %v, want %v", s, StateStopped)
			}
			if b, ok := out.at(wantMs); ok {
				t.Errorf("failed batch %d produced output %q", tc.failAt, b)
			}
			if tc.failAt > 1 {
				if _, ok := out.at(h.ms(tc.failAt - 1)); !ok {
					t.Errorf("batch %d before the failure produced no output", tc.failAt-1)
				}
			}
		})
	}
}

// stScriptAt returns the script entry for batch k, or stNoBatch.
func stScriptAt(script map[int]string, k int) string {
	if s, ok := script[k]; ok {
		return s
	}
	return stNoBatch
}

// Pin (mapWithState, State.scala): Get on a missing state returns
// ErrNoState, GetOption None, Exists false; after Update the new value is
// visible in the same call and to the key's next element; after Remove
// the state reads as missing again, and stays missing in the next batch.
func TestMapWithStateMissingState(t *testing.T) {
	h := newHarness(t, time.Second, WithParallelism(2))
	q := NewQueue[Pair[string, int]]()
	var mu sync.Mutex
	views := map[string][]stView{} // "batch key step" -> views
	see := func(id string, st *State[int], v Optional[int]) {
		mu.Lock()
		views[id] = append(views[id], stViewOf(st, v))
		mu.Unlock()
	}
	ms := MapWithState(QueueStream(h.ssc, q), StateSpec[string, int, int, int]{
		Func: func(bt time.Time, key string, v Optional[int], st *State[int]) (int, bool) {
			id := fmt.Sprintf("%d %s", bt.UnixMilli()/1000, key)
			see(id+" before", st, v)
			switch {
			case v.Value < 0:
				if err := st.Remove(); err != nil {
					panic(err)
				}
			case v.Value > 0:
				if err := st.Update(v.Value * 10); err != nil {
					panic(err)
				}
			}
			see(id+" after", st, v)
			return 0, false
		},
	})
	collect(t, ms.Stream)
	h.start()
	for _, in := range []string{"a1 a2", "a-1", "a0"} {
		q.Push(stIn(in))
		h.step()
	}
	missing := func(v int) stView { return stView{Value: Some(v), GetErr: ErrNoState} }
	has := func(v, s int) stView { return stView{Value: Some(v), Exists: true, Get: s, Opt: Some(s)} }
	want := map[string][]stView{
		"1 a before": {missing(1), has(2, 10)},
		"1 a after":  {has(1, 10), has(2, 20)},
		"2 a before": {has(-1, 20)},
		"2 a after":  {missing(-1)},
		"3 a before": {missing(0)},
		"3 a after":  {missing(0)},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(views) != len(want) {
		t.Errorf("recorded %d call points, want %d: %+v", len(views), len(want), views)
	}
	for id, w := range want {
		g := views[id]
		if len(g) != len(w) {
			t.Errorf("%s: %d calls, want %d (%+v)", id, len(g), len(w), g)
			continue
		}
		for i := range w {
			stCheckView(t, fmt.Sprintf("%s #%d", id, i), g[i], w[i])
		}
	}
}

// Pin (mapWithState): StateSnapshots streams all (key, state) pairs after
// every batch, including keys without data in that batch and batches
// without input; the InitialState is in the first snapshot; snapshots and
// mapped output have StateSpec.Partitions partitions.
func TestMapWithStateSnapshots(t *testing.T) {
	h := newHarness(t, time.Second, WithParallelism(2))
	q := NewQueue[Pair[string, int]]()
	rec := newMwsRec()
	ms := MapWithState(QueueStream(h.ssc, q), StateSpec[string, int, int, string]{
		Func:         stSumFunc(rec),
		InitialState: []Pair[string, int]{KV("y", 10), KV("z", 100)},
		Partitions:   3,
	})
	out := collect(t, ms.Stream)
	if first, second := ms.StateSnapshots(), ms.StateSnapshots(); first != second {
		t.Errorf("StateSnapshots returned different streams")
	}
	snaps := collect(t, ms.StateSnapshots())
	h.start()
	steps := []struct {
		in    string
		calls map[string][]string
		snap  []string
	}{
		{stNoBatch, map[string][]string{}, []string{"y=10", "z=100"}},
		{"a1 y5", map[string][]string{"a": {"Some(1) -"}, "y": {"Some(5) 10"}}, []string{"a=1", "y=15", "z=100"}},
		{"b2", map[string][]string{"b": {"Some(2) -"}}, []string{"a=1", "b=2", "y=15", "z=100"}},
		{stNoBatch, map[string][]string{}, []string{"a=1", "b=2", "y=15", "z=100"}},
		{"", map[string][]string{}, []string{"a=1", "b=2", "y=15", "z=100"}},
	}
	var wantSeen []int64
	for i, s := range steps {
		k := i + 1
		stPush(q, s.in)
		h.step()
		wantSeen = append(wantSeen, h.ms(k))
		if got := rec.at(h.ms(k)); !stEqualCalls(got, s.calls) {
			t.Errorf("batch %d: calls = %q, want %q", k, got, s.calls)
		}
		snap, ok := snaps.at(h.ms(k))
		if !ok {
			t.Errorf("batch %d: no snapshot, want %q", k, s.snap)
			continue
		}
		if g := stPairs(snap); !slices.Equal(g, s.snap) {
			t.Errorf("batch %d: snapshot = %q, want %q", k, g, s.snap)
		}
		if n := stParts(snaps, h.ms(k)); n != 3 {
			t.Errorf("batch %d: snapshot has %d partitions, want 3", k, n)
		}
		if n := stParts(out, h.ms(k)); n != 3 {
			t.Errorf("batch %d: mapped output has %d partitions, want 3", k, n)
		}
	}
	if got := snaps.seen(); !slices.Equal(got, wantSeen) {
		t.Errorf("snapshot batch times = %v, want %v", got, wantSeen)
	}
}

// Pin (mapWithState): a removed state disappears from the snapshots (and
// new data for it starts from no state); the mapped stream holds exactly
// the values the function returned with ok == true, and an (empty) batch
// every batch.
func TestMapWithStateRemoveAndOutput(t *testing.T) {
	h := newHarness(t, time.Second, WithParallelism(2))
	q := NewQueue[Pair[string, int]]()
	ms := MapWithState(QueueStream(h.ssc, q), StateSpec[string, int, int, string]{
		Func: func(_ time.Time, key string, v Optional[int], st *State[int]) (string, bool) {
			switch {
			case v.Value > 0:
				prev, _ := st.Get()
				if err := st.Update(prev + v.Value); err != nil {
					panic(err)
				}
				return fmt.Sprintf("%s=%d", key, prev+v.Value), true
			case v.Value == 0:
				if err := st.Remove(); err != nil {
					panic(err)
				}
				return key + " removed", true
			}
			return "dropped " + key, false // ok == false: not in the output
		},
	})
	out := collect(t, ms.Stream)
	snaps := collect(t, ms.StateSnapshots())
	h.start()
	for i, s := range []struct {
		in   string
		out  []string
		snap []string
	}{
		{"a1 b2 a3 c-1", []string{"a=1", "a=4", "b=2"}, []string{"a=4", "b=2"}},
		{"a0 b-5", []string{"a removed"}, []string{"b=2"}},
		{"a7 c-2", []string{"a=7"}, []string{"a=7", "b=2"}},
		{stNoBatch, []string{}, []string{"a=7", "b=2"}},
		{"b0 a0 c0", []string{"a removed", "b removed", "c removed"}, []string{}},
		{"c5", []string{"c=5"}, []string{"c=5"}},
	} {
		k := i + 1
		stPush(q, s.in)
		h.step()
		got, ok := out.at(h.ms(k))
		if !ok {
			t.Errorf("batch %d: no mapped batch", k)
		}
		if g := stSorted(got); !slices.Equal(g, s.out) {
			t.Errorf("batch %d (input %q): mapped output = %q, want %q", k, s.in, g, s.out)
		}
		snap, _ := snaps.at(h.ms(k))
		if g := stPairs(snap); !slices.Equal(g, s.snap) {
			t.Errorf("batch %d (input %q): snapshot = %q, want %q", k, s.in, g, s.snap)
		}
	}
}

// Pin (StateSpec validation): a negative Timeout, a Timeout that is not a
// whole number of milliseconds, negative Partitions and a nil Func are
// BuildErrors (ErrInvalidDuration / ErrInvalidOption / ErrNilFunc)
// reported by the stream, its snapshots, its output operations and Start;
// nothing panics. Zero Timeout and Partitions are valid.
func TestMapWithStateBuildErrors(t *testing.T) {
	f := func(time.Time, string, Optional[int], *State[int]) (int, bool) { return 0, false }
	for _, tc := range []struct {
		name string
		spec StateSpec[string, int, int, int]
		want error // nil: valid
	}{
		{"negative Timeout", StateSpec[string, int, int, int]{Func: f, Timeout: -time.Second}, ErrInvalidDuration},
		{"Timeout of 1500us", StateSpec[string, int, int, int]{Func: f, Timeout: 1500 * time.Microsecond}, ErrInvalidDuration},
		{"Timeout of 1ns", StateSpec[string, int, int, int]{Func: f, Timeout: time.Nanosecond}, ErrInvalidDuration},
		{"negative Partitions", StateSpec[string, int, int, int]{Func: f, Partitions: -1}, ErrInvalidOption},
		{"nil Func", StateSpec[string, int, int, int]{Timeout: time.Second}, ErrNilFunc},
		{"zero Timeout and Partitions are valid", StateSpec[string, int, int, int]{Func: f}, nil},
		{"Timeout of 1ms is valid", StateSpec[string, int, int, int]{Func: f, Timeout: time.Millisecond, Partitions: 1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithParallelism(2))
			ms := MapWithState(QueueStream(h.ssc, NewQueue[Pair[string, int]]()), tc.spec)
			snaps := ms.StateSnapshots()
			noop := func(context.Context, *Batch[int]) error { return nil }
			if tc.want == nil {
				mustNoErr(t, ms.Err(), "Err")
				mustNoErr(t, snaps.Err(), "StateSnapshots().Err")
				mustNoErr(t, ms.ForEachBatch(noop), "ForEachBatch")
				mustNoErr(t, h.ssc.Start(), "Start")
				return
			}
			for _, c := range []struct {
				what string
				err  error
			}{{"Err", ms.Err()}, {"StateSnapshots().Err", snaps.Err()}, {"ForEachBatch", ms.ForEachBatch(noop)}} {
				var be *BuildError
				if !errors.As(c.err, &be) {
					t.Errorf("%s = %v (%T), want a *BuildError", c.what, c.err, c.err)
					continue
				}
				if be.Op != "mapWithState" {
					t.Errorf("%s: BuildError.Op = %q, want %q", c.what, be.Op, "mapWithState")
				}
				if !errors.Is(c.err, tc.want) {
					t.Errorf("%s = %v, want it to wrap %v", c.what, c.err, tc.want)
				}
			}
			// Start reports it even when a valid output exists.
			valid := MapWithState(QueueStream(h.ssc, NewQueue[Pair[string, int]]()), StateSpec[string, int, int, int]{Func: f})
			mustNoErr(t, valid.ForEachBatch(noop), "ForEachBatch on a valid stream")
			err := h.ssc.Start()
			var be *BuildError
			if !errors.Is(err, tc.want) || !errors.As(err, &be) {
				t.Errorf("Start = %v, want a *BuildError wrapping %v", err, tc.want)
			}
			if s := h.ssc.State(); s != StateInitialized {
				t.Errorf("state after a failed Start = %v, want %v", s, StateInitialized)
			}
		})
	}
}

// Pin (BatchError/PanicError for state functions): a panic in an update or
// mapping function fails its batch with a *PanicError inside a
// *BatchError, returned by AwaitTermination, and the process survives.
func TestStateFuncPanicFailsBatch(t *testing.T) {
	errBoom := errors.New("boom error")
	for _, tc := range []struct {
		name   string
		script map[int]string
		build  func(h *harness, s *Stream[Pair[string, int]])
		failAt int
		value  any // the panic value
	}{
		{
			name: "updateStateByKey, with data", script: map[int]string{1: "a1 b2"}, failAt: 1, value: "boom",
			build: func(h *harness, s *Stream[Pair[string, int]]) {
				st := UpdateStateByKey(s, func(values []int, prev *int) (int, bool) {
					if len(values) > 0 && values[0] == 2 {
						panic("boom")
					}
					return 0, true
				})
				collect(h.t, st)
			},
		},
		{
			name: "updateStateByKey, with empty values", script: map[int]string{1: "a1"}, failAt: 2, value: errBoom,
			build: func(h *harness, s *Stream[Pair[string, int]]) {
				st := UpdateStateByKey(s, func(values []int, prev *int) (int, bool) {
					if len(values) == 0 {
						panic(errBoom)
					}
					return 0, true
				})
				collect(h.t, st)
			},
		},
		{
			name: "mapWithState, with data", script: map[int]string{1: "a1", 2: "b2"}, failAt: 2, value: "boom",
			build: func(h *harness, s *Stream[Pair[string, int]]) {
				ms := MapWithState(s, StateSpec[string, int, int, int]{Func: func(_ time.Time, key string, v Optional[int], st *State[int]) (int, bool) {
					if key == "b" {
						panic("boom")
					}
					return v.Value, true
				}})
				collect(h.t, ms.Stream)
			},
		},
		{
			name: "mapWithState, timing out", script: map[int]string{1: "a1"}, failAt: 10, value: errBoom,
			build: func(h *harness, s *Stream[Pair[string, int]]) {
				ms := MapWithState(s, StateSpec[string, int, int, int]{Timeout: time.Second, Func: func(_ time.Time, key string, v Optional[int], st *State[int]) (int, bool) {
					if st.IsTimingOut() {
						panic(errBoom)
					}
					_ = st.Update(v.Value)
					return v.Value, true
				}})
				collect(h.t, ms.StateSnapshots())
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithParallelism(2))
			q := NewQueue[Pair[string, int]]()
			tc.build(h, QueueStream(h.ssc, q))
			h.start()
			for k := 1; k < tc.failAt; k++ {
				stPush(q, stScriptAt(tc.script, k))
				h.step()
			}
			stPush(q, stScriptAt(tc.script, tc.failAt))
			wantMs := h.ms(tc.failAt)
			stepErr := h.stepErr()
			stCheckBatchErr(t, "stepErr", stepErr, wantMs, nil) // fatal if the batch did not fail
			for _, c := range []struct {
				what string
				err  error
			}{{"stepErr", stepErr}, {"AwaitTermination", stAwait(t, h)}} {
				stCheckBatchErr(t, c.what, c.err, wantMs, nil)
				var pe *PanicError
				if !errors.As(c.err, &pe) {
					t.Errorf("%s: %v has no *PanicError", c.what, c.err)
					continue
				}
				if pe.Value != tc.value {
					t.Errorf("%s: PanicError.Value = %v, want %v", c.what, pe.Value, tc.value)
				}
				if len(pe.Stack) == 0 {
					t.Errorf("%s: PanicError.Stack is empty", c.what)
				}
				if err, ok := tc.value.(error); ok && !errors.Is(c.err, err) {
					t.Errorf("%s: %v does not wrap the panicked error", c.what, c.err)
				}
			}
		})
	}
}

// A stateful stream computes each batch time exactly once: asking for a
// past batch (Slice) returns it only if it is still kept, and never
// applies that batch to the state again.
func TestStatefulStreamSliceDoesNotRecompute(t *testing.T) {
	// Slice at batch 24 and check that batch 25 still adds up.
	const batches, sliceAt = 25, 24
	kept := func(from int) []int64 {
		var out []int64
		for k := from; k <= sliceAt; k++ {
			out = append(out, int64(k)*1000)
		}
		return out
	}
	for _, tc := range []struct {
		remember time.Duration
		want     []int64 // batch times Slice(1 s, 24 s) returns at batch 24
	}{
		// Not kept: only the latest batch, read from the state.
		{0, kept(sliceAt)},
		// Kept for twice the checkpoint interval (Spark's rule; 10 s here)
		// whatever remember asks for: 4 s to 24 s. Older ones are gone and
		// must not be computed again.
		{2 * time.Second, kept(4)},
	} {
		t.Run(tc.remember.String(), func(t *testing.T) {
			h := newHarness(t, time.Second, WithRemember(tc.remember))
			q := NewQueue[Pair[string, int]]()
			for range batches {
				q.Push([]Pair[string, int]{KV("k", 1)})
			}
			var calls int
			totals := UpdateStateByKey(QueueStream(h.ssc, q), func(vs []int, s *int) (int, bool) {
				calls++
				n := len(vs)
				if s != nil {
					n += *s
				}
				return n, true
			})
			var sliced []int64
			var slicedTotals []int
			mustNoErr(t, totals.ForEachBatch(func(_ context.Context, b *Batch[Pair[string, int]]) error {
				if b.Time.UnixMilli() != sliceAt*1000 {
					return nil
				}
				bs, err := totals.Slice(time.UnixMilli(1000), b.Time)
				for _, b := range bs {
					sliced = append(sliced, b.Time.UnixMilli())
					slicedTotals = append(slicedTotals, b.Collect()[0].Value)
				}
				return err
			}), "ForEachBatch")
			k := collect(t, totals)
			h.start()
			h.steps(batches)
			if !slices.Equal(sliced, tc.want) {
				t.Fatalf("Slice found %v, want %v", sliced, tc.want)
			}
			for i, ms := range sliced {
				if want := int(ms / 1000); slicedTotals[i] != want {
					t.Errorf("sliced batch %d ms has total %d, want %d", ms, slicedTotals[i], want)
				}
			}
			if calls != batches {
				t.Fatalf("update called %d times for %d batches of one key, want %d", calls, batches, batches)
			}
			if got, _ := k.at(batches * 1000); len(got) != 1 || got[0].Value != batches {
				t.Fatalf("total after %d batches = %v, want (k,%d)", batches, got, batches)
			}
		})
	}
}

// An initial state or a state filter of other types than the stream's
// does not compile.
func TestWrongTypesDoNotCompile(t *testing.T) {
	testtool.MustNotCompile(t, "testdata/wrongtype", "int64")
}

// WithInitialState after Start, and on a stream that takes none, are
// build errors.
func TestWithInitialStateMisuse(t *testing.T) {
	h := newHarness(t, time.Second)
	in := QueueStream(h.ssc, NewQueue[Pair[string, int]]())
	sum := func(vs []int, st *int) (int, bool) { return len(vs), true }
	if err := ReduceByKey(in, func(a, b int) int { return a + b }).WithInitialState([]Pair[string, int]{KV("a", 1)}).Err(); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("WithInitialState on ReduceByKey: Err = %v, want ErrInvalidOption", err)
	}
	h = newHarness(t, time.Second)
	st := UpdateStateByKey(QueueStream(h.ssc, NewQueue[Pair[string, int]]()), sum)
	mustNoErr(t, st.Print(), "Print")
	h.start()
	if err := st.WithInitialState([]Pair[string, int]{KV("a", 1)}).Err(); !errors.Is(err, ErrContextStarted) {
		t.Errorf("WithInitialState after Start: Err = %v, want ErrContextStarted", err)
	}
}
