package kafka_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
)

// silentBroker listens on a loopback port, accepts connections and never
// answers, and returns its address.
func silentBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestDirectStreamStartChecks(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 2})
	silent := silentBroker(t)
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
