package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/storage"
)

// The table, the dead letters and the checkpoint on HDFS (our NameNode
// and DataNode test server, through the real HDFS client, with
// permissions checked): every sample record is read back from HDFS once,
// in its hour's partition, and the line that does not parse is a dead
// letter there. The listener runs as the user spot, in its home
// directory.
func TestFlowToHDFS(t *testing.T) {
	hdfs := hdfstest.New(t, hdfstest.WithBlockSize(64<<10))
	home, err := hdfs.AddUser("spot")
	if err != nil {
		t.Fatal(err)
	}
	base := "hdfs://" + hdfs.Addr() + home
	lines := testLines(t, flowRecords)
	bad := "2016-08-17 10:58:03,2016,8,17,10,58,3,0.000,10.1.1.1,10.1.1.2,1,x,TCP,......,0,0,1,1,0,0,0,0,0,0,0,0,10.0.0.1"
	c := kafkatest.New(t, map[string]int32{"spot-flow": 1})
	produce(t, c, "spot-flow", message{0, chunk(t, lines[:12]...)}, message{0, chunk(t, append(lines[12:], bad)...)})
	runUntil(t, []string{"-type", "flow", "-brokers", c.Addrs[0], "-batch", "200ms",
		"-out", base + "/flow/hive?user=spot", "-dead-letter", base + "/flow/dead?user=spot",
		"-checkpoint", base + "/checkpoints/flow?user=spot"}, 2)

	fsys, root, err := storage.Open(base + "?user=spot")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	byDir := map[string]int{}
	seen := map[string]int{}
	var deadLines []string
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		entries, err := fsys.List(ctx, dir)
		if err != nil {
			t.Fatalf("list %s: %v", dir, err)
		}
		for _, e := range entries {
			switch {
			case e.IsDir && strings.HasPrefix(e.Name, "_"):
			case e.IsDir:
				walk(e.Path, strings.TrimPrefix(rel+"/"+e.Name, "/"))
			case strings.HasSuffix(e.Name, ".parquet") || strings.HasPrefix(e.Name, "dead-"):
				r, err := fsys.Open(ctx, e.Path)
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(r)
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(rel, "flow/dead/") { // inside -dead-letters directory
					for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
						if l != "" {
							deadLines = append(deadLines, l)
						}
					}
					continue
				}
				rows, err := parquet.Read[spot.FlowRow](bytes.NewReader(data), int64(len(data)))
				if err != nil {
					t.Fatalf("%s: %v", e.Path, err)
				}
				for _, row := range rows {
					byDir[rel]++
					seen[flowKey(row)]++
				}
			}
		}
	}
	walk(root, "")
	if byDir["flow/hive/y=2016/m=8/d=17/h=10"] != 18 || byDir["flow/hive/y=2016/m=8/d=17/h=11"] != 2 || len(byDir) != 2 {
		t.Errorf("rows by directory on HDFS: %v; want 18 in hour 10 and 2 in hour 11", byDir)
	}
	for _, l := range lines {
		r, err := spot.ParseFlow(l)
		if err != nil {
			t.Fatal(err)
		}
		if n := seen[flowKey(r)]; n != 1 {
			t.Errorf("record %s is on HDFS %d times", flowKey(r), n)
		}
	}
	if len(deadLines) != 1 || !strings.Contains(deadLines[0], `"offset":1`) || !strings.Contains(deadLines[0], "dport") {
		t.Errorf("dead letters on HDFS: %q; want the bad line of offset 1", deadLines)
	}
	ckpt, err := fsys.List(ctx, root+"/checkpoints/flow")
	if err != nil || len(ckpt) == 0 {
		t.Errorf("no checkpoint on HDFS: %v %v", ckpt, err)
	}
}
