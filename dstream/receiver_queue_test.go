package dstream

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// funcReceiver is a receiver of any type whose OnStart runs script in a
// goroutine; OnStop waits for it.
type funcReceiver[T any] struct {
	script func(ctx context.Context, h *ReceiverHost[T])
	wg     sync.WaitGroup
}

func (r *funcReceiver[T]) OnStart(ctx context.Context, h *ReceiverHost[T]) error {
	r.wg.Go(func() { r.script(ctx, h) })
	return nil
}

func (r *funcReceiver[T]) OnStop() { r.wg.Wait() }

// Locks down: the default block interval is a fifth of the batch interval
// in whole milliseconds, between 1 ms and DefaultBlockInterval.
func TestDefaultBlockInterval(t *testing.T) {
	for _, tc := range []struct{ batch, want time.Duration }{
		{time.Millisecond, time.Millisecond},
		{4 * time.Millisecond, time.Millisecond},
		{10 * time.Millisecond, 2 * time.Millisecond},
		{12 * time.Millisecond, 2 * time.Millisecond},
		{100 * time.Millisecond, 20 * time.Millisecond},
		{500 * time.Millisecond, 100 * time.Millisecond},
		{time.Second, DefaultBlockInterval},
		{time.Minute, DefaultBlockInterval},
	} {
		ssc, err := NewContext(tc.batch, WithLogger(quietLogger))
		mustNoErr(t, err, "NewContext")
		if got := ssc.cfg.blockInterval; got != tc.want {
			t.Errorf("batch interval %v: block interval %v, want %v", tc.batch, got, tc.want)
		}
		ssc, err = NewContext(tc.batch, WithLogger(quietLogger), WithBlockInterval(7*time.Millisecond))
		mustNoErr(t, err, "NewContext")
		if got := ssc.cfg.blockInterval; got != 7*time.Millisecond {
			t.Errorf("batch interval %v with WithBlockInterval(7ms): block interval %v", tc.batch, got)
		}
	}
}

// Locks down: WithReceiverQueue refuses bounds below 1.
func TestWithReceiverQueueErrors(t *testing.T) {
	for _, q := range [][2]int64{{0, 1}, {1, 0}, {-1, 100}, {100, -1}} {
		if _, err := NewContext(time.Second, WithReceiverQueue(int(q[0]), q[1])); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("WithReceiverQueue(%d, %d): err %v, want ErrInvalidOption", q[0], q[1], err)
		}
	}
}

// Locks down: by default a receiver's queue is bounded by records, not by
// blocks: a thousand one-record StoreSlice calls, each a block, do not
// wait (the old default of 10 batches' worth of blocks, 50 here, made the
// 51st wait for a batch), while a store beyond DefaultReceiverQueueRecords
// waits until the batch holding the others completes.
func TestReceiverQueueDefaultBoundsRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second)
		st := &rcvStoreTimes{}
		big := make([]int, DefaultReceiverQueueRecords-1000)
		r := &scriptReceiver{name: "bursty", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 100*time.Millisecond)
			for i := range 1000 {
				if err := h.StoreSlice([]int{i}); err != nil {
					st.note(err)
					return
				}
			}
			st.note(nil)
			st.note(h.StoreAll(big)) // the queue now holds the bound exactly
			st.note(h.Store(1))      // waits for batch +1s
		}}
		k := newRcvBlockingSink(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 1500*time.Millisecond)
		if ats, errs := st.get(z); !slices.Equal(ats, []time.Duration{100 * time.Millisecond, 100 * time.Millisecond}) || !slices.Equal(errs, []error{nil, nil}) {
			t.Fatalf("before any batch completed, stores returned at %v with %v; want the 1000 StoreSlice calls and the StoreAll at +100ms, and the last Store waiting", ats, errs)
		}
		if blocked, _ := k.state(); blocked != rcvMs(z, time.Second) {
			t.Fatalf("output blocked in %d, want batch +1s", blocked)
		}
		close(k.release)
		synctest.Wait()
		ats, errs := st.get(z)
		if len(ats) != 3 || ats[2] != 1500*time.Millisecond || errs[2] != nil {
			t.Errorf("stores returned at %v with %v; want the last at +1.5s, when batch +1s completed", ats, errs)
		}
		if got := len(k.at(rcvMs(z, time.Second))); got != 1001 {
			t.Errorf("batch +1s has %d partitions, want 1001 (one per StoreSlice, and the buffer)", got)
		}
	})
}

// Locks down: WithReceiverQueue's records bound counts buffered records
// (Store, StoreAll), blocks waiting for a batch and those of batches still
// running; a store proceeds while below it and waits at it. One store
// larger than the bound proceeds once nothing is held.
func TestReceiverQueueRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second, WithReceiverQueue(10, 1<<40))
		st := &rcvStoreTimes{}
		r := &scriptReceiver{name: "bounded", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 100*time.Millisecond)
			st.note(h.StoreAll([]int{1, 2, 3, 4, 5, 6}))
			st.note(h.StoreSlice([]int{7, 8, 9}))
			st.note(h.Store(10))                             // 9 held: proceeds, 10 held
			st.note(h.Store(11))                             // waits for batch +1s
			st.note(h.StoreAll(slices.Repeat([]int{0}, 25))) // larger than the bound; nothing held: proceeds
			st.note(h.Store(12))                             // waits for batch +3s, which holds the 25
		}}
		k := newRcvBlockingSink(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 2500*time.Millisecond)
		ms := 100 * time.Millisecond
		if ats, _ := st.get(z); !slices.Equal(ats, []time.Duration{ms, ms, ms}) {
			t.Fatalf("while batch +1s is blocked, stores returned at %v, want 3 at +100ms", ats)
		}
		close(k.release) // at +2.5 s; the sink blocks only once
		synctest.Wait()
		rcvSleepUntil(z, 4500*time.Millisecond)
		ats, errs := st.get(z)
		want := []time.Duration{ms, ms, ms, 2500 * time.Millisecond, 2500 * time.Millisecond, 3000 * time.Millisecond}
		if !slices.Equal(ats, want) || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
			t.Errorf("stores returned at %v with %v, want %v and no error", ats, errs, want)
		}
		if got, want := k.at(rcvMs(z, time.Second)), [][]int{{7, 8, 9}, {1, 2, 3, 4, 5, 6, 10}}; !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("batch +1s = %v, want %v", got, want)
		}
	})
}

// Locks down: the bytes bound counts the lengths of string records, and a
// store waits once they reach it.
func TestReceiverQueueBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second, WithReceiverQueue(1000, 10))
		var mu sync.Mutex
		var returned []time.Time
		note := func(err error) {
			if err != nil {
				t.Errorf("store: %v", err)
			}
			mu.Lock()
			returned = append(returned, time.Now())
			mu.Unlock()
		}
		r := &funcReceiver[string]{script: func(ctx context.Context, h *ReceiverHost[string]) {
			rcvSleep(ctx, 100*time.Millisecond)
			note(h.StoreAll([]string{"abcd", "ef"}))
			note(h.Store("ghi")) // 6 bytes held: proceeds
			note(h.Store("j"))   // 9 bytes held: proceeds
			note(h.Store("k"))   // 10 bytes held: waits for batch +1s
		}}
		s := ReceiverStream[string](ssc, r)
		var got sync.Map
		mustNoErr(t, s.ForEachBatch(func(_ context.Context, b *Batch[string]) error {
			if b.Len() > 0 {
				got.Store(b.Time.UnixMilli(), strings.Join(b.Collect(), ","))
			}
			return nil
		}), "ForEachBatch")
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 1500*time.Millisecond)
		mu.Lock()
		at := rcvOffsets(z, returned)
		mu.Unlock()
		ms := 100 * time.Millisecond
		if !slices.Equal(at, []time.Duration{ms, ms, ms, time.Second}) {
			t.Errorf("stores returned at %v, want three at +100ms and the fourth at +1s", at)
		}
		rcvSleepUntil(z, 2500*time.Millisecond)
		if v, _ := got.Load(rcvMs(z, time.Second)); v != "abcd,ef,ghi,j" {
			t.Errorf("batch +1s = %v, want abcd,ef,ghi,j", v)
		}
		if v, _ := got.Load(rcvMs(z, 2*time.Second)); v != "k" {
			t.Errorf("batch +2s = %v, want k", v)
		}
	})
}

// Locks down: StoreAll buffers its records with Store's, and the buffer is
// cut on the block interval, not per call: at 100 ms batches (a 20 ms
// default block interval), a receiver calling StoreAll every millisecond
// gives each batch about five partitions, with every record once and in
// order.
func TestReceiverStoreAllCutsOnTheBlockInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, 100*time.Millisecond)
		r := &scriptReceiver{name: "runs", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, time.Millisecond/2)
			for i := range 1000 {
				if h.StoreAll([]int{2 * i, 2*i + 1}) != nil {
					return
				}
				rcvSleep(ctx, time.Millisecond)
			}
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 1200*time.Millisecond)
		for i := 1; i <= 10; i++ {
			ps, ok := k.at(rcvMs(z, time.Duration(i)*100*time.Millisecond))
			if !ok || len(ps) != 5 {
				t.Errorf("batch +%dms has %d partitions, want 5", 100*i, len(ps))
			}
		}
		if got := k.all(); !slices.Equal(got, rcvSeq(0, 2000)) {
			t.Errorf("records over all batches: %d, want 0..1999 in order", len(got))
		}
	})
}
