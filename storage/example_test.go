package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/microbatch-go/microbatch/storage"
)

// Open a directory by URI, write files atomically into it, then list
// them and expand a glob.
func Example() {
	tmp, err := os.MkdirTemp("", "storage-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)

	ctx := context.Background()
	fsys, dir, err := storage.Open("file://" + filepath.ToSlash(tmp) + "/out")
	if err != nil {
		panic(err)
	}
	for i, text := range []string{"hello\n", "storage\n"} {
		name := fmt.Sprintf("%s/batch-%d/part-00000", dir, 1000*(i+1))
		err := storage.WriteFileAtomic(ctx, fsys, name, func(w io.Writer) error {
			_, err := io.WriteString(w, text)
			return err
		})
		if err != nil {
			panic(err)
		}
	}
	entries, err := fsys.List(ctx, dir)
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Println(e.Name, e.IsDir)
	}
	parts, err := storage.Glob(ctx, fsys, dir+"/batch-*/part-*")
	if err != nil {
		panic(err)
	}
	for _, p := range parts {
		fi, err := fsys.Stat(ctx, p)
		if err != nil {
			panic(err)
		}
		rel, _ := filepath.Rel(tmp, p)
		fmt.Println(filepath.ToSlash(rel), fi.Size)
	}
	// Output:
	// batch-1000 true
	// batch-2000 true
	// out/batch-1000/part-00000 6
	// out/batch-2000/part-00000 8
}

// A driver package registers its scheme from init; programs import it for
// its side effects. Without the import, Open says what is missing.
func ExampleOpen() {
	_, _, err := storage.Open("nosuchfs://namenode:8020/data")
	fmt.Println(errors.Is(err, storage.ErrUnknownScheme))

	fsys, dir, err := storage.Open("/var/data/in")
	fmt.Println(fsys == storage.Local(), dir, err)
	// Output:
	// true
	// true /var/data/in <nil>
}
