package kudusink

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kudu"
	"github.com/microbatch-go/microbatch/internal/kudutest"
)

type row struct {
	Source string `kudu:"source,key"`
	Value  int64  `kudu:"value"`
}

// Open returns at once without connecting, even to masters that do not
// answer; the start-up check connects with a client of its own and closes
// it; the sink connects at the first batch with rows, and Close (at Stop)
// closes its client, after which the sink writes nothing.
func TestOpenClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	down, err := New([]string{dead}, "events", StructTags[row]())
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := down.Open(context.Background()); err != nil || time.Since(began) > 100*time.Millisecond {
		t.Errorf("Open with masters down = %v after %v, want nil at once", err, time.Since(began))
	}
	if err := down.Close(); err != nil {
		t.Errorf("Close of a sink that never connected = %v", err)
	}

	c := kudutest.New(t)
	sink, err := New(c.MasterAddrs(), "events", StructTags[row](), CreateIfMissing(Hash(2, "source")))
	if err != nil {
		t.Fatal(err)
	}
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	q := dstream.NewQueue[row]()
	if err := dstream.QueueStream(ssc, q).WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	name, check := sink.StartCheck()
	if want := "kudu masters " + c.MasterAddrs()[0]; name != want {
		t.Errorf("StartCheck name %q, want %q", name, want)
	}
	_ = check // WriteTo registered it
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	if len(c.Tables()) != 1 {
		t.Errorf("tables %q after the start-up check, want it to have created events", c.Tables())
	}
	if cl := client(sink); cl != nil {
		t.Error("the sink kept a client at Start; the start-up check's is its own")
	}
	step := func() {
		t.Helper()
		clk.Advance(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ssc.WaitForBatch(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	step() // an empty batch does not connect
	if client(sink) != nil {
		t.Error("the sink connected for an empty batch")
	}
	q.Push([]row{{"a", 1}, {"b", 2}})
	step()
	cl := client(sink)
	if cl == nil || len(c.Rows("events")) != 2 {
		t.Fatalf("client %v, %d rows after a batch of 2", cl, len(c.Rows("events")))
	}
	if err := ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	if client(sink) != nil {
		t.Error("the sink holds a client after Stop")
	}
	if _, err := cl.Table(context.Background(), "events"); !errors.Is(err, kudu.ErrClosed) {
		t.Errorf("the client after Stop: Table = %v, want ErrClosed", err)
	}
	if _, _, err := sink.open(context.Background()); !errors.Is(err, kudu.ErrClosed) {
		t.Errorf("opening the closed sink = %v, want ErrClosed", err)
	}
}

// client returns the sink's client, nil before it connects.
func client[T any](s *Sink[T]) *kudu.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cl
}
