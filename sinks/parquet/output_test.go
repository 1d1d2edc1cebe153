package parquetsink_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/testtool"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// outputInfos collects the OutputOperationInfo of every output operation.
type outputInfos struct {
	mu    sync.Mutex
	infos []dstream.OutputOperationInfo
}

func (o *outputInfos) OnOutputOperationCompleted(i dstream.OutputOperationInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.infos = append(o.infos, i)
}

// rejected returns the Rejected counts of the operation named name, in
// batch order.
func (o *outputInfos) rejected(name string) []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int64
	for _, i := range o.infos {
		if i.Name == name {
			out = append(out, i.Rejected)
		}
	}
	return out
}

// Without FailOnInvalidPartition or a DeadLetter function, every row
// whose partition cannot be made goes to the context's dead-letter
// handler, with the output, batch and reason, and is counted in the
// batch's OutputOperationInfo.Rejected; the other rows are written.
func TestRejectedRowsCounted(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var letters []dstream.DeadLetter
	h := newHarness[reading](t, 2, dstream.WithDeadLetterHandler(func(d dstream.DeadLetter) {
		mu.Lock()
		defer mu.Unlock()
		letters = append(letters, d)
	}))
	var infos outputInfos
	h.ssc.AddListener(&infos)
	if err := parquetsink.WritePartitioned(h.s, dir, parquetsink.PartitionBy([]string{"region", "kind"}, partitionValues)); err != nil {
		t.Fatal(err)
	}
	good := goodRows(0, 40)
	batch := slices.Clone(good)
	for i, p := range poisons() {
		batch = slices.Insert(batch, 5*i+1, p.row)
	}
	h.q.Push(batch)
	more := goodRows(40, 10)
	h.q.Push(more)
	h.start()
	h.mustStep()
	h.mustStep()
	h.stop()

	checkWritten(t, dir, append(good, more...))
	name := "parquet " + dir
	if got, want := infos.rejected(name), []int64{int64(len(poisons())), 0}; !slices.Equal(got, want) {
		t.Errorf("Rejected of %q per batch = %v, want %v (all: %+v)", name, got, want, infos.infos)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(letters) != len(poisons()) {
		t.Fatalf("%d dead letters, want %d: %+v", len(letters), len(poisons()), letters)
	}
	for _, p := range poisons() {
		i := slices.IndexFunc(letters, func(d dstream.DeadLetter) bool { return d.Record.(reading).Device == p.row.Device })
		if i < 0 {
			t.Errorf("%s: no dead letter", p.name)
			continue
		}
		d := letters[i]
		if d.Output != name || d.BatchTime.UnixMilli() != 1000 || !errors.Is(d.Err, parquetsink.ErrPartitionValue) {
			t.Errorf("%s: dead letter %+v, want output %q, batch 1000 ms and an error wrapping ErrPartitionValue", p.name, d, name)
		}
		for _, w := range p.want {
			if !strings.Contains(d.Err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", p.name, d.Err, w)
			}
		}
	}
}

// The WriteSpec's DeadLetter gets the rejected rows, which are counted
// too.
func TestRejectedRowsCountedWithDeadLetter(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[reading](t, 3)
	var infos outputInfos
	h.ssc.AddListener(&infos)
	sink, err := parquetsink.NewPartitioned(dir, parquetsink.PartitionBy([]string{"region", "kind"}, partitionValues))
	if err != nil {
		t.Fatal(err)
	}
	var dead deadLetters
	if err := h.s.WriteTo(sink, dstream.WriteSpec[reading]{Name: "readings", DeadLetter: dead.add}); err != nil {
		t.Fatal(err)
	}
	rows := goodRows(0, 30)
	for _, p := range poisons() {
		rows = append(rows, p.row, p.row)
	}
	h.q.Push(rows)
	h.start()
	h.mustStep()
	h.stop()
	if got, want := infos.rejected("readings"), []int64{int64(2 * len(poisons()))}; !slices.Equal(got, want) {
		t.Errorf("Rejected = %v, want %v", got, want)
	}
	if len(dead.rows) != 2*len(poisons()) {
		t.Errorf("%d dead letters, want %d", len(dead.rows), 2*len(poisons()))
	}
	checkWritten(t, dir, goodRows(0, 30))
}

// A Sink is opened at Start and closed at Stop: Begin fails outside, a
// sink registered twice fails Start, and a closed sink can be opened
// again by another context, which writes with it.
func TestOpenClose(t *testing.T) {
	dir := t.TempDir()
	sink, err := parquetsink.New[allTypes](dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ob := dstream.OutputBatch{Time: time.UnixMilli(1000), Partitions: 1}
	if _, err := sink.Begin(ctx, ob); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Fatalf("Begin before Open = %v, want an error", err)
	}

	// Registered twice: the second Open fails Start, and the first is
	// closed again.
	h := newHarness[allTypes](t, 2)
	if err := h.s.WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	if err := dstream.Map(h.s, func(r allTypes) allTypes { return r }).WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	if err := h.ssc.Start(); err == nil || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("Start with a sink registered twice = %v, want an error saying it is already open", err)
	}
	if _, err := sink.Begin(ctx, ob); err == nil {
		t.Fatal("Begin after a failed Start succeeded: the sink was not closed")
	}

	// One context after another with the same sink.
	for i := range 2 {
		h := newHarness[allTypes](t, 2)
		if err := h.s.WriteTo(sink); err != nil {
			t.Fatal(err)
		}
		h.q.Push(makeAllTypes(10*i, 10))
		h.start()
		if _, err := sink.Begin(ctx, dstream.OutputBatch{Time: time.UnixMilli(99_000), Partitions: 0}); err != nil {
			t.Fatalf("run %d: Begin while the context runs: %v", i, err)
		}
		h.mustStep()
		h.stop()
		if _, err := sink.Begin(ctx, ob); err == nil {
			t.Fatalf("run %d: Begin after Stop succeeded: the sink was not closed", i)
		}
	}
	// The second run replaced the first's batch at 1000 ms.
	got := readAll[allTypes](t, dir)
	sortByID(got)
	if want := makeAllTypes(10, 10); len(got) != len(want) || got[0].ID != want[0].ID {
		t.Fatalf("read back %d rows from %d, want the second run's %d from %d", len(got), got[0].ID, len(want), want[0].ID)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// The sink names itself after its directory, with the secrets of a URI
// redacted, and that is its output operation's name.
func TestString(t *testing.T) {
	dir := t.TempDir()
	_, uri := newFaultFS(t, dir)
	uri = strings.Replace(uri, "faultfs://", "faultfs://user:s3cret@", 1)
	sink, err := parquetsink.New[allTypes](uri)
	if err != nil {
		t.Fatal(err)
	}
	if s := sink.String(); strings.Contains(s, "s3cret") || !strings.HasPrefix(s, "parquet faultfs://user:") || !strings.HasSuffix(s, filepath.ToSlash(dir)) {
		t.Errorf("String() = %q", s)
	}
	h := newHarness[allTypes](t, 1)
	var infos outputInfos
	h.ssc.AddListener(&infos)
	if err := h.s.WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	h.q.Push(makeAllTypes(0, 3))
	h.start()
	h.mustStep()
	h.stop()
	if got := infos.rejected(sink.String()); !slices.Equal(got, []int64{0}) {
		t.Errorf("no output operation named %q: %+v", sink.String(), infos.infos)
	}
}

// A callback typed by another element type than the stream's, which the
// sink took as an option of type any and checked at Start before, does
// not compile: testdata/wrongtype hands one over for each of them, and
// the compiler must refuse every one, on its line, for its type.
func TestWrongTypesDoNotCompile(t *testing.T) {
	testtool.MustNotCompile(t, "testdata/wrongtype", "other")
}
