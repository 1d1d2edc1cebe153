package parquetsink_test

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/dstream"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// A poison row is a reading whose partition values cannot make a
// directory; want are substrings of its error.
type poison struct {
	name string
	row  reading
	want []string
}

// poisons are the rows that cannot be placed, under PartitionBy(region,
// kind) with partitionValues: "region=" is 7 bytes, "kind=" 5.
func poisons() []poison {
	return []poison{
		{"value too long", reading{Device: "long", Region: strings.Repeat("r", 300)},
			[]string{"column region", "300 bytes", "307 bytes", "limit of 255"}},
		{"too long once escaped", reading{Device: "escaped", Region: strings.Repeat("/", 100)},
			[]string{"column region", "100 bytes", "307 bytes", "limit of 255"}},
		{"one byte too long", reading{Device: "256", Region: strings.Repeat("r", 249)},
			[]string{"column region", "249 bytes", "256 bytes", "limit of 255"}},
		{"second column too long", reading{Device: "kind", Region: "eu", Kind: strings.Repeat("ü", 126)},
			[]string{"column kind", "252 bytes", "257 bytes"}},
		{"not UTF-8", reading{Device: "utf8", Region: "eu\xffwest"},
			[]string{"column region", "not valid UTF-8"}},
		{"wrong number of values", reading{Device: "short", Region: "eu"},
			[]string{"returned 1 values for 2 columns"}},
	}
}

// partitionValues is the rows' PartitionBy function: region and kind,
// or only the region for the device "short".
func partitionValues(r reading) []string {
	if r.Device == "short" {
		return []string{r.Region}
	}
	return []string{r.Region, r.Kind}
}

// goodRows returns n readings whose partitions are fine, among them the
// longest directory name there may be (region=<248 bytes>, 255 bytes)
// and an empty value.
func goodRows(from, n int) []reading {
	regions := []string{"eu/west", strings.Repeat("r", 248), "", "us"}
	var out []reading
	for i := from; i < from+n; i++ {
		out = append(out, reading{Device: fmt.Sprint("d", i), At: time.UnixMilli(int64(i) * 1000).UTC(), Temp: float64(i),
			Region: regions[i%len(regions)], Kind: []string{"x", strings.Repeat("k", 250)}[i%2]})
	}
	return out
}

// deadLetters collects what the WriteSpec's DeadLetter gets.
type deadLetters struct {
	mu   sync.Mutex
	rows []reading
	errs []error
}

func (d *deadLetters) add(r reading, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows = append(d.rows, r)
	d.errs = append(d.errs, err)
}

// checkWritten checks that the data files under dir hold exactly want,
// each row once, in the directory of its partition.
func checkWritten(t *testing.T, dir string, want []reading) {
	t.Helper()
	byDevice := map[string]reading{}
	for _, w := range want {
		byDevice[w.Device] = w
	}
	seen := map[string]int{}
	for _, f := range dataFiles(t, dir) {
		rows, err := parquet.ReadFile[reading](filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		for _, r := range rows {
			seen[r.Device]++
			w, ok := byDevice[r.Device]
			if !ok {
				t.Errorf("unexpected row %+v in %s", r, f)
				continue
			}
			if d := parquetsink.PartitionPath([]string{"region", "kind"}, []string{w.Region, w.Kind}); path.Dir(f) != d {
				t.Errorf("row %s in %s, want it in %s", r.Device, f, d)
			}
			if !r.At.Equal(w.At) || r.Temp != w.Temp {
				t.Errorf("row %+v, want %+v", r, w)
			}
		}
	}
	for _, w := range want {
		if seen[w.Device] != 1 {
			t.Errorf("row %s written %d times", w.Device, seen[w.Device])
		}
	}
}

// Every row whose partition cannot be made goes to the dead letter with
// an error wrapping ErrPartitionValue that says why; the other rows of
// the batch are written, in their partitions, and later batches run.
func TestDeadLetterPartitionValues(t *testing.T) {
	dir := t.TempDir()
	h := newHarness[reading](t, 2)
	var dead deadLetters
	sink, err := parquetsink.NewPartitioned(dir, parquetsink.PartitionBy([]string{"region", "kind"}, partitionValues))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.s.WriteTo(sink, dstream.WriteSpec[reading]{DeadLetter: dead.add}); err != nil {
		t.Fatal(err)
	}
	// Each poison row three times: twice in a row (the second has the
	// same values as the row before it) and once more later.
	good := goodRows(0, 60)
	var batch []reading
	for i, r := range good {
		batch = append(batch, r)
		if p := poisons(); i%8 == 3 && i/8 < len(p) {
			batch = append(batch, p[i/8].row, p[i/8].row)
		}
	}
	for _, p := range poisons() {
		batch = append(batch, p.row)
	}
	h.q.Push(batch)
	more := goodRows(60, 20)
	h.q.Push(more)
	h.start()
	h.mustStep()
	h.mustStep()
	h.stop()

	checkWritten(t, dir, append(slices.Clone(good), more...))
	dead.mu.Lock()
	defer dead.mu.Unlock()
	for _, p := range poisons() {
		n := 0
		for i, r := range dead.rows {
			if r.Device != p.row.Device {
				continue
			}
			n++
			err := dead.errs[i]
			if !errors.Is(err, parquetsink.ErrPartitionValue) {
				t.Errorf("%s: error %v does not wrap ErrPartitionValue", p.name, err)
			}
			for _, w := range p.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q does not say %q", p.name, err, w)
				}
			}
		}
		if n != 3 {
			t.Errorf("%s: %d dead letters, want 3", p.name, n)
		}
	}
	if len(dead.rows) != 3*len(poisons()) {
		t.Errorf("%d dead letters, want %d", len(dead.rows), 3*len(poisons()))
	}
}

// With FailOnInvalidPartition, a row whose partition cannot be made
// fails the batch with an error wrapping ErrPartitionValue, and nothing
// of the batch is written.
func TestPartitionValueFailsBatchWithFailOnInvalidPartition(t *testing.T) {
	for _, p := range poisons() {
		t.Run(p.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness[reading](t, 2)
			if err := parquetsink.WritePartitioned(h.s, dir, parquetsink.PartitionBy([]string{"region", "kind"}, partitionValues),
				parquetsink.FailOnInvalidPartition()); err != nil {
				t.Fatal(err)
			}
			rows := goodRows(0, 10)
			h.q.Push(slices.Insert(rows, 7, p.row))
			h.start()
			err := h.step()
			if !errors.Is(err, parquetsink.ErrPartitionValue) {
				t.Fatalf("batch error %v, want one wrapping ErrPartitionValue", err)
			}
			for _, w := range append([]string{"DeadLetter"}, p.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("batch error %q does not say %q", err, w)
				}
			}
			if got := dataFiles(t, dir); len(got) != 0 {
				t.Errorf("files %q written by a failed batch", got)
			}
		})
	}
}
