package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkaprobe"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Write registers an output operation that produces every element of each
// batch of s as a Kafka record to topic, with the default encoding of the
// element type, and waits until Kafka has acknowledged all of them
// (acks=all) before the batch completes. It is New with an empty Encoder
// and Stream.WriteTo; WriteEncoded takes an Encoder, for other element
// types or to set keys, headers or topics.
//
// Elements of type []byte, string, kafka.Record and dstream.Pair with a
// key and a value each of type string or []byte have a default encoding:
// the bytes are the value, or the pair's key and value are the record's;
// a kafka.Record gives its key, value, headers and timestamp (not its
// topic or partition). Other element types need WriteEncoded.
//
// The records of one batch partition are produced in order, partitions
// concurrently (as the context's parallelism allows), so the records of
// one partition keep their order in each Kafka partition they go to.
// Brokers is required. A record that Kafka does not acknowledge fails the
// batch with a *RecordError, which stops the context; a Kafka source
// then does not commit the batch's offsets, so a restarted job writes it
// again (at-least-once), unless the sink is Transactional.
//
// A poison record does not stop the job: an element that cannot be
// encoded, and one whose record is too large alone, is rejected to the
// job's dead letters (dstream.Partition.Reject: the WriteSpec's
// DeadLetter, else the context's dead-letter handler, which logs it) with
// a *RecordError saying why, counted in OutputOperationInfo.Rejected, and
// the rest of the batch is written; FailOnPoison makes it fail the batch
// instead.
//
// A record too large for the client (ProducerBatchMaxBytes) fails alone;
// the broker refuses a whole record batch over the topic's
// max.message.bytes, and franz-go then fails every record it holds for
// that Kafka partition, most of which may be fine. The sink produces the
// records that failed so again, in halves, halving those that fail
// again, until the records too large alone are known: those are poison
// records, with an error naming their size and the limits (it wraps
// kerr.MessageTooLarge); the others are written, after the records of
// their batch that did not fail, so their order is not kept. A refused
// record was not written, so with the idempotent producer (the default)
// every record is written once; with Transactional the records produced
// again are in the batch's transaction and a rejected record is not, and
// the rest commits. A client whose ProducerBatchMaxBytes is above the
// topic's max.message.bytes makes record batches that the broker refuses
// whole: keep it below (ClientOptions), or every such batch is produced
// again this way.
//
// Write returns the stream's build error, or a *dstream.BuildError
// wrapping dstream.ErrInvalidOption for invalid options, and for an
// element type without a default encoding. The sink logs to the stream's
// context's logger unless Logger says otherwise.
func Write[T any](s *dstream.Stream[T], topic string, opts ...Option) error {
	return register(s, "kafkasink.Write", topic, Encoder[T]{}, opts)
}

// WriteEncoded is Write with an Encoder, which sets the records' values
// (required unless the element type has a default encoding) and may set
// their keys, headers and topics: an element whose Encoder chooses no
// topic goes to topic, which may then be "". For example:
//
//	err := kafkasink.WriteEncoded(events, "events",
//		kafkasink.Encode(func(e Event) ([]byte, error) { return json.Marshal(e) }).
//			WithKey(func(e Event) []byte { return []byte(e.User) }),
//		kafkasink.Brokers(brokers...))
func WriteEncoded[T any](s *dstream.Stream[T], topic string, enc Encoder[T], opts ...Option) error {
	return register(s, "kafkasink.WriteEncoded", topic, enc, opts)
}

func register[T any](s *dstream.Stream[T], op, topic string, enc Encoder[T], opts []Option) error {
	if err := s.Err(); err != nil {
		return err
	}
	out, err := New(topic, enc, append([]Option{Logger(s.Context().Logger())}, opts...)...)
	if err != nil {
		return &dstream.BuildError{Op: op, Err: err}
	}
	return s.WriteTo(out, dstream.WriteSpec[T]{Name: out.String()})
}

// Sink is the dstream.Output of Write and WriteEncoded, for
// Stream.WriteTo: it produces each batch's records to Kafka.
//
// Open creates the franz-go client, which connects when the first batch
// is written; Begin starts a batch (with Transactional, it makes sure of
// the producer ID, which fences an earlier producer with the same
// transactional ID, and begins the transaction); WritePartition encodes
// the partition's records as they are computed and hands them to the
// client, in order; Commit waits until every record is acknowledged,
// produces again the records refused as too large, and, with
// Transactional, adds the source's offsets and commits the transaction;
// Abort waits for the records in flight (within the delivery timeout, at
// most 30 seconds, and not after a hard stop) and aborts the
// transaction. Close closes the client. A Sink serves one Stream.WriteTo.
type Sink[T any] struct {
	cfg   config
	topic string
	enc   encoder[T]
	log   *slog.Logger
	txn   *txnState // nil unless Transactional

	mu       sync.Mutex
	cl       *kgo.Client
	pidReady bool // with Transactional, cl has its producer ID
	closed   bool

	// What the sink wrote since Open (OutputStats): records acknowledged
	// (committed, with Transactional) and their keys' and values' bytes.
	records, bytes atomic.Int64
}

// New returns a Sink that produces the elements of a stream of T to
// topic, encoded by enc (the zero Encoder is the element type's default
// encoding; see Write), for Stream.WriteTo. Write and WriteEncoded are New
// and WriteTo. It returns an error wrapping dstream.ErrInvalidOption for
// invalid options. Without Logger, the sink logs to slog.Default().
func New[T any](topic string, enc Encoder[T], opts ...Option) (*Sink[T], error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&cfg); err != nil {
			return nil, invalid(err)
		}
	}
	if len(cfg.brokers) == 0 {
		return nil, invalid(errors.New("no brokers: use Brokers"))
	}
	if cfg.txn && cfg.noIdempotence {
		return nil, invalid(errors.New("Transactional needs the idempotent producer: drop DisableIdempotence"))
	}
	e, err := newEncoder(topic, enc)
	if err != nil {
		return nil, invalid(err)
	}
	log := cfg.log
	if log == nil {
		log = slog.Default()
	}
	s := &Sink[T]{cfg: cfg, topic: topic, enc: e, log: log.With("sink", "kafka", "topic", topic)}
	if cfg.txn {
		s.txn = newTxnState(cfg.txnID, cfg.source)
	}
	return s, nil
}

func invalid(err error) error {
	return fmt.Errorf("%w: kafkasink: %w", dstream.ErrInvalidOption, err)
}

// String names the sink in listener events: "kafka <topic>", or "kafka"
// when each record's topic comes from the Encoder alone.
func (s *Sink[T]) String() string {
	if s.topic == "" {
		return "kafka"
	}
	return "kafka " + s.topic
}

// Open creates the franz-go client. It does not connect: the client
// connects to the brokers when the first batch is written (with
// Transactional, at the first Begin, which initializes the producer ID).
// An invalid client option fails it. Brokers that refuse the client's
// TLS or SASL settings fail Start in the start-up check (StartCheck).
func (s *Sink[T]) Open(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl != nil {
		return nil
	}
	cl, err := s.newClient()
	if err != nil {
		return fmt.Errorf("kafkasink: %w", err)
	}
	s.cl, s.pidReady, s.closed = cl, false, false
	s.records.Store(0)
	s.bytes.Store(0)
	return nil
}

// startCheckLimit bounds the sink's start-up check (StartCheck): a broker
// that has not answered by then is left to the first batch.
const startCheckLimit = 5 * time.Second

// StartCheck implements dstream.StartChecker: Stream.WriteTo registers a
// check named "kafka brokers <list>", like the direct stream's, that asks
// the brokers for metadata with the sink's client options and fails Start
// when they refuse the client's security settings: a SASL authentication
// that failed ("SASL authentication failed: invalid credentials
// (mechanism SCRAM-SHA-256)"), a TLS handshake that failed ("TLS:
// certificate signed by unknown authority ..."), brokers expecting TLS or
// SASL that the client does not use. Retrying never fixes those, so the
// job stops at start with that one error, rather than at its first batch
// after the client has retried for the delivery timeout. Brokers that
// cannot be reached, or do not answer within 5 seconds, do not fail the
// check: the sink connects when the first batch is written, as Open
// says.
func (s *Sink[T]) StartCheck() (string, func(ctx context.Context) error) {
	return "kafka brokers " + strings.Join(s.cfg.brokers, ","), s.checkBrokers
}

// checkBrokers is the start-up check (StartCheck).
func (s *Sink[T]) checkBrokers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startCheckLimit)
	defer cancel()
	opts := append([]kgo.Opt{kgo.SeedBrokers(s.cfg.brokers...)}, s.cfg.clientOpts...)
	if _, err := kafkaprobe.Metadata(ctx, opts, nil); kafkaprobe.Refused(err) {
		return err
	}
	return nil
}

// OutputStats implements dstream.StatsReporter: what the sink wrote since
// Open. Records are the records Kafka acknowledged (rejected ones left
// out) and Bytes the bytes of their keys and values (not of their headers,
// nor the encoded record batches); with Transactional, only those of the
// transactions that committed, counted at the commit. Without, the
// records of a batch that failed count too, since they were written; a
// record acknowledged after the sink stopped waiting for it (a hard stop,
// the delivery timeout) is counted when its acknowledgement comes. Rows and
// Files are zero.
func (s *Sink[T]) OutputStats() dstream.OutputStats {
	return dstream.OutputStats{Records: s.records.Load(), Bytes: s.bytes.Load()}
}

// Close closes the client, once the context has stopped and no batch
// runs. Records of a failed batch still buffered fail.
func (s *Sink[T]) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.cl != nil {
		s.cl.Close()
		s.cl = nil
	}
	return nil
}

// Begin starts writing a batch; with Transactional, it begins the
// batch's transaction.
func (s *Sink[T]) Begin(ctx context.Context, ob dstream.OutputBatch) (dstream.BatchWriter[T], error) {
	// With Transactional, the client's producer ID is made sure of even
	// for an empty batch: it fences an earlier producer and aborts what
	// it left open, which the source's group members wait for when the
	// transaction holds offsets (KIP-447 stable offsets).
	cl, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	// The delivery timeout is the batch's, not franz-go's per record
	// (kgo.RecordDeliveryTimeout), which counts from the record's
	// timestamp and so fails at once records that keep an old one, such
	// as a kafka.Record's.
	bctx, cancel := context.WithTimeout(ctx, s.cfg.deliveryTimeout)
	b := &batch[T]{s: s, cl: cl, t: ob.Time, ctx: bctx, cancel: cancel}
	if s.txn != nil {
		b.offsets = s.txn.offsets(ob.Time)
		if err := cl.BeginTransaction(); err != nil {
			cancel()
			s.discard(cl)
			return nil, fmt.Errorf("kafkasink: beginning a transaction: %w", err)
		}
	}
	return b, nil
}

// RecordError reports an element of a batch that was not written: it
// could not be encoded (Op "encode"), or Kafka did not acknowledge its
// record (Op "produce"). It is the reason given to the dead letters, and
// the error of a batch that failed on a record.
type RecordError struct {
	Partition int    // the batch partition holding the element
	Index     int    // the element's position in that partition, from 0
	Op        string // "encode" or "produce"
	Topic     string // the record's topic, when known
	Err       error  // the cause
}

// Error says which element failed, where and why.
func (e *RecordError) Error() string {
	if e.Op == "produce" {
		return fmt.Sprintf("kafkasink: element %d of partition %d: producing to %s: %v", e.Index, e.Partition, e.Topic, e.Err)
	}
	return fmt.Sprintf("kafkasink: element %d of partition %d: %s: %v", e.Index, e.Partition, e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// RejectReason implements dstream.RejectReasoner, naming why an element
// was rejected for metrics: "encode" (Op "encode": the Encoder failed, or
// chose no topic), "too_large" (a record too large alone, wrapping
// kerr.MessageTooLarge) or "produce" (another refusal, which fails the
// batch rather than reject the element).
func (e *RecordError) RejectReason() string {
	switch {
	case e.Op == "encode":
		return "encode"
	case isTooLarge(e.Err):
		return "too_large"
	}
	return "produce"
}

// before orders errors by position in the batch.
func (e *RecordError) before(o *RecordError) bool {
	if e.Partition != o.Partition {
		return e.Partition < o.Partition
	}
	return e.Index < o.Index
}

// batch is the BatchWriter of one batch.
type batch[T any] struct {
	s       *Sink[T]
	cl      *kgo.Client
	t       time.Time
	ctx     context.Context // the records' context: the batch's, with the delivery timeout
	cancel  context.CancelFunc
	offsets map[kafka.TopicPartition]int64 // with Transactional, the source's offsets to commit

	produced atomic.Int64   // records handed to the client
	acked    atomic.Int64   // records acknowledged
	failed   atomic.Bool    // first is set
	pending  sync.WaitGroup // records handed to the client, until their promise runs

	// The key and value bytes of the records handed to the client (added
	// once per partition), of those that failed, and of those
	// acknowledged when produced again after MESSAGE_TOO_LARGE: the
	// acknowledged records' bytes are the first less the second plus the
	// third, once every promise ran.
	producedBytes, failedBytes, retriedBytes atomic.Int64
	settled                                  bool // wait saw every promise run

	mu    sync.Mutex
	first *RecordError  // the first record, by position, that failed the batch
	large []tooLarge[T] // records that failed as too large
}

// WritePartition encodes the partition's records as they are computed
// and hands them to the client, in order. franz-go buffers a bounded
// number of records (kgo.MaxBufferedRecords) and blocks past it, so a
// partition is never held whole. The acknowledgements are waited for in
// Commit.
func (b *batch[T]) WritePartition(ctx context.Context, p *dstream.Partition[T]) error {
	var size int64 // the key and value bytes of the records produced
	defer func() { b.producedBytes.Add(size) }()
	i := 0
	for x := range p.Records() {
		if b.failed.Load() {
			return b.err() // another record failed the batch: stop producing
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		idx := i
		i++
		rec, err := b.s.enc.record(x)
		if err != nil {
			re := &RecordError{Partition: p.Index, Index: idx, Op: "encode", Err: err}
			if b.s.cfg.failOnPoison {
				b.fail(re)
				return re
			}
			p.Reject(x, re)
			continue
		}
		if b.s.enc.part != nil {
			if n := b.s.enc.part(x); n >= 0 {
				rec.Context = context.WithValue(b.ctx, explicitPartition{}, n)
			}
		}
		n := int64(len(rec.Key) + len(rec.Value))
		size += n
		b.pending.Add(1)
		b.produced.Add(1)
		b.cl.Produce(b.ctx, rec, func(r *kgo.Record, err error) {
			defer b.pending.Done()
			if err != nil {
				b.failedBytes.Add(n)
			}
			switch {
			case err == nil:
				b.acked.Add(1)
			case isTooLarge(err):
				b.mu.Lock()
				b.large = append(b.large, tooLarge[T]{p: p, part: p.Index, index: idx, elem: x, rec: r, err: err})
				b.mu.Unlock()
			default:
				b.fail(&RecordError{Partition: p.Index, Index: idx, Op: "produce", Topic: r.Topic, Err: err})
			}
		})
	}
	return nil
}

// fail records e as the batch's error if it is the first by position.
func (b *batch[T]) fail(e *RecordError) {
	b.mu.Lock()
	if b.first == nil || e.before(b.first) {
		b.first = e
	}
	b.mu.Unlock()
	b.failed.Store(true)
}

// err returns the batch's error so far, or nil.
func (b *batch[T]) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first == nil {
		return nil
	}
	return b.first
}

// Commit waits for every record to be acknowledged and produces again
// those refused as too large; with Transactional, it then commits the
// transaction with the source's offsets, or aborts it if that fails.
func (b *batch[T]) Commit(ctx context.Context) error {
	defer b.cancel()
	if b.s.txn != nil {
		return b.commitTxn(ctx)
	}
	err := b.settle(ctx)
	b.count()
	return err
}

// Abort waits for the records in flight, at most until the delivery
// timeout or endTimeout and not after a hard stop, so that the batch's
// records are settled, and aborts the transaction of a Transactional
// sink.
func (b *batch[T]) Abort(ctx context.Context, _ error) {
	defer b.cancel()
	wctx, cancel := context.WithTimeout(b.ctx, endTimeout)
	_ = b.wait(ctx, wctx)
	cancel()
	if b.s.txn != nil {
		b.s.abortTxn(ctx, b.cl, b.acked.Load() > 0, false)
		return
	}
	b.count()
}

// count adds the batch's acknowledged records and their bytes to the
// sink's counts, once every record's promise has run: now if wait saw
// them all run, else in the background (the client runs every promise,
// at the latest when it is closed). Without Transactional, those records
// are written whatever becomes of the batch.
func (b *batch[T]) count() {
	add := func() {
		b.s.records.Add(b.acked.Load())
		b.s.bytes.Add(b.ackedBytes())
	}
	if b.settled {
		add()
		return
	}
	go func() {
		b.pending.Wait()
		add()
	}()
}

// ackedBytes returns the key and value bytes of the records acknowledged,
// once every promise has run.
func (b *batch[T]) ackedBytes() int64 {
	return b.producedBytes.Load() - b.failedBytes.Load() + b.retriedBytes.Load()
}

// wait waits until every record handed to the client is acknowledged or
// failed, or until wctx is done; ctx tells a hard stop from a timeout.
func (b *batch[T]) wait(ctx, wctx context.Context) error {
	// With the idempotent producer, franz-go answers the promise of a
	// record in flight only once the broker has (it must know which
	// sequence numbers the broker saw), whatever the record's context
	// says; a hard stop does not wait for that: the records are left to
	// the client.
	acks := make(chan struct{})
	go func() {
		b.pending.Wait()
		close(acks)
	}()
	select {
	case <-acks:
		b.settled = true
		return nil
	case <-wctx.Done():
		if ctx.Err() != nil {
			return fmt.Errorf("kafkasink: waiting for acknowledgements: %w", ctx.Err())
		}
		return fmt.Errorf("kafkasink: records not acknowledged within the delivery timeout (%v): %w", b.s.cfg.deliveryTimeout, wctx.Err())
	}
}

// settle waits for every record, produces again those that failed as too
// large (see retryTooLarge), and returns the error of the first element
// (by position) that failed.
func (b *batch[T]) settle(ctx context.Context) error {
	if err := b.wait(ctx, b.ctx); err != nil {
		return err
	}
	b.mu.Lock()
	first, large := b.first, b.large
	b.mu.Unlock()
	if first == nil && len(large) > 0 {
		n, size, err := b.s.retryTooLarge(b.ctx, b.cl, large)
		b.acked.Add(n)
		b.retriedBytes.Add(size)
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				return err
			}
			first = re
		}
	}
	if first == nil {
		return nil
	}
	if ctx.Err() == nil && errors.Is(first.Err, context.DeadlineExceeded) {
		first.Err = fmt.Errorf("not acknowledged within the delivery timeout (%v): %w", b.s.cfg.deliveryTimeout, first.Err)
	}
	return first
}

// client returns the sink's client, creating it if an earlier batch
// discarded it, and, for transactions, making sure of its producer ID,
// which fences older producers with the same transactional ID and aborts
// what they left open.
func (s *Sink[T]) client(ctx context.Context) (*kgo.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, dstream.ErrContextStopped
	}
	if s.cl == nil {
		cl, err := s.newClient()
		if err != nil {
			return nil, fmt.Errorf("kafkasink: %w", err)
		}
		s.cl, s.pidReady = cl, false
	}
	if s.txn != nil && !s.pidReady {
		if _, _, err := s.cl.ProducerID(ctx); err != nil {
			s.cl.Close()
			s.cl = nil
			return nil, fmt.Errorf("kafkasink: initializing the transactional producer %q: %w", s.cfg.txnID, err)
		}
		s.pidReady = true
	}
	return s.cl, nil
}

// discard drops a client whose transaction state is unknown after an
// error; the next batch creates a new one, whose producer ID fences it.
func (s *Sink[T]) discard(cl *kgo.Client) {
	s.mu.Lock()
	if s.cl == cl {
		s.cl = nil
	}
	s.mu.Unlock()
	cl.Close()
}

// abandon forgets the client without closing it (a test hook).
func (s *Sink[T]) abandon(cl *kgo.Client) {
	s.mu.Lock()
	if s.cl == cl {
		s.cl = nil
	}
	s.mu.Unlock()
}

func (s *Sink[T]) newClient() (*kgo.Client, error) {
	cfg := &s.cfg
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.WithLogger(kgoLogger{s.log}),
	}
	switch {
	case s.enc.part != nil:
		inner := cfg.partitioner
		if inner == nil {
			inner = kgo.StickyKeyPartitioner(nil)
		}
		opts = append(opts, kgo.RecordPartitioner(explicitPartitioner{inner}))
	case cfg.partitioner != nil:
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
