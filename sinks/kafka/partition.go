package kafkasink

import "github.com/twmb/franz-go/pkg/kgo"

// explicitPartition is the key of a record's Context value that holds the
// partition an Encoder's WithPartition chose for it.
type explicitPartition struct{}

// explicitPartitioner writes a record to the partition its Context names
// (Encoder.WithPartition), and leaves the others to inner.
type explicitPartitioner struct{ inner kgo.Partitioner }

func (p explicitPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &explicitTopicPartitioner{inner: p.inner.ForTopic(topic)}
}

type explicitTopicPartitioner struct{ inner kgo.TopicPartitioner }

// chosen returns the partition r's Context names, if any.
func chosen(r *kgo.Record) (int32, bool) {
	if r.Context == nil {
		return 0, false
	}
	n, ok := r.Context.Value(explicitPartition{}).(int32)
	return n, ok
}

func (t *explicitTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	if _, ok := chosen(r); ok {
		return true
	}
	return t.inner.RequiresConsistency(r)
}

// Partition returns the chosen partition even when it is out of range:
// franz-go then fails the record.
func (t *explicitTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if p, ok := chosen(r); ok {
		return int(p)
	}
	return t.inner.Partition(r, n)
}

// OnNewBatch passes franz-go's new-batch signal on to a sticky inner
// partitioner, which moves its records without key to another partition.
func (t *explicitTopicPartitioner) OnNewBatch() {
	if nb, ok := t.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
