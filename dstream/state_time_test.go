package dstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// UpdateStateByKeyWithTime calls its function for every key with data or
// state, every batch, with that batch's time and the key; false deletes
// the key; with no state and no data there is no batch. Options work as
// for UpdateStateByKey.
func TestUpdateStateByKeyWithTime(t *testing.T) {
	h := newHarness(t, time.Second, WithParallelism(3))
	q := NewQueue[Pair[string, int]]()
	type call struct {
		ms     int64
		key    string
		values string
		state  string
	}
	var mu sync.Mutex
	var calls []call
	show := func(s *int) string {
		if s == nil {
			return "nil"
		}
		return fmt.Sprint(*s)
	}
	totals := UpdateStateByKeyWithTime(QueueStream(h.ssc, q), func(bt time.Time, key string, vs []int, s *int) (int, bool) {
		mu.Lock()
		calls = append(calls, call{bt.UnixMilli(), key, fmt.Sprint(vs), show(s)})
		mu.Unlock()
		n := 0
		if s != nil {
			n = *s
		}
		for _, v := range vs {
			n += v
		}
		return n, n < 100 // a total of 100 or more deletes the key
	}, Partitions(2)).WithInitialState([]Pair[string, int]{KV("seed", 7)})
	k := collect(t, totals)
	if got := totals.Name(); got != "updateStateByKey#1" {
		t.Errorf("default name %q, want updateStateByKey#1 (the same operator as UpdateStateByKey)", got)
	}
	h.start()
	h.step() // 1 s: no data, no state: no batch, no call
	q.Push([]Pair[string, int]{KV("a", 1), KV("b", 2), KV("a", 3)})
	h.step() // 2 s
	q.Push([]Pair[string, int]{KV("b", 200)})
	h.step() // 3 s: b reaches 202 and is deleted
	h.step() // 4 s: no data: every key with state is called

	want := []call{
		{2000, "a", "[1 3]", "nil"}, {2000, "b", "[2]", "nil"}, {2000, "seed", "[]", "7"},
		{3000, "a", "[]", "4"}, {3000, "b", "[200]", "2"}, {3000, "seed", "[]", "7"},
		{4000, "a", "[]", "4"}, {4000, "seed", "[]", "7"},
	}
	mu.Lock()
	got := slices.Clone(calls)
	mu.Unlock()
	slices.SortFunc(got, func(x, y call) int {
		if x.ms != y.ms {
			return int(x.ms - y.ms)
		}
		return strings.Compare(x.key, y.key)
	})
	if !slices.Equal(got, want) {
		t.Errorf("calls\n got %v\nwant %v", got, want)
	}
	if times := k.seen(); !slices.Equal(times, []int64{2000, 3000, 4000}) {
		t.Errorf("batches at %v, want [2000 3000 4000]", times)
	}
	for ms, want := range map[int64]map[string]int{
		2000: {"a": 4, "b": 2, "seed": 7},
		3000: {"a": 4, "seed": 7},
		4000: {"a": 4, "seed": 7},
	} {
		b, _ := k.at(ms)
		if got := pairMap(t, b); !maps.Equal(got, want) {
			t.Errorf("state at %d ms = %v, want %v", ms, got, want)
		}
		if n := k.parts[ms]; n != 2 {
			t.Errorf("batch at %d ms has %d partitions, want Partitions(2)", ms, n)
		}
	}
}

// UpdateStateByKeyWithTime validates like UpdateStateByKey: a nil
// function or WithStateFilter is a *BuildError.
func TestUpdateStateByKeyWithTimeBuildErrors(t *testing.T) {
	h := newHarness(t, time.Second)
	in := QueueStream(h.ssc, NewQueue[Pair[string, int]]())
	var be *BuildError
	if err := UpdateStateByKeyWithTime[string, int, int](in, nil).Err(); !errors.Is(err, ErrNilFunc) || !errors.As(err, &be) {
		t.Errorf("nil function: Err = %v, want a *BuildError for ErrNilFunc", err)
	}
	f := func(time.Time, string, []int, *int) (int, bool) { return 0, true }
	if err := UpdateStateByKeyWithTime(in, f).WithStateFilter(func(Pair[string, int]) bool { return true }).Err(); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("WindowFilter: Err = %v, want ErrInvalidOption", err)
	}
}

// timedCount is the state of the checkpoint test: the key's count, the
// time of its last data, and the batch time of the last call.
type timedCount struct {
	Key      string
	Count    int
	LastData int64 // ms
	Called   int64 // ms
}

// newTimedJob counts words into a timedCount per word, with
// UpdateStateByKeyWithTime, or with UpdateStateByKey (which can set only
// Key and Count) when plain.
func newTimedJob(t *testing.T, dir string, log *memLog, clockAt time.Duration, plain bool) (*harness, *sink[Pair[string, timedCount]]) {
	t.Helper()
	clk := NewManualClock(time.Unix(0, int64(clockAt)))
	c, err := NewContext(time.Second, WithClock(clk), WithLogger(quietLogger), WithCheckpoint(dir), WithParallelism(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background(), Hard) })
	h := &harness{t: t, clock: clk, ssc: c, interval: time.Second}
	words := FlatMap(InputStream[string](c, "lines", &logInput{log: log}), strings.Fields)
	pairs := Map(words, func(w string) Pair[string, int] { return KV(w, 1) })
	var st *Stream[Pair[string, timedCount]]
	if plain {
		st = UpdateStateByKey(pairs, func(vs []int, s *timedCount) (timedCount, bool) {
			var n timedCount
			if s != nil {
				n = *s
			}
			n.Count += len(vs)
			return n, true
		})
	} else {
		st = UpdateStateByKeyWithTime(pairs, func(bt time.Time, key string, vs []int, s *timedCount) (timedCount, bool) {
			var n timedCount
			if s != nil {
				n = *s
			}
			n.Key = key
			n.Count += len(vs)
			if len(vs) > 0 {
				n.LastData = bt.UnixMilli()
			}
			n.Called = bt.UnixMilli()
			return n, true
		})
	}
	return h, collect(t, st) // unnamed: both are "updateStateByKey#1"
}

// wantTimed is the state after batches 1..upTo of batchLines, for words
// counted with times from batch from on (earlier batches by the plain
// function, which records no time).
func wantTimed(from, upTo int) map[string]timedCount {
	out := map[string]timedCount{}
	for k := 1; k <= upTo; k++ {
		for w, n := range wordCounts(batchLines(k)) {
			c := out[w]
			c.Count += n
			if k >= from {
				c.Key = w
				c.LastData = int64(k) * 1000
			}
			out[w] = c
		}
	}
	for w, c := range out {
		if upTo >= from {
			c.Key, c.Called = w, int64(upTo)*1000
		}
		out[w] = c
	}
	return out
}

// The batch time survives a restart: after a crash the state is restored
// from its last checkpoint and recomputed for the batches after it, and
// the function sees those batches' times, not the time of the restart.
// The state is the same operator's as UpdateStateByKey's, so a job that
// switches from UpdateStateByKey to UpdateStateByKeyWithTime keeps it.
func TestUpdateStateByKeyWithTimeCheckpoint(t *testing.T) {
	t.Run("recomputed after a crash", func(t *testing.T) {
		dir := t.TempDir()
		log := &memLog{}
		h1, s1 := newTimedJob(t, dir, log, 0, false)
		h1.start()
		for k := 1; k <= 14; k++ {
			log.append(batchLines(k)...)
			h1.step()
		}
		if got, want := pairMap(t, mustAt(t, s1, 14000)), wantTimed(1, 14); !maps.Equal(got, want) {
			t.Fatalf("run 1 state at 14 s = %v, want %v", got, want)
		}
		mustNoErr(t, h1.ssc.Stop(context.Background(), Hard), "hard stop") // state saved at 10 s, batch 14 pending

		log.append(batchLines(15)...) // arrives while down: read by batch 15, the first missed one
		h2, s2 := newTimedJob(t, dir, log, 16*time.Second, false)
		h2.start()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		mustNoErr(t, h2.ssc.WaitForBatch(ctx, time.UnixMilli(16000)), "wait for the re-run and missed batches")
		if got, want := pairMap(t, mustAt(t, s2, 14000)), wantTimed(1, 14); !maps.Equal(got, want) {
			t.Errorf("re-run batch 14 state = %v, want %v", got, want)
		}
		want := wantTimed(1, 15)
		for w, c := range want {
			c.Called = 16000 // no data at 16 s
			want[w] = c
		}
		if got := pairMap(t, mustAt(t, s2, 16000)); !maps.Equal(got, want) {
			t.Errorf("state at 16 s = %v, want %v", got, want)
		}
	})
	t.Run("switched from UpdateStateByKey", func(t *testing.T) {
		dir := t.TempDir()
		log := &memLog{}
		h1, _ := newTimedJob(t, dir, log, 0, true)
		h1.start()
		for k := 1; k <= 3; k++ {
			log.append(batchLines(k)...)
			h1.step()
		}
		mustNoErr(t, h1.ssc.Stop(context.Background(), Graceful), "stop") // saves the state at 3 s

		h2, s2 := newTimedJob(t, dir, log, 3*time.Second, false)
		h2.start()
		log.append(batchLines(4)...)
		h2.step()
		if got, want := pairMap(t, mustAt(t, s2, 4000)), wantTimed(4, 4); !maps.Equal(got, want) {
			t.Errorf("state at 4 s = %v, want %v", got, want)
		}
	})
}
