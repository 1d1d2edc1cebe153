package spot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// splitAll splits in and returns the segments and the rejected lines.
func splitAll(t testing.TB, typ Type, budget int, in string) ([]Segment, []string, SplitStats) {
	t.Helper()
	var segs []Segment
	var rejected []string
	st, err := Splitter{
		Type:      typ,
		Budget:    budget,
		OnSegment: func(s Segment) error { segs = append(segs, s); return nil },
		OnReject:  func(_ int, line string) error { rejected = append(rejected, line); return nil },
	}.Split(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	return segs, rejected, st
}

// The sample records split by hour into Spot's two segments, whose
// encodings equal the golden ones and whose timestamps are the samples'.
// Spot's nfdump output (header and trailer) gives the same segments.
func TestSplitFlowGolden(t *testing.T) {
	records, err := os.ReadFile(filepath.Join("testdata", "flow_records.csv"))
	if err != nil {
		t.Fatal(err)
	}
	nfdump, err := os.ReadFile(filepath.Join("testdata", "nfdump_spot_output.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		in      []byte
		skipped int
	}{{"records", records, 0}, {"nfdump output", nfdump, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			segs, rejected, st := splitAll(t, Flow, ChunkBudget(1048576), string(tc.in))
			want := SplitStats{Lines: 20 + tc.skipped, Segments: 2, Sent: 20, Skipped: tc.skipped}
			if st != want || len(rejected) > 0 {
				t.Fatalf("stats %+v, rejected %q; want %+v", st, rejected, want)
			}
			for i, wantMs := range []int64{1471431483000, 1471431601000} {
				s := segs[i]
				if s.Index != i || s.Time.UnixMilli() != wantMs || s.Time.Location() != time.UTC {
					t.Errorf("segment %d: index %d, time %v (%d ms), want %d ms UTC", i, s.Index, s.Time, s.Time.UnixMilli(), wantMs)
				}
				golden, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("spot_flow_segment-%d.bin", i)))
				if err != nil {
					t.Fatal(err)
				}
				got, err := EncodeChunk(s.Lines)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, golden) {
					t.Errorf("segment %d (%d lines) encodes to % x\nwant % x", i, len(s.Lines), got, golden)
				}
				if ChunkSize(s.Lines) != len(golden) {
					t.Errorf("ChunkSize = %d, the encoding has %d bytes", ChunkSize(s.Lines), len(golden))
				}
			}
			if len(segs[0].Lines) != 18 || len(segs[1].Lines) != 2 {
				t.Errorf("segments of %d and %d lines, want 18 and 2", len(segs[0].Lines), len(segs[1].Lines))
			}
		})
	}
}

// ChunkSize is the encoding's size, across the varint boundaries of the
// count and of the lengths.
func TestChunkSize(t *testing.T) {
	var cases [][]string
	for _, n := range []int{0, 1, 2, 63, 64, 65, 200, 8191, 8192} {
		cases = append(cases, slices.Repeat([]string{"x"}, n))
	}
	for _, l := range []int{0, 1, 63, 64, 65, 8191, 8192, 1 << 20} {
		cases = append(cases, []string{strings.Repeat("y", l)}, []string{"a", strings.Repeat("y", l), ""})
	}
	for _, lines := range cases {
		b, err := EncodeChunk(lines)
		if err != nil {
			t.Fatal(err)
		}
		if got := ChunkSize(lines); got != len(b) {
			t.Errorf("ChunkSize of %d lines (lengths up to %d) = %d, the encoding has %d bytes", len(lines), maxLen(lines), got, len(b))
		}
	}
}

func maxLen(lines []string) int {
	m := 0
	for _, l := range lines {
		m = max(m, len(l))
	}
	return m
}

// checkSegments checks what Split promises: every line with a time in
// exactly one segment or rejected, in order; segments numbered from 0,
// within the budget, of one UTC hour, timed by their first line.
func checkSegments(t testing.TB, typ Type, budget int, in string, segs []Segment, rejected []string, st SplitStats) {
	t.Helper()
	var timed, all []string
	for _, l := range strings.Split(in, "\n") {
		l = strings.TrimSuffix(l, "\r")
		if l == "" {
			continue
		}
		all = append(all, l)
		if _, ok := LineTime(typ, l); ok {
			timed = append(timed, l)
		}
	}
	var got []string
	sent := 0
	for i, s := range segs {
		if s.Index != i {
			t.Fatalf("segment %d has index %d", i, s.Index)
		}
		if len(s.Lines) == 0 {
			t.Fatalf("segment %d is empty", i)
		}
		first, _ := LineTime(typ, s.Lines[0])
		if !s.Time.Equal(first) {
			t.Fatalf("segment %d: time %v, its first line's %v", i, s.Time, first)
		}
		for _, l := range s.Lines {
			lt, _ := LineTime(typ, l)
			if lt.Truncate(time.Hour) != first.Truncate(time.Hour) {
				t.Fatalf("segment %d mixes hours: %v and %v", i, first, lt)
			}
		}
		if n := ChunkSize(s.Lines); n > budget {
			t.Fatalf("segment %d: %d bytes, budget %d", i, n, budget)
		}
		b, err := EncodeChunk(s.Lines)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > budget {
			t.Fatalf("segment %d encodes to %d bytes, budget %d", i, len(b), budget)
		}
		got = append(got, s.Lines...)
		sent += len(s.Lines)
	}
	// Rejected lines are the ones too large alone; the rest are sent, in
	// order.
	var wantSent, wantRejected []string
	for _, l := range timed {
		if ChunkSize([]string{l}) > budget {
			wantRejected = append(wantRejected, l)
		} else {
			wantSent = append(wantSent, l)
		}
	}
	if !slices.Equal(got, wantSent) {
		t.Fatalf("segments hold %q\nwant %q", got, wantSent)
	}
	if !slices.Equal(rejected, wantRejected) {
		t.Fatalf("rejected %q, want %q", rejected, wantRejected)
	}
	want := SplitStats{Lines: len(all), Segments: len(segs), Sent: sent, Skipped: len(all) - len(timed), Rejected: len(wantRejected)}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if st.Lines != st.Sent+st.Skipped+st.Rejected {
		t.Fatalf("stats %+v do not add up", st)
	}
}

// Small budgets cut each hour into several segments, each as large as
// the budget allows (the next line would not have fit), none lost.
func TestSplitBudget(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "nfdump_spot_output.csv"))
	if err != nil {
		t.Fatal(err)
	}
	records, err := os.ReadFile(filepath.Join("testdata", "flow_records.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(records), "\n"), "\n")
	// Single lines take 121 to 141 bytes.
	for _, budget := range []int{120, 128, 129, 130, 141, 200, 256, 300, 512, 1000, 1024, 2287, 2288, 4096} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			segs, rejected, st := splitAll(t, Flow, budget, string(in))
			checkSegments(t, Flow, budget, string(in), segs, rejected, st)
			for i := 0; i+1 < len(segs); i++ {
				s, next := segs[i], segs[i+1].Lines[0]
				sameHour := s.Time.Truncate(time.Hour) == segs[i+1].Time.Truncate(time.Hour)
				if sameHour && ChunkSize(append(slices.Clone(s.Lines), next)) <= budget {
					t.Errorf("segment %d ends early: the next line fits", i)
				}
			}
			if budget >= 2288 && len(segs) != 2 {
				t.Errorf("%d segments, want 2 (by hour)", len(segs))
			}
			if budget < 2288 && len(segs) < 3 && len(rejected) == 0 {
				t.Errorf("%d segments, want the first hour cut by size", len(segs))
			}
		})
	}
	// The first hour's chunk takes exactly 2288 bytes: one byte less
	// cuts it.
	if n := ChunkSize(lines[:18]); n != 2288 {
		t.Fatalf("the first hour takes %d bytes", n)
	}
}

// A line that does not fit even alone goes to OnReject with its line
// number, and the others are still sent; without OnReject it is an
// error.
func TestSplitRejects(t *testing.T) {
	long := "2016-08-17 10:58:04," + strings.Repeat("x", 300)
	in := "2016-08-17 10:58:03,a\n\n" + long + "\n2016-08-17 10:58:05,b\n"
	var segs []Segment
	type rej struct {
		n    int
		line string
	}
	var rejected []rej
	st, err := Splitter{
		Type: Flow, Budget: 200,
		OnSegment: func(s Segment) error { segs = append(segs, s); return nil },
		OnReject:  func(n int, line string) error { rejected = append(rejected, rej{n, line}); return nil },
	}.Split(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || rejected[0] != (rej{3, long}) {
		t.Errorf("rejected %v, want line 3", rejected)
	}
	if len(segs) != 1 || !slices.Equal(segs[0].Lines, []string{"2016-08-17 10:58:03,a", "2016-08-17 10:58:05,b"}) {
		t.Errorf("segments %+v", segs)
	}
	if st != (SplitStats{Lines: 3, Segments: 1, Sent: 2, Rejected: 1}) {
		t.Errorf("stats %+v", st)
	}

	_, err = Splitter{Type: Flow, Budget: 200, OnSegment: func(Segment) error { return nil }}.Split(strings.NewReader(in))
	if !errors.Is(err, ErrLineTooLarge) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("without OnReject: %v, want ErrLineTooLarge naming line 3", err)
	}
	boom := errors.New("boom")
	_, err = Splitter{Type: Flow, Budget: 200, OnSegment: func(Segment) error { return boom }}.Split(strings.NewReader("2016-08-17 10:58:03,a\n"))
	if !errors.Is(err, boom) {
		t.Errorf("OnSegment's error: got %v", err)
	}
	if _, err := (Splitter{Type: "netflow", Budget: 200, OnSegment: func(Segment) error { return nil }}).Split(strings.NewReader(in)); err == nil {
		t.Errorf("unknown type: no error")
	}
}

func TestLineTime(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		typ  Type
		line string
		want time.Time // zero: no time
	}{
		{Flow, "2016-08-17 10:58:03,2016,8,17,10,58,3,1.524", ts("2016-08-17T10:58:03Z")},
		{Flow, "2016-08-17 10:58:03", ts("2016-08-17T10:58:03Z")},
		{Flow, FlowHeader, time.Time{}},
		{Flow, "Summary", time.Time{}},
		{Flow, "20,2603440,1896,173952,15,1373", time.Time{}},
		{Flow, " 2016-08-17 10:58:03,x", time.Time{}},
		{Flow, "2016-08-17 10:58:03.5,x", time.Time{}},
		{Flow, "2016-02-30 10:58:03,x", time.Time{}},
		{Flow, "2016-02-29 23:59:59,x", ts("2016-02-29T23:59:59Z")},
		{Flow, "2016-08-17T10:58:03,x", time.Time{}},
		{DNS, "Aug  7, 2016 10:58:03.124456000 UTC,1470567483.124456000,91,10.0.0.53,10.1.1.23,www.example.com,1,0x0001,0,192.0.2.1", ts("2016-08-07T10:58:03.124456Z")},
		{DNS, "a,b,1470567483", ts("2016-08-07T10:58:03Z")},
		{DNS, "a,b,1470567483.1", ts("2016-08-07T10:58:03.1Z")},
		{DNS, "frame.time,frame.time_epoch,frame.len,ip.src,ip.dst", time.Time{}},
		{DNS, "a,b,1470567483.1234567890,c", time.Time{}},
		{DNS, "a,b,1470567483.,c", time.Time{}},
		{DNS, "a,b,,c", time.Time{}},
		{DNS, "a,b", time.Time{}},
		{DNS, "1470567483.124456000", time.Time{}},
		{Proxy, `2016-08-17 10:58:03 34 10.1.1.23 - - - OBSERVED "Technology/Internet" - 200 TCP_NC_MISS GET text/html http www.example.com 80 / - - "Mozilla/5.0" 192.0.2.1 1024 512 - "none" "none"`, ts("2016-08-17T10:58:03Z")},
		{Proxy, "2016-08-17 23:00:00", ts("2016-08-17T23:00:00Z")},
		{Proxy, "#Fields: date time time-taken c-ip", time.Time{}},
		{Proxy, "2016-08-17  10:58:03 34", time.Time{}},
		{Proxy, "2016-08-17 10:58 34", time.Time{}},
		{"netflow", "2016-08-17 10:58:03,x", time.Time{}},
	} {
		got, ok := LineTime(tc.typ, tc.line)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) || ok && got.Location() != time.UTC {
			t.Errorf("LineTime(%s, %q) = %v, %v; want %v", tc.typ, tc.line, got, ok, tc.want)
		}
	}
}

// tshark's output splits by the epoch's UTC hour; its header is skipped.
func TestSplitDNS(t *testing.T) {
	in := "frame.time,frame.time_epoch,frame.len,ip.src,ip.dst,dns.resp.name,dns.resp.type,dns.resp.class,dns.flags.rcode,dns.a\n" +
		"Aug  7, 2016 10:58:03.124456000 UTC,1470567483.124456000,91,10.0.0.53,10.1.1.23,www.example.com,1,0x0001,0,192.0.2.1\n" +
		"Aug  7, 2016 10:59:59.999999000 UTC,1470567599.999999000,89,10.0.0.53,10.1.1.23,b.example.org,1,0x0001,0,192.0.2.2\n" +
		"Aug  7, 2016 11:00:00.000001000 UTC,1470567600.000001000,89,10.0.0.53,10.1.1.23,c.example.org,1,0x0001,3,\n"
	segs, rejected, st := splitAll(t, DNS, 1000, in)
	checkSegments(t, DNS, 1000, in, segs, rejected, st)
	if len(segs) != 2 || len(segs[0].Lines) != 2 || st.Skipped != 1 {
		t.Fatalf("segments %+v, stats %+v", segs, st)
	}
	if got := segs[0].Time.UnixMilli(); got != 1470567483124 {
		t.Errorf("first timestamp %d ms", got)
	}
	if got := segs[1].Time.UnixMilli(); got != 1470567600000 {
		t.Errorf("second timestamp %d ms", got)
	}
}

// Bluecoat lines split by the hour of their first two tokens; comment
// lines are skipped.
func TestSplitProxy(t *testing.T) {
	in := "#Software: SGOS 6.5.4.4\n#Fields: date time time-taken c-ip\n" +
		`2016-08-17 10:58:03 34 10.1.1.23 - - - OBSERVED "Technology/Internet" - 200 TCP_NC_MISS GET text/html http www.example.com 80 / - - "Mozilla/5.0" 192.0.2.1 1024 512 - "none" "none"` + "\r\n" +
		`2016-08-17 10:59:59 12 10.1.1.24 - - - OBSERVED "News" - 200 TCP_HIT GET text/html http news.example.com 80 /a ?b=1 - "curl/7.50" 192.0.2.2 2048 256 - "none" "none"` + "\r\n" +
		`2016-08-17 12:00:00 1 10.1.1.25 - - - DENIED "Games" - 403 TCP_DENIED GET text/html http games.example.com 80 / - - "Mozilla/5.0" 192.0.2.3 100 50 - "none" "none"` + "\r\n"
	segs, rejected, st := splitAll(t, Proxy, 4096, in)
	checkSegments(t, Proxy, 4096, in, segs, rejected, st)
	if len(segs) != 2 || st.Skipped != 2 || strings.HasSuffix(segs[0].Lines[0], "\r") {
		t.Fatalf("segments %+v, stats %+v", segs, st)
	}
	if got := segs[1].Time; !got.Equal(time.Date(2016, 8, 17, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("second segment time %v", got)
	}
}

// Lines of one hour that come back after another hour start a new
// segment: the split follows the file's order, as Spot's does.
func TestSplitHourChangesBack(t *testing.T) {
	in := "2016-08-17 10:00:00,a\n2016-08-17 11:00:00,b\n2016-08-17 10:30:00,c\n2016-08-17 10:31:00,d\n"
	segs, rejected, st := splitAll(t, Flow, 1000, in)
	checkSegments(t, Flow, 1000, in, segs, rejected, st)
	if len(segs) != 3 || len(segs[2].Lines) != 2 {
		t.Fatalf("segments %+v", segs)
	}
}

// BenchmarkSplit splits 100,000 flow records into 1 MiB chunks.
func BenchmarkSplit(b *testing.B) {
	records, err := os.ReadFile(filepath.Join("testdata", "flow_records.csv"))
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(records, 5000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		st, err := Splitter{Type: Flow, Budget: ChunkBudget(1 << 20), OnSegment: func(Segment) error { return nil }}.Split(bytes.NewReader(data))
		if err != nil || st.Sent != 100000 {
			b.Fatal(st, err)
		}
	}
}

func FuzzSplit(f *testing.F) {
	records, err := os.ReadFile(filepath.Join("testdata", "nfdump_spot_output.csv"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(records, uint8(0), uint16(1000))
	f.Add([]byte("a,b,1470567483.124456000\nx\n\r\na,b,1470571083.5\n"), uint8(1), uint16(40))
	f.Add([]byte("2016-08-17 10:58:03 a b\n2016-08-17 11:58:03 c\n"), uint8(2), uint16(10))
	f.Fuzz(func(t *testing.T, in []byte, typ uint8, budget uint16) {
		ty := Types[int(typ)%len(Types)]
		segs, rejected, st := splitAll(t, ty, int(budget), string(in))
		checkSegments(t, ty, int(budget), string(in), segs, rejected, st)
	})
}
