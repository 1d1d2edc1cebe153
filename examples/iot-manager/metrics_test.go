package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/internal/testtool"
)

// scrapeMetrics reads the status page's /metrics at base: every sample by
// its name and labels, "name{k=v,...}" with the labels sorted, job_name
// left out (every series must carry it; checked here).
func scrapeMetrics(t *testing.T, base string) (map[string]float64, error) {
	t.Helper()
	resp, err := http.Get(base + "metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("/metrics does not parse: %w", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var labels []string
			job := ""
			for _, l := range m.Label { // sorted by name
				if l.GetName() == "job_name" {
					job = l.GetValue()
					continue
				}
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if job != "iot-manager" {
				t.Errorf("%s%v: job_name %q, want iot-manager", name, labels, job)
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				out[key] = m.Untyped.GetValue()
			}
		}
	}
	return out, nil
}

// opLabels returns the labels "name=...,operation=N" of the output
// operation whose name starts with prefix, from its runs counter.
func opLabels(m map[string]float64, prefix string) string {
	re := regexp.MustCompile(`^microbatch_streaming_output_operation_runs_total\{(name=` + regexp.QuoteMeta(prefix) + `[^,]*,operation=\d+),outcome=ok\}$`)
	for k := range m {
		if sm := re.FindStringSubmatch(k); sm != nil {
			return sm[1]
		}
	}
	return ""
}

// TestMetricsEqualTheCounts runs the manager end to end with its status
// page (Parquet files committed every batch, Kudu, dead letters to files)
// and checks, while it runs, that /metrics equals what the engine, the
// sinks and the manager counted and what is in the stores: messages and
// records processed; the Parquet sink's rows, files and bytes and the
// files on disk; the Kudu sink's rows and the manager's; the dead
// letters by reason and the dead-letter files; the rows each sink
// rejected; no consumer lag once everything is read. Every series
// carries job_name="iot-manager".
func TestMetricsEqualTheCounts(t *testing.T) {
	in := newE2EInput(t)
	c := kafkatest.New(t, map[string]int32{e2eTopic: e2ePartitions})
	kc := kudutest.New(t)
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "events"), filepath.Join(dir, "dead")
	oversized := 0
	for _, reason := range in.bad {
		if strings.HasPrefix(reason, reasonOversized) {
			oversized++
		}
	}
	parquetRejected := 0
	if in.parquetRejected != "" {
		parquetRejected = 1
	}
	wantEvents := len(in.events) - parquetRejected
	var last map[string]float64
	var problems []string
	live := func(p *proctest.Proc) {
		url := p.WaitFor(t, p.Stderr, regexp.MustCompile(`msg="status page" url=(\S+)`), 10*time.Second)[1]
		deadline := time.Now().Add(20 * time.Second)
		for {
			m, err := scrapeMetrics(t, url)
			if err != nil {
				t.Fatal(err)
			}
			last = m
			problems = checkMetrics(t, m, in, out, dead, wantEvents, oversized, parquetRejected)
			// The files a batch commits when it completes are counted
			// with the next batch: wait a few batches for them.
			if len(problems) == 0 || time.Now().After(deadline) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	runManagerThen(t, c, in, live, "-brokers", c.Addrs[0], "-hdfs-out", out, "-dead-letter", dead, "-batch", "200ms",
		"-kudu-masters", strings.Join(kc.MasterAddrs(), ","), "-kudu-buckets", "4", "-max-message-bytes", strconv.Itoa(e2eMaxMessage),
		"-rotate-bytes", "0", "-rotate-interval", "0", "-rotate-rows", "0", "-ui", "127.0.0.1:0")
	for _, p := range problems {
		t.Error(p)
	}
	if t.Failed() {
		var keys []string
		for k, v := range last {
			if strings.HasPrefix(k, "microbatch_streaming_output") || strings.HasPrefix(k, "iot_manager") || strings.HasPrefix(k, "microbatch_streaming_input") {
				keys = append(keys, fmt.Sprintf("%s %v", k, v))
			}
		}
		t.Logf("last scrape:\n%s", strings.Join(keys, "\n"))
	}
	checkKudu(t, kc, "Events", in.kudu)
}

// checkMetrics compares one scrape with the counts and the stores, and
// returns what differs.
func checkMetrics(t *testing.T, m map[string]float64, in *e2eInput, out, dead string, wantEvents, oversized, parquetRejected int) []string {
	var problems []string
	eq := func(what string, got float64, want int64) {
		if got != float64(want) {
			problems = append(problems, fmt.Sprintf("%s = %v, want %d", what, got, want))
		}
	}
	get := func(key string) float64 {
		v, ok := m[key]
		if !ok {
			problems = append(problems, "no series "+key)
		}
		return v
	}
	msgs := int64(len(in.messages))
	eq("records_processed_total", get("microbatch_streaming_records_processed_total"), msgs)
	eq("iot_manager_messages_total", get("iot_manager_messages_total"), msgs)
	eq("iot_manager_events_total", get("iot_manager_events_total"), int64(wantEvents))
	eq("iot_manager_kudu_rows_total", get("iot_manager_kudu_rows_total"), int64(len(in.kudu)))
	for p := range e2ePartitions {
		eq("lag of partition "+strconv.Itoa(p), get(fmt.Sprintf("microbatch_streaming_input_lag_records{input=kafkaDirectStream#1,partition=%s-%d}", e2eTopic, p)), 0)
	}

	pq := opLabels(m, "parquet ")
	ku := opLabels(m, "kudu ")
	if pq == "" || ku == "" {
		return append(problems, fmt.Sprintf("output operations parquet %q and kudu %q not both found", pq, ku))
	}
	files, bytes, rows := testtool.ParquetTotals(t, out)
	eq("parquet output_files_total", get("microbatch_streaming_output_files_total{"+pq+"}"), files)
	eq("parquet output_bytes_total", get("microbatch_streaming_output_bytes_total{"+pq+"}"), bytes)
	eq("parquet output_rows_total", get("microbatch_streaming_output_rows_total{"+pq+"}"), rows)
	eq("parquet rows on disk", float64(rows), int64(wantEvents))
	eq("parquet output_records_total", get("microbatch_streaming_output_records_total{"+pq+"}"), int64(wantEvents))
	eq("kudu output_rows_total", get("microbatch_streaming_output_rows_total{"+ku+"}"), int64(len(in.kudu)))

	rejected := func(op string) (n float64) {
		prefix := "microbatch_streaming_output_records_rejected_total{" + op + ",reason="
		for k, v := range m {
			if strings.HasPrefix(k, prefix) {
				n += v
			}
		}
		return n
	}
	eq("kudu rows rejected", rejected(ku), 1) // the row too large for a cell
	eq("parquet rows rejected", rejected(pq), int64(parquetRejected))

	letters := readDeadLetters(t, dead)
	var sum float64
	for _, k := range deadKinds {
		sum += get("iot_manager_dead_letters_total{reason=" + k + "}")
	}
	eq("dead letters counted", sum, int64(len(letters)))
	eq("dead letters oversized", get("iot_manager_dead_letters_total{reason=oversized}"), int64(oversized))
	eq("dead letters not_an_event", get("iot_manager_dead_letters_total{reason=not_an_event}"), int64(len(in.bad)-oversized))
	eq("dead letters not_a_kudu_row", get("iot_manager_dead_letters_total{reason=not_a_kudu_row}"), int64(len(in.kuduDead)))
	eq("dead letters kudu_rejected", get("iot_manager_dead_letters_total{reason=kudu_rejected}"), 1)
	eq("dead letters parquet_rejected", get("iot_manager_dead_letters_total{reason=parquet_rejected}"), int64(parquetRejected))
	return problems
}
