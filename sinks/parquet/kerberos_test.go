package parquetsink_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// TestStorageKerberos writes Parquet to a Kerberized NameNode through the
// Storage option's Opener: the files belong to the job's principal's
// short name and read back whole. The same sink without the Opener fails
// its start-up check, naming the cause.
func TestStorageKerberos(t *testing.T) {
	realm := krbtest.Start(t)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("etl")
	c := hdfstest.New(t, hdfstest.WithKerberos(realm.Keytab("", "nn/127.0.0.1"), "nn/127.0.0.1@"+realm.Realm()))
	if err := c.Mkdir("/warehouse/readings", 0o755, "etl", ""); err != nil {
		t.Fatal(err)
	}
	uri := "hdfs://" + c.Addr() + "/warehouse/readings"
	opener := &storage.Opener{Kerberos: realm.Client(t, "etl", realm.Keytab("", "etl"))}

	h := newHarness[reading](t, 2)
	if err := parquetsink.Write(h.s, uri, parquetsink.Storage(opener)); err != nil {
		t.Fatal(err)
	}
	want := []reading{{Device: "a", Temp: 1.5}, {Device: "b", Temp: 2.5}, {Device: "c", Temp: 3.5}}
	h.q.Push(want)
	h.start()
	h.mustStep()
	h.stop()

	fsys, root, err := opener.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entries, err := fsys.List(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	var got []reading
	for _, e := range entries {
		if !strings.HasSuffix(e.Name, ".parquet") {
			continue
		}
		r, err := fsys.Open(ctx, e.Path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parquet.Read[reading](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("reading %s: %v", e.Path, err)
		}
		got = append(got, rows...)
	}
	if len(got) != len(want) {
		t.Errorf("read back %d rows from HDFS, want %d: %+v", len(got), len(want), got)
	}
	for _, e := range entries {
		if hf, ok := fsys.(*storagehdfs.FS); ok && strings.HasSuffix(e.Name, ".parquet") {
			fi, err := hf.Client().Stat(e.Path)
			if err != nil {
				t.Fatal(err)
			}
			if owner := fi.(*gohdfs.FileInfo).Owner(); owner != "etl" {
				t.Errorf("%s belongs to %q, want etl (the principal's short name)", e.Path, owner)
			}
		}
	}

	// Without the Opener the client speaks SIMPLE, which the NameNode
	// refuses: Start fails, naming the cause.
	h2 := newHarness[reading](t, 1, dstream.WithStartTimeout(5*time.Second))
	if err := parquetsink.Write(h2.s, uri+"?user=etl"); err != nil {
		t.Fatal(err)
	}
	err = h2.ssc.Start()
	if !errors.Is(err, storagehdfs.ErrKerberosRequired) {
		t.Errorf("Start without the Opener = %v, want ErrKerberosRequired", err)
	}
}
