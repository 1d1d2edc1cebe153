package parquetsink_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/internal/hdfstest"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/storage"
	_ "github.com/microbatch-go/microbatch/storage/hdfs" // the hdfs:// scheme
)

// TestWriteToHDFS writes Hive-partitioned Parquet to the HDFS test server
// through the real HDFS client, with blocks small enough that files span
// several, and reads every file back from HDFS with parquet-go: the same
// rows, in the same partitions. The NameNode checks permissions: the
// table's directory is one the administrator made for the job's user,
// etl, under /warehouse, which only the superuser may write.
func TestWriteToHDFS(t *testing.T) {
	c := hdfstest.New(t, hdfstest.WithBlockSize(64<<10))
	if err := c.Mkdir("/warehouse/readings", 0o755, "etl", ""); err != nil {
		t.Fatal(err)
	}
	uri := "hdfs://" + c.Addr() + "/warehouse/readings?user=etl"
	h := newHarness[reading](t, 2)
	err := parquetsink.WritePartitioned(h.s, uri,
		parquetsink.PartitionBy([]string{"region", "kind"}, func(r reading) []string { return []string{r.Region, r.Kind} }),
		parquetsink.Compression(&parquet.Uncompressed))
	if err != nil {
		t.Fatal(err)
	}
	var want []reading
	for i := range 6000 {
		want = append(want, reading{Device: strings.Repeat(fmt.Sprintf("device-%d-", i%7), 30), Temp: float64(i) / 10,
			Region: []string{"eu/west", "us:east"}[i%2], Kind: []string{"a", "b", "c"}[i%3]})
	}
	h.q.Push(want[:4000])
	h.q.Push(want[4000:])
	h.start()
	h.mustStep()
	h.mustStep()
	h.stop()

	fsys, root, err := storage.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got := map[string]int{} // "region/kind/device/temp" -> count
	var files, bigFiles int
	var walk func(dir string, parts []string)
	walk = func(dir string, parts []string) {
		entries, err := fsys.List(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch {
			case e.IsDir && e.Name == "_temporary":
			case e.IsDir:
				walk(e.Path, append(parts, e.Name))
			case strings.HasSuffix(e.Name, ".parquet"):
				files++
				if e.Size > 64<<10 {
					bigFiles++
				}
				r, err := fsys.Open(ctx, e.Path)
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(r)
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
				rows, err := parquet.Read[reading](bytes.NewReader(data), int64(len(data)))
				if err != nil {
					t.Fatalf("reading %s: %v", e.Path, err)
				}
				for _, row := range rows {
					if row.Region != "" || row.Kind != "" {
						t.Fatalf("%s stores the partition columns: %+v", e.Path, row)
					}
					got[path.Join(append(parts, row.Device, strings.TrimRight(strings.TrimRight(
						fmtFloat(row.Temp), "0"), "."))...)]++
				}
			}
		}
	}
	walk(root, nil)
	wantCounts := map[string]int{}
	for _, r := range want {
		wantCounts[path.Join(parquetsink.PartitionPath([]string{"region", "kind"}, []string{r.Region, r.Kind}), r.Device,
			strings.TrimRight(strings.TrimRight(fmtFloat(r.Temp), "0"), "."))]++
	}
	if !reflect.DeepEqual(got, wantCounts) {
		t.Errorf("read back %d distinct rows from %d files, want %d", len(got), files, len(wantCounts))
	}
	if bigFiles == 0 {
		t.Errorf("no file spans more than one 64 KiB block; the test does not reach multi-block reads")
	}
	if open := c.OpenFiles(); len(open) != 0 {
		t.Errorf("files left open on HDFS: %v", open)
	}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }
