package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/microbatch-go/microbatch/storage"
	_ "github.com/microbatch-go/microbatch/storage/hdfs" // hdfs:// for the test's own reads and writes
)

// The file source, the saved counts and the checkpoint on a Kerberized
// NameNode, the job logged in with -principal and -keytab: files moved
// into the watched HDFS directory while the job runs are counted exactly
// once, and the keytab shows nowhere in what the job printed.
func TestCLIFileSourceKerberosHDFS(t *testing.T) {
	wordcount, _ := buildBinaries(t)
	realm := krbtest.Start(t)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("wc")
	h := hdfstest.New(t, hdfstest.WithKerberos(realm.Keytab("", "nn/127.0.0.1"), "nn/127.0.0.1@"+realm.Realm()))
	for _, d := range []string{"/wc", "/wc/in", "/wc/out"} {
		if err := h.Mkdir(d, 0o755, "wc", ""); err != nil {
			t.Fatal(err)
		}
	}
	keytab := realm.Keytab("", "wc")
	base := "hdfs://" + h.Addr() + "/wc"
	p := start(t, wordcount, append([]string{"-source", "file", "-dir", base + "/in", "-out", base + "/out/counts",
		"-checkpoint", base + "/ckpt", "-principal", "wc@" + realm.Realm(), "-keytab", keytab, "-krb5-conf", realm.Krb5Conf()},
		cliArgs...)...)
	p.WaitFor(t, p.Stderr, progressLine, 5*time.Second)

	// The producer is the job's principal too, from its own login.
	o := &storage.Opener{Kerberos: realm.Client(t, "wc", keytab)}
	fsys, root, err := o.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]int{}
	for i := range 4 {
		text := strings.Repeat(fmt.Sprintf("alpha beta-%d gamma\n", i), i+1)
		for _, w := range strings.Fields(text) {
			want[w]++
		}
		staged := path.Join(root, "staging", fmt.Sprintf("f-%d.txt", i))
		err := storage.WriteFileAtomic(ctx, fsys, staged, func(w io.Writer) error { _, err := io.WriteString(w, text); return err })
		if err != nil {
			t.Fatal(err)
		}
		if err := fsys.Rename(ctx, staged, path.Join(root, "in", fmt.Sprintf("f-%d.txt", i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.Wait(t, exitTimeout)

	got := map[string]int{}
	batches := 0
	entries, err := fsys.List(ctx, path.Join(root, "out"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir || !strings.HasPrefix(e.Name, "counts-") {
			continue
		}
		if _, err := fsys.Stat(ctx, path.Join(e.Path, "_SUCCESS")); err != nil {
			t.Errorf("%s has no _SUCCESS: %v", e.Path, err)
			continue
		}
		batches++
		parts, err := fsys.List(ctx, e.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range parts {
			if !strings.HasPrefix(part.Name, "part-") {
				continue
			}
			r, err := fsys.Open(ctx, part.Path)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				word, n, ok := strings.Cut(sc.Text(), "\t")
				v, err := strconv.Atoi(n)
				if !ok || err != nil {
					t.Fatalf("%s: line %q is not word<TAB>count", part.Path, sc.Text())
				}
				got[word] += v
			}
			r.Close()
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("saved counts %v in %d batches, want %v\n%s", got, batches, want, p.Output())
	}
	if _, err := fsys.Stat(ctx, path.Join(root, "ckpt")); err != nil {
		t.Errorf("no checkpoint on HDFS: %v", err)
	}
	kt, err := os.ReadFile(keytab)
	if err != nil {
		t.Fatal(err)
	}
	testtool.NoSecrets(t, "the job's output", p.Output(), string(kt))
}
