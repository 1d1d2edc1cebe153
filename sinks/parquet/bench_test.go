package parquetsink_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// iotRow is a typical sensor record.
type iotRow struct {
	DeviceID string    `parquet:"device_id,dict"`
	At       time.Time `parquet:"at,timestamp(millisecond)"`
	Temp     float64   `parquet:"temp"`
	Humidity float32   `parquet:"humidity"`
	Battery  int32     `parquet:"battery"`
	Seq      int64     `parquet:"seq"`
	Alarm    bool      `parquet:"alarm"`
	Firmware string    `parquet:"firmware,dict"`
}

// iotRows returns n records from 10,000 devices, one per device per
// 10 ms step, deterministically.
func iotRows(n int) []iotRow {
	rng := rand.New(rand.NewPCG(3, 4))
	devices := make([]string, 10_000)
	for i := range devices {
		devices[i] = fmt.Sprintf("device-%05d", i)
	}
	firmware := []string{"1.0.3", "1.1.0", "2.0.0-rc1", "2.0.1"}
	start := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	rows := make([]iotRow, n)
	for i := range rows {
		d := i % len(devices)
		rows[i] = iotRow{
			DeviceID: devices[d],
			At:       start.Add(time.Duration(i/len(devices)) * 10 * time.Millisecond),
			Temp:     15 + rng.NormFloat64()*5,
			Humidity: float32(40 + rng.IntN(400)/10),
			Battery:  int32(100 - i/len(devices)%100),
			Seq:      int64(i),
			Alarm:    rng.IntN(1000) == 0,
			Firmware: firmware[d%len(firmware)],
		}
	}
	return rows
}

// dirSize returns the total size of the .parquet files under dir.
func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".parquet") {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// handWritten writes rows to one file with one parquet-go GenericWriter,
// Snappy-compressed with the sink's row group size, synced and closed, as
// a program without the sink would.
func handWritten(b *testing.B, name string, rows []iotRow) {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	w := parquet.NewGenericWriter[iotRow](f, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(parquetsink.DefaultRowGroupRows))
	if _, err := w.Write(rows); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkParquetWrite compares the sink, writing a batch of 1,000,000
// IoT records from a queue stream, with a hand-written parquet-go
// GenericWriter loop writing the same records to one file. Both write to
// local disk with Snappy and sync their files. The sink splits the batch
// into as many partitions as the context's parallelism and writes them in
// parallel: parallelism=1 measures its overhead over the hand-written
// loop, parallelism=GOMAXPROCS what a job gets by default. Every
// iteration runs both, in alternating order, from a collected heap; it
// reports the records/s and MB/s (of Parquet written) of each, and the
// sink's speed as a fraction of the hand-written one's. The partitioned
// runs add PartitionBy on two columns, the firmware and the last two
// digits of the device, which give 100 Hive partitions; consecutive rows
// are in different ones, the sink's worst case for grouping rows.
func BenchmarkParquetWrite(b *testing.B) {
	const n = 1_000_000
	rows := iotRows(n)
	partitioned := func(s *dstream.Stream[iotRow], dir string) error {
		return parquetsink.WritePartitioned(s, dir, parquetsink.PartitionBy([]string{"fw", "bucket"}, func(r iotRow) []string {
			return []string{r.Firmware, r.DeviceID[len(r.DeviceID)-2:]}
		}))
	}
	plain := func(s *dstream.Stream[iotRow], dir string) error { return parquetsink.Write(s, dir) }
	for _, p := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) { benchParquetWrite(b, rows, p, plain) })
		b.Run(fmt.Sprintf("parallelism=%d/partitioned", p), func(b *testing.B) { benchParquetWrite(b, rows, p, partitioned) })
	}
}

func benchParquetWrite(b *testing.B, rows []iotRow, parallelism int, write func(s *dstream.Stream[iotRow], dir string) error) {
	n := len(rows)
	dir := b.TempDir()
	sinkDir, handDir := filepath.Join(dir, "sink"), filepath.Join(dir, "hand")
	if err := os.MkdirAll(handDir, 0o755); err != nil {
		b.Fatal(err)
	}

	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quietLogger), dstream.WithParallelism(parallelism))
	if err != nil {
		b.Fatal(err)
	}
	defer ssc.Stop(context.Background(), dstream.Hard)
	q := dstream.NewQueue[iotRow]()
	if err := write(dstream.QueueStream(ssc, q), sinkDir); err != nil {
		b.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		b.Fatal(err)
	}

	var sinkTime, handTime time.Duration
	var sinkBytes, handBytes int64
	runSink := func() {
		b.StopTimer()
		os.RemoveAll(sinkDir)
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		q.Push(rows)
		clk.Advance(time.Second)
		if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
			b.Fatal(err)
		}
		sinkTime += time.Since(start)
		b.StopTimer()
		sinkBytes += dirSize(b, sinkDir)
		b.StartTimer()
	}
	runHand := func() {
		b.StopTimer()
		os.RemoveAll(handDir)
		os.MkdirAll(handDir, 0o755)
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		handWritten(b, filepath.Join(handDir, "data.parquet"), rows)
		handTime += time.Since(start)
		b.StopTimer()
		handBytes += dirSize(b, handDir)
		b.StartTimer()
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			runSink()
			runHand()
		} else {
			runHand()
			runSink()
		}
		i++
	}
	b.StopTimer()
	// Both wrote every record.
	back, err := parquet.ReadFile[iotRow](filepath.Join(handDir, "data.parquet"))
	if err != nil || len(back) != n {
		b.Fatalf("hand-written file: %d rows, %v", len(back), err)
	}
	var sinkRows int64
	filepath.Walk(sinkDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			pf, err := parquet.OpenFile(f, fi.Size())
			if err != nil {
				return err
			}
			sinkRows += pf.NumRows()
		}
		return err
	})
	if sinkRows != int64(n) {
		b.Fatalf("the sink wrote %d rows, want %d", sinkRows, n)
	}
	records := float64(n) * float64(b.N)
	b.ReportMetric(records/sinkTime.Seconds(), "sink-records/s")
	b.ReportMetric(records/handTime.Seconds(), "handwritten-records/s")
	b.ReportMetric(float64(sinkBytes)/1e6/sinkTime.Seconds(), "sink-MB/s")
	b.ReportMetric(float64(handBytes)/1e6/handTime.Seconds(), "handwritten-MB/s")
	b.ReportMetric(handTime.Seconds()/sinkTime.Seconds(), "sink/handwritten")
	b.Logf("GOMAXPROCS %d, parallelism %d; Parquet bytes per run: sink %d, hand-written %d",
		runtime.GOMAXPROCS(0), ssc.Parallelism(), sinkBytes/int64(b.N), handBytes/int64(b.N))
}
