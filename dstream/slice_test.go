package dstream

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"
)

// tickInput is a Recoverable Input whose batch at t holds one record, t
// in ms; its description is that number.
type tickInput struct{}

func (*tickInput) Start(context.Context) error { return nil }
func (*tickInput) Stop()                       {}

func (in *tickInput) Generate(_ context.Context, t time.Time) (*InputBatch[int64], error) {
	return tickBatch(t.UnixMilli()), nil
}

func tickBatch(ms int64) *InputBatch[int64] {
	return &InputBatch[int64]{
		Partitions: 1,
		Records:    1,
		Descriptor: []byte(strconv.FormatInt(ms, 10)),
		Read:       func(context.Context, int) ([]int64, error) { return []int64{ms}, nil },
	}
}

func (*tickInput) SavePosition() ([]byte, error)    { return []byte("{}"), nil }
func (*tickInput) RestorePosition(pos []byte) error { return nil }

func (in *tickInput) Rebuild(_ time.Time, desc []byte) (*InputBatch[int64], error) {
	ms, err := strconv.ParseInt(string(desc), 10, 64)
	if err != nil {
		return nil, err
	}
	return tickBatch(ms), nil
}

// batchTimes returns the times of bs in ms.
func batchTimes[T any](bs []*Batch[T]) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b.Time.UnixMilli()
	}
	return out
}

func runningSum(vs []int, s *int) (int, bool) {
	n := 0
	if s != nil {
		n = *s
	}
	for _, v := range vs {
		n += v
	}
	return n, true
}

// Pin (section 0, slice): Slice returns no batch before the zero time, as
// in Spark, and computes none after the batch being run: such a batch's
// input has not been taken, and computing it early lost it (a direct
// input's batch read before it was generated was kept as missing, a
// cached stream's batch kept as empty, a state advanced without its
// data). Later batches are computed normally.
func TestSliceNeverComputesAhead(t *testing.T) {
	h := newHarness(t, time.Second, WithRemember(time.Minute))
	q := NewQueue[int]()
	for k := 1; k <= 5; k++ {
		q.Push([]int{k})
	}
	in := QueueStream(h.ssc, q)
	ticks := InputStream[int64](h.ssc, "ticks", &tickInput{})
	tens := Map(in, func(x int) int { return 10 * x })
	totals := UpdateStateByKey(Map(in, func(x int) Pair[string, int] { return KV("n", x) }), runningSum)
	tensOut, _ := collect(t, tens), collect(t, tens) // two consumers: tens keeps its batches
	ticksOut := collect(t, ticks)
	totalsOut := collect(t, totals)

	got := map[string][]int64{}
	var tensAt2 []int
	mustNoErr(t, in.ForEachBatch(func(_ context.Context, b *Batch[int]) error {
		if b.Time.UnixMilli() != 3000 {
			return nil
		}
		before, ahead := time.UnixMilli(-5000), time.UnixMilli(10_000)
		bs, err := in.Slice(before, ahead)
		got["queue"] = batchTimes(bs)
		if err != nil {
			return err
		}
		ts, err := tens.Slice(before, ahead)
		got["map"] = batchTimes(ts)
		if err != nil {
			return err
		}
		if len(ts) > 1 {
			tensAt2 = ts[1].Collect()
		}
		ks, err := ticks.Slice(before, ahead)
		got["direct input"] = batchTimes(ks)
		if err != nil {
			return err
		}
		ss, err := totals.Slice(before, ahead)
		got["state"] = batchTimes(ss)
		return err
	}), "ForEachBatch")
	h.start()
	h.steps(5)

	for _, name := range []string{"queue", "map", "direct input", "state"} {
		if want := []int64{1000, 2000, 3000}; !slices.Equal(got[name], want) {
			t.Errorf("%s: Slice(-5 s, 10 s) at batch 3 found %v, want %v", name, got[name], want)
		}
	}
	if !slices.Equal(tensAt2, []int{20}) {
		t.Errorf("sliced map batch at 2 s = %v, want [20]", tensAt2)
	}
	for k := 4; k <= 5; k++ {
		ms := h.ms(k)
		if b, _ := tensOut.at(ms); !slices.Equal(b, []int{10 * k}) {
			t.Errorf("map batch at %d ms = %v, want [%d]", ms, b, 10*k)
		}
		if b, _ := ticksOut.at(ms); !slices.Equal(b, []int64{ms}) {
			t.Errorf("direct input batch at %d ms = %v, want [%d]", ms, b, ms)
		}
	}
	if b, _ := totalsOut.at(5000); !slices.Equal(b, []Pair[string, int]{KV("n", 15)}) {
		t.Errorf("state at 5 s = %v, want [(n,15)]", b)
	}
}

// Pin: a batch older than a stream keeps is computed again from its
// parents, as far as they keep theirs. Here the input feeds a state, so
// it keeps 20 s of batches (twice the state's checkpoint interval, as in
// Spark), while the map over it keeps 1 s: the map's old batches are
// recomputed. An input that keeps only 1 s has nothing older.
func TestSliceForgottenBatches(t *testing.T) {
	h := newHarness(t, time.Second)
	q, short := NewQueue[int](), NewQueue[int]()
	for k := 1; k <= 6; k++ {
		q.Push([]int{k})
		short.Push([]int{k})
	}
	in := QueueStream(h.ssc, q)
	collect(t, UpdateStateByKey(Map(in, func(x int) Pair[string, int] { return KV("n", x) }), runningSum))
	tens := Map(in, func(x int) int { return 10 * x })
	collect(t, tens)
	collect(t, tens) // two consumers: tens keeps its batches, for 1 s
	shortIn := QueueStream(h.ssc, short)
	var keptBefore bool
	var tensTimes, shortTimes []int64
	var tensData []int
	mustNoErr(t, shortIn.ForEachBatch(func(_ context.Context, b *Batch[int]) error {
		if b.Time.UnixMilli() != 6000 {
			return nil
		}
		tens.mu.Lock()
		_, keptBefore = tens.kept[1000]
		tens.mu.Unlock()
		from := time.UnixMilli(1000)
		ts, err := tens.Slice(from, b.Time)
		if err != nil {
			return err
		}
		tensTimes = batchTimes(ts)
		for _, b := range ts {
			tensData = append(tensData, b.Collect()...)
		}
		ss, err := shortIn.Slice(from, b.Time)
		shortTimes = batchTimes(ss)
		return err
	}), "ForEachBatch")
	h.start()
	h.steps(6)
	if keptBefore {
		t.Fatal("the map still kept its batch at 1 s: nothing was recomputed")
	}
	if want := []int64{1000, 2000, 3000, 4000, 5000, 6000}; !slices.Equal(tensTimes, want) || !slices.Equal(tensData, []int{10, 20, 30, 40, 50, 60}) {
		t.Errorf("map: Slice(1 s, 6 s) at batch 6 found %v holding %v, want %v holding 10..60", tensTimes, tensData, want)
	}
	if want := []int64{5000, 6000}; !slices.Equal(shortTimes, want) {
		t.Errorf("input keeping 1 s: Slice(1 s, 6 s) at batch 6 found %v, want %v", shortTimes, want)
	}
}
