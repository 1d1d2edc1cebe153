package parquetsink_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// logRow is a record of a partitioned log: its partition and offset.
type logRow struct {
	P   int32  `parquet:"p"`
	Off int64  `parquet:"off"`
	Day string `parquet:"-"`
}

// logInput is a replayable, partitioned log, like a Kafka topic read by
// the direct stream: each batch takes up to perBatch records of every
// partition it owns, and its partitions' lineage is their source range.
type logInput struct {
	topic    string
	size     int64 // records per partition
	perBatch int64

	mu   sync.Mutex
	next map[int32]int64 // owned partitions and where their next batch starts
}

func (in *logInput) Start(context.Context) error { return nil }
func (in *logInput) Stop()                       {}

func (in *logInput) Generate(_ context.Context, _ time.Time) (*dstream.InputBatch[logRow], error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var ranges []dstream.SourceRange
	for p := int32(0); p < 64; p++ {
		from, ok := in.next[p]
		if !ok {
			continue
		}
		until := min(in.size, from+in.perBatch)
		in.next[p] = until
		ranges = append(ranges, dstream.SourceRange{Input: in.topic, Partition: p, From: from, Until: until})
	}
	b := &dstream.InputBatch[logRow]{
		Partitions: len(ranges),
		Records:    -1,
		Read: func(_ context.Context, i int) ([]logRow, error) {
			r := ranges[i]
			var out []logRow
			for o := r.From; o < r.Until; o++ {
				out = append(out, logRow{P: r.Partition, Off: o, Day: fmt.Sprint("d", o%3)})
			}
			return out, nil
		},
	}
	for _, r := range ranges {
		b.Sources = append(b.Sources, r)
	}
	return b, nil
}

// own makes the input read partition p from the offset the store says,
// as kafka.ResumeFrom does on assignment; with no record, from 0.
func (in *logInput) own(t *testing.T, store dstream.PositionStore, p int32) int64 {
	t.Helper()
	next, ok, err := store.Resume(t.Context(), in.topic, p)
	if err != nil {
		t.Fatalf("Resume(%d): %v", p, err)
	}
	if !ok {
		next = 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.next == nil {
		in.next = map[int32]int64{}
	}
	in.next[p] = next
	return next
}

// disown stops reading partition p, as a rebalance does, and releases
// it in the store.
func (in *logInput) disown(t *testing.T, store dstream.PositionStore, p int32, commit bool) {
	t.Helper()
	in.mu.Lock()
	delete(in.next, p)
	in.mu.Unlock()
	if err := store.Release(t.Context(), in.topic, p, commit); err != nil {
		t.Fatalf("Release(%d): %v", p, err)
	}
}

// rotJob is one copy of a job writing a log with Rotate.
type rotJob struct {
	ssc  *dstream.Context
	clk  *dstream.ManualClock
	in   *logInput
	sink *parquetsink.Sink[logRow]
}

func newRotJob(t *testing.T, dir string, in *logInput, r parquetsink.Rotation, hive bool, extra func(*dstream.Stream[logRow])) *rotJob {
	t.Helper()
	clk := dstream.NewManualClock(time.UnixMilli(0))
	ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithParallelism(3), dstream.WithLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ssc.Stop(context.Background(), dstream.Hard) })
	s := dstream.InputStream[logRow](ssc, "log", in)
	var sink *parquetsink.Sink[logRow]
	if hive {
		sink, err = parquetsink.NewPartitioned(dir, parquetsink.PartitionBy([]string{"day"}, func(x logRow) []string { return []string{x.Day} }), parquetsink.Rotate(r))
	} else {
		sink, err = parquetsink.New[logRow](dir, parquetsink.Rotate(r))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		extra(s)
	}
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	return &rotJob{ssc: ssc, clk: clk, in: in, sink: sink}
}

// step runs the next batch and returns its error.
func (j *rotJob) step() error {
	j.clk.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := j.ssc.WaitForBatch(ctx, j.clk.Now()); err != nil {
		if aerr := j.ssc.AwaitTermination(ctx); aerr != nil {
			return aerr
		}
		return err
	}
	return nil
}

func (j *rotJob) steps(t *testing.T, n int) {
	t.Helper()
	for range n {
		if err := j.step(); err != nil {
			t.Fatal(err)
		}
	}
}

// exactlyOnce checks that the data files under dir hold every offset
// below upTo of each partition once, and nothing else.
func exactlyOnce(t *testing.T, dir string, parts []int32, upTo int64) {
	t.Helper()
	seen := map[[2]int64]int{}
	for _, r := range readAll[logRow](t, dir) {
		seen[[2]int64{int64(r.P), r.Off}]++
	}
	bad := 0
	for _, p := range parts {
		for o := range upTo {
			if n := seen[[2]int64{int64(p), o}]; n != 1 && bad < 10 {
				t.Errorf("partition %d offset %d is in the output %d times", p, o, n)
				bad++
			}
			delete(seen, [2]int64{int64(p), o})
		}
	}
	if len(seen) > 0 {
		t.Errorf("rows beyond offset %d or of other partitions: %v", upTo, seen)
	}
}

// TestRotateCommitsChunksNamedBySourceRange pins the file names, the
// rotation by rows and the store's record: a restarted sink resumes each
// partition at the end of its last committed chunk, and the chunk still
// open at a crash is read again, once.
func TestRotateCommitsChunksNamedBySourceRange(t *testing.T) {
	dir := t.TempDir()
	in := &logInput{topic: "ev", size: 100, perBatch: 10}
	j := newRotJob(t, dir, in, parquetsink.Rotation{Rows: 25}, false, nil)
	for p := range int32(2) {
		if got := in.own(t, j.sink, p); got != 0 {
			t.Fatalf("a new store resumes partition %d at %d, want 0", p, got)
		}
	}
	j.steps(t, 4) // 40 rows per partition: a chunk of 30 committed, 10 open
	want := []string{
		"part-ev-00000-0000000000-0000000029-0.parquet",
		"part-ev-00001-0000000000-0000000029-0.parquet",
	}
	if got := dataFiles(t, dir); !equalStrings(got, want) {
		t.Fatalf("files after 4 batches:\n got %q\nwant %q", got, want)
	}
	// A crash: the first job's sink is never closed. A second copy takes
	// the partitions over from the store.
	in2 := &logInput{topic: "ev", size: 100, perBatch: 10}
	j2 := newRotJob(t, dir, in2, parquetsink.Rotation{Rows: 25}, false, nil)
	for p := range int32(2) {
		if got := in2.own(t, j2.sink, p); got != 30 {
			t.Fatalf("the second copy resumes partition %d at %d, want 30", p, got)
		}
	}
	j2.steps(t, 8) // up to 100
	if err := j2.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, dir, []int32{0, 1}, 100)
	// The first copy, a zombie, tries to commit its open chunk when it
	// stops: the store refuses it, and nothing is visible twice.
	in.mu.Lock()
	in.next = map[int32]int64{}
	in.mu.Unlock()
	j.ssc.Stop(t.Context(), dstream.Graceful)
	exactlyOnce(t, dir, []int32{0, 1}, 100)
	for _, f := range files(t, dir) {
		if strings.HasSuffix(f, ".tmp") {
			t.Errorf("temporary file left: %s", f)
		}
	}
}

// TestRotateZombieCommitsFirst: a zombie that commits the chunk both
// copies hold wins; the owner's commit of the same offsets fails its
// batch, and after its restart every record is in the output once.
func TestRotateZombieCommitsFirst(t *testing.T) {
	dir := t.TempDir()
	in := &logInput{topic: "ev", size: 60, perBatch: 10}
	j := newRotJob(t, dir, in, parquetsink.Rotation{Rows: 1000}, false, nil)
	in.own(t, j.sink, 0)
	j.steps(t, 2) // 20 rows open

	in2 := &logInput{topic: "ev", size: 60, perBatch: 10}
	j2 := newRotJob(t, dir, in2, parquetsink.Rotation{Rows: 30}, false, nil)
	if got := in2.own(t, j2.sink, 0); got != 0 {
		t.Fatalf("resumed at %d, want 0", got)
	}
	j2.steps(t, 2) // 20 rows open, from 0
	// The zombie commits [0, 20) as it stops.
	in.mu.Lock()
	in.next = map[int32]int64{}
	in.mu.Unlock()
	if err := j.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, dir, []int32{0}, 20)
	// The owner's chunk [0, 30) loses.
	err := j2.step()
	if !errors.Is(err, parquetsink.ErrLostClaim) {
		t.Fatalf("the owner's commit after the zombie's = %v, want a lost claim", err)
	}
	exactlyOnce(t, dir, []int32{0}, 20)
	in3 := &logInput{topic: "ev", size: 60, perBatch: 10}
	j3 := newRotJob(t, dir, in3, parquetsink.Rotation{Rows: 30}, false, nil)
	if got := in3.own(t, j3.sink, 0); got != 20 {
		t.Fatalf("restarted owner resumes at %d, want 20", got)
	}
	j3.steps(t, 4)
	if err := j3.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, dir, []int32{0}, 60)
}

// TestRotateMovesPartitions moves partitions between two live copies with
// Release and Resume, as a rebalance does, with Hive partitions: a
// released chunk is committed (or discarded when lost) and the next owner
// starts after it.
func TestRotateMovesPartitions(t *testing.T) {
	dir := t.TempDir()
	a := &logInput{topic: "ev", size: 200, perBatch: 7}
	b := &logInput{topic: "ev", size: 200, perBatch: 7}
	ja := newRotJob(t, dir, a, parquetsink.Rotation{Rows: 40}, true, nil)
	jb := newRotJob(t, dir, b, parquetsink.Rotation{Rows: 40}, true, nil)
	for p := range int32(4) {
		a.own(t, ja.sink, p)
	}
	ja.steps(t, 3)
	// b joins: partitions 2 and 3 move, in order.
	a.disown(t, ja.sink, 2, true)
	a.disown(t, ja.sink, 3, true)
	if got := b.own(t, jb.sink, 2); got != 21 {
		t.Fatalf("partition 2 moved at %d, want 21 (its released chunk committed)", got)
	}
	b.own(t, jb.sink, 3)
	ja.steps(t, 2)
	jb.steps(t, 2)
	// a is fenced: partition 1 is lost, its open chunk discarded.
	a.disown(t, ja.sink, 1, false)
	if got := b.own(t, jb.sink, 1); got != 0 {
		t.Fatalf("lost partition 1 resumed at %d, want 0 (nothing committed)", got)
	}
	for range 40 {
		ja.steps(t, 1)
		jb.steps(t, 1)
	}
	for _, j := range []*rotJob{ja, jb} {
		if err := j.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
			t.Fatal(err)
		}
	}
	exactlyOnce(t, dir, []int32{0, 1, 2, 3}, 200)
	for _, f := range dataFiles(t, dir) {
		if !strings.HasPrefix(f, "day=d") || !strings.Contains(f, "/part-ev-0000") {
			t.Errorf("file %s is not in a Hive partition, named by source range", f)
		}
	}
}

// TestRotateRollsForwardACrashedCommit: a commit that crashed between its
// claim and its renames is finished by the next owner.
func TestRotateRollsForwardACrashedCommit(t *testing.T) {
	dir := t.TempDir()
	ffs, uri := newFaultFS(t, dir)
	ffs.set(func(f *faultFS) { f.failRenameAt = 2 })
	in := &logInput{topic: "ev", size: 30, perBatch: 10}
	j := newRotJob(t, uri, in, parquetsink.Rotation{}, true, nil)
	in.own(t, j.sink, 0)
	if err := j.step(); err == nil {
		t.Fatal("a batch whose commit failed to rename succeeded")
	}
	// Three Hive partitions, renamed in parallel: the second rename
	// fails and cancels those not started yet, so 0 to 2 are renamed
	// (which, depends on the scheduling); never all three.
	renamed := len(dataFiles(t, dir))
	if renamed > 2 {
		t.Fatalf("%d files renamed before the failure, want at most 2", renamed)
	}
	t.Logf("%d of 3 files renamed before the failure", renamed)
	in2 := &logInput{topic: "ev", size: 30, perBatch: 10}
	j2 := newRotJob(t, dir, in2, parquetsink.Rotation{}, true, nil)
	if got := in2.own(t, j2.sink, 0); got != 10 {
		t.Fatalf("resumed at %d, want 10 (the claim is the commit)", got)
	}
	exactlyOnce(t, dir, []int32{0}, 10)
	j2.steps(t, 2)
	if err := j2.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, dir, []int32{0}, 30)
}

// TestRotateDiscardsAFailedBatch: a batch that fails in a later output
// leaves nothing of itself: the chunk it wrote into is discarded, and the
// restarted job reads the chunk's batches again, writing them once.
func TestRotateDiscardsAFailedBatch(t *testing.T) {
	dir := t.TempDir()
	in := &logInput{topic: "ev", size: 50, perBatch: 10}
	fail := false
	var mu sync.Mutex
	j := newRotJob(t, dir, in, parquetsink.Rotation{Rows: 1000}, false, func(s *dstream.Stream[logRow]) {
		s.ForEachBatch(func(context.Context, *dstream.Batch[logRow]) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errors.New("the next output failed")
			}
			return nil
		})
	})
	in.own(t, j.sink, 0)
	j.steps(t, 2)
	mu.Lock()
	fail = true
	mu.Unlock()
	if err := j.step(); err == nil {
		t.Fatal("the failing batch succeeded")
	}
	// The chunk held the failed batch's rows after the completed ones'
	// and is discarded whole: nothing is committed.
	j.ssc.Stop(t.Context(), dstream.Graceful)
	if got := dataFiles(t, dir); len(got) != 0 {
		t.Fatalf("files after a failed batch: %q, want none", got)
	}
	in2 := &logInput{topic: "ev", size: 50, perBatch: 10}
	j2 := newRotJob(t, dir, in2, parquetsink.Rotation{Rows: 1000}, false, nil)
	if got := in2.own(t, j2.sink, 0); got != 0 {
		t.Fatalf("resumed at %d, want 0", got)
	}
	j2.steps(t, 5)
	if err := j2.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, dir, []int32{0}, 50)
}

// TestRotateRefusesAGap: a batch that does not start where the store
// says fails, naming the missing offsets, rather than leave a hole.
func TestRotateRefusesAGap(t *testing.T) {
	dir := t.TempDir()
	in := &logInput{topic: "ev", size: 50, perBatch: 10}
	j := newRotJob(t, dir, in, parquetsink.Rotation{}, false, nil)
	in.own(t, j.sink, 0)
	j.steps(t, 1)
	j.ssc.Stop(t.Context(), dstream.Graceful)

	in2 := &logInput{topic: "ev", size: 50, perBatch: 10, next: map[int32]int64{0: 30}}
	j2 := newRotJob(t, dir, in2, parquetsink.Rotation{}, false, nil)
	err := j2.step()
	if err == nil || !strings.Contains(err.Error(), "offsets 10 to 29 would be missing") {
		t.Fatalf("a batch past the store's record = %v, want the gap named", err)
	}
}

// TestRotateRemovesStaleLeftovers: temporary files of a chunk that can no
// longer be committed and a claim left half written long ago by a writer
// that died are removed by the next owner; a fresh half-written claim
// makes Resume wait and fail rather than guess.
func TestRotateRemovesStaleLeftovers(t *testing.T) {
	dir := t.TempDir()
	in := &logInput{topic: "ev", size: 50, perBatch: 10}
	j := newRotJob(t, dir, in, parquetsink.Rotation{}, false, nil)
	in.own(t, j.sink, 0)
	j.steps(t, 2)
	j.ssc.Stop(t.Context(), dstream.Graceful)
	stage := filepath.Join(dir, "_temporary", "part-ev-00000")
	orphan := filepath.Join(stage, "deadbeef0000-00000000000000000010", "0.tmp")
	partial := filepath.Join(stage, "_log", fmt.Sprintf("%020d", 20))
	for _, f := range []string{orphan, partial} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("parquetsink chunk v1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in2 := &logInput{topic: "ev", size: 50, perBatch: 10}
	j2 := newRotJob(t, dir, in2, parquetsink.Rotation{}, false, nil)
	if _, _, err := j2.sink.Resume(t.Context(), "ev", 0); err == nil || !strings.Contains(err.Error(), "being written") {
		t.Fatalf("Resume with a fresh partial claim = %v, want it named as being written", err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(partial, old, old); err != nil {
		t.Fatal(err)
	}
	if got := in2.own(t, j2.sink, 0); got != 20 {
		t.Fatalf("resumed at %d, want 20", got)
	}
	for _, f := range []string{orphan, partial} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was not removed: %v", f, err)
		}
	}
	j2.steps(t, 3)
	if err := j2.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, dir, []int32{0}, 50)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRotateSpillsLargeChunks: Hive partitions of a chunk with more rows
// than it holds in memory get a file of their own while the chunk is
// open, and the chunk still commits one file per Hive partition, with
// every row once.
func TestRotateSpillsLargeChunks(t *testing.T) {
	dir := t.TempDir()
	in := &logInput{topic: "ev", size: 60000, perBatch: 10000}
	j := newRotJob(t, dir, in, parquetsink.Rotation{Rows: 30000}, true, nil)
	in.own(t, j.sink, 0)
	in.own(t, j.sink, 1)
	j.steps(t, 6)
	if err := j.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, dir, []int32{0, 1}, 60000)
	// Two chunks per partition ([0, 30000) and [30000, 60000)), three
	// Hive partitions each.
	if got := len(dataFiles(t, dir)); got != 2*2*3 {
		t.Errorf("%d files, want 12: %q", got, dataFiles(t, dir))
	}
}

// An hour of input at 1 s batches, on a manual clock, with the default
// rotation (64 MiB or 10 minutes): each Kafka partition gets at most one
// file per Hive partition per rotation (7 chunks: 6 rotations and the
// rest committed at the stop), not one per batch, and every record is in
// them once.
func TestRotateAnHourOfBatches(t *testing.T) {
	const parts, perBatch, batches = 4, 5, 3600
	dir := t.TempDir()
	in := &logInput{topic: "iot", size: perBatch * batches, perBatch: perBatch}
	j := newRotJob(t, dir, in, parquetsink.Rotation{Bytes: parquetsink.DefaultRotateBytes, Interval: parquetsink.DefaultRotateInterval}, true, nil)
	parquetsink.SetNow(j.sink, j.clk.Now)
	for p := range int32(parts) {
		in.own(t, j.sink, p)
	}
	j.steps(t, batches)
	if err := j.ssc.Stop(t.Context(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	perDirPart := map[string]int{}
	chunks := map[string]bool{}
	for _, f := range dataFiles(t, dir) {
		// day=dN/part-iot-<p>-<first>-<last>-<n>.parquet
		d, name := filepath.Split(f)
		fields := strings.Split(strings.TrimSuffix(name, ".parquet"), "-")
		if len(fields) != 6 {
			t.Fatalf("file %s is not named by source range", f)
		}
		perDirPart[d+fields[2]]++
		chunks[strings.Join(fields[2:4], "-")] = true
	}
	const most = batches/600 + 1
	if len(perDirPart) != parts*3 {
		t.Errorf("files in %d (Hive partition, Kafka partition) pairs, want %d", len(perDirPart), parts*3)
	}
	for k, n := range perDirPart {
		if n > most || n < batches/600 {
			t.Errorf("%s: %d files in an hour, want %d to %d: one per 10-minute rotation", k, n, batches/600, most)
		}
	}
	if len(chunks) > parts*most {
		t.Errorf("%d chunks in an hour, want at most %d", len(chunks), parts*most)
	}
	exactlyOnce(t, dir, []int32{0, 1, 2, 3}, perBatch*batches)
}
