package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultDeliveryTimeout is how long the records of a batch may take to be
// acknowledged, retries included, before the batch fails (DeliveryTimeout).
const DefaultDeliveryTimeout = 2 * time.Minute

// Option configures Write. Options that take a function of the stream's
// element type (Key, Value, Headers, TopicFunc, DeadLetter) are generic
// in it, so their type parameter is inferred from the function; Write
// checks that it is the stream's element type.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	brokers         []string
	key             any // func(T) []byte
	value           any // func(T) ([]byte, error)
	headers         any // func(T) []kgo.RecordHeader
	topicFn         any // func(T) string
	deadLetter      any // func(T, error)
	partitioner     kgo.Partitioner
	noIdempotence   bool
	deliveryTimeout time.Duration
	clientOpts      []kgo.Opt

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

// Key sets each record's key. By default records have no key, except for
// the element types that have a default encoding (see Write).
func Key[T any](f func(T) []byte) Option {
	return funcOption("Key", f, func(c *config) { c.key = f })
}

// Value sets how an element becomes a record's value; a nil value is a
// tombstone. An error fails the batch with a *RecordError naming the
// element's position, unless DeadLetter takes the element. Required unless
// the element type has a default encoding (see Write).
func Value[T any](f func(T) ([]byte, error)) Option {
	return funcOption("Value", f, func(c *config) { c.value = f })
}

// Headers sets each record's headers.
func Headers[T any](f func(T) []kgo.RecordHeader) Option {
	return funcOption("Headers", f, func(c *config) { c.headers = f })
}

// TopicFunc chooses each record's topic; an empty result means Write's
// topic, and an element with neither is an encoding error.
func TopicFunc[T any](f func(T) string) Option {
	return funcOption("TopicFunc", f, func(c *config) { c.topicFn = f })
}

// DeadLetter hands f the elements that cannot be written, with a
// *RecordError saying why, instead of failing the batch: the batch goes
// on without them. They are the elements that cannot be encoded (Value
// returned an error, or no topic) and those whose record is too large: a
// record that fails with MESSAGE_TOO_LARGE on its own, larger than the
// client's ProducerBatchMaxBytes or, in a record batch of its own, than
// the topic's max.message.bytes (its error wraps kerr.MessageTooLarge
// and names its size and both limits; see Write for the other records of
// its batch). f may be called concurrently from several partitions, and
// must not block for long. An element that Kafka refuses for another
// reason still fails the batch.
func DeadLetter[T any](f func(elem T, err error)) Option {
	return funcOption("DeadLetter", f, func(c *config) { c.deadLetter = f })
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

// ClientOptions passes options to the franz-go client, for TLS, SASL,
// linger, batch sizes or compression. They come after the sink's own, so
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

// funcOption is an option holding a function of the element type.
func funcOption(name string, f any, set func(*config)) Option {
	return optionFunc(func(c *config) error {
		if reflect.ValueOf(f).IsNil() {
			return fmt.Errorf("%s: nil function", name)
		}
		set(c)
		return nil
	})
}

// typed returns f as a function of type F, or an error naming the option
// when f is of another type: the option was written for elements of
// another type than the stream's.
func typed[F any](name string, f any) (F, error) {
	var zero F
	if f == nil {
		return zero, nil
	}
	g, ok := f.(F)
	if !ok {
		return zero, fmt.Errorf("%s: the function is a %T, but the stream's elements need a %v", name, f, reflect.TypeFor[F]())
	}
	return g, nil
}
