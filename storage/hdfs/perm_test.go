package hdfs_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// wantDenied checks that err is a refused permission: it wraps
// fs.ErrPermission and a *PermissionError for user, and reads exactly
// want.
func wantDenied(t *testing.T, what string, err error, user, want string) {
	t.Helper()
	var pe *storagehdfs.PermissionError
	if !errors.Is(err, fs.ErrPermission) || !errors.As(err, &pe) || pe.User != user {
		t.Errorf("%s: error %v, want one wrapping fs.ErrPermission and a *PermissionError for %s", what, err, user)
		return
	}
	if err.Error() != want {
		t.Errorf("%s:\n got  %s\n want %s", what, err, want)
	}
}

// TestPermissionDenied: with the NameNode checking permissions, a write
// into another user's 0700 directory, or anywhere the user may not
// write, fails with an error that names the path, the user and what
// refused it.
func TestPermissionDenied(t *testing.T) {
	c := newCluster(t)
	bobHome := addUser(t, c, "bob")
	if err := c.Mkdir(bobHome, 0o700, "bob", ""); err != nil {
		t.Fatal(err)
	}
	carolHome := addUser(t, c, "carol")
	ctx := t.Context()
	bob := openFS(t, c, storagehdfs.Options{Client: gohdfs.ClientOptions{User: "bob"}})
	carol := openFS(t, c, storagehdfs.Options{Client: gohdfs.ClientOptions{User: "carol"}, FilePerm: 0o600})
	alice := openFS(t, c, storagehdfs.Options{Client: gohdfs.ClientOptions{User: "alice"}})
	for _, w := range []struct {
		fsys storage.FS
		name string
	}{{bob, bobHome + "/out/part-0"}, {bob, "/tmp/bobs"}, {carol, carolHome + "/secret"}, {alice, "/tmp/alices"}} {
		if err := write(ctx, w.fsys, w.name, []byte("data")); err != nil {
			t.Fatal(err)
		}
	}

	const (
		bobDir   = `"/user/bob" is bob:supergroup:drwx------`
		tmp      = `"/tmp" is hdfs:supergroup:drwxrwxrwt`
		suffix   = " (AccessControlException)"
		denied   = "permission denied for HDFS user alice: "
		carolDir = `"/user/carol" is carol:supergroup:drwxr-xr-x`
	)
	_, err := alice.Create(ctx, bobHome+"/out/part-1")
	wantDenied(t, "Create in another's 0700 home", err, "alice",
		"create /user/bob/out/part-1: "+denied+bobDir+suffix)
	err = storage.WriteFileAtomic(ctx, alice, bobHome+"/out/part-1", func(w io.Writer) error { return nil })
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), denied+bobDir) {
		t.Errorf("WriteFileAtomic in another's 0700 home: %v", err)
	}
	err = alice.MkdirAll(ctx, "/warehouse/events")
	wantDenied(t, "MkdirAll at the root", err, "alice",
		"mkdir /warehouse/events: "+denied+`"/" is hdfs:supergroup:drwxr-xr-x`+suffix)
	_, err = alice.List(ctx, bobHome)
	wantDenied(t, "List of another's 0700 home", err, "alice",
		"list /user/bob: "+denied+bobDir+`, "/user" is hdfs:supergroup:drwxr-xr-x`+suffix)
	// The client asks for the blocks, which is when READ is checked, at
	// the first read; it keeps the NameNode's message then.
	r, err := alice.Open(ctx, carolHome+"/secret")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	r.Close()
	wantDenied(t, "Read of another's 0600 file", err, "alice",
		"read /user/carol/secret: "+denied+`Permission denied: user=alice, access=READ, inode="/user/carol/secret":carol:supergroup:-rw-------`)
	err = alice.Remove(ctx, "/tmp/bobs")
	wantDenied(t, "Remove of another's file in the sticky /tmp", err, "alice",
		"remove /tmp/bobs: "+denied+`"/tmp/bobs" is bob:supergroup:-rw-r--r--, `+tmp+suffix)
	err = alice.Rename(ctx, "/tmp/alices", carolHome+"/alices")
	wantDenied(t, "Rename into another's home", err, "alice",
		"rename /tmp/alices: "+denied+`"/tmp/alices" is alice:supergroup:-rw-r--r--, `+tmp+", "+carolDir+suffix)
	_, err = alice.Create(ctx, "/tmp/bobs")
	wantDenied(t, "Create over another's file in /tmp", err, "alice",
		"create /tmp/bobs: "+denied+`"/tmp/bobs" is bob:supergroup:-rw-r--r--, `+tmp+suffix)
	// A relative name is the user's home's: alice has none.
	_, err = alice.Create(ctx, "rel")
	wantDenied(t, "Create of a relative name without a home", err, "alice",
		"create rel: "+denied+`"/user" is hdfs:supergroup:drwxr-xr-x`+suffix)

	// What each owner may do, it does.
	if got := read(t, bob, bobHome+"/out/part-0"); string(got) != "data" {
		t.Errorf("bob reads %q", got)
	}
	if err := alice.Remove(ctx, "/tmp/alices"); err != nil {
		t.Errorf("Remove of one's own file in /tmp: %v", err)
	}
	if err := bob.Remove(ctx, "/tmp/bobs"); err != nil {
		t.Errorf("Remove of one's own file in /tmp: %v", err)
	}
}

// TestPermissionDeniedByURI: the user of an hdfs:// URI is the one the
// NameNode checks.
func TestPermissionDeniedByURI(t *testing.T) {
	c := newCluster(t)
	if err := c.Mkdir("/warehouse/events", 0o755, "etl", ""); err != nil {
		t.Fatal(err)
	}
	etl, dir, err := storage.Open("hdfs://" + c.Addr() + "/warehouse/events?user=etl")
	if err != nil {
		t.Fatal(err)
	}
	defer etl.(*storagehdfs.FS).Close()
	if err := write(t.Context(), etl, dir+"/a", []byte("a")); err != nil {
		t.Fatalf("the owner's write: %v", err)
	}
	other, _, err := storage.Open("hdfs://mallory@" + c.Addr() + "/warehouse/events")
	if err != nil {
		t.Fatal(err)
	}
	defer other.(*storagehdfs.FS).Close()
	err = write(t.Context(), other, dir+"/b", []byte("b"))
	var pe *storagehdfs.PermissionError
	if !errors.As(err, &pe) || pe.User != "mallory" || !strings.Contains(err.Error(), "/warehouse/events") ||
		!strings.Contains(err.Error(), `"/warehouse/events" is etl:supergroup:drwxr-xr-x`) {
		t.Errorf("another user's write: %v", err)
	}
}

func TestNameTooLong(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	long := home + "/" + strings.Repeat("x", 256)
	err := write(t.Context(), f, long, []byte("x"))
	if !errors.Is(err, syscall.ENAMETOOLONG) || !strings.Contains(err.Error(), "limit=255 length=256") {
		t.Errorf("a 256-byte name: %v, want syscall.ENAMETOOLONG with the NameNode's message", err)
	}
	if err := f.MkdirAll(t.Context(), long); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("MkdirAll of a 256-byte name: %v", err)
	}
	if err := write(t.Context(), f, long[:len(long)-1], []byte("x")); err != nil {
		t.Errorf("a 255-byte name: %v", err)
	}
}

func TestDirectoryFull(t *testing.T) {
	c := newCluster(t, hdfstest.WithMaxDirectoryItems(2))
	f := openFS(t, c, storagehdfs.Options{})
	ctx := t.Context()
	for _, n := range []string{"/d/a", "/d/b"} {
		if err := write(ctx, f, home+n, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	err := write(ctx, f, home+"/d/c", []byte("x"))
	if !errors.Is(err, storagehdfs.ErrDirectoryFull) ||
		!strings.Contains(err.Error(), "The directory item limit of /user/tester/d is exceeded: limit=2 items=2") {
		t.Errorf("a third file with the limit at 2: %v, want ErrDirectoryFull with the NameNode's message", err)
	}
	// An atomic write needs room for its temporary file.
	err = storage.WriteFileAtomic(ctx, f, home+"/d/a", func(w io.Writer) error { _, err := w.Write([]byte("y")); return err })
	if !errors.Is(err, storagehdfs.ErrDirectoryFull) {
		t.Errorf("WriteFileAtomic in a full directory: %v", err)
	}
	if err := write(ctx, f, home+"/d/a", []byte("z")); err != nil {
		t.Errorf("Create over a file of a full directory: %v", err)
	}
}

// TestCompleteDelayed: the NameNode answers complete with false until the
// DataNode's block reports arrive; Close waits for them.
func TestCompleteDelayed(t *testing.T) {
	c := newCluster(t, hdfstest.WithCompleteDelay(300*time.Millisecond))
	f := openFS(t, c, storagehdfs.Options{CloseBackoff: 20 * time.Millisecond})
	data := randomBytes(testBlockSize + testBlockSize/2)
	began := time.Now()
	if err := write(t.Context(), f, home+"/slow", data); err != nil {
		t.Fatalf("write with the block reports delayed: %v", err)
	}
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Errorf("the write took %v, less than the report delay", took)
	}
	if n := c.RPCCount("complete"); n < 2 {
		t.Errorf("complete called %d times; Close should have retried", n)
	}
	if got := read(t, f, home+"/slow"); len(got) != len(data) {
		t.Errorf("read back %d bytes, want %d", len(got), len(data))
	}
}

// deadWriter leaves name under construction with data on the DataNode,
// written by a client that is then closed, as a job killed mid-write.
func deadWriter(t *testing.T, c *hdfstest.Cluster, user, name string) {
	t.Helper()
	cl, err := gohdfs.NewClient(gohdfs.ClientOptions{Addresses: []string{c.Addr()}, User: user})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cl.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, _ := c.ReadFile(name); string(b) == "partial" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the DataNode never got the data")
		}
	}
	cl.Close()
}

// TestRecoveryInProgress: over a file whose writer died, past the lease's
// soft limit, the NameNode recovers the lease for a while. Create
// replaces the file at once; CreateExclusive waits for the recovery,
// then reports the name taken, or gives up after RecoveryTimeout.
func TestRecoveryInProgress(t *testing.T) {
	const soft, recovery = 100 * time.Millisecond, 700 * time.Millisecond
	c := newCluster(t, hdfstest.WithLeaseLimits(soft, time.Hour), hdfstest.WithLeaseRecoveryDelay(recovery))
	ctx := t.Context()
	f := openFS(t, c, storagehdfs.Options{CloseBackoff: 20 * time.Millisecond})

	deadWriter(t, c, testUser, home+"/lock")
	time.Sleep(2 * soft)
	began := time.Now()
	_, err := f.CreateExclusive(ctx, home+"/lock")
	if !errors.Is(err, fs.ErrExist) || errors.Is(err, storagehdfs.ErrRecoveryInProgress) {
		t.Errorf("CreateExclusive over a file being recovered: %v, want fs.ErrExist once the recovery is over", err)
	}
	if took := time.Since(began); took < recovery/2 {
		t.Errorf("CreateExclusive answered after %v, before the recovery (%v) was over", took, recovery)
	}
	if got := read(t, f, home+"/lock"); string(got) != "partial" {
		t.Errorf("the recovered file reads %q", got)
	}

	impatient := openFS(t, c, storagehdfs.Options{CloseBackoff: 20 * time.Millisecond, RecoveryTimeout: 50 * time.Millisecond})
	deadWriter(t, c, testUser, home+"/lock2")
	time.Sleep(2 * soft)
	_, err = impatient.CreateExclusive(ctx, home+"/lock2")
	if !errors.Is(err, fs.ErrExist) || !errors.Is(err, storagehdfs.ErrRecoveryInProgress) ||
		!strings.Contains(err.Error(), "did not finish recovering the lease of the file, whose writer is gone, within 50ms") ||
		!strings.Contains(err.Error(), "RecoveryInProgressException): Failed to CREATE_FILE /user/tester/lock2 for ") {
		t.Errorf("CreateExclusive with a short RecoveryTimeout: %v", err)
	}
	ctx2, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := f.CreateExclusive(ctx2, home+"/lock2"); !errors.Is(err, context.Canceled) || !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateExclusive cancelled during a recovery: %v", err)
	}

	deadWriter(t, c, testUser, home+"/out")
	time.Sleep(2 * soft)
	began = time.Now()
	if err := write(ctx, f, home+"/out", []byte("mine")); err != nil {
		t.Fatalf("Create over a file being recovered: %v", err)
	}
	if took := time.Since(began); took > recovery {
		t.Errorf("Create waited %v for the recovery, want it to replace the file at once", took)
	}
	if got := read(t, f, home+"/out"); string(got) != "mine" {
		t.Errorf("the replaced file reads %q", got)
	}
	for deadline := time.Now().Add(10 * time.Second); len(c.OpenFiles()) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("files still being recovered: %q", c.OpenFiles())
		}
	}
}

// TestNow reads the NameNode's clock, ahead of or behind this host's.
func TestNow(t *testing.T) {
	for _, off := range []time.Duration{time.Hour, -time.Hour} {
		c := newCluster(t, hdfstest.WithClockOffset(off))
		f := openFS(t, c, storagehdfs.Options{})
		before := time.Now()
		got, err := f.Now(t.Context())
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if got.Before(before.Add(off).Truncate(time.Millisecond)) || got.After(after.Add(off)) {
			t.Errorf("offset %v: Now = %v, want within [%v, %v]", off, got, before.Add(off), after.Add(off))
		}
		if entries, err := f.List(t.Context(), "/tmp"); err != nil || len(entries) != 0 {
			t.Errorf("the probe file is left in /tmp: %v, %v", entries, err)
		}
	}

	// Without a writable /tmp, the home directory; without either, an
	// error.
	c := newCluster(t)
	if err := c.Mkdir("/tmp", 0o755, c.Superuser(), ""); err != nil {
		t.Fatal(err)
	}
	f := openFS(t, c, storagehdfs.Options{})
	if _, err := f.Now(t.Context()); err != nil {
		t.Errorf("Now with /tmp read-only: %v", err)
	}
	nobody := openFS(t, c, storagehdfs.Options{Client: gohdfs.ClientOptions{User: "nobody"}})
	if _, err := nobody.Now(t.Context()); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "NameNode's clock") {
		t.Errorf("Now with nowhere to write: %v, want a permission error", err)
	}
}
