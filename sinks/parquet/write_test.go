package parquetsink_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// allTypes has a field of every common kind.
type allTypes struct {
	ID      int64            `parquet:"id"`
	I32     int32            `parquet:"i32"`
	F32     float32          `parquet:"f32"`
	F64     float64          `parquet:"f64"`
	Flag    bool             `parquet:"flag"`
	Name    string           `parquet:"name"`
	Blob    []byte           `parquet:"blob"`
	At      time.Time        `parquet:"at,timestamp(millisecond)"`
	AtMicro time.Time        `parquet:"at_us,timestamp(microsecond)"`
	Opt     *int64           `parquet:"opt,optional"`
	OptName *string          `parquet:"opt_name,optional"`
	Tags    []string         `parquet:"tags,list"`
	Attrs   map[string]int32 `parquet:"attrs"`
}

func makeAllTypes(from, n int) []allTypes {
	out := make([]allTypes, n)
	for i := range out {
		id := int64(from + i)
		r := allTypes{
			ID:      id,
			I32:     int32(id*7 - 1000),
			F32:     float32(id) / 4,
			F64:     float64(id) * 1.5e-3,
			Flag:    id%3 == 0,
			Name:    fmt.Sprintf("device-%03d ünïcode", id),
			Blob:    []byte{byte(id), 0, 0xff},
			At:      time.UnixMilli(1_700_000_000_000 + id*1001).UTC(),
			AtMicro: time.UnixMicro(1_700_000_000_000_000 + id*1_000_003).UTC(),
			Tags:    []string{"a", fmt.Sprint(id)},
			Attrs:   map[string]int32{"k": int32(id)},
		}
		if id%2 == 0 {
			v := id * 10
			r.Opt = &v
		}
		if id%5 != 0 {
			s := fmt.Sprint("opt", id)
			r.OptName = &s
		}
		out[i] = r
	}
	return out
}

func sortByID(rows []allTypes) {
	slices.SortFunc(rows, func(a, b allTypes) int { return int(a.ID - b.ID) })
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[allTypes](t, 3)
	if err := parquetsink.Write(h.s, dir); err != nil {
		t.Fatal(err)
	}
	b1, b2 := makeAllTypes(0, 100), makeAllTypes(100, 7)
	h.q.Push(b1)
	h.q.Push(b2)
	h.start()
	h.mustStep()
	h.mustStep()
	h.stop()

	want := []string{
		"part-1000-00000-0.parquet", "part-1000-00001-0.parquet", "part-1000-00002-0.parquet",
		"part-2000-00000-0.parquet", "part-2000-00001-0.parquet", "part-2000-00002-0.parquet",
	}
	if got := dataFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
	got := readAll[allTypes](t, dir)
	wantRows := append(slices.Clone(b1), b2...)
	// Files are read in name order, which is batch and partition order,
	// and a partition's rows keep their order.
	if !reflect.DeepEqual(got, wantRows) {
		t.Fatalf("read back %d rows, want %d\nfirst got  %+v\nfirst want %+v", len(got), len(wantRows), got[0], wantRows[0])
	}

	// Snappy is the default codec.
	f, err := os.Open(filepath.Join(dir, want[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec.String() != "SNAPPY" {
				t.Errorf("column %v codec %v, want SNAPPY", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
}

// reading is an IoT-like row with partition columns kept only in the path.
type reading struct {
	Device string    `parquet:"device"`
	At     time.Time `parquet:"at,timestamp(millisecond)"`
	Temp   float64   `parquet:"temp"`
	Region string    `parquet:"-"`
	Kind   string    `parquet:"-"`
}

func TestHivePartitioning(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[reading](t, 2)
	err := parquetsink.WritePartitioned(h.s, dir, parquetsink.PartitionBy([]string{"region", "Kind"}, func(r reading) []string {
		return []string{r.Region, r.Kind}
	}))
	if err != nil {
		t.Fatal(err)
	}
	regions := []string{"eu/west", "us=1", "a b", "", "100%", "ü:x"}
	var rows []reading
	for i := range 60 {
		rows = append(rows, reading{
			Device: fmt.Sprint("d", i),
			At:     time.UnixMilli(int64(i) * 1000).UTC(),
			Temp:   float64(i) / 2,
			Region: regions[i%len(regions)],
			Kind:   []string{"x", "y#"}[i%2],
		})
	}
	h.q.Push(rows)
	h.start()
	h.mustStep()
	h.stop()

	got := dataFiles(t, dir)
	var dirs []string
	for _, f := range got {
		dirs = append(dirs, filepath.ToSlash(filepath.Dir(f)))
	}
	dirs = slices.Compact(dirs)
	var wantDirs []string
	for _, r := range rows {
		wantDirs = append(wantDirs, parquetsink.PartitionPath([]string{"region", "Kind"}, []string{r.Region, r.Kind}))
	}
	slices.Sort(wantDirs)
	wantDirs = slices.Compact(wantDirs)
	if !slices.Equal(dirs, wantDirs) {
		t.Fatalf("dirs = %q, want %q", dirs, wantDirs)
	}
	for _, d := range []string{"region=eu%2Fwest/Kind=x", "region=us%3D1/Kind=y%23", "region=a b/Kind=x", "region=__HIVE_DEFAULT_PARTITION__/Kind=y%23", "region=100%25/Kind=x", "region=ü%3Ax/Kind=y%23"} {
		if !slices.Contains(dirs, d) {
			t.Errorf("no directory %q in %q", d, dirs)
		}
	}
	// Every file holds the rows of its partition directory, without the
	// partition columns, in the order of the batch.
	var all []reading
	for _, f := range got {
		rs, err := parquet.ReadFile[reading](filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Region != "" || r.Kind != "" {
				t.Fatalf("partition columns stored in %s: %+v", f, r)
			}
		}
		for i := range rs {
			var n int
			fmt.Sscanf(rs[i].Device, "d%d", &n)
			rs[i].Region, rs[i].Kind = regions[n%len(regions)], []string{"x", "y#"}[n%2]
			if d := parquetsink.PartitionPath([]string{"region", "Kind"}, []string{rs[i].Region, rs[i].Kind}); !strings.HasPrefix(f, d+"/") {
				t.Fatalf("row %+v in %s", rs[i], f)
			}
		}
		all = append(all, rs...)
	}
	slices.SortFunc(all, func(a, b reading) int { return a.At.Compare(b.At) })
	if !reflect.DeepEqual(all, rows) {
		t.Fatalf("read back %d rows, want %d", len(all), len(rows))
	}
	schema := parquet.SchemaOf(reading{})
	for _, f := range schema.Fields() {
		if f.Name() == "region" || f.Name() == "Kind" {
			t.Fatalf("schema has partition column %s", f.Name())
		}
	}
}

func TestMaxFileRows(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[allTypes](t, 2)
	if err := parquetsink.Write(h.s, dir, parquetsink.MaxFileRows(10), parquetsink.RowGroupRows(4), parquetsink.Compression(&parquet.Zstd)); err != nil {
		t.Fatal(err)
	}
	rows := makeAllTypes(0, 45)
	h.q.Push(rows)
	h.start()
	h.mustStep()
	h.stop()
	want := []string{
		"part-1000-00000-0.parquet", "part-1000-00000-1.parquet", "part-1000-00000-2.parquet",
		"part-1000-00001-0.parquet", "part-1000-00001-1.parquet", "part-1000-00001-2.parquet",
	}
	if got := dataFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
	for i, w := range want {
		f, err := os.Open(filepath.Join(dir, w))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		wantRows := []int64{10, 10, 2, 10, 10, 3}[i] // partitions of 22 and 23 rows
		if pf.NumRows() != wantRows {
			t.Errorf("%s has %d rows, want %d", w, pf.NumRows(), wantRows)
		}
		if n, want := len(pf.RowGroups()), int((wantRows+3)/4); n != want {
			t.Errorf("%s has %d row groups, want %d", w, n, want)
		}
		if c := pf.Metadata().RowGroups[0].Columns[0].MetaData.Codec.String(); c != "ZSTD" {
			t.Errorf("%s codec %s, want ZSTD", w, c)
		}
		f.Close()
	}
	if got := readAll[allTypes](t, dir); !reflect.DeepEqual(got, rows) {
		t.Fatalf("read back %d rows, want %d", len(got), len(rows))
	}
}

func TestMaxFileBytes(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[allTypes](t, 1)
	const limit = 64 << 10
	if err := parquetsink.Write(h.s, dir, parquetsink.MaxFileBytes(limit), parquetsink.Compression(&parquet.Uncompressed)); err != nil {
		t.Fatal(err)
	}
	rows := makeAllTypes(0, 20_000)
	h.q.Push(rows)
	h.start()
	h.mustStep()
	h.stop()
	got := dataFiles(t, dir)
	if len(got) < 3 {
		t.Fatalf("%d files, want several: %q", len(got), got)
	}
	var back []allTypes
	for i := range got {
		f := fmt.Sprintf("part-1000-00000-%d.parquet", i)
		if !slices.Contains(got, f) {
			t.Fatalf("no file %s in %q", f, got)
		}
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		// A file ends after the chunk that reaches the limit: at most 1024
		// rows of ~100 bytes more, and its footer.
		if st.Size() > limit+1024*200 {
			t.Errorf("%s is %d bytes, limit %d", f, st.Size(), limit)
		}
		rs, err := parquet.ReadFile[allTypes](filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, rs...)
	}
	t.Logf("%d files of %d rows", len(got), len(rows))
	if !reflect.DeepEqual(back, rows) {
		t.Fatalf("read back %d rows, want %d", len(back), len(rows))
	}
}

func TestEmptyBatchesWriteNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	h := newHarness[allTypes](t, 4)
	if err := parquetsink.Write(h.s, dir); err != nil {
		t.Fatal(err)
	}
	h.q.Push(nil)
	h.q.PushPartitions([][]allTypes{nil, {}, nil})
	h.start()
	h.mustStep() // empty batch
	h.mustStep() // empty partitions
	h.mustStep() // no data queued
	// The start-up check made the directory; the empty batches put
	// nothing in it.
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("empty batches wrote %v (%v)", entries, err)
	}
	// Empty partitions of a non-empty batch write nothing.
	rows := makeAllTypes(0, 3)
	h.q.PushPartitions([][]allTypes{nil, rows, {}, nil})
	h.mustStep()
	h.stop()
	if got, want := dataFiles(t, dir), []string{"part-4000-00001-0.parquet"}; !slices.Equal(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
	if got := readAll[allTypes](t, dir); !reflect.DeepEqual(got, rows) {
		t.Fatalf("read back %+v", got)
	}
}

// noTemps fails the test if a temporary file is left under dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	for _, f := range files(t, dir) {
		if strings.HasSuffix(f, ".tmp") || strings.Contains(f, ".tmp-") {
			t.Errorf("temporary file left: %s", f)
		}
	}
}

// A batch that fails between writing its files and renaming them, and
// leaves everything behind as a crash would, runs again in a new context:
// its rows are in the output exactly once and no temporary file is left.
func TestReplayAfterFailedRename(t *testing.T) {
	dir := t.TempDir()
	ffs, uri := newFaultFS(t, dir)
	rows := makeAllTypes(0, 40)

	// First attempt: a rename fails and nothing can be removed.
	h := newHarness[allTypes](t, 4)
	if err := parquetsink.Write(h.s, uri, parquetsink.MaxFileRows(4)); err != nil {
		t.Fatal(err)
	}
	h.q.Push(rows)
	h.start()
	ffs.set(func(f *faultFS) { f.failRenameAt, f.failRemoves = 5, true }) // armed after the start-up check
	err := h.step()
	var be *dstream.BatchError
	if !errors.As(err, &be) || !errors.Is(err, errInjected) || be.Time.UnixMilli() != 1000 {
		t.Fatalf("first attempt: %v, want a batch error at 1000 ms from the injected fault", err)
	}
	h.ssc.Stop(t.Context(), dstream.Hard)
	left := files(t, dir)
	var temps, committed int
	for _, f := range left {
		switch {
		case strings.HasSuffix(f, ".tmp"):
			temps++
		case strings.HasSuffix(f, ".parquet"):
			committed++
		}
	}
	if temps == 0 || !slices.Contains(left, "_temporary/part-1000/_manifest") {
		t.Fatalf("the failed attempt left %q, want temporary files and a manifest", left)
	}
	t.Logf("the failed attempt left %d temporary and %d committed files", temps, committed)

	// Second attempt: the same batch again, with everything working.
	ffs.set(func(f *faultFS) { f.failRenameAt, f.failRemoves = 0, false })
	h = newHarness[allTypes](t, 4)
	if err := parquetsink.Write(h.s, uri, parquetsink.MaxFileRows(4)); err != nil {
		t.Fatal(err)
	}
	h.q.Push(rows)
	h.start()
	h.mustStep()
	h.stop()
	got := readAll[allTypes](t, dir)
	sortByID(got)
	if !reflect.DeepEqual(got, rows) {
		t.Fatalf("read back %d rows, want each of %d once", len(got), len(rows))
	}
	noTemps(t, dir)
	if got, want := files(t, dir), append([]string{"_temporary/part-1000/_manifest"}, dataFiles(t, dir)...); !slices.Equal(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
}

// A batch that runs again with fewer rows (and a different number of
// partitions) after it committed removes the files it no longer writes.
func TestReplayWithFewerRowsRemovesStaleFiles(t *testing.T) {
	dir := t.TempDir()
	run := func(parallelism int, rows []allTypes) {
		h := newHarness[allTypes](t, parallelism)
		if err := parquetsink.Write(h.s, dir, parquetsink.MaxFileRows(5)); err != nil {
			t.Fatal(err)
		}
		h.q.Push(rows)
		h.start()
		h.mustStep()
		h.stop()
	}
	run(3, makeAllTypes(0, 60)) // 3 partitions of 20 rows, 4 files each
	if n := len(dataFiles(t, dir)); n != 12 {
		t.Fatalf("%d files, want 12", n)
	}
	fewer := makeAllTypes(0, 12) // 2 partitions of 6 rows, 2 files each
	run(2, fewer)
	want := []string{"part-1000-00000-0.parquet", "part-1000-00000-1.parquet", "part-1000-00001-0.parquet", "part-1000-00001-1.parquet"}
	if got := dataFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
	if got := readAll[allTypes](t, dir); !reflect.DeepEqual(got, fewer) {
		t.Fatalf("read back %d rows, want %d", len(got), len(fewer))
	}
	// An empty replay removes the batch's files.
	run(2, nil)
	if got := dataFiles(t, dir); len(got) != 0 {
		t.Fatalf("files after an empty replay: %q", got)
	}
	noTemps(t, dir)
}

// A replay with Hive partitioning whose rows land in fewer partition
// directories removes the files of the directories it no longer writes.
func TestReplayHiveStaleDirectories(t *testing.T) {
	dir := t.TempDir()
	ffs, uri := newFaultFS(t, dir)
	run := func(rows []reading) error {
		h := newHarness[reading](t, 2)
		err := parquetsink.WritePartitioned(h.s, uri, parquetsink.PartitionBy([]string{"region"}, func(r reading) []string { return []string{r.Region} }))
		if err != nil {
			t.Fatal(err)
		}
		h.q.Push(rows)
		h.start()
		err = h.step()
		h.ssc.Stop(t.Context(), dstream.Hard)
		return err
	}
	var rows []reading
	for i := range 20 {
		rows = append(rows, reading{Device: fmt.Sprint(i), Region: []string{"a", "b", "c"}[i%3], At: time.UnixMilli(0).UTC()})
	}
	// The first attempt commits some files, then fails.
	ffs.set(func(f *faultFS) { f.failRenameAt = 2 })
	if err := run(rows); !errors.Is(err, errInjected) {
		t.Fatalf("first attempt: %v", err)
	}
	if err := run(rows[:2]); err != nil { // regions a and b only
		t.Fatal(err)
	}
	for _, f := range dataFiles(t, dir) {
		if strings.HasPrefix(f, "region=c/") {
			t.Fatalf("stale file %s left", f)
		}
	}
	got := readAll[reading](t, dir)
	if len(got) != 2 {
		t.Fatalf("read back %d rows, want 2", len(got))
	}
	noTemps(t, dir)
}

// A failed write removes its temporary file and fails the batch.
func TestFailedWriteRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	ffs, uri := newFaultFS(t, dir)
	ffs.set(func(f *faultFS) { f.failWrites = true })
	h := newHarness[allTypes](t, 2)
	if err := parquetsink.Write(h.s, uri); err != nil {
		t.Fatal(err)
	}
	h.q.Push(makeAllTypes(0, 10))
	h.start()
	if err := h.step(); !errors.Is(err, errInjected) {
		t.Fatalf("batch error = %v, want the injected fault", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("a failed write left %q", got)
	}
}

func TestLastManifestsKept(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[allTypes](t, 1)
	if err := parquetsink.Write(h.s, dir); err != nil {
		t.Fatal(err)
	}
	h.start()
	for i := range 6 {
		h.q.Push(makeAllTypes(i, 1))
		h.mustStep()
	}
	h.stop()
	var manifests []string
	for _, f := range files(t, dir) {
		if strings.HasPrefix(f, "_temporary/") {
			manifests = append(manifests, f)
		}
	}
	want := []string{"_temporary/part-4000/_manifest", "_temporary/part-5000/_manifest", "_temporary/part-6000/_manifest"}
	if !slices.Equal(manifests, want) {
		t.Fatalf("staging holds %q, want %q", manifests, want)
	}
}

func TestInvalidConfig(t *testing.T) {
	type unsupported struct {
		C chan int `parquet:"c"`
	}
	type dup struct {
		A int `parquet:"x"`
		B int `parquet:"x"`
	}
	type noColumns struct {
		a int //lint:ignore U1000 the point: a struct with no exported column
	}
	h := newHarness[allTypes](t, 1)
	fn := func(allTypes) []string { return []string{"x"} }
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"empty dir", parquetsink.Write(h.s, "")},
		{"unknown scheme", parquetsink.Write(h.s, "nosuchscheme://x/y")},
		{"nil codec", parquetsink.Write(h.s, "out", parquetsink.Compression(nil))},
		{"row group rows", parquetsink.Write(h.s, "out", parquetsink.RowGroupRows(0))},
		{"max file rows", parquetsink.Write(h.s, "out", parquetsink.MaxFileRows(-1))},
		{"max file bytes", parquetsink.Write(h.s, "out", parquetsink.MaxFileBytes(-1))},
		{"nil option", parquetsink.Write(h.s, "out", nil)},
		{"empty prefix", parquetsink.Write(h.s, "out", parquetsink.FilePrefix(""))},
		{"hidden prefix", parquetsink.Write(h.s, "out", parquetsink.FilePrefix("_x"))},
		{"slash prefix", parquetsink.Write(h.s, "out", parquetsink.FilePrefix("a/b"))},
		// A PartitionBy function of another element type does not
		// compile: see TestWrongTypesDoNotCompile.
		{"nil partition func", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy[allTypes]([]string{"x"}, nil))},
		{"zero partitioning", parquetsink.WritePartitioned(h.s, "out", parquetsink.Partitioning[allTypes]{})},
		{"no partition columns", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy(nil, fn))},
		{"empty partition column", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy([]string{""}, fn))},
		{"duplicate partition column", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy([]string{"x", "X"}, fn))},
		{"partition column stored", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy([]string{"Name"}, fn))},
		{"partition column too long", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy([]string{strings.Repeat("c", 254)}, fn))},
		{"partition column too long escaped", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy([]string{strings.Repeat("=", 85)}, fn))},
		{"partition column not UTF-8", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy([]string{"a\xff"}, fn))},
		{"partitioned: empty dir", parquetsink.WritePartitioned(h.s, "", parquetsink.PartitionBy([]string{"x"}, fn))},
		{"partitioned: nil option", parquetsink.WritePartitioned(h.s, "out", parquetsink.PartitionBy([]string{"x"}, fn), nil)},
		{"invalid writer option", parquetsink.Write(h.s, "out", parquetsink.WriterOptions(parquet.DataPageVersion(3)))},
		{"nil writer option", parquetsink.Write(h.s, "out", parquetsink.WriterOptions(nil))},
		{"not a struct", parquetsink.Write(dstream.QueueStream(h.ssc, dstream.NewQueue[int]()), "out")},
		{"unsupported field", parquetsink.Write(dstream.QueueStream(h.ssc, dstream.NewQueue[unsupported]()), "out")},
		{"duplicate column", parquetsink.Write(dstream.QueueStream(h.ssc, dstream.NewQueue[dup]()), "out")},
		{"no columns", parquetsink.Write(dstream.QueueStream(h.ssc, dstream.NewQueue[noColumns]()), "out")},
	} {
		var be *dstream.BuildError
		if !errors.As(tc.err, &be) || !errors.Is(tc.err, dstream.ErrInvalidOption) {
			t.Errorf("%s: error %v, want a BuildError wrapping ErrInvalidOption", tc.name, tc.err)
		} else {
			t.Logf("%s: %v", tc.name, tc.err)
		}
	}
	var nilStream *dstream.Stream[allTypes]
	if err := parquetsink.Write(nilStream, "out"); !errors.Is(err, dstream.ErrNilStream) {
		t.Errorf("nil stream: %v", err)
	}
	// The longest partition column name: x=<one byte> fits.
	if err := parquetsink.WritePartitioned(h.s, t.TempDir(), parquetsink.PartitionBy([]string{strings.Repeat("c", 253)}, fn)); err != nil {
		t.Errorf("partition column of 253 bytes: %v", err)
	}
	// Pointers to structs are rows too.
	if err := parquetsink.Write(dstream.QueueStream(h.ssc, dstream.NewQueue[*allTypes]()), t.TempDir()); err != nil {
		t.Errorf("pointer rows: %v", err)
	}
}

// With FailOnInvalidPartition, a partition function that returns the
// wrong number of values fails the batch; one that panics always does;
// neither crashes the process. (Without the option, the rows of the first
// go to the dead letters: see TestRejectedRowsCounted.)
func TestPartitionFuncErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(reading) []string
		want string
	}{
		{"wrong count", func(reading) []string { return []string{"a", "b"} }, "returned 2 values for 1 columns"},
		{"panic", func(reading) []string { panic("boom") }, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness[reading](t, 2)
			if err := parquetsink.WritePartitioned(h.s, dir, parquetsink.PartitionBy([]string{"x"}, tc.fn), parquetsink.FailOnInvalidPartition()); err != nil {
				t.Fatal(err)
			}
			h.q.Push([]reading{{Device: "a"}, {Device: "b"}})
			h.start()
			if err := h.step(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("batch error %v, want %q", err, tc.want)
			}
			if got := dataFiles(t, dir); len(got) != 0 {
				t.Fatalf("files %q", got)
			}
		})
	}
}

// Pointer rows are written like the structs they point to.
func TestPointerRows(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[*allTypes](t, 2)
	if err := parquetsink.Write(h.s, dir); err != nil {
		t.Fatal(err)
	}
	rows := makeAllTypes(0, 9)
	var ptrs []*allTypes
	for i := range rows {
		ptrs = append(ptrs, &rows[i])
	}
	h.q.Push(ptrs)
	h.start()
	h.mustStep()
	h.stop()
	if got := readAll[allTypes](t, dir); !reflect.DeepEqual(got, rows) {
		t.Fatalf("read back %d rows", len(got))
	}
}

// A directory that cannot be written fails Start, naming it.
func TestUnwritableDirectoryFailsStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness[allTypes](t, 2)
	dir := filepath.Join(file, "out")
	if err := parquetsink.Write(h.s, dir); err != nil {
		t.Fatal(err)
	}
	err := h.ssc.Start()
	var se *dstream.StartError
	if !errors.As(err, &se) || se.Check != "parquet output "+dir {
		t.Fatalf("Start = %v; want a *StartError naming the output", err)
	}
}
