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
// write a file atomically into it and list it. The job acts as the user
// etl, in its home directory, which the cluster's administrator made.
func Example() {
	cluster, err := hdfstest.Start()
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	home, err := cluster.AddUser("etl") // /user/etl, owned by etl
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	fsys, dir, err := storage.Open("hdfs://" + cluster.Addr() + home + "/out?user=etl")
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
	// /user/etl/out/part-00000 6
}
