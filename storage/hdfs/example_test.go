package hdfs_test

import (
	"context"
	"fmt"
	"io"

	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// Open an HDFS directory by URI (here on an in-process test cluster),
// write a file atomically into it and list it.
func Example() {
	cluster, err := hdfstest.Start()
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	ctx := context.Background()
	fsys, dir, err := storage.Open("hdfs://" + cluster.Addr() + "/data/out?user=etl")
	if err != nil {
		panic(err)
	}
	defer fsys.(*storagehdfs.FS).Close()

	err = storage.WriteFileAtomic(ctx, fsys, dir+"/part-00000", func(w io.Writer) error {
		_, err := io.WriteString(w, "hello\n")
		return err
	})
	if err != nil {
		panic(err)
	}
	entries, err := fsys.List(ctx, dir)
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Println(e.Path, e.Size)
	}
	// Output:
	// /data/out/part-00000 6
}
