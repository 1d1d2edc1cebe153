package parquetsink_test

import (
	"context"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// opInfos collects the OutputOperationInfo of every completed output
// operation, in order.
type opInfos struct {
	mu    sync.Mutex
	infos []dstream.OutputOperationInfo
}

func (l *opInfos) OnOutputOperationCompleted(o dstream.OutputOperationInfo) {
	l.mu.Lock()
	l.infos = append(l.infos, o)
	l.mu.Unlock()
}

func (l *opInfos) get() []dstream.OutputOperationInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.infos)
}

// sumWrote adds up the Wrote of infos.
func sumWrote(infos []dstream.OutputOperationInfo) dstream.OutputStats {
	var s dstream.OutputStats
	for _, o := range infos {
		s = s.Add(o.Wrote)
	}
	return s
}

// stored is what the data files under dir hold, read back with parquet-go:
// the files, their sizes and their rows (as Rows, and as Records), for
// the files whose relative path keep says to count (nil: all).
func stored[T any](t *testing.T, dir string, keep func(rel string) bool) dstream.OutputStats {
	t.Helper()
	var s dstream.OutputStats
	for _, f := range dataFiles(t, dir) {
		if keep != nil && !keep(f) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parquet.ReadFile[T](filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		s.Files++
		s.Bytes += fi.Size()
		s.Rows += int64(len(rows))
		s.Records += int64(len(rows))
	}
	return s
}

// ofBatch says whether a data file (<hive dirs>/part-<ms>-<p>-<n>.parquet)
// is of the batch at ms.
func ofBatch(ms int64) func(rel string) bool {
	return func(rel string) bool {
		return strings.HasPrefix(path.Base(rel), "part-"+strconv.FormatInt(ms, 10)+"-")
	}
}

// Each batch's Wrote is what it committed: the rows, bytes and number of
// its files, as parquet-go reads them back from the directory, and the
// rows it wrote; the batches' Wrote add up to the sink's OutputStats.
// Rows that cannot be placed are counted by their reason.
func TestOutputStatsCountCommittedFiles(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[reading](t, 2)
	sink, err := parquetsink.NewPartitioned(dir, parquetsink.PartitionBy([]string{"region", "kind"}, partitionValues),
		parquetsink.MaxFileRows(7))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.s.WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	l := &opInfos{}
	h.ssc.AddListener(l)
	first := goodRows(0, 40)
	for i, p := range poisons() {
		first = slices.Insert(first, 3*i+1, p.row)
	}
	h.q.Push(first)
	h.q.Push(nil)
	h.q.PushPartitions([][]reading{goodRows(40, 25), goodRows(65, 3), goodRows(68, 9)})
	h.start()
	for range 3 {
		h.mustStep()
	}
	h.stop()

	infos := l.get()
	if len(infos) != 3 {
		t.Fatalf("%d output operations, want 3", len(infos))
	}
	wantReasons := []map[string]int64{
		{"name_too_long": 4, "invalid_utf8": 1, "value_count": 1},
		nil,
		nil,
	}
	for i, o := range infos {
		ms := o.BatchTime.UnixMilli()
		want := stored[reading](t, dir, ofBatch(ms))
		if o.Wrote != want {
			t.Errorf("batch %d: Wrote = %+v, its files hold %+v", ms, o.Wrote, want)
		}
		if !maps.Equal(o.RejectedBy, wantReasons[i]) {
			t.Errorf("batch %d: RejectedBy = %v, want %v", ms, o.RejectedBy, wantReasons[i])
		}
	}
	all := stored[reading](t, dir, nil)
	if want := int64(40 + 25 + 3 + 9); all.Rows != want || all.Files < 12 {
		t.Fatalf("the directory holds %+v, want %d rows in at least 12 files", all, want)
	}
	if sum := sumWrote(infos); sum != all {
		t.Errorf("the batches' Wrote add up to %+v, the directory holds %+v", sum, all)
	}
	if got := sink.OutputStats(); got != all {
		t.Errorf("OutputStats = %+v, the directory holds %+v", got, all)
	}
}

// A batch written again replaces the files of its earlier attempt and
// counts what it wrote: a second job that writes the first batch again,
// with fewer rows, counts the files the batch has now, and those of the
// earlier attempt that it did not write again are gone.
func TestOutputStatsCountAReplayedBatch(t *testing.T) {
	dir := t.TempDir()
	run := func(rows []reading) dstream.OutputStats {
		h := newHarness[reading](t, 2)
		sink, err := parquetsink.New[reading](dir, parquetsink.MaxFileRows(4))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.s.WriteTo(sink); err != nil {
			t.Fatal(err)
		}
		l := &opInfos{}
		h.ssc.AddListener(l)
		h.q.Push(rows)
		h.start()
		h.mustStep()
		h.stop()
		infos := l.get()
		if len(infos) != 1 {
			t.Fatalf("%d output operations, want 1", len(infos))
		}
		if got := sink.OutputStats(); got != infos[0].Wrote {
			t.Errorf("OutputStats = %+v, the batch's Wrote %+v", got, infos[0].Wrote)
		}
		return infos[0].Wrote
	}
	first := run(goodRows(0, 30))
	if want := stored[reading](t, dir, nil); first != want || want.Rows != 30 {
		t.Fatalf("the first attempt wrote %+v, the directory holds %+v, want 30 rows", first, want)
	}
	again := run(goodRows(0, 10))
	if want := stored[reading](t, dir, nil); again != want || want.Rows != 10 {
		t.Fatalf("the second attempt wrote %+v, the directory holds %+v, want 10 rows", again, want)
	}
}

// With Rotate, a chunk's files are counted when the chunk is committed:
// as a batch completes, which the next batch's Wrote reports, and at
// Close, which no batch reports. The rows a batch adds to a chunk are its
// Records. What the batches report and what Close committed add up to the
// sink's OutputStats and to what the directory holds.
func TestRotateOutputStats(t *testing.T) {
	dir := t.TempDir()
	in := &logInput{topic: "ev", size: 100, perBatch: 10}
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithParallelism(2), dstream.WithLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ssc.Stop(context.Background(), dstream.Hard) })
	// Offsets 6, 13, 20, ... of each partition have a day that is not
	// UTF-8: rejected.
	day := func(x logRow) []string {
		if x.Off%7 == 6 {
			return []string{"\xff"}
		}
		return []string{x.Day}
	}
	sink, err := parquetsink.NewPartitioned(dir, parquetsink.PartitionBy([]string{"day"}, day), parquetsink.Rotate(parquetsink.Rotation{Rows: 25}))
	if err != nil {
		t.Fatal(err)
	}
	if err := dstream.InputStream[logRow](ssc, "log", in).WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	l := &opInfos{}
	ssc.AddListener(l)
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	j := &rotJob{ssc: ssc, clk: clk, in: in, sink: sink}
	for p := range int32(2) {
		in.own(t, sink, p)
	}
	// 40 offsets per partition, 5 of them rejected: a chunk of offsets 0
	// to 29 (26 rows) is committed as batch 3 completes; the chunk from
	// 30 stays open until Close.
	j.steps(t, 4)
	before := stored[logRow](t, dir, nil)
	if err := ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	after := stored[logRow](t, dir, nil)
	infos := l.get()
	if len(infos) != 4 {
		t.Fatalf("%d output operations, want 4", len(infos))
	}
	rejects := []int64{1, 1, 2, 1} // per partition: offsets 6; 13; 20, 27; 34
	for i, o := range infos {
		ms := o.BatchTime.UnixMilli()
		want := dstream.OutputStats{Records: 2 * (10 - rejects[i])}
		if i == 3 {
			// The chunk committed as batch 3 completed.
			want.Files, want.Rows, want.Bytes = before.Files, before.Rows, before.Bytes
		}
		if o.Wrote != want {
			t.Errorf("batch %d: Wrote = %+v, want %+v", ms, o.Wrote, want)
		}
		if w := map[string]int64{"invalid_utf8": 2 * rejects[i]}; !maps.Equal(o.RejectedBy, w) {
			t.Errorf("batch %d: RejectedBy = %v, want %v", ms, o.RejectedBy, w)
		}
	}
	if before.Rows != 2*(30-4) || before.Files != 2*3 {
		t.Fatalf("before Close the directory holds %+v, want the 52 rows of two chunks of 3 Hive partitions", before)
	}
	if after.Rows != 2*(40-5) {
		t.Fatalf("after Close the directory holds %+v, want 70 rows", after)
	}
	sum := sumWrote(infos)
	atClose := after.Sub(before)
	atClose.Records = 0 // Close writes no rows of its own
	if got := sink.OutputStats(); got != sum.Add(atClose) {
		t.Errorf("OutputStats = %+v, want the batches' Wrote %+v plus what Close committed %+v", got, sum, atClose)
	}
	if got, want := sink.OutputStats(), after; got != want {
		t.Errorf("OutputStats = %+v, the directory holds %+v", got, want)
	}
}
