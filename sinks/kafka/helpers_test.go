package kafkasink

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// queueJob is a context on a ManualClock whose queue stream is written to
// Kafka by Write.
type queueJob[T any] struct {
	t   *testing.T
	clk *dstream.ManualClock
	ssc *dstream.Context
	q   *dstream.Queue[T]
}

// newQueueJob builds the job; Write's error fails the test.
func newQueueJob[T any](t *testing.T, topic string, opts ...Option) *queueJob[T] {
	t.Helper()
	j := newContextJob[T](t)
	if err := Write(dstream.QueueStream(j.ssc, j.q), topic, opts...); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return j
}

// newEncodedJob is newQueueJob with WriteEncoded.
func newEncodedJob[T any](t *testing.T, topic string, enc Encoder[T], opts ...Option) *queueJob[T] {
	t.Helper()
	j := newContextJob[T](t)
	if err := WriteEncoded(dstream.QueueStream(j.ssc, j.q), topic, enc, opts...); err != nil {
		t.Fatalf("WriteEncoded: %v", err)
	}
	return j
}

// writeTo registers New(topic, enc, opts...) on the job's queue stream
// with spec, and returns the sink; an error fails the test.
func (j *queueJob[T]) writeTo(topic string, enc Encoder[T], spec dstream.WriteSpec[T], opts ...Option) *Sink[T] {
	j.t.Helper()
	out, err := New(topic, enc, opts...)
	if err != nil {
		j.t.Fatalf("New: %v", err)
	}
	if err := dstream.QueueStream(j.ssc, j.q).WriteTo(out, spec); err != nil {
		j.t.Fatalf("WriteTo: %v", err)
	}
	return out
}

// rejectedCounts returns a function that returns the Rejected count of
// each output operation completed so far, in order.
func rejectedCounts(ssc *dstream.Context) func() []int64 {
	var mu sync.Mutex
	var counts []int64
	ssc.AddListener(outputListener(func(o dstream.OutputOperationInfo) {
		mu.Lock()
		defer mu.Unlock()
		counts = append(counts, o.Rejected)
	}))
	return func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(counts)
	}
}

// outputListener adapts a function to dstream.OutputOperationCompletedListener.
type outputListener func(dstream.OutputOperationInfo)

func (f outputListener) OnOutputOperationCompleted(o dstream.OutputOperationInfo) { f(o) }

func newContextJob[T any](t *testing.T) *queueJob[T] {
	t.Helper()
	return newLoggedContextJob[T](t, quiet)
}

// newLoggedContextJob is newContextJob with the context logging to log.
func newLoggedContextJob[T any](t *testing.T, log *slog.Logger) *queueJob[T] {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(log), dstream.WithParallelism(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	return &queueJob[T]{t: t, clk: clk, ssc: ssc, q: dstream.NewQueue[T]()}
}

func (j *queueJob[T]) start() {
	j.t.Helper()
	if err := j.ssc.Start(); err != nil {
		j.t.Fatalf("Start: %v", err)
	}
}

// step runs the next batch and returns its error (the context's, once a
// batch failed).
func (j *queueJob[T]) step() error {
	j.clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a hang guard
	defer cancel()
	return j.ssc.WaitForBatch(ctx, j.clk.Now())
}

// mustStep runs the next batch and fails the test if it fails.
func (j *queueJob[T]) mustStep() {
	j.t.Helper()
	if err := j.step(); err != nil {
		j.t.Fatalf("batch %v: %v", j.clk.Now().UnixMilli(), err)
	}
}

// readTopic returns every record of topic from its start, read with the
// given isolation up to the topic's end (the last stable offsets under
// read_committed), in partition and offset order.
func readTopic(t *testing.T, c *kafkatest.Cluster, topic string, committed bool) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	var ends kadm.ListedOffsets
	var err error
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
		ends, err = adm.ListCommittedOffsets(ctx, topic)
	} else {
		ends, err = adm.ListEndOffsets(ctx, topic)
	}
	if err != nil {
		t.Fatalf("listing the end of %s: %v", topic, err)
	}
	want := map[int32]int64{}
	start := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		want[o.Partition] = o.Offset
		start[o.Partition] = kgo.NewOffset().AtStart()
	})
	cl := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords(), kgo.FetchMaxWait(50*time.Millisecond))
	defer cl.Close()
	pos := map[int32]int64{}
	byPart := map[int32][]*kgo.Record{}
	done := func() bool {
		for p, end := range want {
			if pos[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s (committed=%v): reached %v of %v", topic, committed, pos, want)
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch %s-%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() && r.Offset < want[r.Partition] {
				byPart[r.Partition] = append(byPart[r.Partition], r)
			}
		})
	}
	var out []*kgo.Record
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		out = append(out, byPart[p]...)
	}
	return out
}

// values returns the records' values as strings.
func values(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	return out
}

// fakeSource is an OffsetSource with ranges set by the test per batch time.
type fakeSource struct {
	group  string
	mu     sync.Mutex
	ranges map[int64][]kafka.OffsetRange // batch time (ms) -> ranges
}

func newFakeSource(group string) *fakeSource {
	return &fakeSource{group: group, ranges: map[int64][]kafka.OffsetRange{}}
}

func (f *fakeSource) set(ms int64, rs ...kafka.OffsetRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ranges[ms] = rs
}

func (f *fakeSource) OffsetRanges(t time.Time) []kafka.OffsetRange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ranges[t.UnixMilli()])
}

func (f *fakeSource) ConsumerGroup() string { return f.group }

// fakeMember is a fakeSource that is a member of its group.
type fakeMember struct {
	*fakeSource
	member     string
	generation int32
}

func (f fakeMember) GroupMetadata() (string, int32) { return f.member, f.generation }

func rng(topic string, p int32, from, until int64) kafka.OffsetRange {
	return kafka.OffsetRange{Topic: topic, Partition: p, From: from, Until: until}
}
