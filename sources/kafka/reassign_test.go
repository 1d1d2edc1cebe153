package kafka_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// savedPosition returns the next offsets of topic in the stream's
// checkpoint position.
func savedPosition(t *testing.T, ds *kafka.DirectStream, topic string) map[int32]int64 {
	t.Helper()
	data, err := ds.SavePosition()
	if err != nil {
		t.Fatalf("SavePosition: %v", err)
	}
	var p struct {
		Next map[string]map[int32]int64 `json:"next"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("SavePosition: %v: %s", err, data)
	}
	return p.Next[topic]
}

// TestDirectStreamLostPartitionsResumeAfterGeneratedRanges: when the
// group forgets the stream's membership (as after a broker restart), the
// partitions are lost and assigned again; they resume after the last
// range the stream generated, not at the group's commit, which lags one
// batch, so every record is in exactly one batch. While the partitions are
// away, the checkpoint position keeps them.
func TestDirectStreamLostPartitionsResumeAfterGeneratedRanges(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"),
		kafka.ClientOptions(kgo.HeartbeatInterval(100*time.Millisecond)))
	j.start()
	want := produceN(c, "t", 2, "a", 10)
	j.stepUntil("the first records", func() bool { return j.count() >= 10 })
	want = append(want, produceN(c, "t", 2, "b", 10)...)
	j.stepUntil("the second records", func() bool { return j.count() >= 20 })
	// The last batch's offsets are committed during the next batch only.
	committed := c.Committed("g")["t"]
	if committed[0] >= 10 || committed[1] >= 10 {
		t.Fatalf("committed = %v: the test needs the group's commit to lag the last batch", committed)
	}

	// The group forgets the member: its next heartbeat fails, franz-go
	// calls OnPartitionsLost and joins again; the joins fail until the
	// test lets them through.
	joins := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.JoinGroup}, Group: "g", TopLevel: true, Err: kerr.UnknownServerError, Count: -1})
	defer joins.Remove()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Heartbeat}, Group: "g", TopLevel: true, Err: kerr.IllegalGeneration})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := joins.Wait(ctx, 1); err != nil { // OnPartitionsLost has run
		t.Fatalf("waiting for the stream to lose its partitions: %v", err)
	}
	for range 2 {
		if err := j.step(); err != nil {
			t.Fatal(err)
		}
	}
	j.mu.Lock()
	if last := j.batches[len(j.batches)-1]; len(last.ranges) != 0 {
		t.Errorf("a batch while out of the group has ranges %v", last.ranges)
	}
	j.mu.Unlock()
	if got, wantPos := savedPosition(t, j.ds, "t"), map[int32]int64{0: 10, 1: 10}; !maps.Equal(got, wantPos) {
		t.Errorf("checkpoint position while the partitions are lost = %v, want %v", got, wantPos)
	}

	joins.Remove()
	want = append(want, produceN(c, "t", 2, "c", 10)...)
	j.stepUntil("the records after the re-assignment", func() bool { return j.count() >= 30 })
	for range 3 { // late duplicates, if any
		if err := j.step(); err != nil {
			t.Fatal(err)
		}
	}
	checkOnce(t, j.records(), want)
	if got, wantPos := savedPosition(t, j.ds, "t"), map[int32]int64{0: 15, 1: 15}; !maps.Equal(got, wantPos) {
		t.Errorf("checkpoint position = %v, want %v", got, wantPos)
	}
}
