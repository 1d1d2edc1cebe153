package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/examples/internal/spot"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// benchLines is the size of the benchmark's input.
const benchLines = 200_000

// benchFlowLines returns n realistic flow records, as spot-nfdump prints
// them, in time order from 10:40 to 11:20 (two hours' partitions), from a
// fixed seed.
func benchFlowLines(n int) []string {
	rng := rand.New(rand.NewPCG(11, 12))
	start := time.Date(2016, 8, 17, 10, 40, 0, 0, time.UTC)
	step := 40 * time.Minute / time.Duration(n)
	protos := []string{"TCP", "TCP", "TCP", "UDP", "UDP", "ICMP"}
	flags := []string{".AP.SF", "....S.", ".A.R..", ".AP.S.", ".A....", "......"}
	ports := []int{443, 80, 53, 22, 25, 123, 445, 3389, 8443, 137}
	out := make([]string, n)
	for i := range out {
		ts := start.Add(time.Duration(i) * step)
		proto := protos[rng.IntN(len(protos))]
		sport, dport := 1024+rng.IntN(64000), ports[rng.IntN(len(ports))]
		flag := flags[rng.IntN(len(flags))]
		if proto != "TCP" {
			flag = "......"
		}
		if proto == "ICMP" {
			sport, dport = 0, []int{2048, 0, 771, 2816}[rng.IntN(4)]
		}
		pkts := 1 + rng.IntN(2000)
		out[i] = fmt.Sprintf("%s,%d,%d,%d,%d,%d,%d,%.3f,10.1.%d.%d,%s,%d,%d,%s,%s,0,%d,%d,%d,0,0,%d,%d,%d,%d,0,%d,10.0.0.%d",
			ts.Format(time.DateTime), ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(),
			rng.Float64()*float64(rng.IntN(120)), rng.IntN(32), rng.IntN(256),
			[]string{"198.51.100.", "203.0.113.", "192.0.2.", "10.0.0."}[rng.IntN(4)]+strconv.Itoa(rng.IntN(256)),
			sport, dport, proto, flag, []int{0, 0, 0, 40, 184}[rng.IntN(5)], pkts, pkts*(40+rng.IntN(1460)),
			2+rng.IntN(4), 2+rng.IntN(4), []int{0, 0, 64496, 64511}[rng.IntN(4)], []int{0, 64496, 64500, 64511}[rng.IntN(4)],
			rng.IntN(2), 1+rng.IntN(3))
	}
	return out
}

// benchChunks cuts lines into collector chunks as the collector does: a
// new chunk at every hour and every 5,000 lines (about 650 kB, under
// Kafka's 1 MiB default request size).
func benchChunks(b *testing.B, lines []string) []kafka.Record {
	var out []kafka.Record
	for len(lines) > 0 {
		n := min(5000, len(lines))
		for i := 1; i < n; i++ {
			if lines[i][:13] != lines[0][:13] {
				n = i
				break
			}
		}
		v, err := spot.EncodeChunk(lines[:n])
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, kafka.Record{Topic: "spot-flow", Partition: int32(len(out) % 4), Offset: int64(len(out) / 4), Value: v})
		lines = lines[n:]
	}
	return out
}

// BenchmarkFlowParquet measures the flow listener's work on 200,000 lines
// in 40 chunks: decode the chunks, parse every line, write the rows as
// Snappy Parquet partitioned by y/m/d/h to a temporary directory, files
// synced. Sub-benchmarks:
//
//   - engine: the listener's own pipeline (buildPipeline) on the dstream
//     engine, fed one batch of the chunks from a queue stream and driven
//     by a ManualClock, with the context's default parallelism;
//   - engine-p1: the same with parallelism 1, one core's worth;
//   - handwritten: a plain loop on one goroutine: decode each chunk, split
//     each line with strings.Split, parse the fields with strconv and the
//     time with time.Parse, group the rows by hour, and write each group
//     with a parquet-go GenericWriter to its y=/m=/d=/h= directory;
//   - handwritten-spotparse: the same loop with the listener's own parser
//     (spot.ParseFlow), the practical limit on one core: engine-p1 against
//     it is the engine's overhead alone.
//
// Each reports lines/s. Compare engine-p1 with handwritten for the
// engine's cost per core; engine is what the listener gets.
func BenchmarkFlowParquet(b *testing.B) {
	lines := benchFlowLines(benchLines)
	chunks := benchChunks(b, lines)
	b.Run("engine", func(b *testing.B) { benchEngine(b, chunks, len(lines), runtime.GOMAXPROCS(0)) })
	b.Run("engine-p1", func(b *testing.B) { benchEngine(b, chunks, len(lines), 1) })
	b.Run("handwritten", func(b *testing.B) { benchHandwritten(b, chunks, len(lines), handParse) })
	b.Run("handwritten-spotparse", func(b *testing.B) { benchHandwritten(b, chunks, len(lines), spot.ParseFlow) })
}

func benchEngine(b *testing.B, chunks []kafka.Record, lines, parallelism int) {
	out := filepath.Join(b.TempDir(), "flow")
	clk := dstream.NewManualClock(time.UnixMilli(0))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet), dstream.WithParallelism(parallelism))
	if err != nil {
		b.Fatal(err)
	}
	defer ssc.Stop(context.Background(), dstream.Hard)
	q := dstream.NewQueue[kafka.Record]()
	counts := newReporter(io.Discard)
	// A file set per batch: the queue's batches have no Kafka ranges to
	// rotate by.
	cfg := pipelineConfig{out: out, logger: quiet}
	sink, err := newTableSink(spot.FlowTable, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := buildPipeline(dstream.QueueStream(ssc, q), spot.FlowTable, sink, cfg, counts); err != nil {
		b.Fatal(err)
	}
	if err := ssc.Start(); err != nil {
		b.Fatal(err)
	}
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		os.RemoveAll(out)
		runtime.GC()
		b.StartTimer()
		began := time.Now()
		q.Push(chunks)
		clk.Advance(time.Second)
		if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(began)
		b.StopTimer()
		if c, _ := counts.Take(clk.Now()); c.rows != int64(lines) || c.dead != 0 {
			b.Fatalf("batch counts %+v, want %d rows", c, lines)
		}
		b.StartTimer()
	}
	b.StopTimer()
	checkBenchOutput(b, out, lines)
	b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
}

// handRow is what the hand-written loop parses a line into: the row and
// its hour.
func handParse(line string) (spot.FlowRow, error) {
	f := strings.Split(line, ",")
	if len(f) != 27 {
		return spot.FlowRow{}, fmt.Errorf("%d fields", len(f))
	}
	ts, err := time.Parse(time.DateTime, f[0])
	if err != nil {
		return spot.FlowRow{}, err
	}
	var ints [27]int64
	for _, i := range []int{1, 2, 3, 4, 5, 6, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25} {
		if ints[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			return spot.FlowRow{}, err
		}
	}
	dur, err := strconv.ParseFloat(f[7], 32)
	if err != nil {
		return spot.FlowRow{}, err
	}
	return spot.FlowRow{
		TReceived: f[0], UnixTstamp: ts.Unix(),
		TrYear: int32(ints[1]), TrMonth: int32(ints[2]), TrDay: int32(ints[3]), TrHour: int32(ints[4]), TrMinute: int32(ints[5]), TrSec: int32(ints[6]),
		TDur: float32(dur), SIP: f[8], DIP: f[9], SPort: int32(ints[10]), DPort: int32(ints[11]), Proto: f[12], Flag: f[13],
		Fwd: int32(ints[14]), STos: int32(ints[15]), IPkt: ints[16], IByt: ints[17], OPkt: ints[18], OByt: ints[19],
		Input: int32(ints[20]), Output: int32(ints[21]), SAS: int32(ints[22]), DAS: int32(ints[23]), DTos: int32(ints[24]), Dir: int32(ints[25]),
		RIP: f[26], Y: int(ints[1]), M: int(ints[2]), D: int(ints[3]), H: int(ints[4]),
	}, nil
}

// handWrite is the hand-written job: every chunk's lines parsed, grouped
// by hour and written, one file per hour, Snappy, synced.
func handWrite(chunks []kafka.Record, out string, parse func(string) (spot.FlowRow, error)) error {
	type hour struct{ y, m, d, h int }
	groups := map[hour][]spot.FlowRow{}
	for _, c := range chunks {
		lines, err := spot.DecodeChunk(c.Value)
		if err != nil {
			return err
		}
		for _, l := range lines {
			r, err := parse(l)
			if err != nil {
				return err
			}
			k := hour{r.Y, r.M, r.D, r.H}
			groups[k] = append(groups[k], r)
		}
	}
	for k, rows := range groups {
		dir := filepath.Join(out, fmt.Sprintf("y=%d/m=%d/d=%d/h=%d", k.y, k.m, k.d, k.h))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, "part-0.parquet"))
		if err != nil {
			return err
		}
		w := parquet.NewGenericWriter[spot.FlowRow](f, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(parquetsink.DefaultRowGroupRows))
		if _, err := w.Write(rows); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func benchHandwritten(b *testing.B, chunks []kafka.Record, lines int, parse func(string) (spot.FlowRow, error)) {
	out := filepath.Join(b.TempDir(), "flow")
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		os.RemoveAll(out)
		runtime.GC()
		b.StartTimer()
		began := time.Now()
		if err := handWrite(chunks, out, parse); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(began)
	}
	b.StopTimer()
	checkBenchOutput(b, out, lines)
	b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
}

// checkBenchOutput checks that dir holds the lines' rows in two hours.
func checkBenchOutput(b *testing.B, dir string, lines int) {
	table := readTable[spot.FlowRow](b, dir)
	n := 0
	for _, rows := range table {
		n += len(rows)
	}
	if n != lines || len(table) != 2 {
		b.Fatalf("%d rows in %d directories, want %d in 2", n, len(table), lines)
	}
}
