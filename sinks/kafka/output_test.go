package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Open creates the client without connecting (Start does not wait for
// unreachable brokers), and Close, at Stop, closes it.
func TestOpenClose(t *testing.T) {
	j := newContextJob[string](t)
	out := j.writeTo("t", Encoder[string]{}, dstream.WriteSpec[string]{}, Brokers("127.0.0.1:1"))
	if out.cl != nil {
		t.Fatal("the client exists before Start")
	}
	start := time.Now()
	j.start()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start took %v with unreachable brokers: Open must not block", d)
	}
	out.mu.Lock()
	cl := out.cl
	out.mu.Unlock()
	if cl == nil {
		t.Fatal("Open did not create the client")
	}
	if got := out.String(); got != "kafka t" {
		t.Errorf("String() = %q", got)
	}
	if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	out.mu.Lock()
	held, closed := out.cl != nil, out.closed
	out.mu.Unlock()
	if held || !closed {
		t.Errorf("after Stop the sink holds a client (%v) or is not closed (%v)", held, closed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr(); !errors.Is(err, kgo.ErrClientClosed) {
		t.Errorf("producing with the client after Stop: %v, want kgo.ErrClientClosed", err)
	}
	if _, err := out.Begin(ctx, dstream.OutputBatch{}); !errors.Is(err, dstream.ErrContextStopped) {
		t.Errorf("Begin after Close = %v, want ErrContextStopped", err)
	}
}

// A client option that franz-go refuses fails Start, naming the output.
func TestOpenFailsOnInvalidClientOption(t *testing.T) {
	j := newContextJob[string](t)
	j.writeTo("t", Encoder[string]{}, dstream.WriteSpec[string]{}, Brokers("127.0.0.1:1"),
		ClientOptions(kgo.ClientID(strings.Repeat("x", 300))))
	err := j.ssc.Start()
	if err == nil || !strings.Contains(err.Error(), "opening output kafka t") || !strings.Contains(err.Error(), "client id length 300") {
		t.Fatalf("Start = %v, want the client's error naming the output", err)
	}
}

// Without a WriteSpec.DeadLetter, poison records go to the context's
// dead-letter handler, or else to a WARN line, counted in
// OutputOperationInfo.Rejected, and the batch goes on.
func TestWritePoisonRecordsRejectedByDefault(t *testing.T) {
	for _, route := range []string{"handler", "log"} {
		t.Run(route, func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"t": 2})
			var logs testtool.Buffer
			var mu sync.Mutex
			var letters []dstream.DeadLetter
			opts := []dstream.Option{dstream.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
			if route == "handler" {
				opts = append(opts, dstream.WithDeadLetterHandler(func(d dstream.DeadLetter) {
					mu.Lock()
					defer mu.Unlock()
					letters = append(letters, d)
				}))
			}
			clk := dstream.NewManualClock(time.UnixMilli(0))
			ssc, err := dstream.NewContext(time.Second, append(opts, dstream.WithClock(clk), dstream.WithParallelism(2))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
			j := &queueJob[int]{t: t, clk: clk, ssc: ssc, q: dstream.NewQueue[int]()}
			odd := errors.New("odd")
			err = WriteEncoded(dstream.QueueStream(ssc, j.q), "t", Encode(func(n int) ([]byte, error) {
				if n%2 == 1 {
					return nil, fmt.Errorf("%d is %w", n, odd)
				}
				return strconv.AppendInt(nil, int64(n), 10), nil
			}), Brokers(c.Addrs...))
			if err != nil {
				t.Fatal(err)
			}
			rejected := rejectedCounts(ssc)
			j.q.PushPartitions([][]int{{0, 1, 2, 3}, {4, 5}})
			j.q.Push([]int{6})
			j.start()
			j.mustStep()
			j.mustStep()
			if got := rejected(); !slices.Equal(got, []int64{3, 0}) {
				t.Errorf("OutputOperationInfo.Rejected per batch = %v, want [3 0]", got)
			}
			if got := slices.Sorted(slices.Values(values(readTopic(t, c, "t", false)))); !slices.Equal(got, []string{"0", "2", "4", "6"}) {
				t.Errorf("written %v, want the even numbers", got)
			}
			switch route {
			case "handler":
				mu.Lock()
				defer mu.Unlock()
				slices.SortFunc(letters, func(a, b dstream.DeadLetter) int { return a.Record.(int) - b.Record.(int) })
				if len(letters) != 3 {
					t.Fatalf("dead letters %+v, want 3", letters)
				}
				for i, want := range []struct{ rec, part, index int }{{1, 0, 1}, {3, 0, 3}, {5, 1, 1}} {
					d := letters[i]
					var re *RecordError
					if d.Record != want.rec || d.Partition != want.part || d.Output != "kafka t" || d.BatchTime.UnixMilli() != 1000 ||
						!errors.As(d.Err, &re) || re.Op != "encode" || re.Partition != want.part || re.Index != want.index || !errors.Is(d.Err, odd) {
						t.Errorf("dead letter %d: %+v, want record %d of partition %d at index %d", i, d, want.rec, want.part, want.index)
					}
				}
			case "log":
				lines := regexp.MustCompile(`level=WARN msg="dstream: record rejected by output" output="kafka t" .*partition=(\d) reason=".*: encode: \d is odd"`).
					FindAllStringSubmatch(logs.String(), -1)
				if len(lines) != 3 {
					t.Errorf("%d WARN lines for 3 rejected records:\n%s", len(lines), logs.String())
				}
			}
		})
	}
}

// Every callback typed by the stream's element type is checked by the
// compiler: testdata/wrongtype passes one of another type on each line
// marked "WANT", and must fail to build with a type error on each of
// them and nowhere else.
func TestWrongTypesDoNotCompile(t *testing.T) {
	testtool.MustNotCompile(t, "testdata/wrongtype", "event")
}
