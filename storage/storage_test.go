package storage_test

import (
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/microbatch-go/microbatch/storage"
	"github.com/microbatch-go/microbatch/storage/storagetest"
)

// The conformance suite also passes on an FS that is not the os package,
// so it assumes nothing of local disk.
func TestMemConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.FS, string) {
		fsys := newMemFS()
		if err := fsys.MkdirAll(t.Context(), "/root"); err != nil {
			t.Fatal(err)
		}
		return fsys, "/root"
	})
}

// The test driver: "memtest://host/path" opens the memFS of host.
var memHosts = struct {
	sync.Mutex
	m map[string]*memFS
}{m: map[string]*memFS{}}

func init() {
	storage.Register("MemTest", func(u *url.URL) (storage.FS, error) {
		if u.Host == "down" {
			return nil, errors.New("connection refused")
		}
		memHosts.Lock()
		defer memHosts.Unlock()
		if memHosts.m[u.Host] == nil {
			memHosts.m[u.Host] = newMemFS()
		}
		return memHosts.m[u.Host], nil
	})
}

func TestOpen(t *testing.T) {
	tests := []struct {
		uri     string
		local   bool   // local disk, else the memtest driver
		path    string // the path in the FS
		errPart string // a part of the error, if one is expected
	}{
		{uri: "in", local: true, path: "in"},
		{uri: "data/in/*", local: true, path: "data/in/*"},
		{uri: "/var/data", local: true, path: "/var/data"},
		{uri: "/var/da?a/[ab]", local: true, path: "/var/da?a/[ab]"}, // no URI parsing of plain paths
		{uri: `C:\data\in`, local: true, path: `C:\data\in`},
		{uri: "a:b/c", local: true, path: "a:b/c"},
		{uri: "file:///var/data", local: true, path: "/var/data"},
		{uri: "FILE:///var/data", local: true, path: "/var/data"},
		{uri: "file:/var/data", local: true, path: "/var/data"},
		{uri: "file://localhost/var/data", local: true, path: "/var/data"},
		{uri: "file:///var/a%20b/%3F", local: true, path: "/var/a b/?"},
		{uri: "file://server/var/data", errPart: "cannot have the host"},
		{uri: "file:", errPart: "needs an absolute path"},
		{uri: "", errPart: "empty path"},
		{uri: "memtest://nn:8020/user/in", path: "/user/in"},
		{uri: "MEMTEST://nn:8020/user/in/*/x", path: "/user/in/*/x"},
		{uri: "memtest://nn:8020", path: "/"},
		{uri: "memtest://down/x", errPart: "connection refused"},
		{uri: "memtest://nn/%zz", errPart: "invalid URL escape"},
	}
	for _, tt := range tests {
		fsys, p, err := storage.Open(tt.uri)
		if tt.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("Open(%q) error = %v, want one containing %q", tt.uri, err, tt.errPart)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", tt.uri, err)
			continue
		}
		if p != tt.path {
			t.Errorf("Open(%q) path = %q, want %q", tt.uri, p, tt.path)
		}
		if _, isMem := fsys.(*memFS); isMem == tt.local {
			t.Errorf("Open(%q) FS = %T, want local disk %v", tt.uri, fsys, tt.local)
		}
	}
}

func TestOpenSameDriverInstance(t *testing.T) {
	a, _, err := storage.Open("memtest://same/a")
	if err != nil {
		t.Fatal(err)
	}
	w, err := a.Create(t.Context(), "/a/f")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "x")
	w.Close()
	b, p, err := storage.Open("memtest://same/a/f")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := b.Stat(t.Context(), p); err != nil || fi.Size != 1 {
		t.Errorf("Stat through a second Open = %+v, %v; want the file written through the first", fi, err)
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	_, _, err := storage.Open("hdfs://namenode:8020/data")
	if !errors.Is(err, storage.ErrUnknownScheme) {
		t.Fatalf("error = %v, want ErrUnknownScheme", err)
	}
	for _, part := range []string{`"hdfs"`, "import", "storage/hdfs", "memtest"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %s", err, part)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	open := func(*url.URL) (storage.FS, error) { return newMemFS(), nil }
	tests := []struct {
		name   string
		scheme string
		open   func(*url.URL) (storage.FS, error)
	}{
		{"nil open", "nilopen", nil},
		{"file", "file", open},
		{"File", "File", open},
		{"invalid", "bad scheme", open},
		{"empty", "", open},
		{"digit first", "9p", open},
		{"duplicate", "memtest", open},
		{"duplicate in another case", "MEMTEST", open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tt.scheme)
				}
			}()
			storage.Register(tt.scheme, tt.open)
		})
	}
}

func TestGlobRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, n := range []string{"in/a/x.txt", "in/b/y.txt", "top.txt"} {
		if err := os.MkdirAll(filepath.Dir(n), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(n, nil, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		pattern string
		want    []string
	}{
		{"in/*", []string{"in/a", "in/b"}},
		{"in/*/*.txt", []string{"in/a/x.txt", "in/b/y.txt"}},
		{"*.txt", []string{"top.txt"}},
		{"./in/?", []string{"in/a", "in/b"}},
		{"top.txt", []string{"top.txt"}},
		{"top.txt/*", nil}, // a file has no entries
	}
	for _, tt := range tests {
		got, err := storage.Glob(t.Context(), storage.Local(), tt.pattern)
		if err != nil {
			t.Errorf("Glob(%q): %v", tt.pattern, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Glob(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

// failingList is an FS whose List fails for dirs other than its root.
type failingList struct {
	storage.FS
	err error
}

func (f failingList) List(ctx context.Context, dir string) ([]storage.FileInfo, error) {
	if path.Base(dir) == "bad" {
		return nil, f.err
	}
	return f.FS.List(ctx, dir)
}

func TestGlobListError(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"ok", "bad"} {
		if err := os.MkdirAll(filepath.Join(root, d, "in"), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	cause := errors.New("permission denied")
	fsys := failingList{storage.Local(), cause}
	_, err := storage.Glob(t.Context(), fsys, filepath.ToSlash(root)+"/*/in")
	if err != nil {
		t.Fatalf("a listing error below the matched level: %v", err)
	}
	_, err = storage.Glob(t.Context(), fsys, filepath.ToSlash(root)+"/*/*")
	if !errors.Is(err, cause) {
		t.Errorf("error = %v, want the listing error", err)
	}
}

// recordingFS records the names Create was called with.
type recordingFS struct {
	*memFS
	created []string
}

func (r *recordingFS) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	r.created = append(r.created, name)
	return r.memFS.Create(ctx, name)
}

func TestWriteFileAtomicTempNameAndSync(t *testing.T) {
	fsys := &recordingFS{memFS: newMemFS()}
	err := storage.WriteFileAtomic(t.Context(), fsys, "/out/part-00001", func(w io.Writer) error {
		_, err := io.WriteString(w, "data")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fsys.created) != 1 || !strings.HasPrefix(fsys.created[0], "/out/.part-00001.tmp-") {
		t.Errorf("created %q, want one temporary name /out/.part-00001.tmp-<random>", fsys.created)
	}
	if fsys.syncs != 1 {
		t.Errorf("Sync called %d times, want once before the rename", fsys.syncs)
	}
	if err := storage.WriteFileAtomic(t.Context(), fsys, "/out/x", nil); err == nil {
		t.Errorf("WriteFileAtomic with a nil write function succeeded")
	}
}

func TestWriteFileAtomicCanceledRemovesTemp(t *testing.T) {
	fsys := newMemFS()
	ctx, cancel := context.WithCancel(t.Context())
	err := storage.WriteFileAtomic(ctx, fsys, "/out/f", func(w io.Writer) error {
		cancel() // the rename then fails; the clean-up must still run
		_, err := io.WriteString(w, "data")
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	entries, err := fsys.List(t.Context(), "/out")
	if err != nil || len(entries) != 0 {
		t.Errorf("/out lists %v, %v; want nothing left", entries, err)
	}
}

func TestLocalListFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("12345"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	entries, err := storage.Local().List(t.Context(), filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "dangling" || entries[1].Name != "link" {
		t.Fatalf("List = %+v, want dangling and link", entries)
	}
	if entries[1].Size != 5 || entries[1].IsDir {
		t.Errorf("link listed as %+v, want the 5-byte file it points to", entries[1])
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	target := path.Join(dir, "a", "b")
	if err := storage.CheckWritable(ctx, storage.Local(), target); err != nil {
		t.Fatalf("CheckWritable: %v", err)
	}
	entries, err := os.ReadDir(target)
	if err != nil || len(entries) != 0 {
		t.Fatalf("after the check %s holds %v (%v); want it created and empty", target, entries, err)
	}
	// A path under a file cannot be a directory.
	file := path.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := storage.CheckWritable(ctx, storage.Local(), path.Join(file, "out")); err == nil {
		t.Error("CheckWritable under a regular file succeeded")
	}
	if err := storage.CheckWritable(ctx, storage.Local(), "/proc/forbidden"); err == nil {
		t.Error("CheckWritable of /proc/forbidden succeeded")
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/var/ckpt", "/var/ckpt"},
		{"relative/dir", "relative/dir"},
		{"file:///var/ckpt", "file:///var/ckpt"},
		{"hdfs://nn:8020/ck?user=etl", "hdfs://nn:8020/ck?user=etl"},
		{"hdfs://etl:secret@nn:8020/ck", "hdfs://etl:xxxxx@nn:8020/ck"},
		{"hdfs://etl:secret@nn1:8020,nn2:8020/ck", "hdfs://etl:xxxxx@nn1:8020,nn2:8020/ck"},
	} {
		if got := storage.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
