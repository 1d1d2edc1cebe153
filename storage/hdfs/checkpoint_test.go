package hdfs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/sources/file"
	"github.com/microbatch-go/microbatch/storage"
)

// jobDir makes the directory /jobs/<user> on c for a job that runs as
// user, as an administrator does with the superuser, and returns it.
func jobDir(t *testing.T, c *hdfstest.Cluster, user string) string {
	t.Helper()
	dir := "/jobs/" + user
	if err := c.Mkdir(dir, 0o755, user, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckpointOnHDFS keeps a job's checkpoint directory on HDFS: running
// totals survive a restart, restored from the HDFS test server through the
// real client.
func TestCheckpointOnHDFS(t *testing.T) {
	c := hdfstest.New(t, hdfstest.WithBlockSize(64<<10))
	ckpt := "hdfs://" + c.Addr() + jobDir(t, c, "wc") + "/checkpoint?user=wc"
	watch := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	totals := map[int64]map[string]int{}

	run := func(at time.Time) (*dstream.Context, *dstream.ManualClock) {
		clk := dstream.NewManualClock(at)
		ssc, err := dstream.GetOrCreate(ckpt, time.Second, func(ssc *dstream.Context) error {
			words := dstream.FlatMap(file.TextStream(ssc, watch), strings.Fields)
			pairs := dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) })
			tot := dstream.UpdateStateByKey(pairs, func(vs []int, s *int) (int, bool) {
				n := len(vs)
				if s != nil {
					n += *s
				}
				return n, true
			}).Named("totals")
			return tot.ForEachBatch(func(_ context.Context, b *dstream.Batch[dstream.Pair[string, int]]) error {
				m := map[string]int{}
				for p := range b.All() {
					m[p.Key] = p.Value
				}
				mu.Lock()
				totals[b.Time.UnixMilli()] = m
				mu.Unlock()
				return nil
			})
		}, dstream.WithClock(clk), dstream.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
		if err := ssc.Start(); err != nil {
			t.Fatal(err)
		}
		return ssc, clk
	}
	step := func(ssc *dstream.Context, clk *dstream.ManualClock) {
		t.Helper()
		clk.Advance(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ssc.WaitForBatch(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	put := func(name, text string, mod time.Time) {
		p := filepath.Join(watch, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}

	put("a", "x y x\n", time.UnixMilli(500))
	ssc, clk := run(time.UnixMilli(0))
	step(ssc, clk)
	if err := ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	put("b", "x z\n", time.UnixMilli(1500))
	ssc2, clk2 := run(time.UnixMilli(1000))
	if ok, _ := ssc2.Recovered(); !ok {
		t.Fatal("the second run did not find the checkpoint on HDFS")
	}
	step(ssc2, clk2)
	mu.Lock()
	defer mu.Unlock()
	if got := totals[2000]; got["x"] != 3 || got["y"] != 1 || got["z"] != 1 {
		t.Errorf("totals after the restart = %v, want x=3 y=1 z=1", got)
	}
}

// lockHolderEnv holds the checkpoint URI that TestHDFSLockHolderProcess,
// run as a child process, locks.
const lockHolderEnv = "STORAGE_HDFS_TEST_LOCK_HOLDER"

// lockJob returns a job with a checkpoint directory at uri.
func lockJob(t *testing.T, uri string, clk dstream.Clock) *dstream.Context {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ssc, err := dstream.NewContext(time.Second, dstream.WithCheckpoint(uri), dstream.WithClock(clk), dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	if err := file.TextStream(ssc, t.TempDir()).ForEachBatch(func(context.Context, *dstream.Batch[string]) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return ssc
}

// TestHDFSLockHolderProcess is not a test: run by TestCheckpointLockOnHDFS
// as a child process, it runs a job with its checkpoint on HDFS, prints
// "started", and runs until its stdin closes or it is killed.
func TestHDFSLockHolderProcess(t *testing.T) {
	uri := os.Getenv(lockHolderEnv)
	if uri == "" {
		t.Skip("a helper process of TestCheckpointLockOnHDFS")
	}
	ssc := lockJob(t, uri, dstream.SystemClock())
	if err := ssc.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("started")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

// TestCheckpointLockOnHDFS: a job whose checkpoint directory on HDFS
// another process's job holds fails to start, naming that process; once
// the holder is killed with SIGKILL, the job takes the lock over at once,
// and removes it when it stops.
func TestCheckpointLockOnHDFS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	c := hdfstest.New(t, hdfstest.WithBlockSize(64<<10))
	uri := "hdfs://" + c.Addr() + jobDir(t, c, "locked") + "/checkpoint?user=locked"
	cmd := exec.Command(os.Args[0], "-test.run=^TestHDFSLockHolderProcess$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+uri)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "started" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		waited = true
		t.Fatalf("holder printed %q (%v); stderr: %s", line, err, stderr.String())
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	ssc := lockJob(t, uri, dstream.NewManualClock(time.UnixMilli(0)))
	err = ssc.Start()
	var le *dstream.CheckpointLockedError
	if !errors.As(err, &le) || !errors.Is(err, dstream.ErrCheckpointLocked) {
		t.Fatalf("Start next to a running job = %v, want a *dstream.CheckpointLockedError", err)
	}
	if le.Host != host || le.PID != cmd.Process.Pid || le.Dir != uri {
		t.Errorf("the error names %s pid %d in %s, want %s pid %d in %s", le.Host, le.PID, le.Dir, host, cmd.Process.Pid, uri)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waited = true
	if err := ssc.Start(); err != nil {
		t.Fatalf("Start after the holder was killed: %v", err)
	}
	fsys, dir, err := storage.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	lock := path.Join(dir, "lock")
	r, err := fsys.Open(t.Context(), lock)
	if err != nil {
		t.Fatalf("no lock while the job runs: %v", err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil || !strings.Contains(string(data), fmt.Sprintf(`"pid":%d,`, os.Getpid())) {
		t.Errorf("lock %q (%v), want this process's", data, err)
	}
	if err := ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(t.Context(), lock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the lock is still there after Stop (Stat: %v)", err)
	}
}
