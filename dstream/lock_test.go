package dstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/testtool"
)

// readLockFile returns the lock file of the checkpoint directory dir.
func readLockFile(t *testing.T, dir string) lockInfo {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, lockName))
	mustNoErr(t, err, "read the lock")
	l, err := parseLock(raw)
	mustNoErr(t, err, "parse the lock %q", raw)
	return l
}

// writeLockFile writes a lock file into dir, as another job would.
func writeLockFile(t *testing.T, dir string, l lockInfo) {
	t.Helper()
	data, err := json.Marshal(l)
	mustNoErr(t, err, "encode")
	mustNoErr(t, os.WriteFile(filepath.Join(dir, lockName), data, 0o644), "write the lock")
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	mustNoErr(t, cmd.Run(), "run a short-lived process")
	return cmd.Process.Pid
}

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	mustNoErr(t, err, "hostname")
	return h
}

// TestCheckpointLockAtStart: a lock whose holder is alive (its process
// runs on this host, or its heartbeat is recent) fails Start with a
// *CheckpointLockedError naming it and changes nothing; a lock whose
// holder is gone (its process is not running on this host, or its
// heartbeat is older than the lock timeout) is taken over, and the job
// resumes from the checkpoint.
func TestCheckpointLockAtStart(t *testing.T) {
	log := &memLog{}
	base := baseCheckpoint(t, log)
	host := hostname(t)
	now := time.Now().Truncate(time.Second)
	old := now.Add(-2 * time.Minute)
	for _, tc := range []struct {
		name    string
		lock    *lockInfo // nil: a garbled lock file
		modTime time.Time // of a garbled lock file
		refused bool
	}{
		{name: "live process on this host", lock: &lockInfo{Host: host, PID: os.Getppid(), Since: old, Heartbeat: now}, refused: true},
		{name: "live process on this host with an old heartbeat", lock: &lockInfo{Host: host, PID: os.Getppid(), Since: old, Heartbeat: old}},
		{name: "dead process on this host", lock: &lockInfo{Host: host, PID: deadPID(t), Since: now, Heartbeat: now}},
		{name: "earlier process with this pid on this host", lock: &lockInfo{Host: host, PID: os.Getpid(), Since: now, Heartbeat: now}},
		{name: "another host with a recent heartbeat", lock: &lockInfo{Host: "other-host.example", PID: 4242, Since: old, Heartbeat: now}, refused: true},
		{name: "another host with an old heartbeat", lock: &lockInfo{Host: "other-host.example", PID: 4242, Since: old, Heartbeat: old}},
		{name: "garbled lock file written just now", modTime: time.Now(), refused: true},
		{name: "garbled lock file older than the timeout", modTime: old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			if tc.lock != nil {
				tc.lock.Owner = "someone-else"
				writeLockFile(t, dir, *tc.lock)
			} else {
				p := filepath.Join(dir, lockName)
				mustNoErr(t, os.WriteFile(p, []byte(`{"host":"half-writ`), 0o644), "write")
				mustNoErr(t, os.Chtimes(p, tc.modTime, tc.modTime), "chtimes")
			}
			before := snapshotDir(t, dir)
			j := newWordJob(t, dir, log, 12*time.Second, jobShape{opts: []Option{WithCheckpointLockTimeout(time.Minute)}})
			err := j.h.ssc.Start()
			if !tc.refused {
				mustNoErr(t, err, "Start on a stale lock")
				if ok, done := j.h.ssc.Recovered(); !ok || done.UnixMilli() != 10000 {
					t.Errorf("Recovered() = %v, %v; want true, 10000 ms", ok, done.UnixMilli())
				}
				mine := readLockFile(t, dir)
				if mine.Host != host || mine.PID != os.Getpid() || mine.Owner == "someone-else" {
					t.Errorf("lock after the takeover = %+v, want this process's", mine)
				}
				mustNoErr(t, j.h.ssc.Stop(context.Background(), Hard), "stop")
				if _, err := os.Stat(filepath.Join(dir, lockName)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the lock is still there after Stop (Stat: %v)", err)
				}
				return
			}
			if !errors.Is(err, ErrCheckpointLocked) {
				t.Fatalf("Start = %v, want an error wrapping ErrCheckpointLocked", err)
			}
			if tc.lock != nil {
				var le *CheckpointLockedError
				if !errors.As(err, &le) {
					t.Fatalf("Start = %v, want a *CheckpointLockedError", err)
				}
				if le.Host != tc.lock.Host || le.PID != tc.lock.PID || !le.Since.Equal(tc.lock.Since) || le.Dir != dir {
					t.Errorf("CheckpointLockedError = %+v, want the holder %+v in %s", le, tc.lock, dir)
				}
				want := fmt.Sprintf("dstream: checkpoint directory %s is in use by host %s pid %d since %s (another job, or a copy of this one, is running on it)",
					dir, tc.lock.Host, tc.lock.PID, tc.lock.Since.UTC().Format(time.RFC3339))
				if err.Error() != want {
					t.Errorf("Start = %q, want %q", err, want)
				}
			} else if !strings.Contains(err.Error(), "cannot be read") || !strings.Contains(err.Error(), filepath.Join(dir, lockName)) {
				t.Errorf("Start = %q, want it to say that the lock file cannot be read, and where it is", err)
			}
			if ok, _ := j.h.ssc.Recovered(); !ok {
				t.Error("Recovered() = false: a refused lock should not hide a usable checkpoint")
			}
			if d := diffSnapshots(before, snapshotDir(t, dir)); d != "" {
				t.Errorf("a refused Start changed the checkpoint directory: %s", d)
			}
		})
	}
}

// TestCheckpointLockLifecycle: the running job holds the lock, with its
// host, pid and start, refreshes its heartbeat, and removes it at Stop.
func TestCheckpointLockLifecycle(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	j := newWordJob(t, dir, log, 0, jobShape{opts: []Option{WithCheckpointLockTimeout(200 * time.Millisecond)}})
	j.h.start()
	first := readLockFile(t, dir)
	if first.Host != hostname(t) || first.PID != os.Getpid() || first.Owner == "" || first.Since.IsZero() {
		t.Fatalf("lock = %+v, want this process's", first)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := readLockFile(t, dir)
		if l.Heartbeat.After(first.Heartbeat) {
			if l.Owner != first.Owner || !l.Since.Equal(first.Since) {
				t.Errorf("heartbeat changed the lock from %+v to %+v", first, l)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat was not refreshed within 10 s with a 200 ms lock timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	log.append("a b")
	j.h.step()
	mustNoErr(t, j.h.ssc.Stop(context.Background(), Graceful), "stop")
	if _, err := os.Stat(filepath.Join(dir, lockName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the lock is still there after Stop (Stat: %v)", err)
	}
}

// TestCheckpointLockLost: a running job whose lock another job took over,
// or whose lock file was removed, stops with ErrCheckpointLocked at its
// next heartbeat, and leaves the other job's lock alone.
func TestCheckpointLockLost(t *testing.T) {
	thief := lockInfo{Host: "thief.example", PID: 777, Since: time.Now(), Owner: "thief", Heartbeat: time.Now()}
	for _, tc := range []struct {
		name   string
		steal  func(t *testing.T, dir string)
		holder *lockInfo // the holder the error names, and whose lock stays
	}{
		{"taken over by another job", func(t *testing.T, dir string) { writeLockFile(t, dir, thief) }, &thief},
		{"removed", func(t *testing.T, dir string) { mustNoErr(t, os.Remove(filepath.Join(dir, lockName)), "remove") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := newWordJob(t, dir, &memLog{}, 0, jobShape{opts: []Option{WithCheckpointLockTimeout(200 * time.Millisecond)}})
			j.h.start()
			j.h.step()
			tc.steal(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := j.h.ssc.AwaitTermination(ctx)
			if !errors.Is(err, ErrCheckpointLocked) {
				t.Fatalf("AwaitTermination = %v, want an error wrapping ErrCheckpointLocked", err)
			}
			if tc.holder == nil {
				if _, err := os.Stat(filepath.Join(dir, lockName)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a lock file is there after the stop (Stat: %v)", err)
				}
				return
			}
			var le *CheckpointLockedError
			if !errors.As(err, &le) || le.Host != tc.holder.Host || le.PID != tc.holder.PID {
				t.Errorf("AwaitTermination = %v, want a *CheckpointLockedError naming %s pid %d", err, tc.holder.Host, tc.holder.PID)
			}
			if got := readLockFile(t, dir); got.Owner != tc.holder.Owner {
				t.Errorf("the lock after the stop = %+v, want the other job's, left alone", got)
			}
		})
	}
}

// TestCheckpointLockUnsupported: on storage that cannot create a file
// exclusively the job runs without a lock, after one warning.
func TestCheckpointLockUnsupported(t *testing.T) {
	dir := t.TempDir()
	f, uri := newFaultFS(t, dir)
	f.noExclusive = true
	var logs testtool.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	j := newWordJob(t, uri, &memLog{}, 0, jobShape{opts: []Option{WithLogger(logger), WithCheckpointLockTimeout(100 * time.Millisecond)}})
	j.h.start()
	j.h.steps(2)
	time.Sleep(200 * time.Millisecond) // heartbeats would have run
	mustNoErr(t, j.h.ssc.Stop(context.Background(), Graceful), "stop")
	if _, err := os.Stat(filepath.Join(dir, lockName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a lock file was written (Stat: %v)", err)
	}
	if n := strings.Count(logs.String(), "cannot create a file exclusively"); n != 1 {
		t.Errorf("%d warnings about the missing lock, want 1; logs:\n%s", n, logs.String())
	}
}

// lockHolderEnv names the checkpoint directory that TestLockHolderProcess,
// run as a child process, holds.
const lockHolderEnv = "DSTREAM_TEST_LOCK_HOLDER_DIR"

// TestLockHolderProcess is not a test: run by TestCheckpointLockSecondProcess
// as a child process, it runs a job on a checkpoint directory, prints
// "started", and runs until its stdin closes or it is killed.
func TestLockHolderProcess(t *testing.T) {
	dir := os.Getenv(lockHolderEnv)
	if dir == "" {
		t.Skip("a helper process of TestCheckpointLockSecondProcess")
	}
	c := lockHolderJob(t, dir, SystemClock())
	mustNoErr(t, c.Start(), "Start")
	fmt.Println("started")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	mustNoErr(t, c.Stop(context.Background(), Hard), "Stop")
}

// lockHolderJob returns the job of TestCheckpointLockSecondProcess on
// the checkpoint directory dir.
func lockHolderJob(t *testing.T, dir string, clk Clock) *Context {
	c, err := NewContext(100*time.Millisecond, WithCheckpoint(dir), WithClock(clk), WithLogger(quietLogger))
	mustNoErr(t, err, "NewContext")
	t.Cleanup(func() { _ = c.Stop(context.Background(), Hard) })
	mustNoErr(t, InputStream[string](c, "lines", &logInput{log: &memLog{}}).ForEachBatch(func(context.Context, *Batch[string]) error { return nil }), "ForEachBatch")
	return c
}

// TestCheckpointLockSecondProcess: a job started on a directory that a
// job of another process holds fails with the holder's host and pid; once
// that process is killed (SIGKILL: its lock stays), the job starts at
// once.
func TestCheckpointLockSecondProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	mustNoErr(t, err, "stdin")
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	mustNoErr(t, err, "stdout")
	var stderr testtool.Buffer
	cmd.Stderr = &stderr
	mustNoErr(t, cmd.Start(), "start the holder")
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "started" {
		t.Fatalf("holder printed %q (%v); stderr: %s", line, err, stderr.String())
	}

	c := lockHolderJob(t, dir, NewManualClock(time.UnixMilli(0)))
	err = c.Start()
	var le *CheckpointLockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrCheckpointLocked) {
		t.Fatalf("Start next to a running job = %v, want a *CheckpointLockedError", err)
	}
	if le.PID != cmd.Process.Pid || le.Host != hostname(t) {
		t.Errorf("the error names host %s pid %d, want %s pid %d", le.Host, le.PID, hostname(t), cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("error %q does not name the holder's pid", err)
	}

	mustNoErr(t, cmd.Process.Kill(), "kill the holder")
	_ = cmd.Wait()
	if l := readLockFile(t, dir); l.PID != cmd.Process.Pid {
		t.Fatalf("after SIGKILL the lock is %+v, want the killed holder's", l)
	}
	mustNoErr(t, c.Start(), "Start after the holder was killed")
	if l := readLockFile(t, dir); l.PID != os.Getpid() {
		t.Errorf("lock = %+v, want this process's", l)
	}
}
