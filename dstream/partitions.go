package dstream

import "time"

// PartitionsChange is a change in the partitions an input owns when
// copies of a job share them, as the Kafka direct stream does in a
// consumer group: a rebalance assigned some to this copy, revoked some in
// order, or the group fenced this copy and its partitions were lost.
type PartitionsChange struct {
	// Input is the input stream's name, e.g. "kafkaDirectStream#1".
	Input string
	// Event is "assigned", "revoked" or "lost".
	Event string
	// Partitions are the partitions the event moved, e.g. "words-3".
	Partitions []string
	// Owned are all the partitions the input owns after the event.
	Owned []string
	// Restore is, for "assigned", how long the input's position stores
	// (kafka.ResumeFrom: files rolled forward, tables restored) took
	// before the partitions could be read.
	Restore time.Duration
	// Time is when it happened, on the context's clock.
	Time time.Time
}

// PartitionsChangedListener is told when an input's partitions change.
type PartitionsChangedListener interface {
	// OnPartitionsChanged receives the change.
	OnPartitionsChanged(PartitionsChange)
}

// ReportPartitions tells the context's listeners that an input's
// partitions changed; Time is set to now on the context's clock when
// zero. Inputs call it; safe for concurrent use.
func (c *Context) ReportPartitions(ch PartitionsChange) {
	if ch.Time.IsZero() {
		ch.Time = c.cfg.clock.Now()
	}
	c.emit(func(l Listener) {
		if x, ok := l.(PartitionsChangedListener); ok {
			x.OnPartitionsChanged(ch)
		}
	})
}
