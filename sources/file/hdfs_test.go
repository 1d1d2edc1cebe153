package file_test

import (
	"fmt"
	"io"
	"path"
	"slices"
	"testing"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/sources/file"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// TestHDFSClockSkew runs a text stream over a directory on the HDFS test
// server (the real client and wire protocols, permissions on) whose
// NameNode's clock is ahead of, with, or behind the job's: the
// modification times of the files are the NameNode's. Files arrive from
// the first moments after the start on, each written elsewhere and renamed
// in, as a producer does; every one is read exactly once, by the first
// batch after it arrived, and none again after its batch is forgotten.
func TestHDFSClockSkew(t *testing.T) {
	for _, off := range []time.Duration{5 * time.Second, 0, -5 * time.Second} {
		t.Run(fmt.Sprintf("namenode%+v", off), func(t *testing.T) {
			h := newHarness(t, time.Second, sec(999))
			c := hdfstest.New(t, hdfstest.WithClock(h.clk.Now), hdfstest.WithClockOffset(off))
			home, err := c.AddUser("etl")
			if err != nil {
				t.Fatal(err)
			}
			in := home + "/in"
			producer, err := storagehdfs.Open(storagehdfs.Options{Client: gohdfs.ClientOptions{
				Addresses: []string{c.Addr()}, User: "etl"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { producer.Close() })
			if err := producer.MkdirAll(t.Context(), in); err != nil {
				t.Fatal(err)
			}
			put := func(name string) {
				t.Helper()
				err := storage.WriteFileAtomic(t.Context(), producer, path.Join(in, name), func(w io.Writer) error {
					_, err := io.WriteString(w, name+"\n")
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}

			lines := collect(t, file.TextStream(h.ssc, "hdfs://"+c.Addr()+in+"?user=etl", file.MinRememberDuration(5*time.Second)))
			put("before-start") // a second before the start: not new
			h.clk.Set(sec(1000))
			h.start()
			want := map[string]time.Time{} // file -> the batch that must read it
			// Two files a second for the first 8 seconds, written 750 ms
			// and 250 ms before a batch time.
			for s := range 8 {
				for _, ms := range []int{250, 750} {
					h.clk.Set(h.last.Add(time.Duration(ms) * time.Millisecond))
					name := fmt.Sprintf("f-%d-%d", s, ms)
					put(name)
					want[name] = h.last.Add(time.Second)
				}
				h.step()
			}
			// Past the remember window and more: nothing is read twice.
			h.stepTo(h.ssc.ZeroTime().Add(20 * time.Second))

			read := map[string][]time.Time{}
			for bt := h.ssc.ZeroTime().Add(time.Second); !bt.After(h.last); bt = bt.Add(time.Second) {
				for _, l := range lines.all(bt) {
					read[l] = append(read[l], bt)
				}
			}
			for name, at := range want {
				if got := read[name]; !slices.Equal(got, []time.Time{at}) {
					t.Errorf("%s was read by the batches %v, want once, by %v", name, got, at)
				}
			}
			if got := read["before-start"]; len(got) != 0 {
				t.Errorf("the file from before the start was read by %v", got)
			}
			if len(read) > len(want) {
				t.Errorf("read %d distinct files, want %d", len(read), len(want))
			}
		})
	}
}

// TestHDFSClockUnreadable: a stream whose user may write nowhere on HDFS
// (no home directory, /tmp not open to all) cannot read the NameNode's
// clock; it says so once and compares the modification times as they
// are, which with agreeing clocks reads every file once.
func TestHDFSClockUnreadable(t *testing.T) {
	h := newHarness(t, time.Second, sec(1000))
	c := hdfstest.New(t, hdfstest.WithClock(h.clk.Now))
	if err := c.Mkdir("/tmp", 0o755, c.Superuser(), ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir("/data/in", 0o755, "etl", ""); err != nil {
		t.Fatal(err)
	}
	producer, err := storagehdfs.Open(storagehdfs.Options{Client: gohdfs.ClientOptions{
		Addresses: []string{c.Addr()}, User: "etl"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { producer.Close() })
	lines := collect(t, file.TextStream(h.ssc, "hdfs://reader@"+c.Addr()+"/data/in"))
	h.start()
	var want []time.Time
	for s := range 3 {
		h.clk.Set(h.last.Add(500 * time.Millisecond))
		name := fmt.Sprintf("/data/in/f%d", s)
		if err := storage.WriteFileAtomic(t.Context(), producer, name, func(w io.Writer) error {
			_, err := io.WriteString(w, name+"\n")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		want = append(want, h.step())
	}
	for i, bt := range want {
		if got := lines.all(bt); !slices.Equal(got, []string{fmt.Sprintf("/data/in/f%d", i)}) {
			t.Errorf("batch %v read %q", bt, got)
		}
	}
	if n := h.logs.count("cannot read the storage's clock"); n != 1 {
		t.Errorf("%d warnings about the storage's clock, want 1; logs:\n%s", n, h.logs.String())
	}
	if n := h.logs.count("permission denied for HDFS user reader"); n != 1 {
		t.Errorf("the warning does not give the permission error; logs:\n%s", h.logs.String())
	}
}
