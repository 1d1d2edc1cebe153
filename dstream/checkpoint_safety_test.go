package dstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/storage"
)

// snapshotDir returns every file under dir, by slash-separated relative
// path, with its contents; directories map to "<dir>".
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			out[rel] = "<dir>"
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", dir, err)
	}
	return out
}

// diffSnapshots describes how two snapshots differ, or returns "".
func diffSnapshots(before, after map[string]string) string {
	var diffs []string
	for _, name := range slices.Sorted(maps.Keys(before)) {
		a, ok := after[name]
		switch {
		case !ok:
			diffs = append(diffs, name+" was removed")
		case a != before[name]:
			diffs = append(diffs, name+" was changed")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[name]; !ok {
			diffs = append(diffs, name+" was added")
		}
	}
	return strings.Join(diffs, "; ")
}

// copyDir copies the files of the flat directory from into a new
// temporary directory and returns it.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	mustNoErr(t, err, "read %s", from)
	for _, e := range entries {
		if e.IsDir() {
			t.Fatalf("copyDir: %s has a subdirectory %s", from, e.Name())
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		mustNoErr(t, err, "read")
		mustNoErr(t, os.WriteFile(filepath.Join(to, e.Name()), data, 0o644), "write")
	}
	return to
}

// faultFS is the local disk with injected failures, reached through the
// test-only URI scheme dstreamfault://<id>/<absolute path>.
type faultFS struct {
	storage.FS
	noExclusive bool // hide CreateExclusive (see exclFaultFS)

	mu         sync.Mutex
	listErr    error          // List fails with it
	failRename map[string]int // renames onto names with the prefix that succeed before ENOSPC
	renames    map[string]int // renames onto names with the prefix so far
}

// exclFaultFS is a faultFS that can also create exclusively.
type exclFaultFS struct{ *faultFS }

func (f exclFaultFS) CreateExclusive(ctx context.Context, name string) (io.WriteCloser, error) {
	return storage.CreateExclusive(ctx, f.FS, name)
}

var (
	faultFSes  sync.Map // id -> *faultFS
	faultFSSeq atomic.Int64
)

func init() {
	storage.Register("dstreamfault", func(u *url.URL) (storage.FS, error) {
		v, ok := faultFSes.Load(u.Host)
		if !ok {
			return nil, fmt.Errorf("no fault FS %q", u.Host)
		}
		f := v.(*faultFS)
		if f.noExclusive {
			return f, nil
		}
		return exclFaultFS{f}, nil
	})
}

// newFaultFS returns a faultFS and the URI of dir (an absolute local
// path) on it.
func newFaultFS(t *testing.T, dir string) (*faultFS, string) {
	id := fmt.Sprintf("fs%d", faultFSSeq.Add(1))
	f := &faultFS{FS: storage.Local(), failRename: map[string]int{}, renames: map[string]int{}}
	faultFSes.Store(id, f)
	t.Cleanup(func() { faultFSes.Delete(id) })
	return f, "dstreamfault://" + id + filepath.ToSlash(dir)
}

func (f *faultFS) List(ctx context.Context, dir string) ([]storage.FileInfo, error) {
	f.mu.Lock()
	err := f.listErr
	f.mu.Unlock()
	if err != nil {
		return nil, &fs.PathError{Op: "list", Path: dir, Err: err}
	}
	return f.FS.List(ctx, dir)
}

func (f *faultFS) Rename(ctx context.Context, from, to string) error {
	base := path.Base(to)
	f.mu.Lock()
	for prefix, n := range f.failRename {
		if strings.HasPrefix(base, prefix) {
			if f.renames[prefix] >= n {
				f.mu.Unlock()
				return &fs.PathError{Op: "rename", Path: to, Err: syscall.ENOSPC}
			}
			f.renames[prefix]++
		}
	}
	f.mu.Unlock()
	return f.FS.Rename(ctx, from, to)
}

// setFailRename makes renames onto names with prefix fail with ENOSPC
// after n more.
func (f *faultFS) setFailRename(prefix string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failRename[prefix] = f.renames[prefix] + n
}

// baseCheckpoint runs the word job for 11 batches and crashes it (a hard
// stop): the directory holds checkpoint-9000..11000 and state-10000.
func baseCheckpoint(t *testing.T, log *memLog) string {
	t.Helper()
	dir := t.TempDir()
	j := newWordJob(t, dir, log, 0, jobShape{})
	j.h.start()
	for k := 1; k <= 11; k++ {
		log.append(batchLines(k)...)
		j.h.step()
	}
	mustNoErr(t, j.h.ssc.Stop(context.Background(), Hard), "hard stop")
	got := slices.Sorted(maps.Keys(snapshotDir(t, dir)))
	want := []string{"checkpoint-10000", "checkpoint-11000", "checkpoint-9000", "state-10000"}
	if !slices.Equal(got, want) {
		t.Fatalf("checkpoint directory holds %q, want %q", got, want)
	}
	return dir
}

// garble changes the file name in dir with f.
func garble(t *testing.T, dir, name string, f func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	data, err := os.ReadFile(p)
	mustNoErr(t, err, "read %s", name)
	mustNoErr(t, os.WriteFile(p, f(data), 0o644), "write %s", name)
}

func truncated(b []byte) []byte { return b[:len(b)/2] }

// TestCheckpointUnusable: a checkpoint that exists but cannot be used
// fails Start with ErrCheckpointUnusable (and the sentinel of its cause)
// and a message saying why, also after Recovered was asked first, and
// leaves the directory as it was: nothing is written, renamed or removed.
func TestCheckpointUnusable(t *testing.T) {
	log := &memLog{}
	base := baseCheckpoint(t, log)
	listErr := errors.New("injected listing failure")
	for _, tc := range []struct {
		name   string
		shape  jobShape
		mangle func(t *testing.T, dir string)
		fault  func(f *faultFS) // run the job on a faultFS
		want   []error
		says   []string
	}{
		{
			name:  "another batch interval",
			shape: jobShape{interval: 2 * time.Second},
			want:  []error{ErrCheckpointUnusable},
			says:  []string{"batch interval of 1s", "now has 2s", "run the job with the batch interval 1s", "WithCheckpointReset"},
		},
		{
			name: "garbled version of the newest checkpoint file",
			mangle: func(t *testing.T, dir string) {
				garble(t, dir, "checkpoint-11000", func(b []byte) []byte { b[len(ckptMagic)], b[len(ckptMagic)+1] = 0xde, 0xad; return b })
			},
			want: []error{ErrCheckpointUnusable, ErrCheckpointVersion},
			says: []string{"checkpoint-11000", "version 57005", "version 1"},
		},
		{
			name: "no checkpoint file readable",
			mangle: func(t *testing.T, dir string) {
				for _, n := range []string{"checkpoint-9000", "checkpoint-10000", "checkpoint-11000"} {
					garble(t, dir, n, truncated)
				}
			},
			want: []error{ErrCheckpointUnusable, ErrCheckpointCorrupt},
			says: []string{"none of its checkpoint files can be read", "checkpoint-11000, checkpoint-10000, checkpoint-9000"},
		},
		{
			name:   "no state file readable",
			mangle: func(t *testing.T, dir string) { garble(t, dir, "state-10000", truncated) },
			want:   []error{ErrCheckpointUnusable, ErrCheckpointCorrupt},
			says:   []string{"none of its state files can be read", "state-10000", "totals"},
		},
		{
			name:  "stateful operator renamed",
			shape: jobShape{stateName: "sums"},
			want:  []error{ErrCheckpointUnusable, ErrGraphChanged},
			says:  []string{"totals", "sums"},
		},
		{
			name:  "listing the directory fails",
			fault: func(f *faultFS) { f.listErr = listErr },
			want:  []error{ErrCheckpointUnusable, listErr},
			says:  []string{"listing it failed", "injected listing failure"},
		},
	} {
		for _, recoveredFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/recovered first %v", tc.name, recoveredFirst), func(t *testing.T) {
				dir := copyDir(t, base)
				if tc.mangle != nil {
					tc.mangle(t, dir)
				}
				before := snapshotDir(t, dir)
				ckpt := dir
				if tc.fault != nil {
					var f *faultFS
					f, ckpt = newFaultFS(t, dir)
					tc.fault(f)
				}
				j := newWordJob(t, ckpt, log, 12*time.Second, tc.shape)
				if recoveredFirst {
					if ok, _ := j.h.ssc.Recovered(); ok {
						t.Error("Recovered() = true for an unusable checkpoint")
					}
				}
				err := j.h.ssc.Start()
				if err == nil {
					t.Fatal("Start succeeded on an unusable checkpoint")
				}
				for _, w := range tc.want {
					if !errors.Is(err, w) {
						t.Errorf("Start = %v, want an error wrapping %v", err, w)
					}
				}
				msg := err.Error()
				for _, s := range append([]string{ckpt}, tc.says...) {
					if !strings.Contains(msg, s) {
						t.Errorf("Start's error %q does not say %q", msg, s)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("Start's error is not one line: %q", msg)
				}
				if err2 := j.h.ssc.Start(); err2 == nil || err2.Error() != msg {
					t.Errorf("Start again = %v, want the same error", err2)
				}
				mustNoErr(t, j.h.ssc.Stop(context.Background(), Hard), "stop")
				if d := diffSnapshots(before, snapshotDir(t, dir)); d != "" {
					t.Errorf("a failed Start changed the checkpoint directory: %s", d)
				}
			})
		}
	}
}

// TestCheckpointReset: WithCheckpointReset moves the old checkpoint's
// files into discarded-<ms>/, unchanged, and the job starts afresh.
func TestCheckpointReset(t *testing.T) {
	log := &memLog{}
	dir := copyDir(t, baseCheckpoint(t, log))
	garble(t, dir, "checkpoint-11000", func(b []byte) []byte { b[len(ckptMagic)+1] = 7; return b })
	mustNoErr(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("kept"), 0o644), "write")
	before := snapshotDir(t, dir)

	j := newWordJob(t, dir, log, 20*time.Second, jobShape{opts: []Option{WithCheckpointReset()}})
	if ok, _ := j.h.ssc.Recovered(); ok {
		t.Error("Recovered() = true with WithCheckpointReset")
	}
	j.h.start()
	after := snapshotDir(t, dir)
	var sub string
	for name, data := range after {
		if data == "<dir>" && strings.HasPrefix(name, "discarded-") {
			sub = name
		}
	}
	if sub == "" {
		t.Fatalf("no discarded-* directory after the reset: %q", slices.Sorted(maps.Keys(after)))
	}
	want := map[string]string{"notes.txt": "kept", sub: "<dir>"}
	for name, data := range before {
		if name != "notes.txt" {
			want[sub+"/"+name] = data
		}
	}
	for name := range after {
		if name == "lock" {
			delete(after, name) // held while the job runs
		}
	}
	if d := diffSnapshots(want, after); d != "" {
		t.Errorf("after the reset, compared with the old files moved aside: %s", d)
	}
	log.append("fresh start")
	j.h.step()
	if got, want := pairsMap(mustAt(t, j.totals, 21000)), wordCounts(log.slice(0, len(log.lines))); !maps.Equal(got, want) {
		t.Errorf("totals after the reset = %v, want %v (every line, counted once)", got, want)
	}
}

// batchRecorder records the BatchCompleted events.
type batchRecorder struct {
	mu        sync.Mutex
	completed []BatchInfo
}

func (r *batchRecorder) OnBatchCompleted(b BatchInfo) {
	r.mu.Lock()
	r.completed = append(r.completed, b)
	r.mu.Unlock()
}

// at returns the BatchCompleted events of the batch at ms.
func (r *batchRecorder) at(ms int64) []BatchInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []BatchInfo
	for _, b := range r.completed {
		if b.BatchTime.UnixMilli() == ms {
			out = append(out, b)
		}
	}
	return out
}

// TestCheckpointWriteFailure: a checkpoint that cannot be written (the
// disk is full) fails its batch and stops the context with an error
// naming the file. The checkpoint of a batch is written before it runs,
// so that batch never runs its outputs; the state is written after the
// batch's outputs, and the batch is reported failed; the final
// checkpoint of a graceful stop is returned by Run.
func TestCheckpointWriteFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prefix    string // renames onto these names fail...
		allow     int    // ...after this many
		failAt    int    // the batch that fails; 0: none, the stop does
		outputRan bool   // whether the failing batch's outputs ran
		file      string // the file named by the error
	}{
		{name: "checkpoint of a batch", prefix: "checkpoint-", allow: 3, failAt: 4, file: "checkpoint-4000"},
		{name: "state after a batch", prefix: "state-", failAt: 10, outputRan: true, file: "state-10000"},
		{name: "final checkpoint at stop", prefix: "state-", file: "state-3000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f, uri := newFaultFS(t, dir)
			f.setFailRename(tc.prefix, tc.allow)
			log := &memLog{}
			j := newWordJob(t, uri, log, 0, jobShape{})
			rec := &batchRecorder{}
			j.h.ssc.AddListener(rec)
			runCtx, stop := context.WithCancel(context.Background())
			defer stop()
			runErr := make(chan error, 1)
			go func() { runErr <- j.h.ssc.Run(runCtx) }()
			for j.h.ssc.State() != StateActive {
				select {
				case err := <-runErr:
					t.Fatalf("Run: %v", err)
				case <-time.After(time.Millisecond):
				}
			}
			last := 3 // batches that complete before the failure
			if tc.failAt > 0 {
				last = tc.failAt - 1
			}
			for k := 1; k <= last; k++ {
				log.append(batchLines(k)...)
				j.h.step()
			}
			var err error
			if tc.failAt > 0 {
				log.append(batchLines(tc.failAt)...)
				if err = j.h.stepErr(); err == nil {
					t.Fatalf("batch %d completed although its checkpoint could not be written", tc.failAt)
				}
				if got := <-runErr; got == nil || got.Error() != err.Error() {
					t.Errorf("Run = %v, want the batch's error %v", got, err)
				}
				var be *BatchError
				if !errors.As(err, &be) || be.Op != "checkpoint" || be.Time.UnixMilli() != int64(tc.failAt)*1000 {
					t.Errorf("error %v, want a *BatchError of the checkpoint at batch %d", err, tc.failAt)
				}
				ms := int64(tc.failAt) * 1000
				if _, ran := j.counts.at(ms); ran != tc.outputRan {
					t.Errorf("the outputs of batch %d ran: %v, want %v", tc.failAt, ran, tc.outputRan)
				}
				for _, b := range rec.at(ms) {
					if b.Err == nil {
						t.Errorf("BatchCompleted reported batch %d ok", tc.failAt)
					}
				}
				if got := len(rec.at(ms)); tc.outputRan && got != 1 {
					t.Errorf("%d BatchCompleted events for batch %d, want 1 with the error", got, tc.failAt)
				}
			} else {
				stop()
				err = <-runErr
				if err == nil {
					t.Fatal("Run returned nil although the final checkpoint could not be written")
				}
				if got := j.h.ssc.AwaitTermination(context.Background()); got == nil || got.Error() != err.Error() {
					t.Errorf("AwaitTermination = %v, want Run's error %v", got, err)
				}
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %v, want one wrapping ENOSPC naming %s", err, tc.file)
			}
			if _, err := os.Stat(filepath.Join(dir, tc.file)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s exists after its write failed (Stat: %v)", tc.file, err)
			}
		})
	}
}
