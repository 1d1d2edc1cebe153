package dstream

import (
	"context"
	"fmt"
	"time"
)

// Scaling out: the contract between a replayable, partitioned input (the
// Kafka direct stream) and an output that records in its own store how
// far it has durably written each input partition (the Parquet sink with
// rotation). With several copies of a job in one consumer group, a
// partition's next owner starts where the output's store says, not where
// a checkpoint or the group's commit says: the store is the truth,
// whichever copy wrote it.

// SourceRange is a range of offsets of one partition of a replayable
// input: what one batch partition read from a Kafka topic partition.
type SourceRange struct {
	Input     string // the input's name for the partitioned log, e.g. the Kafka topic
	Partition int32  // the partition of the log
	From      int64  // the first offset, inclusive
	Until     int64  // the offset after the last, exclusive
}

// SourceRange implements SourceRanger, so that an input can put
// SourceRanges in its InputBatch.Sources directly.
func (r SourceRange) SourceRange() SourceRange { return r }

// String formats the range as "input-partition [from, until)".
func (r SourceRange) String() string {
	return fmt.Sprintf("%s-%d [%d, %d)", r.Input, r.Partition, r.From, r.Until)
}

// A SourceRanger is a Lineage.Source that is a range of a replayable
// input; the Kafka direct stream's kafka.OffsetRange is one.
type SourceRanger interface {
	SourceRange() SourceRange
}

// SourceRangeOf returns the source range of a partition whose records
// came from exactly one range of a replayable input, and false when the
// partition has no lineage, several (after a union of partitions) or a
// source that is not a SourceRanger.
func SourceRangeOf[T any](p *Partition[T]) (SourceRange, bool) {
	if len(p.Lineage) != 1 {
		return SourceRange{}, false
	}
	sr, ok := p.Lineage[0].Source.(SourceRanger)
	if !ok {
		return SourceRange{}, false
	}
	return sr.SourceRange(), true
}

// A PositionStore is an output that records, in its own store, the next
// offset to read of every input partition it has written: an input that
// is given one (kafka.ResumeFrom) asks it where a partition starts when
// the partition is assigned, and tells it when the partition is taken
// away. Its methods are called concurrently with batches and with each
// other, for different partitions.
type PositionStore interface {
	// Resume readies the store for the input partition, which this job
	// now owns, and returns the next offset to read: what an earlier
	// owner (this process, a copy of it or an earlier run) left half
	// done is finished or discarded first. ok is false when the store has
	// no record of the partition; the input then starts as it would
	// without a store.
	Resume(ctx context.Context, input string, partition int32) (next int64, ok bool, err error)
	// Release tells the store the input partition is no longer this
	// job's, after the batches that read it have completed. With commit
	// true (a rebalance took it away in order), the store may make
	// durable what it holds of the partition; with commit false (the
	// partition was lost: the group fenced this member) it must discard
	// it, since another member may be writing it already.
	Release(ctx context.Context, input string, partition int32, commit bool) error
}

// A BatchCompleter is an Output that keeps what a batch wrote open after
// its Commit, to make it durable later (files that roll over many
// batches): once every output operation of a batch has run, and its
// state was saved, the engine calls BatchCompleted with the batch's error,
// nil when the whole batch succeeded. An output that made a batch durable
// in Commit cannot take it back when a later output of the same batch
// fails; a BatchCompleter can. An error returned fails the batch (when
// it had not failed yet), and later BatchCompleters of the batch are
// called with it.
type BatchCompleter interface {
	BatchCompleted(ctx context.Context, t time.Time, err error) error
}
