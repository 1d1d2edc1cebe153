package ui

import (
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric name; the names are listed in doc.go.
const namespace = "microbatch_streaming"

// delayBuckets are the buckets of the delay histograms, in seconds: 1 ms
// to about 65 s, doubling.
var delayBuckets = prometheus.ExponentialBuckets(0.001, 2, 17)

// metrics is the Prometheus side of a Server.
type metrics struct {
	s                     *Server
	reg                   *prometheus.Registry
	sched, proc, total    prometheus.Histogram
	interval, running     *prometheus.Desc
	startTime             *prometheus.Desc
	completed, failed     *prometheus.Desc
	activeBatches         *prometheus.Desc
	records               *prometheus.Desc
	opsDone, opsFailed    *prometheus.Desc
	lastTime, lastRecords *prometheus.Desc
	lastRate, lastSched   *prometheus.Desc
	lastProc, lastTotal   *prometheus.Desc
	receivers, receiverUp *prometheus.Desc
	receiverErrors        *prometheus.Desc
	owned, partEvents     *prometheus.Desc
	opRuns, opRejected    *prometheus.Desc
	outRecords, outRows   *prometheus.Desc
	outBytes, outFiles    *prometheus.Desc
	lag                   *prometheus.Desc
	restore               prometheus.Histogram
	ckptSeconds           *prometheus.HistogramVec
	ckptFailed            *prometheus.CounterVec
	// wrapped registers with the job's label (Server.Registerer).
	wrapped prometheus.Registerer
}

func newMetrics(s *Server) *metrics {
	name := func(n string) string { return prometheus.BuildFQName(namespace, "", n) }
	desc := func(n, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name(n), help, labels, nil)
	}
	hist := func(n, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name(n), Help: help, Buckets: delayBuckets})
	}
	m := &metrics{
		s:              s,
		reg:            prometheus.NewRegistry(),
		sched:          hist("scheduling_delay_seconds", "Scheduling delays of the finished batches: processing start - submission."),
		proc:           hist("processing_time_seconds", "Processing times of the finished batches."),
		total:          hist("total_delay_seconds", "Total delays of the finished batches: scheduling delay + processing time."),
		interval:       desc("batch_interval_seconds", "The batch interval."),
		running:        desc("running", "1 while the streaming context is active, else 0."),
		startTime:      desc("start_time_seconds", "When the streaming context started, in seconds since the Unix epoch."),
		completed:      desc("batches_completed_total", "Finished batches, failed ones included."),
		failed:         desc("batches_failed_total", "Failed batches."),
		activeBatches:  desc("batches_active", "Batches submitted and not finished, by status (queued or processing).", "status"),
		records:        desc("records_processed_total", "Records of the finished batches."),
		opsDone:        desc("output_operations_completed_total", "Finished output operations, failed ones included."),
		opsFailed:      desc("output_operations_failed_total", "Failed output operations."),
		lastTime:       desc("last_batch_time_seconds", "The time of the last finished batch, in seconds since the Unix epoch."),
		lastRecords:    desc("last_batch_records", "Records of the last finished batch."),
		lastRate:       desc("last_batch_input_rate", "Input rate of the last finished batch: records / batch interval, in records per second."),
		lastSched:      desc("last_batch_scheduling_delay_seconds", "Scheduling delay of the last finished batch."),
		lastProc:       desc("last_batch_processing_time_seconds", "Processing time of the last finished batch."),
		lastTotal:      desc("last_batch_total_delay_seconds", "Total delay of the last finished batch."),
		receivers:      desc("receivers", "Receivers by status (active or stopped).", "status"),
		receiverUp:     desc("receiver_up", "1 while the receiver runs, else 0.", "stream_id", "name"),
		receiverErrors: desc("receiver_errors_total", "Errors the receiver reported.", "stream_id", "name"),
		opRuns:         desc("output_operation_runs_total", "Runs of each output operation, by outcome (ok or failed).", "operation", "name", "outcome"),
		opRejected:     desc("output_records_rejected_total", "Records each output operation rejected to the dead letters, by reason (a short word the output's error names, or other).", "operation", "name", "reason"),
		outRecords:     desc("output_records_total", "Records each output operation's sink wrote (not rejected), as the sink counts them.", "operation", "name"),
		outRows:        desc("output_rows_total", "Rows each output operation's sink made visible in its store: rows of committed files, row operations a table applied.", "operation", "name"),
		outBytes:       desc("output_bytes_total", "Bytes each output operation's sink wrote to its store: encoded records, file bytes.", "operation", "name"),
		outFiles:       desc("output_files_total", "Files each output operation's sink made visible (committed).", "operation", "name"),
		lag:            desc("input_lag_records", "Consumer lag: records of the input's source partition past the end of the last batch that knew it, when that batch was cut.", "input", "partition"),
		owned:          desc("partitions_owned", "Partitions the input owns now, among copies of the job in its consumer group.", "input"),
		partEvents:     desc("partition_events_total", "Changes of the input's partitions: assigned, revoked (a rebalance took them in order) or lost (the group fenced this copy).", "input", "event"),
		restore:        hist("partition_restore_seconds", "How long an assignment waited for the input's stores (files rolled forward, tables restored from their changelogs) before its partitions were read."),
		ckptSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name("checkpoint_write_seconds"),
			Help: "Checkpoint writes, by kind (meta after each generated batch, state after a batch completed): how long encoding, writing and removing old files took.", Buckets: delayBuckets}, []string{"kind"}),
		ckptFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name("checkpoint_writes_failed_total"),
			Help: "Checkpoint writes that failed, by kind."}, []string{"kind"}),
	}
	m.wrapped = m.reg
	if s.name != "" {
		m.wrapped = prometheus.WrapRegistererWith(prometheus.Labels{jobLabel: s.name}, m.reg)
	}
	m.wrapped.MustRegister(m, m.sched, m.proc, m.total, m.restore, m.ckptSeconds, m.ckptFailed,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, kind := range []string{"meta", "state"} {
		m.ckptFailed.WithLabelValues(kind) // present at 0 before the first failure
	}
	return m
}

// jobLabel is the label every metric carries with the job's name
// (WithName). It is not "job", which Prometheus sets to the scrape
// configuration's job and would rename ours to exported_job.
const jobLabel = "job_name"

// Registerer returns the registry of the Server's /metrics, wrapped so
// that what is registered there carries the job's label (job_name, with
// WithName), for a job's own metrics next to the engine's: its dead
// letters by reason, its rows per destination.
func (s *Server) Registerer() prometheus.Registerer { return s.metrics.wrapped }

// OnCheckpointWritten implements dstream.CheckpointWrittenListener.
func (s *Server) OnCheckpointWritten(ci dstream.CheckpointInfo) {
	s.metrics.ckptSeconds.WithLabelValues(ci.Kind).Observe(ci.Duration.Seconds())
	if ci.Err != nil {
		s.metrics.ckptFailed.WithLabelValues(ci.Kind).Inc()
	}
}

// handler serves the registry in Prometheus' text (or negotiated) format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{m.s},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.wrapped, // its own error counter, with the job label
	})
}

// promLogger sends promhttp's errors to the Server's logger.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Warn("ui: /metrics", "error", v) }

// observe adds a finished batch to the histograms.
func (m *metrics) observe(b dstream.BatchInfo) {
	m.sched.Observe(b.SchedulingDelay().Seconds())
	m.proc.Observe(b.ProcessingDelay().Seconds())
	m.total.Observe(b.TotalDelay().Seconds())
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.interval, m.running, m.startTime, m.completed, m.failed,
		m.activeBatches, m.records, m.opsDone, m.opsFailed, m.lastTime, m.lastRecords, m.lastRate,
		m.lastSched, m.lastProc, m.lastTotal, m.receivers, m.receiverUp, m.receiverErrors, m.owned, m.partEvents, m.opRuns, m.opRejected,
		m.outRecords, m.outRows, m.outBytes, m.outFiles, m.lag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one consistent view of the
// Server's state.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(m.interval, s.interval.Seconds())
	running := 0.0
	if s.state == stateActive {
		running = 1
	}
	gauge(m.running, running)
	if !s.startTime.IsZero() {
		gauge(m.startTime, float64(s.startTime.UnixNano())/1e9)
	}
	t := s.totals
	counter(m.completed, float64(t.completed))
	counter(m.failed, float64(t.failed))
	queued, processing := 0, 0
	for _, a := range s.active {
		if a.info.ProcessingStartTime.IsZero() {
			queued++
		} else {
			processing++
		}
	}
	gauge(m.activeBatches, float64(queued), statusQueued)
	gauge(m.activeBatches, float64(processing), statusProcessing)
	counter(m.records, float64(t.records))
	counter(m.opsDone, float64(t.opsDone))
	counter(m.opsFailed, float64(t.opsFailed))
	if b := t.last; b != nil {
		n := max(records(*b), 0)
		gauge(m.lastTime, float64(b.BatchTime.UnixNano())/1e9)
		gauge(m.lastRecords, float64(n))
		gauge(m.lastRate, s.inputRate(n))
		gauge(m.lastSched, b.SchedulingDelay().Seconds())
		gauge(m.lastProc, b.ProcessingDelay().Seconds())
		gauge(m.lastTotal, b.TotalDelay().Seconds())
	}
	active, stopped := 0, 0
	for _, r := range s.sortedReceiversLocked() {
		id := strconv.Itoa(r.info.StreamID)
		up := 0.0
		if r.info.Active {
			up = 1
			active++
		} else {
			stopped++
		}
		gauge(m.receiverUp, up, id, r.info.Name)
		counter(m.receiverErrors, float64(r.errors), id, r.info.Name)
	}
	gauge(m.receivers, float64(active), "active")
	gauge(m.receivers, float64(stopped), "stopped")
	for k, st := range s.opStats {
		id := strconv.Itoa(k.id)
		counter(m.opRuns, float64(st.done-st.failed), id, k.name, "ok")
		counter(m.opRuns, float64(st.failed), id, k.name, "failed")
		for _, r := range slices.Sorted(maps.Keys(st.rejectedBy)) {
			counter(m.opRejected, float64(st.rejectedBy[r]), id, k.name, r)
		}
		counter(m.outRecords, float64(st.wrote.Records), id, k.name)
		counter(m.outRows, float64(st.wrote.Rows), id, k.name)
		counter(m.outBytes, float64(st.wrote.Bytes), id, k.name)
		counter(m.outFiles, float64(st.wrote.Files), id, k.name)
	}
	for _, in := range slices.Sorted(maps.Keys(s.lag)) {
		for _, l := range s.lag[in] {
			gauge(m.lag, float64(l.Records), in, l.Partition)
		}
	}
	for _, in := range slices.Sorted(maps.Keys(s.partitions)) {
		p := s.partitions[in]
		gauge(m.owned, float64(len(p.owned)), in)
		for _, ev := range partitionEvents {
			counter(m.partEvents, float64(p.events[ev]), in, ev)
		}
	}
}

// restoreObserve adds an assignment's restore time to its histogram.
func (m *metrics) restoreObserve(ch dstream.PartitionsChange) {
	if ch.Event == "assigned" {
		m.restore.Observe(ch.Restore.Seconds())
	}
}
