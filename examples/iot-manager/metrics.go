package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Dead-letter kinds: the reason label of iot_manager_dead_letters_total.
const (
	deadOversized     = "oversized"        // a message over -max-message-bytes
	deadNotAnEvent    = "not_an_event"     // a message that is not one valid Avro Event
	deadNotAKuduRow   = "not_a_kudu_row"   // an event the Kudu path cannot make a row of
	deadKuduRejected  = "kudu_rejected"    // a row the Kudu client or server refused
	deadParquetRefuse = "parquet_rejected" // an event the Parquet sink refused
)

// deadKinds are every dead-letter kind, so that each series exists at 0.
var deadKinds = [...]string{deadOversized, deadNotAnEvent, deadNotAKuduRow, deadKuduRejected, deadParquetRefuse}

// managerMetrics are the manager's own counts on the status page's
// /metrics (with -ui), next to the engine's: what the progress line says,
// as counters.
type managerMetrics struct {
	messages, events, kudu prometheus.Counter
	dead                   *prometheus.CounterVec
}

// newManagerMetrics registers the manager's counters with reg; a nil reg
// (no status page) gives nil metrics, whose add does nothing.
func newManagerMetrics(reg prometheus.Registerer) (*managerMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &managerMetrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{Name: "iot_manager_messages_total",
			Help: "Kafka messages of the batches whose output succeeded: each one an event, a dead letter or both."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "iot_manager_events_total",
			Help: "Events written to Parquet (decoded events less those the Parquet sink refused)."}),
		kudu: prometheus.NewCounter(prometheus.CounterOpts{Name: "iot_manager_kudu_rows_total",
			Help: "Rows written to Kudu."}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "iot_manager_dead_letters_total",
			Help: "Dead letters, by reason: oversized, not_an_event, not_a_kudu_row, kudu_rejected, parquet_rejected."}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.messages, m.events, m.kudu, m.dead} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the manager's metrics: %w", err)
		}
	}
	for _, k := range deadKinds {
		m.dead.WithLabelValues(k)
	}
	return m, nil
}

// add counts one batch's messages, its counts and its dead letters.
func (m *managerMetrics) add(messages int64, c counts, letters []deadLetter) {
	if m == nil {
		return
	}
	m.messages.Add(float64(messages))
	m.events.Add(float64(c.events))
	m.kudu.Add(float64(c.kudu))
	for _, d := range letters {
		m.dead.WithLabelValues(d.kind).Inc()
	}
}
