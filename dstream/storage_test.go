package dstream

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// TestCheckpointWithStorageKerberos keeps the checkpoint on a Kerberized
// NameNode: WithStorage's Opener, given before or after WithCheckpoint,
// carries the job's Kerberos client to the hdfs driver, so the job writes
// its checkpoint as its principal and a restarted job resumes from it;
// without the Opener the same directory fails Start, naming the cause.
// SaveAsTextFiles writes there through the Opener too.
func TestCheckpointWithStorageKerberos(t *testing.T) {
	realm := krbtest.Start(t)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("etl")
	h := hdfstest.New(t, hdfstest.WithKerberos(realm.Keytab("", "nn/127.0.0.1"), "nn/127.0.0.1@"+realm.Realm()))
	if _, err := h.AddUser("etl"); err != nil {
		t.Fatal(err)
	}
	if err := h.Mkdir("/jobs", 0o755, "etl", ""); err != nil {
		t.Fatal(err)
	}
	dir := "hdfs://" + h.Addr() + "/jobs/ckpt"
	opener := &storage.Opener{Kerberos: realm.Client(t, "etl", realm.Keytab("", "etl"))}

	log := &memLog{}
	// The Opener comes after WithCheckpoint here, before it below.
	j1 := newWordJob(t, dir, log, 0, jobShape{opts: []Option{WithStorage(opener)}})
	j1.h.start()
	var all []string
	for k := 1; k <= 11; k++ {
		log.append(batchLines(k)...)
		all = append(all, batchLines(k)...)
		j1.h.step()
	}
	mustNoErr(t, j1.h.ssc.Stop(context.Background(), Hard), "hard stop")

	fsys, p, err := opener.Open(dir)
	mustNoErr(t, err, "open the checkpoint directory")
	files, err := fsys.List(context.Background(), p)
	mustNoErr(t, err, "list the checkpoint directory")
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "state-10000") {
		t.Fatalf("checkpoint directory on HDFS holds %v, want state-10000", names)
	}
	if hf, ok := fsys.(*storagehdfs.FS); ok && hf.Client().User() != "etl" {
		t.Errorf("HDFS user %q, want etl (the principal's short name)", hf.Client().User())
	}

	// Without the Opener: SIMPLE authentication, which the NameNode refuses.
	clk := NewManualClock(time.Unix(12, 0))
	c, err := NewContext(time.Second, WithClock(clk), WithLogger(quietLogger), WithCheckpoint(dir), WithStartTimeout(5*time.Second))
	mustNoErr(t, err, "NewContext without the Opener")
	InputStream[string](c, "lines", &logInput{log: log}).Print()
	err = c.Start()
	_ = c.Stop(context.Background(), Hard)
	if !errors.Is(err, storagehdfs.ErrKerberosRequired) {
		t.Errorf("Start without the Opener = %v, want ErrKerberosRequired", err)
	}

	// The Opener before WithCheckpoint: the job resumes from the checkpoint.
	log.append(batchLines(12)...)
	all = append(all, batchLines(12)...)
	j2 := newWordJob(t, dir, log, 12*time.Second, jobShape{opts: []Option{WithStorage(opener)}})
	j2.h.start()
	if ok, done := j2.h.ssc.Recovered(); !ok || done.UnixMilli() != 10000 {
		t.Fatalf("Recovered() = %v, %v; want true, 10000 ms", ok, done.UnixMilli())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mustNoErr(t, j2.h.ssc.WaitForBatch(ctx, time.UnixMilli(12000)), "wait for the missed batches")
	if got, want := pairsMap(mustAt(t, j2.totals, 12000)), wordCounts(all); !maps.Equal(got, want) {
		t.Errorf("run 2 totals = %v, want %v", got, want)
	}
	mustNoErr(t, j2.h.ssc.Stop(context.Background(), Hard), "stop run 2")

	// SaveAsTextFiles opens its prefix through the context's Opener too.
	tclk := NewManualClock(time.UnixMilli(0))
	tc, err := NewContext(time.Second, WithClock(tclk), WithLogger(quietLogger), WithStorage(opener))
	mustNoErr(t, err, "NewContext")
	t.Cleanup(func() { _ = tc.Stop(context.Background(), Hard) })
	q := NewQueue[string]()
	q.Push([]string{"kerberized", "text"})
	prefix := "hdfs://" + h.Addr() + "/jobs/text/out"
	mustNoErr(t, QueueStream(tc, q).SaveAsTextFiles(prefix, ""), "SaveAsTextFiles")
	mustNoErr(t, tc.Start(), "start the text job")
	tclk.Advance(time.Second)
	mustNoErr(t, tc.WaitForBatch(ctx, tclk.Now()), "the text batch")
	if _, err := fsys.Stat(context.Background(), "/jobs/text/out-1000/_SUCCESS"); err != nil {
		t.Errorf("SaveAsTextFiles on HDFS: %v", err)
	}
}

// TestWithStorageOpensCheckpoint: the Opener reaches the driver of the
// checkpoint URI whatever the order of the options, and a nil Opener
// opens as storage.Open does.
func TestWithStorageOpensCheckpoint(t *testing.T) {
	dir := t.TempDir()
	o := &storage.Opener{KerberosServicePrincipal: "test/_HOST"}
	for _, opts := range [][]Option{
		{WithStorage(o), WithCheckpoint(dir)},
		{WithCheckpoint(dir), WithStorage(o)},
		{WithCheckpoint(dir), WithStorage(nil)},
	} {
		c, err := NewContext(time.Second, opts...)
		mustNoErr(t, err, "NewContext")
		if c.cfg.ckptFS != storage.Local() || c.cfg.ckptDir != dir {
			t.Errorf("checkpoint opened as %v %q, want the local %q", c.cfg.ckptFS, c.cfg.ckptDir, dir)
		}
	}
	_, err := NewContext(time.Second, WithStorage(&storage.Opener{Kerberos: "a client"}), WithCheckpoint("file://"+dir))
	if err != nil {
		t.Errorf("a file:// checkpoint with Kerberos: %v", err)
	}
	_, err = NewContext(time.Second, WithCheckpoint("nosuchscheme://x/y"), WithStorage(o))
	if !errors.Is(err, ErrInvalidOption) || !errors.Is(err, storage.ErrUnknownScheme) {
		t.Errorf("NewContext with an unknown scheme = %v, want ErrInvalidOption and ErrUnknownScheme", err)
	}
}
