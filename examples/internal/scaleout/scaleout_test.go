package scaleout

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type letter struct {
	partition int32
	offset    int64
	text      string
}

func (l letter) Position() (string, int32, int64) { return "t", l.partition, l.offset }
func (l letter) JSON() string                     { return `{"text":"` + l.text + `"}` }

// A message's dead letters go to one file named by its position; writing
// them again replaces the file, so nothing is there twice.
func TestWriteDead(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDeadFiles(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	letters := []letter{{0, 7, "a"}, {0, 7, "b"}, {3, 12, "c"}}
	for range 2 { // the second time, as a message read again
		if err := WriteDead(t.Context(), d, letters); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, DeadGlob))
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		files[i], _ = filepath.Rel(dir, files[i])
	}
	if want := []string{"t-00000/dead-0000000007.jsonl", "t-00003/dead-0000000012.jsonl"}; !slices.Equal(files, want) {
		t.Fatalf("files %q, want %q", files, want)
	}
	for name, want := range map[string]string{
		"t-00000/dead-0000000007.jsonl": "{\"text\":\"a\"}\n{\"text\":\"b\"}\n",
		"t-00003/dead-0000000012.jsonl": "{\"text\":\"c\"}\n",
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if err := WriteDead[letter](t.Context(), d, nil); err != nil {
		t.Errorf("no letters: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "t-00000"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// Check refuses negative rotation limits and timeouts under a second.
func TestFlagsCheck(t *testing.T) {
	ok := Flags{SessionTimeout: DefaultSessionTimeout, RebalanceTimeout: DefaultRebalanceTimeout}
	if err := ok.Check(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, f := range []Flags{
		{Rotation: ok.Rotation, SessionTimeout: 0, RebalanceTimeout: DefaultRebalanceTimeout},
		{SessionTimeout: DefaultSessionTimeout, RebalanceTimeout: 10},
		func() Flags { f := ok; f.Rotation.Rows = -1; return f }(),
	} {
		if err := f.Check(); err == nil {
			t.Errorf("%+v: no error", f)
		}
	}
}
