package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/ui"
)

// near reports whether a and b are equal up to float64 rounding.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func checkNum(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil || !near(*got, want) {
		t.Errorf("%s = %v, want %v", what, deref(got), want)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "null"
	}
	return *p
}

// checkBatch compares a completed batch of the API with the engine's
// BatchInfo of it.
func checkBatch(t *testing.T, got ui.Batch, want dstream.BatchInfo, interval time.Duration) {
	t.Helper()
	at := fmt.Sprintf("batch %d", want.BatchTime.UnixMilli())
	if got.BatchTime != want.BatchTime.UnixMilli() {
		t.Fatalf("%s: batchTime %d", at, got.BatchTime)
	}
	status := "completed"
	if want.Err != nil {
		status = "failed"
		if got.Error != want.Err.Error() {
			t.Errorf("%s: error %q, want %q", at, got.Error, want.Err)
		}
	} else if got.Error != "" {
		t.Errorf("%s: error %q, want none", at, got.Error)
	}
	if got.Status != status {
		t.Errorf("%s: status %q, want %q", at, got.Status, status)
	}
	if got.NumRecords == nil || *got.NumRecords != want.NumRecords() {
		t.Errorf("%s: numRecords %v, want %d", at, deref(got.NumRecords), want.NumRecords())
	}
	checkNum(t, at+": inputRate", got.InputRate, float64(want.NumRecords())/interval.Seconds())
	if got.SubmissionTime != want.SubmissionTime.UnixMilli() {
		t.Errorf("%s: submissionTime %d, want %d", at, got.SubmissionTime, want.SubmissionTime.UnixMilli())
	}
	if got.ProcessingStartTime == nil || *got.ProcessingStartTime != want.ProcessingStartTime.UnixMilli() {
		t.Errorf("%s: processingStartTime %v, want %d", at, deref(got.ProcessingStartTime), want.ProcessingStartTime.UnixMilli())
	}
	if got.ProcessingEndTime == nil || *got.ProcessingEndTime != want.ProcessingEndTime.UnixMilli() {
		t.Errorf("%s: processingEndTime %v, want %d", at, deref(got.ProcessingEndTime), want.ProcessingEndTime.UnixMilli())
	}
	checkNum(t, at+": schedulingDelayMs", got.SchedulingDelayMs, ms(want.SchedulingDelay()))
	checkNum(t, at+": processingTimeMs", got.ProcessingTimeMs, ms(want.ProcessingDelay()))
	checkNum(t, at+": totalDelayMs", got.TotalDelayMs, ms(want.TotalDelay()))
	if got.NumOutputOps != len(want.OutputOperations) || got.NumSucceededOutputOps != want.Succeeded() ||
		got.NumFailedOutputOps != len(want.OutputOperations)-want.Succeeded() || got.NumActiveOutputOps != 0 {
		t.Errorf("%s: output ops %d/%d (%d failed, %d active), want %d/%d", at, got.NumSucceededOutputOps, got.NumOutputOps,
			got.NumFailedOutputOps, got.NumActiveOutputOps, want.Succeeded(), len(want.OutputOperations))
	}
	if len(got.OutputOperations) != len(want.OutputOperations) {
		t.Fatalf("%s: %d output operations, want %d", at, len(got.OutputOperations), len(want.OutputOperations))
	}
	for i, o := range want.OutputOperations {
		g := got.OutputOperations[i]
		st := "succeeded"
		if o.Err != nil {
			st = "failed"
		}
		if g.ID != o.ID || g.Name != o.Name || g.Stream != o.Stream || g.Status != st || g.StartTime != o.StartTime.UnixMilli() ||
			g.EndTime == nil || *g.EndTime != o.EndTime.UnixMilli() || g.Rejected != o.Rejected {
			t.Errorf("%s: output operation %d = %+v, want %+v", at, i, g, o)
		}
		checkNum(t, at+": output operation duration", g.DurationMs, ms(o.Duration()))
		if o.Err != nil && g.Error != o.Err.Error() {
			t.Errorf("%s: output operation %d error %q, want %q", at, i, g.Error, o.Err)
		}
	}
	if len(got.Inputs) != len(want.Inputs) {
		t.Fatalf("%s: inputs %+v, want %+v", at, got.Inputs, want.Inputs)
	}
	for i, in := range want.Inputs {
		g := got.Inputs[i]
		if g.StreamID != in.StreamID || g.Name != in.Name || g.NumRecords == nil || *g.NumRecords != in.NumRecords {
			t.Errorf("%s: input %d = %+v, want %+v", at, i, g, in)
		}
	}
}

// The batches, one batch, its operations and the statistics agree with
// the BatchInfo the engine gave the test's own listener.
func TestAPIMatchesBatchInfo(t *testing.T) {
	j := newJob(t, jobConfig{proc: func(ms int64) time.Duration {
		return time.Duration(ms/1000)*7*time.Millisecond + 3*time.Millisecond + 250*time.Microsecond
	}})
	j.q.Push([]int{1, 2, 3})
	j.q.Push([]int{4, 5, 6, 7, 8})
	j.q.Push(nil)
	j.q.Push([]int{9, 10})
	j.start()
	j.steps(5)

	want := j.rec.batches()
	if len(want) != 5 {
		t.Fatalf("recorded %d batches, want 5", len(want))
	}
	got := get[[]ui.Batch](t, j.web.URL, "/api/v1/streaming/batches", http.StatusOK)
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[len(got)-1-i] // newest first
		checkBatch(t, g, w, j.interval)
		path := fmt.Sprintf("/api/v1/streaming/batches/%d", w.BatchTime.UnixMilli())
		checkBatch(t, get[ui.Batch](t, j.web.URL, path, http.StatusOK), w, j.interval)
		ops := get[[]ui.OutputOperation](t, j.web.URL, path+"/operations", http.StatusOK)
		if len(ops) != 2 || ops[0].Name != "forEachBatch" || ops[1].Status != "succeeded" {
			t.Errorf("%s/operations = %+v", path, ops)
		}
	}
	if r := *got[len(got)-2].NumRecords; r != 5 {
		t.Errorf("second batch: %d records, want 5", r)
	}

	st := get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
	var recs int64
	var rate, sched, proc, total float64
	for _, w := range want {
		recs += w.NumRecords()
		rate += float64(w.NumRecords()) / j.interval.Seconds()
		sched += ms(w.SchedulingDelay())
		proc += ms(w.ProcessingDelay())
		total += ms(w.TotalDelay())
	}
	n := float64(len(want))
	if st.State != "active" || st.StopError != "" || st.StartTime == nil || *st.StartTime != 0 || st.BatchDurationMs != 1000 ||
		st.NumTotalCompletedBatches != 5 || st.NumRetainedCompletedBatches != 5 || st.NumFailedBatches != 0 ||
		st.NumActiveBatches != 0 || st.NumProcessedRecords != recs || recs != 10 || st.NumReceivers != 0 {
		t.Errorf("statistics = %+v", st)
	}
	checkNum(t, "avgInputRate", st.AvgInputRate, rate/n)
	checkNum(t, "avgSchedulingDelayMs", st.AvgSchedulingDelayMs, sched/n)
	checkNum(t, "avgProcessingTimeMs", st.AvgProcessingTimeMs, proc/n)
	checkNum(t, "avgTotalDelayMs", st.AvgTotalDelayMs, total/n)
	if !near(*st.AvgProcessingTimeMs, (7+14+21+28+35)/5.0+3.25) {
		t.Errorf("avgProcessingTimeMs = %v, want 24.25 from the clock's moves", *st.AvgProcessingTimeMs)
	}
}

// A failed batch shows as failed with its error, in the batch, its
// output operations and the statistics; the job stops.
func TestAPIFailedBatch(t *testing.T) {
	boom := errors.New("sink unavailable")
	j := newJob(t, jobConfig{fail: func(ms int64) error {
		if ms == 3000 {
			return boom
		}
		return nil
	}})
	j.q.Push([]int{1})
	j.start()
	j.steps(2)
	if err := j.step(); !errors.Is(err, boom) {
		t.Fatalf("batch 3: %v, want %v", err, boom)
	}
	want := j.rec.batches()
	if len(want) != 3 || want[2].Err == nil {
		t.Fatalf("recorded %+v", want)
	}
	failed := get[[]ui.Batch](t, j.web.URL, "/api/v1/streaming/batches?status=failed", http.StatusOK)
	if len(failed) != 1 {
		t.Fatalf("failed batches: %+v", failed)
	}
	checkBatch(t, failed[0], want[2], j.interval)
	if !strings.Contains(failed[0].Error, "sink unavailable") || failed[0].NumFailedOutputOps != 1 || failed[0].NumSucceededOutputOps != 1 ||
		failed[0].OutputOperations[1].Error != "sink unavailable" {
		t.Errorf("failed batch = %+v", failed[0])
	}
	ok := get[[]ui.Batch](t, j.web.URL, "/api/v1/streaming/batches?status=completed,queued", http.StatusOK)
	if len(ok) != 2 || ok[0].BatchTime != 2000 || ok[1].BatchTime != 1000 {
		t.Errorf("completed batches: %+v", ok)
	}

	// The context stops after the failure, in the background.
	st := waitFor(t, func() (ui.Statistics, bool) {
		st := get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
		return st, st.State == "stopped"
	})
	if !strings.Contains(st.StopError, "sink unavailable") || st.NumFailedBatches != 1 || st.NumTotalCompletedBatches != 3 ||
		st.NumActiveBatches != 0 {
		t.Errorf("statistics = %+v", st)
	}
}

// waitFor polls f until it reports done (a hang guard of 20 s, not a
// timing assertion).
func waitFor[T any](t *testing.T, f func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, ok := f()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after 20 s: last %+v", v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Only the last retained batches are kept; totals count them all.
func TestAPIRetainedBatches(t *testing.T) {
	j := newJob(t, jobConfig{uiOpts: []ui.Option{ui.WithRetainedBatches(3)}})
	for i := range 5 {
		j.q.Push(make([]int, i+1))
	}
	j.start()
	j.steps(5)
	got := get[[]ui.Batch](t, j.web.URL, "/api/v1/streaming/batches", http.StatusOK)
	var times []int64
	for _, b := range got {
		times = append(times, b.BatchTime)
	}
	if fmt.Sprint(times) != "[5000 4000 3000]" {
		t.Fatalf("batch times %v, want the last 3, newest first", times)
	}
	want := j.rec.batches()
	for i, b := range got {
		checkBatch(t, b, want[4-i], j.interval)
	}
	st := get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
	if st.NumTotalCompletedBatches != 5 || st.NumRetainedCompletedBatches != 3 || st.NumProcessedRecords != 15 {
		t.Errorf("statistics = %+v", st)
	}
	checkNum(t, "avgInputRate", st.AvgInputRate, (3+4+5)/3.0)
	get[map[string]string](t, j.web.URL, "/api/v1/streaming/batches/1000", http.StatusNotFound)
}

// A batch that waits shows as queued, the one that runs as processing
// with its finished and running output operations.
func TestAPIActiveBatches(t *testing.T) {
	release := make(chan struct{})
	j := newJob(t, jobConfig{fail: func(ms int64) error {
		if ms == 2000 {
			<-release
		}
		return nil
	}})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the job's cleanup stops the context
	j.start()
	j.steps(1)
	j.clk.Set(time.UnixMilli(2000))
	waitFor(t, func() ([]ui.Batch, bool) {
		b := j.srv.Batches()
		return b, len(b) == 2 && b[0].Status == "processing" && b[0].NumActiveOutputOps == 1
	})
	j.clk.Set(time.UnixMilli(3000))
	waitFor(t, func() ([]ui.Batch, bool) {
		b := j.srv.Batches()
		return b, len(b) == 3 && b[0].Status == "queued"
	})
	active := get[[]ui.Batch](t, j.web.URL, "/api/v1/streaming/batches?status=queued,processing", http.StatusOK)
	if len(active) != 2 {
		t.Fatalf("active batches: %+v", active)
	}
	q, p := active[0], active[1]
	if q.BatchTime != 3000 || q.Status != "queued" || q.ProcessingStartTime != nil || q.SchedulingDelayMs != nil ||
		q.ProcessingTimeMs != nil || q.NumRecords == nil || *q.NumRecords != 0 || len(q.OutputOperations) != 0 {
		t.Errorf("queued batch = %+v", q)
	}
	if p.BatchTime != 2000 || p.Status != "processing" || p.ProcessingStartTime == nil || p.SchedulingDelayMs == nil ||
		p.ProcessingTimeMs != nil || p.TotalDelayMs != nil || p.NumOutputOps != 2 || p.NumSucceededOutputOps != 1 ||
		p.NumActiveOutputOps != 1 || p.OutputOperations[1].Status != "running" || p.OutputOperations[1].EndTime != nil {
		t.Errorf("processing batch = %+v", p)
	}
	one := get[ui.Batch](t, j.web.URL, "/api/v1/streaming/batches/3000", http.StatusOK)
	if one.Status != "queued" {
		t.Errorf("batch 3000 = %+v", one)
	}
	st := get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
	if st.NumActiveBatches != 2 || st.NumTotalCompletedBatches != 1 {
		t.Errorf("statistics = %+v", st)
	}
	m := scrape(t, j.web.URL)
	if v := m.value(t, "microbatch_streaming_batches_active", "status", "queued"); v != 1 {
		t.Errorf("batches_active{queued} = %v", v)
	}
	if v := m.value(t, "microbatch_streaming_batches_active", "status", "processing"); v != 1 {
		t.Errorf("batches_active{processing} = %v", v)
	}
	unblock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := j.ssc.WaitForBatch(ctx, time.UnixMilli(3000)); err != nil {
		t.Fatal(err)
	}
	if b := j.srv.Batches(); len(b) != 3 || b[0].Status != "completed" || b[1].Status != "completed" {
		t.Errorf("after release: %+v", b)
	}
}

// testReceiver is a receiver that stores nothing and hands its host to
// the test.
type testReceiver struct {
	mu   sync.Mutex
	host *dstream.ReceiverHost[int]
}

func (r *testReceiver) Name() string { return "sensors" }

func (r *testReceiver) OnStart(_ context.Context, h *dstream.ReceiverHost[int]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.host = h
	return nil
}

func (r *testReceiver) OnStop() {}

func (r *testReceiver) reportError(msg string, err error) {
	r.mu.Lock()
	h := r.host
	r.mu.Unlock()
	h.ReportError(msg, err)
}

// Receivers show with their status and last error, which outlives a stop.
func TestAPIReceivers(t *testing.T) {
	rcv := &testReceiver{}
	j := newJob(t, jobConfig{receiver: rcv})
	j.start()
	waitFor(t, func() ([]ui.Receiver, bool) {
		r := j.srv.Receivers()
		return r, len(r) == 1 && r[0].Status == "active"
	})
	j.steps(1)
	j.clk.Set(time.UnixMilli(1500))
	rcv.reportError("sensor 7 unreachable", errors.New("dial tcp 127.0.0.1:5020: i/o timeout"))
	j.steps(1)
	got := get[[]ui.Receiver](t, j.web.URL, "/api/v1/streaming/receivers", http.StatusOK)
	if len(got) != 1 {
		t.Fatalf("receivers = %+v", got)
	}
	r := got[0]
	if r.StreamID != 1 || r.Name != "sensors" || r.Status != "active" || r.NumErrors != 1 ||
		r.LastErrorMessage != "sensor 7 unreachable" || r.LastError != "dial tcp 127.0.0.1:5020: i/o timeout" ||
		r.LastErrorTime == nil || *r.LastErrorTime != 1500 || r.AvgEventRate == nil || *r.AvgEventRate != 0 {
		t.Errorf("receiver = %+v", r)
	}
	one := get[ui.Receiver](t, j.web.URL, "/api/v1/streaming/receivers/1", http.StatusOK)
	if one.Name != "sensors" {
		t.Errorf("receivers/1 = %+v", one)
	}
	get[map[string]string](t, j.web.URL, "/api/v1/streaming/receivers/7", http.StatusNotFound)
	st := get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
	if st.NumReceivers != 1 || st.NumActiveReceivers != 1 {
		t.Errorf("statistics = %+v", st)
	}

	if err := j.ssc.Stop(context.Background(), dstream.Hard); err != nil {
		t.Fatal(err)
	}
	got = get[[]ui.Receiver](t, j.web.URL, "/api/v1/streaming/receivers", http.StatusOK)
	if r := got[0]; r.Status != "stopped" || r.LastErrorMessage != "sensor 7 unreachable" || r.LastErrorTime == nil {
		t.Errorf("after stop: %+v", r)
	}
	st = get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
	if st.State != "stopped" || st.StopError != "" || st.NumInactiveReceivers != 1 || st.NumActiveReceivers != 0 {
		t.Errorf("statistics after stop = %+v", st)
	}
}

func TestAPIBadRequests(t *testing.T) {
	srv, err := ui.New(time.Second, ui.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	web := newWeb(t, srv)
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/api/v1/streaming/batches/abc", http.StatusBadRequest},
		{"/api/v1/streaming/batches/1000", http.StatusNotFound},
		{"/api/v1/streaming/batches/1000/operations", http.StatusNotFound},
		{"/api/v1/streaming/batches?status=done", http.StatusBadRequest},
		{"/api/v1/streaming/receivers/x", http.StatusBadRequest},
		{"/api/v1/streaming/receivers/0", http.StatusNotFound},
		{"/api/v1/streaming/nothing", http.StatusNotFound},
	} {
		e := get[map[string]string](t, web, c.path, c.status)
		if e["error"] == "" {
			t.Errorf("%s: %v, want an error message", c.path, e)
		}
	}
	// Before the context starts: waiting, no averages, empty lists.
	st := get[ui.Statistics](t, web, "/api/v1/streaming/statistics", http.StatusOK)
	if st.State != "waiting" || st.StartTime != nil || st.AvgInputRate != nil || st.NumTotalCompletedBatches != 0 {
		t.Errorf("statistics = %+v", st)
	}
	if b := get[[]ui.Batch](t, web, "/api/v1/streaming/batches", http.StatusOK); b == nil || len(b) != 0 {
		t.Errorf("batches = %#v, want []", b)
	}
	if r := get[[]ui.Receiver](t, web, "/api/v1/streaming/receivers", http.StatusOK); r == nil || len(r) != 0 {
		t.Errorf("receivers = %#v, want []", r)
	}
}

func newWeb(t *testing.T, srv *ui.Server) string {
	t.Helper()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// The page and its assets come from the binary and load nothing from
// elsewhere; the handler works under a prefix.
func TestPageAndAssets(t *testing.T) {
	srv, err := ui.New(time.Second, ui.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/streaming/", http.StripPrefix("/streaming", srv.Handler()))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	fetch := func(path, wantType string) string {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), wantType) {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return string(body)
	}
	page := fetch("/streaming/", "text/html")
	js := fetch("/streaming/static/app.js", "text/javascript")
	css := fetch("/streaming/static/style.css", "text/css")
	fetch("/streaming/api/v1/streaming/statistics", "application/json")
	fetch("/streaming/metrics", "text/plain")
	for _, want := range []string{`src="static/app.js"`, `href="static/style.css"`, `id="stats-body"`, `id="completed-batches"`, `id="receivers"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for name, text := range map[string]string{"index.html": page, "app.js": js, "style.css": css} {
		for _, bad := range []string{"https://", "//cdn", "@import", "url(", "fonts.g"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s refers to something outside the binary: %q", name, bad)
			}
		}
	}
	if resp, err := http.Get(ts.URL + "/streaming/static/missing.js"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing asset: %v %v", resp.StatusCode, err)
	}
}

// Serve answers until its context ends, then shuts down; ListenAndServe
// reports a bad address.
func TestServeShutdown(t *testing.T) {
	srv, err := ui.New(time.Second, ui.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := ui.URL(ln)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	get[ui.Statistics](t, strings.TrimSuffix(url, "/"), "/api/v1/streaming/statistics", http.StatusOK)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := http.Get(url); err == nil {
		t.Error("still serving after shutdown")
	}

	// Start: the same in the background; an address without a host is
	// loopback only.
	ctx, cancel = context.WithCancel(context.Background())
	url, started, err := srv.Start(ctx, ":0")
	if err != nil || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("Start: %q, %v", url, err)
	}
	get[ui.Statistics](t, strings.TrimSuffix(url, "/"), "/api/v1/streaming/statistics", http.StatusOK)
	cancel()
	if err := <-started; err != nil {
		t.Fatalf("Start's server: %v", err)
	}

	err = srv.ListenAndServe(context.Background(), "127.0.0.1:http-bogus")
	var op *net.OpError
	if err == nil || !strings.HasPrefix(err.Error(), "ui: listen: ") || (!errors.As(err, &op) && !strings.Contains(err.Error(), "port")) {
		t.Errorf("ListenAndServe on a bad address: %v", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		opts     []ui.Option
	}{
		{0, nil},
		{-time.Second, nil},
		{time.Second, []ui.Option{ui.WithRetainedBatches(0)}},
		{time.Second, []ui.Option{ui.WithLogger(nil)}},
	} {
		if _, err := ui.New(c.interval, c.opts...); err == nil {
			t.Errorf("New(%v, %d options) succeeded", c.interval, len(c.opts))
		}
	}
	srv, err := ui.New(250*time.Millisecond, nil)
	if err != nil || srv.BatchInterval() != 250*time.Millisecond {
		t.Errorf("New: %v, %v", srv, err)
	}
}

// Events from several goroutines (as the engine's scheduler and receivers
// send them) race with readers of the API and /metrics; run with -race.
func TestConcurrentEventsAndReads(t *testing.T) {
	srv, err := ui.New(100*time.Millisecond, ui.WithLogger(quiet), ui.WithRetainedBatches(50))
	if err != nil {
		t.Fatal(err)
	}
	web := newWeb(t, srv)
	srv.OnStreamingStarted(time.UnixMilli(0))
	const batches = 300
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= batches; i++ {
			bt := time.UnixMilli(int64(i) * 100)
			info := dstream.BatchInfo{BatchTime: bt, SubmissionTime: bt,
				Inputs: []dstream.InputInfo{{StreamID: 0, Name: "q", NumRecords: int64(i), Metadata: map[string]any{"k": i}}}}
			srv.OnBatchSubmitted(info)
			info.ProcessingStartTime = bt.Add(time.Millisecond)
			srv.OnBatchStarted(info)
			op := dstream.OutputOperationInfo{BatchTime: bt, Name: "print", StartTime: info.ProcessingStartTime}
			srv.OnOutputOperationStarted(op)
			op.EndTime = bt.Add(3 * time.Millisecond)
			srv.OnOutputOperationCompleted(op)
			info.ProcessingEndTime = op.EndTime
			info.OutputOperations = []dstream.OutputOperationInfo{op}
			srv.OnBatchCompleted(info)
		}
	})
	for id := range 3 {
		wg.Go(func() {
			for i := range 100 {
				ri := dstream.ReceiverInfo{StreamID: id, Name: fmt.Sprint("r", id), Active: i%2 == 0}
				srv.OnReceiverStarted(ri)
				ri.LastErrorMessage, ri.LastError, ri.LastErrorTime = "oops", errors.New("e"), time.UnixMilli(int64(i))
				srv.OnReceiverError(ri)
				srv.OnReceiverStopped(ri)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 20 {
				get[ui.Statistics](t, web, "/api/v1/streaming/statistics", http.StatusOK)
				get[[]ui.Batch](t, web, "/api/v1/streaming/batches", http.StatusOK)
				get[[]ui.Receiver](t, web, "/api/v1/streaming/receivers", http.StatusOK)
				scrape(t, web)
			}
		})
	}
	wg.Wait()
	st := srv.Statistics()
	if st.NumTotalCompletedBatches != batches || st.NumRetainedCompletedBatches != 50 || st.NumActiveBatches != 0 ||
		st.NumProcessedRecords != batches*(batches+1)/2 || st.NumReceivers != 3 {
		t.Errorf("statistics = %+v", st)
	}
	b := srv.Batches()
	if len(b) != 50 || b[0].BatchTime != batches*100 || b[49].BatchTime != (batches-49)*100 {
		t.Errorf("retained %d batches, %d .. %d", len(b), b[0].BatchTime, b[len(b)-1].BatchTime)
	}
	for _, r := range srv.Receivers() {
		if r.NumErrors != 100 || r.LastErrorMessage != "oops" || r.LastError != "e" || *r.LastErrorTime != 99 {
			t.Errorf("receiver = %+v", r)
		}
	}
}

// The statistics say which dependencies are degraded, and why, while the
// job runs; a recovered one leaves the list.
func TestAPIDegraded(t *testing.T) {
	j := newJob(t, jobConfig{})
	j.start()
	j.steps(1)
	j.clk.Set(time.UnixMilli(1500))
	j.ssc.ReportHealth("kafka brokers 127.0.0.1:9092", errors.New("dial tcp 127.0.0.1:9092: connection refused"))
	j.ssc.ReportHealth("file stream /in", errors.New("no directory to monitor matches"))
	st := get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
	want := []ui.Degraded{
		{Component: "file stream /in", Error: "no directory to monitor matches", Since: 1500},
		{Component: "kafka brokers 127.0.0.1:9092", Error: "dial tcp 127.0.0.1:9092: connection refused", Since: 1500},
	}
	if !slices.Equal(st.Degraded, want) {
		t.Errorf("degraded = %+v, want %+v", st.Degraded, want)
	}
	j.ssc.ReportHealth("file stream /in", nil)
	st = get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
	if !slices.Equal(st.Degraded, want[1:]) {
		t.Errorf("after a recovery: degraded = %+v, want %+v", st.Degraded, want[1:])
	}
}

// An output operation's rejected records are in the API.
func TestOutputOperationRejected(t *testing.T) {
	srv, err := ui.New(100*time.Millisecond, ui.WithLogger(quiet), ui.WithName("iot"))
	if err != nil {
		t.Fatal(err)
	}
	web := newWeb(t, srv)
	srv.OnStreamingStarted(time.UnixMilli(0))
	bt := time.UnixMilli(100)
	info := dstream.BatchInfo{BatchTime: bt, SubmissionTime: bt, ProcessingStartTime: bt,
		Inputs: []dstream.InputInfo{{Name: "kafka#1", NumRecords: 10, Lag: []dstream.PartitionLag{{Partition: "events-0", Records: 40}, {Partition: "events-1", Records: 0}}}}}
	srv.OnBatchSubmitted(info)
	srv.OnBatchStarted(info)
	op := dstream.OutputOperationInfo{BatchTime: bt, Name: "parquet /out", StartTime: bt, EndTime: bt.Add(time.Millisecond), Rejected: 7,
		RejectedBy: map[string]int64{"too_large": 5, "encode": 2}, Wrote: dstream.OutputStats{Records: 3, Rows: 3, Bytes: 900, Files: 1}}
	srv.OnOutputOperationCompleted(op)
	info.ProcessingEndTime = op.EndTime
	info.OutputOperations = []dstream.OutputOperationInfo{op}
	srv.OnBatchCompleted(info)
	got := get[[]ui.OutputOperation](t, web, "/api/v1/streaming/batches/100/operations", http.StatusOK)
	if len(got) != 1 || got[0].Rejected != 7 || got[0].Name != "parquet /out" {
		t.Errorf("operations = %+v, want one with 7 rejected records", got)
	}
	// The metrics count the operation's runs, what it wrote and its dead
	// letters by reason (those of an event without reasons as other);
	// they show the last consumer lag and the checkpoint writes, and every
	// series carries the job's name.
	op.BatchTime, op.Rejected, op.RejectedBy, op.Err = bt.Add(100*time.Millisecond), 2, nil, errors.New("disk full")
	op.Wrote = dstream.OutputStats{Records: 4, Rows: 1, Bytes: 100}
	srv.OnOutputOperationCompleted(op)
	srv.OnCheckpointWritten(dstream.CheckpointInfo{Kind: "meta", BatchTime: bt, Duration: 3 * time.Millisecond, Bytes: 120})
	srv.OnCheckpointWritten(dstream.CheckpointInfo{Kind: "state", BatchTime: bt, Duration: time.Millisecond, Err: errors.New("disk full")})
	m := scrape(t, web)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"microbatch_streaming_output_records_rejected_total", []string{"operation", "0", "name", "parquet /out", "reason", "too_large"}, 5},
		{"microbatch_streaming_output_records_rejected_total", []string{"operation", "0", "name", "parquet /out", "reason", "encode"}, 2},
		{"microbatch_streaming_output_records_rejected_total", []string{"operation", "0", "name", "parquet /out", "reason", "other"}, 2},
		{"microbatch_streaming_output_operation_runs_total", []string{"operation", "0", "outcome", "ok"}, 1},
		{"microbatch_streaming_output_operation_runs_total", []string{"operation", "0", "outcome", "failed"}, 1},
		{"microbatch_streaming_output_records_total", []string{"operation", "0"}, 7},
		{"microbatch_streaming_output_rows_total", []string{"operation", "0"}, 4},
		{"microbatch_streaming_output_bytes_total", []string{"operation", "0"}, 1000},
		{"microbatch_streaming_output_files_total", []string{"operation", "0"}, 1},
		{"microbatch_streaming_input_lag_records", []string{"input", "kafka#1", "partition", "events-0"}, 40},
		{"microbatch_streaming_input_lag_records", []string{"input", "kafka#1", "partition", "events-1"}, 0},
		{"microbatch_streaming_checkpoint_writes_failed_total", []string{"kind", "meta"}, 0},
		{"microbatch_streaming_checkpoint_writes_failed_total", []string{"kind", "state"}, 1},
		{"microbatch_streaming_batches_completed_total", []string{"job_name", "iot"}, 1},
		{"go_goroutines", []string{"job_name", "iot"}, -1},
	} {
		if c.want < 0 { // present, any value
			m.value(t, c.name, c.labels...)
			continue
		}
		if v := m.value(t, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	h := m.metric("microbatch_streaming_checkpoint_write_seconds", "kind", "meta", "job_name", "iot")
	if h == nil || h.Histogram.GetSampleCount() != 1 || h.Histogram.GetSampleSum() != 0.003 {
		t.Errorf("checkpoint_write_seconds{kind=meta} = %v, want one write of 3 ms", h)
	}
}

// The statistics and the metrics show each input's partitions, how often
// they changed and how long the last assignment's restore took.
func TestAPIPartitions(t *testing.T) {
	j := newJob(t, jobConfig{})
	j.start()
	j.steps(1)
	j.clk.Set(time.UnixMilli(2000))
	j.ssc.ReportPartitions(dstream.PartitionsChange{Input: "kafkaDirectStream#1", Event: "assigned",
		Partitions: []string{"words-0", "words-1", "words-2"}, Owned: []string{"words-0", "words-1", "words-2"}, Restore: 40 * time.Millisecond})
	j.clk.Set(time.UnixMilli(3000))
	j.ssc.ReportPartitions(dstream.PartitionsChange{Input: "kafkaDirectStream#1", Event: "revoked",
		Partitions: []string{"words-2"}, Owned: []string{"words-0", "words-1"}})
	j.ssc.ReportPartitions(dstream.PartitionsChange{Input: "kafkaDirectStream#1", Event: "assigned",
		Partitions: []string{"words-3"}, Owned: []string{"words-0", "words-1", "words-3"}, Restore: 10 * time.Millisecond})
	st := get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK)
	if st.Name != "" {
		t.Errorf("statistics name %q without WithName", st.Name)
	}
	want := []ui.Partitions{{Input: "kafkaDirectStream#1", Owned: []string{"words-0", "words-1", "words-3"},
		Assigned: 2, Revoked: 1, Lost: 0, LastRestoreMs: 10, LastChange: 3000}}
	if len(st.Partitions) != 1 || !slices.Equal(st.Partitions[0].Owned, want[0].Owned) {
		t.Fatalf("partitions = %+v, want %+v", st.Partitions, want)
	}
	got := st.Partitions[0]
	got.Owned = nil
	want[0].Owned = nil
	if !reflect.DeepEqual(got, want[0]) {
		t.Errorf("partitions = %+v, want %+v", got, want[0])
	}
	m := scrape(t, j.web.URL)
	if v := m.value(t, "microbatch_streaming_partitions_owned", "input", "kafkaDirectStream#1"); v != 3 {
		t.Errorf("partitions_owned = %v, want 3", v)
	}
	for ev, n := range map[string]float64{"assigned": 2, "revoked": 1, "lost": 0} {
		if v := m.value(t, "microbatch_streaming_partition_events_total", "input", "kafkaDirectStream#1", "event", ev); v != n {
			t.Errorf("partition_events_total{event=%q} = %v, want %v", ev, v, n)
		}
	}
	h := m.metric("microbatch_streaming_partition_restore_seconds")
	if h == nil || h.Histogram.GetSampleCount() != 2 || math.Abs(h.Histogram.GetSampleSum()-0.05) > 1e-9 {
		t.Errorf("partition_restore_seconds = %v, want 2 samples summing to 0.05", h)
	}
}

// WithName names the job in the statistics.
func TestAPIName(t *testing.T) {
	j := newJob(t, jobConfig{uiOpts: []ui.Option{ui.WithName("wordcount")}})
	j.start()
	j.steps(1)
	if st := get[ui.Statistics](t, j.web.URL, "/api/v1/streaming/statistics", http.StatusOK); st.Name != "wordcount" {
		t.Errorf("statistics name %q, want wordcount", st.Name)
	}
}

// panicky is metadata whose MarshalJSON panics.
type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("broken source metadata") }

// A batch's detail has its inputs' metadata as JSON (bounded), their lag,
// and what each output operation wrote and rejected, by reason; the list
// of batches leaves the metadata and lag out.
func TestAPIBatchDetail(t *testing.T) {
	srv, err := ui.New(time.Second, ui.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	web := newWeb(t, srv)
	srv.OnStreamingStarted(time.UnixMilli(0))

	ranges := []kafka.OffsetRange{{Topic: "orders", Partition: 0, From: 10, Until: 17}, {Topic: "orders", Partition: 1, From: 4, Until: 4}}
	files := make([]string, ui.MaxMetadataItems+234)
	for i := range files {
		files[i] = fmt.Sprintf("/landing/2026/05/part-%05d.json", i)
	}
	longItems := make([]string, 300) // 300 items of 1 KiB: within the count, over the bytes
	for i := range longItems {
		longItems[i] = strings.Repeat(string(rune('a'+i%26)), 1024)
	}
	lag := []dstream.PartitionLag{{Partition: "orders-0", Records: 5}, {Partition: "orders-1", Records: 0}}
	bt := time.UnixMilli(5000)
	info := dstream.BatchInfo{BatchTime: bt, SubmissionTime: bt, Inputs: []dstream.InputInfo{
		{StreamID: 0, Name: "kafkaDirectStream#0", NumRecords: 7, Metadata: map[string]any{"offsets": ranges}, Lag: lag},
		{StreamID: 1, Name: "fileStream#1", NumRecords: -1, Metadata: map[string]any{"files": files}},
		{StreamID: 2, Name: "odd#2", NumRecords: 1, Metadata: map[string]any{
			"note": "hello", "chan": make(chan int), "panics": panicky{}, "huge": strings.Repeat("x", ui.MaxMetadataBytes+1),
			"long": longItems, "raw": []byte("bytes are a string"),
		}},
		{StreamID: 3, Name: "queueStream#3", NumRecords: 2},
	}}
	srv.OnBatchSubmitted(info)

	// Queued: the metadata is there already.
	path := "/api/v1/streaming/batches/5000"
	check := func(b ui.Batch) {
		t.Helper()
		if len(b.Inputs) != 4 {
			t.Fatalf("inputs = %+v", b.Inputs)
		}
		k := b.Inputs[0]
		var gotRanges []kafka.OffsetRange
		if err := json.Unmarshal(k.Metadata["offsets"], &gotRanges); err != nil || !slices.Equal(gotRanges, ranges) {
			t.Errorf("kafka input: offsets %s (%v), want %v", k.Metadata["offsets"], err, ranges)
		}
		if want := `[{"Topic":"orders","Partition":0,"From":10,"Until":17},{"Topic":"orders","Partition":1,"From":4,"Until":4}]`; compact(t, k.Metadata["offsets"]) != want {
			t.Errorf("kafka input: offsets %s, want %s", k.Metadata["offsets"], want)
		}
		if k.MetadataOmitted != nil || len(k.Metadata) != 1 {
			t.Errorf("kafka input: metadata %v, omitted %v", k.Metadata, k.MetadataOmitted)
		}
		if want := []ui.PartitionLag{{Partition: "orders-0", Records: 5}, {Partition: "orders-1", Records: 0}}; !slices.Equal(k.Lag, want) {
			t.Errorf("kafka input: lag %+v, want %+v", k.Lag, want)
		}
		f := b.Inputs[1]
		var gotFiles []string
		if err := json.Unmarshal(f.Metadata["files"], &gotFiles); err != nil || !slices.Equal(gotFiles, files[:ui.MaxMetadataItems]) {
			t.Errorf("file input: %d files kept (%v), want the first %d", len(gotFiles), err, ui.MaxMetadataItems)
		}
		if f.MetadataOmitted["files"] != 234 || f.Lag != nil {
			t.Errorf("file input: omitted %v, lag %v; want 234 files left out, no lag", f.MetadataOmitted, f.Lag)
		}
		o := b.Inputs[2]
		str := func(key string) string {
			var s string
			if err := json.Unmarshal(o.Metadata[key], &s); err != nil {
				t.Errorf("odd input: %s = %s, want a string: %v", key, o.Metadata[key], err)
			}
			return s
		}
		if s := str("note"); s != "hello" {
			t.Errorf("odd input: note %q", s)
		}
		if s := str("raw"); s != "Ynl0ZXMgYXJlIGEgc3RyaW5n" { // encoding/json's base64
			t.Errorf("odd input: raw %q", s)
		}
		if s := str("chan"); !strings.HasPrefix(s, "not shown: cannot be encoded as JSON: ") || !strings.Contains(s, "chan int") {
			t.Errorf("odd input: chan %q", s)
		}
		if s := str("panics"); !strings.HasPrefix(s, "not shown: cannot be encoded as JSON: ") || !strings.Contains(s, "broken source metadata") {
			t.Errorf("odd input: panics %q", s)
		}
		if s := str("huge"); !strings.HasPrefix(s, "not shown: ") || !strings.Contains(s, "over the limit of 131072") {
			t.Errorf("odd input: huge %q", s)
		}
		var long []string
		if err := json.Unmarshal(o.Metadata["long"], &long); err != nil || len(long) == 0 || !slices.Equal(long, longItems[:len(long)]) {
			t.Errorf("odd input: long is not a prefix of the list: %v", err)
		}
		// As many items as fit in the bound, the others counted.
		if n, item := len(compact(t, o.Metadata["long"])), len(`"",`)+1024; n > ui.MaxMetadataBytes || n+item <= ui.MaxMetadataBytes {
			t.Errorf("odd input: long kept %d bytes of JSON, want the most items of %d bytes that fit in %d", n, item, ui.MaxMetadataBytes)
		}
		if o.MetadataOmitted["long"] != int64(300-len(long)) || len(o.MetadataOmitted) != 1 {
			t.Errorf("odd input: long kept %d items, omitted %v; want the rest counted", len(long), o.MetadataOmitted)
		}
		q := b.Inputs[3]
		if q.Metadata != nil || q.MetadataOmitted != nil || q.Lag != nil {
			t.Errorf("queue input: %+v, want no metadata", q)
		}
	}
	queued := get[ui.Batch](t, web, path, http.StatusOK)
	if queued.Status != "queued" {
		t.Errorf("status %q, want queued", queued.Status)
	}
	check(queued)

	info.ProcessingStartTime = bt.Add(time.Millisecond)
	srv.OnBatchStarted(info)
	op0 := dstream.OutputOperationInfo{BatchTime: bt, ID: 0, Name: "orders to warehouse", Stream: "kafkaDirectStream#0",
		StartTime: info.ProcessingStartTime, EndTime: bt.Add(4 * time.Millisecond), Rejected: 4,
		RejectedBy: map[string]int64{"too_large": 2, "invalid_value": 1}, // and one without a reason
		Wrote:      dstream.OutputStats{Records: 3, Rows: 3, Bytes: 1234, Files: 1}}
	srv.OnOutputOperationStarted(dstream.OutputOperationInfo{BatchTime: bt, ID: 0, Name: op0.Name, Stream: op0.Stream, StartTime: op0.StartTime})
	running := get[ui.Batch](t, web, path, http.StatusOK)
	if running.Status != "processing" || len(running.OutputOperations) != 1 || running.OutputOperations[0].Wrote != (ui.Written{}) ||
		running.OutputOperations[0].RejectedBy != nil {
		t.Errorf("processing batch: status %s, operations %+v", running.Status, running.OutputOperations)
	}
	check(running)
	srv.OnOutputOperationCompleted(op0)
	op1 := dstream.OutputOperationInfo{BatchTime: bt, ID: 1, Name: "forEachBatch", Stream: "fileStream#1",
		StartTime: op0.EndTime, EndTime: bt.Add(6 * time.Millisecond), Err: errors.New("disk full")}
	srv.OnOutputOperationStarted(op1)
	srv.OnOutputOperationCompleted(op1)
	info.ProcessingEndTime = op1.EndTime
	info.Inputs = slices.Clone(info.Inputs)
	info.Inputs[1].NumRecords = 99 // counted as read
	info.OutputOperations = []dstream.OutputOperationInfo{op0, op1}
	info.Err = errors.New("output forEachBatch: disk full")
	srv.OnBatchCompleted(info)

	done := get[ui.Batch](t, web, path, http.StatusOK)
	if done.Status != "failed" || done.Inputs[1].NumRecords == nil || *done.Inputs[1].NumRecords != 99 {
		t.Errorf("completed batch: status %s, file input's records %v", done.Status, deref(done.Inputs[1].NumRecords))
	}
	check(done)
	ops := done.OutputOperations
	if len(ops) != 2 {
		t.Fatalf("operations = %+v", ops)
	}
	if want := (ui.Written{Records: 3, Rows: 3, Bytes: 1234, Files: 1}); ops[0].Wrote != want || ops[0].Rejected != 4 {
		t.Errorf("operation 0 wrote %+v, rejected %d; want %+v, 4", ops[0].Wrote, ops[0].Rejected, want)
	}
	if want := map[string]int64{"too_large": 2, "invalid_value": 1, "other": 1}; !maps.Equal(ops[0].RejectedBy, want) {
		t.Errorf("operation 0 rejectedBy %v, want %v", ops[0].RejectedBy, want)
	}
	if ops[1].Wrote != (ui.Written{}) || ops[1].RejectedBy != nil || ops[1].Error != "disk full" || ops[1].Status != "failed" {
		t.Errorf("operation 1 = %+v", ops[1])
	}
	// The JSON names of the new fields.
	raw := get[map[string]any](t, web, path, http.StatusOK)
	in0 := raw["inputs"].([]any)[0].(map[string]any)
	op := raw["outputOperations"].([]any)[0].(map[string]any)
	if _, ok := in0["metadata"].(map[string]any)["offsets"]; !ok || in0["lag"] == nil || op["wrote"] == nil || op["rejectedBy"] == nil {
		t.Errorf("JSON names: input %v, operation %v", in0, op)
	}
	if w := op["wrote"].(map[string]any); w["records"] != 3.0 || w["rows"] != 3.0 || w["bytes"] != 1234.0 || w["files"] != 1.0 {
		t.Errorf("wrote = %v", w)
	}
	if in1 := raw["inputs"].([]any)[1].(map[string]any); in1["metadataOmitted"].(map[string]any)["files"] != 234.0 {
		t.Errorf("metadataOmitted = %v", in1["metadataOmitted"])
	}
	same := get[[]ui.OutputOperation](t, web, path+"/operations", http.StatusOK)
	if !reflect.DeepEqual(same, ops) {
		t.Errorf("operations endpoint = %+v, want %+v", same, ops)
	}

	// The list keeps what it had, without the metadata and lag.
	list := get[[]ui.Batch](t, web, "/api/v1/streaming/batches", http.StatusOK)
	if len(list) != 1 || len(list[0].Inputs) != 4 || !reflect.DeepEqual(list[0].OutputOperations, ops) {
		t.Fatalf("batches = %+v", list)
	}
	for _, in := range list[0].Inputs {
		if in.Metadata != nil || in.MetadataOmitted != nil || in.Lag != nil {
			t.Errorf("the list's input %s has its detail: %+v", in.Name, in)
		}
	}
	b, ok := srv.Batch(bt)
	if !ok {
		t.Fatal("Server.Batch found no batch")
	}
	direct, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	served, err := json.Marshal(done)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(direct, served) {
		t.Errorf("Server.Batch differs from what the API serves:\n%.2000s\n%.2000s", direct, served)
	}
}

// compact returns raw without spaces (the API's JSON is indented).
func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.String()
}

// landing is an input that "lists" files: each batch holds n new files,
// one record each, and says so in its metadata, as the file stream does.
type landing struct {
	n    int
	next atomic.Int64
}

func (l *landing) Start(context.Context) error { return nil }
func (l *landing) Stop()                       {}

func (l *landing) Generate(_ context.Context, t time.Time) (*dstream.InputBatch[string], error) {
	first := l.next.Add(int64(l.n)) - int64(l.n)
	files := make([]string, l.n)
	for i := range files {
		files[i] = fmt.Sprintf("/landing/f-%06d.csv", first+int64(i))
	}
	return &dstream.InputBatch[string]{
		Partitions: 1, Records: int64(len(files)), Metadata: map[string]any{"files": files},
		Read: func(context.Context, int) ([]string, error) { return files, nil },
	}, nil
}

// tooLong is the reason a record is rejected.
type tooLong struct{}

func (tooLong) Error() string        { return "path too long" }
func (tooLong) RejectReason() string { return "too_large" }

// catalog is an output that counts what it "writes": a record per path,
// its length in bytes, a row per record and a file per batch; it
// rejects paths ending in 7.
type catalog struct {
	mu    sync.Mutex
	stats dstream.OutputStats
}

func (c *catalog) Open(context.Context) error { return nil }
func (c *catalog) Close() error               { return nil }
func (c *catalog) OutputStats() dstream.OutputStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *catalog) Begin(context.Context, dstream.OutputBatch) (dstream.BatchWriter[string], error) {
	return &catalogBatch{c: c}, nil
}

type catalogBatch struct {
	c    *catalog
	mu   sync.Mutex
	part dstream.OutputStats
}

func (w *catalogBatch) WritePartition(_ context.Context, p *dstream.Partition[string]) error {
	for path := range p.Records() {
		if strings.HasSuffix(path, "7.csv") {
			p.Reject(path, tooLong{})
			continue
		}
		w.mu.Lock()
		w.part.Records++
		w.part.Bytes += int64(len(path))
		w.mu.Unlock()
	}
	return nil
}

func (w *catalogBatch) Commit(context.Context) error {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.part.Rows = w.part.Records
	if w.part.Records > 0 {
		w.part.Files = 1
	}
	w.c.stats = w.c.stats.Add(w.part)
	return nil
}

func (w *catalogBatch) Abort(context.Context, error) {}

// In a real job, a batch's detail shows its input's metadata while it is
// queued and runs, and once it completed, with what each output
// operation wrote and rejected as the engine reported it.
func TestAPIBatchDetailOfAJob(t *testing.T) {
	const interval = time.Second
	srv, err := ui.New(interval, ui.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	clk := dstream.NewManualClock(time.UnixMilli(0))
	rec := &recorder{}
	ssc, err := dstream.NewContext(interval, dstream.WithClock(clk), dstream.WithLogger(quiet),
		dstream.WithListener(rec), dstream.WithListener(srv), dstream.WithDeadLetterHandler(func(dstream.DeadLetter) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	in := dstream.InputStream[string](ssc, "landing", &landing{n: 1050})
	if err := in.WriteTo(&catalog{}, dstream.WriteSpec[string]{Name: "catalog the files"}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	if err := in.ForEachBatch(func(_ context.Context, b *dstream.Batch[string]) error {
		if b.Time.UnixMilli() == 1000 {
			<-release
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	web := newWeb(t, srv)
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	files := func(b ui.Batch) ([]string, int64) {
		t.Helper()
		if len(b.Inputs) != 1 {
			t.Fatalf("inputs = %+v", b.Inputs)
		}
		var fs []string
		if err := json.Unmarshal(b.Inputs[0].Metadata["files"], &fs); err != nil {
			t.Fatalf("files %s: %v", b.Inputs[0].Metadata["files"], err)
		}
		return fs, b.Inputs[0].MetadataOmitted["files"]
	}
	clk.Set(time.UnixMilli(1000))
	running := waitFor(t, func() (ui.Batch, bool) {
		b, ok := srv.Batch(time.UnixMilli(1000))
		return b, ok && b.Status == "processing" && b.NumActiveOutputOps == 1
	})
	if fs, omitted := files(running); len(fs) != ui.MaxMetadataItems || fs[0] != "/landing/f-000000.csv" || omitted != 50 {
		t.Errorf("running batch: %d files from %q, %d left out; want 1000 from f-000000, 50 left out", len(fs), fs[0], omitted)
	}
	clk.Set(time.UnixMilli(2000)) // queued behind the one that runs
	queued := waitFor(t, func() (ui.Batch, bool) {
		b, ok := srv.Batch(time.UnixMilli(2000))
		return b, ok && b.Status == "queued"
	})
	if fs, omitted := files(queued); len(fs) != ui.MaxMetadataItems || fs[0] != "/landing/f-001050.csv" || omitted != 50 {
		t.Errorf("queued batch: %d files from %q, %d left out", len(fs), fs[0], omitted)
	}
	unblock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ssc.WaitForBatch(ctx, time.UnixMilli(2000)); err != nil {
		t.Fatal(err)
	}
	want := rec.batches()
	if len(want) != 2 {
		t.Fatalf("recorded %d batches", len(want))
	}
	for _, w := range want {
		got := get[ui.Batch](t, web, fmt.Sprintf("/api/v1/streaming/batches/%d", w.BatchTime.UnixMilli()), http.StatusOK)
		checkBatch(t, got, w, interval)
		fs, omitted := files(got)
		all := w.Inputs[0].Metadata["files"].([]string)
		if !slices.Equal(fs, all[:ui.MaxMetadataItems]) || omitted != int64(len(all)-ui.MaxMetadataItems) {
			t.Errorf("batch %d: %d files, %d left out; want the first 1000 of %d", got.BatchTime, len(fs), omitted, len(all))
		}
		o, g := w.OutputOperations[0], got.OutputOperations[0]
		if g.Name != "catalog the files" || o.Wrote.Records == 0 || o.Rejected == 0 {
			t.Fatalf("batch %d: operation %+v; the job did not write or reject", got.BatchTime, o)
		}
		if wrote := (ui.Written{Records: o.Wrote.Records, Rows: o.Wrote.Rows, Bytes: o.Wrote.Bytes, Files: o.Wrote.Files}); g.Wrote != wrote || g.Wrote.Records != 945 {
			t.Errorf("batch %d: wrote %+v, the engine reported %+v", got.BatchTime, g.Wrote, o.Wrote)
		}
		if !maps.Equal(g.RejectedBy, o.RejectedBy) || g.RejectedBy["too_large"] != 105 {
			t.Errorf("batch %d: rejectedBy %v, the engine reported %v", got.BatchTime, g.RejectedBy, o.RejectedBy)
		}
	}
}

// The bound keeps a Kafka direct stream's ranges whole for 1000
// partitions of a topic whose name has 59 characters, offsets in the
// hundreds of billions (as documented), and cuts them at 1001.
func TestAPIKafkaRangesKeptWhole(t *testing.T) {
	srv, err := ui.New(time.Second, ui.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnStreamingStarted(time.UnixMilli(0))
	topic := strings.Repeat("t", 59)
	for i, n := range []int{ui.MaxMetadataItems, ui.MaxMetadataItems + 1} {
		ranges := make([]kafka.OffsetRange, n)
		for p := range ranges {
			ranges[p] = kafka.OffsetRange{Topic: topic, Partition: int32(p), From: 999_999_999_000, Until: 999_999_999_999}
		}
		bt := time.UnixMilli(int64(i+1) * 1000)
		srv.OnBatchSubmitted(dstream.BatchInfo{BatchTime: bt, SubmissionTime: bt,
			Inputs: []dstream.InputInfo{{Name: "kafkaDirectStream#0", NumRecords: 1, Metadata: map[string]any{"offsets": ranges}}}})
		b, ok := srv.Batch(bt)
		if !ok {
			t.Fatalf("no batch at %v", bt)
		}
		var got []kafka.OffsetRange
		if err := json.Unmarshal(b.Inputs[0].Metadata["offsets"], &got); err != nil {
			t.Fatal(err)
		}
		if kept := min(n, ui.MaxMetadataItems); !slices.Equal(got, ranges[:kept]) || b.Inputs[0].MetadataOmitted["offsets"] != int64(n-kept) {
			t.Errorf("%d ranges: %d kept, %v left out; want %d kept", n, len(got), b.Inputs[0].MetadataOmitted, kept)
		}
	}
}
