package kafka

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// Checkpoints (dstream.Recoverable): the stream's position, and batches
// rebuilt from their saved offset ranges after a restart.

// position is the checkpointed form of where the stream is.
type position struct {
	Next map[string]map[int32]int64 `json:"next"` // topic -> partition -> next offset
}

// SavePosition implements dstream.Recoverable: the offset where every
// partition's next batch starts.
func (d *DirectStream) SavePosition() ([]byte, error) {
	p := position{Next: map[string]map[int32]int64{}}
	d.mu.Lock()
	// Partitions taken away by a rebalance keep their position too: if
	// they come back after a restart, they resume there (or at the
	// group's commit, if another member has read further).
	for tp, ps := range d.parts {
		if p.Next[tp.Topic] == nil {
			p.Next[tp.Topic] = map[int32]int64{}
		}
		p.Next[tp.Topic][tp.Partition] = ps.next
	}
	// Partitions restored but not assigned yet keep their position.
	for tp, o := range d.restored {
		if _, ok := d.parts[tp]; !ok {
			if p.Next[tp.Topic] == nil {
				p.Next[tp.Topic] = map[int32]int64{}
			}
			p.Next[tp.Topic][tp.Partition] = o
		}
	}
	d.mu.Unlock()
	return json.Marshal(p)
}

// RestorePosition implements dstream.Recoverable: partitions start at the
// checkpoint's offsets, whatever StartingOffsets or an older group commit
// say, so that no batch is read twice or skipped. A group commit further
// on wins: another copy of the job in the group has read on.
func (d *DirectStream) RestorePosition(data []byte) error {
	var p position
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("kafka: the checkpoint's position: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restored = map[TopicPartition]int64{}
	for topic, ps := range p.Next {
		for part, o := range ps {
			d.restored[TopicPartition{topic, part}] = o
		}
	}
	return nil
}

// Rebuild implements dstream.Recoverable: the batch at t with the offset
// ranges its Descriptor lists, read again from Kafka.
func (d *DirectStream) Rebuild(t time.Time, desc []byte) (*dstream.InputBatch[Record], error) {
	var ranges []OffsetRange
	if err := json.Unmarshal(desc, &ranges); err != nil {
		return nil, fmt.Errorf("kafka: the checkpoint's batch: %w", err)
	}
	if len(d.cfg.stores) > 0 {
		// The stores say where each partition starts (ResumeFrom): the
		// batch is not read again, its records are read from there.
		ranges = nil
	}
	return d.batchOf(t, ranges)
}
