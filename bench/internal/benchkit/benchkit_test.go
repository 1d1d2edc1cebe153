package benchkit

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWordsIsDeterministic(t *testing.T) {
	a, b := Words(500, 12, 1000, 3), Words(500, 12, 1000, 3)
	if !slices.Equal(a.Lines, b.Lines) || a.Distinct != b.Distinct {
		t.Fatal("same seed, different corpus")
	}
	if c := Words(500, 12, 1000, 4); slices.Equal(a.Lines, c.Lines) {
		t.Error("different seeds, same corpus")
	}
	m := map[string]int{}
	CountWords(m, a.Lines)
	total, distinct := Totals(m)
	if err := CheckCounts(a, total, distinct); err != nil {
		t.Error(err)
	}
	if total != 500*12 || len(strings.Fields(a.Lines[0])) != 12 {
		t.Errorf("%d words, first line %q", total, a.Lines[0])
	}
	if err := CheckCounts(a, total-1, distinct); err == nil {
		t.Error("a wrong total passed")
	}
}

func TestBatchesWrap(t *testing.T) {
	bs := Batches([]string{"a", "b", "c"}, 2, 3)
	want := [][]string{{"a", "b"}, {"c", "a"}, {"b", "c"}}
	for i := range want {
		if !slices.Equal(bs[i], want[i]) {
			t.Errorf("batch %d = %q, want %q", i, bs[i], want[i])
		}
	}
}

func TestMeasure(t *testing.T) {
	n := 0
	res, err := Measure(time.Hour, 4, 10, func() error { n++; return nil })
	if err != nil || n != 4 || res.Passes != 4 || res.Records != 40 || res.Seconds <= 0 {
		t.Errorf("%+v, %v, %d passes", res, err, n)
	}
	boom := errors.New("boom")
	if _, err := Measure(0, 0, 1, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	if res, _ := Measure(0, 0, 1, func() error { return nil }); res.Passes != 1 {
		t.Errorf("%d passes with no minimum, want 1", res.Passes)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {10, 1}, {100, 10}} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty: not 0")
	}
}

func TestSpecRoundTrip(t *testing.T) {
	s := Spec{Scenario: "window", Contender: "ours", Seed: 9, BatchLines: 10, Window: 6, MinTime: time.Second}
	back, err := ParseChildFlags([]string{"-spec", s.Encode()})
	if err != nil || back != s {
		t.Errorf("%+v, %v; want %+v", back, err, s)
	}
	if _, err := ParseChildFlags(nil); err == nil {
		t.Error("no -spec: no error")
	}
	if _, err := ParseChildFlags([]string{"-spec", "{"}); err == nil {
		t.Error("bad JSON: no error")
	}
}
