package parquetsink_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// Reading is a sensor reading. Its Parquet schema comes from the tags;
// Day is a partition column, kept out of the files.
type Reading struct {
	Sensor string    `parquet:"sensor,dict"`
	At     time.Time `parquet:"at,timestamp(millisecond)"`
	Temp   float64   `parquet:"temp"`
	Day    string    `parquet:"-"`
}

// runOneBatch runs the first batch of ssc on a manual clock and stops.
func runOneBatch(ssc *dstream.Context, clk *dstream.ManualClock) error {
	if err := ssc.Start(); err != nil {
		return err
	}
	clk.Advance(time.Second)
	if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
		return err
	}
	return ssc.Stop(context.Background(), dstream.Graceful)
}

// printParquet prints every Parquet file under dir and its rows.
func printParquet(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		rows, err := parquet.ReadFile[Reading](p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Println(filepath.ToSlash(rel))
		for _, r := range rows {
			fmt.Printf("  %s %s %.1f\n", r.Sensor, r.At.UTC().Format(time.TimeOnly), r.Temp)
		}
		return nil
	})
}

// Every batch of a stream is written as Parquet files named by batch time
// and partition; the engine writes the partitions of a batch in parallel.
func Example() {
	dir, err := os.MkdirTemp("", "parquetsink-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithParallelism(2))
	if err != nil {
		panic(err)
	}
	q := dstream.NewQueue[Reading]()
	at := time.Date(2024, 1, 2, 12, 0, 0, 0, time.UTC)
	q.Push([]Reading{
		{Sensor: "s1", At: at, Temp: 20.5},
		{Sensor: "s2", At: at.Add(time.Second), Temp: 21},
		{Sensor: "s1", At: at.Add(2 * time.Second), Temp: 20.7},
	})
	if err := parquetsink.Write(dstream.QueueStream(ssc, q), dir); err != nil {
		panic(err)
	}
	if err := runOneBatch(ssc, clk); err != nil {
		panic(err)
	}
	if err := printParquet(dir); err != nil {
		panic(err)
	}
	// Output:
	// part-1000-00000-0.parquet
	//   s1 12:00:00 20.5
	// part-1000-00001-0.parquet
	//   s2 12:00:01 21.0
	//   s1 12:00:02 20.7
}

// With WritePartitioned and PartitionBy the rows go to Hive-style directories, which Spark,
// Hive and DuckDB read as columns; values are escaped as Hive escapes
// them, and an empty value is Hive's default partition.
func ExampleWritePartitioned() {
	dir, err := os.MkdirTemp("", "parquetsink-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithParallelism(1))
	if err != nil {
		panic(err)
	}
	q := dstream.NewQueue[Reading]()
	at := time.Date(2024, 1, 2, 12, 0, 0, 0, time.UTC)
	q.Push([]Reading{
		{Sensor: "s1", At: at, Temp: 20.5, Day: "2024-01-02"},
		{Sensor: "s2", At: at.Add(time.Second), Temp: 21, Day: "2024/01/03"},
		{Sensor: "s3", At: at.Add(2 * time.Second), Temp: 19},
	})
	err = parquetsink.WritePartitioned(dstream.QueueStream(ssc, q), dir,
		parquetsink.PartitionBy([]string{"day"}, func(r Reading) []string { return []string{r.Day} }),
		parquetsink.Compression(&parquet.Zstd))
	if err != nil {
		panic(err)
	}
	if err := runOneBatch(ssc, clk); err != nil {
		panic(err)
	}
	if err := printParquet(dir); err != nil {
		panic(err)
	}
	// Output:
	// day=2024%2F01%2F03/part-1000-00000-0.parquet
	//   s2 12:00:01 21.0
	// day=2024-01-02/part-1000-00000-0.parquet
	//   s1 12:00:00 20.5
	// day=__HIVE_DEFAULT_PARTITION__/part-1000-00000-0.parquet
	//   s3 12:00:02 19.0
}

// NewPartitioned returns the sink for Stream.WriteTo, whose WriteSpec
// takes a dead-letter function typed by the stream's rows: a row whose
// partition directory cannot be made (here a day that is not valid
// UTF-8) goes there, and the rest of the batch is written.
func ExampleNewPartitioned() {
	dir, err := os.MkdirTemp("", "parquetsink-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithParallelism(1))
	if err != nil {
		panic(err)
	}
	q := dstream.NewQueue[Reading]()
	at := time.Date(2024, 1, 2, 12, 0, 0, 0, time.UTC)
	q.Push([]Reading{
		{Sensor: "s1", At: at, Temp: 20.5, Day: "2024-01-02"},
		{Sensor: "s2", At: at.Add(time.Second), Temp: 21, Day: "2024-01-\xff"},
		{Sensor: "s3", At: at.Add(2 * time.Second), Temp: 19, Day: "2024-01-02"},
	})
	readings := dstream.QueueStream(ssc, q)
	sink, err := parquetsink.NewPartitioned(dir, parquetsink.PartitionBy([]string{"day"}, func(r Reading) []string { return []string{r.Day} }))
	if err != nil {
		panic(err)
	}
	err = readings.WriteTo(sink, dstream.WriteSpec[Reading]{
		Name: "readings",
		DeadLetter: func(r Reading, err error) {
			fmt.Printf("dead letter %s: %v\n", r.Sensor, errors.Is(err, parquetsink.ErrPartitionValue))
		},
	})
	if err != nil {
		panic(err)
	}
	if err := runOneBatch(ssc, clk); err != nil {
		panic(err)
	}
	if err := printParquet(dir); err != nil {
		panic(err)
	}
	// Output:
	// dead letter s2: true
	// day=2024-01-02/part-1000-00000-0.parquet
	//   s1 12:00:00 20.5
	//   s3 12:00:02 19.0
}
