package kafka_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTableRestore measures what moving a partition of a Table
// costs its next owner: reading the partition's changelog, here 100,000
// updates of 10,000 keys (a changelog not compacted yet), on kfake in
// this process. It reports changelog records read per second and the
// time per restore.
func BenchmarkTableRestore(b *testing.B) {
	const records, keys = 100_000, 10_000
	c := kafkatest.New(b, map[string]int32{"in": 1, "changelog": 1})
	var recs []*kgo.Record
	for i := range records {
		recs = append(recs, &kgo.Record{Topic: "changelog", Key: []byte(fmt.Sprintf("key-%d", i%keys)), Value: strconv.AppendInt(nil, int64(i), 10)})
	}
	for i := 0; i < len(recs); i += 10_000 {
		c.Produce(recs[i:min(i+10_000, len(recs))]...)
	}
	ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	table, err := kafka.NewTable(ssc, "in", "changelog", decodeCount, kafka.Brokers(c.Addrs...))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, _, err := table.Resume(b.Context(), "in", 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := table.Len(); n != keys {
		b.Fatalf("restored %d entries, want %d", n, keys)
	}
	b.ReportMetric(float64(records*b.N)/time.Since(start).Seconds(), "records/s")
}
