package dstream

import (
	"fmt"
	"reflect"
)

// Partitioner decides which output partition of a keyed operator each key
// goes to, like Spark's Partitioner: NumPartitions partitions, and
// Partition(key) in [0, NumPartitions()). Give one to an operator with
// PartitionBy (StateSpec.Partitioner for MapWithState) to place keys by
// range, by tenant, or to keep hot keys apart; by default keys are hashed.
//
// NumPartitions is read once, when the operator is built. Partition is
// called from several goroutines at once and must be deterministic: the
// same key always in the same partition, since windows and state find a
// key's earlier values by its partition, in every batch and after a
// restart. A key placed outside [0, NumPartitions()) fails the batch with
// ErrPartitionOutOfRange.
type Partitioner[K any] interface {
	NumPartitions() int
	Partition(key K) int
}

// PartitionBy places the keys of a keyed operator with p instead of
// hashing them into Partitions(n) partitions: ReduceByKey, CombineByKey,
// GroupByKey, CountByValue, Cogroup and the joins, UpdateStateByKey, and
// the windowed ones (ReduceByKeyAndWindow, GroupByKeyAndWindow,
// CountByValueAndWindow). p's key type must be the operator's, and it
// cannot be combined with Partitions; otherwise the operator carries a
// *BuildError (ErrInvalidOption), as it does when p.NumPartitions() is
// below 1.
func PartitionBy[K any](p Partitioner[K]) OpOption {
	return opOptionFunc(func(c *opConfig) {
		if p == nil {
			c.errs = append(c.errs, fmt.Errorf("%w: nil Partitioner", ErrInvalidOption))
			return
		}
		c.partitioner = p
	})
}

// keyPartitioner returns the partitioner that cfg asks for: PartitionBy's,
// or hashing into cfg.partitions partitions. c must not be nil.
func keyPartitioner[K comparable](c *Context, cfg opConfig) (partitioner[K], error) {
	if cfg.partitioner == nil {
		return newPartitioner[K](c, cfg.partitions), nil
	}
	p, ok := cfg.partitioner.(Partitioner[K])
	if !ok {
		return partitioner[K]{}, fmt.Errorf("%w: PartitionBy got a %T, which does not partition keys of type %v", ErrInvalidOption, cfg.partitioner, reflect.TypeFor[K]())
	}
	return customPartitioner(p)
}

// customPartitioner wraps a user's Partitioner, reading its partition
// count.
func customPartitioner[K comparable](p Partitioner[K]) (partitioner[K], error) {
	var n int
	if err := safely(func() error { n = p.NumPartitions(); return nil }); err != nil {
		return partitioner[K]{}, fmt.Errorf("%w: Partitioner %T: NumPartitions: %w", ErrInvalidOption, p, err)
	}
	if n < 1 {
		return partitioner[K]{}, fmt.Errorf("%w: Partitioner %T has %d partitions; it needs at least 1", ErrInvalidOption, p, n)
	}
	return partitioner[K]{n: n, custom: p}, nil
}

// index returns the partition of k by either kind of partitioner; a
// custom partitioner's index out of range is an error.
func (p partitioner[K]) index(k K) (int, error) {
	if p.custom == nil {
		return p.of(k), nil
	}
	j := p.custom.Partition(k)
	if j < 0 || j >= p.n {
		return 0, p.outOfRange(k, j)
	}
	return j, nil
}

func (p partitioner[K]) outOfRange(k K, j int) error {
	return fmt.Errorf("%w: %T put key %v in partition %d, outside [0, %d)", ErrPartitionOutOfRange, p.custom, k, j, p.n)
}
