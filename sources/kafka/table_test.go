package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	kafkasink "github.com/microbatch-go/microbatch/sinks/kafka"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// tableJob is a copy of a job counting records per key in a Table, its
// updates written with the consumed offsets in one transaction per batch.
type tableJob struct {
	ssc   *dstream.Context
	clock *dstream.ManualClock
	table *kafka.Table[int64]

	mu      sync.Mutex
	changes []dstream.PartitionsChange
}

func decodeCount(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) }

func newTableJob(t *testing.T, c *kafkatest.Cluster, id string, restore bool) *tableJob {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	j := &tableJob{clock: clk}
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet), dstream.WithListener(j))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	opts := []kafka.Option{kafka.Brokers(c.Addrs...), kafka.Group("g"), kafka.ManualCommit(), kafka.ReadCommitted()}
	table, err := kafka.NewTable(ssc, "in", "counts", decodeCount, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if restore {
		opts = append(opts, kafka.ResumeFrom(table))
	}
	ds := kafka.NewDirectStream(ssc, kafka.Subscribe("in"), opts...)
	updates := kafka.UpdateTable(ds.Stream(), table,
		func(r kafka.Record) (int32, string) { return r.Partition, string(r.Key) },
		func(_ kafka.Record, n int64, _ bool) int64 { return n + 1 })
	err = kafkasink.WriteEncoded(updates, "counts",
		kafkasink.Encode(func(u kafka.TableUpdate[int64]) ([]byte, error) { return strconv.AppendInt(nil, u.Value, 10), nil }).
			WithKey(func(u kafka.TableUpdate[int64]) []byte { return []byte(u.Key) }).
			WithPartition(func(u kafka.TableUpdate[int64]) int32 { return u.Partition }),
		kafkasink.Brokers(c.Addrs...), kafkasink.Transactional(id, kafkasink.Offsets(ds, "g")))
	if err != nil {
		t.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	j.ssc, j.table = ssc, table
	return j
}

// OnPartitionsChanged records the stream's partition changes.
func (j *tableJob) OnPartitionsChanged(ch dstream.PartitionsChange) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.changes = append(j.changes, ch)
}

func (j *tableJob) step() error {
	j.clock.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return j.ssc.WaitForBatch(ctx, j.clock.Now())
}

// produceKeyed produces n records keyed k0..k(keys-1) in turn, each to
// the partition its key hashes to, and adds them to want.
func produceKeyed(t *testing.T, c *kafkatest.Cluster, n, keys int, want map[string]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs...), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range n {
		k := fmt.Sprintf("k%d", i%keys)
		want[k]++
		recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte("x")})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Copies of a job in one group keep a count per key in a Table: as
// partitions move between them (joins, a graceful leave), each new owner
// restores the partition's counts from the changelog, so the changelog's
// last value of every key, read with read_committed, is the number of its
// records. Without ResumeFrom(table), the next owner of a partition does
// not hold its entries, and the batch fails rather than counting from 0.
func TestTableMovesWithItsPartitions(t *testing.T) {
	for _, restore := range []bool{true, false} {
		t.Run(fmt.Sprint("restore=", restore), func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"in": 4, "counts": 4})
			want := map[string]int64{}
			var jobs []*tableJob
			round := func(n int) error {
				for range n {
					for _, j := range jobs {
						if err := j.step(); err != nil {
							return err
						}
					}
					time.Sleep(100 * time.Millisecond)
				}
				return nil
			}
			run := func() error {
				a := newTableJob(t, c, "copy-a", restore)
				jobs = append(jobs, a)
				produceKeyed(t, c, 200, 20, want)
				if err := round(3); err != nil {
					return err
				}
				b := newTableJob(t, c, "copy-b", restore)
				jobs = append(jobs, b)
				produceKeyed(t, c, 200, 20, want)
				if err := round(5); err != nil {
					return err
				}
				if err := a.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
					return err
				}
				jobs = slices.DeleteFunc(jobs, func(j *tableJob) bool { return j == a })
				produceKeyed(t, c, 200, 20, want)
				if err := round(5); err != nil {
					return err
				}
				jobs = append(jobs, newTableJob(t, c, "copy-c", restore))
				produceKeyed(t, c, 200, 20, want)
				if err := round(6); err != nil {
					return err
				}
				// Once the group has settled, the copies hold every key once,
				// with every record counted: a rebalance under a loaded
				// machine may keep a partition unread for more rounds than
				// the ones above, and a graceful stop on a manual clock cuts
				// no new range.
				inPart := kgo.StickyKeyPartitioner(nil).ForTopic("in")
				counted := func() int {
					n := 0
					for k, w := range want {
						p := int32(inPart.Partition(&kgo.Record{Key: []byte(k)}, 4))
						for _, j := range jobs {
							if v, ok := j.table.Get(p, k); ok && v == w {
								n++
								break
							}
						}
					}
					return n
				}
				held, done := 0, 0
				for range 50 {
					held = 0
					for _, j := range jobs {
						held += j.table.Len()
					}
					if done = counted(); held == len(want) && done == len(want) {
						break
					}
					if err := round(1); err != nil {
						return err
					}
				}
				if held != len(want) || done != len(want) {
					return fmt.Errorf("the copies hold %d entries, want %d; %d keys fully counted", held, len(want), done)
				}
				// What each copy owns, as its listener was told, is what
				// its table holds.
				for i, j := range jobs {
					j.mu.Lock()
					var last dstream.PartitionsChange // none yet: owns nothing
					if len(j.changes) > 0 {
						last = j.changes[len(j.changes)-1]
					}
					j.mu.Unlock()
					var parts []string
					for _, p := range j.table.Partitions() {
						parts = append(parts, fmt.Sprintf("in-%d", p))
					}
					if !slices.Equal(last.Owned, parts) {
						return fmt.Errorf("copy %d was last told it owns %v (%s), its table holds %v", i, last.Owned, last.Event, parts)
					}
				}
				for _, j := range jobs {
					if err := j.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
						return err
					}
				}
				a.mu.Lock()
				defer a.mu.Unlock()
				events := map[string]int{}
				for _, ch := range a.changes {
					events[ch.Event]++
				}
				if events["assigned"] == 0 || events["revoked"] == 0 {
					return fmt.Errorf("the first copy was told of %v, want partitions assigned and revoked", events)
				}
				return nil
			}
			err := run()
			if !restore {
				if err == nil || !strings.Contains(err.Error(), "does not hold") {
					t.Fatalf("without ResumeFrom(table): %v, want a batch failing on a partition the table does not hold", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			in := kgo.StickyKeyPartitioner(nil).ForTopic("in")
			for _, r := range c.ReadCommitted("counts") {
				n, err := decodeCount(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				if p := int32(in.Partition(&kgo.Record{Key: r.Key}, 4)); p != r.Partition {
					t.Errorf("key %s of input partition %d is in changelog partition %d", r.Key, p, r.Partition)
				}
				got[string(r.Key)] = n // the last value of each key
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("key %s: changelog says %d, want %d", k, got[k], n)
				}
			}
			if len(got) != len(want) {
				t.Errorf("changelog has %d keys, want %d", len(got), len(want))
			}
		})
	}
}

func TestNewTableErrors(t *testing.T) {
	ssc, err := dstream.NewContext(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b := kafka.Brokers("127.0.0.1:1")
	for _, tc := range []struct {
		name             string
		input, changelog string
		decode           func([]byte) (int64, error)
		opts             []kafka.Option
		want             string
	}{
		{"no brokers", "in", "cl", decodeCount, nil, "no brokers"},
		{"no input", "", "cl", decodeCount, []kafka.Option{b}, "empty topic"},
		{"same topic", "in", "in", decodeCount, []kafka.Option{b}, "both the input and the changelog"},
		{"nil decode", "in", "cl", nil, []kafka.Option{b}, "nil decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kafka.NewTable(ssc, tc.input, tc.changelog, tc.decode, tc.opts...)
			if !errors.Is(err, dstream.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewTable: %v, want ErrInvalidOption saying %q", err, tc.want)
			}
		})
	}
}
