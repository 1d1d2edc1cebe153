package stdout_test

import (
	"context"
	"fmt"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sinks/stdout"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// Print shows every record with its batch time and partition. Byte slices,
// such as a Kafka record's key and value, print as text when they are
// printable and quoted otherwise.
func ExamplePrint() {
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk))
	if err != nil {
		panic(err)
	}
	q := dstream.NewQueue[kafka.Record]()
	q.PushPartitions([][]kafka.Record{
		{{Topic: "events", Partition: 0, Offset: 41, Key: []byte("user-1"), Value: []byte(`{"clicks":3}`)}},
		{{Topic: "events", Partition: 1, Offset: 7, Key: []byte("user-2"), Value: []byte{0x00, 0x01, 0xfe}},
			{Topic: "events", Partition: 1, Offset: 8, Key: []byte("user-3"), Value: []byte("x")}},
	})
	records := dstream.Map(dstream.QueueStream(ssc, q), func(r kafka.Record) dstream.Pair[[]byte, []byte] {
		return dstream.KV(r.Key, r.Value)
	})
	if err := stdout.Print(records, stdout.MaxRecords(2)); err != nil {
		panic(err)
	}
	if err := ssc.Start(); err != nil {
		panic(err)
	}
	clk.Advance(time.Second)
	if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
		fmt.Println(err)
	}
	_ = ssc.Stop(context.Background(), dstream.Graceful)
	// Output:
	// [1000 ms p0] (user-1,{"clicks":3})
	// [1000 ms p1] (user-2,"\x00\x01\xfe")
	// [1000 ms] ... 1 more
}
