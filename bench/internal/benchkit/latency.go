package benchkit

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LatencyWarmup is the start of a latency run that is not measured.
const LatencyWarmup = time.Second

// Feed is the latency scenario's input: a TCP server on a loopback port
// that, once one client has connected, sends lines "<send time in Unix
// ns> <words>" at a steady rate for a duration, then closes the
// connection.
type Feed struct {
	// Addr is the server's host:port.
	Addr string
	ln   net.Listener
	done chan struct{}

	mu         sync.Mutex
	start, end time.Time
	measured   int // lines sent after the warm-up
	err        error
}

// StartFeed starts the server; the lines are spec.PerLine words from the
// corpus of spec.Seed, sent at spec.Rate lines/s for spec.Duration.
func StartFeed(spec Spec) (*Feed, error) {
	if spec.Rate <= 0 || spec.Duration <= LatencyWarmup {
		return nil, fmt.Errorf("latency: rate %d must be positive and duration %v longer than %v", spec.Rate, spec.Duration, LatencyWarmup)
	}
	c := Words(10_000, spec.PerLine, spec.Distinct, spec.Seed)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	f := &Feed{Addr: ln.Addr().String(), ln: ln, done: make(chan struct{})}
	go f.serve(c.Lines, spec.Rate, spec.Duration)
	return f, nil
}

func (f *Feed) serve(lines []string, rate int, d time.Duration) {
	defer close(f.done)
	defer f.ln.Close()
	conn, err := f.ln.Accept()
	if err != nil {
		f.fail(fmt.Errorf("accept: %w", err))
		return
	}
	defer conn.Close()
	w := bufio.NewWriterSize(conn, 64<<10)
	start := time.Now()
	warm := start.Add(LatencyWarmup)
	f.mu.Lock()
	f.start = start
	f.mu.Unlock()
	sent, measured := 0, 0
	buf := make([]byte, 0, 32)
	for {
		now := time.Now()
		elapsed := now.Sub(start)
		if elapsed >= d {
			break
		}
		due := int(elapsed.Seconds() * float64(rate))
		stamp := strconv.AppendInt(buf[:0], now.UnixNano(), 10)
		for ; sent < due; sent++ {
			w.Write(stamp)
			w.WriteByte(' ')
			w.WriteString(lines[sent%len(lines)])
			w.WriteByte('\n')
			if !now.Before(warm) {
				measured++
			}
		}
		if err := w.Flush(); err != nil {
			f.fail(fmt.Errorf("send: %w", err))
			return
		}
		time.Sleep(time.Millisecond)
	}
	f.mu.Lock()
	f.end, f.measured = time.Now(), measured
	f.mu.Unlock()
}

func (f *Feed) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// Wait waits until the feed has sent everything, or gives up after
// timeout.
func (f *Feed) Wait(timeout time.Duration) error {
	select {
	case <-f.done:
	case <-time.After(timeout):
		f.ln.Close()
		return errors.New("latency feed: no client or still sending")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// ParseStamp splits a feed line into its send time and its words.
func ParseStamp(line string) (sent int64, words string, err error) {
	ts, words, _ := strings.Cut(line, " ")
	sent, err = strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("feed line %.40q: %w", line, err)
	}
	return sent, words, nil
}

// Latencies collects the latency of every record output: from its send
// time to the moment the output saw it. It is safe for concurrent use.
type Latencies struct {
	mu   sync.Mutex
	sent []int64
	lat  []int64
}

// Add records that a record sent at sent (Unix ns) was output at now.
func (l *Latencies) Add(sent []int64, now time.Time) {
	n := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range sent {
		l.sent = append(l.sent, s)
		l.lat = append(l.lat, n-s)
	}
}

// Result returns the latencies of the records sent after the feed's
// warm-up: their number over the measured time as the rate, and their
// median, 99th percentile and maximum in milliseconds. It notes how many
// records sent were never output.
func (l *Latencies) Result(f *Feed) Result {
	f.mu.Lock()
	from, to, want := f.start.Add(LatencyWarmup), f.end, f.measured
	f.mu.Unlock()
	return l.Between(from, to, want)
}

// Between returns the latencies of the records sent from from on, as
// Result does for a Feed: their number over the time to to as the rate,
// their median, 99th percentile and maximum, and how many of want were
// never output.
func (l *Latencies) Between(from, to time.Time, want int) Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ms []float64
	for i, s := range l.sent {
		if s >= from.UnixNano() {
			ms = append(ms, float64(l.lat[i])/1e6)
		}
	}
	slices.Sort(ms)
	res := Result{Records: int64(len(ms)), Seconds: to.Sub(from).Seconds(), Passes: 1}
	if len(ms) > 0 {
		res.Metrics = map[string]float64{
			"p50_ms": Percentile(ms, 50), "p99_ms": Percentile(ms, 99), "max_ms": ms[len(ms)-1],
		}
		res.Notes = append(res.Notes, fmt.Sprintf("max=%.1fms", ms[len(ms)-1]))
	}
	if lost := want - len(ms); lost != 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d of %d records not output", lost, want))
	}
	return res
}
