package kafka_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// kcatProduce writes key:value lines to topic with kcat, librdkafka's
// command-line client: an independent Kafka implementation.
func kcatProduce(t *testing.T, kcat, broker, topic string, lines []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", broker, "-t", topic, "-P", "-K", ":", "-X", "broker.address.family=v4")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
}

// TestDirectStreamKcatExactlyOnceAcrossRestart: records produced by kcat
// are consumed exactly once by two runs of a job with the same group, and
// kcat, joining the group afterwards, finds nothing left to consume.
func TestDirectStreamKcatExactlyOnceAcrossRestart(t *testing.T) {
	kcat := testtool.Require(t, "kcat", "Debian package kcat")
	c := kafkatest.New(t, map[string]int32{"lines": 3})
	opts := []kafka.Option{kafka.Brokers(c.Addrs...), kafka.Group("kcat-test")}

	batch := func(prefix string, n int) (lines, want []string) {
		for i := range n {
			v := fmt.Sprintf("%s value %d", prefix, i)
			lines = append(lines, fmt.Sprintf("key%d:%s", i, v))
			want = append(want, v)
		}
		return lines, want
	}
	lines1, want1 := batch("first", 60)
	kcatProduce(t, kcat, c.Addrs[0], "lines", lines1)

	j1 := newJob(t, kafka.Subscribe("lines"), opts...)
	j1.start()
	j1.stepUntil("kcat's first records", func() bool { return j1.count() >= len(want1) })
	if err := j1.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, j1.records(), want1)
	for _, r := range j1.records() {
		i := strings.TrimPrefix(string(r.Value), "first value ")
		if string(r.Key) != "key"+i {
			t.Errorf("record %q has key %q, want key%s", r.Value, r.Key, i)
		}
	}

	lines2, want2 := batch("second", 60)
	kcatProduce(t, kcat, c.Addrs[0], "lines", lines2)
	j2 := newJob(t, kafka.Subscribe("lines"), opts...)
	j2.start()
	j2.stepUntil("kcat's second records", func() bool { return j2.count() >= len(want2) })
	for range 3 {
		if err := j2.step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := j2.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, j2.records(), want2)

	// Everything was committed: kcat in the same group reads nothing,
	// while kcat in a new group reads every record from the start.
	kcatGroup := func(group string) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, "-b", c.Addrs[0], "-G", group, "-e", "-q",
			"-X", "broker.address.family=v4", "-X", "enable.auto.commit=false", "-X", "auto.offset.reset=earliest", "lines")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kcat -G %s: %v\n%s", group, err, out)
		}
		return strings.Fields(strings.ReplaceAll(string(out), " ", "_"))
	}
	if left := kcatGroup("kcat-test"); len(left) != 0 {
		t.Errorf("kcat found %d uncommitted records in the job's group: %v", len(left), left)
	}
	if all := kcatGroup("kcat-fresh"); len(all) != 120 {
		t.Errorf("kcat in a new group read %d records, want 120", len(all))
	}
	got := c.Committed("kcat-test")["lines"]
	var sum int64
	for _, o := range got {
		sum += o
	}
	if sum != 120 {
		t.Errorf("committed offsets %v sum to %d, want 120", got, sum)
	}
}
