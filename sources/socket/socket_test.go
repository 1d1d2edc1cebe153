package socket_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/socket"
)

// The tests run on real time with a short batch interval. They wait for
// conditions with a generous deadline and never assert on elapsed time.
// Only one Context may be active per process, so none is parallel.

const (
	testInterval = 50 * time.Millisecond
	waitLimit    = 10 * time.Second // a hang guard, not a timing assertion
)

var quietLogger = slog.New(slog.DiscardHandler)

// fastBackoff keeps reconnects quick in tests.
var fastBackoff = socket.Backoff(10*time.Millisecond, 50*time.Millisecond)

func newContext(t *testing.T, interval time.Duration, opts ...dstream.Option) *dstream.Context {
	t.Helper()
	all := append([]dstream.Option{
		dstream.WithLogger(quietLogger),
		dstream.WithBlockInterval(10 * time.Millisecond),
	}, opts...)
	ssc, err := dstream.NewContext(interval, all...)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = ssc.Stop(ctx, dstream.Hard)
	})
	return ssc
}

func start(t *testing.T, ssc *dstream.Context) {
	t.Helper()
	if err := ssc.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func stopGracefully(t *testing.T, ssc *dstream.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ssc.Stop(ctx, dstream.Graceful); err != nil {
		t.Fatalf("Stop(Graceful): %v", err)
	}
}

// waitFor polls cond until it holds, or fails the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// collector gathers what an output operation sees.
type collector[T any] struct {
	mu       sync.Mutex
	items    []T
	maxPart  int // the most records in one partition
	maxParts int // the most partitions in one batch
}

func collect[T any](t *testing.T, s *dstream.Stream[T]) *collector[T] {
	t.Helper()
	c := &collector[T]{}
	err := s.ForEachBatch(func(_ context.Context, b *dstream.Batch[T]) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range b.Partitions {
			c.items = append(c.items, p...)
			c.maxPart = max(c.maxPart, len(p))
		}
		c.maxParts = max(c.maxParts, len(b.Partitions))
		return nil
	})
	if err != nil {
		t.Fatalf("ForEachBatch: %v", err)
	}
	return c
}

func (c *collector[T]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

func (c *collector[T]) all() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.items)
}

// errorLog is a dstream.ReceiverErrorListener that keeps what it is told.
type errorLog struct {
	mu    sync.Mutex
	infos []dstream.ReceiverInfo
}

func (l *errorLog) OnReceiverError(info dstream.ReceiverInfo) {
	l.mu.Lock()
	l.infos = append(l.infos, info)
	l.mu.Unlock()
}

// matching returns the reports whose message contains substr.
func (l *errorLog) matching(substr string) []dstream.ReceiverInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []dstream.ReceiverInfo
	for _, info := range l.infos {
		if strings.Contains(info.LastErrorMessage, substr) {
			out = append(out, info)
		}
	}
	return out
}

func (l *errorLog) count(substr string) int { return len(l.matching(substr)) }

// server is a TCP listener on loopback whose connections the test takes
// one by one.
type server struct {
	ln    net.Listener
	conns chan net.Conn
	mu    sync.Mutex
	all   []net.Conn
}

func listen(t *testing.T) *server { return listenOn(t, "127.0.0.1:0") }

func listenOn(t *testing.T, addr string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s := &server{ln: ln, conns: make(chan net.Conn, 64)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.all = append(s.all, conn)
			s.mu.Unlock()
			select {
			case s.conns <- conn:
			default:
				_ = conn.Close()
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.all {
			_ = c.Close()
		}
	})
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

// accept returns the next connection the receiver made.
func (s *server) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case conn := <-s.conns:
		return conn
	case <-time.After(waitLimit):
		t.Fatalf("no connection to %s", s.addr())
		return nil
	}
}

func write(t *testing.T, conn net.Conn, data []byte) {
	t.Helper()
	if _, err := conn.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// lines returns n lines "<prefix><i>" and their bytes, "\n"-terminated.
func lines(prefix string, n int) ([]string, []byte) {
	var want []string
	var b bytes.Buffer
	for i := range n {
		l := fmt.Sprintf("%s%d", prefix, i)
		want = append(want, l)
		b.WriteString(l + "\n")
	}
	return want, b.Bytes()
}

// checkExactly fails unless got is want: every record once, in order.
func checkExactly(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	show := func(s []string) string {
		if i < len(s) {
			return fmt.Sprintf("%.60q", s[i])
		}
		return "(end)"
	}
	t.Fatalf("got %d records, want %d; first difference at %d: got %s, want %s", len(got), len(want), i, show(got), show(want))
}

func TestTextStreamLinesInOrder(t *testing.T) {
	srv := listen(t)
	errs := &errorLog{}
	ssc := newContext(t, testInterval, dstream.WithListener(errs))
	out := collect(t, socket.TextStream(ssc, srv.addr(), fastBackoff))
	start(t, ssc)

	var want []string
	var payload bytes.Buffer
	for i := range 5000 {
		l := fmt.Sprintf("line %d", i)
		want = append(want, l)
		if i%3 == 0 {
			payload.WriteString(l + "\r\n")
		} else {
			payload.WriteString(l + "\n")
		}
	}
	long := strings.Repeat("q", 200_000) // longer than the read buffers
	special := []struct{ sent, want string }{
		{"\n", ""},
		{"\r\n", ""},
		{"caf\xc3\xa9 \xff\xfe\n", "caf\xc3\xa9 \xff\xfe"}, // not UTF-8: passed through
		{"a\rb\r\n", "a\rb"},
		{long + "\r\n", long},
		{"after long\n", "after long"},
		{"tail", "tail"}, // no newline: emitted at EOF
	}
	for _, s := range special {
		payload.WriteString(s.sent)
		want = append(want, s.want)
	}

	conn := srv.accept(t)
	data := payload.Bytes()
	for len(data) > 0 { // odd-sized writes split lines and CRLFs
		n := min(len(data), 7777)
		write(t, conn, data[:n])
		data = data[n:]
	}
	_ = conn.Close()

	waitFor(t, "the closed connection to be reported", func() bool { return errs.count("closed the connection") > 0 })
	waitFor(t, "all lines", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)

	info := errs.matching("closed the connection")[0]
	if want := "socket " + srv.addr(); info.Name != want {
		t.Errorf("receiver name %q, want %q", info.Name, want)
	}
	if !strings.Contains(info.LastErrorMessage, srv.addr()) {
		t.Errorf("message %q does not name the address %s", info.LastErrorMessage, srv.addr())
	}
	if !errors.Is(info.LastError, io.EOF) {
		t.Errorf("error %v, want one wrapping io.EOF", info.LastError)
	}
}

// The acceptance test of reconnecting: the server drops the connection in
// the middle of the stream and keeps listening; every line sent on the new
// connection arrives, and nothing twice.
func TestReconnectAfterServerDropsConnection(t *testing.T) {
	srv := listen(t)
	errs := &errorLog{}
	ssc := newContext(t, testInterval, dstream.WithListener(errs))
	out := collect(t, socket.TextStream(ssc, srv.addr(), fastBackoff))
	start(t, ssc)

	first, data1 := lines("a", 50)
	c1 := srv.accept(t)
	write(t, c1, data1)
	_ = c1.Close() // the listener stays open

	second, data2 := lines("b", 2000)
	c2 := srv.accept(t) // the receiver reconnected
	half := len(data2) / 2
	write(t, c2, data2[:half])
	write(t, c2, data2[half:])
	want := append(slices.Clone(first), second...)

	waitFor(t, "the lines of both connections", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)

	reports := errs.matching("closed the connection")
	if len(reports) == 0 {
		t.Fatal("the listener was not told that the server closed the connection")
	}
	if info := reports[0]; !strings.Contains(info.LastErrorMessage, srv.addr()) || info.LastError == nil {
		t.Errorf("report %q (%v): want the address %s and an error", info.LastErrorMessage, info.LastError, srv.addr())
	}
}

// A connection reset is a read error: reported as one, then the receiver
// reconnects.
func TestReadErrorReportedAndReconnects(t *testing.T) {
	srv := listen(t)
	errs := &errorLog{}
	ssc := newContext(t, testInterval, dstream.WithListener(errs))
	out := collect(t, socket.TextStream(ssc, srv.addr(), fastBackoff))
	start(t, ssc)

	first, data1 := lines("a", 10)
	c1 := srv.accept(t)
	write(t, c1, data1)
	waitFor(t, "the first lines", func() bool { return out.len() >= len(first) })
	if tc, ok := c1.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with a reset
	}
	_ = c1.Close()

	second, data2 := lines("b", 10)
	c2 := srv.accept(t)
	write(t, c2, data2)
	want := append(slices.Clone(first), second...)
	waitFor(t, "the lines of both connections", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)

	reports := errs.matching("read error")
	if len(reports) == 0 {
		t.Fatalf("no read error reported; reports: %v", errs.matching(""))
	}
	if !strings.Contains(reports[0].LastErrorMessage, srv.addr()) {
		t.Errorf("message %q does not name the address %s", reports[0].LastErrorMessage, srv.addr())
	}
}

func TestServerNotUpAtStart(t *testing.T) {
	// A free loopback port with nothing listening on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	errs := &errorLog{}
	ssc := newContext(t, testInterval, dstream.WithListener(errs))
	out := collect(t, socket.TextStream(ssc, addr, socket.Backoff(5*time.Millisecond, 20*time.Millisecond)))
	start(t, ssc)

	waitFor(t, "repeated dial failures", func() bool { return errs.count("cannot connect") >= 3 })
	info := errs.matching("cannot connect")[0]
	if !strings.Contains(info.LastErrorMessage, addr) || info.LastError == nil {
		t.Errorf("report %q (%v): want the address %s and an error", info.LastErrorMessage, info.LastError, addr)
	}

	srv := listenOn(t, addr) // the server comes up
	want, data := lines("x", 100)
	conn := srv.accept(t)
	write(t, conn, data)
	waitFor(t, "the lines", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)
}

// lengthPrefixed reads frames of a 4-byte big-endian length and a payload.
func lengthPrefixed(r io.Reader, emit func(string) error) error {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > 1<<16 {
			return fmt.Errorf("frame of %d bytes is too large", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return err
		}
		if string(payload) == "panic" {
			panic("converter test panic")
		}
		if err := emit(string(payload)); err != nil {
			return err
		}
	}
}

func frames(prefix string, n int) ([]string, []byte) {
	var want []string
	var b []byte
	for i := range n {
		p := fmt.Sprintf("%s%d", prefix, i)
		want = append(want, p)
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return want, b
}

func TestConverterLengthPrefixed(t *testing.T) {
	srv := listen(t)
	errs := &errorLog{}
	ssc := newContext(t, testInterval, dstream.WithListener(errs))
	out := collect(t, socket.Stream(ssc, srv.addr(), socket.Converter[string](lengthPrefixed), fastBackoff))
	start(t, ssc)

	// A bad header after good frames: the frames before it arrive, the
	// converter's error is reported, and the receiver reconnects.
	first, data1 := frames("f", 100)
	data1 = binary.BigEndian.AppendUint32(data1, math.MaxUint32)
	data1 = append(data1, "junk"...)
	c1 := srv.accept(t)
	write(t, c1, data1)

	// A panicking converter is reported too.
	second, data2 := frames("g", 100)
	data2 = binary.BigEndian.AppendUint32(data2, 5)
	data2 = append(data2, "panic"...)
	c2 := srv.accept(t)
	write(t, c2, data2)

	third, data3 := frames("h", 100)
	c3 := srv.accept(t)
	write(t, c3, data3)

	want := slices.Concat(first, second, third)
	waitFor(t, "the frames of all connections", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)

	reports := errs.matching("converter error")
	if len(reports) < 2 {
		t.Fatalf("%d converter errors reported, want 2", len(reports))
	}
	if info := reports[0]; !strings.Contains(info.LastErrorMessage, srv.addr()) || !strings.Contains(fmt.Sprint(info.LastError), "too large") {
		t.Errorf("report %q (%v): want the address %s and the converter's error", info.LastErrorMessage, info.LastError, srv.addr())
	}
	var pe *dstream.PanicError
	if !errors.As(reports[1].LastError, &pe) {
		t.Errorf("second report %v: want a *dstream.PanicError", reports[1].LastError)
	}
}

func TestTooLongLineSkipped(t *testing.T) {
	srv := listen(t)
	errs := &errorLog{}
	ssc := newContext(t, testInterval, dstream.WithListener(errs))
	out := collect(t, socket.TextStream(ssc, srv.addr(), socket.MaxLineBytes(16), fastBackoff))
	start(t, ssc)

	exact := strings.Repeat("y", 16)
	payload := "ok1\n" +
		strings.Repeat("x", 17) + "\n" + // one byte over: skipped
		exact + "\r\n" + // at the limit, CRLF: kept
		strings.Repeat("z", 200_000) + "\n" + // over several buffers: skipped
		"ok2\n" +
		strings.Repeat("w", 17) + "\r\n" + // over the limit, CRLF: skipped
		exact + "\n" +
		"ok3\n" +
		strings.Repeat("t", 50) // too long at EOF: skipped
	want := []string{"ok1", exact, "ok2", exact, "ok3"}

	conn := srv.accept(t)
	write(t, conn, []byte(payload))
	_ = conn.Close()

	waitFor(t, "the closed connection to be reported", func() bool { return errs.count("closed the connection") > 0 })
	waitFor(t, "the good lines", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)

	reports := errs.matching("longer than")
	if len(reports) != 4 {
		t.Fatalf("%d too-long lines reported, want 4", len(reports))
	}
	info := reports[0]
	if !errors.Is(info.LastError, socket.ErrLineTooLong) {
		t.Errorf("error %v, want socket.ErrLineTooLong", info.LastError)
	}
	if !strings.Contains(info.LastErrorMessage, srv.addr()) || !strings.Contains(info.LastErrorMessage, "16 bytes") {
		t.Errorf("message %q: want the address %s and the limit", info.LastErrorMessage, srv.addr())
	}
}

// checkBuildError fails unless err is a *dstream.BuildError wrapping
// dstream.ErrInvalidOption that names addr.
func checkBuildError(t *testing.T, what string, err error, addr string) {
	t.Helper()
	var be *dstream.BuildError
	if !errors.Is(err, dstream.ErrInvalidOption) || !errors.As(err, &be) {
		t.Fatalf("%s: %v, want a *dstream.BuildError wrapping dstream.ErrInvalidOption", what, err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%q", addr)) {
		t.Errorf("%s: %v, want the address %q in it", what, err, addr)
	}
}

func TestInvalidConfiguration(t *testing.T) {
	const good = "127.0.0.1:9"
	cases := []struct {
		name string
		addr string
		opts []socket.Option
	}{
		{"empty address", "", nil},
		{"no port", "localhost", nil},
		{"empty port", "127.0.0.1:", nil},
		{"unknown port", "127.0.0.1:no-such-service", nil},
		{"port 0", "127.0.0.1:0", nil},
		{"port out of range", "127.0.0.1:70000", nil},
		{"bad brackets", "[::1:80", nil},
		{"zero backoff", good, []socket.Option{socket.Backoff(0, time.Second)}},
		{"backoff max below min", good, []socket.Option{socket.Backoff(time.Second, time.Millisecond)}},
		{"zero dial timeout", good, []socket.Option{socket.DialTimeout(0)}},
		{"zero max line", good, []socket.Option{socket.MaxLineBytes(0)}},
		{"nil dialer", good, []socket.Option{socket.Dialer(nil)}},
		{"NaN rate", good, []socket.Option{socket.MaxRate(math.NaN())}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int32
			dialer := socket.Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return nil, errors.New("must not dial")
			})
			ssc := newContext(t, testInterval)
			s := socket.TextStream(ssc, tc.addr, append([]socket.Option{dialer}, tc.opts...)...)
			checkBuildError(t, "Err", s.Err(), tc.addr)
			err := s.ForEachBatch(func(context.Context, *dstream.Batch[string]) error { return nil })
			checkBuildError(t, "ForEachBatch", err, tc.addr)
			checkBuildError(t, "Start", ssc.Start(), tc.addr)
			if n := dials.Load(); n != 0 {
				t.Errorf("dialed %d times with an invalid configuration", n)
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		ssc := newContext(t, testInterval)
		opts := []socket.Option{
			socket.Backoff(time.Millisecond, time.Millisecond), socket.DialTimeout(time.Second),
			socket.MaxLineBytes(1), socket.MaxRate(0), socket.MaxRate(-1), nil,
		}
		for _, addr := range []string{"127.0.0.1:9999", "localhost:http", "[::1]:80", ":9999"} {
			if err := socket.TextStream(ssc, addr, opts...).Err(); err != nil {
				t.Errorf("TextStream(%q): %v", addr, err)
			}
		}
	})

	t.Run("nil converter", func(t *testing.T) {
		ssc := newContext(t, testInterval)
		s := socket.Stream[string](ssc, good, nil)
		checkBuildError(t, "Err", s.Err(), good)
		if err := s.Err(); !errors.Is(err, dstream.ErrNilFunc) {
			t.Errorf("Err: %v, want dstream.ErrNilFunc too", err)
		}
		checkBuildError(t, "Start", ssc.Start(), good)
	})

	t.Run("nil context", func(t *testing.T) {
		for _, s := range []*dstream.Stream[string]{
			socket.TextStream(nil, good),
			socket.TextStream(nil, ""),
			socket.Stream[string](nil, good, nil),
		} {
			if err := s.Err(); !errors.Is(err, dstream.ErrInvalidOption) {
				t.Errorf("Err: %v, want dstream.ErrInvalidOption (nil context)", err)
			}
		}
	})
}

// watchConn tells when the receiver reads again after it has read want
// bytes: by then it has stored every record in them.
type watchConn struct {
	net.Conn
	want int64
	read atomic.Int64
	once sync.Once
	idle chan struct{}
}

func (c *watchConn) Read(p []byte) (int, error) {
	if c.read.Load() >= c.want {
		c.once.Do(func() { close(c.idle) })
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// Lines the receiver has stored when a graceful stop starts all reach the
// output, even though no batch has taken them yet.
func TestGracefulStopKeepsReceivedLines(t *testing.T) {
	srv := listen(t)
	want, data := lines("line", 5000)
	conns := make(chan *watchConn, 1)
	dialer := socket.Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		wc := &watchConn{Conn: conn, want: int64(len(data)), idle: make(chan struct{})}
		select {
		case conns <- wc:
		default:
		}
		return wc, nil
	})
	// A long batch interval, so the lines are still waiting for a batch
	// when the stop begins.
	ssc := newContext(t, time.Second)
	out := collect(t, socket.TextStream(ssc, srv.addr(), dialer))
	start(t, ssc)

	conn := srv.accept(t)
	write(t, conn, data) // and keep the connection open
	var wc *watchConn
	select {
	case wc = <-conns:
	case <-time.After(waitLimit):
		t.Fatal("the dialer was not called")
	}
	select {
	case <-wc.idle:
	case <-time.After(waitLimit):
		t.Fatalf("the receiver read %d of %d bytes", wc.read.Load(), len(data))
	}
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)
}

// Lines that trickle in, a read each, go into the engine's blocks, cut on
// the block interval (10 ms at 50 ms batches), not a block per read: a
// batch has a handful of partitions, not one per line.
func TestTricklingLinesCutOnTheBlockInterval(t *testing.T) {
	srv := listen(t)
	ssc := newContext(t, testInterval)
	out := collect(t, socket.TextStream(ssc, srv.addr(), fastBackoff))
	start(t, ssc)
	conn := srv.accept(t)
	var want []string
	for i := range 400 {
		l := fmt.Sprintf("drip %d", i)
		want = append(want, l)
		write(t, conn, []byte(l+"\n"))
		time.Sleep(250 * time.Microsecond)
	}
	waitFor(t, "the lines", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)
	out.mu.Lock()
	defer out.mu.Unlock()
	// A block per block tick and one at the batch's cut is 6; a late
	// batch tick under load may add a few more, never one per line.
	if out.maxParts > 15 {
		t.Errorf("a batch has %d partitions, want at most 15 (blocks cut on the block interval, not per read)", out.maxParts)
	}
}

// Under a rate limit the receiver stores small slices (about 100 ms worth
// of records), so the limiter spaces them evenly.
func TestMaxRateStoresSmallSlices(t *testing.T) {
	srv := listen(t)
	ssc := newContext(t, testInterval)
	out := collect(t, socket.TextStream(ssc, srv.addr(), socket.MaxRate(200)))
	start(t, ssc)
	want, data := lines("r", 60)
	conn := srv.accept(t)
	write(t, conn, data)
	waitFor(t, "the lines", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)
	if out.maxPart > 20 {
		t.Errorf("a partition has %d records, want at most 20 at 200 records/s", out.maxPart)
	}
}

// TestAcknowledge: with Acknowledge the receiver writes "ack N" after each
// stored block, N counting the records stored from the connection; the last
// acknowledgement covers every line, and each is no lower than the one
// before.
func TestAcknowledge(t *testing.T) {
	srv := listen(t)
	ssc := newContext(t, testInterval)
	out := collect(t, socket.TextStream(ssc, srv.addr(), fastBackoff, socket.Acknowledge()))
	start(t, ssc)
	want, data := lines("a", 3000)
	conn := srv.accept(t)
	acks := make(chan int, 10000)
	go func() {
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			var n int
			if _, err := fmt.Sscanf(sc.Text(), "ack %d", &n); err != nil {
				t.Errorf("bad acknowledgement %q", sc.Text())
				return
			}
			acks <- n
		}
		close(acks)
	}()
	write(t, conn, data)
	last := 0
	deadline := time.After(10 * time.Second)
	for last < len(want) {
		select {
		case n, ok := <-acks:
			if !ok {
				t.Fatalf("the connection ended at ack %d", last)
			}
			if n < last {
				t.Fatalf("ack %d after ack %d", n, last)
			}
			last = n
		case <-deadline:
			t.Fatalf("acknowledged %d of %d lines", last, len(want))
		}
	}
	if last != len(want) {
		t.Errorf("last ack %d, want %d", last, len(want))
	}
	waitFor(t, "the lines", func() bool { return out.len() >= len(want) })
	stopGracefully(t, ssc)
	checkExactly(t, out.all(), want)
}
