package kafkasink

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// checkCommitted fails the test unless group's committed offsets of topic
// are want.
func checkCommitted(t *testing.T, c *kafkatest.Cluster, group, topic string, want map[int32]int64) {
	t.Helper()
	got := c.Committed(group)[topic]
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !maps.Equal(got, want) {
		t.Fatalf("group %s committed %v for %s, want %v", group, got, topic, want)
	}
}

// checkValues fails the test unless the values are want, in any order.
func checkValues(t *testing.T, what string, rs []*kgo.Record, want ...string) {
	t.Helper()
	got := slices.Sorted(slices.Values(values(rs)))
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

func TestTransactionalCommitsRecordsWithOffsets(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kfake.Opt
	}{
		{"latest", nil}, // transaction.version 2 (KIP-890 part 2) finalized
		{"kafka 3.9", []kfake.Opt{kfake.MaxVersions(kversion.V3_9_0())}},
		{"kafka 2.5", []kfake.Opt{kfake.MaxVersions(kversion.V2_5_0())}},
	} {
		t.Run(tc.name, func(t *testing.T) { testTransactionalCommits(t, tc.opts...) })
	}
}

func testTransactionalCommits(t *testing.T, opts ...kfake.Opt) {
	c := kafkatest.New(t, map[string]int32{"in": 2, "out": 2}, opts...)
	src := newFakeSource("g")
	src.set(1000, rng("in", 0, 0, 5), rng("in", 1, 0, 3))
	src.set(2000, rng("in", 0, 5, 9), rng("in", 1, 3, 3))
	src.set(3000, rng("in", 0, 9, 12), rng("in", 1, 3, 4)) // no output: the transaction holds only offsets
	src.set(4000, rng("in", 0, 12, 12), rng("in", 1, 4, 6))
	src.set(5000, rng("in", 0, 12, 12), rng("in", 1, 6, 6)) // nothing at all: no transaction
	j := newEncodedJob(t, "out", Encoder[string]{}.WithKey(func(s string) []byte { return []byte("k-" + s) }),
		Brokers(c.Addrs...), Transactional("txn-a", src))
	j.q.PushPartitions([][]string{{"a", "b"}, {"c"}})
	j.q.PushPartitions([][]string{{"d"}})
	j.q.Push([]string{})
	j.q.PushPartitions([][]string{{}, {"e", "f"}})
	j.q.Push([]string{})
	j.start()

	j.mustStep()
	checkValues(t, "read_committed after batch 1", readTopic(t, c, "out", true), "a", "b", "c")
	checkCommitted(t, c, "g", "in", map[int32]int64{0: 5, 1: 3})

	j.mustStep()
	checkValues(t, "read_committed after batch 2", readTopic(t, c, "out", true), "a", "b", "c", "d")
	checkCommitted(t, c, "g", "in", map[int32]int64{0: 9, 1: 3})

	j.mustStep()
	checkCommitted(t, c, "g", "in", map[int32]int64{0: 12, 1: 4})

	j.mustStep()
	out := readTopic(t, c, "out", true)
	checkValues(t, "read_committed after batch 4", out, "a", "b", "c", "d", "e", "f")
	checkCommitted(t, c, "g", "in", map[int32]int64{0: 12, 1: 6})
	for _, r := range out {
		if string(r.Key) != "k-"+string(r.Value) || !r.Attrs.IsTransactional() {
			t.Errorf("record %q: key %q, transactional %v", r.Value, r.Key, r.Attrs.IsTransactional())
		}
	}

	j.mustStep()
	checkCommitted(t, c, "g", "in", map[int32]int64{0: 12, 1: 6})
	// Nothing was aborted: read_uncommitted sees the same records.
	checkValues(t, "read_uncommitted", readTopic(t, c, "out", false), "a", "b", "c", "d", "e", "f")
}

// TestTransactionalAborts: a batch that fails after producing its records
// (or part of them) aborts its transaction: a read_committed consumer
// never sees them, and the group's offsets do not move. A new job with the
// same transactional ID writes the batch again, once.
func TestTransactionalAborts(t *testing.T) {
	boom := errors.New("injected before commit")
	for _, tc := range []struct {
		name     string
		second   [][]string // the batch that fails
		enc      func(fail *bool) Encoder[string]
		failOpts func(fail *bool) []Option
		want     error
	}{
		{"value error after half the batch", [][]string{{"x1", "x2", "x3", "x4"}, {"y1", "y2", "bad"}},
			func(fail *bool) Encoder[string] {
				return Encode(func(s string) ([]byte, error) {
					if s == "bad" && *fail {
						return nil, errors.New("cannot encode bad")
					}
					return []byte(s), nil
				})
			},
			func(*bool) []Option { return []Option{FailOnPoison()} }, nil},
		{"error before commit", [][]string{{"x1", "x2"}, {"y1"}}, nil,
			func(fail *bool) []Option {
				return []Option{withHooks(&testHooks{beforeCommit: func(_ context.Context, t time.Time) error {
					if *fail && t.UnixMilli() == 2000 {
						return boom
					}
					return nil
				}})}
			}, boom},
		{"error before committing only offsets", [][]string{}, nil,
			func(fail *bool) []Option {
				return []Option{withHooks(&testHooks{beforeCommit: func(_ context.Context, t time.Time) error {
					if *fail && t.UnixMilli() == 2000 {
						return boom
					}
					return nil
				}})}
			}, boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"in": 2, "out": 2})
			src := newFakeSource("g")
			src.set(1000, rng("in", 0, 0, 2), rng("in", 1, 0, 2))
			src.set(2000, rng("in", 0, 2, 7), rng("in", 1, 2, 4))
			fail := true
			opts := append([]Option{Brokers(c.Addrs...), Transactional("txn-b", src)}, tc.failOpts(&fail)...)
			var enc Encoder[string]
			if tc.enc != nil {
				enc = tc.enc(&fail)
			}
			j := newEncodedJob(t, "out", enc, opts...)
			j.q.Push([]string{"a", "b"})
			j.q.PushPartitions(tc.second)
			j.start()
			j.mustStep()
			err := j.step()
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("second batch: error %v, want %v", err, tc.want)
			}
			first := map[int32]int64{0: 2, 1: 2}
			checkValues(t, "read_committed after the failed batch", readTopic(t, c, "out", true), "a", "b")
			checkCommitted(t, c, "g", "in", first)
			var all []string
			for _, p := range tc.second {
				all = append(all, p...)
			}
			if len(all) > 0 {
				// The aborted records did reach the log.
				if n := len(readTopic(t, c, "out", false)); n <= 2 {
					t.Errorf("read_uncommitted sees %d records: the failed batch wrote nothing, the test proves little", n)
				}
			}

			// A new job (same transactional ID) runs the batch again.
			fail = false
			_ = j.ssc.Stop(context.Background(), dstream.Hard) // it stopped when the batch failed: wait for that
			j2 := newEncodedJob(t, "out", enc, opts...)
			src.set(1000, rng("in", 0, 2, 7), rng("in", 1, 2, 4))
			j2.q.PushPartitions(tc.second)
			j2.start()
			j2.mustStep()
			checkValues(t, "read_committed after the re-run", readTopic(t, c, "out", true), append([]string{"a", "b"}, all...)...)
			checkCommitted(t, c, "g", "in", map[int32]int64{0: 7, 1: 4})
		})
	}
}

// A group member whose generation the group does not have cannot commit:
// the transaction aborts.
func TestTransactionalStaleGenerationAborts(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"in": 1, "out": 1})
	src := fakeMember{fakeSource: newFakeSource("g"), member: "zombie", generation: 3}
	src.set(1000, rng("in", 0, 0, 4))
	j := newQueueJob[string](t, "out", Brokers(c.Addrs...), Transactional("txn-c", Offsets(src, "g")))
	j.q.Push([]string{"a"})
	j.start()
	err := j.step()
	if !errors.Is(err, kerr.IllegalGeneration) {
		t.Fatalf("batch error = %v, want ILLEGAL_GENERATION", err)
	}
	checkValues(t, "read_committed", readTopic(t, c, "out", true))
	if _, err := kadm.NewClient(c.Client()).FetchOffsets(context.Background(), "g"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Errorf("the group's offsets: %v, want none (GROUP_ID_NOT_FOUND)", err)
	}
}

func TestTransactionalWithoutSource(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"out": 3})
	fail := false
	j := newQueueJob[string](t, "out", Brokers(c.Addrs...), Transactional("txn-d", nil),
		withHooks(&testHooks{beforeCommit: func(context.Context, time.Time) error {
			if fail {
				return errors.New("no")
			}
			return nil
		}}))
	j.q.Push([]string{"a", "b", "c"})
	j.q.Push([]string{"d"})
	j.start()
	j.mustStep()
	checkValues(t, "read_committed", readTopic(t, c, "out", true), "a", "b", "c")
	fail = true
	if err := j.step(); err == nil {
		t.Fatal("the second batch did not fail")
	}
	checkValues(t, "read_committed", readTopic(t, c, "out", true), "a", "b", "c")
	checkValues(t, "read_uncommitted", readTopic(t, c, "out", false), "a", "b", "c", "d")
}

// ClientOptions' own MaxVersions are capped too.
func TestTransactionalCapsUserMaxVersions(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"in": 1, "out": 1})
	src := newFakeSource("g")
	src.set(1000, rng("in", 0, 0, 1))
	j := newQueueJob[string](t, "out", Brokers(c.Addrs...), Transactional("txn-e", src),
		ClientOptions(kgo.MaxVersions(kversion.Stable())),
		withHooks(&testHooks{beforeCommit: func(context.Context, time.Time) error { return nil }}))
	j.q.Push([]string{"a"})
	j.start()
	j.mustStep()
	checkValues(t, "read_committed", readTopic(t, c, "out", true), "a")
	checkCommitted(t, c, "g", "in", map[int32]int64{0: 1})
	s := &Sink[string]{cfg: config{brokers: c.Addrs, txn: true, txnID: "x", clientOpts: []kgo.Opt{kgo.MaxVersions(kversion.Stable())}}, log: quiet}
	cl, err := s.newClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if vs := cl.OptValue(kgo.MaxVersions).(*kversion.Versions); !txnVersionsCapped(vs) {
		t.Errorf("the client's versions are not capped: %v", vs)
	}
}

// A live member of the group commits as that member (KIP-447), and once a
// rebalance has moved the group to a new generation, the old one cannot.
func TestTransactionalCommitsAsGroupMember(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"in": 2, "out": 1})
	joined := func() *kgo.Client {
		assigned := make(chan struct{}, 1)
		cl := c.Client(kgo.ConsumerGroup("g"), kgo.ConsumeTopics("in"), kgo.DisableAutoCommit(),
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
				select {
				case assigned <- struct{}{}:
				default:
				}
			}))
		go func() {
			for !cl.PollFetches(context.Background()).IsClientClosed() {
			}
		}()
		select {
		case <-assigned:
		case <-time.After(30 * time.Second):
			t.Fatal("the member never joined the group")
		}
		return cl
	}
	m := joined()
	member, gen := m.GroupMetadata()
	if member == "" || gen < 0 {
		t.Fatalf("member %q generation %d", member, gen)
	}
	src := fakeMember{fakeSource: newFakeSource("g"), member: member, generation: gen}
	src.set(1000, rng("in", 0, 0, 3), rng("in", 1, 0, 1))
	src.set(2000, rng("in", 0, 3, 4), rng("in", 1, 1, 1))
	j := newQueueJob[string](t, "out", Brokers(c.Addrs...), Transactional("txn-f", src))
	j.q.Push([]string{"a"})
	j.q.Push([]string{"b"})
	j.start()
	j.mustStep()
	checkValues(t, "read_committed", readTopic(t, c, "out", true), "a")
	checkCommitted(t, c, "g", "in", map[int32]int64{0: 3, 1: 1})

	// A second member joins: the group moves to a new generation.
	joined()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, g := m.GroupMetadata(); g > gen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no rebalance")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := j.step()
	if !errors.Is(err, kerr.IllegalGeneration) {
		t.Fatalf("commit under the old generation: %v, want ILLEGAL_GENERATION", err)
	}
	checkValues(t, "read_committed", readTopic(t, c, "out", true), "a")
	checkCommitted(t, c, "g", "in", map[int32]int64{0: 3, 1: 1})
}
