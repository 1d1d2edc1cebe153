package dstream

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostReceiver hands its host to the test, which stores records itself.
type hostReceiver struct {
	hosts chan *ReceiverHost[string]
}

func (r *hostReceiver) OnStart(_ context.Context, h *ReceiverHost[string]) error {
	r.hosts <- h
	return nil
}

func (r *hostReceiver) OnStop() {}

// errorEvents records receiver error reports.
type errorEvents struct {
	mu   sync.Mutex
	msgs []string
}

func (e *errorEvents) OnReceiverError(info ReceiverInfo) {
	e.mu.Lock()
	e.msgs = append(e.msgs, info.LastErrorMessage)
	e.mu.Unlock()
}

// walJob is a context with the write-ahead log on, one receiver, and an
// output collecting every batch; blockAt makes the output of that batch
// block until the context stops.
func walJob(t *testing.T, dir string, at time.Duration, blockAt int64, entered chan struct{}, opts ...Option) (*harness, *sink[string], *ReceiverHost[string]) {
	t.Helper()
	all := append([]Option{WithCheckpoint(dir), WithWriteAheadLog()}, opts...)
	h := newHarness(t, time.Second, all...)
	h.clock.Set(time.Unix(0, int64(at)))
	r := &hostReceiver{hosts: make(chan *ReceiverHost[string], 1)}
	s := ReceiverStream[string](h.ssc, r)
	k := collect(t, s)
	if blockAt > 0 {
		mustNoErr(t, s.ForEachBatch(func(ctx context.Context, b *Batch[string]) error {
			if b.Time.UnixMilli() == blockAt {
				close(entered)
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}), "ForEachBatch")
	}
	h.start()
	var host *ReceiverHost[string]
	select {
	case host = <-r.hosts:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not start")
	}
	return h, k, host
}

// TestWriteAheadLogReplaysStoredRecords: records stored (StoreSlice
// returned) but not yet in a batch when the job dies are in the first
// batch after the restart; those of a pending batch are in that batch
// again.
func TestWriteAheadLogReplaysStoredRecords(t *testing.T) {
	dir := t.TempDir()
	// Run 1: batch 1 completes; batch 2 is generated with c and d and dies
	// in its output; e and f are stored after it.
	entered := make(chan struct{})
	h, k, host := walJob(t, dir, 0, 2000, entered)
	mustNoErr(t, host.StoreSlice([]string{"a", "b"}), "store")
	h.step()
	mustNoErr(t, host.StoreSlice([]string{"c", "d"}), "store")
	h.clock.Advance(time.Second)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("batch 2 never reached its output")
	}
	mustNoErr(t, host.StoreSlice([]string{"e"}), "store")
	mustNoErr(t, host.StoreSlice([]string{"f"}), "store")
	mustNoErr(t, h.ssc.Stop(context.Background(), Hard), "crash")
	if got, _ := k.at(1000); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("run 1 batch 1 = %v", got)
	}

	// Run 2 at 3 s: batch 2 again with c and d, then e and f in batch 3.
	h2, k2, _ := walJob(t, dir, 2*time.Second, 0, nil)
	h2.step()
	if got, _ := k2.at(2000); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("re-run batch 2 = %v, want [c d]", got)
	}
	if got, _ := k2.at(3000); !slices.Equal(got, []string{"e", "f"}) {
		t.Errorf("batch 3 = %v, want the records stored after batch 2, [e f]", got)
	}
	mustNoErr(t, h2.ssc.Stop(context.Background(), Graceful), "stop")

	// Run 3: nothing is replayed twice.
	h3, k3, _ := walJob(t, dir, 3*time.Second, 0, nil)
	h3.step()
	if got, ok := k3.at(4000); ok && len(got) > 0 {
		t.Errorf("run 3 replayed %v again", got)
	}
}

// TestWriteAheadLogTornTail: a log whose last record was cut by a crash
// is truncated at it, the cut is reported to listeners, and the records
// before it are replayed.
func TestWriteAheadLogTornTail(t *testing.T) {
	dir := t.TempDir()
	h, _, host := walJob(t, dir, 0, 0, nil)
	mustNoErr(t, host.StoreSlice([]string{"kept"}), "store")
	mustNoErr(t, host.StoreSlice([]string{"torn"}), "store")
	mustNoErr(t, h.ssc.Stop(context.Background(), Hard), "crash")
	segs, _ := filepath.Glob(filepath.Join(dir, "receivedData", "*", "log-*"))
	if len(segs) != 1 {
		t.Fatalf("log segments %v, want 1", segs)
	}
	info, err := os.Stat(segs[0])
	mustNoErr(t, err, "stat")
	mustNoErr(t, os.Truncate(segs[0], info.Size()-3), "truncate")

	events := &errorEvents{}
	h2, k2, _ := walJob(t, dir, 0, 0, nil, WithListener(events))
	h2.step()
	if got, _ := k2.at(1000); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("batch 1 = %v, want [kept]", got)
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	if !slices.ContainsFunc(events.msgs, func(m string) bool { return strings.Contains(m, "torn or corrupt tail") }) {
		t.Errorf("no receiver error reported for the torn log: %v", events.msgs)
	}
}

// TestWriteAheadLogNeedsLocalCheckpoint: the log lives in the checkpoint
// directory, which must be on local disk.
func TestWriteAheadLogNeedsLocalCheckpoint(t *testing.T) {
	h := newHarness(t, time.Second, WithWriteAheadLog())
	collect(t, ReceiverStream[string](h.ssc, &hostReceiver{hosts: make(chan *ReceiverHost[string], 1)}))
	if err := h.ssc.Start(); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Start without a checkpoint directory = %v, want ErrInvalidOption", err)
	}
}
