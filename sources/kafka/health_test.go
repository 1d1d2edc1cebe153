package kafka_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDirectStreamStartChecks(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	silent := kafkatest.SilentBroker(t)
	tp := func(p int32) kafka.TopicPartition { return kafka.TopicPartition{Topic: "t", Partition: p} }
	for _, tc := range []struct {
		name     string
		strategy kafka.Strategy
		brokers  []string
		timeout  time.Duration // the start timeout; 0: the default
		want     string        // Start's error; "": none
		check    string        // the StartError's Check
		is       error         // a cause the error wraps
	}{
		{name: "reachable", strategy: kafka.Subscribe("t"), brokers: c.Addrs},
		{name: "one seed of two reachable", strategy: kafka.Subscribe("t"), brokers: []string{"127.0.0.1:1", c.Addrs[0]}},
		{name: "pattern", strategy: kafka.SubscribePattern(`nothing-.*`), brokers: c.Addrs},
		{name: "assigned partitions", strategy: kafka.Assign(tp(0), tp(1)), brokers: c.Addrs},
		{
			name: "unreachable", strategy: kafka.Subscribe("t"), brokers: []string{"127.0.0.1:1"},
			check: "kafka brokers 127.0.0.1:1",
			want:  "kafka brokers 127.0.0.1:1: no broker reachable: dial tcp 127.0.0.1:1: connect: connection refused",
		},
		{
			name: "pattern, unreachable", strategy: kafka.SubscribePattern(`t`), brokers: []string{"127.0.0.1:1"},
			check: "kafka brokers 127.0.0.1:1",
			want:  "kafka brokers 127.0.0.1:1: no broker reachable: dial tcp 127.0.0.1:1: connect: connection refused",
		},
		{
			name: "no answer", strategy: kafka.Subscribe("t"), brokers: []string{silent}, timeout: 500 * time.Millisecond,
			check: "kafka brokers " + silent,
			want:  "kafka brokers " + silent + ": no answer within 500ms",
		},
		{
			name: "missing topic", strategy: kafka.Subscribe("t", "nope"), brokers: c.Addrs,
			check: "kafka topic nope", want: "kafka topic nope: topic does not exist", is: kerr.UnknownTopicOrPartition,
		},
		{
			name: "missing assigned topic", strategy: kafka.Assign(tp(0), kafka.TopicPartition{Topic: "nope"}), brokers: c.Addrs,
			check: "kafka topic nope", want: "kafka topic nope: topic does not exist", is: kerr.UnknownTopicOrPartition,
		},
		{
			name: "missing partition", strategy: kafka.Assign(tp(0), tp(5)), brokers: c.Addrs,
			check: "kafka topic t", want: "kafka topic t: partition 5 does not exist (the topic has 2)", is: kerr.UnknownTopicOrPartition,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []dstream.Option{dstream.WithLogger(quiet), dstream.WithClock(dstream.NewManualClock(time.UnixMilli(0)))}
			if tc.timeout > 0 {
				opts = append(opts, dstream.WithStartTimeout(tc.timeout))
			}
			ssc, err := dstream.NewContext(time.Second, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
			ds := kafka.NewDirectStream(ssc, tc.strategy, kafka.Brokers(tc.brokers...), kafka.Group("g"))
			ds.Stream().Print()
			start := time.Now()
			err = ssc.Start()
			took := time.Since(start)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				return
			}
			var se *dstream.StartError
			if !errors.As(err, &se) || se.Check != tc.check || err.Error() != tc.want {
				t.Fatalf("Start = %v, want a *dstream.StartError %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Start's error does not wrap %v", tc.is)
			}
			if limit := max(tc.timeout, 0) + 2*time.Second; took > limit {
				t.Errorf("Start took %v, over %v", took, limit)
			}
		})
	}
}

// batchInfos records the BatchInfo of every completed batch.
type batchInfos struct {
	mu  sync.Mutex
	all map[int64]dstream.BatchInfo
}

func (l *batchInfos) OnBatchCompleted(b dstream.BatchInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.all == nil {
		l.all = map[int64]dstream.BatchInfo{}
	}
	l.all[b.BatchTime.UnixNano()] = b
}

// degraded returns the degraded components of the batch at t, by name,
// waiting for its BatchInfo at most 10 s.
func (l *batchInfos) degraded(t *testing.T, at time.Time) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		b, ok := l.all[at.UnixNano()]
		l.mu.Unlock()
		if ok {
			out := map[string]string{}
			for _, d := range b.Degraded {
				out[d.Component] = d.Err.Error()
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no BatchInfo for the batch at %v", at)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stepUntilDegraded runs batches until cond holds for the degraded
// components of the last one, and returns them.
func (j *job) stepUntilDegraded(l *batchInfos, what string, cond func(map[string]string) bool) map[string]string {
	j.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := j.step(); err != nil {
			j.t.Fatalf("batch: %v", err)
		}
		got := l.degraded(j.t, j.clock.Now())
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("timed out waiting for %s; degraded: %v", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restartableBroker is a one-broker cluster with topic t (2 partitions)
// whose data is kept in a directory, so that it can be closed and started
// again on the same port with its data.
type restartableBroker struct {
	*kafkatest.Cluster
	dir     string
	port    int
	brokers string // its health component: "kafka brokers <addr>"
}

func newRestartableBroker(t *testing.T) *restartableBroker {
	t.Helper()
	dir := t.TempDir()
	c := kafkatest.New(t, map[string]int32{"t": 2}, kfake.DataDir(dir))
	_, port, err := net.SplitHostPort(c.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return &restartableBroker{Cluster: c, dir: dir, port: p, brokers: "kafka brokers " + c.Addrs[0]}
}

// restart starts the closed broker again.
func (b *restartableBroker) restart(t *testing.T) {
	t.Helper()
	b.Cluster = kafkatest.New(t, map[string]int32{"t": 2}, kfake.DataDir(b.dir), kfake.Ports(b.port))
}

// TestDirectStreamReportsBrokerOutage: while the broker is down, the
// batches report "kafka brokers <list>" degraded; when it is back on the
// same port (with its data), the report clears, and every record produced
// before, during and after is in exactly one batch, although the restarted
// broker forgot the group's member (its partitions are lost and assigned
// again).
func TestDirectStreamReportsBrokerOutage(t *testing.T) {
	c := newRestartableBroker(t)
	brokers := c.brokers
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"), kafka.RequestTimeout(500*time.Millisecond),
		kafka.ClientOptions(kgo.HeartbeatInterval(100*time.Millisecond)))
	l := &batchInfos{}
	j.ssc.AddListener(l)
	j.start()
	want := produceN(c.Cluster, "t", 2, "a", 10)
	j.stepUntil("the first records", func() bool { return j.count() >= 10 })
	if got := l.degraded(t, j.clock.Now()); len(got) != 0 {
		t.Fatalf("degraded before the outage: %v", got)
	}
	want = append(want, produceN(c.Cluster, "t", 2, "b", 10)...)
	j.stepUntil("the second records", func() bool { return j.count() >= 20 })

	c.Close()
	got := j.stepUntilDegraded(l, "the outage to be reported", func(d map[string]string) bool { return d[brokers] != "" })
	t.Logf("degraded: %v", got)

	c.restart(t)
	want = append(want, produceN(c.Cluster, "t", 2, "c", 10)...)
	j.stepUntilDegraded(l, "the recovery", func(d map[string]string) bool { return len(d) == 0 })
	j.stepUntil("the records after the outage", func() bool { return j.count() >= 30 })
	for range 3 { // late duplicates, if any
		if err := j.step(); err != nil {
			t.Fatal(err)
		}
	}
	checkOnce(t, j.records(), want)
	if got := l.degraded(t, j.clock.Now()); len(got) != 0 {
		t.Errorf("degraded after the recovery: %v", got)
	}
}

// TestDirectStreamTenMillisecondBatchesReportBrokerOutage: under 100 ms
// batches, where the offsets are listed in the background rather than per
// batch (which clears the reports), a broker outage is reported degraded
// until the broker is back, and every record is read once.
func TestDirectStreamTenMillisecondBatchesReportBrokerOutage(t *testing.T) {
	c := newRestartableBroker(t)
	j := startRealTimeJob(t, 10*time.Millisecond, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g10"),
		kafka.RequestTimeout(500*time.Millisecond), kafka.ClientOptions(kgo.HeartbeatInterval(100*time.Millisecond)))
	waitFor := func(what string, ok func(d map[string]string, n int) bool) map[string]string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			j.mu.Lock()
			d, n := j.degraded, len(j.got)
			j.mu.Unlock()
			if d != nil && ok(d, n) {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; degraded: %v, %d records", what, d, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	want := produceN(c.Cluster, "t", 2, "a", 10)
	waitFor("the first records", func(d map[string]string, n int) bool { return n >= 10 && len(d) == 0 })

	c.Close()
	d := waitFor("the outage to be reported", func(d map[string]string, _ int) bool { return d[c.brokers] != "" })
	t.Logf("degraded: %v", d)
	c.restart(t)
	want = append(want, produceN(c.Cluster, "t", 2, "b", 10)...)
	waitFor("the recovery and the records after it", func(d map[string]string, n int) bool { return n >= 20 && len(d) == 0 })
	if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	checkOnce(t, j.got, want)
}

// TestDirectStreamReportsMissingTopic: a subscribed topic that is deleted
// is reported degraded ("kafka topic <name>: topic does not exist") until
// it exists again; the other topic is not.
func TestDirectStreamReportsMissingTopic(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1, "u": 1})
	j := newJob(t, kafka.Subscribe("t", "u"), kafka.Brokers(c.Addrs...), kafka.Group("g"))
	l := &batchInfos{}
	j.ssc.AddListener(l)
	j.start()
	j.stepUntil("the assignment", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return len(j.batches) > 0 && len(j.batches[len(j.batches)-1].ranges) == 2
	})
	adm := kadm.NewClient(c.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopics(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	got := j.stepUntilDegraded(l, "the missing topic to be reported", func(d map[string]string) bool { return len(d) > 0 })
	if want := map[string]string{"kafka topic u": "topic does not exist"}; !maps.Equal(got, want) {
		t.Errorf("degraded = %v, want %v", got, want)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "u"); err != nil {
		t.Fatal(err)
	}
	j.stepUntilDegraded(l, "the recovery", func(d map[string]string) bool { return len(d) == 0 })
}

// TestDirectStreamReportsUnresponsiveBroker: a broker that reads requests
// and answers none is reported as not answering within RequestTimeout,
// until it answers again.
func TestDirectStreamReportsUnresponsiveBroker(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	brokers := "kafka brokers " + c.Addrs[0]
	// A request that got no answer gives up after a second more than its
	// own timeout rather than franz-go's default 10 s, so the client
	// recovers sooner once the broker answers again.
	j := newJob(t, kafka.Assign(kafka.TopicPartition{Topic: "t"}), kafka.Brokers(c.Addrs...), kafka.RequestTimeout(300*time.Millisecond),
		kafka.ClientOptions(kgo.RequestTimeoutOverhead(time.Second)))
	l := &batchInfos{}
	j.ssc.AddListener(l)
	j.start()
	want := produceN(c, "t", 1, "a", 5)
	j.stepUntil("the first records", func() bool { return j.count() >= 5 })

	var muted atomic.Bool
	muted.Store(true)
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		if !muted.Load() {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		return nil, nil, true
	})
	// The next batch reports it: its offset listing gets no answer.
	if err := j.step(); err != nil {
		t.Fatal(err)
	}
	got := l.degraded(t, j.clock.Now())
	if want := map[string]string{brokers: "no answer within 300ms (RequestTimeout)"}; !maps.Equal(got, want) {
		t.Errorf("degraded = %v, want %v", got, want)
	}
	muted.Store(false)
	want = append(want, produceN(c, "t", 1, "b", 5)...)
	t0 := time.Now()
	j.stepUntilDegraded(l, "the recovery", func(d map[string]string) bool { return len(d) == 0 })
	j.stepUntil("the records after the outage", func() bool { return j.count() >= 10 })
	t.Logf("recovered and read after %v", time.Since(t0).Round(time.Millisecond))
	checkOnce(t, j.records(), want)
}

// TestDirectStreamReportsFailedCommits: while the group refuses offset
// commits, the batches report "kafka commits to group g" degraded; once a
// commit succeeds again the report clears, and the group's offsets catch
// up with what the batches read.
func TestDirectStreamReportsFailedCommits(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	produceN(c, "t", 2, "a", 20)
	var refuse atomic.Bool
	refuse.Store(true)
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.GroupAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"))
	l := &batchInfos{}
	j.ssc.AddListener(l)
	j.start()
	j.stepUntil("the records", func() bool { return j.count() >= 20 })
	got := j.stepUntilDegraded(l, "failed commits reported", func(d map[string]string) bool {
		return strings.Contains(d["kafka commits to group g"], "GROUP_AUTHORIZATION_FAILED")
	})
	t.Logf("degraded: %v", got)
	if n := c.Committed("g")["t"]; n[0]+n[1] != 0 {
		t.Fatalf("committed %v while the group refuses commits", n)
	}
	refuse.Store(false)
	j.stepUntilDegraded(l, "the report cleared", func(d map[string]string) bool {
		_, ok := d["kafka commits to group g"]
		return !ok
	})
	want := map[int32]int64{0: 10, 1: 10}
	if got := c.Committed("g")["t"]; !maps.Equal(got, want) {
		t.Errorf("committed %v after commits resumed, want %v", got, want)
	}
}
