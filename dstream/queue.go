package dstream

import (
	"sync"
)

// Queue holds batches for a QueueStream, Spark's queueStream: tests and
// demos push data, and each batch takes from the front.
type Queue[T any] struct {
	mu    sync.Mutex
	items []queued[T]
}

// queued is one pushed batch: either partitions, or elements to split by
// the context's parallelism when taken.
type queued[T any] struct {
	parts [][]T
	flat  []T
	split bool
}

// NewQueue returns an empty queue.
func NewQueue[T any]() *Queue[T] { return &Queue[T]{} }

// Push appends one batch's worth of elements, to be split evenly into as
// many partitions as the context's parallelism, keeping their order. The
// queue keeps the slice; do not modify it afterwards.
func (q *Queue[T]) Push(items []T) {
	q.mu.Lock()
	q.items = append(q.items, queued[T]{flat: items, split: true})
	q.mu.Unlock()
}

// PushPartitions appends one batch with the given partitions.
func (q *Queue[T]) PushPartitions(parts [][]T) {
	q.mu.Lock()
	q.items = append(q.items, queued[T]{parts: append([][]T{}, parts...)})
	q.mu.Unlock()
}

// Len returns how many batches are queued.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// QueueOption configures a QueueStream.
type QueueOption interface{ applyQueue(*queueConfig) }

type queueConfig struct {
	all   bool
	empty bool
}

type queueOptionFunc func(*queueConfig)

func (f queueOptionFunc) applyQueue(c *queueConfig) { f(c) }

// TakeAll makes every batch take everything queued, unioned, instead of
// one queued item per batch (Spark's oneAtATime = false).
func TakeAll() QueueOption { return queueOptionFunc(func(c *queueConfig) { c.all = true }) }

// EmptyWhenIdle makes the stream produce an empty batch when the queue is
// empty. By default an empty queue gives no batch at all, so output
// operations skip that time (Spark's queueStream with no default RDD).
func EmptyWhenIdle() QueueOption { return queueOptionFunc(func(c *queueConfig) { c.empty = true }) }

// QueueStream returns an input stream fed from q: by default each batch
// takes one queued item (see TakeAll and EmptyWhenIdle). It is the test
// fixture of the engine; a queue stream cannot be recovered from a
// checkpoint, since what was queued is not kept.
func QueueStream[T any](c *Context, q *Queue[T], opts ...QueueOption) *Stream[T] {
	s := newInputStream[T](c, "queueStream")
	if s.n.err != nil {
		return s
	}
	if q == nil {
		s.n.fail(ErrNilStream)
		return s
	}
	var cfg queueConfig
	for _, o := range opts {
		if o != nil {
			o.applyQueue(&cfg)
		}
	}
	in := &queueInput[T]{s: s, q: q, cfg: cfg}
	c.mu.Lock()
	in.id = c.registerInputLocked(s.n, in)
	c.mu.Unlock()
	return s
}

type queueInput[T any] struct {
	s   *Stream[T]
	q   *Queue[T]
	cfg queueConfig
	id  int
}

func (in *queueInput[T]) alwaysGenerate() bool { return false }

func (in *queueInput[T]) generate(t int64) (InputInfo, func(error), bool) {
	q := in.q
	q.mu.Lock()
	var taken []queued[T]
	switch {
	case len(q.items) == 0:
	case in.cfg.all:
		taken, q.items = q.items, nil
	default:
		taken = q.items[:1:1]
		q.items = q.items[1:]
	}
	q.mu.Unlock()
	if len(taken) == 0 && !in.cfg.empty {
		in.s.put(t, nil)
		return InputInfo{}, nil, false
	}
	parallelism := in.s.n.c.cfg.parallelism
	var parts [][]T
	var n int64
	for _, item := range taken {
		ps := item.parts
		if item.split {
			ps = splitEven(item.flat, parallelism)
		}
		for _, p := range ps {
			n += int64(len(p))
		}
		parts = append(parts, ps...)
	}
	in.s.put(t, &Batch[T]{Time: timeOf(t), Partitions: parts})
	return InputInfo{StreamID: in.id, Name: in.s.n.name, NumRecords: n}, nil, true
}

// splitEven cuts items into n contiguous parts of near-equal length.
func splitEven[T any](items []T, n int) [][]T {
	n = min(n, len(items))
	out := make([][]T, n)
	for j := range n {
		out[j] = items[j*len(items)/n : (j+1)*len(items)/n : (j+1)*len(items)/n]
	}
	return out
}
