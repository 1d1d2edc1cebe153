package ui_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/ui"
)

// /readyz follows the job: not ready before it starts, ready while its
// batches succeed, not ready while a dependency is degraded or after a
// failed batch, and /healthz turns 503 once the job stopped with an
// error.
func TestHealthEndpoints(t *testing.T) {
	boom := errors.New("sink unavailable")
	j := newJob(t, jobConfig{fail: func(ms int64) error {
		if ms == 4000 {
			return boom
		}
		return nil
	}})
	ready := func(status int, reason string) {
		t.Helper()
		h := get[ui.Health](t, j.web.URL, "/readyz", status)
		if h.OK != (status == http.StatusOK) || !strings.Contains(strings.Join(h.Reasons, "\n"), reason) {
			t.Fatalf("/readyz = %+v, want status %d with a reason containing %q", h, status, reason)
		}
	}
	ready(http.StatusServiceUnavailable, "not started")
	if h := get[ui.Health](t, j.web.URL, "/healthz", http.StatusOK); !h.OK || h.State != "waiting" {
		t.Fatalf("/healthz before the start = %+v", h)
	}
	j.start()
	j.steps(1)
	ready(http.StatusOK, "")

	j.ssc.ReportHealth("kafka brokers 127.0.0.1:9092", errors.New("connection refused"))
	ready(http.StatusServiceUnavailable, "degraded: kafka brokers 127.0.0.1:9092: connection refused")
	j.ssc.ReportHealth("kafka brokers 127.0.0.1:9092", nil)
	j.steps(2)
	ready(http.StatusOK, "")

	if err := j.step(); !errors.Is(err, boom) {
		t.Fatalf("batch 4: %v, want %v", err, boom)
	}
	ready(http.StatusServiceUnavailable, "sink unavailable")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(j.web.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d after the job stopped with an error", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := get[ui.Health](t, j.web.URL, "/healthz", http.StatusServiceUnavailable)
	if h.OK || h.State != "stopped" || !strings.Contains(strings.Join(h.Reasons, ""), "sink unavailable") {
		t.Errorf("/healthz after the failure = %+v", h)
	}
	resp, err := http.Head(j.web.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("HEAD /readyz: %d", resp.StatusCode)
	}
}

func TestWithMaxSchedulingDelay(t *testing.T) {
	if _, err := ui.New(time.Second, ui.WithMaxSchedulingDelay(0)); err == nil {
		t.Fatal("a zero maximum scheduling delay was accepted")
	}
}

// A batch queued longer than the maximum scheduling delay, or a last
// batch that waited longer, makes the job not ready: it is not keeping
// up.
func TestReadyNotKeepingUp(t *testing.T) {
	srv, err := ui.New(time.Second, ui.WithLogger(quiet), ui.WithMaxSchedulingDelay(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_000_000)
	srv.OnStreamingStarted(t0)
	b := dstream.BatchInfo{BatchTime: t0.Add(time.Second), SubmissionTime: t0.Add(time.Second)}
	srv.OnBatchSubmitted(b)
	if h := srv.Ready(t0.Add(3 * time.Second)); !h.OK {
		t.Fatalf("queued 2 s: %+v", h)
	}
	if h := srv.Ready(t0.Add(7 * time.Second)); h.OK || !strings.Contains(h.String(), "queued for 6s") {
		t.Fatalf("queued 6 s: %+v", h)
	}
	b.ProcessingStartTime = t0.Add(8 * time.Second)
	b.ProcessingEndTime = t0.Add(9 * time.Second)
	srv.OnBatchStarted(b)
	srv.OnBatchCompleted(b)
	if h := srv.Ready(t0.Add(9 * time.Second)); h.OK || !strings.Contains(h.String(), "waited 7s for its turn") {
		t.Fatalf("after a batch that waited 7 s: %+v", h)
	}
}
