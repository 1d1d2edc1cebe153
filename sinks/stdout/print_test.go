package stdout

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// run pushes the batches (lists of partitions) into a queue stream, prints
// it with opts and returns what was written.
func run[T any](t *testing.T, batches [][][]T, opts ...Option) string {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	q := dstream.NewQueue[T]()
	for _, b := range batches {
		q.PushPartitions(b)
	}
	var out bytes.Buffer
	if err := Print(dstream.QueueStream(ssc, q), append([]Option{Writer(&out)}, opts...)...); err != nil {
		t.Fatalf("Print: %v", err)
	}
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	for range batches {
		clk.Advance(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := ssc.WaitForBatch(ctx, clk.Now())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestPrintLines(t *testing.T) {
	type ev struct {
		Name  string
		Count int
	}
	got := run(t, [][][]ev{
		{{{"a", 1}, {"b", 2}}, {{"c", 3}}},
		{},
		{{}, {{"d", 4}}},
	})
	want := "[1000 ms p0] {Name:a Count:1}\n" +
		"[1000 ms p0] {Name:b Count:2}\n" +
		"[1000 ms p1] {Name:c Count:3}\n" +
		"[3000 ms p1] {Name:d Count:4}\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPrintMaxRecordsLabelTimeLayout(t *testing.T) {
	got := run(t, [][][]int{{{1, 2, 3}, {4, 5}}}, MaxRecords(2), Label("nums"), TimeLayout(time.RFC3339))
	want := "[nums 1970-01-01T00:00:01Z p0] 1\n" +
		"[nums 1970-01-01T00:00:01Z p0] 2\n" +
		"[nums 1970-01-01T00:00:01Z] ... 3 more\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := run(t, [][][]int{{{1, 2}}}, MaxRecords(0)); got != "[1000 ms] ... 2 more\n" {
		t.Fatalf("MaxRecords(0): %q", got)
	}
	many := make([]int, 150)
	if got := run(t, [][][]int{{many}}); strings.Count(got, "\n") != DefaultMaxRecords+1 || !strings.HasSuffix(got, "... 50 more\n") {
		t.Fatalf("default limit: %d lines, ends %q", strings.Count(got, "\n"), got[len(got)-30:])
	}
	if got := run(t, [][][]int{{many}}, MaxRecords(-1)); strings.Count(got, "\n") != 150 {
		t.Fatalf("MaxRecords(-1): %d lines, want 150", strings.Count(got, "\n"))
	}
}

func TestPrintJSON(t *testing.T) {
	type ev struct {
		Name string `json:"name"`
		Data []byte `json:"data"`
	}
	got := run(t, [][][]any{{{ev{Name: "a", Data: []byte("hi")}, map[string]int{"x": 1}, make(chan int)}}}, JSON())
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %q", got)
	}
	if lines[0] != `[1000 ms p0] {"name":"a","data":"aGk="}` {
		t.Errorf("struct: %q", lines[0])
	}
	if lines[1] != `[1000 ms p0] {"x":1}` {
		t.Errorf("map: %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "[1000 ms p0] 0x") || !strings.Contains(lines[2], "(JSON: json: unsupported type: chan int)") {
		t.Errorf("unmarshalable value: %q", lines[2])
	}
}

func TestFormatValue(t *testing.T) {
	type inner struct {
		b []byte
		n int
	}
	type withPtr struct {
		P *inner
		A [4]byte
		M map[string][]byte
		E error
		I any
	}
	type node struct {
		Next *node
		V    int
	}
	cyc := &node{V: 1}
	cyc.Next = cyc
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		x    any
		want string
	}{
		{"nil", nil, "<nil>"},
		{"string", "héllo", "héllo"},
		{"text bytes", []byte("hello world"), "hello world"},
		{"binary bytes", []byte{0, 1, 'a', 0xff}, `"\x00\x01a\xff"`},
		{"empty bytes", []byte{}, ""},
		{"newline bytes", []byte("a\nb"), `"a\nb"`},
		{"int", 42, "42"},
		{"kafka record", kafka.Record{Topic: "t", Partition: 1, Offset: 7, Key: []byte("k"), Value: []byte{0xff, 0xfe}, Headers: []kafka.Header{{Key: "h", Value: []byte("v")}}, Timestamp: ts},
			`{Topic:t Partition:1 Offset:7 Key:k Value:"\xff\xfe" Headers:[{Key:h Value:v}] Timestamp:2024-01-02 03:04:05 +0000 UTC}`},
		{"pair", dstream.KV("k", []byte("v")), "(k,v)"},
		{"nested pair", []dstream.Pair[string, dstream.Optional[[]byte]]{dstream.KV("a", dstream.Some([]byte("x"))), dstream.KV("b", dstream.None[[]byte]())}, "[(a,Some(x)) (b,None)]"},
		{"pointers and maps", withPtr{P: &inner{b: []byte("u"), n: 3}, A: [4]byte{'a', 'b', 'c', 'd'}, M: map[string][]byte{"z": []byte("1"), "a": nil}, E: errors.New("boom"), I: []byte("any")},
			"{P:&{b:u n:3} A:abcd M:map[a: z:1] E:boom I:any}"},
		{"top pointer", &inner{b: []byte("x")}, "&{b:x n:0}"},
		{"nil pointer", (*inner)(nil), "<nil>"},
		{"stringer", ts, "2024-01-02 03:04:05 +0000 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatValue(tc.x, 0, &sync.Map{}); got != tc.want {
				t.Errorf("formatValue = %q, want %q", got, tc.want)
			}
		})
	}
	if got := formatValue(cyc, 0, &sync.Map{}); !strings.HasPrefix(got, "&{Next:&{Next:") || !strings.Contains(got, "...") || !strings.HasSuffix(got, "V:1}") {
		t.Errorf("cycle: %q", got)
	}
	if got := formatValue([]byte("abcdefgh"), 3, &sync.Map{}); got != "abc...(+5 bytes)" {
		t.Errorf("MaxBytes: %q", got)
	}
	if got := formatValue([]byte("ééé"), 3, &sync.Map{}); got != "é...(+4 bytes)" {
		t.Errorf("MaxBytes cutting a character: %q", got)
	}
}

func TestPrintKeepsOneLinePerRecord(t *testing.T) {
	got := run(t, [][][]string{{{"two\nlines", "esc\x1b[31m", "tab\there", "bad\xffutf8"}}}, Label("l\nabel"))
	want := "[l\\nabel 1000 ms p0] two\\nlines\n" +
		"[l\\nabel 1000 ms p0] esc\\x1b[31m\n" +
		"[l\\nabel 1000 ms p0] tab\there\n" +
		"[l\\nabel 1000 ms p0] bad\\xffutf8\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestPrintErrors(t *testing.T) {
	ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	s := dstream.QueueStream(ssc, dstream.NewQueue[int]())
	for _, o := range []Option{Writer(nil), TimeLayout(""), MaxBytes(-1)} {
		var be *dstream.BuildError
		if err := Print(s, o); !errors.As(err, &be) || !errors.Is(err, dstream.ErrInvalidOption) {
			t.Errorf("Print with an invalid option = %v, want a BuildError wrapping ErrInvalidOption", err)
		}
	}
	var nilStream *dstream.Stream[int]
	if err := Print(nilStream); !errors.Is(err, dstream.ErrNilStream) {
		t.Errorf("Print(nil) = %v", err)
	}

	// A failed write fails the batch.
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc2, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc2.Stop(context.Background(), dstream.Hard) })
	q := dstream.NewQueue[int]()
	q.Push([]int{1})
	if err := Print(dstream.QueueStream(ssc2, q), Writer(failingWriter{})); err != nil {
		t.Fatal(err)
	}
	if err := ssc2.Start(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ssc2.AwaitTermination(ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("AwaitTermination = %v, want the write error", err)
	}
}
