package dstream

import (
	"fmt"
	"iter"
	"time"
)

// Pair is a key-value element: the element type of keyed streams, like a
// Scala (K, V) tuple. Operations that group by key (ReduceByKey, joins,
// UpdateStateByKey, ...) require K to be comparable.
type Pair[K, V any] struct {
	Key   K
	Value V
}

// KV returns the Pair (k, v).
func KV[K, V any](k K, v V) Pair[K, V] { return Pair[K, V]{Key: k, Value: v} }

// String formats the pair as Spark prints a tuple: "(key,value)".
func (p Pair[K, V]) String() string { return fmt.Sprintf("(%v,%v)", p.Key, p.Value) }

// Optional is a value that may be absent, like Scala's Option: the
// missing side of an outer join, or the value passed to a MapWithState
// function when a key times out.
type Optional[T any] struct {
	Value T    // the value; the zero value when !Valid
	Valid bool // whether Value is present
}

// Some returns an Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, Valid: true} }

// None returns an empty Optional.
func None[T any]() Optional[T] { return Optional[T]{} }

// Get returns the value and whether it is present.
func (o Optional[T]) Get() (T, bool) { return o.Value, o.Valid }

// String formats the value as Scala does: "Some(v)" or "None".
func (o Optional[T]) String() string {
	if !o.Valid {
		return "None"
	}
	return fmt.Sprintf("Some(%v)", o.Value)
}

// Batch is the data of one stream for one batch time: a list of
// partitions, processed in parallel. Output operations and Transform
// receive batches; a batch handed to user code must not be modified, as it
// may be shared with other operators and kept for windows.
type Batch[T any] struct {
	Time       time.Time // the batch time, a multiple of the slide since the epoch
	Partitions [][]T     // the partitions, in order
}

// Len returns the number of elements in all partitions.
func (b *Batch[T]) Len() int {
	if b == nil {
		return 0
	}
	n := 0
	for _, p := range b.Partitions {
		n += len(p)
	}
	return n
}

// All iterates the elements of every partition in partition order.
func (b *Batch[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		if b == nil {
			return
		}
		for _, p := range b.Partitions {
			for _, x := range p {
				if !yield(x) {
					return
				}
			}
		}
	}
}

// Collect returns all elements in partition order in a new slice.
func (b *Batch[T]) Collect() []T {
	out := make([]T, 0, b.Len())
	if b == nil {
		return out
	}
	for _, p := range b.Partitions {
		out = append(out, p...)
	}
	return out
}
