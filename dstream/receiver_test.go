package dstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Receiver tests. Most run inside a testing/synctest bubble on the default
// system clock: time is virtual, so block intervals, rate limits and restart
// delays are exact. The bubble's clock starts at 2000-01-01T00:00:00Z, a
// whole second, so the Context's zero time is the instant Start is called
// and batch k (from 1) is at zero + k*interval.
//
// Timing convention: receivers store at instants that are never on a block
// or batch boundary (rcvOffsets like 50 ms), unless a test is about the
// boundary, because at a boundary the block generator, the batch generator
// and the storing goroutine wake at the same virtual instant and their
// order is up to the Go scheduler.

var (
	errRcvStart  = errors.New("cannot connect")
	errRcvSource = errors.New("source error")
)

// scriptReceiver is a test receiver. Each successful OnStart runs script in
// a new goroutine (run counts the OnStart calls from 1); OnStop waits for
// that goroutine. The first panicStarts calls of OnStart panic and the next
// failStarts calls return errRcvStart. It records when OnStart and
// OnStop were called and keeps the host.
type scriptReceiver struct {
	name        string
	panicStarts int
	failStarts  int
	script      func(ctx context.Context, h *ReceiverHost[int], run int)

	mu     sync.Mutex
	starts []time.Time
	stops  []time.Time
	host   *ReceiverHost[int]
	wg     sync.WaitGroup
}

func (r *scriptReceiver) Name() string { return r.name }

func (r *scriptReceiver) OnStart(ctx context.Context, h *ReceiverHost[int]) error {
	r.mu.Lock()
	r.starts = append(r.starts, time.Now())
	r.host = h
	n := len(r.starts)
	r.mu.Unlock()
	if n <= r.panicStarts {
		panic(fmt.Sprintf("boom in OnStart %d", n))
	}
	if n <= r.panicStarts+r.failStarts {
		return fmt.Errorf("start %d: %w", n, errRcvStart)
	}
	if r.script != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.script(ctx, h, n)
		}()
	}
	return nil
}

func (r *scriptReceiver) OnStop() {
	r.mu.Lock()
	r.stops = append(r.stops, time.Now())
	r.mu.Unlock()
	r.wg.Wait()
}

// calls returns the OnStart and OnStop call times as rcvOffsets from z.
func (r *scriptReceiver) calls(z time.Time) (starts, stops []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.starts {
		starts = append(starts, s.Sub(z))
	}
	for _, s := range r.stops {
		stops = append(stops, s.Sub(z))
	}
	return starts, stops
}

func (r *scriptReceiver) getHost() *ReceiverHost[int] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.host
}

// rcvSleep sleeps d, or less if ctx ends; it reports whether it slept d.
func rcvSleep(ctx context.Context, d time.Duration) bool {
	return SystemClock().WaitUntil(ctx, time.Now().Add(d)) == nil
}

// rcvEventLog records receiver events and completed batches.
type rcvEventLog struct {
	mu      sync.Mutex
	events  []rcvEvent
	batches []BatchInfo
}

type rcvEvent struct {
	kind string // started, error, stopped
	at   time.Time
	info ReceiverInfo
}

func (l *rcvEventLog) add(kind string, i ReceiverInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, rcvEvent{kind: kind, at: time.Now(), info: i})
}

func (l *rcvEventLog) OnReceiverStarted(i ReceiverInfo) { l.add("started", i) }
func (l *rcvEventLog) OnReceiverError(i ReceiverInfo)   { l.add("error", i) }
func (l *rcvEventLog) OnReceiverStopped(i ReceiverInfo) { l.add("stopped", i) }

func (l *rcvEventLog) OnBatchCompleted(b BatchInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches = append(l.batches, b)
}

// describe renders the events relative to z, one string each:
// "kind@+offset id=.. name=.. active=.. msg=.. err=.. errAt=+offset".
func (l *rcvEventLog) describe(z time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.events))
	for _, e := range l.events {
		errAt := "-"
		if !e.info.LastErrorTime.IsZero() {
			errAt = "+" + e.info.LastErrorTime.Sub(z).String()
		}
		out = append(out, fmt.Sprintf("%s@+%v id=%d name=%s active=%t msg=%q err=%v errAt=%s",
			e.kind, e.at.Sub(z), e.info.StreamID, e.info.Name, e.info.Active, e.info.LastErrorMessage, e.info.LastError, errAt))
	}
	return out
}

func (l *rcvEventLog) eventList() []rcvEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// batchAt returns the completed batch at t.
func (l *rcvEventLog) batchAt(t time.Time) (BatchInfo, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		if b.BatchTime.Equal(t) {
			return b, true
		}
	}
	return BatchInfo{}, false
}

func (l *rcvEventLog) completed() []BatchInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches)
}

// rcvPartSink records the partitions of every batch an output sees.
type rcvPartSink struct {
	mu    sync.Mutex
	parts map[int64][][]int // batch time (ms) -> partitions
	times []int64
}

func collectRcvParts(t testing.TB, s *Stream[int]) *rcvPartSink {
	t.Helper()
	k := &rcvPartSink{parts: map[int64][][]int{}}
	mustNoErr(t, s.ForEachBatch(func(_ context.Context, b *Batch[int]) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		ps := make([][]int, len(b.Partitions))
		for i, p := range b.Partitions {
			ps[i] = slices.Clone(p)
		}
		ms := b.Time.UnixMilli()
		k.parts[ms] = ps
		k.times = append(k.times, ms)
		return nil
	}), "ForEachBatch")
	return k
}

func (k *rcvPartSink) at(ms int64) ([][]int, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.parts[ms]
	return p, ok
}

func (k *rcvPartSink) seen() []int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.times)
}

// all returns every element seen, in batch then partition order.
func (k *rcvPartSink) all() []int {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []int
	for _, ms := range k.times {
		for _, p := range k.parts[ms] {
			out = append(out, p...)
		}
	}
	return out
}

// newRcvContext creates a Context on the system clock (virtual inside a
// synctest bubble) with a quiet logger, and stops it hard at cleanup, which
// synctest runs inside the bubble.
func newRcvContext(t *testing.T, interval time.Duration, opts ...Option) *Context {
	t.Helper()
	ssc, err := NewContext(interval, append([]Option{WithLogger(quietLogger)}, opts...)...)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), Hard) })
	return ssc
}

// startRcvContext starts ssc and returns its zero time, checking that it is the
// start instant (the bubble's clock starts on a whole second).
func startRcvContext(t *testing.T, ssc *Context) time.Time {
	t.Helper()
	now := time.Now()
	if err := ssc.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	z := ssc.ZeroTime()
	if !z.Equal(now) {
		t.Fatalf("ZeroTime = %v, want the start instant %v", z, now)
	}
	return z
}

// rcvSleepUntil advances virtual time to z+d and waits until every goroutine
// of the bubble is blocked.
func rcvSleepUntil(z time.Time, d time.Duration) {
	time.Sleep(time.Until(z.Add(d)))
	synctest.Wait()
}

// rcvMs is the batch time z+d in milliseconds, the key of the sinks.
func rcvMs(z time.Time, d time.Duration) int64 { return z.Add(d).UnixMilli() }

// rcvSeq returns [from, from+1, ..., to-1].
func rcvSeq(from, to int) []int {
	out := make([]int, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// rcvPairs cuts xs into consecutive partitions of 2.
func rcvPairs(xs []int) [][]int {
	var out [][]int
	for i := 0; i < len(xs); i += 2 {
		out = append(out, xs[i:min(i+2, len(xs))])
	}
	return out
}

// rcvSteadyScript stores 0..n-1 with Store, one every 100 ms from 50 ms after
// OnStart, so that no record falls on a block boundary.
func rcvSteadyScript(n int) func(context.Context, *ReceiverHost[int], int) {
	return func(ctx context.Context, h *ReceiverHost[int], _ int) {
		if !rcvSleep(ctx, 50*time.Millisecond) {
			return
		}
		for i := range n {
			if h.Store(i) != nil {
				return
			}
			if i < n-1 && !rcvSleep(ctx, 100*time.Millisecond) {
				return
			}
		}
	}
}

// Locks down: Store buffers records and the block generator cuts the
// buffer into one block every block interval (200 ms); each block is one
// partition, in order, with nothing lost or duplicated; a 1 s batch holds
// about interval/blockInterval = 5 of them.
func TestReceiverStoreCutsOneBlockPerBlockInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second, WithBlockInterval(200*time.Millisecond))
		r := &scriptReceiver{name: "steady", script: rcvSteadyScript(100)} // last record at +9.95 s
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 11500*time.Millisecond)

		// Records 2j and 2j+1 are stored at +200j+50 ms and +200j+150 ms,
		// inside block interval j: every partition is exactly one pair.
		var got [][]int
		for i := 1; i <= 11; i++ {
			ps, ok := k.at(rcvMs(z, time.Duration(i)*time.Second))
			if !ok {
				t.Fatalf("no batch at +%ds; seen %v", i, k.seen())
			}
			if i <= 10 && (len(ps) < 4 || len(ps) > 6) {
				t.Errorf("batch +%ds has %d partitions, want 5 (4..6 at most: one block may cross each boundary)", i, len(ps))
			}
			got = append(got, ps...)
		}
		if want := rcvPairs(rcvSeq(0, 100)); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("partitions over all batches =\n%v\nwant\n%v", got, want)
		}
		if ps, _ := k.at(rcvMs(z, 12*time.Second)); len(ps) != 0 {
			t.Errorf("batch +12s = %v, want empty", ps)
		}
	})
}

// Locks down: with interval 1 s and block interval 200 ms, a receiver
// storing steadily yields exactly interval/blockInterval = 5 partitions per
// batch, and batch k holds exactly the records stored in (k-1 s, k s]:
// the block cut at a batch boundary belongs to the batch at that boundary,
// whatever order the block and batch timers fire in at that instant.
func TestReceiverStoreFivePartitionsPerBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second, WithBlockInterval(200*time.Millisecond))
		r := &scriptReceiver{name: "steady", script: rcvSteadyScript(100)}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 11500*time.Millisecond)

		var counts []int
		for i := 1; i <= 11; i++ {
			ps, _ := k.at(rcvMs(z, time.Duration(i)*time.Second))
			counts = append(counts, len(ps))
		}
		if want := []int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0}; !slices.Equal(counts, want) {
			t.Errorf("partitions per batch +1s..+11s = %v, want %v", counts, want)
		}
		for i := 1; i <= 10; i++ {
			ps, _ := k.at(rcvMs(z, time.Duration(i)*time.Second))
			if want := rcvPairs(rcvSeq(10*(i-1), 10*i)); !slices.EqualFunc(ps, want, slices.Equal) {
				t.Errorf("batch +%ds = %v, want %v (the records stored in (%ds, %ds])", i, ps, want, i-1, i)
			}
		}
	})
}

// Locks down: StoreSlice stores one block at once (one partition per call,
// a copy of the slice), the records appear in the next batch, an empty
// slice stores nothing, and BatchInfo.Inputs[i].NumRecords (one entry per
// receiver, in stream order, with its id and name) and NumRecords() count
// them.
func TestReceiverStoreSliceOneBlockPerCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &rcvEventLog{}
		ssc := newRcvContext(t, time.Second, WithListener(log))
		var sliceErrs []error
		var errMu sync.Mutex
		note := func(err error) {
			errMu.Lock()
			sliceErrs = append(sliceErrs, err)
			errMu.Unlock()
		}
		alpha := &scriptReceiver{name: "alpha", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 100*time.Millisecond)
			buf := []int{1, 2, 3}
			note(h.StoreSlice(buf))
			buf[0] = 100 // the engine copied the slice
			rcvSleep(ctx, 100*time.Millisecond)
			note(h.StoreSlice([]int{4, 5}))
			note(h.StoreSlice(nil))
			rcvSleep(ctx, 1300*time.Millisecond) // +1.5 s
			note(h.StoreSlice([]int{6}))
		}}
		beta := &scriptReceiver{name: "beta", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 300*time.Millisecond)
			note(h.StoreSlice([]int{10}))
		}}
		ka := collectRcvParts(t, ReceiverStream[int](ssc, alpha))
		kb := collectRcvParts(t, ReceiverStream[int](ssc, beta))
		z := startRcvContext(t, ssc)
		if z.UnixMilli()%1000 != 0 {
			t.Fatalf("zero time %d ms is not a multiple of the interval", z.UnixMilli())
		}
		rcvSleepUntil(z, 2500*time.Millisecond)

		errMu.Lock()
		if want := []error{nil, nil, nil, nil, nil}; !slices.Equal(sliceErrs, want) {
			t.Errorf("StoreSlice errors = %v, want %v", sliceErrs, want)
		}
		errMu.Unlock()
		check := func(k *rcvPartSink, sec int, want [][]int) {
			t.Helper()
			got, ok := k.at(rcvMs(z, time.Duration(sec)*time.Second))
			if !ok || !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("batch +%ds = %v (present %t), want %v", sec, got, ok, want)
			}
		}
		check(ka, 1, [][]int{{1, 2, 3}, {4, 5}})
		check(kb, 1, [][]int{{10}})
		check(ka, 2, [][]int{{6}})
		check(kb, 2, [][]int{})

		type in struct {
			ID   int
			Name string
			N    int64
		}
		inputs := func(b BatchInfo) []in {
			var out []in
			for _, x := range b.Inputs {
				out = append(out, in{x.StreamID, x.Name, x.NumRecords})
			}
			return out
		}
		b1, ok1 := log.batchAt(z.Add(time.Second))
		b2, ok2 := log.batchAt(z.Add(2 * time.Second))
		if !ok1 || !ok2 {
			t.Fatalf("batches completed: %v", log.completed())
		}
		if got, want := inputs(b1), []in{{0, "alpha", 5}, {1, "beta", 1}}; !slices.Equal(got, want) {
			t.Errorf("batch +1s Inputs = %+v, want %+v", got, want)
		}
		if got := b1.NumRecords(); got != 6 {
			t.Errorf("batch +1s NumRecords() = %d, want 6", got)
		}
		if got, want := inputs(b2), []in{{0, "alpha", 1}, {1, "beta", 0}}; !slices.Equal(got, want) {
			t.Errorf("batch +2s Inputs = %+v, want %+v", got, want)
		}
		if got := b2.NumRecords(); got != 1 {
			t.Errorf("batch +2s NumRecords() = %d, want 1", got)
		}
	})
}

// rcvRateScript stores n records with Store from 50 ms after OnStart and
// records the instant each Store returned.
func rcvRateScript(n int, times *[]time.Time, mu *sync.Mutex) func(context.Context, *ReceiverHost[int], int) {
	return func(ctx context.Context, h *ReceiverHost[int], _ int) {
		if !rcvSleep(ctx, 50*time.Millisecond) {
			return
		}
		for i := range n {
			if h.Store(i) != nil {
				return
			}
			mu.Lock()
			*times = append(*times, time.Now())
			mu.Unlock()
		}
	}
}

// rcvOffsets returns ts relative to z.
func rcvOffsets(z time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, x := range ts {
		out[i] = x.Sub(z)
	}
	return out
}

// Locks down: MaxRate(r) spaces Store calls 1/r apart, so storing N records
// takes (N-1)/r of virtual time (the first permit is free, the (N+1)th is
// due N/r after the first), and no batch holds more than r*interval + 1
// records. The +1: the block cut at a batch boundary may land in either
// batch (both timers fire at the same instant), and with a block interval
// of 100 ms at 10 records/s every block holds exactly one record.
func TestReceiverMaxRateLimitsStoreAndBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, rate = 50, 10.0
		ssc := newRcvContext(t, time.Second, WithBlockInterval(100*time.Millisecond))
		var mu sync.Mutex
		var times []time.Time
		r := &scriptReceiver{name: "limited", script: rcvRateScript(n, &times, &mu)}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r, MaxRate(rate)))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 6500*time.Millisecond)

		mu.Lock()
		got := rcvOffsets(z, times)
		mu.Unlock()
		want := make([]time.Duration, n)
		for i := range want {
			want[i] = 50*time.Millisecond + time.Duration(i)*100*time.Millisecond
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Store return times = %v, want %v", got, want)
		}
		if d := got[n-1] - got[0]; d != time.Duration(float64(n-1)/rate*float64(time.Second)) {
			t.Errorf("storing %d records at %v/s took %v, want %v", n, rate, d, 4900*time.Millisecond)
		}
		total := 0
		for i := 1; i <= 6; i++ {
			ps, ok := k.at(rcvMs(z, time.Duration(i)*time.Second))
			if !ok {
				t.Fatalf("no batch at +%ds", i)
			}
			c := 0
			for _, p := range ps {
				if len(p) != 1 {
					t.Errorf("batch +%ds partition %v, want one record per 100 ms block", i, p)
				}
				c += len(p)
			}
			if c > int(rate)+1 {
				t.Errorf("batch +%ds holds %d records, want at most rate*interval+1 = %d", i, c, int(rate)+1)
			}
			total += c
		}
		if total != n {
			t.Errorf("records over batches +1s..+6s = %d, want %d", total, n)
		}
		if all := k.all(); !slices.Equal(all, rcvSeq(0, n)) {
			t.Errorf("records = %v, want 0..%d in order", all, n-1)
		}
	})
}

// Locks down: WithReceiverMaxRate caps every receiver of the context, a
// per-receiver MaxRate overrides it, and MaxRate(0) or a negative rate
// means unlimited even when the context sets a rate.
func TestReceiverMaxRateContextWideAndOverride(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 11
		ssc := newRcvContext(t, time.Second, WithReceiverMaxRate(20))
		type rcv struct {
			name string
			opts []ReceiverOption
			want time.Duration // from the first Store's return to the last
		}
		cases := []rcv{
			{"context", nil, 500 * time.Millisecond}, // 10 gaps of 1/20 s
			{"slower", []ReceiverOption{MaxRate(5)}, 2 * time.Second},
			{"faster", []ReceiverOption{MaxRate(100)}, 100 * time.Millisecond},
			{"zero", []ReceiverOption{MaxRate(0)}, 0},
			{"negative", []ReceiverOption{MaxRate(-1)}, 0},
		}
		times := make([][]time.Time, len(cases))
		mus := make([]sync.Mutex, len(cases))
		for i, c := range cases {
			r := &scriptReceiver{name: c.name, script: rcvRateScript(n, &times[i], &mus[i])}
			collectRcvParts(t, ReceiverStream[int](ssc, r, c.opts...))
		}
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 3500*time.Millisecond)
		for i, c := range cases {
			mus[i].Lock()
			ts := times[i]
			mus[i].Unlock()
			if len(ts) != n {
				t.Errorf("%s: %d stores returned, want %d", c.name, len(ts), n)
				continue
			}
			if first := ts[0].Sub(z); first != 50*time.Millisecond {
				t.Errorf("%s: first Store returned at +%v, want +50ms (the first permit is free)", c.name, first)
			}
			if got := ts[n-1].Sub(ts[0]); got != c.want {
				t.Errorf("%s: %d stores took %v, want %v", c.name, n, got, c.want)
			}
		}
	})
}

// Locks down: SetMaxRate changes the limit while the receiver runs:
// unlimited -> 10/s -> 20/s -> 0 (unlimited). A new rate applies from the
// next permit on; the permit already scheduled at the old rate is kept.
func TestReceiverSetMaxRateAtRunTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second)
		var mu sync.Mutex
		var times []time.Time
		store := func(h *ReceiverHost[int], n int) {
			for i := range n {
				if err := h.Store(i); err != nil {
					t.Errorf("Store: %v", err)
					return
				}
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
			}
		}
		r := &scriptReceiver{name: "dynamic", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 50*time.Millisecond)
			store(h, 5) // unlimited: all at +50ms
			h.SetMaxRate(10)
			store(h, 10) // +50, +150, ..., +950
			h.SetMaxRate(20)
			store(h, 10) // next permit still due at +1050, then every 50 ms: ..., +1500
			h.SetMaxRate(0)
			store(h, 5) // unlimited again: all at +1500
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 2500*time.Millisecond)

		var want []time.Duration
		ms := func(x int) time.Duration { return time.Duration(x) * time.Millisecond }
		for range 5 {
			want = append(want, ms(50))
		}
		for i := range 10 {
			want = append(want, ms(50+100*i))
		}
		for i := range 10 {
			want = append(want, ms(1050+50*i))
		}
		for range 5 {
			want = append(want, ms(1500))
		}
		mu.Lock()
		got := rcvOffsets(z, times)
		mu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("Store return times =\n%v\nwant\n%v", got, want)
		}
		if all := k.all(); len(all) != 30 {
			t.Errorf("processed %d records, want 30", len(all))
		}
	})
}

// rcvBlockingSink registers an output that blocks on the first batch that has
// records until release is closed (or the run is cancelled), and records
// every batch it completes.
type rcvBlockingSink struct {
	release chan struct{}
	mu      sync.Mutex
	blocked int64 // batch time (ms) it is blocked in, 0 if none
	done    map[int64][][]int
	order   []int64
	once    bool
}

func newRcvBlockingSink(t testing.TB, s *Stream[int]) *rcvBlockingSink {
	t.Helper()
	k := &rcvBlockingSink{release: make(chan struct{}), done: map[int64][][]int{}}
	mustNoErr(t, s.ForEachBatch(func(ctx context.Context, b *Batch[int]) error {
		ms := b.Time.UnixMilli()
		k.mu.Lock()
		block := !k.once && b.Len() > 0
		if block {
			k.once = true
			k.blocked = ms
		}
		k.mu.Unlock()
		if block {
			select {
			case <-k.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			k.mu.Lock()
			k.blocked = 0
			k.mu.Unlock()
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		ps := make([][]int, len(b.Partitions))
		for i, p := range b.Partitions {
			ps[i] = slices.Clone(p)
		}
		k.done[ms] = ps
		k.order = append(k.order, ms)
		return nil
	}), "ForEachBatch")
	return k
}

func (k *rcvBlockingSink) state() (blocked int64, order []int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.blocked, slices.Clone(k.order)
}

func (k *rcvBlockingSink) at(ms int64) [][]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.done[ms]
}

// rcvStoreTimes records when each store call of a script returned, and its
// error.
type rcvStoreTimes struct {
	mu   sync.Mutex
	at   []time.Time
	errs []error
}

func (s *rcvStoreTimes) note(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = append(s.at, time.Now())
	s.errs = append(s.errs, err)
}

func (s *rcvStoreTimes) get(z time.Time) ([]time.Duration, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rcvOffsets(z, s.at), slices.Clone(s.errs)
}

// Locks down: with WithBlockQueueSize(2), StoreSlice blocks once 2 blocks
// are stored and not yet processed (the queue counts blocks waiting for a
// batch and blocks of a batch still running), and returns as soon as the
// blocked batch completes; later batches are unaffected.
func TestReceiverBlockQueueBlocksStoreSlice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second, WithBlockQueueSize(2))
		st := &rcvStoreTimes{}
		r := &scriptReceiver{name: "bounded", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 100*time.Millisecond)
			st.note(h.StoreSlice([]int{1}))
			rcvSleep(ctx, 100*time.Millisecond)
			st.note(h.StoreSlice([]int{2}))
			rcvSleep(ctx, 100*time.Millisecond)
			st.note(h.StoreSlice([]int{3})) // queue full: waits for batch +1s to complete
		}}
		k := newRcvBlockingSink(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)

		rcvSleepUntil(z, 2500*time.Millisecond)
		ats, _ := st.get(z)
		if want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}; !slices.Equal(ats, want) {
			t.Fatalf("while the batch is blocked, StoreSlice returned at %v, want only %v (the third must block)", ats, want)
		}
		if blocked, order := k.state(); blocked != rcvMs(z, time.Second) || len(order) != 0 {
			t.Fatalf("output blocked in %d, completed %v; want blocked in batch +1s, none completed", blocked, order)
		}

		close(k.release) // at +2.5 s
		synctest.Wait()
		ats, errs := st.get(z)
		if want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 2500 * time.Millisecond}; !slices.Equal(ats, want) {
			t.Errorf("StoreSlice returned at %v, want %v (the third right when batch +1s completed)", ats, want)
		}
		if !slices.Equal(errs, []error{nil, nil, nil}) {
			t.Errorf("StoreSlice errors = %v, want all nil", errs)
		}
		rcvSleepUntil(z, 3500*time.Millisecond)
		_, order := k.state()
		if want := []int64{rcvMs(z, time.Second), rcvMs(z, 2*time.Second), rcvMs(z, 3*time.Second)}; !slices.Equal(order, want) {
			t.Errorf("completed batches %v, want %v", order, want)
		}
		for sec, want := range map[int][][]int{1: {{1}, {2}}, 2: {}, 3: {{3}}} {
			if got := k.at(rcvMs(z, time.Duration(sec)*time.Second)); !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("batch +%ds = %v, want %v", sec, got, want)
			}
		}
	})
}

// Locks down: with WithBlockQueueSize(2), Store blocks once the block
// generator has cut 2 blocks that are not yet processed, and resumes when
// the blocked batch completes; the record then goes into the next block.
func TestReceiverBlockQueueBlocksStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second, WithBlockQueueSize(2))
		st := &rcvStoreTimes{}
		r := &scriptReceiver{name: "bounded", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 50*time.Millisecond)
			st.note(h.Store(1)) // block cut at +200ms
			rcvSleep(ctx, 200*time.Millisecond)
			st.note(h.Store(2)) // block cut at +400ms: 2 pending
			rcvSleep(ctx, 200*time.Millisecond)
			st.note(h.Store(3)) // +450ms: queue full
		}}
		k := newRcvBlockingSink(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)

		rcvSleepUntil(z, 3500*time.Millisecond)
		ats, _ := st.get(z)
		if want := []time.Duration{50 * time.Millisecond, 250 * time.Millisecond}; !slices.Equal(ats, want) {
			t.Fatalf("while the batch is blocked, Store returned at %v, want only %v (the third must block)", ats, want)
		}
		if blocked, _ := k.state(); blocked != rcvMs(z, time.Second) {
			t.Fatalf("output blocked in %d, want batch +1s (%d)", blocked, rcvMs(z, time.Second))
		}

		close(k.release) // at +3.5 s
		synctest.Wait()
		ats, errs := st.get(z)
		if want := []time.Duration{50 * time.Millisecond, 250 * time.Millisecond, 3500 * time.Millisecond}; !slices.Equal(ats, want) {
			t.Errorf("Store returned at %v, want %v", ats, want)
		}
		if !slices.Equal(errs, []error{nil, nil, nil}) {
			t.Errorf("Store errors = %v, want all nil", errs)
		}
		rcvSleepUntil(z, 4500*time.Millisecond)
		for sec, want := range map[int][][]int{1: {{1}, {2}}, 2: {}, 3: {}, 4: {{3}}} {
			if got := k.at(rcvMs(z, time.Duration(sec)*time.Second)); !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("batch +%ds = %v, want %v", sec, got, want)
			}
		}
	})
}

// Locks down: ReportError delivers the receiver's info with
// LastErrorMessage, LastError and LastErrorTime (virtual now) to
// ReceiverErrorListeners, and does not stop the receiver: no OnStop, no
// stopped event, IsStopped false, and later records are processed.
func TestReceiverReportErrorKeepsRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &rcvEventLog{}
		ssc := newRcvContext(t, time.Second, WithListener(log))
		var (
			mu           sync.Mutex
			stoppedAfter bool
		)
		r := &scriptReceiver{script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 1500*time.Millisecond)
			h.ReportError("bad record", errRcvSource)
			mu.Lock()
			stoppedAfter = h.IsStopped()
			mu.Unlock()
			if err := h.StoreSlice([]int{7, 8}); err != nil {
				t.Errorf("StoreSlice after ReportError: %v", err)
			}
			<-ctx.Done()
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 2500*time.Millisecond)

		want := []string{
			`started@+0s id=0 name=receiverStream#1 active=true msg="" err=<nil> errAt=-`,
			`error@+1.5s id=0 name=receiverStream#1 active=true msg="bad record" err=source error errAt=+1.5s`,
		}
		if got := log.describe(z); !slices.Equal(got, want) {
			t.Errorf("events =\n%s\nwant\n%s", fmt.Sprint(got), fmt.Sprint(want))
		}
		if evs := log.eventList(); len(evs) == 2 && !errors.Is(evs[1].info.LastError, errRcvSource) {
			t.Errorf("LastError = %v, want errRcvSource", evs[1].info.LastError)
		}
		mu.Lock()
		defer mu.Unlock()
		if stoppedAfter {
			t.Error("IsStopped() = true after ReportError, want false")
		}
		if got, _ := k.at(rcvMs(z, 2*time.Second)); !slices.EqualFunc(got, [][]int{{7, 8}}, slices.Equal) {
			t.Errorf("batch +2s = %v, want [[7 8]]", got)
		}
		starts, stops := r.calls(z)
		if len(starts) != 1 || len(stops) != 0 {
			t.Errorf("OnStart at %v, OnStop at %v; want one start, no stop", starts, stops)
		}
		if st := ssc.State(); st != StateActive {
			t.Errorf("context state %v, want ACTIVE", st)
		}
	})
}

// Locks down: Restart runs OnStop at once, then OnStart again after the
// context's restart delay (WithReceiverRestartDelay), all in the
// background; listeners see stopped (with the restart message and error)
// then started; records stored before the restart, with Store or
// StoreSlice, are kept and processed.
func TestReceiverRestartAfterDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &rcvEventLog{}
		ssc := newRcvContext(t, time.Second, WithListener(log), WithReceiverRestartDelay(3*time.Second))
		r := &scriptReceiver{name: "flaky", script: func(ctx context.Context, h *ReceiverHost[int], run int) {
			if run == 1 {
				rcvSleep(ctx, 500*time.Millisecond)
				_ = h.StoreSlice([]int{1, 2})
				_ = h.Store(3) // buffered, cut into a block by the block generator
				h.Restart("reconnecting", errRcvSource)
				<-ctx.Done()
				return
			}
			rcvSleep(ctx, 100*time.Millisecond)
			_ = h.StoreSlice([]int{4})
			<-ctx.Done()
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 4500*time.Millisecond)

		starts, stops := r.calls(z)
		if want := []time.Duration{0, 3500 * time.Millisecond}; !slices.Equal(starts, want) {
			t.Errorf("OnStart at %v, want %v", starts, want)
		}
		if want := []time.Duration{500 * time.Millisecond}; !slices.Equal(stops, want) {
			t.Errorf("OnStop at %v, want %v", stops, want)
		}
		want := []string{
			`started@+0s id=0 name=flaky active=true msg="" err=<nil> errAt=-`,
			`stopped@+500ms id=0 name=flaky active=false msg="reconnecting" err=source error errAt=+500ms`,
			`started@+3.5s id=0 name=flaky active=true msg="reconnecting" err=source error errAt=+500ms`,
		}
		if got := log.describe(z); !slices.Equal(got, want) {
			t.Errorf("events =\n%q\nwant\n%q", got, want)
		}
		for sec, want := range map[int][][]int{1: {{1, 2}, {3}}, 2: {}, 3: {}, 4: {{4}}} {
			if got, _ := k.at(rcvMs(z, time.Duration(sec)*time.Second)); !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("batch +%ds = %v, want %v", sec, got, want)
			}
		}
	})
}

// Locks down: RestartAfter uses its own delay instead of the context's
// (2 s by default), and a restart request while a restart is under way is
// absorbed: one OnStop, one new OnStart.
func TestReceiverRestartAfterOwnDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &rcvEventLog{}
		ssc := newRcvContext(t, time.Second, WithListener(log))
		r := &scriptReceiver{name: "flaky", script: func(ctx context.Context, h *ReceiverHost[int], run int) {
			if run == 1 {
				rcvSleep(ctx, 500*time.Millisecond)
				h.RestartAfter("quick", nil, 700*time.Millisecond)
				h.Restart("again", errRcvSource) // absorbed
				<-ctx.Done()
			}
		}}
		collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 3500*time.Millisecond)

		starts, stops := r.calls(z)
		if want := []time.Duration{0, 1200 * time.Millisecond}; !slices.Equal(starts, want) {
			t.Errorf("OnStart at %v, want %v", starts, want)
		}
		if want := []time.Duration{500 * time.Millisecond}; !slices.Equal(stops, want) {
			t.Errorf("OnStop at %v, want %v", stops, want)
		}
		want := []string{
			`started@+0s id=0 name=flaky active=true msg="" err=<nil> errAt=-`,
			`stopped@+500ms id=0 name=flaky active=false msg="" err=<nil> errAt=-`,
			`started@+1.2s id=0 name=flaky active=true msg="" err=<nil> errAt=-`,
		}
		if got := log.describe(z); !slices.Equal(got, want) {
			t.Errorf("events =\n%q\nwant\n%q", got, want)
		}
	})
}

// Locks down: an OnStart that returns an error is reported to
// ReceiverErrorListeners, stopped (OnStop, as for any restart) and started
// again after the restart delay, until it succeeds; only the successful
// start emits a started event, and the receiver then works.
func TestReceiverOnStartErrorRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &rcvEventLog{}
		ssc := newRcvContext(t, time.Second, WithListener(log), WithReceiverRestartDelay(1500*time.Millisecond))
		r := &scriptReceiver{name: "dialer", failStarts: 2, script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 100*time.Millisecond)
			_ = h.StoreSlice([]int{42})
			<-ctx.Done()
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 4500*time.Millisecond)

		starts, stops := r.calls(z)
		if want := []time.Duration{0, 1500 * time.Millisecond, 3 * time.Second}; !slices.Equal(starts, want) {
			t.Errorf("OnStart at %v, want %v", starts, want)
		}
		if want := []time.Duration{0, 1500 * time.Millisecond}; !slices.Equal(stops, want) {
			t.Errorf("OnStop at %v, want %v", stops, want)
		}
		const msg = "error starting receiver"
		want := []string{
			`error@+0s id=0 name=dialer active=true msg="error starting receiver" err=dialer: start 1: cannot connect errAt=+0s`,
			`stopped@+0s id=0 name=dialer active=false msg="error starting receiver" err=dialer: start 1: cannot connect errAt=+0s`,
			`error@+1.5s id=0 name=dialer active=true msg="error starting receiver" err=dialer: start 2: cannot connect errAt=+1.5s`,
			`stopped@+1.5s id=0 name=dialer active=false msg="error starting receiver" err=dialer: start 2: cannot connect errAt=+1.5s`,
			`started@+3s id=0 name=dialer active=true msg="error starting receiver" err=dialer: start 2: cannot connect errAt=+1.5s`,
		}
		if got := log.describe(z); !slices.Equal(got, want) {
			t.Errorf("events =\n%q\nwant\n%q", got, want)
		}
		for _, e := range log.eventList() {
			if e.kind == "error" && (e.info.LastErrorMessage != msg || !errors.Is(e.info.LastError, errRcvStart)) {
				t.Errorf("error event %+v, want %q wrapping errRcvStart", e.info, msg)
			}
		}
		if got, _ := k.at(rcvMs(z, 4*time.Second)); !slices.EqualFunc(got, [][]int{{42}}, slices.Equal) {
			t.Errorf("batch +4s = %v, want [[42]]", got)
		}
	})
}

// Locks down: a panic in OnStart does not crash the process: it is
// reported as a *PanicError and the receiver is restarted after the
// restart delay.
func TestReceiverOnStartPanicRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &rcvEventLog{}
		ssc := newRcvContext(t, time.Second, WithListener(log), WithReceiverRestartDelay(time.Second))
		r := &scriptReceiver{name: "panicky", panicStarts: 1, script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 100*time.Millisecond)
			_ = h.StoreSlice([]int{9})
			<-ctx.Done()
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 2500*time.Millisecond)

		starts, _ := r.calls(z)
		if want := []time.Duration{0, time.Second}; !slices.Equal(starts, want) {
			t.Errorf("OnStart at %v, want %v", starts, want)
		}
		evs := log.eventList()
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, fmt.Sprintf("%s@+%v", e.kind, e.at.Sub(z)))
		}
		if want := []string{"error@+0s", "stopped@+0s", "started@+1s"}; !slices.Equal(kinds, want) {
			t.Fatalf("events %v, want %v", kinds, want)
		}
		var pe *PanicError
		if !errors.As(evs[0].info.LastError, &pe) || pe.Value != "boom in OnStart 1" {
			t.Errorf("error event LastError = %v, want a *PanicError with value %q", evs[0].info.LastError, "boom in OnStart 1")
		}
		if evs[0].info.LastErrorMessage != "error starting receiver" {
			t.Errorf("LastErrorMessage = %q, want %q", evs[0].info.LastErrorMessage, "error starting receiver")
		}
		if got, _ := k.at(rcvMs(z, 2*time.Second)); !slices.EqualFunc(got, [][]int{{9}}, slices.Equal) {
			t.Errorf("batch +2s = %v, want [[9]]", got)
		}
		if st := ssc.State(); st != StateActive {
			t.Errorf("context state %v, want ACTIVE", st)
		}
	})
}

// Locks down: Stop from the receiver stops it for good: OnStop once, a
// stopped event with the message and error, IsStopped true, Store and
// StoreSlice return ErrReceiverStopped, Restart is ignored, the records
// stored before (buffered and sliced) are processed in the next batch, the
// stream's later batches are empty, and the context keeps running.
func TestReceiverStopFromReceiver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &rcvEventLog{}
		ssc := newRcvContext(t, time.Second, WithListener(log))
		var (
			mu        sync.Mutex
			beforeErr error
		)
		r := &scriptReceiver{name: "finite", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 1250*time.Millisecond) // off the 200 ms block grid
			e1 := h.Store(1)
			e2 := h.Store(2)
			e3 := h.StoreSlice([]int{3, 4})
			mu.Lock()
			beforeErr = errors.Join(e1, e2, e3)
			mu.Unlock()
			h.Stop("source exhausted", errRcvSource)
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 1500*time.Millisecond)

		mu.Lock()
		if beforeErr != nil {
			t.Errorf("stores before Stop: %v; want nil", beforeErr)
		}
		mu.Unlock()
		h := r.getHost()
		if !h.IsStopped() {
			t.Error("IsStopped() = false after Stop, want true")
		}
		if err := h.Store(5); !errors.Is(err, ErrReceiverStopped) {
			t.Errorf("Store after Stop = %v, want ErrReceiverStopped", err)
		}
		if err := h.StoreSlice([]int{6}); !errors.Is(err, ErrReceiverStopped) {
			t.Errorf("StoreSlice after Stop = %v, want ErrReceiverStopped", err)
		}
		h.Restart("ignored", nil)
		h.RestartAfter("ignored", nil, 0)
		rcvSleepUntil(z, 4500*time.Millisecond)

		got, _ := k.at(rcvMs(z, 2*time.Second))
		var flat []int
		for _, p := range got {
			flat = append(flat, p...)
		}
		slices.Sort(flat)
		if len(got) != 2 || !slices.Equal(flat, []int{1, 2, 3, 4}) {
			t.Errorf("batch +2s = %v, want two blocks [3 4] and [1 2]", got)
		}
		for _, sec := range []int{1, 3, 4} {
			if ps, ok := k.at(rcvMs(z, time.Duration(sec)*time.Second)); !ok || len(ps) != 0 {
				t.Errorf("batch +%ds = %v (present %t), want an empty batch", sec, ps, ok)
			}
		}
		starts, stops := r.calls(z)
		if want := []time.Duration{1250 * time.Millisecond}; len(starts) != 1 || !slices.Equal(stops, want) {
			t.Errorf("OnStart at %v, OnStop at %v; want one start, OnStop at %v", starts, stops, want)
		}
		want := []string{
			`started@+0s id=0 name=finite active=true msg="" err=<nil> errAt=-`,
			`stopped@+1.25s id=0 name=finite active=false msg="source exhausted" err=source error errAt=+1.25s`,
		}
		if got := log.describe(z); !slices.Equal(got, want) {
			t.Errorf("events =\n%q\nwant\n%q", got, want)
		}
		if st := ssc.State(); st != StateActive {
			t.Errorf("context state %v, want ACTIVE", st)
		}
	})
}

// Locks down: Stop takes effect when it returns, as in Spark (where
// Receiver.stop runs stopReceiver synchronously): the receiver's next
// IsStopped is true and its next Store or StoreSlice returns
// ErrReceiverStopped, so the idiom "for !h.IsStopped() { h.Store(x) }"
// ends right after Stop.
func TestReceiverStopTakesEffectImmediately(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second)
		var (
			mu        sync.Mutex
			isStopped bool
			storeErr  error
			sliceErr  error
		)
		r := &scriptReceiver{name: "finite", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 500*time.Millisecond)
			h.Stop("done", nil)
			s := h.IsStopped()
			e1 := h.Store(1)
			e2 := h.StoreSlice([]int{2})
			mu.Lock()
			isStopped, storeErr, sliceErr = s, e1, e2
			mu.Unlock()
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 1500*time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if !isStopped {
			t.Error("IsStopped() right after Stop = false, want true")
		}
		if !errors.Is(storeErr, ErrReceiverStopped) || !errors.Is(sliceErr, ErrReceiverStopped) {
			t.Errorf("Store, StoreSlice right after Stop = %v, %v; want ErrReceiverStopped", storeErr, sliceErr)
		}
		if ps, _ := k.at(rcvMs(z, time.Second)); len(ps) != 0 {
			t.Errorf("batch +1s = %v, want empty: nothing was stored before Stop", ps)
		}
	})
}

// Locks down (Spark's own graceful stop test): with a receiver storing
// continuously (Store and StoreSlice), Stop(Graceful) stops the receiver,
// puts everything it stored into a batch and waits for that batch: the
// records processed over all batches are exactly the records whose
// Store/StoreSlice returned nil; Stop returns at the next batch time.
func TestReceiverGracefulStopProcessesAllStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &rcvEventLog{}
		ssc := newRcvContext(t, time.Second, WithListener(log))
		var (
			mu       sync.Mutex
			accepted []int
			lastErr  error
		)
		r := &scriptReceiver{name: "firehose", script: func(_ context.Context, h *ReceiverHost[int], _ int) {
			next := 0
			for i := 0; ; i++ {
				var xs []int
				var err error
				if i%5 == 4 {
					xs = []int{next, next + 1, next + 2}
					err = h.StoreSlice(xs)
				} else {
					xs = []int{next}
					err = h.Store(next)
				}
				next += len(xs)
				if err != nil {
					mu.Lock()
					lastErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				accepted = append(accepted, xs...)
				mu.Unlock()
				time.Sleep(7 * time.Millisecond)
			}
		}}
		k := collectRcvParts(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 3550*time.Millisecond)

		if err := ssc.Stop(context.Background(), Graceful); err != nil {
			t.Fatalf("Stop(Graceful) = %v, want nil", err)
		}
		if at := time.Since(z); at != 4*time.Second {
			t.Errorf("Stop(Graceful) returned at +%v, want +4s (after the batch holding the rest)", at)
		}
		mu.Lock()
		defer mu.Unlock()
		if !errors.Is(lastErr, ErrReceiverStopped) {
			t.Errorf("the storing loop ended with %v, want ErrReceiverStopped", lastErr)
		}
		processed := k.all()
		slices.Sort(processed)
		want := slices.Clone(accepted)
		slices.Sort(want)
		if len(want) < 400 || !slices.Equal(processed, want) {
			t.Errorf("processed %d records, stored %d; want the same records (and several hundred)", len(processed), len(want))
		}
		var n int64
		for _, b := range log.completed() {
			n += b.NumRecords()
		}
		if n != int64(len(accepted)) {
			t.Errorf("sum of BatchInfo.NumRecords() = %d, want %d stored", n, len(accepted))
		}
		if want := []int64{rcvMs(z, time.Second), rcvMs(z, 2*time.Second), rcvMs(z, 3*time.Second), rcvMs(z, 4*time.Second)}; !slices.Equal(k.seen(), want) {
			t.Errorf("batches processed %v, want %v", k.seen(), want)
		}
		if b, ok := log.batchAt(z.Add(4 * time.Second)); !ok || b.NumRecords() == 0 {
			t.Errorf("batch +4s (the drained tail) has %d records, want > 0", b.NumRecords())
		}
		if st := ssc.State(); st != StateStopped {
			t.Errorf("state %v, want STOPPED", st)
		}
	})
}

// Locks down: Stop(Hard) returns at once (no virtual time passes) while a
// batch is running and others are queued: the running batch's context is
// cancelled, queued batches are dropped, the receiver is stopped (OnStop,
// ErrReceiverStopped) and every goroutine ends (synctest fails the test if
// one is left).
func TestReceiverHardStopDropsQueuedBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second)
		r := &scriptReceiver{name: "steady", script: rcvSteadyScript(1000)}
		var (
			mu       sync.Mutex
			entered  []time.Time
			finished []time.Time
			ctxErr   error
			calls    int
		)
		s := ReceiverStream[int](ssc, r)
		mustNoErr(t, s.ForEachBatch(func(ctx context.Context, b *Batch[int]) error {
			mu.Lock()
			calls++
			n := calls
			entered = append(entered, b.Time)
			mu.Unlock()
			if n == 2 {
				<-ctx.Done()
				mu.Lock()
				ctxErr = ctx.Err()
				mu.Unlock()
				return ctx.Err()
			}
			mu.Lock()
			finished = append(finished, b.Time)
			mu.Unlock()
			return nil
		}), "ForEachBatch")
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 4500*time.Millisecond)

		before := time.Now()
		if err := ssc.Stop(context.Background(), Hard); err != nil {
			t.Fatalf("Stop(Hard) = %v, want nil", err)
		}
		if d := time.Since(before); d != 0 {
			t.Errorf("Stop(Hard) took %v of virtual time, want 0", d)
		}
		synctest.Wait()
		mu.Lock()
		if want := []time.Time{z.Add(time.Second), z.Add(2 * time.Second)}; !slices.EqualFunc(entered, want, time.Time.Equal) {
			t.Errorf("output entered batches %v, want only +1s and +2s (+3s, +4s dropped)", entered)
		}
		if want := []time.Time{z.Add(time.Second)}; !slices.EqualFunc(finished, want, time.Time.Equal) {
			t.Errorf("output finished batches %v, want only +1s", finished)
		}
		if !errors.Is(ctxErr, context.Canceled) {
			t.Errorf("running batch's ctx error = %v, want context.Canceled", ctxErr)
		}
		mu.Unlock()
		if st := ssc.State(); st != StateStopped {
			t.Errorf("state %v, want STOPPED", st)
		}
		if err := ssc.AwaitTermination(context.Background()); err != nil {
			t.Errorf("AwaitTermination = %v, want nil after a requested stop", err)
		}
		h := r.getHost()
		if !h.IsStopped() || !errors.Is(h.Store(1), ErrReceiverStopped) || !errors.Is(h.StoreSlice([]int{1}), ErrReceiverStopped) {
			t.Error("after Stop(Hard): want IsStopped and ErrReceiverStopped from Store and StoreSlice")
		}
		if _, stops := r.calls(z); !slices.Equal(stops, []time.Duration{4500 * time.Millisecond}) {
			t.Errorf("OnStop at %v, want once at +4.5s", stops)
		}
	})
}

// Locks down: a Store blocked on a full block queue returns
// ErrReceiverStopped when the context stops hard, so the receiver's
// goroutine can end.
func TestReceiverHardStopReleasesBlockedStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ssc := newRcvContext(t, time.Second, WithBlockQueueSize(1))
		st := &rcvStoreTimes{}
		r := &scriptReceiver{name: "bounded", script: func(ctx context.Context, h *ReceiverHost[int], _ int) {
			rcvSleep(ctx, 100*time.Millisecond)
			st.note(h.StoreSlice([]int{1}))
			st.note(h.StoreSlice([]int{2})) // blocks: 1 block pending
		}}
		k := newRcvBlockingSink(t, ReceiverStream[int](ssc, r))
		z := startRcvContext(t, ssc)
		rcvSleepUntil(z, 1500*time.Millisecond)
		if blocked, _ := k.state(); blocked != rcvMs(z, time.Second) {
			t.Fatalf("output blocked in %d, want batch +1s", blocked)
		}
		if err := ssc.Stop(context.Background(), Hard); err != nil {
			t.Fatalf("Stop(Hard) = %v", err)
		}
		ats, errs := st.get(z)
		if !slices.Equal(ats, []time.Duration{100 * time.Millisecond, 1500 * time.Millisecond}) ||
			errs[0] != nil || !errors.Is(errs[1], ErrReceiverStopped) {
			t.Errorf("StoreSlice returned at %v with %v; want nil at +100ms, ErrReceiverStopped at +1.5s", ats, errs)
		}
	})
}

// Locks down: ReceiverStream with a nil receiver or a nil context, or
// after Start, returns a stream carrying a *BuildError instead of
// panicking; output operations and Start report it.
func TestReceiverStreamBuildErrors(t *testing.T) {
	ssc, err := NewContext(time.Second, WithLogger(quietLogger))
	mustNoErr(t, err, "NewContext")
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), Hard) })

	s := ReceiverStream[int](ssc, nil)
	var be *BuildError
	if !errors.As(s.Err(), &be) || be.Op != "receiverStream" || !errors.Is(be, ErrInvalidOption) {
		t.Fatalf("nil receiver: Err() = %v, want a *BuildError for receiverStream wrapping ErrInvalidOption", s.Err())
	}
	if err := s.ForEachBatch(func(context.Context, *Batch[int]) error { return nil }); !errors.As(err, &be) || !errors.Is(err, ErrInvalidOption) {
		t.Errorf("ForEachBatch on it = %v, want the BuildError", err)
	}
	if err := ssc.Start(); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Start = %v, want the BuildError (ErrInvalidOption)", err)
	}
	if st := ssc.State(); st != StateInitialized {
		t.Errorf("state after failed Start = %v, want INITIALIZED", st)
	}

	ns := ReceiverStream[int](nil, &scriptReceiver{})
	if !errors.As(ns.Err(), &be) || !errors.Is(be, ErrInvalidOption) {
		t.Errorf("nil context: Err() = %v, want a *BuildError wrapping ErrInvalidOption", ns.Err())
	}

	synctest.Test(t, func(t *testing.T) {
		c := newRcvContext(t, time.Second)
		collectRcvParts(t, ReceiverStream[int](c, &scriptReceiver{}))
		startRcvContext(t, c)
		late := ReceiverStream[int](c, &scriptReceiver{})
		if !errors.As(late.Err(), &be) || !errors.Is(be, ErrContextStarted) {
			t.Errorf("after Start: Err() = %v, want a *BuildError wrapping ErrContextStarted", late.Err())
		}
	})
}
