package dstream

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// quietLogger discards the engine's logs in tests.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness drives a Context on a ManualClock that starts at the Unix epoch,
// so the zero time is 0 and batch k (from 1) is at k*interval.
type harness struct {
	t        testing.TB
	clock    *ManualClock
	ssc      *Context
	interval time.Duration
}

func newHarness(t testing.TB, interval time.Duration, opts ...Option) *harness {
	t.Helper()
	clk := NewManualClock(time.UnixMilli(0))
	all := append([]Option{WithClock(clk), WithLogger(quietLogger), WithInMemoryState()}, opts...)
	ssc, err := NewContext(interval, all...)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), Hard) })
	return &harness{t: t, clock: clk, ssc: ssc, interval: interval}
}

// start starts the context and fails the test on error.
func (h *harness) start() {
	h.t.Helper()
	if err := h.ssc.Start(); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
}

// step advances the clock by one interval and waits for that batch to
// complete; it returns the batch time.
func (h *harness) step() time.Time {
	h.t.Helper()
	h.clock.Advance(h.interval)
	now := h.clock.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard, not a timing assertion
	defer cancel()
	if err := h.ssc.WaitForBatch(ctx, now); err != nil {
		h.t.Fatalf("batch %d ms: %v", now.UnixMilli(), err)
	}
	return now
}

// steps runs n batches.
func (h *harness) steps(n int) {
	h.t.Helper()
	for range n {
		h.step()
	}
}

// stepErr advances one interval and returns the batch's error, if any.
func (h *harness) stepErr() error {
	h.clock.Advance(h.interval)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.ssc.WaitForBatch(ctx, h.clock.Now())
}

// ms returns the batch time of batch k (from 1) in milliseconds.
func (h *harness) ms(k int) int64 { return int64(k) * h.interval.Milliseconds() }

// sink records every batch an output operation sees.
type sink[T any] struct {
	mu      sync.Mutex
	batches map[int64][]T // batch time (ms) -> elements in partition order
	parts   map[int64]int // batch time (ms) -> number of partitions
	times   []int64       // batch times in the order seen
}

// collect registers a ForEachBatch output on s that records its batches.
func collect[T any](t testing.TB, s *Stream[T]) *sink[T] {
	t.Helper()
	k := &sink[T]{batches: map[int64][]T{}, parts: map[int64]int{}}
	if err := s.ForEachBatch(func(_ context.Context, b *Batch[T]) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		ms := b.Time.UnixMilli()
		k.batches[ms] = b.Collect()
		k.parts[ms] = len(b.Partitions)
		k.times = append(k.times, ms)
		return nil
	}); err != nil {
		t.Fatalf("ForEachBatch: %v", err)
	}
	return k
}

// at returns the elements of the batch at ms, and whether there was one.
func (k *sink[T]) at(ms int64) ([]T, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.batches[ms]
	return b, ok
}

// seen returns the batch times seen, in order.
func (k *sink[T]) seen() []int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.times)
}

// sortedPairs sorts pairs by key for order-independent comparison.
func sortedPairs[K cmp.Ordered, V any](ps []Pair[K, V]) []Pair[K, V] {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b Pair[K, V]) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// pairMap turns pairs into a map, failing on a duplicate key.
func pairMap[K comparable, V any](t testing.TB, ps []Pair[K, V]) map[K]V {
	t.Helper()
	m := make(map[K]V, len(ps))
	for _, p := range ps {
		if _, dup := m[p.Key]; dup {
			t.Fatalf("duplicate key %v in %v", p.Key, ps)
		}
		m[p.Key] = p.Value
	}
	return m
}

func add(a, b int) int { return a + b }
func sub(a, b int) int { return a - b }

// mustNoErr fails the test on err.
func mustNoErr(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
