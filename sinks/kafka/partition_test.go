package kafkasink

import (
	"fmt"
	"strings"
	"testing"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestWithPartitionWritesToTheChosenPartition(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"table": 4})
	type entry struct {
		part int32
		key  string
	}
	j := newEncodedJob(t, "table",
		Encode(func(e entry) ([]byte, error) { return fmt.Appendf(nil, "%s@%d", e.key, e.part), nil }).
			WithKey(func(e entry) []byte { return []byte(e.key) }).
			WithPartition(func(e entry) int32 { return e.part }),
		Brokers(c.Addrs...),
	)
	var in []entry
	for i := range 40 {
		in = append(in, entry{int32(i % 4), fmt.Sprintf("k%d", i)})
	}
	// Negative: the key's hash, the same partition the default
	// partitioner picks (Kafka's murmur2).
	hashed := []entry{{-1, "alpha"}, {-1, "beta"}, {-1, "gamma"}, {-1, "delta"}}
	j.q.PushPartitions([][]entry{in[:20], in[20:], hashed})
	j.start()
	j.mustStep()

	recs := readTopic(t, c, "table", false)
	if len(recs) != len(in)+len(hashed) {
		t.Fatalf("read %d records, want %d", len(recs), len(in)+len(hashed))
	}
	murmur := kgo.StickyKeyPartitioner(nil).ForTopic("table")
	for _, r := range recs {
		key, part, _ := strings.Cut(string(r.Value), "@")
		want := int32(0)
		if part == "-1" {
			want = int32(murmur.Partition(&kgo.Record{Key: []byte(key)}, 4))
		} else {
			fmt.Sscan(part, &want)
		}
		if r.Partition != want {
			t.Errorf("record %s in partition %d, want %d", r.Value, r.Partition, want)
		}
	}
}

func TestWithPartitionOutOfRangeFailsTheBatch(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"table": 2})
	j := newEncodedJob(t, "table",
		Encode(func(s string) ([]byte, error) { return []byte(s), nil }).
			WithPartition(func(string) int32 { return 7 }),
		Brokers(c.Addrs...),
	)
	j.q.PushPartitions([][]string{{"x"}})
	j.start()
	if err := j.step(); err == nil {
		t.Fatal("a record for partition 7 of a 2-partition topic was written")
	}
}

func TestWithPartitionNil(t *testing.T) {
	if _, err := New("t", Encode(func(s string) ([]byte, error) { return nil, nil }).WithPartition(nil), Brokers("127.0.0.1:1")); err == nil || !strings.Contains(err.Error(), "WithPartition: nil function") {
		t.Fatalf("New with WithPartition(nil): %v", err)
	}
}
