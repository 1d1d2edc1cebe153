package faults

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/wcout"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

// fileJob returns the arguments of a word count over the files of in with
// a checkpoint, totals and output.
func fileJob(in, ckpt, prefix string, extra ...string) []string {
	return append([]string{"-source", "file", "-dir", in, "-batch", "200ms", "-totals", "-top", "0",
		"-out", prefix, "-checkpoint", ckpt}, extra...)
}

// writeInput puts a file of n lines "w<i> common" (i from from) into in,
// written elsewhere and moved in, as the file stream expects.
func writeInput(t *testing.T, in string, name string, from, n int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < from+n; i++ {
		b.WriteString("w" + strconv.Itoa(i) + " common\n")
	}
	tmp := filepath.Join(filepath.Dir(in), "."+name)
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(in, name)); err != nil {
		t.Fatal(err)
	}
}

// Two jobs on one checkpoint directory: the second exits 3 at once,
// naming the holder; after the first is killed, a restart proceeds.
func TestCheckpointInUse(t *testing.T) {
	wordcount := proctest.Build(t, "./examples/wordcount")
	h := hdfstest.New(t)
	home, err := h.AddUser("wc") // the job's user, with its home directory
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, ckpt string }{
		{"local", filepath.Join(t.TempDir(), "ckpt")},
		{"hdfs", "hdfs://" + h.Addr() + home + "/ckpt?user=wc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			if err := os.Mkdir(in, 0o755); err != nil {
				t.Fatal(err)
			}
			args := fileJob(in, tc.ckpt, filepath.Join(dir, "out", "c"))
			first := proctest.Start(t, wordcount, args...)
			first.WaitFor(t, first.Stderr, firstBatch, 30*time.Second)

			_, stderr, code := proctest.Run(t, 30*time.Second, wordcount, args...)
			if code != exitUnavailable {
				t.Fatalf("second job: exit status %d, want %d\n%s", code, exitUnavailable, stderr)
			}
			holder := regexp.MustCompile(`wordcount: cannot start: .*checkpoint directory .* is in use by host \S+ pid (\d+) since `)
			m := holder.FindStringSubmatch(stderr)
			if m == nil || m[1] != strconv.Itoa(first.Cmd.Process.Pid) {
				t.Fatalf("second job's message does not name the first (pid %d):\n%s", first.Cmd.Process.Pid, stderr)
			}

			first.Kill(t)
			again := proctest.Start(t, wordcount, args...)
			again.WaitFor(t, again.Stderr, firstBatch, 30*time.Second)
			again.Stop(t, 10*time.Second)
		})
	}
}

// snapshot returns every file under dir with its contents.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = nil
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string][]byte) {
	t.Helper()
	for name, data := range before {
		if got, ok := after[name]; !ok || !bytes.Equal(got, data) {
			t.Errorf("%s: %s changed or went away", what, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s: %s appeared", what, name)
		}
	}
}

// A checkpoint that exists but cannot be used stops the job at start with
// the reason, and the directory stays byte for byte as it was.
func TestCheckpointUnusable(t *testing.T) {
	wordcount := proctest.Build(t, "./examples/wordcount")
	for _, tc := range []struct {
		name   string
		spoil  func(t *testing.T, ckpt string) // nil: nothing
		extra  []string
		reason string
	}{
		{"another batch interval", nil, []string{"-batch", "300ms"}, "batch interval"},
		{"garbled version bytes", func(t *testing.T, ckpt string) {
			garble(t, newest(t, ckpt, "checkpoint-"))
		}, nil, "version"},
		{"every metadata file unreadable", func(t *testing.T, ckpt string) {
			files, _ := filepath.Glob(filepath.Join(ckpt, "checkpoint-*"))
			for _, f := range files {
				if err := os.WriteFile(f, []byte("not a checkpoint"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, nil, "checkpoint-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, ckpt := filepath.Join(dir, "in"), filepath.Join(dir, "ckpt")
			if err := os.Mkdir(in, 0o755); err != nil {
				t.Fatal(err)
			}
			args := fileJob(in, ckpt, filepath.Join(dir, "out", "c"))
			p := proctest.Start(t, wordcount, args...)
			p.WaitFor(t, p.Stderr, firstBatch, 30*time.Second) // files older than the start are not new
			writeInput(t, in, "a", 0, 100)
			p.WaitFor(t, p.Stderr, regexp.MustCompile(`(?m)^batch \S+ records=100 `), 30*time.Second)
			time.Sleep(time.Second) // a few more checkpoints
			p.Stop(t, 10*time.Second)
			if tc.spoil != nil {
				tc.spoil(t, ckpt)
			}
			before := snapshot(t, ckpt)

			_, stderr, code := proctest.Run(t, 30*time.Second, wordcount, append(args, tc.extra...)...)
			if code == 0 {
				t.Fatalf("started on an unusable checkpoint\n%s", stderr)
			}
			var line string
			for _, l := range strings.Split(stderr, "\n") {
				if strings.HasPrefix(l, "wordcount: ") && strings.Contains(l, "checkpoint") {
					line = l
				}
			}
			if line == "" || !strings.Contains(line, tc.reason) {
				t.Errorf("no line giving the reason (%q):\n%s", tc.reason, stderr)
			}
			sameSnapshot(t, "the checkpoint directory", before, snapshot(t, ckpt))
		})
	}
}

// newest returns the newest file of the checkpoint directory with prefix.
func newest(t *testing.T, ckpt, prefix string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(ckpt, prefix+"*"))
	best, bestMS := "", int64(-1)
	for _, f := range files {
		ms, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(f), prefix), 10, 64)
		if err == nil && ms > bestMS {
			best, bestMS = f, ms
		}
	}
	if best == "" {
		t.Fatalf("no %s* file in %s", prefix, ckpt)
	}
	return best
}

// garble changes the format version bytes of a checkpoint file (right
// after its magic), keeping everything else.
func garble(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data[versionOffset] ^= 0x7f
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A checkpoint directory that fills up fails the batch that needed it;
// once there is room again a restart gives exact counts, and no batch
// output published before the failure changes.
func TestCheckpointDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test mounts a small tmpfs, which needs root; CI runs as root")
		}
		t.Skip("this test mounts a small tmpfs, which needs root")
	}
	wordcount := proctest.Build(t, "./examples/wordcount")
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot mount a tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	in, ckpt, prefix := filepath.Join(dir, "in"), filepath.Join(mnt, "ckpt"), filepath.Join(dir, "out", "c")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	args := fileJob(in, ckpt, prefix)
	p := proctest.Start(t, wordcount, args...)
	p.WaitFor(t, p.Stderr, firstBatch, 30*time.Second) // files older than the start are not new
	writeInput(t, in, "a", 0, 300)
	p.WaitFor(t, p.Stderr, regexp.MustCompile(`(?m)^batch \S+ records=300 `), 30*time.Second)

	// Fill the disk: the next checkpoint cannot be written.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(make([]byte, 4<<20)) // fails with ENOSPC once full
	f.Close()
	writeInput(t, in, "b", 300, 300)
	code := p.ExitCode(t, 30*time.Second)
	if code != 1 || !strings.Contains(p.Stderr.String(), "checkpoint") {
		t.Fatalf("with the checkpoint disk full: exit status %d, want 1 with the checkpoint's error\n%s", code, p.Output())
	}
	if regexp.MustCompile(`(?m)^batch \S+ records=300 .* ok$`).MatchString(strings.SplitN(p.Stderr.String(), "records=300", 2)[1]) {
		t.Errorf("a batch of the second file reported ok though its checkpoint failed\n%s", p.Stderr.String())
	}
	// What each published batch holds (a batch run again after the
	// restart may spread the same words over its part files differently:
	// the hash seed is per process).
	published := map[string]map[int64]map[string]int{"batches": wcout.Batches(t, prefix, false), "totals": wcout.Batches(t, prefix+"-totals", false)}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	again := proctest.Start(t, wordcount, args...)
	deadline := time.Now().Add(20 * time.Second)
	for wcout.Latest(wcout.Batches(t, prefix+"-totals", false))["common"] < 600 {
		if time.Now().After(deadline) {
			all := wcout.Batches(t, prefix+"-totals", false)
			l := wcout.Latest(all)
			t.Fatalf("the restart did not count the second file: %d totals dirs, the latest have common=%d w0=%d w300=%d\n%s", len(all), l["common"], l["w0"], l["w300"], again.Stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	again.Stop(t, 10*time.Second)

	after := map[string]map[int64]map[string]int{"batches": wcout.Batches(t, prefix, false), "totals": wcout.Batches(t, prefix+"-totals", false)}
	for kind, dirs := range published {
		for ms, counts := range dirs {
			if got := after[kind][ms]; !maps.Equal(got, counts) {
				t.Errorf("the published %s of batch %d changed after the restart: %d words, were %d", kind, ms, len(got), len(counts))
			}
		}
	}
	checkCountedOnce(t, "after the restart", prefix, 600)
}

const versionOffset = 7 // the low byte of the checkpoint format version, after the 6-byte magic
