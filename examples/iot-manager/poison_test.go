package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
)

// newPoisonInput builds an input of valid events among which one has a
// source of 300 bytes, longer than a directory name may be (its Parquet
// partition source=<source> cannot be made; Kudu takes it), and one has
// an attribute too large for a Kudu cell (Kudu rejects it; Parquet takes
// it). Both are in the first half of the messages, which the manager
// reads in its first batches. The events are encoded by the manager's
// own encoder, so that the test needs no outside tool: the encoding is
// not what it checks.
func newPoisonInput(t *testing.T) *e2eInput {
	t.Helper()
	in := &e2eInput{bad: map[int]string{}, parquetRejected: "source-too-long", rejected: "too-large-for-kudu"}
	longSource := "http://domain/sensor/"
	longSource += strings.Repeat("s", 300-len(longSource))
	events := genEvents(120, 3)
	events[17] = jsonEvent{Version: 1, ID: in.parquetRejected, TS: 1520845200000, EventCertainty: 1, EventTypeID: 0,
		EventSubtypeID: sp("LONG_1"), Source: longSource, Location: "0:0", Attributes: map[string]string{"value": "2"}}
	events[35] = jsonEvent{Version: 1, ID: in.rejected, TS: 1520845200000, EventCertainty: 1, EventTypeID: 0,
		EventSubtypeID: sp("BIG_1"), Source: "http://domain/sensor/big", Location: "0:0",
		Attributes: map[string]string{"value": "1", "blob": strings.Repeat("x", 70_000)}}
	for i, e := range events {
		ev := e.event()
		datum, err := EncodeEvent(&ev)
		if err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		in.messages = append(in.messages, message{int32(i % e2ePartitions), datum})
	}
	in.events = events
	in.hdfs, in.kudu, in.kuduDead = expectedRows(events)
	delete(in.hdfs, in.parquetRejected)
	delete(in.kudu, in.rejected)
	return in
}

// No poison event stops the manager: the event whose source is too long
// for a Parquet partition directory and the event whose row Kudu rejects
// are dead letters, with their position and reason; every other event of
// their batches is in the Parquet output (read back) and in Kudu; the
// manager goes on with later batches and exits 0 on SIGTERM.
func TestPoisonEventsAreDeadLetters(t *testing.T) {
	in := newPoisonInput(t)
	c := kafkatest.New(t, map[string]int32{e2eTopic: e2ePartitions})
	kc := kudutest.New(t)
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "events"), filepath.Join(dir, "dead")
	recs, _ := runManager(t, c, in, "-brokers", c.Addrs[0], "-hdfs-out", out, "-dead-letter", dead, "-batch", "300ms",
		"-kudu-masters", strings.Join(kc.MasterAddrs(), ","), "-kudu-buckets", "2")

	ids, err := countRows(out)
	if err != nil {
		t.Fatal(err)
	}
	for id := range in.hdfs {
		if ids[id] != 1 {
			t.Errorf("event %s is in the Parquet output %d times", id, ids[id])
		}
	}
	if len(ids) != len(in.hdfs) {
		t.Errorf("%d distinct events in the Parquet output, want %d", len(ids), len(in.hdfs))
	}
	if _, ok := in.kudu[in.parquetRejected]; !ok {
		t.Fatal("the test's expectations lack the Kudu row of the event with the long source")
	}
	checkKudu(t, kc, "Events", in.kudu)
	checkDeadLetters(t, in, recs, readDeadLetters(t, dead))
}
