package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/socket"
)

// drain is how long a latency run waits after the feed has ended for the
// last records to come out.
const drain = 500 * time.Millisecond

// oursLatency runs a word count at a spec.Interval batch interval on the
// system clock with default options, reading the feed with the socket
// source; a second output operation, run after the count's, records each
// line's latency. A listener records how late each batch started after
// its tick (schedDelays).
func oursLatency(spec benchkit.Spec) (benchkit.Result, error) {
	feed, err := benchkit.StartFeed(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	delays := &schedDelays{}
	ssc, err := dstream.NewContext(spec.Interval, dstream.WithLogger(quiet), dstream.WithListener(delays))
	if err != nil {
		return benchkit.Result{}, fmt.Errorf("new context: %w", err)
	}
	lines := socket.TextStream(ssc, feed.Addr)
	lat := &benchkit.Latencies{}
	keys, err := stampedWordCount(lines, func(l string) string { return l }, lat)
	if err != nil {
		return benchkit.Result{}, err
	}
	if err := ssc.Start(); err != nil {
		return benchkit.Result{}, fmt.Errorf("start: %w", err)
	}
	ferr := feed.Wait(spec.Duration + 30*time.Second)
	time.Sleep(drain)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ssc.Stop(ctx, dstream.Hard); err != nil {
		return benchkit.Result{}, fmt.Errorf("stop: %w", err)
	}
	if ferr != nil {
		return benchkit.Result{}, ferr
	}
	res := lat.Result(feed)
	res.Notes = append(res.Notes, fmt.Sprintf("%d counts output", *keys))
	delays.growth(&res, spec.Interval)
	return res, nil
}

// stampedWordCount builds the engine's side of the latency runs on s,
// whose elements carry feed lines ("<send time> <words>"): a word count,
// whose output adds the counts it saw to *keys, then a second output
// operation recording each line's latency in lat.
func stampedWordCount[T any](s *dstream.Stream[T], line func(T) string, lat *benchkit.Latencies) (keys *int, err error) {
	type stamped struct {
		sent  int64
		words string
	}
	parsed := dstream.Map(s, func(x T) stamped {
		sent, words, _ := benchkit.ParseStamp(line(x))
		return stamped{sent, words}
	})
	counts := dstream.ReduceByKey(dstream.Map(dstream.FlatMap(parsed, func(s stamped) []string { return strings.Fields(s.words) }), wordPair), add)
	keys = new(int)
	if err := counts.ForEachBatch(func(_ context.Context, b *dstream.Batch[dstream.Pair[string, int]]) error {
		*keys += b.Len()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("build job: %w", err)
	}
	if err := dstream.Map(parsed, func(s stamped) int64 { return s.sent }).ForEachBatch(func(_ context.Context, b *dstream.Batch[int64]) error {
		lat.Add(b.Collect(), time.Now())
		return nil
	}); err != nil {
		return nil, fmt.Errorf("build job: %w", err)
	}
	return keys, nil
}

// baselineLatency is the hand-written loop: a goroutine reads the
// socket's lines into a buffer; a spec.Interval ticker takes the buffer, counts
// its words and records each line's latency.
func baselineLatency(spec benchkit.Spec) (benchkit.Result, error) {
	feed, err := benchkit.StartFeed(spec)
	if err != nil {
		return benchkit.Result{}, err
	}
	conn, err := net.Dial("tcp", feed.Addr)
	if err != nil {
		return benchkit.Result{}, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var buf []string
	go func() {
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			mu.Lock()
			buf = append(buf, sc.Text())
			mu.Unlock()
		}
	}()
	fed := make(chan error, 1)
	go func() { fed <- feed.Wait(spec.Duration + 30*time.Second) }()
	lat := &benchkit.Latencies{}
	return countEvery(spec.Interval, fed, &mu, &buf, lat, func() benchkit.Result { return lat.Result(feed) })
}

// countEvery is the hand-written ticker loop of the latency baselines:
// every interval it takes the lines read so far from *buf (guarded by mu),
// counts their words and records each line's latency in lat, until drain
// after fed has reported the end of the feed; then it returns result(),
// noting the counts output.
func countEvery(interval time.Duration, fed <-chan error, mu *sync.Mutex, buf *[]string, lat *benchkit.Latencies, result func() benchkit.Result) (benchkit.Result, error) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var deadline <-chan time.Time
	var ferr error
	keys := 0
	for {
		select {
		case ferr = <-fed:
			deadline = time.After(drain)
			continue
		case <-deadline:
			if ferr != nil {
				return benchkit.Result{}, ferr
			}
			res := result()
			res.Notes = append(res.Notes, fmt.Sprintf("%d counts output", keys))
			return res, nil
		case <-ticker.C:
		}
		mu.Lock()
		lines := *buf
		*buf = nil
		mu.Unlock()
		counts := map[string]int{}
		sent := make([]int64, len(lines))
		for i, l := range lines {
			s, words, err := benchkit.ParseStamp(l)
			if err != nil {
				return benchkit.Result{}, err
			}
			sent[i] = s
			for _, w := range strings.Fields(words) {
				counts[w]++
			}
		}
		keys += len(counts)
		lat.Add(sent, time.Now())
	}
}
