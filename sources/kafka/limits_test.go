package kafka

import (
	"maps"
	"testing"
	"time"
)

// TestLimits pins Spark's maxMessagesPerPartition: a backpressure rate is
// split across partitions by lag and capped by maxRatePerPartition; each
// limit is rate × batch seconds, at least minRatePerPartition.
func TestLimits(t *testing.T) {
	a, b, c := TopicPartition{"t", 0}, TopicPartition{"t", 1}, TopicPartition{"t", 2}
	next := map[TopicPartition]int64{a: 0, b: 100, c: 50}
	ends := map[TopicPartition]int64{a: 300, b: 200, c: 50} // lags 300, 100, 0
	for _, tc := range []struct {
		name    string
		period  time.Duration
		backp   float64
		maxRate float64
		minRate int64
		want    map[TopicPartition]int64 // nil: no limit
	}{
		{"no limits", time.Second, 0, 0, 1, nil},
		{"max rate only", 2 * time.Second, 0, 10, 1, map[TopicPartition]int64{a: 20, b: 20, c: 20}},
		{"backpressure split by lag", time.Second, 400, 0, 1, map[TopicPartition]int64{a: 300, b: 100, c: 1}},
		{"backpressure capped per partition", time.Second, 400, 150, 1, map[TopicPartition]int64{a: 150, b: 100, c: 1}},
		{"half-second batches", 500 * time.Millisecond, 400, 0, 1, map[TopicPartition]int64{a: 150, b: 50, c: 1}},
		{"minimum per partition", time.Second, 4, 0, 5, map[TopicPartition]int64{a: 5, b: 5, c: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &DirectStream{period: tc.period, parts: map[TopicPartition]*partState{}}
			d.cfg = defaultConfig()
			d.cfg.maxRate, d.cfg.minRate = tc.maxRate, tc.minRate
			for tp, n := range next {
				d.parts[tp] = &partState{next: n, owned: true}
			}
			d.SetRateLimit(tc.backp)
			got := d.limits([]TopicPartition{a, b, c}, ends)
			if !maps.Equal(got, tc.want) {
				t.Errorf("limits = %v, want %v", got, tc.want)
			}
		})
	}
}
