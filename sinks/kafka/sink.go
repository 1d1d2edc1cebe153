package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Write registers an output operation that produces every element of each
// batch of s as a Kafka record to topic (or to the topic TopicFunc
// chooses), and waits until Kafka has acknowledged all of them (acks=all)
// before the batch completes. The first record that cannot be encoded or
// is not acknowledged fails the batch with a *RecordError, which stops
// the context; a Kafka source then does not commit the batch's offsets,
// so a restarted job writes it again (at-least-once), unless the sink is
// Transactional.
//
// Elements of type []byte, string, kafka.Record and dstream.Pair with a
// key and a value each of type string or []byte have a default encoding:
// the bytes are the value, or the pair's key and value are the record's;
// a kafka.Record gives its key, value, headers and timestamp (not its
// topic or partition). Key, Value and Headers replace parts of it. Other
// element types need Value.
//
// The records of one batch partition are produced in order, partitions
// concurrently (at most the context's parallelism at once), so the
// records of one partition keep their order in each Kafka partition they
// go to. Brokers is required.
//
// A record too large for the client (ProducerBatchMaxBytes) fails alone;
// the broker refuses a whole record batch over the topic's
// max.message.bytes, and franz-go then fails every record it holds for
// that Kafka partition, most of which may be fine. The sink produces the
// records that failed so again, in halves, halving those that fail
// again, until the records too large alone are known: those go to the
// DeadLetter function, or fail the batch with an error naming their size
// and the limits; the others are written, after the records of their
// batch that did not fail, so their order is not kept. A refused record
// was not written, so with the idempotent producer (the default) every
// record is written once; with Transactional the records produced again
// are in the batch's transaction and a dead-lettered record is not, and
// the rest commits. A client whose ProducerBatchMaxBytes is above the
// topic's max.message.bytes makes record batches that the broker refuses
// whole: keep it below (ClientOptions), or every such batch is produced
// again this way.
//
// Write returns the stream's build error, or a *dstream.BuildError
// wrapping dstream.ErrInvalidOption for invalid options. The franz-go
// client is created at the first batch and closed when the context stops.
func Write[T any](s *dstream.Stream[T], topic string, opts ...Option) error {
	if err := s.Err(); err != nil {
		return err
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&cfg); err != nil {
			return invalid(err)
		}
	}
	w, err := newWriter[T](s.Context(), topic, &cfg)
	if err != nil {
		return invalid(err)
	}
	if err := s.ForEachBatch(w.write); err != nil {
		return err
	}
	s.Context().AddListener(w)
	return nil
}

func invalid(err error) error {
	return &dstream.BuildError{Op: "kafkasink.Write", Err: fmt.Errorf("%w: kafkasink: %w", dstream.ErrInvalidOption, err)}
}

// RecordError reports an element of a batch that was not written: it
// could not be encoded (Op "encode"), or Kafka did not acknowledge its
// record (Op "produce").
type RecordError struct {
	Partition int    // the batch partition holding the element
	Index     int    // the element's position in that partition, from 0
	Op        string // "encode" or "produce"
	Topic     string // the record's topic, when known
	Err       error  // the cause
}

func (e *RecordError) Error() string {
	if e.Op == "produce" {
		return fmt.Sprintf("kafkasink: element %d of partition %d: producing to %s: %v", e.Index, e.Partition, e.Topic, e.Err)
	}
	return fmt.Sprintf("kafkasink: element %d of partition %d: %s: %v", e.Index, e.Partition, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// before orders errors by position in the batch.
func (e *RecordError) before(o *RecordError) bool {
	if e.Partition != o.Partition {
		return e.Partition < o.Partition
	}
	return e.Index < o.Index
}

// errNoTopic is the encoding error of an element with no topic.
var errNoTopic = errors.New("no topic: TopicFunc returned \"\" and Write has no topic")

// writer is one Write's output operation.
type writer[T any] struct {
	cfg         *config
	enc         encoder[T]
	deadLetter  func(T, error)
	log         *slog.Logger
	parallelism int
	txn         *txnState // nil unless Transactional

	mu     sync.Mutex
	cl     *kgo.Client
	closed bool // the context has stopped
}

func newWriter[T any](c *dstream.Context, topic string, cfg *config) (*writer[T], error) {
	if len(cfg.brokers) == 0 {
		return nil, errors.New("no brokers: use Brokers")
	}
	if cfg.txn && cfg.noIdempotence {
		return nil, errors.New("Transactional needs the idempotent producer: drop DisableIdempotence")
	}
	enc, err := newEncoder[T](topic, cfg)
	if err != nil {
		return nil, err
	}
	dl, err := typed[func(T, error)]("DeadLetter", cfg.deadLetter)
	if err != nil {
		return nil, err
	}
	w := &writer[T]{
		cfg:         cfg,
		enc:         enc,
		deadLetter:  dl,
		log:         c.Logger().With("sink", "kafka", "topic", topic),
		parallelism: max(c.Parallelism(), 1),
	}
	if cfg.txn {
		w.txn = newTxnState(cfg.txnID, cfg.source)
	}
	return w, nil
}

// write is the output operation: it writes one batch.
func (w *writer[T]) write(ctx context.Context, b *dstream.Batch[T]) error {
	if w.txn != nil {
		return w.writeTxn(ctx, b)
	}
	if b.Len() == 0 {
		return nil
	}
	cl, err := w.client(ctx)
	if err != nil {
		return err
	}
	_, err = w.produce(ctx, cl, b)
	return err
}

// OnStreamingStopped implements dstream.StreamingStoppedListener: it
// closes the client once the context has stopped, when no batch runs.
func (w *writer[T]) OnStreamingStopped(error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.cl != nil {
		w.cl.Close()
		w.cl = nil
	}
}

// client returns the writer's client, creating it (and, for transactions,
// its producer ID, which fences older producers with the same
// transactional ID and aborts what they left open) at the first batch.
func (w *writer[T]) client(ctx context.Context) (*kgo.Client, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, dstream.ErrContextStopped
	}
	if w.cl != nil {
		return w.cl, nil
	}
	cl, err := w.newClient()
	if err != nil {
		return nil, fmt.Errorf("kafkasink: %w", err)
	}
	if w.txn != nil {
		if _, _, err := cl.ProducerID(ctx); err != nil {
			cl.Close()
			return nil, fmt.Errorf("kafkasink: initializing the transactional producer %q: %w", w.cfg.txnID, err)
		}
	}
	w.cl = cl
	return cl, nil
}

// discard drops a client whose transaction state is unknown after an
// error; the next batch creates a new one, whose producer ID fences it.
func (w *writer[T]) discard(cl *kgo.Client) {
	w.mu.Lock()
	if w.cl == cl {
		w.cl = nil
	}
	w.mu.Unlock()
	cl.Close()
}

// abandon forgets the client without closing it (a test hook).
func (w *writer[T]) abandon(cl *kgo.Client) {
	w.mu.Lock()
	if w.cl == cl {
		w.cl = nil
	}
	w.mu.Unlock()
}

func (w *writer[T]) newClient() (*kgo.Client, error) {
	cfg := w.cfg
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.WithLogger(kgoLogger{w.log}),
	}
	if cfg.partitioner != nil {
		opts = append(opts, kgo.RecordPartitioner(cfg.partitioner))
	}
	if cfg.noIdempotence {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if cfg.txn {
		opts = append(opts, kgo.MaxVersions(capTxnVersions(kversion.Stable())))
	}
	opts = append(opts, cfg.clientOpts...)
	opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	if cfg.txn {
		opts = append(opts, kgo.TransactionalID(cfg.txnID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil || !cfg.txn {
		return cl, err
	}
	// ClientOptions may have set MaxVersions of their own: cap those.
	if vs, ok := cl.OptValue(kgo.MaxVersions).(*kversion.Versions); ok && vs != nil && !txnVersionsCapped(vs) {
		cl.Close()
		return kgo.NewClient(append(opts, kgo.MaxVersions(capTxnVersions(vs)))...)
	}
	return cl, nil
}

// maxTxnVersion is the highest version of EndTxn and TxnOffsetCommit the
// transactional client uses: the versions before KIP-890 part 2. With
// them franz-go runs transactions as Kafka did before 4.0, which lets the
// sink add a group's offsets to a transaction of a client that is not a
// member of that group (see txnState).
const maxTxnVersion = 4

// capTxnVersions returns a copy of vs with EndTxn and TxnOffsetCommit
// capped at maxTxnVersion.
func capTxnVersions(vs *kversion.Versions) *kversion.Versions {
	out := new(kversion.Versions)
	vs.EachMaxKeyVersion(out.SetMaxKeyVersion)
	for _, k := range []kmsg.Key{kmsg.EndTxn, kmsg.TxnOffsetCommit} {
		if v, ok := out.LookupMaxKeyVersion(int16(k)); !ok || v > maxTxnVersion {
			out.SetMaxKeyVersion(int16(k), maxTxnVersion)
		}
	}
	return out
}

func txnVersionsCapped(vs *kversion.Versions) bool {
	for _, k := range []kmsg.Key{kmsg.EndTxn, kmsg.TxnOffsetCommit} {
		if v, ok := vs.LookupMaxKeyVersion(int16(k)); !ok || v > maxTxnVersion {
			return false
		}
	}
	return true
}

// produce produces every element of b and waits for all of them to be
// acknowledged. Records that fail as too large are produced again (see
// retryTooLarge). It returns how many were acknowledged, and the error of
// the first element (by position) that failed.
func (w *writer[T]) produce(ctx context.Context, cl *kgo.Client, b *dstream.Batch[T]) (int64, error) {
	var (
		acked   atomic.Int64
		failed  atomic.Bool
		mu      sync.Mutex
		first   *RecordError
		large   []tooLarge[T]  // records that failed as too large
		pending sync.WaitGroup // records produced, until their promise runs
		workers sync.WaitGroup
	)
	fail := func(e *RecordError) {
		failed.Store(true)
		mu.Lock()
		if first == nil || e.before(first) {
			first = e
		}
		mu.Unlock()
	}
	// The delivery timeout is the batch's, not franz-go's per record
	// (kgo.RecordDeliveryTimeout), which counts from the record's
	// timestamp and so fails at once records that keep an old one, such
	// as a kafka.Record's.
	pctx, cancel := context.WithTimeout(ctx, w.cfg.deliveryTimeout)
	defer cancel()
	sem := make(chan struct{}, w.parallelism)
	for p, part := range b.Partitions {
		if len(part) == 0 {
			continue
		}
		sem <- struct{}{}
		workers.Add(1)
		go func() {
			defer workers.Done()
			defer func() { <-sem }()
			i := 0
			defer func() {
				if r := recover(); r != nil {
					fail(&RecordError{Partition: p, Index: i, Op: "encode", Err: fmt.Errorf("panic: %v", r)})
				}
			}()
			for ; i < len(part); i++ {
				if failed.Load() {
					return
				}
				x := part[i]
				rec, err := w.enc.record(x)
				if err != nil {
					re := &RecordError{Partition: p, Index: i, Op: "encode", Err: err}
					if w.deadLetter != nil {
						w.deadLetter(x, re)
						continue
					}
					fail(re)
					return
				}
				pending.Add(1)
				idx := i
				cl.Produce(pctx, rec, func(r *kgo.Record, err error) {
					defer pending.Done()
					switch {
					case err == nil:
						acked.Add(1)
					case isTooLarge(err):
						mu.Lock()
						large = append(large, tooLarge[T]{part: p, index: idx, elem: x, rec: r, err: err})
						mu.Unlock()
					default:
						fail(&RecordError{Partition: p, Index: idx, Op: "produce", Topic: r.Topic, Err: err})
					}
				})
			}
		}()
	}
	workers.Wait()
	// With the idempotent producer, franz-go answers the promise of a
	// record in flight only once the broker has (it must know which
	// sequence numbers the broker saw), whatever ctx says; a hard stop
	// does not wait for that: the records are left to the client.
	acks := make(chan struct{})
	go func() {
		pending.Wait()
		close(acks)
	}()
	select {
	case <-acks:
	case <-pctx.Done():
		if ctx.Err() != nil {
			return acked.Load(), fmt.Errorf("kafkasink: waiting for acknowledgements: %w", ctx.Err())
		}
		return acked.Load(), fmt.Errorf("kafkasink: records not acknowledged within the delivery timeout (%v): %w", w.cfg.deliveryTimeout, pctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if first == nil && len(large) > 0 {
		n, err := w.retryTooLarge(pctx, cl, large)
		acked.Add(n)
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				return acked.Load(), err
			}
			first = re
		}
	}
	if first == nil {
		return acked.Load(), nil
	}
	if ctx.Err() == nil && errors.Is(first.Err, context.DeadlineExceeded) {
		first.Err = fmt.Errorf("not acknowledged within the delivery timeout (%v): %w", w.cfg.deliveryTimeout, first.Err)
	}
	return acked.Load(), first
}

// encoder turns elements into records.
type encoder[T any] struct {
	topic   string
	base    func(T, *kgo.Record) // the default encoding of T, if any
	topicFn func(T) string
	key     func(T) []byte
	value   func(T) ([]byte, error)
	headers func(T) []kgo.RecordHeader
}

func newEncoder[T any](topic string, cfg *config) (encoder[T], error) {
	e := encoder[T]{topic: topic, base: defaultEncoding[T]()}
	var err error
	if e.topicFn, err = typed[func(T) string]("TopicFunc", cfg.topicFn); err != nil {
		return e, err
	}
	if e.key, err = typed[func(T) []byte]("Key", cfg.key); err != nil {
		return e, err
	}
	if e.value, err = typed[func(T) ([]byte, error)]("Value", cfg.value); err != nil {
		return e, err
	}
	if e.headers, err = typed[func(T) []kgo.RecordHeader]("Headers", cfg.headers); err != nil {
		return e, err
	}
	if e.base == nil && e.value == nil {
		var zero T
		return e, fmt.Errorf("elements of type %T have no default encoding: use Value", zero)
	}
	if topic == "" && e.topicFn == nil {
		return e, errors.New("no topic: give Write a topic, or use TopicFunc")
	}
	return e, nil
}

// record returns the record of x.
func (e *encoder[T]) record(x T) (*kgo.Record, error) {
	r := &kgo.Record{Topic: e.topic}
	if e.base != nil {
		e.base(x, r)
	}
	if e.topicFn != nil {
		if t := e.topicFn(x); t != "" {
			r.Topic = t
		}
	}
	if r.Topic == "" {
		return nil, errNoTopic
	}
	if e.key != nil {
		r.Key = e.key(x)
	}
	if e.headers != nil {
		r.Headers = e.headers(x)
	}
	if e.value != nil {
		v, err := e.value(x)
		if err != nil {
			return nil, err
		}
		r.Value = v
	}
	return r, nil
}

// defaultEncoding returns how elements of type T fill a record when they
// have a natural encoding, and nil otherwise.
func defaultEncoding[T any]() func(T, *kgo.Record) {
	var f any
	switch any(*new(T)).(type) {
	case []byte:
		f = func(x []byte, r *kgo.Record) { r.Value = x }
	case string:
		f = func(x string, r *kgo.Record) { r.Value = []byte(x) }
	case kafka.Record:
		f = func(x kafka.Record, r *kgo.Record) {
			r.Key, r.Value, r.Timestamp = x.Key, x.Value, x.Timestamp
			for _, h := range x.Headers {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
		}
	case dstream.Pair[[]byte, []byte]:
		f = func(x dstream.Pair[[]byte, []byte], r *kgo.Record) { r.Key, r.Value = x.Key, x.Value }
	case dstream.Pair[string, string]:
		f = func(x dstream.Pair[string, string], r *kgo.Record) { r.Key, r.Value = []byte(x.Key), []byte(x.Value) }
	case dstream.Pair[string, []byte]:
		f = func(x dstream.Pair[string, []byte], r *kgo.Record) { r.Key, r.Value = []byte(x.Key), x.Value }
	case dstream.Pair[[]byte, string]:
		f = func(x dstream.Pair[[]byte, string], r *kgo.Record) { r.Key, r.Value = x.Key, []byte(x.Value) }
	default:
		return nil
	}
	return f.(func(T, *kgo.Record))
}

// kgoLogger sends franz-go's warnings and errors to the context's logger.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	k.l.Log(context.Background(), lv, "kafka client: "+msg, keyvals...)
}

// sortedTPs returns the keys of m in topic, partition order.
func sortedTPs(m map[kafka.TopicPartition]int64) []kafka.TopicPartition {
	out := make([]kafka.TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b kafka.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}
