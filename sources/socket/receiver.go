package socket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

const (
	// maxChunk is the most records handed to the host at once.
	maxChunk = 1024
	// readBufSize is the receiver's read buffer per connection.
	readBufSize = 64 << 10
)

// convertFunc is a Converter that may also report an error without ending
// the connection (TextStream's too-long lines).
type convertFunc[T any] func(r io.Reader, emit func(T) error, report func(msg string, err error)) error

// chunkSize is how many records a store carries at most: maxChunk, or
// about 100 ms worth of records under a rate limit, so that the limiter,
// which makes the call after a slice of n records wait n/rate, spaces the
// slices evenly instead of in long bursts.
func chunkSize(cfg *config) int {
	r := cfg.maxRate
	if !cfg.maxRateSet || r <= 0 || math.IsInf(r, 1) || r/10 >= maxChunk {
		return maxChunk
	}
	return max(1, int(r/10))
}

// receiver is the dstream.Receiver behind TextStream and Stream.
type receiver[T any] struct {
	addr    string
	name    string
	cfg     *config
	convert convertFunc[T]
	chunk   int
	clock   dstream.Clock

	mu  sync.Mutex
	cur *session // the current run, nil when stopped
}

// session is one run of the receiver, from OnStart to OnStop.
type session struct {
	cancel context.CancelFunc // cancels the run's context
	done   chan struct{}      // closed when the run's goroutine has returned

	mu     sync.Mutex
	conn   net.Conn // the open connection, if any
	closed bool
}

// setConn records the run's connection; it reports false, and the caller
// must close conn, if the run has been stopped.
func (s *session) setConn(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conn = conn
	return true
}

func (s *session) clearConn() {
	s.mu.Lock()
	s.conn = nil
	s.mu.Unlock()
}

// close stops the run: it cancels the run's context, closes the
// connection, so that a blocked read returns, and makes setConn refuse new
// ones.
func (s *session) close() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// Name names the receiver in listener events: "socket host:port".
func (r *receiver[T]) Name() string { return r.name }

// OnStart starts the goroutine that connects and receives, and returns.
func (r *receiver[T]) OnStart(ctx context.Context, host *dstream.ReceiverHost[T]) error {
	ctx, cancel := context.WithCancel(ctx)
	s := &session{cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.cur = s
	r.mu.Unlock()
	context.AfterFunc(ctx, s.close) // the engine cancelled the run, or OnStop
	go r.run(ctx, host, s)
	return nil
}

// OnStop closes the connection and waits for the receiving goroutine to
// return. It returns promptly: the goroutine watches the run's context,
// which OnStop cancels, and a closed connection ends a blocked read. (A
// Dialer that ignores its context, or a Converter that ignores errors,
// would hold it up.)
func (r *receiver[T]) OnStop() {
	r.mu.Lock()
	s := r.cur
	r.cur = nil
	r.mu.Unlock()
	if s == nil {
		return
	}
	s.close()
	<-s.done
}

// run connects, receives until the connection ends, and reconnects after
// a backoff, until ctx is done or the receiver has stopped.
func (r *receiver[T]) run(ctx context.Context, host *dstream.ReceiverHost[T], s *session) {
	defer close(s.done)
	log := host.Logger()
	wait := r.cfg.minBackoff
	for {
		conn, err := r.dial(ctx)
		if ctx.Err() != nil {
			if conn != nil {
				_ = conn.Close()
			}
			return
		}
		if err != nil {
			host.ReportError(fmt.Sprintf("socket: cannot connect to %s", r.addr), err)
		} else {
			if !s.setConn(conn) {
				_ = conn.Close()
				return
			}
			log.Debug("socket: connected", "addr", r.addr, "local", conn.LocalAddr())
			res := r.receive(ctx, host, conn)
			s.clearConn()
			_ = conn.Close()
			if res.stopping || ctx.Err() != nil {
				return
			}
			host.ReportError(res.msg, res.err)
			if res.stored > 0 {
				wait = r.cfg.minBackoff
			}
		}
		if !r.sleep(ctx, wait) {
			return
		}
		if wait > r.cfg.maxBackoff/2 {
			wait = r.cfg.maxBackoff
		} else {
			wait = min(2*wait, r.cfg.maxBackoff)
		}
	}
}

// sleep waits d on the context's clock; it reports false if ctx ended.
func (r *receiver[T]) sleep(ctx context.Context, d time.Duration) bool {
	clk := r.clock
	if clk == nil {
		clk = dstream.SystemClock()
	}
	return clk.WaitUntil(ctx, clk.Now().Add(d)) == nil
}

// dial makes one connection attempt, bounded by the dial timeout.
func (r *receiver[T]) dial(ctx context.Context) (conn net.Conn, err error) {
	dctx, cancel := context.WithTimeout(ctx, r.cfg.dialTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			conn, err = nil, fmt.Errorf("socket: dialer panicked: %w", &dstream.PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	conn, err = r.cfg.dial(dctx, "tcp", r.addr)
	switch {
	case err != nil:
		if conn != nil {
			_ = conn.Close()
		}
		return nil, err
	case conn == nil:
		return nil, errors.New("socket: dialer returned neither a connection nor an error")
	}
	return conn, nil
}

// result is how a connection ended.
type result struct {
	stopping bool   // the receiver is stopping: nothing to report
	stored   int    // records stored from the connection
	msg      string // what to report
	err      error
}

// receive runs the converter over one connection and stores what it emits.
func (r *receiver[T]) receive(ctx context.Context, host *dstream.ReceiverHost[T], conn net.Conn) result {
	f := &feeder[T]{
		ctx:   ctx,
		host:  host,
		br:    bufio.NewReaderSize(conn, readBufSize),
		chunk: r.chunk,
		buf:   make([]T, 0, min(r.chunk, 64)),
	}
	if r.cfg.ack {
		f.ack = conn
	}
	report := func(msg string, err error) {
		if ctx.Err() == nil {
			host.ReportError(msg, err)
		}
	}
	cerr := r.callConvert(f, report)
	_ = f.flush() // what was emitted before the end is good
	res := result{stored: f.stored}
	switch {
	case f.storeErr != nil:
		res.msg = fmt.Sprintf("socket: storing the records from %s failed; reconnecting", r.addr)
		res.err = f.storeErr
	case f.stopErr != nil || ctx.Err() != nil:
		res.stopping = true
	case cerr == nil:
		res.msg = fmt.Sprintf("socket: server %s closed the connection", r.addr)
		res.err = fmt.Errorf("socket: connection to %s closed by the server: %w", r.addr, io.EOF)
	case f.readErr != nil:
		res.msg = fmt.Sprintf("socket: read error on the connection to %s", r.addr)
		res.err = cerr
	default:
		res.msg = fmt.Sprintf("socket: converter error on the connection to %s", r.addr)
		res.err = cerr
	}
	return res
}

func (r *receiver[T]) callConvert(f *feeder[T], report func(string, error)) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("socket: converter panicked: %w", &dstream.PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	return r.convert(f, f.emit, report)
}

// feeder is the reader a converter reads and the emit it calls. It
// collects emitted records and stores them in slices of up to chunk
// records, and before every read that has to wait for the socket, so
// records never sit in its buffer while the connection is idle. Without
// acknowledgements a store adds the records to the engine's current block
// (StoreAll), which is cut on the block interval; with them each store is
// a block of its own (StoreSlice), safe when it returns.
type feeder[T any] struct {
	ctx      context.Context
	host     *dstream.ReceiverHost[T]
	br       *bufio.Reader
	chunk    int
	buf      []T
	stored   int
	stopErr  error // why storing stopped: the receiver is stopping
	storeErr error // storing failed otherwise (the write-ahead log)
	readErr  error // the first error reading the connection, other than EOF
	ack      io.Writer
}

// Read reads from the connection, first storing the collected records if
// it has to wait for the socket.
func (f *feeder[T]) Read(p []byte) (int, error) {
	if f.stopErr != nil {
		return 0, f.stopErr
	}
	if f.br.Buffered() == 0 {
		if err := f.flush(); err != nil {
			return 0, err
		}
	}
	n, err := f.br.Read(p)
	if err != nil && err != io.EOF && f.readErr == nil {
		f.readErr = err
	}
	return n, err
}

// emit collects one record.
func (f *feeder[T]) emit(x T) error {
	if f.stopErr != nil {
		return f.stopErr
	}
	f.buf = append(f.buf, x)
	if len(f.buf) >= f.chunk {
		return f.flush()
	}
	return nil
}

// flush stores the collected records as one block.
func (f *feeder[T]) flush() error {
	if f.stopErr != nil {
		return f.stopErr
	}
	if len(f.buf) == 0 {
		return nil
	}
	var err error
	if f.ctx.Err() != nil {
		err = dstream.ErrReceiverStopped // this run has ended: store nothing more
	} else if f.ack != nil {
		err = f.host.StoreSlice(f.buf)
	} else {
		err = f.host.StoreAll(f.buf)
	}
	n := len(f.buf)
	clear(f.buf) // StoreSlice copied them; drop the references
	f.buf = f.buf[:0]
	if err != nil {
		if errors.Is(err, dstream.ErrReceiverStopped) {
			f.stopErr = err
		} else {
			f.storeErr = err
			f.stopErr = err
		}
		return err
	}
	f.stored += n
	if f.ack != nil {
		// Stored (and, with a write-ahead log, on disk): the server may
		// forget these records.
		if _, err := fmt.Fprintf(f.ack, "ack %d\n", f.stored); err != nil && f.readErr == nil {
			f.readErr = err
		}
	}
	return nil
}
