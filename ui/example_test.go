package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/ui"
)

// A job with its status page: the Server is registered as a listener
// before the context starts, and its handler served (here by httptest;
// a program calls ListenAndServe). A ManualClock drives the batches.
func ExampleServer() {
	const interval = time.Second
	srv, err := ui.New(interval)
	if err != nil {
		panic(err)
	}
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(interval, dstream.WithListener(srv), dstream.WithClock(clk),
		dstream.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	q := dstream.NewQueue[string]()
	q.Push([]string{"to be", "or not", "to be"})
	if err := dstream.QueueStream(ssc, q).ForEachBatch(func(context.Context, *dstream.Batch[string]) error {
		clk.Advance(40 * time.Millisecond) // the batch takes 40 ms
		return nil
	}); err != nil {
		panic(err)
	}
	if err := ssc.Start(); err != nil {
		panic(err)
	}
	clk.Set(time.UnixMilli(1000))
	if err := ssc.WaitForBatch(context.Background(), clk.Now()); err != nil {
		panic(err)
	}

	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	resp, err := http.Get(web.URL + "/api/v1/streaming/batches/1000")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var b ui.Batch
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		panic(err)
	}
	fmt.Printf("batch %d: %s, %d records, %.0f records/s, processing %.0f ms, output ops %d/%d\n",
		b.BatchTime, b.Status, *b.NumRecords, *b.InputRate, *b.ProcessingTimeMs, b.NumSucceededOutputOps, b.NumOutputOps)
	_ = ssc.Stop(context.Background(), dstream.Hard)
	// Output:
	// batch 1000: completed, 3 records, 3 records/s, processing 40 ms, output ops 1/1
}
