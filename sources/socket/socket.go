package socket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// Defaults for the options.
const (
	// DefaultMinBackoff is the first wait before reconnecting, and the wait
	// after a connection that delivered records.
	DefaultMinBackoff = 100 * time.Millisecond

	// DefaultMaxBackoff is the longest wait between connection attempts.
	DefaultMaxBackoff = 5 * time.Second

	// DefaultDialTimeout bounds one connection attempt.
	DefaultDialTimeout = 10 * time.Second

	// DefaultMaxLineBytes is the longest line TextStream accepts, not
	// counting its terminator: 1 MiB.
	DefaultMaxLineBytes = 1 << 20
)

// ErrLineTooLong is the error TextStream reports, with
// dstream.ReceiverHost.ReportError, for a line longer than MaxLineBytes.
// The line is skipped and the receiver goes on with the next one.
var ErrLineTooLong = errors.New("socket: line too long")

// Converter turns the bytes of one connection into records, for framings
// other than lines (Spark's socketStream converter). It reads r until EOF,
// then returns nil, or until an error, which it returns. It calls emit for
// each record. It must use r and emit only from the goroutine it is
// called on, and not after it returns. emit returns an error when the
// receiver is stopping, and then convert must return (reads from r fail
// too). A converter that returns an error or panics ends the connection:
// the error is reported and the receiver reconnects. Records emitted
// before that are kept.
//
// r is buffered: there is no need to wrap it in a bufio.Reader for small
// reads such as io.ReadFull of a header.
type Converter[T any] func(r io.Reader, emit func(T) error) error

// Option configures TextStream and Stream. Options are checked when the
// stream is created: an invalid one makes the stream invalid (see
// TextStream). A nil Option is ignored.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	minBackoff   time.Duration
	maxBackoff   time.Duration
	dialTimeout  time.Duration
	maxLineBytes int
	maxRate      float64
	maxRateSet   bool
	dial         func(ctx context.Context, network, addr string) (net.Conn, error)
	ack          bool
}

// Acknowledge makes the receiver tell the server which records are safe:
// after each block of records is stored (with dstream.WithWriteAheadLog,
// written to the log and synced), it writes the line "ack N\n" back on the
// connection, N being the number of records stored from this connection
// so far. A server that keeps each record until it is acknowledged, and
// sends the unacknowledged ones again on the next connection, then loses
// nothing when the job crashes (records may be counted twice: at least
// once). The server must read the acknowledgements, or its receive buffer
// fills and the receiver blocks.
func Acknowledge() Option {
	return optionFunc(func(c *config) error { c.ack = true; return nil })
}

// Backoff sets the waits between connection attempts: the first wait is
// minWait, each further one doubles, up to maxWait; after a connection
// that delivered records the wait is minWait again. minWait must be
// positive and maxWait at least minWait. Default: DefaultMinBackoff
// (100 ms) and DefaultMaxBackoff (5 s).
func Backoff(minWait, maxWait time.Duration) Option {
	return optionFunc(func(c *config) error {
		if minWait <= 0 {
			return fmt.Errorf("%w: backoff minimum %v must be positive", dstream.ErrInvalidOption, minWait)
		}
		if maxWait < minWait {
			return fmt.Errorf("%w: backoff maximum %v is less than the minimum %v", dstream.ErrInvalidOption, maxWait, minWait)
		}
		c.minBackoff, c.maxBackoff = minWait, maxWait
		return nil
	})
}

// DialTimeout bounds each connection attempt, in real time. It must be
// positive. Default: DefaultDialTimeout (10 s).
func DialTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: dial timeout %v must be positive", dstream.ErrInvalidOption, d)
		}
		c.dialTimeout = d
		return nil
	})
}

// MaxLineBytes sets the longest line TextStream accepts, not counting the
// "\n" or "\r\n" that ends it. A longer line is reported (ErrLineTooLong)
// and skipped up to its newline. It must be at least 1; Stream ignores it.
// Default: DefaultMaxLineBytes (1 MiB).
func MaxLineBytes(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: max line bytes %d must be at least 1", dstream.ErrInvalidOption, n)
		}
		c.maxLineBytes = n
		return nil
	})
}

// MaxRate caps the records per second the receiver stores (it passes
// dstream.MaxRate to dstream.ReceiverStream); 0 or less means unlimited,
// NaN is invalid. With a positive rate the receiver stores slices of about
// 100 ms worth of records, so the rate holds without long bursts.
// Default: the context's rate (dstream.WithReceiverMaxRate), unlimited
// unless set.
func MaxRate(recordsPerSecond float64) Option {
	return optionFunc(func(c *config) error {
		if math.IsNaN(recordsPerSecond) {
			return fmt.Errorf("%w: max rate is NaN", dstream.ErrInvalidOption)
		}
		c.maxRate, c.maxRateSet = recordsPerSecond, true
		return nil
	})
}

// Dialer sets the function that opens connections, for tests, proxies or
// TLS (tls.Dialer's DialContext fits). It is called with network "tcp",
// the stream's address and a context that is cancelled at the dial timeout
// or when the receiver stops; it must return promptly then. It must not be
// nil. Default: net.Dialer's DialContext.
func Dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return optionFunc(func(c *config) error {
		if dial == nil {
			return fmt.Errorf("%w: nil dialer", dstream.ErrInvalidOption)
		}
		c.dial = dial
		return nil
	})
}

// newConfig applies the options to the defaults. Its errors wrap
// dstream.ErrInvalidOption.
func newConfig(addr string, opts []Option) (*config, error) {
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	cfg := &config{
		minBackoff:   DefaultMinBackoff,
		maxBackoff:   DefaultMaxBackoff,
		dialTimeout:  DefaultDialTimeout,
		maxLineBytes: DefaultMaxLineBytes,
		dial:         (&net.Dialer{}).DialContext,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(cfg); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// checkAddr accepts host:port with a port number from 1 to 65535 or a
// service name; an empty host means the local system, as for net.Dial.
func checkAddr(addr string) error {
	if addr == "" {
		return fmt.Errorf("%w: empty address; want host:port", dstream.ErrInvalidOption)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %v; want host:port", dstream.ErrInvalidOption, err)
	}
	if port == "" {
		return fmt.Errorf("%w: the address has no port", dstream.ErrInvalidOption)
	}
	n, err := net.LookupPort("tcp", port)
	if err != nil {
		return fmt.Errorf("%w: %v", dstream.ErrInvalidOption, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: port 0 cannot be dialed", dstream.ErrInvalidOption)
	}
	return nil
}

// TextStream returns a stream of the lines read from the TCP server at
// addr (host:port), like Spark's socketTextStream. Lines end with "\n"; a
// "\r" before it is dropped; a last line without "\n" is still a record
// when the server closes the connection. Lines are passed through as they
// are, without checking that they are UTF-8. A line longer than
// MaxLineBytes is reported and skipped.
//
// The receiver is named "socket " + addr in listener events. It reconnects
// when it cannot connect or the connection ends; see the package
// documentation. An invalid address (not host:port, or port 0) or option
// makes the stream invalid: Stream.Err, its output operations and
// Context.Start report a *dstream.BuildError wrapping
// dstream.ErrInvalidOption.
func TextStream(c *dstream.Context, addr string, opts ...Option) *dstream.Stream[string] {
	cfg, err := newConfig(addr, opts)
	if err != nil {
		return invalidStream[string](c, "socketTextStream", addr, err)
	}
	return receiverStream(c, addr, cfg, lineConverter(addr, cfg.maxLineBytes))
}

// Stream returns a stream of the records that convert reads from the TCP
// server at addr (host:port), like Spark's socketStream. convert is called
// once per connection; see Converter. TextStream is Stream with a
// converter that splits lines.
//
// The receiver is named "socket " + addr in listener events. It reconnects
// when it cannot connect or the connection ends; see the package
// documentation. An invalid address or option, or a nil convert, makes
// the stream invalid: Stream.Err, its output operations and Context.Start
// report a *dstream.BuildError wrapping dstream.ErrInvalidOption (and
// dstream.ErrNilFunc for a nil convert).
func Stream[T any](c *dstream.Context, addr string, convert Converter[T], opts ...Option) *dstream.Stream[T] {
	cfg, err := newConfig(addr, opts)
	if err == nil && convert == nil {
		err = fmt.Errorf("%w: nil converter (%w)", dstream.ErrInvalidOption, dstream.ErrNilFunc)
	}
	if err != nil {
		return invalidStream[T](c, "socketStream", addr, err)
	}
	return receiverStream(c, addr, cfg, func(r io.Reader, emit func(T) error, _ func(string, error)) error {
		return convert(r, emit)
	})
}

func receiverStream[T any](c *dstream.Context, addr string, cfg *config, convert convertFunc[T]) *dstream.Stream[T] {
	var ropts []dstream.ReceiverOption
	if cfg.maxRateSet {
		ropts = append(ropts, dstream.MaxRate(cfg.maxRate))
	}
	r := &receiver[T]{
		addr:    addr,
		name:    receiverName(addr),
		cfg:     cfg,
		convert: convert,
		chunk:   chunkSize(cfg),
	}
	if c != nil {
		r.clock = c.Clock()
	}
	return dstream.ReceiverStream[T](c, r, ropts...)
}

// invalidStream is the stream for an invalid configuration: a receiver
// stream marked invalid with dstream.FailStream, so Context.Start fails
// and the receiver never starts.
func invalidStream[T any](c *dstream.Context, op, addr string, err error) *dstream.Stream[T] {
	s := dstream.ReceiverStream[T](c, idleReceiver[T]{name: receiverName(addr)})
	return dstream.FailStream(s, fmt.Errorf("%s %q: %w", op, addr, err))
}

func receiverName(addr string) string {
	if addr == "" {
		return "socket"
	}
	return "socket " + addr
}

// idleReceiver stands in for the receiver of an invalid stream, which
// never starts.
type idleReceiver[T any] struct{ name string }

func (r idleReceiver[T]) Name() string { return r.name }

func (r idleReceiver[T]) OnStart(context.Context, *dstream.ReceiverHost[T]) error { return nil }

func (r idleReceiver[T]) OnStop() {}
