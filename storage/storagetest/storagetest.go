// Package storagetest is the conformance suite of storage.FS: every
// implementation (local disk, HDFS, ...) runs Run from its tests, so that
// the file source, the file sinks and the checkpoint directory can rely
// on the same behaviour everywhere.
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) (storage.FS, string) {
//			return storage.Local(), t.TempDir()
//		})
//	}
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/storage"
)

// Run runs the conformance suite as subtests of t. newFS is called once
// per subtest, with the subtest's t, and returns the FS under test and an
// existing, empty directory in it that the subtest may fill (its path must
// not contain glob metacharacters); newFS should register any cleanup with
// t.Cleanup.
func Run(t *testing.T, newFS func(t *testing.T) (storage.FS, string)) {
	tests := []struct {
		name string
		f    func(t *testing.T, fsys storage.FS, root string)
	}{
		{"CreateOpenRoundTrip", testRoundTrip},
		{"CreateTruncates", testCreateTruncates},
		{"LargeFile", testLargeFile},
		{"RenameReplaces", testRename},
		{"MkdirAll", testMkdirAll},
		{"ListSorted", testList},
		{"Stat", testStat},
		{"Remove", testRemove},
		{"NotExist", testNotExist},
		{"OpenDirectory", testOpenDirectory},
		{"WriteFileAtomic", testWriteFileAtomic},
		{"WriteFileAtomicFailure", testWriteFileAtomicFailure},
		{"Glob", testGlob},
		{"CanceledContext", testCanceled},
		{"CreateExclusive", testCreateExclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys, root := newFS(t)
			tt.f(t, fsys, root)
		})
	}
}

// write creates name with data and fails the test on error.
func write(t *testing.T, fsys storage.FS, name string, data []byte) {
	t.Helper()
	w, err := fsys.Create(t.Context(), name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		t.Fatalf("writing %q: %v", name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("closing %q: %v", name, err)
	}
}

// read returns the contents of name and fails the test on error.
func read(t *testing.T, fsys storage.FS, name string) []byte {
	t.Helper()
	r, err := fsys.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %q: %v", name, err)
	}
	return data
}

// stat returns the FileInfo of name and fails the test on error.
func stat(t *testing.T, fsys storage.FS, name string) storage.FileInfo {
	t.Helper()
	fi, err := fsys.Stat(t.Context(), name)
	if err != nil {
		t.Fatalf("Stat(%q): %v", name, err)
	}
	return fi
}

// names returns the names that List gives for dir.
func names(t *testing.T, fsys storage.FS, dir string) []string {
	t.Helper()
	entries, err := fsys.List(t.Context(), dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	out := []string{}
	for _, e := range entries {
		out = append(out, e.Name)
	}
	return out
}

// wantNotExist fails the test unless err wraps fs.ErrNotExist.
func wantNotExist(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: got error %v, want one wrapping fs.ErrNotExist", what, err)
	}
}

func testRoundTrip(t *testing.T, fsys storage.FS, root string) {
	name := path.Join(root, "a", "b", "file.txt") // parents are created
	write(t, fsys, name, []byte("hello, storage\n"))
	if got := read(t, fsys, name); string(got) != "hello, storage\n" {
		t.Errorf("read %q, want %q", got, "hello, storage\n")
	}
	empty := path.Join(root, "empty")
	write(t, fsys, empty, nil)
	if got := read(t, fsys, empty); len(got) != 0 {
		t.Errorf("empty file read %q", got)
	}
	if fi := stat(t, fsys, empty); fi.Size != 0 || fi.IsDir {
		t.Errorf("Stat(empty) = %+v, want a file of size 0", fi)
	}
}

func testCreateTruncates(t *testing.T, fsys storage.FS, root string) {
	name := path.Join(root, "f")
	write(t, fsys, name, []byte("a long first version"))
	write(t, fsys, name, []byte("short"))
	if got := read(t, fsys, name); string(got) != "short" {
		t.Errorf("after re-Create read %q, want %q", got, "short")
	}
	if fi := stat(t, fsys, name); fi.Size != 5 {
		t.Errorf("size after re-Create = %d, want 5", fi.Size)
	}
}

func testLargeFile(t *testing.T, fsys storage.FS, root string) {
	const size = 9<<20 + 12345 // several MiB and not a round number
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(data); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < len(data); j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	name := path.Join(root, "large.bin")
	w, err := fsys.Create(t.Context(), name)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for rest := data; len(rest) > 0; { // odd-sized writes
		n := min(len(rest), 100_003)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if fi := stat(t, fsys, name); fi.Size != size {
		t.Errorf("Stat size = %d, want %d", fi.Size, size)
	}
	r, err := fsys.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	h := sha256.New()
	buf := make([]byte, 65_537) // odd-sized reads
	n, err := io.CopyBuffer(h, struct{ io.Reader }{r}, buf)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Errorf("contents read back differ from those written")
	}
}

func testRename(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	src, dst := path.Join(root, "src"), path.Join(root, "dst")
	write(t, fsys, src, []byte("new"))
	write(t, fsys, dst, []byte("old contents"))
	if err := fsys.Rename(ctx, src, dst); err != nil {
		t.Fatalf("Rename over an existing file: %v", err)
	}
	if got := read(t, fsys, dst); string(got) != "new" {
		t.Errorf("after Rename the target reads %q, want %q", got, "new")
	}
	_, err := fsys.Stat(ctx, src)
	wantNotExist(t, "Stat of the renamed source", err)

	// To a new name in another existing directory.
	if err := fsys.MkdirAll(ctx, path.Join(root, "sub")); err != nil {
		t.Fatalf("MkdirAll: %v", err)
	}
	moved := path.Join(root, "sub", "moved")
	if err := fsys.Rename(ctx, dst, moved); err != nil {
		t.Fatalf("Rename to a new name: %v", err)
	}
	if got := read(t, fsys, moved); string(got) != "new" {
		t.Errorf("moved file reads %q", got)
	}
	if got := names(t, fsys, root); !slices.Equal(got, []string{"sub"}) {
		t.Errorf("root lists %q after the moves, want [sub]", got)
	}
}

func testMkdirAll(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	deep := path.Join(root, "a", "b", "c")
	for range 2 { // again: nothing to do, no error
		if err := fsys.MkdirAll(ctx, deep); err != nil {
			t.Fatalf("MkdirAll(%q): %v", deep, err)
		}
	}
	for _, d := range []string{path.Join(root, "a"), path.Join(root, "a", "b"), deep} {
		if fi := stat(t, fsys, d); !fi.IsDir {
			t.Errorf("Stat(%q).IsDir = false after MkdirAll", d)
		}
	}
	if got := names(t, fsys, deep); len(got) != 0 {
		t.Errorf("new directory lists %q", got)
	}
	file := path.Join(root, "file")
	write(t, fsys, file, []byte("x"))
	if err := fsys.MkdirAll(ctx, file); err == nil {
		t.Errorf("MkdirAll over a file succeeded")
	}
	if err := fsys.MkdirAll(ctx, path.Join(file, "sub")); err == nil {
		t.Errorf("MkdirAll under a file succeeded")
	}
}

func testList(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	before := time.Now().Add(-5 * time.Minute) // room for clock skew and coarse timestamps
	sizes := map[string]int{"b.txt": 2, "a.txt": 1, "c": 3000, "B": 7}
	for _, n := range []string{"b.txt", "c", "a.txt", "B"} { // not in order
		write(t, fsys, path.Join(root, n), bytes.Repeat([]byte("x"), sizes[n]))
	}
	if err := fsys.MkdirAll(ctx, path.Join(root, "dir")); err != nil {
		t.Fatalf("MkdirAll: %v", err)
	}
	write(t, fsys, path.Join(root, "dir", "inner"), []byte("not listed"))
	after := time.Now().Add(5 * time.Minute)

	entries, err := fsys.List(ctx, root)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name)
		if want := path.Join(root, e.Name); e.Path != want {
			t.Errorf("entry %q has Path %q, want %q", e.Name, e.Path, want)
		}
		if e.ModTime.Before(before) || e.ModTime.After(after) {
			t.Errorf("entry %q has ModTime %v, not near now", e.Name, e.ModTime)
		}
		if e.Name == "dir" {
			if !e.IsDir {
				t.Errorf("dir listed with IsDir false")
			}
			continue
		}
		if e.IsDir {
			t.Errorf("file %q listed with IsDir true", e.Name)
		}
		if e.Size != int64(sizes[e.Name]) {
			t.Errorf("file %q listed with Size %d, want %d", e.Name, e.Size, sizes[e.Name])
		}
	}
	if want := []string{"B", "a.txt", "b.txt", "c", "dir"}; !slices.Equal(got, want) {
		t.Errorf("List names = %q, want %q (sorted by name)", got, want)
	}

	if err := fsys.MkdirAll(ctx, path.Join(root, "empty")); err != nil {
		t.Fatalf("MkdirAll: %v", err)
	}
	if entries, err := fsys.List(ctx, path.Join(root, "empty")); err != nil || len(entries) != 0 {
		t.Errorf("List of an empty directory = %v, %v; want none, nil", entries, err)
	}
	if _, err := fsys.List(ctx, path.Join(root, "a.txt")); err == nil {
		t.Errorf("List of a file succeeded")
	}
}

func testStat(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	name := path.Join(root, "d", "f.dat")
	write(t, fsys, name, []byte("12345"))
	fi := stat(t, fsys, name)
	if fi.Path != name || fi.Name != "f.dat" || fi.Size != 5 || fi.IsDir {
		t.Errorf("Stat(file) = %+v, want Path %q, Name f.dat, Size 5, a file", fi, name)
	}
	if fi.ModTime.IsZero() {
		t.Errorf("Stat(file) has a zero ModTime")
	}
	if fi := stat(t, fsys, path.Join(root, "d")); !fi.IsDir || fi.Name != "d" {
		t.Errorf("Stat(dir) = %+v, want the directory d", fi)
	}
	if fi := stat(t, fsys, root); !fi.IsDir {
		t.Errorf("Stat(root) = %+v, want a directory", fi)
	}
	if fi := stat(t, fsys, root+"/d/"); fi.Path != path.Join(root, "d") {
		t.Errorf("Stat(%q).Path = %q, want it clean", root+"/d/", fi.Path)
	}
	_, err := fsys.Stat(ctx, path.Join(root, "d", "missing"))
	wantNotExist(t, "Stat of a missing file", err)
}

func testRemove(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	file := path.Join(root, "full", "file")
	write(t, fsys, file, []byte("x"))
	if err := fsys.Remove(ctx, path.Join(root, "full")); err == nil {
		t.Errorf("Remove of a non-empty directory succeeded")
	}
	if fi := stat(t, fsys, file); fi.Size != 1 {
		t.Errorf("file changed by a failed Remove of its directory")
	}
	if err := fsys.Remove(ctx, file); err != nil {
		t.Fatalf("Remove(file): %v", err)
	}
	_, err := fsys.Stat(ctx, file)
	wantNotExist(t, "Stat after Remove", err)
	if err := fsys.Remove(ctx, path.Join(root, "full")); err != nil {
		t.Fatalf("Remove(empty directory): %v", err)
	}
	if got := names(t, fsys, root); len(got) != 0 {
		t.Errorf("root lists %q after the removes", got)
	}
	wantNotExist(t, "Remove of a missing name", fsys.Remove(ctx, file))
}

func testNotExist(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	missing := path.Join(root, "missing")
	deep := path.Join(root, "no", "such", "file")
	for _, name := range []string{missing, deep} {
		_, err := fsys.Open(ctx, name)
		wantNotExist(t, "Open("+name+")", err)
		_, err = fsys.Stat(ctx, name)
		wantNotExist(t, "Stat("+name+")", err)
		_, err = fsys.List(ctx, name)
		wantNotExist(t, "List("+name+")", err)
		wantNotExist(t, "Remove("+name+")", fsys.Remove(ctx, name))
		wantNotExist(t, "Rename("+name+")", fsys.Rename(ctx, name, path.Join(root, "to")))
	}
	if got := names(t, fsys, root); len(got) != 0 {
		t.Errorf("failed calls left %q in the root", got)
	}
}

func testOpenDirectory(t *testing.T, fsys storage.FS, root string) {
	dir := path.Join(root, "dir")
	if err := fsys.MkdirAll(t.Context(), dir); err != nil {
		t.Fatalf("MkdirAll: %v", err)
	}
	if r, err := fsys.Open(t.Context(), dir); err == nil {
		r.Close()
		t.Errorf("Open of a directory succeeded")
	}
}

func testWriteFileAtomic(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	name := path.Join(root, "out", "part-00000")
	for _, content := range []string{"first version", "second"} { // create, then replace
		err := storage.WriteFileAtomic(ctx, fsys, name, func(w io.Writer) error {
			_, err := io.WriteString(w, content)
			return err
		})
		if err != nil {
			t.Fatalf("WriteFileAtomic: %v", err)
		}
		if got := read(t, fsys, name); string(got) != content {
			t.Errorf("read %q, want %q", got, content)
		}
		if got := names(t, fsys, path.Join(root, "out")); !slices.Equal(got, []string{"part-00000"}) {
			t.Errorf("directory lists %q, want only the file (no temporary file)", got)
		}
	}
}

func testWriteFileAtomicFailure(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	dir := path.Join(root, "out")
	name := path.Join(dir, "f")
	write(t, fsys, name, []byte("old"))
	cause := errors.New("disk on fire")

	err := storage.WriteFileAtomic(ctx, fsys, name, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return cause
	})
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), name) {
		t.Errorf("error = %v, want one wrapping the write function's and naming %s", err, name)
	}
	if got := read(t, fsys, name); string(got) != "old" {
		t.Errorf("a failed write changed the file to %q", got)
	}
	if got := names(t, fsys, dir); !slices.Equal(got, []string{"f"}) {
		t.Errorf("after a failed write the directory lists %q, want only the old file", got)
	}

	// A new name: nothing is left.
	fresh := path.Join(dir, "fresh")
	if err := storage.WriteFileAtomic(ctx, fsys, fresh, func(io.Writer) error { return cause }); !errors.Is(err, cause) {
		t.Errorf("error = %v, want the write function's", err)
	}
	_, err = fsys.Stat(ctx, fresh)
	wantNotExist(t, "Stat of a file whose write failed", err)

	// The rename fails: the target is a non-empty directory.
	blocked := path.Join(dir, "blocked")
	write(t, fsys, path.Join(blocked, "inner"), []byte("x"))
	err = storage.WriteFileAtomic(ctx, fsys, blocked, func(w io.Writer) error {
		_, err := io.WriteString(w, "data")
		return err
	})
	if err == nil {
		t.Errorf("WriteFileAtomic over a non-empty directory succeeded")
	}

	// A panic in the write function.
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("the write function's panic did not propagate")
			}
		}()
		storage.WriteFileAtomic(ctx, fsys, path.Join(dir, "panic"), func(w io.Writer) error {
			io.WriteString(w, "partial")
			panic("boom")
		})
	}()

	if got := names(t, fsys, dir); !slices.Equal(got, []string{"blocked", "f"}) {
		t.Errorf("after the failures the directory lists %q, want [blocked f] (no temporary files)", got)
	}
}

func testGlob(t *testing.T, fsys storage.FS, root string) {
	ctx := t.Context()
	for _, n := range []string{"x/in/a.txt", "x/in/c.log", "y/in/b.txt", "y/other/d.txt", "z/in", ".h/in/e.txt"} {
		write(t, fsys, path.Join(root, n), []byte(n))
	}
	j := func(ns ...string) []string {
		out := []string{}
		for _, n := range ns {
			out = append(out, path.Join(root, n))
		}
		return out
	}
	tests := []struct {
		pattern string
		want    []string
	}{
		{"*/in", j(".h/in", "x/in", "y/in", "z/in")},
		{"[xy]/in", j("x/in", "y/in")},
		{"*/in/*.txt", j(".h/in/e.txt", "x/in/a.txt", "y/in/b.txt")},
		{"?/*/?.txt", j("x/in/a.txt", "y/in/b.txt", "y/other/d.txt")},
		{"x/in/*", j("x/in/a.txt", "x/in/c.log")},
		{"*/in/a.txt", j("x/in/a.txt")},
		{"*/nothing/*", j()},
		{"x/in", j("x/in")},              // no metacharacters: itself
		{"x/nothing", j()},               // no metacharacters, missing
		{`x/i\n/a.txt`, j("x/in/a.txt")}, // an escape
	}
	for _, tt := range tests {
		got, err := storage.Glob(ctx, fsys, path.Join(root, tt.pattern))
		if err != nil {
			t.Errorf("Glob(%q): %v", tt.pattern, err)
			continue
		}
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Glob(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
	if _, err := storage.Glob(ctx, fsys, path.Join(root, "[x")); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("Glob of a malformed pattern: error %v, want path.ErrBadPattern", err)
	}
	infos, err := storage.GlobInfo(ctx, fsys, path.Join(root, "*/in"))
	if err != nil {
		t.Fatalf("GlobInfo: %v", err)
	}
	var dirs []string
	for _, fi := range infos {
		if fi.IsDir {
			dirs = append(dirs, fi.Name)
		}
	}
	if want := []string{"in", "in", "in"}; !slices.Equal(dirs, want) { // z/in is a file
		t.Errorf("GlobInfo directories = %q, want three named in", dirs)
	}
}

func testCanceled(t *testing.T, fsys storage.FS, root string) {
	file := path.Join(root, "f")
	write(t, fsys, file, []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"Create":   func() error { _, err := fsys.Create(ctx, path.Join(root, "g")); return err },
		"Open":     func() error { _, err := fsys.Open(ctx, file); return err },
		"Rename":   func() error { return fsys.Rename(ctx, file, path.Join(root, "h")) },
		"MkdirAll": func() error { return fsys.MkdirAll(ctx, path.Join(root, "d")) },
		"Remove":   func() error { return fsys.Remove(ctx, file) },
		"List":     func() error { _, err := fsys.List(ctx, root); return err },
		"Stat":     func() error { _, err := fsys.Stat(ctx, file); return err },
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		if err := calls[name](); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error %v, want one wrapping context.Canceled", name, err)
		}
	}
	if got := names(t, fsys, root); !slices.Equal(got, []string{"f"}) {
		t.Errorf("calls with a canceled context changed the root to %q", got)
	}
}

// testCreateExclusive checks storage.CreateExclusive: an FS without
// ExclusiveCreator refuses it with errors.ErrUnsupported and creates
// nothing; one with it creates a free name (and its parents), refuses a
// taken one (file or directory) with fs.ErrExist without changing it, and
// lets only one of several concurrent callers win.
func testCreateExclusive(t *testing.T, fsys storage.FS, root string) {
	name := path.Join(root, "a", "b", "lock")
	if _, ok := fsys.(storage.ExclusiveCreator); !ok {
		w, err := storage.CreateExclusive(t.Context(), fsys, name)
		if !errors.Is(err, errors.ErrUnsupported) || w != nil {
			t.Errorf("CreateExclusive on %T without ExclusiveCreator = %v, %v; want an error wrapping errors.ErrUnsupported", fsys, w, err)
		}
		if got := names(t, fsys, root); len(got) != 0 {
			t.Errorf("an unsupported CreateExclusive left %q in the root", got)
		}
		t.Skipf("%T does not implement storage.ExclusiveCreator", fsys)
	}
	create := func(ctx context.Context, name, data string) error {
		w, err := storage.CreateExclusive(ctx, fsys, name)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, data); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}
	if err := create(t.Context(), name, "first"); err != nil {
		t.Fatalf("CreateExclusive of a free name in missing directories: %v", err)
	}
	if got := read(t, fsys, name); string(got) != "first" {
		t.Errorf("read %q, want %q", got, "first")
	}
	if err := create(t.Context(), name, "second"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateExclusive of an existing file: error %v, want one wrapping fs.ErrExist", err)
	}
	if got := read(t, fsys, name); string(got) != "first" {
		t.Errorf("a refused CreateExclusive changed the file to %q", got)
	}
	dir := path.Join(root, "a", "b")
	if err := create(t.Context(), dir, "x"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateExclusive of a directory's name: error %v, want one wrapping fs.ErrExist", err)
	}
	if fi := stat(t, fsys, dir); !fi.IsDir {
		t.Errorf("a refused CreateExclusive replaced the directory: %+v", fi)
	}
	if err := fsys.Remove(t.Context(), name); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := create(t.Context(), name, "again"); err != nil {
		t.Errorf("CreateExclusive after Remove: %v", err)
	} else if got := read(t, fsys, name); string(got) != "again" {
		t.Errorf("read %q, want %q", got, "again")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := create(ctx, path.Join(root, "canceled"), "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateExclusive with a canceled context: error %v, want one wrapping context.Canceled", err)
	}
	if _, err := fsys.Stat(t.Context(), path.Join(root, "canceled")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CreateExclusive with a canceled context created the file (Stat: %v)", err)
	}

	// Racing callers: exactly one wins, and the file holds its data.
	const racers = 8
	race := path.Join(root, "race")
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { errs[i] = create(t.Context(), race, fmt.Sprint("racer ", i)) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both created %s", winner, i, race)
		case err == nil:
			winner = i
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("racer %d: error %v, want nil or one wrapping fs.ErrExist", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no racer created %s", race)
	}
	if got, want := string(read(t, fsys, race)), fmt.Sprint("racer ", winner); got != want {
		t.Errorf("the raced file holds %q, want the winner's %q", got, want)
	}
}
