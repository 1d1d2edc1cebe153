package dstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recOutput is an Output that records every call.
type recOutput[T any] struct {
	mu       sync.Mutex
	calls    []string              // "open", "begin <ms>", "commit <ms>", "abort <ms>", "close"
	parts    map[int64][][]T       // batch ms -> partition -> records, once committed
	lineage  map[int64][][]Lineage // batch ms -> partition -> lineage
	openErr  error
	failPart func(ms int64, p int) error // error of WritePartition
	panicAt  int                         // WritePartition of this partition panics when >= 0
	reject   func(x T) error             // records rejected with this reason
	abortErr []error
}

func newRecOutput[T any]() *recOutput[T] {
	return &recOutput[T]{parts: map[int64][][]T{}, lineage: map[int64][][]Lineage{}, panicAt: -1}
}

func (o *recOutput[T]) log(s string) {
	o.mu.Lock()
	o.calls = append(o.calls, s)
	o.mu.Unlock()
}

func (o *recOutput[T]) Open(context.Context) error { o.log("open"); return o.openErr }
func (o *recOutput[T]) Close() error               { o.log("close"); return nil }
func (o *recOutput[T]) String() string             { return "rec" }

func (o *recOutput[T]) Begin(_ context.Context, b OutputBatch) (BatchWriter[T], error) {
	ms := b.Time.UnixMilli()
	o.log(fmt.Sprintf("begin %d", ms))
	return &recBatch[T]{o: o, ms: ms, parts: make([][]T, b.Partitions), lin: make([][]Lineage, b.Partitions)}, nil
}

type recBatch[T any] struct {
	o     *recOutput[T]
	ms    int64
	parts [][]T
	lin   [][]Lineage
}

func (b *recBatch[T]) WritePartition(_ context.Context, p *Partition[T]) error {
	if b.o.panicAt == p.Index {
		panic("sink exploded")
	}
	var got []T
	for x := range p.Records() {
		if b.o.reject != nil {
			if err := b.o.reject(x); err != nil {
				p.Reject(x, err)
				continue
			}
		}
		got = append(got, x)
	}
	b.parts[p.Index] = got
	b.lin[p.Index] = p.Lineage
	if b.o.failPart != nil {
		return b.o.failPart(b.ms, p.Index)
	}
	return nil
}

func (b *recBatch[T]) Commit(context.Context) error {
	b.o.mu.Lock()
	defer b.o.mu.Unlock()
	b.o.calls = append(b.o.calls, fmt.Sprintf("commit %d", b.ms))
	b.o.parts[b.ms] = b.parts
	b.o.lineage[b.ms] = b.lin
	return nil
}

func (b *recBatch[T]) Abort(_ context.Context, cause error) {
	b.o.mu.Lock()
	defer b.o.mu.Unlock()
	b.o.calls = append(b.o.calls, fmt.Sprintf("abort %d", b.ms))
	b.o.abortErr = append(b.o.abortErr, cause)
}

// sourcedInput is a fakeInput whose batches say what each partition holds.
type sourcedInput struct{ *fakeInput }

func (s sourcedInput) Generate(ctx context.Context, t time.Time) (*InputBatch[string], error) {
	b, err := s.fakeInput.Generate(ctx, t)
	if b != nil {
		for p := range b.Partitions {
			b.Sources = append(b.Sources, fmt.Sprintf("range %d", p))
		}
	}
	return b, err
}

// An Output is opened at Start, gets every partition of every batch
// through the fused chain with its lineage, commits each batch once in
// order, and is closed at Stop.
func TestOutputContract(t *testing.T) {
	h := newHarness(t, time.Second)
	in := &fakeInput{parts: map[int]int{1: 2, 2: 3}, interval: time.Second, records: -1}
	s := InputStream[string](h.ssc, "src", sourcedInput{in})
	upper := Map(s.Filter(func(x string) bool { return !strings.HasSuffix(x, "/1") }), strings.ToUpper)
	out := newRecOutput[string]()
	mustNoErr(t, upper.WriteTo(out), "WriteTo")
	shuffled := newRecOutput[Pair[string, int]]()
	counts := ReduceByKey(Map(s, func(x string) Pair[string, int] { return KV(x[:1], 1) }), add)
	mustNoErr(t, counts.WriteTo(shuffled, WriteSpec[Pair[string, int]]{Name: "counts"}), "WriteTo")
	var infos []OutputOperationInfo
	var mu sync.Mutex
	h.ssc.AddListener(outputListener(func(o OutputOperationInfo) { mu.Lock(); infos = append(infos, o); mu.Unlock() }))
	h.start()
	if got := out.calls; !slices.Equal(got, []string{"open"}) {
		t.Fatalf("calls after Start = %q, want [open]", got)
	}
	h.steps(3)
	if err := h.ssc.Stop(context.Background(), Graceful); err != nil {
		t.Fatal(err)
	}
	want := []string{"open", "begin 1000", "commit 1000", "begin 2000", "commit 2000", "close"}
	if !slices.Equal(out.calls, want) {
		t.Errorf("calls = %q, want %q", out.calls, want)
	}
	wantParts := [][]string{{"1/0/0"}, {"1/1/0"}}
	if got := out.parts[1000]; fmt.Sprint(got) != fmt.Sprint(wantParts) {
		t.Errorf("batch 1 partitions = %q, want %q", got, wantParts)
	}
	wantParts = [][]string{{"2/0/0"}, {"2/1/0"}, {"2/2/0", "2/2/2"}}
	if got := out.parts[2000]; fmt.Sprint(got) != fmt.Sprint(wantParts) {
		t.Errorf("batch 2 partitions = %q, want %q", got, wantParts)
	}
	for p, lin := range out.lineage[2000] {
		want := []Lineage{{Input: "src#1", Partition: p, Source: fmt.Sprintf("range %d", p)}}
		if !slices.Equal(lin, want) {
			t.Errorf("batch 2 partition %d lineage = %+v, want %+v", p, lin, want)
		}
	}
	for p, lin := range shuffled.lineage[2000] {
		if lin != nil {
			t.Errorf("shuffled partition %d has lineage %+v, want none", p, lin)
		}
	}
	var total int
	for _, part := range shuffled.parts[2000] {
		for _, kv := range part {
			total += kv.Value
		}
	}
	if total != 6 {
		t.Errorf("shuffled batch 2 counts %d records, want 6", total)
	}
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for _, o := range infos {
		names = append(names, o.Name)
	}
	if !slices.Contains(names, "rec") || !slices.Contains(names, "counts") {
		t.Errorf("output operation names %q, want rec (the Output's String) and counts (WriteSpec.Name)", names)
	}
}

// outputListener adapts a function to OutputOperationCompletedListener.
type outputListener func(OutputOperationInfo)

func (f outputListener) OnOutputOperationCompleted(o OutputOperationInfo) { f(o) }

// A failed or panicking partition aborts the batch, which fails, and
// does not commit it.
func TestOutputAbort(t *testing.T) {
	boom := errors.New("disk full")
	for _, tc := range []struct {
		name  string
		setup func(o *recOutput[string])
		want  func(error) bool
	}{
		{"error", func(o *recOutput[string]) {
			o.failPart = func(_ int64, p int) error {
				if p == 1 {
					return boom
				}
				return nil
			}
		}, func(err error) bool { return errors.Is(err, boom) }},
		{"panic", func(o *recOutput[string]) { o.panicAt = 0 }, func(err error) bool {
			var pe *PanicError
			return errors.As(err, &pe) && pe.Value == "sink exploded"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, time.Second)
			in := &fakeInput{parts: map[int]int{1: 2}, interval: time.Second, records: -1}
			out := newRecOutput[string]()
			tc.setup(out)
			mustNoErr(t, InputStream[string](h.ssc, "src", in).WriteTo(out), "WriteTo")
			h.start()
			err := h.stepErr()
			if !tc.want(err) {
				t.Fatalf("batch error = %v", err)
			}
			var be *BatchError
			if !errors.As(err, &be) || be.Op != "rec" {
				t.Errorf("batch error %v is not a BatchError of the output operation rec", err)
			}
			_ = h.ssc.Stop(context.Background(), Hard)
			out.mu.Lock()
			defer out.mu.Unlock()
			if want := []string{"open", "begin 1000", "abort 1000", "close"}; !slices.Equal(out.calls, want) {
				t.Errorf("calls = %q, want %q", out.calls, want)
			}
			if len(out.abortErr) != 1 || !tc.want(out.abortErr[0]) {
				t.Errorf("Abort's cause = %v", out.abortErr)
			}
		})
	}
}

// A failed Open fails Start, and the Output is not closed.
func TestOutputOpenFails(t *testing.T) {
	h := newHarness(t, time.Second)
	in := &fakeInput{parts: map[int]int{}, interval: time.Second}
	out := newRecOutput[string]()
	out.openErr = errors.New("no route")
	mustNoErr(t, InputStream[string](h.ssc, "src", in).WriteTo(out), "WriteTo")
	if err := h.ssc.Start(); !errors.Is(err, out.openErr) || !strings.Contains(err.Error(), "opening output rec") {
		t.Fatalf("Start = %v, want the Open error naming the output", err)
	}
	if !slices.Equal(out.calls, []string{"open"}) {
		t.Errorf("calls = %q, want [open]", out.calls)
	}
	if in.started != 0 {
		t.Errorf("the input started %d times; outputs open first", in.started)
	}
}

// Rejected records go to the WriteSpec's DeadLetter, else to the
// context's handler, else to the log; each is counted, and the batch
// succeeds with the other records.
func TestOutputReject(t *testing.T) {
	tooLong := errors.New("too long")
	reject := func(x string) error {
		if strings.HasSuffix(x, "/1") {
			return tooLong
		}
		return nil
	}
	for _, tc := range []string{"spec", "handler", "log"} {
		t.Run(tc, func(t *testing.T) {
			var logBuf bytes.Buffer
			var mu sync.Mutex
			var dead []string
			var letters []DeadLetter
			opts := []Option{WithLogger(slog.New(slog.NewTextHandler(&syncWriter{w: &logBuf}, nil)))}
			if tc == "handler" {
				opts = append(opts, WithDeadLetterHandler(func(d DeadLetter) { mu.Lock(); letters = append(letters, d); mu.Unlock() }))
			}
			h := newHarness(t, time.Second, opts...)
			in := &fakeInput{parts: map[int]int{1: 3}, interval: time.Second, records: -1}
			out := newRecOutput[string]()
			out.reject = reject
			var spec []WriteSpec[string]
			if tc == "spec" {
				spec = append(spec, WriteSpec[string]{DeadLetter: func(x string, err error) {
					if errors.Is(err, tooLong) {
						mu.Lock()
						dead = append(dead, x)
						mu.Unlock()
					}
				}})
			}
			mustNoErr(t, InputStream[string](h.ssc, "src", in).WriteTo(out, spec...), "WriteTo")
			var rejected []int64
			h.ssc.AddListener(outputListener(func(o OutputOperationInfo) { mu.Lock(); rejected = append(rejected, o.Rejected); mu.Unlock() }))
			h.start()
			h.steps(2)
			_ = h.ssc.Stop(context.Background(), Graceful)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(rejected, []int64{2, 0}) {
				t.Errorf("Rejected per batch = %v, want [2 0]", rejected)
			}
			if got := out.parts[1000]; fmt.Sprint(got) != "[[1/0/0] [1/1/0] [1/2/0 1/2/2]]" {
				t.Errorf("written = %q", got)
			}
			switch tc {
			case "spec":
				slices.Sort(dead)
				if !slices.Equal(dead, []string{"1/1/1", "1/2/1"}) {
					t.Errorf("dead letters = %q", dead)
				}
			case "handler":
				slices.SortFunc(letters, func(a, b DeadLetter) int { return a.Partition - b.Partition })
				if len(letters) != 2 || letters[0].Record != "1/1/1" || letters[0].Partition != 1 || letters[0].Output != "rec" ||
					letters[0].Stream != "src#1" || letters[0].BatchTime.UnixMilli() != 1000 || !errors.Is(letters[0].Err, tooLong) {
					t.Errorf("dead letters = %+v", letters)
				}
			case "log":
				if n := strings.Count(logBuf.String(), `level=WARN msg="dstream: record rejected by output" output=rec stream=src#1 batch_ms=1000`); n != 2 {
					t.Errorf("%d WARN lines for 2 rejected records:\n%s", n, logBuf.String())
				}
				if strings.Contains(logBuf.String(), "1/1/1") {
					t.Errorf("the log shows a rejected record's contents:\n%s", logBuf.String())
				}
			}
		})
	}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// WriteTo refuses a nil output and a second spec.
func TestWriteToBuildErrors(t *testing.T) {
	h := newHarness(t, time.Second)
	s := InputStream[string](h.ssc, "src", &fakeInput{interval: time.Second})
	if err := s.WriteTo(nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("WriteTo(nil) = %v", err)
	}
	if err := s.WriteTo(newRecOutput[string](), WriteSpec[string]{}, WriteSpec[string]{}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("WriteTo with two specs = %v", err)
	}
	if _, err := NewContext(time.Second, WithDeadLetterHandler(nil)); !errors.Is(err, ErrNilFunc) {
		t.Errorf("WithDeadLetterHandler(nil) = %v", err)
	}
}

// checkedOutput is a recOutput with a start-up check.
type checkedOutput struct {
	*recOutput[string]
	err error
}

func (o checkedOutput) StartCheck() (string, func(context.Context) error) {
	return "rec store", func(context.Context) error { return o.err }
}

// WriteTo registers an Output's start-up check: a failing one fails
// Start with a *StartError naming it, before the output is opened.
func TestOutputStartCheck(t *testing.T) {
	h := newHarness(t, time.Second)
	out := checkedOutput{recOutput: newRecOutput[string](), err: errors.New("no route")}
	mustNoErr(t, InputStream[string](h.ssc, "src", &fakeInput{interval: time.Second}).WriteTo(out), "WriteTo")
	err := h.ssc.Start()
	var se *StartError
	if !errors.As(err, &se) || se.Check != "rec store" || !errors.Is(err, out.err) {
		t.Fatalf("Start = %v, want a *StartError for the check rec store", err)
	}
	if len(out.calls) != 0 {
		t.Errorf("calls = %q, want none: the check fails before Open", out.calls)
	}
}

// completingOutput is a recOutput that is a BatchCompleter.
type completingOutput struct {
	*recOutput[string]
	completeErr error
}

func (o *completingOutput) BatchCompleted(_ context.Context, t time.Time, err error) error {
	o.log(fmt.Sprintf("completed %d %v", t.UnixMilli(), err != nil))
	return o.completeErr
}

// A BatchCompleter learns each batch's outcome after every output of the
// batch ran: nil on success, the batch's error when a later output
// failed; its own error fails the batch and reaches the completers after
// it.
func TestBatchCompleter(t *testing.T) {
	boom := errors.New("later output failed")
	h := newHarness(t, time.Second)
	in := &fakeInput{parts: map[int]int{1: 1, 2: 1, 3: 1}, interval: time.Second, records: -1}
	s := InputStream[string](h.ssc, "src", in)
	first := &completingOutput{recOutput: newRecOutput[string]()}
	second := &completingOutput{recOutput: newRecOutput[string]()}
	mustNoErr(t, s.WriteTo(first), "WriteTo")
	mustNoErr(t, s.ForEachBatch(func(_ context.Context, b *Batch[string]) error {
		if b.Time.UnixMilli() == 2000 {
			return boom
		}
		return nil
	}), "ForEachBatch")
	mustNoErr(t, s.WriteTo(second), "WriteTo")
	h.start()
	if err := h.stepErr(); err != nil {
		t.Fatalf("batch 1: %v", err)
	}
	if err := h.stepErr(); !errors.Is(err, boom) {
		t.Fatalf("batch 2 = %v, want the later output's error", err)
	}
	_ = h.ssc.Stop(context.Background(), Hard)
	if want := []string{"open", "begin 1000", "commit 1000", "completed 1000 false", "begin 2000", "commit 2000", "completed 2000 true", "close"}; !slices.Equal(first.calls, want) {
		t.Errorf("first output's calls = %q, want %q", first.calls, want)
	}
	if want := []string{"open", "begin 1000", "commit 1000", "completed 1000 false", "completed 2000 true", "close"}; !slices.Equal(second.calls, want) {
		t.Errorf("second output's calls = %q, want %q", second.calls, want)
	}

	// A completer's error fails a batch that had succeeded.
	h = newHarness(t, time.Second)
	in = &fakeInput{parts: map[int]int{1: 1}, interval: time.Second, records: -1}
	failing := &completingOutput{recOutput: newRecOutput[string](), completeErr: boom}
	mustNoErr(t, InputStream[string](h.ssc, "src", in).WriteTo(failing), "WriteTo")
	h.start()
	err := h.stepErr()
	var be *BatchError
	if !errors.Is(err, boom) || !errors.As(err, &be) || be.Op != "rec" {
		t.Fatalf("batch with a failing completer = %v, want a BatchError of rec wrapping its error", err)
	}
}
