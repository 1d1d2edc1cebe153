package ui_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// families are the metric families of one scrape of /metrics.
type families map[string]*dto.MetricFamily

// scrape GETs /metrics in Prometheus' text format and parses it.
func scrape(t *testing.T, base string) families {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metric returns the sample of name whose labels include the given
// name-value pairs, or nil.
func (f families) metric(name string, labels ...string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns the value of a gauge or counter sample, failing the test
// when it is missing.
func (f families) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := f.metric(name, labels...)
	switch {
	case m == nil:
		t.Fatalf("no metric %s%v", name, labels)
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	t.Fatalf("%s is neither a gauge nor a counter", name)
	return 0
}

// The metrics agree with the BatchInfo and ReceiverInfo the engine
// reported, and come from the Server's own registry.
func TestMetricsMatchBatchInfo(t *testing.T) {
	rcv := &testReceiver{}
	j := newJob(t, jobConfig{receiver: rcv, proc: func(ms int64) time.Duration {
		return time.Duration(ms/1000) * 11 * time.Millisecond
	}})
	j.q.Push([]int{1, 2, 3, 4})
	j.q.Push([]int{5, 6})
	j.q.Push([]int{7, 8, 9})
	j.start()
	j.steps(1)
	waitFor(t, func() (int, bool) { n := len(j.srv.Receivers()); return n, n == 1 })
	rcv.reportError("lost the sensor", errors.New("eof"))
	j.steps(2)

	want := j.rec.batches()
	m := scrape(t, j.web.URL)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"microbatch_streaming_batch_interval_seconds", nil, 1},
		{"microbatch_streaming_running", nil, 1},
		{"microbatch_streaming_start_time_seconds", nil, 0},
		{"microbatch_streaming_batches_completed_total", nil, 3},
		{"microbatch_streaming_batches_failed_total", nil, 0},
		{"microbatch_streaming_batches_active", []string{"status", "queued"}, 0},
		{"microbatch_streaming_batches_active", []string{"status", "processing"}, 0},
		{"microbatch_streaming_records_processed_total", nil, 9},
		{"microbatch_streaming_output_operations_completed_total", nil, 6},
		{"microbatch_streaming_output_operations_failed_total", nil, 0},
		{"microbatch_streaming_receivers", []string{"status", "active"}, 1},
		{"microbatch_streaming_receivers", []string{"status", "stopped"}, 0},
		{"microbatch_streaming_receiver_up", []string{"stream_id", "1", "name", "sensors"}, 1},
		{"microbatch_streaming_receiver_errors_total", []string{"stream_id", "1", "name", "sensors"}, 1},
	}
	last := want[len(want)-1]
	checks = append(checks, []struct {
		name   string
		labels []string
		want   float64
	}{
		{"microbatch_streaming_last_batch_time_seconds", nil, 3},
		{"microbatch_streaming_last_batch_records", nil, float64(last.NumRecords())},
		{"microbatch_streaming_last_batch_input_rate", nil, float64(last.NumRecords()) / j.interval.Seconds()},
		{"microbatch_streaming_last_batch_scheduling_delay_seconds", nil, last.SchedulingDelay().Seconds()},
		{"microbatch_streaming_last_batch_processing_time_seconds", nil, last.ProcessingDelay().Seconds()},
		{"microbatch_streaming_last_batch_total_delay_seconds", nil, last.TotalDelay().Seconds()},
	}...)
	for _, c := range checks {
		if got := m.value(t, c.name, c.labels...); !near(got, c.want) {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if last.ProcessingDelay() != 33*time.Millisecond || last.NumRecords() != 3 {
		t.Errorf("last batch: processing %v, %d records; the job did not run as planned", last.ProcessingDelay(), last.NumRecords())
	}
	for _, h := range []struct {
		name string
		of   func(dstream.BatchInfo) time.Duration
	}{
		{"microbatch_streaming_scheduling_delay_seconds", dstream.BatchInfo.SchedulingDelay},
		{"microbatch_streaming_processing_time_seconds", dstream.BatchInfo.ProcessingDelay},
		{"microbatch_streaming_total_delay_seconds", dstream.BatchInfo.TotalDelay},
	} {
		s := m.metric(h.name)
		if s == nil || s.Histogram == nil {
			t.Fatalf("no histogram %s", h.name)
		}
		var sum float64
		var le20ms uint64
		for _, b := range want {
			sum += h.of(b).Seconds()
			if h.of(b) <= 16*time.Millisecond {
				le20ms++
			}
		}
		if s.Histogram.GetSampleCount() != uint64(len(want)) || math.Abs(s.Histogram.GetSampleSum()-sum) > 1e-9 {
			t.Errorf("%s: count %d sum %v, want %d and %v", h.name, s.Histogram.GetSampleCount(), s.Histogram.GetSampleSum(), len(want), sum)
		}
		for _, b := range s.Histogram.Bucket {
			if b.GetUpperBound() == 0.016 && b.GetCumulativeCount() != le20ms {
				t.Errorf("%s: bucket le=0.016 holds %d, want %d", h.name, b.GetCumulativeCount(), le20ms)
			}
		}
	}
	if m["go_goroutines"] == nil || m["process_cpu_seconds_total"] == nil {
		t.Error("the Go and process collectors are missing")
	}
	// Not the global registry.
	global, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range global {
		if strings.HasPrefix(f.GetName(), "microbatch_") {
			t.Errorf("%s is in the global registry", f.GetName())
		}
	}
	if reg := j.srv.Registry(); reg == nil || reg == prometheus.DefaultRegisterer {
		t.Error("Registry is the global one")
	}

	if err := j.ssc.Stop(context.Background(), dstream.Hard); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, j.web.URL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"microbatch_streaming_running", nil, 0},
		{"microbatch_streaming_receiver_up", []string{"stream_id", "1"}, 0},
		{"microbatch_streaming_receivers", []string{"status", "stopped"}, 1},
	} {
		if got := m.value(t, c.name, c.labels...); got != c.want {
			t.Errorf("after stop: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// A failed batch counts in the failure counters; before any batch, the
// last_batch gauges are absent.
func TestMetricsFailedBatch(t *testing.T) {
	j := newJob(t, jobConfig{fail: func(ms int64) error {
		if ms == 2000 {
			return errors.New("disk full")
		}
		return nil
	}})
	if m := scrape(t, j.web.URL); m["microbatch_streaming_last_batch_records"] != nil || m["microbatch_streaming_start_time_seconds"] != nil {
		t.Error("last_batch or start_time gauges before the start")
	}
	j.start()
	j.steps(1)
	if err := j.step(); err == nil {
		t.Fatal("batch 2 did not fail")
	}
	m := scrape(t, j.web.URL)
	for name, want := range map[string]float64{
		"microbatch_streaming_batches_completed_total":           2,
		"microbatch_streaming_batches_failed_total":              1,
		"microbatch_streaming_output_operations_completed_total": 4,
		"microbatch_streaming_output_operations_failed_total":    1,
		"microbatch_streaming_last_batch_time_seconds":           2,
	} {
		if got := m.value(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
