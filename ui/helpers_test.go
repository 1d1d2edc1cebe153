package ui_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/ui"
)

var quiet = slog.New(slog.DiscardHandler)

// recorder is the test's own listener: what the engine reported, to
// compare the Server's answers with.
type recorder struct {
	mu        sync.Mutex
	completed []dstream.BatchInfo
}

func (r *recorder) OnBatchCompleted(b dstream.BatchInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.completed = append(r.completed, b)
}

// batches returns the completed batches in the order reported.
func (r *recorder) batches() []dstream.BatchInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.completed)
}

// job is a small job on a ManualClock: a queue stream of ints whose
// output operation moves the clock forward by proc(batch) to give the
// batch a processing time, and fails the batch when fail says so.
type job struct {
	t        *testing.T
	clk      *dstream.ManualClock
	ssc      *dstream.Context
	srv      *ui.Server
	rec      *recorder
	q        *dstream.Queue[int]
	web      *httptest.Server
	interval time.Duration
	n        int // batches stepped
}

type jobConfig struct {
	proc     func(ms int64) time.Duration // processing time of the batch at ms
	fail     func(ms int64) error         // the output's error for the batch at ms
	uiOpts   []ui.Option
	receiver dstream.Receiver[int] // an extra input, when not nil
}

func newJob(t *testing.T, cfg jobConfig) *job {
	t.Helper()
	const interval = time.Second
	srv, err := ui.New(interval, append([]ui.Option{ui.WithLogger(quiet)}, cfg.uiOpts...)...)
	if err != nil {
		t.Fatalf("ui.New: %v", err)
	}
	j := &job{t: t, clk: dstream.NewManualClock(time.UnixMilli(0)), srv: srv, rec: &recorder{}, q: dstream.NewQueue[int](), interval: interval}
	j.ssc, err = dstream.NewContext(interval, dstream.WithClock(j.clk), dstream.WithLogger(quiet),
		dstream.WithListener(j.rec), dstream.WithListener(srv))
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() { _ = j.ssc.Stop(context.Background(), dstream.Hard) })
	in := dstream.QueueStream(j.ssc, j.q, dstream.EmptyWhenIdle())
	if cfg.receiver != nil {
		in = in.Union(dstream.ReceiverStream(j.ssc, cfg.receiver))
	}
	if err := in.Count().ForEachBatch(func(context.Context, *dstream.Batch[int64]) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := in.ForEachBatch(func(_ context.Context, b *dstream.Batch[int]) error {
		ms := b.Time.UnixMilli()
		if cfg.proc != nil {
			j.clk.Advance(cfg.proc(ms))
		}
		if cfg.fail != nil {
			return cfg.fail(ms)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	j.web = httptest.NewServer(srv.Handler())
	t.Cleanup(j.web.Close)
	return j
}

func (j *job) start() {
	j.t.Helper()
	if err := j.ssc.Start(); err != nil {
		j.t.Fatalf("Start: %v", err)
	}
}

// step moves the clock to the next batch time and waits for that batch;
// it returns the batch's error.
func (j *job) step() error {
	j.n++
	t := time.UnixMilli(int64(j.n) * j.interval.Milliseconds())
	j.clk.Set(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard
	defer cancel()
	return j.ssc.WaitForBatch(ctx, t) // not clk.Now(): the output moves the clock
}

func (j *job) steps(n int) {
	j.t.Helper()
	for range n {
		if err := j.step(); err != nil {
			j.t.Fatalf("batch %d: %v", j.n, err)
		}
	}
}

// get fetches path from the job's server and decodes its JSON into a T,
// failing the test unless the status is want.
func get[T any](t *testing.T, base, path string, want int) T {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, want, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return v
}

// ms is d in milliseconds with a fraction, as the API reports durations.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
