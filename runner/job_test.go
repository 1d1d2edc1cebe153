package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/runner"
	"github.com/microbatch-go/microbatch/ui"
)

// After the job failed, Linger keeps the status page up with the error,
// until the linger ends or a signal (ctx) ends it sooner.
func TestJobLingersAfterAFailure(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const interval = 50 * time.Millisecond
	ssc, err := dstream.NewContext(interval, dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ui.New(interval, ui.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ssc.AddListener(srv)
	q := dstream.NewQueue[int]()
	q.Push([]int{1})
	boom := errors.New("sink refused the batch")
	if err := dstream.QueueStream(ssc, q).ForEachBatch(func(context.Context, *dstream.Batch[int]) error { return boom }); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runner.Job{Context: ssc, Status: srv, Addr: "127.0.0.1:0", Linger: time.Minute,
			OnURL: func(url string) { urls <- url }}.Run(ctx)
	}()
	url := <-urls
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "healthz")
		if err != nil {
			t.Fatalf("the page went down after the failure: %v", err)
		}
		var h ui.Health
		_ = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if !strings.Contains(h.String(), "sink refused the batch") {
				t.Errorf("/healthz after the failure: %+v", h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/healthz never said the job failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) before the linger ended", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel() // a signal
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("Run = %v, want the job's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a signal did not end the linger")
	}
}
