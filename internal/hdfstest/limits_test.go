package hdfstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

// remoteClass returns the Java exception class of a client error, or "".
func remoteClass(err error) string {
	var he hdfs.Error
	if errors.As(err, &he) {
		return he.Exception()
	}
	return ""
}

// remoteMessage returns the Java exception message of a client error
// (the client's own text names only the class), or "".
func remoteMessage(err error) string {
	var he hdfs.Error
	if errors.As(err, &he) {
		return he.Message()
	}
	return ""
}

func TestMaxComponentLength(t *testing.T) {
	c := New(t)
	r := dialRaw(t, c.Addr(), authNone, "alice")
	long := strings.Repeat("n", DefaultMaxComponentLength+1)
	wide := strings.Repeat("é", 128) // 128 characters, 256 bytes
	tooLong := func(name, dir string, n int) string {
		return fmt.Sprintf("The maximum path component name limit of %s in directory %s is exceeded: limit=255 length=%d", name, dir, n)
	}
	hdr, _ := r.call("mkdirs", mkdirsReq("/tmp/"+long, 0o755))
	wantResult(t, "mkdir of a 256-byte name", hdr, exPathComponentTooLong, tooLong(long, "/tmp", 256))
	hdr, _ = r.call("mkdirs", mkdirsReq("/tmp/a/"+wide+"/b", 0o755))
	wantResult(t, "mkdir of a 256-byte UTF-8 name under a new parent", hdr, exPathComponentTooLong, tooLong(wide, "/tmp/a", 256))
	if n, _ := c.lookupLocked("/tmp/a"); n != nil {
		t.Errorf("a refused mkdir created /tmp/a")
	}
	hdr, _ = r.call("create", createReq("/tmp/"+long, "alice-client", flagCreate, false))
	wantResult(t, "create of a 256-byte name", hdr, exPathComponentTooLong, tooLong(long, "/tmp", 256))
	hdr, _ = r.call("mkdirs", mkdirsReq("/tmp/"+long[1:], 0o755))
	wantResult(t, "mkdir of a 255-byte name", hdr, "", "")
	hdr, _ = r.call("rename2", rename2Req("/tmp/"+long[1:], "/tmp/"+long))
	wantResult(t, "rename to a 256-byte name", hdr, exPathComponentTooLong, tooLong(long, "/tmp", 256))

	// Through the client: the exception, by name.
	cl := newClient(t, c, "alice")
	if _, err := cl.Create("/tmp/" + long); remoteClass(err) != exPathComponentTooLong {
		t.Errorf("Create of a 256-byte name: %v", err)
	}

	small := New(t, WithMaxComponentLength(8))
	if err := newClient(t, small, "alice").MkdirAll("/tmp/123456789", 0o755); remoteClass(err) != exPathComponentTooLong ||
		!strings.HasSuffix(remoteMessage(err), "limit=8 length=9") {
		t.Errorf("MkdirAll of a 9-byte name with the limit at 8: %v", err)
	}
}

func TestMaxDirectoryItems(t *testing.T) {
	c := New(t, WithMaxDirectoryItems(3))
	home := addUser(t, c, "alice")
	cl := newClient(t, c, "alice")
	dir := home + "/d"
	if err := cl.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		writeFile(t, cl, dir+"/"+n, []byte(n))
	}
	full := "The directory item limit of " + dir + " is exceeded: limit=3 items=3"
	r := dialRaw(t, c.Addr(), authNone, "alice")
	hdr, _ := r.call("create", createReq(dir+"/d", "alice-client", flagCreate, false))
	wantResult(t, "create in a full directory", hdr, exMaxDirectoryItems, full)
	hdr, _ = r.call("mkdirs", mkdirsReq(dir+"/e/f", 0o755))
	wantResult(t, "mkdir in a full directory", hdr, exMaxDirectoryItems, full)
	writeFile(t, cl, home+"/outside", []byte("o"))
	hdr, _ = r.call("rename2", rename2Req(home+"/outside", dir+"/outside"))
	wantResult(t, "rename into a full directory", hdr, exMaxDirectoryItems, full)
	hdr, _ = r.call("rename2", rename2Req(home+"/outside", dir+"/a"))
	wantResult(t, "rename over an entry of a full directory, from another", hdr, exMaxDirectoryItems, full)
	// Within the directory, and replacing a file, the count does not grow.
	hdr, _ = r.call("rename2", rename2Req(dir+"/a", dir+"/z"))
	wantResult(t, "rename within a full directory", hdr, "", "")
	hdr, _ = r.call("create", createReq(dir+"/b", "alice-client", flagCreate|flagOverwrite, false))
	wantResult(t, "overwrite in a full directory", hdr, "", "")
	r.mustCall("complete", build("hadoop.hdfs.CompleteRequestProto", "src", dir+"/b", "clientName", "alice-client"))

	if _, err := cl.Create(dir + "/d"); remoteClass(err) != exMaxDirectoryItems || remoteMessage(err) != full {
		t.Errorf("Create in a full directory: %v", err)
	}
	if err := cl.Remove(dir + "/z"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cl, dir+"/d", []byte("d"))
	if c.cfg.maxComponent != DefaultMaxComponentLength || New(t).cfg.maxDirItems != DefaultMaxDirectoryItems {
		t.Errorf("defaults: component length %d, directory items %d", c.cfg.maxComponent, New(t).cfg.maxDirItems)
	}
}

// TestCompleteDelay: until the NameNode has the DataNode's report of a
// block, complete answers false and addBlock will not go two blocks past
// it, as on a real cluster.
func TestCompleteDelay(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	const bs = 64 << 10
	c := New(t, WithClock(clock.Now), WithBlockSize(bs), WithCompleteDelay(time.Second))
	cl := newClient(t, c, "alice")
	data := randomData(bs + 100) // two blocks
	w, err := cl.Create("/tmp/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := w.Close(); !hdfs.IsErrReplicating(err) {
			t.Fatalf("Close %d before the block reports: %v, want hdfs.ErrReplicating", i, err)
		}
	}
	if got := c.OpenFiles(); !slices.Equal(got, []string{"/tmp/f"}) {
		t.Errorf("OpenFiles = %q", got)
	}
	clock.Advance(time.Second)
	if err := w.Close(); err != nil {
		t.Fatalf("Close once the blocks are reported: %v", err)
	}
	if got, err := cl.ReadFile("/tmp/f"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes, %v", len(got), err)
	}

	// A third block while the first is unreported.
	w, err = cl.Create("/tmp/g")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(randomData(2*bs + 1))
	if remoteClass(werr) != exNotReplicatedYet {
		t.Errorf("Write of a third block before the first is reported: %v, want %s", werr, exNotReplicatedYet)
	}
	if err := cl.Remove("/tmp/g"); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseRecoveryDelay: a file whose writer died holding data is
// recovered by the NameNode over the recovery delay; meanwhile create
// over it fails with RecoveryInProgressException and recoverLease
// answers false.
func TestLeaseRecoveryDelay(t *testing.T) {
	clock := &fakeClock{now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	c := New(t, WithClock(clock.Now), WithBlockSize(64<<10), WithLeaseLimits(time.Minute, time.Hour),
		WithLeaseRecoveryDelay(10*time.Second))
	writer, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()}, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := writer.Create("/tmp/f")
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(1000)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { b, _ := c.ReadFile("/tmp/f"); return len(b) == len(data) })
	writer.Close() // the writer dies
	clock.Advance(2 * time.Minute)

	restarted, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()}, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = restarted.CreateFile("/tmp/f", 1, 64<<10, 0o644)
	var he hdfs.Error
	if !errors.As(err, &he) || he.Exception() != exRecoveryInProgress ||
		!strings.HasPrefix(he.Message(), "Failed to CREATE_FILE /tmp/f for ") ||
		!strings.HasSuffix(he.Message(), " on 127.0.0.1 because lease recovery is in progress. Try again later.") {
		t.Fatalf("CreateFile past the soft limit: %v, want %s starting the recovery", err, exRecoveryInProgress)
	}
	_, err = restarted.CreateFile("/tmp/f", 1, 64<<10, 0o644)
	if !errors.As(err, &he) || he.Exception() != exRecoveryInProgress ||
		!strings.HasSuffix(he.Message(), "because another recovery is in progress by HDFS_NameNode on 127.0.0.1") {
		t.Errorf("CreateFile during the recovery: %v", err)
	}
	r := dialRaw(t, c.Addr(), authNone, "alice")
	recoverReq := build("hadoop.hdfs.RecoverLeaseRequestProto", "src", "/tmp/f", "clientName", "raw")
	if resp := r.mustCall("recoverLease", recoverReq); getBool(resp, "result") {
		t.Errorf("recoverLease during the recovery answered true")
	}
	if got := c.OpenFiles(); !slices.Equal(got, []string{"/tmp/f"}) {
		t.Errorf("OpenFiles during the recovery = %q", got)
	}
	clock.Advance(10 * time.Second)
	if resp := r.mustCall("recoverLease", recoverReq); !getBool(resp, "result") {
		t.Errorf("recoverLease after the recovery answered false")
	}
	if got := c.OpenFiles(); len(got) != 0 {
		t.Errorf("OpenFiles after the recovery = %q", got)
	}
	if got, err := restarted.ReadFile("/tmp/f"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("recovered file: %d bytes, %v; want the %d flushed", len(got), err, len(data))
	}
	if _, err := restarted.CreateFile("/tmp/f", 1, 64<<10, 0o644); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateFile after the recovery: %v, want os.ErrExist", err)
	}

	// An explicit recoverLease starts the recovery at once, within the
	// soft limit; a file without data is closed at once.
	w2, err := restarted.Create("/tmp/g")
	if err != nil {
		t.Fatal(err)
	}
	w2.Write([]byte("partial"))
	w2.Flush()
	waitFor(t, func() bool { b, _ := c.ReadFile("/tmp/g"); return string(b) == "partial" })
	if resp := r.mustCall("recoverLease", build("hadoop.hdfs.RecoverLeaseRequestProto", "src", "/tmp/g", "clientName", "raw")); getBool(resp, "result") {
		t.Errorf("recoverLease of a file with unacknowledged data answered true")
	}
	if err := w2.Close(); err == nil {
		t.Errorf("the writer's Close succeeded after its lease was taken")
	}
	r.mustCall("create", createReq("/tmp/empty", "raw", flagCreate, false))
	if resp := r.mustCall("recoverLease", build("hadoop.hdfs.RecoverLeaseRequestProto", "src", "/tmp/empty", "clientName", "other")); !getBool(resp, "result") {
		t.Errorf("recoverLease of a file without data answered false")
	}
	clock.Advance(10 * time.Second)
	if got := c.OpenFiles(); len(got) != 0 {
		t.Errorf("OpenFiles = %q", got)
	}
	if got, _ := c.ReadFile("/tmp/g"); string(got) != "partial" {
		t.Errorf("recovered /tmp/g holds %q", got)
	}

	// Past the hard limit the NameNode recovers by itself, over the delay.
	w3, err := restarted.Create("/tmp/h")
	if err != nil {
		t.Fatal(err)
	}
	w3.Write([]byte("abandoned"))
	w3.Flush()
	waitFor(t, func() bool { b, _ := c.ReadFile("/tmp/h"); return string(b) == "abandoned" })
	restarted.Close()
	clock.Advance(2 * time.Hour)
	if got := c.OpenFiles(); !slices.Equal(got, []string{"/tmp/h"}) {
		t.Errorf("OpenFiles as the hard limit's recovery starts = %q", got)
	}
	clock.Advance(10 * time.Second)
	if got := c.OpenFiles(); len(got) != 0 {
		t.Errorf("OpenFiles after the hard limit's recovery = %q", got)
	}
}

func TestClockOffset(t *testing.T) {
	for _, off := range []time.Duration{5 * time.Second, -5 * time.Second} {
		clock := &fakeClock{now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
		c := New(t, WithClock(clock.Now), WithClockOffset(off), WithLeaseLimits(time.Minute, time.Hour))
		cl := newClient(t, c, "alice")
		writeFile(t, cl, "/tmp/f", []byte("x"))
		fi, err := cl.Stat("/tmp/f")
		if err != nil {
			t.Fatal(err)
		}
		if want := clock.Now().Add(off); !fi.ModTime().Equal(want) {
			t.Errorf("offset %v: ModTime %v, want %v", off, fi.ModTime(), want)
		}
		// Leases are measured on the NameNode's clock: the offset does not
		// shorten them.
		w, err := cl.Create("/tmp/open")
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
		if got := c.OpenFiles(); !slices.Equal(got, []string{"/tmp/open"}) {
			t.Errorf("offset %v: OpenFiles = %q", off, got)
		}
		if err := w.Close(); err != nil {
			t.Errorf("offset %v: Close: %v", off, err)
		}
	}
}
