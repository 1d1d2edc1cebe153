package hdfstest

import (
	"bytes"
	"crypto/md5"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

// newClient connects the colinmarc client to c as user and closes it at
// the end of the test.
func newClient(t *testing.T, c *Cluster, user string) *hdfs.Client {
	t.Helper()
	cl, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: c.Addrs(), User: user})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// addUser gives user a home directory on c and returns its path.
func addUser(t *testing.T, c *Cluster, user string, groups ...string) string {
	t.Helper()
	home, err := c.AddUser(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return home
}

// randomData returns n pseudo-random bytes.
func randomData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeFile writes data to a new file in writes of odd sizes.
func writeFile(t *testing.T, cl *hdfs.Client, name string, data []byte) {
	t.Helper()
	w, err := cl.Create(name)
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 33_333)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write(%s): %v", name, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(%s): %v", name, err)
	}
}

func TestClientWriteRead(t *testing.T) {
	const bs = 64 << 10
	c := New(t, WithBlockSize(bs))
	home := addUser(t, c, "alice")
	cl := newClient(t, c, "alice")
	dir, name := home+"/a/b", home+"/a/b/f"
	if err := cl.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	data := randomData(5*bs + 1234)
	writeFile(t, cl, name, data)

	lengths, err := c.BlockLengths(name)
	if err != nil || !slices.Equal(lengths, []int64{bs, bs, bs, bs, bs, 1234}) {
		t.Errorf("block lengths %v, %v", lengths, err)
	}
	if got, err := c.ReadFile(name); err != nil || !bytes.Equal(got, data) {
		t.Errorf("stored contents differ (%d bytes, %v)", len(got), err)
	}
	got, err := cl.ReadFile(name)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile: %d bytes, %v", len(got), err)
	}
	r, err := cl.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 3000)
	for _, off := range []int64{0, bs - 1000, 3*bs - 1, int64(len(data)) - 3000} {
		if n, err := r.ReadAt(buf, off); err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+3000]) {
			t.Errorf("ReadAt(%d) = %d, %v", off, n, err)
		}
	}

	fi, err := cl.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(data)) || fi.IsDir() || fi.Mode().Perm() != 0o644 {
		t.Errorf("Stat = size %d dir %v mode %v", fi.Size(), fi.IsDir(), fi.Mode())
	}
	if hf := fi.(*hdfs.FileInfo); hf.Owner() != "alice" || hf.OwnerGroup() != "supergroup" {
		t.Errorf("owner %s:%s", hf.Owner(), hf.OwnerGroup())
	}
	if time.Since(fi.ModTime()) > time.Minute {
		t.Errorf("ModTime %v is not recent", fi.ModTime())
	}
	if dfi, err := cl.Stat(dir); err != nil || !dfi.IsDir() || dfi.Mode().Perm() != 0o750 {
		t.Errorf("Stat(dir) = %v, %v", dfi, err)
	}

	// The file checksum: MD5 of the blocks' MD5s of their chunk CRC32Cs.
	sum, err := r.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for off := 0; off < len(data); off += bs {
		block := data[off:min(off+bs, len(data))]
		s := md5.Sum(appendChecksums(nil, block, bytesPerChecksum, checksumCRC32C))
		all = append(all, s[:]...)
	}
	padded := 32
	for padded < len(all) {
		padded *= 2
	}
	if want := md5.Sum(append(all, make([]byte, padded-len(all))...)); !bytes.Equal(sum, want[:]) {
		t.Errorf("Checksum = %x, want %x", sum, want)
	}

	d, err := cl.ServerDefaults()
	if err != nil || d.BlockSize != bs || d.Replication != 1 || d.BytesPerChecksum != 512 {
		t.Errorf("ServerDefaults = %+v, %v", d, err)
	}
	if st, err := cl.StatFs(); err != nil || st.Used != uint64(len(data)) || st.Capacity == 0 {
		t.Errorf("StatFs = %+v, %v", st, err)
	}
	if cs, err := cl.GetContentSummary(home + "/a"); err != nil || cs.Size() != int64(len(data)) || cs.FileCount() != 1 || cs.DirectoryCount() != 2 {
		t.Errorf("GetContentSummary = %+v, %v", cs, err)
	}
	if open := c.OpenFiles(); len(open) != 0 {
		t.Errorf("OpenFiles = %q", open)
	}
}

func TestClientNamespace(t *testing.T) {
	c := New(t)
	h := addUser(t, c, "bob")
	cl := newClient(t, c, "bob")
	writeFile(t, cl, h+"/f", []byte("file"))

	if _, err := cl.Create(h + "/f"); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create of an existing file: %v", err)
	}
	if _, err := cl.Create(h + "/missing/f"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create in a missing directory: %v", err)
	}
	if _, err := cl.Stat(h + "/f/under"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat under a file: %v", err)
	}
	if err := cl.MkdirAll(h+"/f/under", 0o755); err == nil {
		t.Errorf("MkdirAll under a file succeeded")
	}
	if err := cl.MkdirAll(h+"/f", 0o755); !errors.Is(err, os.ErrExist) {
		t.Errorf("MkdirAll of a file: %v", err)
	}
	if err := cl.Mkdir(h+"/x/y", 0o755); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Mkdir without its parent: %v", err)
	}

	// Rename replaces a file, moves between directories, and refuses to
	// replace a non-empty directory.
	writeFile(t, cl, h+"/g", []byte("gee"))
	if err := cl.Rename(h+"/g", h+"/f"); err != nil {
		t.Fatal(err)
	}
	if b, _ := cl.ReadFile(h + "/f"); string(b) != "gee" {
		t.Errorf("after rename over it, /f reads %q", b)
	}
	if err := cl.MkdirAll(h+"/d/e", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rename(h+"/f", h+"/d/e/f"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rename(h+"/d/e/f", h+"/nowhere/f"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Rename into a missing directory: %v", err)
	}
	if err := cl.Rename(h+"/missing", h+"/m2"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Rename of a missing file: %v", err)
	}
	writeFile(t, cl, h+"/h", nil)
	if err := cl.Rename(h+"/h", h+"/d"); err == nil {
		t.Errorf("Rename of a file over a non-empty directory succeeded")
	}
	if err := cl.Rename(h+"/d", h+"/d/e/inside"); err == nil {
		t.Errorf("Rename of a directory under itself succeeded")
	}

	if err := cl.Remove(h + "/d"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("Remove of a non-empty directory: %v", err)
	}
	if err := cl.RemoveAll(h + "/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Stat(h + "/d/e/f"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after RemoveAll: %v", err)
	}
	if err := cl.Remove(h + "/d"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove of a missing name: %v", err)
	}

	if err := cl.Chmod(h+"/h", 0o600); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := cl.Chtimes(h+"/h", when, when); err != nil {
		t.Fatal(err)
	}
	// Giving a file away is the superuser's.
	admin := newClient(t, c, c.Superuser())
	if err := admin.Chown(h+"/h", "carol", "staff"); err != nil {
		t.Fatal(err)
	}
	fi, err := cl.Stat(h + "/h")
	if err != nil {
		t.Fatal(err)
	}
	hf := fi.(*hdfs.FileInfo)
	if fi.Mode().Perm() != 0o600 || hf.Owner() != "carol" || hf.OwnerGroup() != "staff" || !fi.ModTime().Equal(when) {
		t.Errorf("after Chmod, Chtimes, Chown: %v %s:%s %v", fi.Mode(), hf.Owner(), hf.OwnerGroup(), fi.ModTime())
	}
	if _, err := cl.Open("../relative"); err == nil {
		t.Errorf("Open of a relative path succeeded")
	}
}

func TestListingPages(t *testing.T) {
	c := New(t, WithListingLimit(3))
	h := addUser(t, c, "u")
	cl := newClient(t, c, "u")
	if err := cl.MkdirAll(h+"/dir", 0o755); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, name := range []string{"j", "b", "a", "h", "c", "i", "e", "g", "d", "f"} {
		writeFile(t, cl, h+"/dir/"+name, []byte(name))
	}
	if err := cl.MkdirAll(h+"/dir/k", 0o755); err != nil {
		t.Fatal(err)
	}
	want = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}
	before := c.RPCCount("getListing")
	infos, err := cl.ReadDir(h + "/dir")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fi := range infos {
		got = append(got, fi.Name())
		if fi.Name() != "k" && (fi.IsDir() || fi.Size() != 1) {
			t.Errorf("entry %s: dir %v size %d", fi.Name(), fi.IsDir(), fi.Size())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ReadDir = %q, want %q", got, want)
	}
	if n := c.RPCCount("getListing") - before; n != 4 {
		t.Errorf("%d getListing calls for 11 entries 3 at a time, want 4", n)
	}
	if _, err := cl.ReadDir(h + "/nothing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadDir of a missing directory: %v", err)
	}
}

// waitFor polls cond until it holds, for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}

// fakeClock is a settable clock for lease tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Two users share the sticky /tmp.
func TestLeases(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	c := New(t, WithClock(clock.Now), WithBlockSize(64<<10), WithLeaseLimits(time.Minute, time.Hour))
	writer, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()}, User: "w"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()}, User: "o"})
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(100_000)
	w, err := writer.Create("/tmp/leased")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := c.OpenFiles(); !slices.Equal(got, []string{"/tmp/leased"}) {
		t.Fatalf("OpenFiles = %q", got)
	}
	// Flush does not wait for the acks: wait for the DataNode to have it.
	waitFor(t, func() bool { b, _ := c.ReadFile("/tmp/leased"); return len(b) == len(data) })
	// Within the soft limit the file is the writer's.
	if _, err := other.CreateFile("/tmp/leased", 1, 64<<10, 0o644); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateFile of a file being written: %v", err)
	}
	writer.Close() // the writer is gone: nobody renews its lease
	clock.Advance(2 * time.Minute)
	// Past the soft limit another client recovers the file: it is closed
	// with what the DataNode has.
	if _, err := other.CreateFile("/tmp/leased", 1, 64<<10, 0o644); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateFile of a recovered file: %v", err)
	}
	if got := c.OpenFiles(); len(got) != 0 {
		t.Errorf("OpenFiles after recovery = %q", got)
	}
	if got, err := other.ReadFile("/tmp/leased"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("recovered file: %d bytes, %v; want the %d flushed", len(got), err, len(data))
	}

	// Past the hard limit the NameNode closes the file by itself.
	w2, err := other.Create("/tmp/abandoned")
	if err != nil {
		t.Fatal(err)
	}
	w2.Write([]byte("partial"))
	w2.Flush()
	waitFor(t, func() bool { b, _ := c.ReadFile("/tmp/abandoned"); return string(b) == "partial" })
	other.Close()
	clock.Advance(2 * time.Hour)
	if got := c.OpenFiles(); len(got) != 0 {
		t.Errorf("OpenFiles past the hard limit = %q", got)
	}
	if got, err := c.ReadFile("/tmp/abandoned"); err != nil || string(got) != "partial" {
		t.Errorf("abandoned file holds %q, %v", got, err)
	}
}

func TestFaults(t *testing.T) {
	c := New(t, WithBlockSize(64<<10))
	h := addUser(t, c, "u")
	cl := newClient(t, c, "u")

	c.InjectRPCError("getFileInfo", exAccessControl, "Permission denied", 2)
	for i := range 2 {
		if _, err := cl.Stat("/"); !errors.Is(err, os.ErrPermission) {
			t.Errorf("Stat %d with the fault: %v", i, err)
		}
	}
	if _, err := cl.Stat("/"); err != nil {
		t.Errorf("Stat after the fault was used up: %v", err)
	}
	c.InjectRPCError("mkdirs", exAccessControl, "Permission denied", -1)
	for range 3 {
		if err := cl.MkdirAll(h+"/x", 0o755); !errors.Is(err, os.ErrPermission) {
			t.Errorf("MkdirAll with a permanent fault: %v", err)
		}
	}
	c.ClearFaults()
	if err := cl.MkdirAll(h+"/x", 0o755); err != nil {
		t.Errorf("MkdirAll after ClearFaults: %v", err)
	}

	c.DelayComplete(2)
	w, err := cl.Create(h + "/x/f")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("data"))
	for i := range 2 {
		if err := w.Close(); !hdfs.IsErrReplicating(err) {
			t.Errorf("Close %d with complete delayed: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Errorf("third Close: %v", err)
	}
	if n := c.RPCCount("complete"); n != 3 {
		t.Errorf("complete called %d times", n)
	}

	c.DropDataNodeConnection(30_000)
	w, err = cl.Create(h + "/x/g")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(randomData(200_000))
	cerr := w.Close()
	if werr == nil && cerr == nil {
		t.Errorf("write with a dropped DataNode connection succeeded")
	}
	if got := c.OpenFiles(); !slices.Equal(got, []string{h + "/x/g"}) {
		t.Errorf("OpenFiles after the failed write = %q", got)
	}
	if err := cl.Remove(h + "/x/g"); err != nil {
		t.Errorf("Remove of the file under construction: %v", err)
	}
	if got := c.OpenFiles(); len(got) != 0 {
		t.Errorf("OpenFiles after Remove = %q", got)
	}

	addr2, err := c.AddNameNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetStandby(addr2, true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStandby("127.0.0.1:1", true); err == nil {
		t.Errorf("SetStandby of an unknown address succeeded")
	}
	ha, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{addr2, c.Addr()}, User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	if b, err := ha.ReadFile(h + "/x/f"); err != nil || string(b) != "data" {
		t.Errorf("read through a standby then the active NameNode: %q, %v", b, err)
	}
}

func TestDropRead(t *testing.T) {
	c := New(t, WithBlockSize(64<<10))
	cl := newClient(t, c, "u")
	data := randomData(150_000)
	writeFile(t, cl, "/tmp/f", data)
	c.DropDataNodeConnection(10_000)
	r, err := cl.Open("/tmp/f")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err == nil {
		t.Fatalf("read with a dropped connection succeeded")
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("the bytes read before the drop differ")
	}
	// The reader connects again on the next Read.
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(got, rest...), data) {
		t.Errorf("reading on: %d+%d bytes, %v", len(got), len(rest), err)
	}
}

func TestStartOptions(t *testing.T) {
	for _, opt := range []Option{WithBlockSize(1000), WithReplication(-1), WithListingLimit(-1),
		WithLeaseLimits(time.Hour, time.Minute), WithMaxComponentLength(-1), WithMaxDirectoryItems(-1),
		WithCompleteDelay(-time.Second), WithLeaseRecoveryDelay(-time.Second)} {
		if c, err := Start(opt); err == nil {
			c.Close()
			t.Errorf("Start with an invalid option succeeded")
		}
	}
	c, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	if c.BlockSize() != DefaultBlockSize || c.DataNodeAddr() == "" {
		t.Errorf("defaults: block size %d, DataNode %q", c.BlockSize(), c.DataNodeAddr())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.AddNameNode(); err == nil {
		t.Errorf("AddNameNode after Close succeeded")
	}
	if _, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()}, User: "u"}); err == nil {
		t.Errorf("a client connected to a closed cluster")
	}
}

// The fs package's error values are what the client maps exceptions to.
var _ = fs.ErrNotExist
