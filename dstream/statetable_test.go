package dstream

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// checkTable verifies t's invariants against want, the keys and states
// it must hold (and their times, if timed): the counts, every key found
// where a probe from its home reaches it without crossing an empty slot,
// no key twice, and the slots that are not full zeroed.
func checkTable[K comparable, S comparable](tb testing.TB, t *stateTable[K, S], want map[K]S, times map[K]int64) {
	tb.Helper()
	if t.len() != len(want) {
		tb.Fatalf("len() = %d, want %d", t.len(), len(want))
	}
	n := len(t.ctrl)
	if len(t.slots) != n || (t.timed && len(t.times) != n) || (!t.timed && t.times != nil) {
		tb.Fatalf("%d control bytes, %d slots, %d times (timed %v)", n, len(t.slots), len(t.times), t.timed)
	}
	if n > 0 && (t.used > t.limit || t.limit >= n) {
		tb.Fatalf("used %d, limit %d, capacity %d", t.used, t.limit, n)
	}
	full, used := 0, 0
	seen := map[K]bool{}
	for i, c := range t.ctrl {
		if c == slotEmpty {
			continue
		}
		used++
		if c&slotFull == 0 {
			if c != slotDeleted {
				tb.Fatalf("slot %d: control byte %#x", i, c)
			}
			if t.slots[i] != (stateSlot[K, S]{}) {
				tb.Fatalf("deleted slot %d holds %v", i, t.slots[i])
			}
			continue
		}
		full++
		k := t.slots[i].key
		h := t.hash(k)
		if c != fingerprint(h) {
			tb.Fatalf("slot %d: control byte %#x, want %#x", i, c, fingerprint(h))
		}
		for p := t.home(h); p != i; p = (p + 1) % n {
			if t.ctrl[p] == slotEmpty {
				tb.Fatalf("key %v in slot %d, beyond the empty slot %d of its probe", k, i, p)
			}
		}
		if seen[k] {
			tb.Fatalf("key %v twice", k)
		}
		seen[k] = true
		v, ok := want[k]
		if !ok || v != t.slots[i].val {
			tb.Fatalf("key %v has %v, want %v (present %v)", k, t.slots[i].val, v, ok)
		}
		if t.timed && t.times[i] != times[k] {
			tb.Fatalf("key %v at time %d, want %d", k, t.times[i], times[k])
		}
	}
	if full != t.live || used != t.used {
		tb.Fatalf("%d full and %d used slots, counted %d and %d", full, used, t.live, t.used)
	}
	for k, v := range want {
		if got, ok := t.get(k); !ok || got != v {
			tb.Fatalf("get(%v) = %v, %v; want %v", k, got, ok, v)
		}
	}
	for i := range t.ctrl {
		if t.ctrl[i] == slotEmpty && t.slots[i] != (stateSlot[K, S]{}) {
			tb.Fatalf("empty slot %d holds %v", i, t.slots[i])
		}
	}
}

// stateTableOp is a step of a table test: 's' sets key to val, 'r'
// removes key.
type stateTableOp struct {
	kind byte
	key  int
	val  string
}

// TestStateTable pins the table's behaviour on scripted operations.
func TestStateTable(t *testing.T) {
	cases := []struct {
		name  string
		ops   []stateTableOp
		cap   int // capacity after the ops (0: do not check)
		check func(t *testing.T, tab *stateTable[int, string])
	}{
		{name: "empty", cap: 0, check: func(t *testing.T, tab *stateTable[int, string]) {
			if _, ok := tab.get(1); ok {
				t.Error("get on an empty table found a key")
			}
			if i, ok := tab.find(tab.hash(1), 1); i != -1 || ok {
				t.Errorf("find on an empty table = %d, %v; want -1, false", i, ok)
			}
			tab.remove(1) // no-op
		}},
		{name: "set and overwrite", ops: []stateTableOp{{'s', 1, "a"}, {'s', 2, "b"}, {'s', 1, "c"}}, cap: stateTableMinCap},
		{name: "remove absent and present", ops: []stateTableOp{{'s', 1, "a"}, {'r', 2, ""}, {'r', 1, ""}, {'r', 1, ""}}, cap: stateTableMinCap},
		{name: "remove then set again", ops: []stateTableOp{{'s', 1, "a"}, {'r', 1, ""}, {'s', 1, "b"}}},
		{name: "fills to the limit without growing", ops: setOps(6), cap: 8, check: func(t *testing.T, tab *stateTable[int, string]) {
			if tab.limit != 6 {
				t.Errorf("limit %d, want 6", tab.limit)
			}
		}},
		{name: "grows by half past the limit", ops: setOps(7), cap: 12},
		{name: "grows again", ops: setOps(10), cap: 18},
		{name: "many keys", ops: setOps(10000)},
		{name: "many keys removed", ops: append(setOps(1000), removeOps(1000)...), check: func(t *testing.T, tab *stateTable[int, string]) {
			if tab.used != 0 {
				t.Errorf("%d used slots after removing every key, want 0 (no tombstones left)", tab.used)
			}
		}},
		// 5 keys over the limit's half of 8 slots (3) grow the table to 12,
		// then 18, where the tombstones of the churn are cleaned in place.
		{name: "tombstones are cleaned at the same capacity", ops: churnOps(5, 500), cap: 18},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := newStateTable[int, string](maphash.MakeSeed(), false)
			want := map[int]string{}
			for _, o := range tc.ops {
				switch o.kind {
				case 's':
					tab.set(o.key, o.val, 0)
					want[o.key] = o.val
				case 'r':
					tab.remove(o.key)
					delete(want, o.key)
				}
				if len(tc.ops) < 2000 {
					checkTable(t, tab, want, nil)
				}
			}
			checkTable(t, tab, want, nil)
			if tc.cap != 0 && len(tab.ctrl) != tc.cap {
				t.Errorf("capacity %d, want %d", len(tab.ctrl), tc.cap)
			}
			if tc.check != nil {
				tc.check(t, tab)
			}
		})
	}
}

func setOps(n int) []stateTableOp {
	var ops []stateTableOp
	for i := range n {
		ops = append(ops, stateTableOp{'s', i, fmt.Sprint(i)})
	}
	return ops
}

func removeOps(n int) []stateTableOp {
	ops := setOps(n)
	for i := range ops {
		ops[i].kind, ops[i].val = 'r', ""
	}
	return ops
}

// churnOps keeps live keys at a time while inserting and removing
// rounds of fresh ones: deletions leave tombstones, which the table must
// clean without growing.
func churnOps(live, rounds int) []stateTableOp {
	var ops []stateTableOp
	for r := range rounds {
		ops = append(ops, stateTableOp{'s', r, "x"})
		if r >= live {
			ops = append(ops, stateTableOp{'r', r - live, ""})
		}
	}
	return ops
}

// TestStateTableTimes: a timed table keeps each key's time through
// overwrites and growth; an untimed one keeps none.
func TestStateTableTimes(t *testing.T) {
	tab := newStateTable[string, int](maphash.MakeSeed(), true)
	want, times := map[string]int{}, map[string]int64{}
	for i := range 100 {
		k := fmt.Sprint("k", i%40)
		tab.set(k, i, int64(i))
		want[k], times[k] = i, int64(i)
		checkTable(t, tab, want, times)
	}
	untimed := newStateTable[string, int](maphash.MakeSeed(), false)
	untimed.set("a", 1, 5)
	if untimed.times != nil {
		t.Errorf("an untimed table keeps times: %v", untimed.times)
	}
}

// TestStateTableDeleteDuringScan: deleting the slot a scan in slot order
// is at, as MapWithState's timeout scan does, leaves the slots ahead
// untouched, so every key is visited once.
func TestStateTableDeleteDuringScan(t *testing.T) {
	for _, n := range []int{5, 6, 7, 50, 1000} {
		tab := newStateTable[int, int](maphash.MakeSeed(), true)
		for k := range n {
			tab.set(k, k, int64(k))
		}
		visited := map[int]int{}
		for i, c := range tab.ctrl {
			if c&slotFull == 0 {
				continue
			}
			k := tab.slots[i].key
			visited[k]++
			if tab.times[i] < int64(n/2) {
				tab.deleteAt(i)
			}
		}
		want, times := map[int]int{}, map[int]int64{}
		for k := range n {
			if visited[k] != 1 {
				t.Fatalf("%d keys: key %d visited %d times", n, k, visited[k])
			}
			if k >= n/2 {
				want[k], times[k] = k, int64(k)
			}
		}
		checkTable(t, tab, want, times)
	}
}

// TestStateTableDeleteWraps: deleting at the last slot looks at the
// first one, and cleaning tombstones runs backwards across the start.
func TestStateTableDeleteWraps(t *testing.T) {
	tab := newStateTable[int, int](maphash.MakeSeed(), false)
	tab.rehash(1) // capacity 8, all empty
	n := len(tab.ctrl)
	// Put keys at the slots n-2, n-1 and 0 by hand, all of home n-2, as
	// if they had collided there.
	var keys []int
	for k := 0; len(keys) < 3; k++ {
		if tab.home(tab.hash(k)) == n-2 {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		h := tab.hash(k)
		i, ok := tab.find(h, k)
		if ok {
			t.Fatalf("key %d found before its insertion", k)
		}
		tab.insert(i, h, k, k, 0)
	}
	if got := []uint8{tab.ctrl[n-2], tab.ctrl[n-1], tab.ctrl[0]}; slices.Contains(got, slotEmpty) {
		t.Fatalf("slots n-2, n-1, 0 = %v, want all full", got)
	}
	tab.remove(keys[1]) // slot n-1: slot 0 is full, so a tombstone
	if tab.ctrl[n-1] != slotDeleted {
		t.Fatalf("slot n-1 is %#x, want a tombstone", tab.ctrl[n-1])
	}
	checkTable(t, tab, map[int]int{keys[0]: keys[0], keys[2]: keys[2]}, nil)
	tab.remove(keys[2]) // slot 0: slot 1 is empty, so slot 0 and the tombstone at n-1 empty
	if tab.ctrl[0] != slotEmpty || tab.ctrl[n-1] != slotEmpty || tab.used != 1 {
		t.Fatalf("slots 0 and n-1 = %#x, %#x, used %d; want both empty, 1 used", tab.ctrl[0], tab.ctrl[n-1], tab.used)
	}
	checkTable(t, tab, map[int]int{keys[0]: keys[0]}, nil)
}

// TestStateTableNaN: like a Go map, a table never finds a NaN key, so
// each set of one adds a key.
func TestStateTableNaN(t *testing.T) {
	tab := newStateTable[float64, int](maphash.MakeSeed(), false)
	m := map[float64]int{}
	for i := range 3 {
		tab.set(math.NaN(), i, 0)
		m[math.NaN()] = i
	}
	tab.set(0, 1, 0)
	tab.set(math.Copysign(0, -1), 2, 0) // -0 == +0
	m[0] = 1
	m[math.Copysign(0, -1)] = 2
	if tab.len() != len(m) {
		t.Errorf("len() = %d, a map has %d", tab.len(), len(m))
	}
	if v, ok := tab.get(0); !ok || v != 2 {
		t.Errorf("get(0) = %d, %v; want 2 (set through -0)", v, ok)
	}
}

// TestStateTableZeroSize: keys and states of no size work.
func TestStateTableZeroSize(t *testing.T) {
	zero := newStateTable[struct{}, struct{}](maphash.MakeSeed(), false)
	zero.set(struct{}{}, struct{}{}, 0)
	zero.set(struct{}{}, struct{}{}, 0)
	if _, ok := zero.get(struct{}{}); !ok || zero.len() != 1 {
		t.Errorf("zero-size key: get = %v, len %d", ok, zero.len())
	}
	zero.remove(struct{}{})
	checkTable(t, zero, map[struct{}]struct{}{}, nil)
}

// FuzzStateTable runs random sequences of sets, removals and lookups
// (of a small key space, so that keys collide and tombstones pile up)
// against a Go map.
func FuzzStateTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 1, 2, 2})
	f.Add(slices.Repeat([]byte{0, 7, 1, 7}, 50))
	f.Add(binary.LittleEndian.AppendUint64(nil, 0x0123456789abcdef))
	f.Fuzz(func(t *testing.T, ops []byte) {
		tab := newStateTable[uint16, int](maphash.MakeSeed(), true)
		want, times := map[uint16]int{}, map[uint16]int64{}
		for i := 0; i+1 < len(ops); i += 2 {
			k := uint16(ops[i+1]) % 97
			if ops[i]&0x80 != 0 {
				k = uint16(ops[i+1]) | uint16(ops[i])<<8 // a wider key space too
			}
			switch ops[i] % 4 {
			case 0, 1:
				tab.set(k, i, int64(i))
				want[k], times[k] = i, int64(i)
			case 2:
				tab.remove(k)
				delete(want, k)
			case 3:
				got, ok := tab.get(k)
				if w, wok := want[k]; ok != wok || got != w {
					t.Fatalf("get(%d) = %d, %v; want %d, %v", k, got, ok, w, wok)
				}
			}
		}
		checkTable(t, tab, want, times)
		got := map[uint16]int{}
		for i, c := range tab.ctrl {
			if c&slotFull != 0 {
				got[tab.slots[i].key] = tab.slots[i].val
			}
		}
		if !maps.Equal(got, want) {
			t.Fatalf("slots hold %v, want %v", got, want)
		}
	})
}

// remPartitioner places int keys by their value modulo n, and negative
// ones out of range.
type remPartitioner struct{ n int }

func (p remPartitioner) NumPartitions() int { return p.n }
func (p remPartitioner) Partition(k int) int {
	if k < 0 {
		return -1
	}
	return k % p.n
}

// TestPartitionPlanHashes: every element lands in its key's partition,
// in order, with the hash its partition's table takes, for hash
// partitioners of one and several partitions and a custom one, from
// materialized and computed plans; a custom partitioner's key out of
// range fails.
func TestPartitionPlanHashes(t *testing.T) {
	c, err := NewContext(time.Second, WithLogger(quietLogger), WithParallelism(2))
	mustNoErr(t, err, "NewContext")
	r := &run{ctx: context.Background(), c: c}
	data := [][]Pair[int, int]{nil, {}, {}}
	for i := range 3000 {
		data[1+i%2] = append(data[1+i%2], KV(i%700, i))
	}
	custom, err := customPartitioner[int](remPartitioner{3})
	mustNoErr(t, err, "customPartitioner")
	parts := []partitioner[int]{newPartitioner[int](c, 1), newPartitioner[int](c, 4), custom}
	for _, part := range parts {
		computed := dataPlan(data)
		computed.data = nil
		for _, pp := range []plan[Pair[int, int]]{dataPlan(data), computed} {
			var hint sizeHint
			for range 2 { // the second batch sized by the first
				buckets, err := partitionPlan(r, "test", pp, part, c.seed, &hint)
				mustNoErr(t, err, "partitionPlan")
				if len(buckets) != len(data) {
					t.Fatalf("%d input partitions, want %d", len(buckets), len(data))
				}
				for p, b := range buckets {
					var got []Pair[int, int]
					for j, bj := range b {
						if !slices.IsSortedFunc(bj, func(a, b hashedPair[int, int]) int { return cmp.Compare(a.kv.Value, b.kv.Value) }) {
							t.Fatalf("input partition %d, partition %d: out of order", p, j)
						}
						for _, e := range bj {
							if want, _ := part.index(e.kv.Key); want != j {
								t.Fatalf("key %d in partition %d, want %d", e.kv.Key, j, want)
							}
							if e.h != maphash.Comparable(c.seed, e.kv.Key) {
								t.Fatalf("key %d with hash %#x, want the context's", e.kv.Key, e.h)
							}
							got = append(got, e.kv)
						}
					}
					slices.SortStableFunc(got, func(a, b Pair[int, int]) int { return cmp.Compare(a.Value, b.Value) })
					if !slices.Equal(got, data[p]) {
						t.Fatalf("input partition %d: %d elements, want %d", p, len(got), len(data[p]))
					}
				}
			}
			if hint.get() == 0 {
				t.Error("no size hint learnt")
			}
		}
	}
	bad := dataPlan([][]Pair[int, int]{{KV(1, 1), KV(-1, 2)}})
	if _, err := partitionPlan(r, "test", bad, custom, c.seed, nil); !errors.Is(err, ErrPartitionOutOfRange) {
		t.Errorf("key out of range: %v, want ErrPartitionOutOfRange", err)
	}
}

// TestMapStateStore: MapWithState's checkpointed records carry each
// key's time when it keeps one, and the state's batch time otherwise;
// they restore into the partitions of another seed, with their times
// only where kept, and a state saved before any batch restores to none.
func TestMapStateStore(t *testing.T) {
	for _, timed := range []bool{false, true} {
		t.Run(fmt.Sprint("timed=", timed), func(t *testing.T) {
			c1, err := NewContext(time.Second, WithLogger(quietLogger))
			mustNoErr(t, err, "NewContext")
			part1 := newPartitioner[string](c1, 3)
			st := &mapState[string, int]{seed: c1.seed, timed: timed}
			store := &mapStateStore[string, int]{st: st, part: part1}
			if data, last, err := store.save(GobCodec{}); err != nil || last != 0 {
				t.Fatalf("save before any batch: last %d, %v", last, err)
			} else if err := store.load(GobCodec{}, data, 0); err != nil || st.parts != nil {
				t.Fatalf("load with no batch: %v, parts %v", err, st.parts)
			}
			st.reset(3)
			want := map[string]int{}
			for i := range 50 {
				k := fmt.Sprint("k", i)
				j, _ := part1.index(k)
				st.parts[j].set(k, i, int64(i)*1e9)
				want[k] = i
			}
			st.last = 60e9
			data, last, err := store.save(GobCodec{})
			mustNoErr(t, err, "save")
			if last != 60e9 {
				t.Errorf("saved at %d, want 60e9", last)
			}
			var recs []StateRecord[string, int]
			mustNoErr(t, GobCodec{}.Unmarshal(data, &recs), "decode")
			if len(recs) != len(want) {
				t.Fatalf("%d records, want %d", len(recs), len(want))
			}
			for _, r := range recs {
				wantAt := int64(60e9)
				if timed {
					wantAt = int64(want[r.Key]) * 1e9
				}
				if want[r.Key] != r.Value || r.Updated != wantAt {
					t.Errorf("record %+v, want value %d updated %d", r, want[r.Key], wantAt)
				}
			}
			if got := store.signature(); got != "dstream.StateRecord[string,int]" {
				t.Errorf("signature %q", got)
			}

			c2, err := NewContext(time.Second, WithLogger(quietLogger))
			mustNoErr(t, err, "NewContext")
			part2 := newPartitioner[string](c2, 2)
			st2 := &mapState[string, int]{seed: c2.seed, timed: timed}
			mustNoErr(t, (&mapStateStore[string, int]{st: st2, part: part2}).load(GobCodec{}, data, 60e9), "load")
			if st2.last != 60e9 || len(st2.parts) != 2 {
				t.Fatalf("restored at %d into %d partitions", st2.last, len(st2.parts))
			}
			for j, tab := range st2.parts {
				got, times := map[string]int{}, map[string]int64{}
				for i, b := range tab.ctrl {
					if b&slotFull == 0 {
						continue
					}
					k := tab.slots[i].key
					if pj, _ := part2.index(k); pj != j {
						t.Errorf("key %s restored into partition %d, want %d", k, j, pj)
					}
					got[k] = tab.slots[i].val
					times[k] = int64(want[k]) * 1e9
				}
				checkTable(t, tab, got, times)
			}
		})
	}
}

// TestMapWithStateMatchesModel runs MapWithState over random batches of
// a few hundred keys, whose values make the function update, remove or
// only read the state, against a Go map applying Spark's rules: the
// outputs of each batch (order aside), the state snapshots, and with a
// timeout the keys timed out on full-scan batches. The state's tables
// grow, fill with tombstones and are cleaned on the way.
func TestMapWithStateMatchesModel(t *testing.T) {
	const timeout = 3 * time.Second
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		custom  bool
		batches int
	}{
		{"no timeout", 0, false, 30},
		{"timeout", timeout, false, 45},
		{"timeout, custom partitioner", timeout, true, 45},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithParallelism(2))
			q := NewQueue[Pair[int, int]]()
			spec := StateSpec[int, int, int, string]{
				Timeout: tc.timeout,
				Func: func(_ time.Time, k int, v Optional[int], st *State[int]) (string, bool) {
					old, err := st.Get()
					if st.IsTimingOut() {
						return fmt.Sprintf("%d timeout %d", k, old), true
					}
					switch v.Value % 3 {
					case 0:
						_ = st.Update(old + v.Value)
						return fmt.Sprintf("%d=%d", k, old+v.Value), true
					case 1:
						_ = st.Remove()
						return fmt.Sprintf("%d removed %v", k, err == nil), v.Value%2 == 0
					default:
						return fmt.Sprintf("%d read %d %v", k, old, err == nil), true
					}
				},
			}
			if tc.custom {
				spec.Partitioner = remPartitioner{3}
			} else {
				spec.Partitions = 3
			}
			ms := MapWithState(QueueStream(h.ssc, q), spec)
			mustNoErr(t, ms.Err(), "MapWithState")
			out, snaps := collect(t, ms.Stream), collect(t, ms.StateSnapshots())
			h.start()

			type entry struct {
				v   int
				upd int64
			}
			model := map[int]entry{}
			timedOut := 0
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			for k := 1; k <= tc.batches; k++ {
				at := int64(k) * int64(time.Second)
				keys := 50 + 20*k // more keys as it goes, for growth
				if k > 2*tc.batches/3 {
					keys = 40 // then few, while removals leave tombstones
				}
				var in []Pair[int, int]
				for range rng.IntN(300) {
					in = append(in, KV(rng.IntN(keys), 1+rng.IntN(20)))
				}
				q.Push(in)
				var want []string
				for _, kv := range in {
					e, had := model[kv.Key]
					switch kv.Value % 3 {
					case 0:
						model[kv.Key] = entry{e.v + kv.Value, at}
						want = append(want, fmt.Sprintf("%d=%d", kv.Key, e.v+kv.Value))
					case 1:
						delete(model, kv.Key)
						if kv.Value%2 == 0 {
							want = append(want, fmt.Sprintf("%d removed %v", kv.Key, had))
						}
					default:
						if had {
							model[kv.Key] = entry{e.v, at} // data refreshes the idle time
						}
						want = append(want, fmt.Sprintf("%d read %d %v", kv.Key, e.v, had))
					}
				}
				if tc.timeout > 0 && k%10 == 0 {
					for key, e := range model {
						if e.upd < at-int64(tc.timeout) {
							want = append(want, fmt.Sprintf("%d timeout %d", key, e.v))
							delete(model, key)
							timedOut++
						}
					}
				}
				h.step()
				got, _ := out.at(h.ms(k))
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("batch %d: output %q, want %q", k, got, want)
				}
				snap, _ := snaps.at(h.ms(k))
				wantSnap := map[int]int{}
				for key, e := range model {
					wantSnap[key] = e.v
				}
				if gotSnap := pairMap(t, snap); !maps.Equal(gotSnap, wantSnap) {
					t.Fatalf("batch %d: state %v, want %v", k, gotSnap, wantSnap)
				}
			}
			if tc.timeout > 0 && timedOut == 0 {
				t.Error("no key timed out: the test does not test timeouts")
			}
		})
	}
}
