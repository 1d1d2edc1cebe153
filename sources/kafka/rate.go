package kafka

import "math"

// Rate limits: MaxRatePerPartition, MinRatePerPartition and the
// backpressure rate.

// limits returns the most records each partition may add to the batch
// (Spark's maxMessagesPerPartition): with a backpressure rate, that rate
// split across the partitions in proportion to their lag and capped by
// MaxRatePerPartition; otherwise MaxRatePerPartition. Each is the rate
// times the batch interval, and at least MinRatePerPartition's. No entry
// means no limit.
func (d *DirectStream) limits(tps []TopicPartition, ends map[TopicPartition]int64) map[TopicPartition]int64 {
	rates := map[TopicPartition]float64{}
	if rate := d.rateLimit(); rate > 0 {
		lags := map[TopicPartition]int64{}
		var total int64
		d.mu.Lock()
		for _, tp := range tps {
			if ps, end := d.parts[tp], ends[tp]; ps != nil && end > ps.next {
				lags[tp] = end - ps.next
				total += end - ps.next
			}
		}
		d.mu.Unlock()
		for _, tp := range tps {
			r := 0.0
			if total > 0 {
				r = float64(lags[tp]) / float64(total) * rate
			}
			if d.cfg.maxRate > 0 {
				r = min(r, d.cfg.maxRate)
			}
			rates[tp] = r
		}
	} else if d.cfg.maxRate > 0 {
		for _, tp := range tps {
			rates[tp] = d.cfg.maxRate
		}
	}
	var sum float64
	for _, r := range rates {
		sum += r
	}
	if sum <= 0 {
		return nil
	}
	out := make(map[TopicPartition]int64, len(rates))
	for tp, r := range rates {
		out[tp] = max(int64(r*d.period.Seconds()), d.cfg.minRate)
	}
	return out
}

// SetRateLimit implements dstream.RateControlled: the backpressure
// estimate (WithBackpressure), in records per second for the whole
// stream, which Generate splits across the partitions by lag.
func (d *DirectStream) SetRateLimit(recordsPerSecond float64) {
	d.rate.Store(math.Float64bits(recordsPerSecond))
}

func (d *DirectStream) rateLimit() float64 { return math.Float64frombits(d.rate.Load()) }
