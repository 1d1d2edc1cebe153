package socket_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/socket"
)

// Read the lines a TCP server sends. The server here sends two lines and a
// last one without a newline, then closes the connection; the job stops
// once it has seen them all.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "to be\r\nor not\nto be")
	}()

	// The receiver reports the closed connection and retries; keep the
	// example's output to the lines.
	quiet := slog.New(slog.DiscardHandler)
	ssc, err := dstream.NewContext(50*time.Millisecond, dstream.WithLogger(quiet))
	if err != nil {
		fmt.Println(err)
		return
	}
	lines := socket.TextStream(ssc, ln.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string // batches run one at a time, so no lock is needed
	err = lines.ForEachBatch(func(_ context.Context, b *dstream.Batch[string]) error {
		got = append(got, b.Collect()...)
		if len(got) == 3 {
			cancel() // Run stops the context gracefully
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := ssc.Run(ctx); err != nil {
		fmt.Println(err)
	}

	slices.Sort(got)
	for _, line := range got {
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "or not"
	// "to be"
	// "to be"
}
