package kafka

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Special starting offsets, for StartingOffsets and ResetOffset.
const (
	// Earliest starts at the oldest record still in the partition.
	Earliest int64 = -2
	// Latest starts after the newest record: only records produced from
	// then on are read.
	Latest int64 = -1
)

// Strategy chooses the partitions a direct stream reads (Spark's
// ConsumerStrategy): Subscribe, SubscribePattern or Assign.
type Strategy interface {
	validate() error
	String() string
}

type subscribe struct{ topics []string }

// Subscribe reads the given topics as a member of the stream's consumer
// group (see Group, which is required): Kafka assigns the partitions, so
// several copies of a job in one group share them, and partitions added
// to the topics are picked up at the next rebalance.
func Subscribe(topics ...string) Strategy { return subscribe{topics: slices.Clone(topics)} }

func (s subscribe) validate() error {
	if len(s.topics) == 0 {
		return errors.New("Subscribe needs at least one topic")
	}
	if slices.Contains(s.topics, "") {
		return errors.New("Subscribe: empty topic name")
	}
	return nil
}

func (s subscribe) String() string { return fmt.Sprintf("Subscribe%v", s.topics) }

type pattern struct {
	expr string
	re   *regexp.Regexp
	err  error
}

// SubscribePattern is Subscribe for every topic whose whole name matches
// the regular expression; topics created later that match are picked up.
func SubscribePattern(expr string) Strategy {
	re, err := regexp.Compile(expr)
	return pattern{expr: expr, re: re, err: err}
}

func (p pattern) validate() error {
	if p.err != nil {
		return fmt.Errorf("SubscribePattern: %w", p.err)
	}
	if p.expr == "" {
		return errors.New("SubscribePattern: empty pattern")
	}
	return nil
}

func (p pattern) String() string { return fmt.Sprintf("SubscribePattern(%q)", p.expr) }

type assign struct{ tps []TopicPartition }

// Assign reads exactly the given partitions, without group membership.
// Offsets are still committed to the Group, when one is set, so a restart
// resumes where the last successful batch ended.
func Assign(partitions ...TopicPartition) Strategy {
	return assign{tps: slices.Clone(partitions)}
}

func (a assign) validate() error {
	if len(a.tps) == 0 {
		return errors.New("Assign needs at least one partition")
	}
	for _, tp := range a.tps {
		if tp.Topic == "" || tp.Partition < 0 {
			return fmt.Errorf("Assign: invalid partition %v", tp)
		}
	}
	return nil
}

func (a assign) String() string { return fmt.Sprintf("Assign%v", a.tps) }

// Option configures a direct stream.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	brokers        []string
	group          string
	starting       map[TopicPartition]int64
	reset          int64
	maxRate        float64
	minRate        int64
	manual         bool
	readCommitted  bool
	pollTimeout    time.Duration
	requestTimeout time.Duration
	stopTimeout    time.Duration
	revokeTimeout  time.Duration
	maxBuffered    int
	failOnRevoke   bool
	instanceID     string
	stores         []dstream.PositionStore // ResumeFrom
	clientOpts     []kgo.Opt
}

func defaultConfig() config {
	return config{
		reset:          Earliest,
		pollTimeout:    2 * time.Minute,
		requestTimeout: 10 * time.Second,
		stopTimeout:    DefaultStopTimeout,
		revokeTimeout:  DefaultRevokeTimeout,
		maxBuffered:    32 << 20,
		minRate:        1,
	}
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

// Group sets the consumer group: the group whose member the stream is
// under Subscribe and SubscribePattern (required there), and where offsets
// are committed. Use a group per stream; two direct streams of one context
// may not share one.
func Group(id string) Option {
	return optionFunc(func(c *config) error {
		if id == "" {
			return errors.New("Group: empty group id")
		}
		c.group = id
		return nil
	})
}

// StartingOffsets sets where partitions start the first time this stream
// reads them, overriding offsets committed to the group (as in Spark,
// where they are the strategy's offsets): each value is an offset, or
// Earliest or Latest. Partitions not listed start at the group's committed
// offset, or else at ResetOffset. Use it to resume from offsets kept in
// your own store together with the output.
func StartingOffsets(offsets map[TopicPartition]int64) Option {
	return optionFunc(func(c *config) error {
		if c.starting == nil {
			c.starting = map[TopicPartition]int64{}
		}
		for tp, o := range offsets {
			if o < Earliest {
				return fmt.Errorf("StartingOffsets: invalid offset %d for %v", o, tp)
			}
			c.starting[tp] = o
		}
		return nil
	})
}

// ResetOffset sets where a partition starts when neither StartingOffsets
// nor a committed offset says: Earliest (the default, so that a new group
// reads what the topic holds) or Latest (Kafka's own default).
func ResetOffset(offset int64) Option {
	return optionFunc(func(c *config) error {
		if offset != Earliest && offset != Latest {
			return fmt.Errorf("ResetOffset: %d is neither Earliest nor Latest", offset)
		}
		c.reset = offset
		return nil
	})
}

// MaxRatePerPartition caps the records each partition contributes to a
// batch at recordsPerSecond × the batch interval (at least one), Spark's
// spark.streaming.kafka.maxRatePerPartition. 0, the default, means no cap:
// a batch takes everything up to the latest offsets.
func MaxRatePerPartition(recordsPerSecond float64) Option {
	return optionFunc(func(c *config) error {
		if recordsPerSecond < 0 {
			return fmt.Errorf("MaxRatePerPartition: negative rate %v", recordsPerSecond)
		}
		c.maxRate = recordsPerSecond
		return nil
	})
}

// MinRatePerPartition is the fewest records a partition with a rate limit
// (MaxRatePerPartition or backpressure) may add to a batch, whatever the
// limit works out to (Spark's spark.streaming.kafka.minRatePerPartition).
// Default 1.
func MinRatePerPartition(records int64) Option {
	return optionFunc(func(c *config) error {
		if records < 1 {
			return fmt.Errorf("MinRatePerPartition: %d is below 1", records)
		}
		c.minRate = records
		return nil
	})
}

// ManualCommit stops the stream from committing offsets after successful
// batches: call CommitAsync from an output operation, or keep the offsets
// (OffsetRanges) in your own store and pass them to StartingOffsets on
// restart. By default the stream commits each batch's ranges to the Group
// once every output operation of the batch has succeeded.
func ManualCommit() Option {
	return optionFunc(func(c *config) error { c.manual = true; return nil })
}

// ReadCommitted reads only committed transactional records: batches end at
// the last stable offset rather than the high watermark.
func ReadCommitted() Option {
	return optionFunc(func(c *config) error { c.readCommitted = true; return nil })
}

// PollTimeout bounds how long reading a batch's range may wait for records
// that the broker said exist (Spark's spark.streaming.kafka.consumer.poll.ms,
// whose default follows spark.network.timeout): the batch then fails with
// an error naming the range. Default 2 minutes.
func PollTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("PollTimeout: %v is not positive", d)
		}
		c.pollTimeout = d
		return nil
	})
}

// RequestTimeout bounds each offset listing and commit. A listing that
// fails or times out gives empty ranges for that batch (the next batch
// catches up) and reports the brokers degraded until one succeeds;
// default 10s.
func RequestTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("RequestTimeout: %v is not positive", d)
		}
		c.requestTimeout = d
		return nil
	})
}

// DefaultStopTimeout is how long Stop may take by default (StopTimeout).
const DefaultStopTimeout = 3 * time.Second

// StopTimeout bounds how long the stream's Stop takes: committing what
// completed batches consumed (at most two thirds of d), leaving the group
// (the rest), then closing the client without waiting for the broker.
// When the broker is down, or a rebalance waits for a member that is gone,
// the commit or the leave gives up at the deadline: the batches after the
// group's last commit are read again by the next run (or taken from the
// checkpoint), and the group rebalances after the session timeout instead
// of at once. Default DefaultStopTimeout.
func StopTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("StopTimeout: %v is not positive", d)
		}
		c.stopTimeout = d
		return nil
	})
}

// DefaultRevokeTimeout is how long a rebalance may wait by default for
// the batches holding a revoked partition (RevokeTimeout).
const DefaultRevokeTimeout = 10 * time.Second

// RevokeTimeout bounds how long a rebalance that takes partitions away
// waits for the batches already generated with ranges of those
// partitions. Those batches finish, and the offsets they consumed are
// committed, before the partitions are released, so that the member that
// gets them next starts after them rather than reading them again. A
// batch still running at the deadline is abandoned to at-least-once: the
// partitions are released (with a warning), and the next owner reads its
// ranges again. The whole group waits during an eager rebalance, so keep
// d below the group's rebalance timeout (franz-go's RebalanceTimeout, 60 s
// by default, through ClientOptions). Default DefaultRevokeTimeout.
func RevokeTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("RevokeTimeout: %v is not positive", d)
		}
		c.revokeTimeout = d
		return nil
	})
}

// ResumeFrom makes the outputs' stores the authority on where each
// partition starts, for running copies of a job in one consumer group
// exactly once. When a partition is assigned (at start or by a
// rebalance), the stream asks every store (PositionStore.Resume, which
// also finishes or discards what an earlier owner left half done) and
// starts at the lowest next offset they recorded, whatever a checkpoint,
// the group's commit or an earlier ownership by this stream say: those
// run ahead of what a store holding files open over many batches has
// made durable. When no store has a record of the partition, it starts as
// it would without stores. Batches pending in a checkpoint are not read
// again after a restart (their partitions start where the stores say).
// When a rebalance takes a partition away, the stores are told after its
// batches in flight have completed (Release with commit true); when the
// group fences the member (the partition is lost), they are told to
// discard it. Offsets are still committed to the group after each batch,
// for lag monitoring and tools, but they are only a hint.
//
// The Parquet sink with rotation (parquetsink.Rotate) is such a store:
// pass it here and register it with Stream.WriteTo.
func ResumeFrom(stores ...dstream.PositionStore) Option {
	return optionFunc(func(c *config) error {
		for _, st := range stores {
			if st == nil {
				return errors.New("ResumeFrom: nil store")
			}
		}
		if len(stores) == 0 {
			return errors.New("ResumeFrom: no store")
		}
		c.stores = append(c.stores, stores...)
		return nil
	})
}

// MaxBufferedBytes caps the bytes of records fetched ahead of the batches
// for each partition; fetching that partition pauses above it. Default
// 32 MiB.
func MaxBufferedBytes(n int) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("MaxBufferedBytes: %d is not positive", n)
		}
		c.maxBuffered = n
		return nil
	})
}

// FailOnRevokedPartitions makes a rebalance that takes partitions away
// from the stream stop the context with an error naming them, as Spark
// does. By default the stream lets them go: batches already generated
// still read their ranges, later ones leave the partitions out, and the
// member that now owns them starts from the last committed offsets (this
// stream, if they come back to it, after the last range it generated).
func FailOnRevokedPartitions() Option {
	return optionFunc(func(c *config) error { c.failOnRevoke = true; return nil })
}

// InstanceID makes the stream a static member of its group (Kafka's
// group.instance.id, KIP-345): when a job restarts, after a crash too, it
// takes its partitions back at once instead of waiting for the group to
// time its old member out (45 s by default), and a graceful stop does not
// make the others rebalance. Give each copy of a job its own id; a second
// member with the same id fences the first.
func InstanceID(id string) Option {
	return optionFunc(func(c *config) error {
		if id == "" {
			return errors.New("InstanceID: empty id")
		}
		c.instanceID = id
		return nil
	})
}

// ClientOptions passes options to the franz-go clients of the stream, for
// TLS, SASL (security.Kafka.KafkaOptions makes both), timeouts or
// metadata refresh; the start-up check uses them too. The stream's own
// settings (group, topics, disabled auto-commit, isolation level) take
// precedence.
func ClientOptions(opts ...kgo.Opt) Option {
	return optionFunc(func(c *config) error {
		c.clientOpts = append(c.clientOpts, opts...)
		return nil
	})
}

// validate checks the combination of options with the strategy.
func (c *config) validate(s Strategy) error {
	if s == nil {
		return errors.New("no strategy: use Subscribe, SubscribePattern or Assign")
	}
	if err := s.validate(); err != nil {
		return err
	}
	if len(c.brokers) == 0 {
		return errors.New("no brokers: use Brokers")
	}
	if _, ok := s.(assign); !ok && c.group == "" {
		return fmt.Errorf("%v needs a consumer group: use Group", s)
	}
	if _, ok := s.(assign); ok && c.instanceID != "" {
		return errors.New("InstanceID applies to Subscribe and SubscribePattern, which join the group")
	}
	return nil
}

// invalid wraps a configuration error.
func invalid(err error) error {
	return fmt.Errorf("%w: kafka: %w", dstream.ErrInvalidOption, err)
}
