package dstreamtest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// input serves fixed per-batch slices: the batch at time t, batch i
// (from 0) of a run whose clock starts at the Unix epoch, holds
// batches[i], or nothing past the end. It is Recoverable: a batch is
// described by its index, so a context restarted from a checkpoint
// rebuilds exactly the batches of the first, which a queue stream cannot.
type input[T any] struct {
	batches  [][]T
	parts    int
	interval time.Duration
	next     int // the index of the next batch Generate gives, for SavePosition
}

func newInput[T any](batches [][]T, parts int, interval time.Duration) *input[T] {
	return &input[T]{batches: batches, parts: parts, interval: interval}
}

func (in *input[T]) Start(context.Context) error { return nil }

func (in *input[T]) Stop() {}

func (in *input[T]) Generate(_ context.Context, t time.Time) (*dstream.InputBatch[T], error) {
	i, err := in.index(t)
	if err != nil {
		return nil, err
	}
	in.next = i + 1
	return in.batch(i), nil
}

// index returns the batch index of time t.
func (in *input[T]) index(t time.Time) (int, error) {
	d := t.Sub(time.UnixMilli(0))
	if d <= 0 || d%in.interval != 0 {
		return 0, fmt.Errorf("dstreamtest: batch time %d ms is not a positive multiple of the interval %v", t.UnixMilli(), in.interval)
	}
	return int(d/in.interval) - 1, nil
}

// batch returns batch i, split evenly into in.parts partitions.
func (in *input[T]) batch(i int) *dstream.InputBatch[T] {
	var data []T
	if i < len(in.batches) {
		data = in.batches[i]
	}
	n := in.parts
	return &dstream.InputBatch[T]{
		Partitions: n,
		Records:    int64(len(data)),
		Descriptor: []byte(strconv.Itoa(i)),
		Read: func(_ context.Context, p int) ([]T, error) {
			// A copy: the engine owns what Read returns, and the
			// inputs are the test's.
			part := data[p*len(data)/n : (p+1)*len(data)/n]
			return append([]T(nil), part...), nil
		},
	}
}

func (in *input[T]) SavePosition() ([]byte, error) { return []byte(strconv.Itoa(in.next)), nil }

func (in *input[T]) RestorePosition(pos []byte) error {
	next, err := strconv.Atoi(string(pos))
	if err != nil || next < 0 {
		return fmt.Errorf("dstreamtest: bad input position %q", pos)
	}
	in.next = next
	return nil
}

func (in *input[T]) Rebuild(t time.Time, desc []byte) (*dstream.InputBatch[T], error) {
	i, err := strconv.Atoi(string(desc))
	if err != nil {
		return nil, fmt.Errorf("dstreamtest: bad batch description %q", desc)
	}
	if want, err := in.index(t); err != nil || i != want {
		return nil, fmt.Errorf("dstreamtest: the checkpoint describes the batch at %d ms as batch %d, not %d", t.UnixMilli(), i, want)
	}
	return in.batch(i), nil
}
