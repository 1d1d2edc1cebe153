package runner_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/runner"
)

// A library job run for a fixed duration with RunJob: the frame a
// command's main gets from Main (signals, exit statuses) is the same
// RunJob under it.
func ExampleRunJob() {
	ssc, err := dstream.NewContext(50*time.Millisecond,
		dstream.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		fmt.Println(err)
		return
	}
	q := dstream.NewQueue[int]()
	q.Push([]int{1, 2, 3})
	q.Push([]int{4, 5})
	var sum int
	err = dstream.QueueStream(ssc, q).ForEachBatch(func(_ context.Context, b *dstream.Batch[int]) error {
		for x := range b.All() {
			sum += x
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// No status page (nil), run for 300 ms, then stop gracefully.
	if err := runner.RunJob(context.Background(), ssc, nil, "", 300*time.Millisecond, nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sum:", sum)
	fmt.Println("exit status:", runner.ExitCode(os.Stderr, "example", err))
	// Output:
	// sum: 15
	// exit status: 0
}
