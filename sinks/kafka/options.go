package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultDeliveryTimeout is how long the records of a batch may take to be
// acknowledged, retries included, before the batch fails (DeliveryTimeout).
const DefaultDeliveryTimeout = 2 * time.Minute

// Option configures New, Write and WriteEncoded with a setting that does
// not depend on the stream's element type; what does (the record's
// value, key, headers and topic) is an Encoder.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	brokers         []string
	partitioner     kgo.Partitioner
	noIdempotence   bool
	failOnPoison    bool
	deliveryTimeout time.Duration
	clientOpts      []kgo.Opt
	log             *slog.Logger

	txn    bool
	txnID  string
	source OffsetSource

	hooks *testHooks
}

func defaultConfig() config {
	return config{deliveryTimeout: DefaultDeliveryTimeout}
}

// Brokers sets the seed brokers, as host:port. Required.
func Brokers(addrs ...string) Option {
	return optionFunc(func(c *config) error {
		for _, a := range addrs {
			if a == "" {
				return errors.New("Brokers: empty address")
			}
		}
		c.brokers = append(c.brokers, addrs...)
		return nil
	})
}

// Partitioner sets the franz-go partitioner that picks each record's
// partition (kgo.RecordPartitioner). The default is franz-go's: records
// with a key go to the partition the key hashes to, as with Kafka's Java
// client; records without one are spread in sticky batches.
func Partitioner(p kgo.Partitioner) Option {
	return optionFunc(func(c *config) error {
		if p == nil {
			return errors.New("Partitioner: nil partitioner")
		}
		c.partitioner = p
		return nil
	})
}

// DisableIdempotence turns off the idempotent producer, which is on by
// default so that the producer's own retries never write a record twice.
// Needed only for brokers or ACLs that do not allow idempotent writes
// (IDEMPOTENT_WRITE before Kafka 3.0). Not allowed with Transactional.
func DisableIdempotence() Option {
	return optionFunc(func(c *config) error { c.noIdempotence = true; return nil })
}

// FailOnPoison makes a poison record fail the batch with its
// *RecordError instead of being rejected to the job's dead letters
// (dstream.Partition.Reject, the default), which writes the rest of the
// batch. A poison record is one whose element cannot be encoded (the
// Encoder's value function returned an error, or it has no topic) or
// whose record is too large alone (see Write). The batch's other records
// that were already acknowledged stay written, except with Transactional,
// where the failed batch's transaction is aborted and the source's
// offsets are not committed: use it when a record must never be skipped,
// for example a transactional job whose output must hold every input
// record, where a rejected record would otherwise be left out of a
// committed transaction for good. The job then stops at the poison
// record, and runs into it again when restarted.
func FailOnPoison() Option {
	return optionFunc(func(c *config) error { c.failOnPoison = true; return nil })
}

// Logger sets the logger of the sink's warnings and of the franz-go
// client's warnings and errors. Write and WriteEncoded use the stream's
// context's logger unless this says otherwise; New uses slog.Default().
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("Logger: nil logger")
		}
		c.log = l
		return nil
	})
}

// DeliveryTimeout bounds how long the records of a batch may take to be
// acknowledged, retries included, from when the sink starts producing the
// batch (Kafka's delivery.timeout.ms, for the whole batch): past it the
// batch fails. Default DefaultDeliveryTimeout.
func DeliveryTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("DeliveryTimeout: %v is not positive", d)
		}
		c.deliveryTimeout = d
		return nil
	})
}

// ClientOptions passes options to the franz-go client, for TLS, SASL
// (security.Kafka.KafkaOptions makes both), linger, batch sizes or
// compression; the start-up check (Sink.StartCheck) uses them too. They come after the sink's own, so
// they override them, except that acks stay at all and, with
// Transactional, the transactional ID and the cap on the transaction
// request versions (see Transactional) stay.
func ClientOptions(opts ...kgo.Opt) Option {
	return optionFunc(func(c *config) error {
		c.clientOpts = append(c.clientOpts, opts...)
		return nil
	})
}

// Transactional makes each batch one Kafka transaction, and with a source,
// commits the source's offsets for the batch in that transaction, which
// gives exactly-once Kafka-to-Kafka jobs; see the package documentation.
// A batch that fails, or that a hard stop interrupts, is aborted.
// transactionalID identifies the producer across restarts: give each copy
// of a job its own, and keep it when the job restarts, so that the new
// producer fences the old one. source may be nil for transactions that
// only make each batch's records visible atomically.
func Transactional(transactionalID string, source OffsetSource) Option {
	return optionFunc(func(c *config) error {
		if transactionalID == "" {
			return errors.New("Transactional: empty transactional ID")
		}
		if source != nil && source.ConsumerGroup() == "" {
			return errors.New("Transactional: the source has no consumer group to commit its offsets to")
		}
		if a, ok := unwrap(source).(autoCommitter); ok && a.AutoCommit() {
			return errors.New("Transactional: the source commits its offsets itself after each batch: use kafka.ManualCommit, the sink commits them")
		}
		c.txn, c.txnID, c.source = true, transactionalID, source
		return nil
	})
}

// testHooks let the package's tests break a transaction at chosen points.
type testHooks struct {
	// beforeCommit runs after the batch's records and offsets are in the
	// transaction; an error aborts it.
	beforeCommit func(ctx context.Context, t time.Time) error
	// abandon, when it returns true at the same point, makes the sink
	// leave the transaction open and forget its client, as a process that
	// died would.
	abandon func(t time.Time, cl *kgo.Client) bool
}

func withHooks(h *testHooks) Option {
	return optionFunc(func(c *config) error { c.hooks = h; return nil })
}
