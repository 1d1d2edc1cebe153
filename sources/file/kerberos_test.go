package file_test

import (
	"errors"
	"io"
	"path"
	"slices"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/sources/file"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// TestWithStorageKerberos reads a directory of a Kerberized NameNode
// through the WithStorage option's Opener, as the job's principal; the
// same stream without the Opener fails Start, naming the cause.
func TestWithStorageKerberos(t *testing.T) {
	h := newHarness(t, time.Second, sec(1000))
	realm := krbtest.Start(t)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("etl")
	c := hdfstest.New(t, hdfstest.WithClock(h.clk.Now),
		hdfstest.WithKerberos(realm.Keytab("", "nn/127.0.0.1"), "nn/127.0.0.1@"+realm.Realm()))
	if err := c.Mkdir("/landing/in", 0o755, "etl", ""); err != nil {
		t.Fatal(err)
	}
	uri := "hdfs://" + c.Addr() + "/landing/in"
	opener := &storage.Opener{Kerberos: realm.Client(t, "etl", realm.Keytab("", "etl"))}
	producer, dir, err := opener.Open(uri)
	if err != nil {
		t.Fatal(err)
	}

	lines := collect(t, file.TextStream(h.ssc, uri, file.WithStorage(opener)))
	h.start()
	h.clk.Set(h.last.Add(500 * time.Millisecond))
	err = storage.WriteFileAtomic(t.Context(), producer, path.Join(dir, "a.txt"), func(w io.Writer) error {
		_, err := io.WriteString(w, "one\ntwo\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bt := h.step()
	if got := lines.all(bt); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("batch %d ms read %q, want the file's two lines", bt.UnixMilli(), got)
	}

	// Without the Opener: SIMPLE, which the NameNode refuses.
	h2 := newHarness(t, time.Second, sec(1000), dstream.WithStartTimeout(5*time.Second))
	collect(t, file.TextStream(h2.ssc, uri+"?user=etl"))
	if err := h2.ssc.Start(); !errors.Is(err, storagehdfs.ErrKerberosRequired) {
		t.Errorf("Start without the Opener = %v, want ErrKerberosRequired", err)
	}
}
