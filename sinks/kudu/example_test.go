package kudusink_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
)

// Reading is a sensor reading: its Kudu columns come from the tags, the
// key is (sensor, at).
type Reading struct {
	Sensor string    `kudu:"sensor,key"`
	At     time.Time `kudu:"at,key"`
	Temp   float64   `kudu:"temp"`
	Note   *string   `kudu:"note"`
}

// runBatch starts ssc on a manual clock, runs one batch and stops.
func runBatch(ssc *dstream.Context, clk *dstream.ManualClock) error {
	if err := ssc.Start(); err != nil {
		return err
	}
	clk.Advance(time.Second)
	if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
		return err
	}
	return ssc.Stop(context.Background(), dstream.Graceful)
}

// The sink upserts every batch into a Kudu table, created at start with
// the columns of the struct tags; the row Kudu cannot take goes to the
// typed dead-letter function, and the others land.
func Example() {
	// An in-process Kudu test server: give your cluster's masters instead.
	cluster, err := kudutest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk))
	if err != nil {
		fmt.Println(err)
		return
	}
	q := dstream.NewQueue[Reading]()
	readings := dstream.QueueStream(ssc, q)

	sink, err := kudusink.New(cluster.MasterAddrs(), "readings", kudusink.StructTags[Reading](),
		kudusink.CreateIfMissing(kudusink.Hash(2, "sensor")))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = readings.WriteTo(sink, dstream.WriteSpec[Reading]{
		DeadLetter: func(r Reading, err error) { fmt.Printf("rejected %s: %v\n", r.Sensor, err) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 70<<10) // over Kudu's 64 KiB cell limit
	q.Push([]Reading{{"s1", at, 21.5, nil}, {"s2", at, 19, &long}, {"s3", at, 20.25, nil}})
	if err := runBatch(ssc, clk); err != nil {
		fmt.Println(err)
		return
	}
	var rows []string
	for _, r := range cluster.Rows("readings") {
		rows = append(rows, fmt.Sprintf("%s %v", r["sensor"], r["temp"]))
	}
	slices.Sort(rows)
	fmt.Println(rows)
	// Output:
	// rejected s2: kudu: invalid row: column "note" value of 71680 bytes exceeds the cell size limit of 65536 bytes
	// [s1 21.5 s3 20.25]
}

// MapColumns maps records to columns with a function, for a table that
// exists; WriteMapped registers it. The function's record type is the
// stream's: a function of another type does not compile.
func ExampleWriteMapped() {
	ssc, err := dstream.NewContext(time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	temps := dstream.QueueStream(ssc, dstream.NewQueue[dstream.Pair[string, float64]]())
	err = kudusink.WriteMapped(temps, []string{"kudu-master:7051"}, "temps",
		kudusink.MapColumns(func(kv dstream.Pair[string, float64]) (map[string]any, error) {
			return map[string]any{"sensor": kv.Key, "temp": kv.Value}, nil
		}))
	fmt.Println(err)
	// Output: <nil>
}
