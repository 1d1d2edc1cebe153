package dstream

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStartChecks(t *testing.T) {
	refused := errors.New("connection refused")
	for _, tc := range []struct {
		name    string
		checks  map[string]func(context.Context) error
		want    string // "" for a successful start
		timeout bool
	}{
		{name: "all pass", checks: map[string]func(context.Context) error{
			"a": func(context.Context) error { return nil },
			"b": func(context.Context) error { return nil },
		}},
		{name: "one fails", checks: map[string]func(context.Context) error{
			"kafka brokers 127.0.0.1:1": func(context.Context) error { return refused },
			"output /tmp":               func(context.Context) error { return nil },
		}, want: "kafka brokers 127.0.0.1:1: connection refused"},
		{name: "no answer", checks: map[string]func(context.Context) error{
			"namenode nn:8020": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		}, want: "namenode nn:8020: no answer within 50ms", timeout: true},
		{name: "no answer with the last error", checks: map[string]func(context.Context) error{
			"kudu masters k:7051": func(ctx context.Context) error { <-ctx.Done(); return refused },
		}, want: "kudu masters k:7051: no answer within 50ms: connection refused", timeout: true},
		{name: "panicking check", checks: map[string]func(context.Context) error{
			"x": func(context.Context) error { panic("boom") },
		}, want: "x: panic: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second, WithStartTimeout(50*time.Millisecond))
			collect(t, QueueStream(h.ssc, NewQueue[int]()))
			for name, f := range tc.checks {
				h.ssc.AddStartCheck(name, f)
			}
			err := h.ssc.Start()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				return
			}
			var se *StartError
			if !errors.As(err, &se) || err.Error() != tc.want {
				t.Fatalf("Start = %v (%T); want a *StartError %q", err, err, tc.want)
			}
			if tc.timeout != strings.Contains(err.Error(), "no answer within") {
				t.Errorf("timeout reported wrongly: %v", err)
			}
			if got := h.ssc.State(); got != StateStopped {
				t.Errorf("state after a failed check = %v, want STOPPED", got)
			}
		})
	}
}

// healthLog records health events.
type healthLog struct {
	mu     sync.Mutex
	events []Degradation
}

func (l *healthLog) OnHealthChanged(d Degradation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, d)
}

func TestReportHealthInBatchInfo(t *testing.T) {
	var infos batchInfos
	var hl healthLog
	h := newHarness(t, time.Second, WithListener(&infos), WithListener(&hl))
	collect(t, QueueStream(h.ssc, NewQueue[int]()))
	h.start()
	h.ssc.ReportHealth("kafka brokers b:9092", nil) // healthy: nothing happens
	h.step()
	down := errors.New("dial tcp b:9092: connection refused")
	h.ssc.ReportHealth("kafka brokers b:9092", down)
	h.step()
	h.ssc.ReportHealth("kafka brokers b:9092", down) // the same outage
	h.step()
	h.ssc.ReportHealth("kafka brokers b:9092", nil)
	h.step()

	got := infos.all()
	if len(got) != 4 {
		t.Fatalf("%d batches, want 4", len(got))
	}
	if got[0].Degraded != nil || got[3].Degraded != nil {
		t.Errorf("degraded while healthy: %v, %v", got[0].Degraded, got[3].Degraded)
	}
	for _, b := range got[1:3] {
		if len(b.Degraded) != 1 || b.Degraded[0].Component != "kafka brokers b:9092" || b.Degraded[0].Err != down {
			t.Fatalf("batch %v: Degraded = %v", b.BatchTime, b.Degraded)
		}
		if !b.Degraded[0].Since.Equal(time.UnixMilli(1000)) {
			t.Errorf("Since = %v, want the first report at 1 s", b.Degraded[0].Since)
		}
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	if len(hl.events) != 2 || hl.events[0].Err != down || hl.events[1].Err != nil {
		t.Errorf("health events = %v; want degraded, then recovered", hl.events)
	}
}

func TestMaxOutageFailsTheJob(t *testing.T) {
	h := newHarness(t, time.Second, WithMaxOutage(3*time.Second))
	collect(t, QueueStream(h.ssc, NewQueue[int]()))
	h.start()
	h.step()
	h.ssc.ReportHealth("topic words", errors.New("unknown topic"))
	h.steps(3) // 1 s, 2 s, 3 s of outage: within the limit
	err := h.stepErr()
	var oe *OutageError
	if !errors.As(err, &oe) || oe.Component != "topic words" || oe.Limit != 3*time.Second {
		t.Fatalf("after 4 s of outage: %v; want an *OutageError for topic words", err)
	}
	if !strings.Contains(err.Error(), "longer than the maximum outage of 3s: unknown topic") {
		t.Errorf("message: %v", err)
	}
}

func TestWithoutMaxOutageTheJobWaits(t *testing.T) {
	h := newHarness(t, time.Second)
	collect(t, QueueStream(h.ssc, NewQueue[int]()))
	h.start()
	h.ssc.ReportHealth("topic words", errors.New("unknown topic"))
	h.steps(20)
	if d := h.ssc.Degraded(); len(d) != 1 {
		t.Errorf("Degraded = %v", d)
	}
}

// batchInfos records completed batches.
type batchInfos struct {
	mu sync.Mutex
	bs []BatchInfo
}

func (b *batchInfos) OnBatchCompleted(i BatchInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bs = append(b.bs, i)
}

func (b *batchInfos) all() []BatchInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BatchInfo(nil), b.bs...)
}

// A check that ignores its context does not hold Start past the timeout.
func TestStartCheckIgnoringItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := newHarness(t, time.Second, WithStartTimeout(50*time.Millisecond))
	collect(t, QueueStream(h.ssc, NewQueue[int]()))
	h.ssc.AddStartCheck("namenode nn:8020", func(context.Context) error { <-release; return nil })
	h.ssc.AddStartCheck("fine", func(context.Context) error { return nil })
	err := h.ssc.Start()
	if err == nil || err.Error() != "namenode nn:8020: no answer within 50ms" {
		t.Fatalf("Start = %v", err)
	}
}

// Run's context ends the start-up checks: a signal while a dependency is
// awaited stops the job at once.
func TestRunContextEndsStartChecks(t *testing.T) {
	h := newHarness(t, time.Second, WithStartTimeout(time.Hour))
	collect(t, QueueStream(h.ssc, NewQueue[int]()))
	h.ssc.AddStartCheck("kafka brokers b:9092", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := h.ssc.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}
