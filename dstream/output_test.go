package dstream

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		mustNoErr(t, os.MkdirAll("testdata", 0o755), "mkdir")
		mustNoErr(t, os.WriteFile(path, got, 0o644), "write golden")
	}
	want, err := os.ReadFile(path)
	mustNoErr(t, err, "read golden (run with -update to create it)")
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s:\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// Pin (section 3): print(n) takes n+1 elements and prints 43 dashes,
// "Time: <ms> ms", 43 dashes, the first n elements one per line (pairs as
// (k,v)), "..." if there were more than n, then an empty line; it prints
// every batch, empty ones included, and nothing for a time with no batch.
// Golden byte test.
func TestPrintGolden(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[Pair[string, int]]()
	q.Push([]Pair[string, int]{KV("a", 1), KV("b", 2), KV("c", 3), KV("d", 4)}) // more than 3
	q.Push([]Pair[string, int]{KV("x", 10), KV("y", 20), KV("z", 30)})          // exactly 3
	q.Push([]Pair[string, int]{})                                               // empty
	var out bytes.Buffer
	in := QueueStream(h.ssc, q)
	mustNoErr(t, in.Fprint(&out, 3), "Fprint")
	nested := Map(in, func(p Pair[string, int]) Pair[string, Pair[int, Optional[string]]] {
		if p.Value%2 == 0 {
			return KV(p.Key, KV(p.Value, Some(p.Key)))
		}
		return KV(p.Key, KV(p.Value, None[string]()))
	})
	mustNoErr(t, nested.Fprint(&out, 2), "Fprint nested")
	strs := Map(in, func(p Pair[string, int]) string { return p.Key + " " + p.Key })
	mustNoErr(t, strs.Fprint(&out, 0), "Fprint 0")
	h.start()
	h.steps(4) // the fourth time has no batch: nothing is printed for it
	golden(t, "print.golden", out.Bytes())
	if !strings.HasPrefix(out.String(), strings.Repeat("-", 43)+"\nTime: 1000 ms\n"+strings.Repeat("-", 43)+"\n") {
		t.Fatalf("output does not start with Spark's header: %q", out.String()[:60])
	}
	if strings.Contains(out.String(), "Time: 4000 ms") {
		t.Fatal("printed a batch time that has no batch")
	}
}

// Pin (section 3): saveAsTextFiles names one directory per batch
// "<prefix>-<timeMs>" plus ".<suffix>" only if non-empty; an empty prefix
// gives "<timeMs>".
func TestBatchFileName(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	for _, tc := range []struct{ prefix, suffix, want string }{
		{"out/counts", "txt", "out/counts-1700000000123.txt"},
		{"out/counts", "", "out/counts-1700000000123"},
		{"", "txt", "1700000000123.txt"},
		{"", "", "1700000000123"},
	} {
		if got := BatchFileName(tc.prefix, tc.suffix, at); got != tc.want {
			t.Errorf("BatchFileName(%q, %q) = %q, want %q", tc.prefix, tc.suffix, got, tc.want)
		}
	}
}

// SaveAsTextFiles writes one directory per batch with one part file per
// partition and a _SUCCESS marker, leaving no temporary files.
func TestSaveAsTextFiles(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, time.Second, WithParallelism(2))
	q := NewQueue[Pair[string, int]]()
	q.Push([]Pair[string, int]{KV("a", 1), KV("b", 2), KV("c", 3)})
	q.Push(nil)
	in := QueueStream(h.ssc, q)
	mustNoErr(t, in.SaveAsTextFiles(filepath.Join(dir, "counts"), "txt"), "SaveAsTextFiles")
	mustNoErr(t, Map(in, func(p Pair[string, int]) int { return p.Value }).SaveAsTextFiles(filepath.Join(dir, "values"), ""), "SaveAsTextFiles")
	h.start()
	h.steps(3) // the third time has no batch: no directory for it

	assertDir(t, filepath.Join(dir, "counts-1000.txt"), map[string]string{
		"part-00000": "(a,1)\n",
		"part-00001": "(b,2)\n(c,3)\n",
		"_SUCCESS":   "",
	})
	assertDir(t, filepath.Join(dir, "values-1000"), map[string]string{
		"part-00000": "1\n",
		"part-00001": "2\n3\n",
		"_SUCCESS":   "",
	})
	// The empty batch has a directory with only the marker.
	assertDir(t, filepath.Join(dir, "counts-2000.txt"), map[string]string{"_SUCCESS": ""})
	if _, err := os.Stat(filepath.Join(dir, "counts-3000.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a directory was written for a time with no batch: %v", err)
	}
}

// A batch written again (a replay after recovery) replaces its own output:
// the same part names are overwritten and parts of an earlier attempt with
// more partitions are removed.
func TestSaveAsTextFilesReplaysReplaceOutput(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "out")
	for _, tc := range []struct {
		parallelism int
		input       []int
		want        map[string]string
	}{
		{3, []int{1, 2, 3}, map[string]string{"part-00000": "1\n", "part-00001": "2\n", "part-00002": "3\n", "_SUCCESS": ""}},
		{1, []int{7, 8}, map[string]string{"part-00000": "7\n8\n", "_SUCCESS": ""}},
	} {
		h := newHarness(t, time.Second, WithParallelism(tc.parallelism))
		q := NewQueue[int]()
		q.Push(tc.input)
		mustNoErr(t, QueueStream(h.ssc, q).SaveAsTextFiles(prefix, ""), "SaveAsTextFiles")
		h.start()
		h.step()
		mustNoErr(t, h.ssc.Stop(context.Background(), Hard), "Stop")
		assertDir(t, prefix+"-1000", tc.want)
	}
}

// A write error fails the batch with the file system's error: the
// location was writable at start (the start-up check) and is no longer.
func TestSaveAsTextFilesError(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	h := newHarness(t, time.Second)
	q := NewQueue[int]()
	q.Push([]int{1})
	mustNoErr(t, QueueStream(h.ssc, q).SaveAsTextFiles(filepath.Join(blocker, "out"), ""), "SaveAsTextFiles")
	h.start()
	mustNoErr(t, os.Remove(blocker), "remove the directory the check made")
	mustNoErr(t, os.WriteFile(blocker, nil, 0o644), "write")
	err := h.stepErr()
	var be *BatchError
	if !errors.As(err, &be) || be.Op != "saveAsTextFiles" {
		t.Fatalf("batch error = %v, want a saveAsTextFiles *BatchError", err)
	}
}

// assertDir checks that dir holds exactly the files in want.
func assertDir(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	mustNoErr(t, err, "read %s", dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("%s holds %v, want %v", dir, names, wantNames)
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		mustNoErr(t, err, "read %s", name)
		if string(got) != content {
			t.Errorf("%s/%s = %q, want %q", filepath.Base(dir), name, got, content)
		}
	}
}

// SaveAsTextFiles takes a storage URI as its prefix, and refuses an
// unknown scheme when the output is added.
func TestSaveAsTextFilesURI(t *testing.T) {
	h := newHarness(t, time.Second)
	q := NewQueue[string]()
	s := QueueStream(h.ssc, q)
	dir := t.TempDir()
	mustNoErr(t, s.SaveAsTextFiles("file://"+filepath.ToSlash(dir)+"/out", "txt"), "SaveAsTextFiles")
	if err := s.SaveAsTextFiles("nosuch://host/out", ""); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("unknown scheme: %v, want ErrInvalidOption", err)
	}
	h.start()
	q.Push([]string{"a", "b"})
	h.step()
	got, err := os.ReadFile(filepath.Join(dir, "out-1000.txt", "part-00000"))
	mustNoErr(t, err, "read")
	if _, err := os.Stat(filepath.Join(dir, "out-1000.txt", "_SUCCESS")); err != nil {
		t.Errorf("no _SUCCESS: %v", err)
	}
	if !strings.HasPrefix(string(got), "a\n") {
		t.Errorf("part-00000 = %q", got)
	}
}

// An output location that cannot be written fails Start, naming it,
// before any batch.
func TestSaveAsTextFilesUnwritableFailsStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, time.Second)
	prefix := filepath.Join(file, "sub", "counts")
	mustNoErr(t, QueueStream(h.ssc, NewQueue[int]()).SaveAsTextFiles(prefix, ""), "SaveAsTextFiles")
	err := h.ssc.Start()
	var se *StartError
	if !errors.As(err, &se) || se.Check != "text output "+prefix {
		t.Fatalf("Start = %v; want a *StartError naming the text output", err)
	}
}

// Name names a ForEachBatch operation in listener events; an empty name,
// a shuffle's options on an output and Name on any other operator are
// build errors.
func TestForEachBatchName(t *testing.T) {
	h := newHarness(t, time.Second)
	in := &fakeInput{parts: map[int]int{1: 2}, interval: time.Second, records: -1}
	s := InputStream[string](h.ssc, "src", in)
	noop := func(context.Context, *Batch[string]) error { return nil }
	mustNoErr(t, s.ForEachBatch(noop, Name("dead letters")), "ForEachBatch with a Name")
	mustNoErr(t, s.ForEachBatch(noop), "ForEachBatch without one")

	bad := InputStream[string](newHarness(t, time.Second).ssc, "src", &fakeInput{parts: map[int]int{}, interval: time.Second})
	pairs := Map(bad, func(x string) Pair[string, int] { return KV(x, 1) })
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"empty name", bad.ForEachBatch(noop, Name(" "))},
		{"Partitions on an output", bad.ForEachBatch(noop, Partitions(2))},
		{"Name on a shuffle", ReduceByKey(pairs, add, Name("totals")).ForEachBatch(func(context.Context, *Batch[Pair[string, int]]) error { return nil })},
	} {
		var be *BuildError
		if !errors.As(tc.err, &be) || !errors.Is(tc.err, ErrInvalidOption) {
			t.Errorf("%s: error %v, want a BuildError wrapping ErrInvalidOption", tc.what, tc.err)
		}
	}
	var names []string
	var mu sync.Mutex
	h.ssc.AddListener(outputListener(func(o OutputOperationInfo) { mu.Lock(); names = append(names, o.Name); mu.Unlock() }))
	h.start()
	h.steps(1)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"dead letters", "forEachBatch"}; !slices.Equal(names, want) {
		t.Errorf("operation names %q, want %q", names, want)
	}
}
