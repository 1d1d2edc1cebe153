package hdfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
	"github.com/microbatch-go/microbatch/storage/storagetest"
)

// testBlockSize is small, so that the suite's multi-MiB file spans many
// blocks.
const testBlockSize = 256 << 10

// The tests act as the user tester, in its home directory, as a job would
// on a cluster with permissions on.
const (
	testUser = "tester"
	home     = "/user/" + testUser
)

// newCluster starts a test cluster with a home directory for testUser,
// and fails the test at its end if a file is left under construction (a
// leaked writer or lease).
func newCluster(t *testing.T, opts ...hdfstest.Option) *hdfstest.Cluster {
	t.Helper()
	c := hdfstest.New(t, append([]hdfstest.Option{hdfstest.WithBlockSize(testBlockSize)}, opts...)...)
	addUser(t, c, testUser)
	t.Cleanup(func() {
		if open := c.OpenFiles(); len(open) > 0 {
			t.Errorf("files left under construction: %q", open)
		}
	})
	return c
}

// addUser gives user a home directory on c, as an administrator does.
func addUser(t *testing.T, c *hdfstest.Cluster, user string) string {
	t.Helper()
	h, err := c.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// openFS opens an FS on the cluster's NameNodes (all of them unless
// addrs are given) and closes it at the end of the test.
func openFS(t *testing.T, c *hdfstest.Cluster, opts storagehdfs.Options, addrs ...string) *storagehdfs.FS {
	t.Helper()
	if len(addrs) == 0 {
		addrs = c.Addrs()
	}
	opts.Client.Addresses = addrs
	if opts.Client.User == "" {
		opts.Client.User = testUser
	}
	f, err := storagehdfs.Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.FS, string) {
		c := newCluster(t)
		f := openFS(t, c, storagehdfs.Options{})
		root := home + "/test/" + strings.ReplaceAll(t.Name(), "/", "_")
		if err := f.MkdirAll(t.Context(), root); err != nil {
			t.Fatalf("MkdirAll(%s): %v", root, err)
		}
		return f, root
	})
}

// TestConformanceURI runs the suite on the FS storage.Open returns for an
// hdfs URI naming two NameNodes of one cluster.
func TestConformanceURI(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.FS, string) {
		c := newCluster(t)
		addr2, err := c.AddNameNode()
		if err != nil {
			t.Fatal(err)
		}
		addUser(t, c, "etl")
		fsys, root, err := storage.Open("hdfs://" + c.Addr() + "," + addr2 + "/user/etl/data/in?user=etl")
		if err != nil {
			t.Fatalf("storage.Open: %v", err)
		}
		t.Cleanup(func() { fsys.(*storagehdfs.FS).Close() })
		if root != "/user/etl/data/in" {
			t.Fatalf("path = %q", root)
		}
		if err := fsys.MkdirAll(t.Context(), root); err != nil {
			t.Fatalf("MkdirAll: %v", err)
		}
		return fsys, root
	})
}

// TestRealCluster runs the suite on a real HDFS when HDFS_NAMENODE names
// one (host:port, with HDFS_USER and HDFS_TEST_DIR optional).
func TestRealCluster(t *testing.T) {
	nn := os.Getenv("HDFS_NAMENODE")
	if nn == "" {
		t.Skip("HDFS_NAMENODE is not set: set it to a NameNode's host:port (and optionally HDFS_USER and " +
			"HDFS_TEST_DIR, default /tmp) to run the conformance suite against a real HDFS cluster")
	}
	user := os.Getenv("HDFS_USER")
	if user == "" {
		var err error
		if user, err = storagehdfs.DefaultUser(); err != nil {
			t.Fatal(err)
		}
	}
	base := os.Getenv("HDFS_TEST_DIR")
	if base == "" {
		base = "/tmp"
	}
	f, err := storagehdfs.Open(storagehdfs.Options{Client: gohdfs.ClientOptions{
		Addresses: strings.Split(nn, ","), User: user}})
	if err != nil {
		t.Fatalf("connecting to %s: %v", nn, err)
	}
	defer f.Close()
	top := path.Join(base, fmt.Sprintf("microbatch-storagetest-%d-%x", time.Now().UnixNano(), rand.Uint32()))
	defer f.Client().RemoveAll(top)
	storagetest.Run(t, func(t *testing.T) (storage.FS, string) {
		root := path.Join(top, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := f.MkdirAll(t.Context(), root); err != nil {
			t.Fatalf("MkdirAll(%s): %v", root, err)
		}
		return f, root
	})
}

// write creates name with data through fsys.
func write(ctx context.Context, fsys storage.FS, name string, data []byte) error {
	w, err := fsys.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// read returns the contents of name.
func read(t *testing.T, fsys storage.FS, name string) []byte {
	t.Helper()
	r, err := fsys.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return b
}

// randomBytes returns n pseudo-random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestStandbyWithOneNameNode(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	c.InjectRPCError("getFileInfo", "org.apache.hadoop.ipc.StandbyException",
		"Operation category READ is not supported in state standby", 1)
	_, err := f.Stat(t.Context(), "/")
	if err == nil || !strings.Contains(err.Error(), "StandbyException") {
		t.Fatalf("Stat with the only NameNode in standby: error %v, want one naming StandbyException", err)
	}
}

func TestStandbyFailover(t *testing.T) {
	c := newCluster(t)
	second, err := c.AddNameNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetStandby(c.Addr(), true); err != nil {
		t.Fatal(err)
	}
	f := openFS(t, c, storagehdfs.Options{}, c.Addr(), second)
	ctx := t.Context()
	data := randomBytes(3*testBlockSize + 100)
	if err := write(ctx, f, home+"/ha/file", data); err != nil {
		t.Fatalf("write through the standby and the active NameNode: %v", err)
	}
	if got := read(t, f, home+"/ha/file"); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, want the %d written", len(got), len(data))
	}
	if n := c.RPCCount("getFileInfo"); n < 2 {
		t.Errorf("getFileInfo was called %d times; the standby should have been tried first", n)
	}
}

func TestAccessControlException(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	ctx := t.Context()
	if err := write(ctx, f, home+"/d/file", []byte("x")); err != nil {
		t.Fatal(err)
	}
	const denied = "org.apache.hadoop.security.AccessControlException"
	calls := []struct {
		method string
		call   func() error
	}{
		{"getFileInfo", func() error { _, err := f.Stat(ctx, home+"/d/file"); return err }},
		{"getListing", func() error { _, err := f.List(ctx, home+"/d"); return err }},
		{"create", func() error { _, err := f.Create(ctx, home+"/d/new"); return err }},
		{"mkdirs", func() error { return f.MkdirAll(ctx, home+"/d/sub") }},
		{"rename2", func() error { return f.Rename(ctx, home+"/d/file", home+"/d/moved") }},
		{"delete", func() error { return f.Remove(ctx, home+"/d/file") }},
		{"getBlockLocations", func() error {
			r, err := f.Open(ctx, home+"/d/file")
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.ReadAll(r)
			return err
		}},
		{"complete", func() error { return write(ctx, f, home+"/d/denied", []byte("data")) }},
	}
	for _, tt := range calls {
		c.InjectRPCError(tt.method, denied, "Permission denied: user=tester, access=WRITE, inode=\""+home+"/d\"", -1)
		err := tt.call()
		c.ClearFaults()
		var pe *storagehdfs.PermissionError
		if !errors.Is(err, fs.ErrPermission) || !errors.As(err, &pe) || pe.User != testUser {
			t.Errorf("%s denied: error %v, want one wrapping fs.ErrPermission and a *PermissionError for %s", tt.method, err, testUser)
		}
	}
	if _, err := f.Stat(ctx, home+"/d/denied"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the file whose complete was denied: Stat error %v, want it removed", err)
	}
	if got := read(t, f, home+"/d/file"); string(got) != "x" {
		t.Errorf("file reads %q after the denied calls", got)
	}
}

func TestRemoteErrorKeepsException(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	c.InjectRPCError("rename2", "java.io.IOException", "something broke", 1)
	if err := write(t.Context(), f, home+"/a", nil); err != nil {
		t.Fatal(err)
	}
	err := f.Rename(t.Context(), home+"/a", home+"/b")
	var he gohdfs.Error
	if !errors.As(err, &he) || he.Exception() != "java.io.IOException" {
		t.Fatalf("error %v: want an hdfs.Error for java.io.IOException", err)
	}
	if !strings.Contains(err.Error(), "something broke") {
		t.Errorf("error %q does not carry the exception's message", err)
	}
}

func TestDelayedComplete(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{CloseBackoff: 5 * time.Millisecond})
	c.DelayComplete(3)
	data := randomBytes(testBlockSize + 1)
	if err := write(t.Context(), f, home+"/slow", data); err != nil {
		t.Fatalf("write with complete delayed 3 times: %v", err)
	}
	if n := c.RPCCount("complete"); n != 4 {
		t.Errorf("complete called %d times, want 4", n)
	}
	if got := read(t, f, home+"/slow"); !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes, want %d", len(got), len(data))
	}
}

func TestDelayedCompleteBeyondBudget(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{CloseBackoff: 5 * time.Millisecond, CloseTimeout: 50 * time.Millisecond})
	ctx := t.Context()
	c.DelayComplete(1000)
	err := write(ctx, f, home+"/never", []byte("data"))
	if !errors.Is(err, gohdfs.ErrReplicating) || !strings.Contains(err.Error(), "within") {
		t.Fatalf("error %v, want one wrapping hdfs.ErrReplicating and saying how long Close waited", err)
	}
	if _, err := f.Stat(ctx, home+"/never"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the failed Close, Stat: %v; want the file removed", err)
	}
	if n := c.RPCCount("complete"); n < 3 {
		t.Errorf("complete called %d times; Close should have retried", n)
	}
	c.ClearFaults()
	if err := write(ctx, f, home+"/never", []byte("data")); err != nil {
		t.Errorf("write once complete succeeds again: %v", err)
	}
}

func TestDroppedDataNodeWrite(t *testing.T) {
	// The connection of the block numbered block is cut after after bytes.
	for _, tt := range []struct{ block, after int }{{0, 0}, {0, 100_000}, {1, 70_000}, {2, testBlockSize - 1}} {
		t.Run(fmt.Sprintf("block%d-after%d", tt.block, tt.after), func(t *testing.T) {
			c := newCluster(t)
			f := openFS(t, c, storagehdfs.Options{})
			ctx := t.Context()
			data := randomBytes(3*testBlockSize + 999)
			w, err := f.Create(ctx, home+"/out/part")
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			for i := range 4 {
				if i == tt.block {
					c.DropDataNodeConnection(tt.after)
				}
				chunk := data[i*testBlockSize : min((i+1)*testBlockSize, len(data))]
				if _, werr = w.Write(chunk); werr != nil {
					break
				}
			}
			if err := w.Close(); err == nil {
				t.Fatalf("write with the DataNode connection dropped succeeded")
			} else if werr != nil && !errors.Is(err, werr) {
				t.Errorf("Close after the failed Write: %v, want its error %v", err, werr)
			}
			if _, err := f.Stat(ctx, home+"/out/part"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("partial file: Stat error %v, want it removed", err)
			}
			if err := write(ctx, f, home+"/out/part", data); err != nil {
				t.Fatalf("write after the dropped one: %v", err)
			}
			if got := read(t, f, home+"/out/part"); !bytes.Equal(got, data) {
				t.Errorf("read back %d bytes, want %d", len(got), len(data))
			}
		})
	}
}

func TestDroppedDataNodeWriteAtomic(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	ctx := t.Context()
	if err := write(ctx, f, home+"/out/part", []byte("old")); err != nil {
		t.Fatal(err)
	}
	c.DropDataNodeConnection(1000)
	err := storage.WriteFileAtomic(ctx, f, home+"/out/part", func(w io.Writer) error {
		_, err := w.Write(randomBytes(2 * testBlockSize))
		return err
	})
	if err == nil {
		t.Fatal("WriteFileAtomic with the DataNode connection dropped succeeded")
	}
	if got := read(t, f, home+"/out/part"); string(got) != "old" {
		t.Errorf("the target reads %q after the failed atomic write", got)
	}
	entries, err := f.List(ctx, home+"/out")
	if err != nil || len(entries) != 1 {
		t.Errorf("directory lists %v, %v; want only the old file", entries, err)
	}
}

func TestDroppedDataNodeRead(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	data := randomBytes(2*testBlockSize + 1234)
	if err := write(t.Context(), f, home+"/in", data); err != nil {
		t.Fatal(err)
	}
	c.DropDataNodeConnection(100_000)
	c.DropDataNodeConnection(1000)
	_, readsBefore := c.DataNodeOps()
	if got := read(t, f, home+"/in"); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes after dropped connections, want the %d written", len(got), len(data))
	}
	if _, reads := c.DataNodeOps(); reads-readsBefore < 5 {
		t.Errorf("%d block reads for 3 blocks and 2 dropped connections, want at least 5", reads-readsBefore)
	}

	// With no retries the error reaches the caller.
	g := openFS(t, c, storagehdfs.Options{ReadRetries: -1})
	c.DropDataNodeConnection(5000)
	r, err := g.Open(t.Context(), home+"/in")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadAll(r); err == nil {
		t.Errorf("read with a dropped connection and no retries succeeded")
	}
}

// TestConcurrentUse shares one FS between goroutines that write, list,
// read and rename at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	ctx := t.Context()
	const workers = 6
	errs := make(chan error, workers)
	for i := range workers {
		go func() {
			errs <- func() error {
				data := randomBytes(testBlockSize + 1000*i + 1)
				name := fmt.Sprintf(home+"/c/%d/file", i)
				for range 3 {
					if err := storage.WriteFileAtomic(ctx, f, name, func(w io.Writer) error {
						_, err := w.Write(data)
						return err
					}); err != nil {
						return err
					}
					if _, err := f.List(ctx, home+"/c"); err != nil {
						return err
					}
					r, err := f.Open(ctx, name)
					if err != nil {
						return err
					}
					got, err := io.ReadAll(r)
					r.Close()
					if err != nil {
						return err
					}
					if !bytes.Equal(got, data) {
						return fmt.Errorf("%s: read %d bytes, want %d", name, len(got), len(data))
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	entries, err := f.List(ctx, home+"/c")
	if err != nil || len(entries) != workers {
		t.Errorf("List = %d entries, %v", len(entries), err)
	}
}

func TestReaderAtAndSeek(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	data := randomBytes(3*testBlockSize + 17)
	if err := write(t.Context(), f, home+"/ra", data); err != nil {
		t.Fatal(err)
	}
	rc, err := f.Open(t.Context(), home+"/ra")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := rc.(*storagehdfs.Reader)
	if r.Size() != int64(len(data)) {
		t.Errorf("Size = %d, want %d", r.Size(), len(data))
	}
	buf := make([]byte, 5000)
	off := int64(testBlockSize - 2000) // across a block boundary
	if n, err := r.ReadAt(buf, off); err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+5000]) {
		t.Errorf("ReadAt across a block boundary = %d, %v (match %v)", n, err, bytes.Equal(buf, data[off:off+5000]))
	}
	if n, err := r.ReadAt(buf, int64(len(data))-10); err != io.EOF || n != 10 {
		t.Errorf("ReadAt at the end = %d, %v; want 10, io.EOF", n, err)
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, data[:100]) {
		t.Errorf("Read after ReadAt does not start at 0: %v", err)
	}
	if _, err := r.Seek(2*testBlockSize+3, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(rest, data[2*testBlockSize+3:]) {
		t.Errorf("read after Seek: %d bytes, %v", len(rest), err)
	}
}

func TestCreateOverFileBeingWritten(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	other := openFS(t, c, storagehdfs.Options{})
	ctx := t.Context()
	w, err := other.Create(ctx, home+"/busy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abandoned")); err != nil {
		t.Fatal(err)
	}
	if got := c.OpenFiles(); !slices.Equal(got, []string{home + "/busy"}) {
		t.Errorf("OpenFiles = %q, want [/busy]", got)
	}
	if err := write(ctx, f, home+"/busy", []byte("mine")); err != nil {
		t.Fatalf("Create over a file another client is writing: %v", err)
	}
	if got := read(t, f, home+"/busy"); string(got) != "mine" {
		t.Errorf("reads %q", got)
	}
	if err := w.Close(); err == nil {
		t.Errorf("the first writer's Close succeeded after its file was replaced")
	}
	if got := read(t, f, home+"/busy"); string(got) != "mine" {
		t.Errorf("after the first writer's Close the file reads %q", got)
	}
}

func TestCreateDirectory(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	if err := f.MkdirAll(t.Context(), home+"/dir"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Create(t.Context(), home+"/dir"); err == nil {
		t.Fatal("Create of a directory succeeded")
	}
	if fi, err := f.Stat(t.Context(), home+"/dir"); err != nil || !fi.IsDir {
		t.Errorf("the directory after a failed Create: %+v, %v", fi, err)
	}
}

func TestWriterClosedTwice(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	w, err := f.Create(t.Context(), home+"/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close: %v, want fs.ErrClosed", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Write after Close: %v, want fs.ErrClosed", err)
	}
}

func TestRelativeNames(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{})
	if err := write(t.Context(), f, "rel/file", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(t.Context(), home+"/rel/file"); err != nil {
		t.Errorf("a relative name is not under the user's home: %v", err)
	}
}

func TestOptionsFromURL(t *testing.T) {
	t.Setenv("HADOOP_USER_NAME", "envuser")
	tests := []struct {
		uri     string
		addrs   []string
		user    string
		wantErr string
		check   func(storagehdfs.Options) bool
	}{
		{uri: "hdfs://nn:9000/p", addrs: []string{"nn:9000"}, user: "envuser"},
		{uri: "hdfs://nn/p", addrs: []string{"nn:8020"}, user: "envuser"},
		{uri: "hdfs://nn1:8020,nn2:8021/p?user=etl", addrs: []string{"nn1:8020", "nn2:8021"}, user: "etl"},
		{uri: "hdfs://bob@nn:8020/", addrs: []string{"nn:8020"}, user: "bob"},
		{uri: "hdfs://[::1]:8020/", addrs: []string{"[::1]:8020"}, user: "envuser"},
		{uri: "hdfs://nn/?replication=2&blocksize=1048576&closetimeout=3s", addrs: []string{"nn:8020"}, user: "envuser",
			check: func(o storagehdfs.Options) bool {
				return o.Replication == 2 && o.BlockSize == 1<<20 && o.CloseTimeout == 3*time.Second
			}},
		{uri: "hdfs://nn/?bogus=1", wantErr: "unknown URI parameter"},
		{uri: "hdfs://nn/?replication=x", wantErr: "replication"},
		{uri: "hdfs://nn/?blocksize=-1", wantErr: "blocksize"},
		{uri: "hdfs://nn/?closetimeout=soon", wantErr: "closetimeout"},
		{uri: "hdfs://bob@nn/?user=alice", wantErr: "two users"},
		{uri: "hdfs://nn1,,nn2/", wantErr: "empty NameNode address"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.uri)
		if err != nil {
			t.Fatalf("%s: %v", tt.uri, err)
		}
		o, err := storagehdfs.OptionsFromURL(u)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tt.uri, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.uri, err)
			continue
		}
		if !slices.Equal(o.Client.Addresses, tt.addrs) || o.Client.User != tt.user {
			t.Errorf("%s: addresses %q user %q, want %q %q", tt.uri, o.Client.Addresses, o.Client.User, tt.addrs, tt.user)
		}
		if tt.check != nil && !tt.check(o) {
			t.Errorf("%s: options %+v", tt.uri, o)
		}
	}
}

func TestURIFromHadoopConf(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	site := `<?xml version="1.0"?><configuration><property><name>fs.defaultFS</name>` +
		`<value>hdfs://` + c.Addr() + `</value></property></configuration>`
	if err := os.WriteFile(path.Join(dir, "core-site.xml"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HADOOP_CONF_DIR", dir)
	addUser(t, c, "confuser")
	fsys, p, err := storage.Open("hdfs:///user/confuser/from/conf?user=confuser")
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	defer fsys.(*storagehdfs.FS).Close()
	if err := write(t.Context(), fsys, p+"/f", []byte("x")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := c.ReadFile("/user/confuser/from/conf/f"); err != nil {
		t.Errorf("the file is not on the configured cluster: %v", err)
	}

	kerberized := site[:len(site)-len("</configuration>")] + `<property><name>hadoop.security.authentication</name>` +
		`<value>kerberos</value></property></configuration>`
	os.WriteFile(path.Join(dir, "core-site.xml"), []byte(kerberized), 0o644)
	if _, _, err := storage.Open("hdfs:///x"); err == nil || !strings.Contains(err.Error(), "Kerberos") {
		t.Errorf("Open with a kerberized configuration: %v, want an error about Kerberos", err)
	}
	t.Setenv("HADOOP_CONF_DIR", t.TempDir())
	if _, _, err := storage.Open("hdfs:///x"); err == nil {
		t.Errorf("Open with no NameNode anywhere succeeded")
	}
}

func TestOpenSharesClient(t *testing.T) {
	c := newCluster(t)
	addUser(t, c, "u1")
	uri := "hdfs://" + c.Addr() + "/user/u1/a?user=u1"
	f1, _, err := storage.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	f2, p, err := storage.Open("hdfs://" + c.Addr() + "/user/u1/b?user=u1")
	if err != nil {
		t.Fatal(err)
	}
	if f1 != f2 || p != "/user/u1/b" {
		t.Errorf("two Opens of one cluster and user gave different FSs (or path %q)", p)
	}
	f3, _, err := storage.Open("hdfs://" + c.Addr() + "/user/u1/a?user=u2")
	if err != nil {
		t.Fatal(err)
	}
	if f3 == f1 {
		t.Errorf("Opens as different users share an FS")
	}
	f1.(*storagehdfs.FS).Close()
	f3.(*storagehdfs.FS).Close()
	f4, _, err := storage.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer f4.(*storagehdfs.FS).Close()
	if f4 == f1 {
		t.Errorf("Open after Close returned the closed FS")
	}
	if err := f4.MkdirAll(t.Context(), "/user/u1/a"); err != nil {
		t.Errorf("MkdirAll on the reopened FS: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	_, err := storagehdfs.Open(storagehdfs.Options{
		Client:      gohdfs.ClientOptions{Addresses: []string{"127.0.0.1:1"}, User: "u"},
		DialTimeout: time.Second,
	})
	if err == nil {
		t.Fatal("Open of an address with no NameNode succeeded")
	}
	if _, err := storagehdfs.Open(storagehdfs.Options{}); err == nil {
		t.Error("Open with no addresses succeeded")
	}
}

// A Close waiting for the NameNode stops when the ctx given to Create is
// done (a batch stopped hard), instead of waiting for the whole
// CloseTimeout, and the file is removed.
func TestDelayedCompleteCancelled(t *testing.T) {
	c := newCluster(t)
	f := openFS(t, c, storagehdfs.Options{CloseBackoff: 5 * time.Millisecond, CloseTimeout: time.Hour})
	c.DelayComplete(1 << 20)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { done <- write(ctx, f, home+"/stopped", []byte("data")) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, gohdfs.ErrReplicating) {
			t.Fatalf("error %v, want one wrapping context.Canceled and hdfs.ErrReplicating", err)
		}
	case <-time.After(30 * time.Second): // a hang guard: the close timeout is an hour
		t.Fatal("Close still waiting 30 s after its ctx was cancelled")
	}
	if _, err := f.Stat(t.Context(), home+"/stopped"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the cancelled Close, Stat: %v; want the file removed", err)
	}
}
