package progress

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

type counts struct{ rows, dead int64 }

func newReporter(w *strings.Builder) *Reporter[counts] {
	return New(w, func(c counts) string { return fmt.Sprintf("rows=%d dead=%d", c.rows, c.dead) }, "rows=? dead=?",
		func(t, c counts) counts { return counts{t.rows + c.rows, t.dead + c.dead} })
}

func batch(t time.Time, records int64, err error) dstream.BatchInfo {
	return dstream.BatchInfo{BatchTime: t, Inputs: []dstream.InputInfo{{NumRecords: records}},
		ProcessingStartTime: t, ProcessingEndTime: t.Add(1234 * time.Microsecond), Err: err}
}

// A line per batch, with the counts set for it; a batch that failed
// before its counts shows "?"; only the batches that succeeded count in
// the total; the lines parse back.
func TestReporter(t *testing.T) {
	var b strings.Builder
	r := newReporter(&b)
	t1 := time.Date(2024, 1, 2, 10, 58, 30, 0, time.Local)
	t2, t3 := t1.Add(time.Second), t1.Add(2*time.Second)
	r.Set(t1, counts{10, 2})
	r.Set(t3, counts{5, 0})
	r.OnBatchCompleted(batch(t1, 12, nil))
	r.OnBatchCompleted(batch(t2, 3, errors.New("disk full")))
	r.OnBatchCompleted(batch(t3, 5, nil))
	want := "batch 10:58:30.000 records=12 rows=10 dead=2 processing=1ms ok\n" +
		"batch 10:58:31.000 records=3 rows=? dead=? processing=1ms FAILED: disk full\n" +
		"batch 10:58:32.000 records=5 rows=5 dead=0 processing=1ms ok\n"
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
	if got := r.Total(); got != (Total[counts]{Batches: 2, Records: 17, Counts: counts{15, 2}}) {
		t.Errorf("total %+v", got)
	}
	lines := Lines("noise\n" + b.String() + "time=x level=INFO msg=stopped\n")
	if len(lines) != 3 || lines[1].Err != "disk full" || lines[0].Err != "" || lines[2].Records != 5 ||
		!slices.Equal(lines[0].Fields, []Field{{"rows", "10"}, {"dead", "2"}}) {
		t.Fatalf("parsed %+v", lines)
	}
	if n, ok := lines[0].Int("dead"); !ok || n != 2 {
		t.Errorf("dead = %d, %v", n, ok)
	}
	if _, ok := lines[1].Int("rows"); ok {
		t.Error(`"?" parsed as a number`)
	}
	if _, ok := lines[0].Int("nope"); ok {
		t.Error("a missing field parsed")
	}
	if _, ok := r.Take(t1); ok {
		t.Error("the counts of a printed batch are still pending")
	}
}

// Set and the listener run on different goroutines.
func TestReporterConcurrent(t *testing.T) {
	var b strings.Builder
	r := newReporter(&b)
	base := time.Unix(0, 0)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() { r.Set(base.Add(time.Duration(i)*time.Second), counts{1, 0}) })
	}
	wg.Wait()
	for i := range 100 {
		r.OnBatchCompleted(batch(base.Add(time.Duration(i)*time.Second), 1, nil))
	}
	if got := r.Total(); got.Counts.rows != 100 || got.Batches != 100 {
		t.Errorf("total %+v", got)
	}
}

// A batch that ran while a dependency was away says "degraded" and why,
// on one line, and still counts; a failure wins over a degradation.
func TestReporterDegraded(t *testing.T) {
	var b strings.Builder
	r := newReporter(&b)
	t1 := time.Date(2024, 1, 2, 10, 58, 30, 0, time.Local)
	down := []dstream.Degradation{
		{Component: "kafka brokers 127.0.0.1:9092", Err: errors.New("dial tcp 127.0.0.1:9092: connection refused")},
		{Component: "kafka topic words", Err: errors.New("topic does not exist\n(yet)")},
	}
	b1 := batch(t1, 0, nil)
	b1.Degraded = down
	b2 := batch(t1.Add(time.Second), 0, errors.New("disk full"))
	b2.Degraded = down
	r.Set(t1, counts{0, 0})
	r.OnBatchCompleted(b1)
	r.OnBatchCompleted(b2)
	want := "batch 10:58:30.000 records=0 rows=0 dead=0 processing=1ms degraded: kafka brokers 127.0.0.1:9092: dial tcp 127.0.0.1:9092: connection refused; kafka topic words: topic does not exist (yet)\n" +
		"batch 10:58:31.000 records=0 rows=? dead=? processing=1ms FAILED: disk full\n"
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
	lines := Lines(b.String())
	if len(lines) != 2 || lines[0].Err != "" || !strings.HasPrefix(lines[0].Degraded, "kafka brokers 127.0.0.1:9092: dial tcp") ||
		lines[1].Err != "disk full" || lines[1].Degraded != "" {
		t.Fatalf("parsed %+v", lines)
	}
	if got := r.Total().Batches; got != 1 {
		t.Errorf("%d batches counted, want the degraded one", got)
	}
}
