package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

func TestRememberWindow(t *testing.T) {
	for _, tt := range []struct {
		interval, min, want time.Duration
	}{
		{time.Second, 60 * time.Second, 60 * time.Second},
		{7 * time.Second, 60 * time.Second, 63 * time.Second},
		{45 * time.Second, 60 * time.Second, 90 * time.Second},
		{60 * time.Second, 60 * time.Second, 60 * time.Second},
		{2 * time.Minute, 60 * time.Second, 2 * time.Minute}, // at least one interval
		{time.Second, time.Millisecond, time.Second},
		{time.Second, 1500 * time.Millisecond, 2 * time.Second},
		{300 * time.Millisecond, time.Second, 1200 * time.Millisecond},
	} {
		if got := rememberWindow(tt.interval, tt.min); got != tt.want {
			t.Errorf("rememberWindow(%v, %v) = %v, want %v", tt.interval, tt.min, got, tt.want)
		}
	}
}

func TestSelectedFiles(t *testing.T) {
	var s selectedFiles
	ms := func(n int64) time.Time { return time.UnixMilli(n) }
	s.add(ms(1000), []string{"/a", "/b"})
	s.add(ms(2000), nil)
	s.add(ms(3000), []string{"/c"})
	for p, want := range map[string]bool{"/a": true, "/b": true, "/c": true, "/d": false} {
		if got := s.contains(p); got != want {
			t.Errorf("contains(%q) = %v, want %v", p, got, want)
		}
	}
	// A forgotten file selected again by a later batch stays remembered
	// when its first batch is forgotten.
	s.add(ms(4000), []string{"/a"})
	s.forgetBefore(ms(2000))
	if s.contains("/b") || !s.contains("/a") || !s.contains("/c") {
		t.Errorf("after forgetting the batch of 1000 ms: /a %v /b %v /c %v; want /a and /c",
			s.contains("/a"), s.contains("/b"), s.contains("/c"))
	}
	snap := s.snapshot()
	want := map[int64][]string{2000: nil, 3000: {"/c"}, 4000: {"/a"}}
	if !maps.EqualFunc(snap, want, slices.Equal) {
		t.Errorf("snapshot = %v, want %v", snap, want)
	}
	snap[3000][0] = "/changed" // a copy
	if !s.contains("/c") {
		t.Errorf("changing the snapshot changed the set")
	}

	var r selectedFiles
	r.add(ms(9000), []string{"/old"})
	r.restore(map[int64][]string{1000: {"/x", "/y"}, 2000: {"/x"}})
	if r.contains("/old") || !r.contains("/x") || !r.contains("/y") {
		t.Errorf("restore did not replace the set")
	}
	r.forgetBefore(ms(1500)) // /x is still remembered by the batch of 2000 ms
	if !r.contains("/x") || r.contains("/y") {
		t.Errorf("after restore and forget: /x %v /y %v; want only /x", r.contains("/x"), r.contains("/y"))
	}
}

// Generate remembers the batches of the last remember window plus one
// interval, and only those.
func TestGenerateRemembersWindowPlusInterval(t *testing.T) {
	clk := dstream.NewManualClock(time.Unix(100, 0))
	c, err := dstream.NewContext(time.Second, dstream.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	in := &input[string]{c: c}
	in.s = dstream.InputStream[string](c, "test", in)
	dir := filepath.ToSlash(t.TempDir())
	if err := in.configure(dir, []Option{MinRememberDuration(3 * time.Second)}, true, func(cfg *config) (ReadFunc[string], error) {
		return readLines(cfg.maxLineBytes), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := in.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for s := int64(101); s <= 110; s++ {
		if _, err := in.Generate(t.Context(), time.Unix(s, 0)); err != nil {
			t.Fatal(err)
		}
		var want []int64
		for b := max(101, s-4); b <= s; b++ { // window 3 s + interval 1 s
			want = append(want, b*1000)
		}
		if got := slices.Sorted(maps.Keys(in.selected.snapshot())); !slices.Equal(got, want) {
			t.Errorf("after the batch of %d s, remembered batches %v, want %v", s, got, want)
		}
	}
}

func TestReadLines(t *testing.T) {
	long := strings.Repeat("y", 100<<10) // longer than the 64 KiB buffer
	for _, tt := range []struct {
		in      string
		max     int
		want    []string
		wantErr string
	}{
		{"", 10, nil, ""},
		{"a", 10, []string{"a"}, ""},
		{"a\n", 10, []string{"a"}, ""},
		{"a\r\n", 10, []string{"a"}, ""},
		{"a\r", 10, []string{"a"}, ""}, // a last line's "\r" goes too
		{"\n", 10, []string{""}, ""},
		{"\r\n", 10, []string{""}, ""},
		{"\n\n", 10, []string{"", ""}, ""},
		{"x\ry\n", 10, []string{"x\ry"}, ""}, // only a "\r" before the "\n" is removed
		{"a\r\r\n", 10, []string{"a\r"}, ""},
		{"abc\nde", 10, []string{"abc", "de"}, ""},
		{"abc\r\n", 3, []string{"abc"}, ""}, // terminators do not count
		{"abcd\n", 3, nil, "line 1 is longer than MaxLineBytes (3 bytes)"},
		{"ab\nabcd", 3, nil, "line 2 is longer"},
		{long + "\r\n" + long, len(long), []string{long, long}, ""},
		{long + "x\n", len(long), nil, "line 1 is longer"},
		{long + long + long, 1 << 10, nil, "line 1 is longer"},
	} {
		got, err := readLines(tt.max)(storage.FileInfo{}, strings.NewReader(tt.in))
		name := fmt.Sprintf("%.20q/%d", tt.in, tt.max)
		if tt.wantErr != "" {
			if !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want ErrLineTooLong with %q", name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %.40q, %v; want %.40q", name, got, err, tt.want)
		}
	}
	// A line too long is reported before the rest of it is read.
	big := &countingReader{r: strings.NewReader(strings.Repeat("z", 10<<20))}
	if _, err := readLines(1<<10)(storage.FileInfo{}, big); !errors.Is(err, ErrLineTooLong) || big.n > 1<<20 {
		t.Errorf("a 10 MiB line with MaxLineBytes 1 KiB: %v after reading %d bytes; want ErrLineTooLong within 1 MiB", err, big.n)
	}
	// No overflow with the largest limit.
	if got, err := readLines(math.MaxInt)(storage.FileInfo{}, strings.NewReader(long)); err != nil || len(got) != 1 {
		t.Errorf("MaxLineBytes MaxInt: %d lines, %v", len(got), err)
	}
	// A slow reader, one byte at a time, and a reader error.
	got, err := readLines(10)(storage.FileInfo{}, iotest.OneByteReader(strings.NewReader("ab\r\ncd\n")))
	if err != nil || !slices.Equal(got, []string{"ab", "cd"}) {
		t.Errorf("one byte at a time: %q, %v", got, err)
	}
	cause := errors.New("device error")
	if _, err := readLines(10)(storage.FileInfo{}, iotest.ErrReader(cause)); !errors.Is(err, cause) {
		t.Errorf("reader error: %v, want %v", err, cause)
	}
}

func TestReadRecords(t *testing.T) {
	for _, tt := range []struct {
		in      string
		size    int64 // the listed size: a hint only
		n       int
		want    []string
		wantErr string
	}{
		{"", 0, 4, nil, ""},
		{"abcd", 4, 4, []string{"abcd"}, ""},
		{"abcdefgh", 8, 2, []string{"ab", "cd", "ef", "gh"}, ""},
		{"abcdefgh", 2, 4, []string{"abcd", "efgh"}, ""}, // grown since listed
		{"abcdefgh", 0, 1, []string{"a", "b", "c", "d", "e", "f", "g", "h"}, ""},
		{"abcde", 5, 4, nil, "5 bytes is not a multiple of the record length 4"},
		{"abc", 3, 4, nil, "3 bytes is not a multiple"},
	} {
		got, err := readRecords(tt.n)(storage.FileInfo{Size: tt.size}, strings.NewReader(tt.in))
		if tt.wantErr != "" {
			if !errors.Is(err, ErrPartialRecord) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q/%d: error %v, want ErrPartialRecord with %q", tt.in, tt.n, err, tt.wantErr)
			}
			continue
		}
		var ss []string
		for _, r := range got {
			ss = append(ss, string(r))
		}
		if err != nil || !slices.Equal(ss, tt.want) {
			t.Errorf("%q/%d: %q, %v; want %q", tt.in, tt.n, ss, err, tt.want)
		}
	}
	// Appending to a record does not overwrite the next one.
	recs, _ := readRecords(2)(storage.FileInfo{Size: 4}, strings.NewReader("abcd"))
	_ = append(recs[0], 'X')
	if string(recs[1]) != "cd" {
		t.Errorf("appending to record 0 changed record 1 to %q", recs[1])
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A hard stop cancels the reading of a file.
func TestCtxReader(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := ctxReader{ctx: ctx, r: bytes.NewReader(make([]byte, 100))}
	buf := make([]byte, 10)
	if n, err := r.Read(buf); n != 10 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	cancel()
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel: %v, want context.Canceled", err)
	}
}

// The ctx given to readFile reaches the reader.
func TestReadFileCanceled(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("a\nb\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	in := &input[string]{fsys: storage.Local(), read: readLines(10)}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := in.readFile(ctx, storage.FileInfo{Path: filepath.ToSlash(p), Name: "f"})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), filepath.ToSlash(p)) {
		t.Errorf("error = %v, want context.Canceled naming the file", err)
	}
}
