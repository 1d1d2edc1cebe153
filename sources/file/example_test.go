package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/file"
)

// put makes a file appear atomically in dir: written under a hidden name,
// given its modification time, then renamed.
func put(dir, name, text string, mod time.Time) {
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o666); err != nil {
		panic(err)
	}
	if err := os.Chtimes(tmp, mod, mod); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		panic(err)
	}
}

// A text file stream on a manual clock at the Unix epoch, so that batch
// times are 1000 ms, 2000 ms, ... and the files are given modification
// times on the same clock; a real job uses the system clock and Run.
func Example() {
	dir, err := os.MkdirTemp("", "textfilestream")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk))
	if err != nil {
		panic(err)
	}
	lines := file.TextStream(ssc, dir)
	lines.Print()
	if err := ssc.Start(); err != nil {
		panic(err)
	}
	step := func() {
		clk.Advance(time.Second)
		if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
			panic(err)
		}
	}

	put(dir, "a.txt", "hello world\r\nhello file stream", time.UnixMilli(400))
	put(dir, "b.txt", "modified after 1000 ms: waits\n", time.UnixMilli(1200))
	step() // 1000 ms: a.txt
	put(dir, "c.txt", "late, but inside the window\n", time.UnixMilli(700))
	step() // 2000 ms: b.txt and c.txt
	step() // 3000 ms: nothing new
	if err := ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		panic(err)
	}
	// Output:
	// -------------------------------------------
	// Time: 1000 ms
	// -------------------------------------------
	// hello world
	// hello file stream
	//
	// -------------------------------------------
	// Time: 2000 ms
	// -------------------------------------------
	// modified after 1000 ms: waits
	// late, but inside the window
	//
	// -------------------------------------------
	// Time: 3000 ms
	// -------------------------------------------
	//
}

// Fixed-length binary records, here 4-byte big-endian integers.
func ExampleBinaryRecordsStream() {
	dir, err := os.MkdirTemp("", "binaryrecords")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk))
	if err != nil {
		panic(err)
	}
	recs := file.BinaryRecordsStream(ssc, dir, 4)
	nums := dstream.Map(recs, func(r []byte) uint32 {
		return uint32(r[0])<<24 | uint32(r[1])<<16 | uint32(r[2])<<8 | uint32(r[3])
	})
	nums.ForEachBatch(func(_ context.Context, b *dstream.Batch[uint32]) error {
		fmt.Println(b.Time.UnixMilli(), b.Collect())
		return nil
	})
	if err := ssc.Start(); err != nil {
		panic(err)
	}
	put(dir, "nums.bin", "\x00\x00\x00\x01\x00\x00\x01\x00\x01\x00\x00\x00", time.UnixMilli(500))
	clk.Advance(time.Second)
	if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
		panic(err)
	}
	ssc.Stop(context.Background(), dstream.Graceful)
	// Output:
	// 1000 [1 256 16777216]
}
