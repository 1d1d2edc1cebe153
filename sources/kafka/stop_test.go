package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stopSlack is what stopping a context may take beyond the stream's
// StopTimeout.
const stopSlack = 1500 * time.Millisecond

// silentMember makes a member join group for topic, with a session and
// rebalance timeout of a minute, and then go silent, as a job killed with
// SIGKILL does: until the group times it out, a rebalance waits for it.
func silentMember(t *testing.T, c *kafkatest.Cluster, group, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Client()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name = "cooperative-sticky" // franz-go's default balancer
	proto.Metadata = meta.AppendTo(nil)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = group
	join.SessionTimeoutMillis = 60_000
	join.RebalanceTimeoutMillis = 60_000
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{proto}
	var joined *kmsg.JoinGroupResponse
	for joined == nil {
		resp, err := join.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("JoinGroup: %v", err)
		}
		switch err := kerr.ErrorForCode(resp.ErrorCode); err {
		case nil:
			joined = resp
		case kerr.MemberIDRequired:
			join.MemberID = resp.MemberID
		default:
			t.Fatalf("JoinGroup: %v", err)
		}
	}
	assignment := kmsg.NewConsumerMemberAssignment()
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID = joined.MemberID
	sa.MemberAssignment = assignment.AppendTo(nil)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = group
	sync.Generation = joined.Generation
	sync.MemberID = joined.MemberID
	sync.ProtocolType = kmsg.StringPtr("consumer")
	sync.Protocol = joined.Protocol
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{sa}
	resp, err := sync.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("SyncGroup: %v", err)
	}
}

// timedStop stops ssc gracefully and returns how long it took; it fails
// the test if that is over limit, without waiting longer than a minute.
func timedStop(t *testing.T, ssc *dstream.Context, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- ssc.Stop(context.Background(), dstream.Graceful) }()
	select {
	case err := <-done:
		took := time.Since(start)
		if err != nil {
			t.Errorf("Stop: %v", err)
		}
		if took > limit {
			t.Errorf("Stop took %v, over %v", took.Round(time.Millisecond), limit)
		}
		return took
	case <-time.After(time.Minute):
		t.Fatalf("Stop had not returned after a minute (limit %v)", limit)
		return 0
	}
}

// TestDirectStreamStopDuringStuckJoin: a stream whose group join waits for
// a member that does not answer (the rebalance timeout is a minute) stops
// within its StopTimeout.
func TestDirectStreamStopDuringStuckJoin(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	silentMember(t, c, "g", "t")
	joins := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.JoinGroup}, Group: "g", Observe: true, Count: -1})
	j := newJob(t, kafka.Subscribe("t"), kafka.Brokers(c.Addrs...), kafka.Group("g"))
	j.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := joins.Wait(ctx, 2); err != nil { // the second carries the member id
		t.Fatalf("waiting for the stream's join: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // the join is parked in the broker
	took := timedStop(t, j.ssc, kafka.DefaultStopTimeout+stopSlack)
	t.Logf("Stop took %v", took.Round(time.Millisecond))
}

// TestDirectStreamStopWithBrokerDown: a stream whose broker has gone
// (closed: connections are refused; unresponsive: requests get no answer)
// stops within its StopTimeout, giving up the commit of the last batch and
// the leave.
func TestDirectStreamStopWithBrokerDown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		strategy kafka.Strategy
		down     func(c *kafkatest.Cluster)
	}{
		{"Subscribe/closed", kafka.Subscribe("t"), closeBroker},
		{"Subscribe/unresponsive", kafka.Subscribe("t"), muteBroker},
		{"Assign/closed", kafka.Assign(kafka.TopicPartition{Topic: "t"}, kafka.TopicPartition{Topic: "t", Partition: 1}), closeBroker},
		{"Assign/unresponsive", kafka.Assign(kafka.TopicPartition{Topic: "t"}, kafka.TopicPartition{Topic: "t", Partition: 1}), muteBroker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"t": 2})
			produceN(c, "t", 2, "a", 10)
			j := newJob(t, tc.strategy, kafka.Brokers(c.Addrs...), kafka.Group("g"), kafka.StopTimeout(time.Second),
				kafka.ClientOptions(kgo.HeartbeatInterval(100*time.Millisecond)))
			j.start()
			j.stepUntil("the records", func() bool { return j.count() >= 10 })
			// The batch's offsets wait for the next batch, or Stop, to be
			// committed.
			tc.down(c)
			took := timedStop(t, j.ssc, time.Second+stopSlack)
			t.Logf("Stop took %v", took.Round(time.Millisecond))
		})
	}
}

func closeBroker(c *kafkatest.Cluster) { c.Close() }

// muteBroker makes the broker read every request and answer none.
func muteBroker(c *kafkatest.Cluster) {
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
}
