package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	if r := l.Recovery(); r.Records != 0 || r.NextSeq != 1 || r.Truncated != nil || r.Segments != 1 {
		t.Fatalf("new log: report %+v", r)
	}
	const n = 200
	seqs := appendN(t, l, n)
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("record %d got seq %d", i, seq)
		}
	}
	big := bytes.Repeat([]byte("big"), 100_000)
	seq, err := l.Append(big)
	if err != nil || seq != n+1 {
		t.Fatalf("Append big: %d, %v", seq, err)
	}
	want := append(makeRecords(1, n), record{n + 1, big})
	sameRecords(t, scanAll(t, l), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir)
	r := l.Recovery()
	if r.Records != n+1 || r.FirstSeq != 1 || r.LastSeq != n+1 || r.NextSeq != n+2 || r.Truncated != nil {
		t.Fatalf("report %+v", r)
	}
	if !strings.Contains(r.String(), "recovered 201 records (seqs 1-201)") {
		t.Errorf("report string %q", r)
	}
	sameRecords(t, scanAll(t, l), want)
	for _, w := range want {
		got, err := l.Read(w.seq)
		if err != nil || !bytes.Equal(got, w.payload) {
			t.Fatalf("Read(%d) = %d bytes, %v", w.seq, len(got), err)
		}
	}
	for _, seq := range []uint64{0, n + 2, 1 << 40} {
		if _, err := l.Read(seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Read(%d): %v, want ErrNotFound", seq, err)
		}
	}
	seq, err = l.Append([]byte("after reopen"))
	if err != nil || seq != n+2 {
		t.Fatalf("Append after reopen: %d, %v", seq, err)
	}
	l.Close()

	l = openLog(t, dir)
	want = append(want, record{n + 2, []byte("after reopen")})
	sameRecords(t, scanAll(t, l), want)
	recs, err := verifyDir(dir, DefaultCodec)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, recs, want)
}

func TestAppendCopiesPayload(t *testing.T) {
	l := openLog(t, t.TempDir())
	p := []byte("hello")
	seq, err := l.Append(p)
	if err != nil {
		t.Fatal(err)
	}
	copy(p, "HELLO")
	got, err := l.Read(seq)
	if err != nil || string(got) != "hello" {
		t.Fatalf("Read = %q, %v", got, err)
	}
}

func TestScanFromAndStop(t *testing.T) {
	l := openLog(t, t.TempDir(), SegmentBytes(500))
	appendN(t, l, 50)
	var got []uint64
	err := l.Scan(20, func(seq uint64, p []byte) error {
		if !bytes.Equal(p, payloadFor(int(seq-1))) {
			return fmt.Errorf("seq %d: wrong payload", seq)
		}
		got = append(got, seq)
		return nil
	})
	if err != nil || len(got) != 31 || got[0] != 20 || got[30] != 50 {
		t.Fatalf("Scan(20): %v, %v", got, err)
	}
	stop := errors.New("stop")
	n := 0
	err = l.Scan(1, func(uint64, []byte) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5 {
		t.Fatalf("Scan stop: %v after %d", err, n)
	}
	if err := l.Scan(51, func(uint64, []byte) error { return errors.New("called") }); err != nil {
		t.Fatalf("Scan past the end: %v", err)
	}
}

func TestSegmentsAndRemoveBefore(t *testing.T) {
	dir := t.TempDir()
	const segBytes = 600
	l := openLog(t, dir, SegmentBytes(segBytes))
	appendN(t, l, 60)
	paths := segmentPaths(t, dir)
	if len(paths) < 5 {
		t.Fatalf("%d segments, want several", len(paths))
	}
	// Each segment's size stays within the limit unless one record alone
	// exceeds it, and segment names are their first seqs.
	for _, s := range l.segs {
		if s.size > segBytes && s.count() > 1 {
			t.Errorf("%s: %d bytes, %d records", s.path, s.size, s.count())
		}
		if filepath.Base(s.path) != segmentName(s.first) {
			t.Errorf("%s holds records from %d", s.path, s.first)
		}
	}
	if st := l.Stats(); st.Segments != len(paths) || st.FirstSeq != 1 || st.LastSeq != 60 || st.NextSeq != 61 || st.Appends != 60 {
		t.Fatalf("stats %+v", st)
	}

	// Remove below a seq in the middle of a segment with several records:
	// the segments before it go, it stays.
	k := 2
	for l.segs[k].count() < 2 {
		k++
	}
	third := l.segs[k]
	cutSeq := third.first + 1
	if err := l.RemoveBefore(cutSeq); err != nil {
		t.Fatal(err)
	}
	if got := segmentPaths(t, dir); len(got) != len(paths)-k || got[0] != third.path {
		t.Fatalf("after RemoveBefore(%d): %v", cutSeq, got)
	}
	for seq := uint64(1); seq < third.first; seq++ {
		if _, err := l.Read(seq); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Read(%d) of a removed record: %v", seq, err)
		}
	}
	for seq := third.first; seq <= 60; seq++ {
		if p, err := l.Read(seq); err != nil || !bytes.Equal(p, payloadFor(int(seq-1))) {
			t.Fatalf("Read(%d): %v", seq, err)
		}
	}
	// Removing below the first seq of a segment removes the one before it,
	// and no more.
	if err := l.RemoveBefore(l.segs[1].first); err != nil {
		t.Fatal(err)
	}
	if got := segmentPaths(t, dir); got[0] != l.segs[0].path || len(got) != len(paths)-k-1 {
		t.Fatalf("after second RemoveBefore: %v", got)
	}
	first := l.segs[0].first
	l.Close()

	l = openLog(t, dir, SegmentBytes(segBytes))
	r := l.Recovery()
	if r.Truncated != nil || r.FirstSeq != first || r.LastSeq != 60 || r.NextSeq != 61 {
		t.Fatalf("report after reopen: %+v", r)
	}
	sameRecords(t, scanAll(t, l), makeRecords(1, 60)[first-1:])

	// The segment being appended to always stays.
	if err := l.RemoveBefore(1 << 40); err != nil {
		t.Fatal(err)
	}
	if got := segmentPaths(t, dir); len(got) != 1 {
		t.Fatalf("after RemoveBefore(all): %v", got)
	}
	last := l.segs[0]
	sameRecords(t, scanAll(t, l), makeRecords(1, 60)[last.first-1:])
	seq, err := l.Append([]byte("x"))
	if err != nil || seq != 61 {
		t.Fatalf("Append: %d, %v", seq, err)
	}
}

func TestNextSeqSurvivesRemovingEverything(t *testing.T) {
	// After a truncation the active segment starts empty; removing every
	// other segment leaves it alone, and its header keeps the next seq.
	dir := t.TempDir()
	l := openLog(t, dir, SegmentBytes(300), noSync())
	appendN(t, l, 20)
	l.Close()
	paths := segmentPaths(t, dir)
	last := paths[len(paths)-1]
	info, _ := os.Stat(last)
	if err := os.Truncate(last, info.Size()-3); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, SegmentBytes(300), noSync())
	next := l.Recovery().NextSeq
	if next <= 20 {
		t.Fatalf("next seq %d after dropping seq 20", next)
	}
	if err := l.RemoveBefore(1 << 40); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLog(t, dir, SegmentBytes(300), noSync())
	if r := l.Recovery(); r.NextSeq != next || r.Records != 0 || r.Truncated != nil {
		t.Fatalf("report %+v, want next seq %d", r, next)
	}
	if seq, err := l.Append(nil); err != nil || seq != next {
		t.Fatalf("Append: %d, %v", seq, err)
	}
}

// buildLog writes a log of n records with the given segment size into a
// new directory and returns it with each record's segment path and
// offset.
func buildLog(t *testing.T, n int, segBytes int64) (dir string, where []struct {
	path     string
	off, end int64
}) {
	t.Helper()
	dir = t.TempDir()
	l := openLog(t, dir, SegmentBytes(segBytes), noSync())
	appendN(t, l, n)
	for _, s := range l.segs {
		for i, off := range s.offs {
			end := s.size
			if i+1 < len(s.offs) {
				end = s.offs[i+1]
			}
			where = append(where, struct {
				path     string
				off, end int64
			}{s.path, off, end})
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, where
}

func TestTornTail(t *testing.T) {
	const n = 30
	src, where := buildLog(t, n, 2000)
	paths := segmentPaths(t, src)
	if len(paths) < 3 {
		t.Fatalf("want at least 3 segments, have %d", len(paths))
	}
	lastPath := paths[len(paths)-1]
	info, err := os.Stat(lastPath)
	if err != nil {
		t.Fatal(err)
	}
	// Records in the last segment, and its header size.
	var inLast []int
	for i, w := range where {
		if w.path == lastPath {
			inLast = append(inLast, i)
		}
	}
	hdrSize := where[inLast[0]].off
	if len(inLast) < 3 {
		t.Fatalf("only %d records in the last segment", len(inLast))
	}

	for cut := int64(0); cut <= info.Size(); cut++ {
		// Records complete before the cut, and whether the cut is clean.
		keep := inLast[0]
		clean := cut == hdrSize
		for _, i := range inLast {
			if where[i].end <= cut {
				keep = i + 1
			}
			clean = clean || where[i].end == cut
		}
		var kind string
		switch {
		case cut < hdrSize:
			kind = "mid-header"
		case clean:
			kind = "record boundary"
		case cut-where[keep].off < frameHeaderSize:
			kind = "mid-record-header"
		default:
			kind = "mid-payload"
		}
		t.Run(fmt.Sprintf("cut%d_%s", cut, kind), func(t *testing.T) {
			dir := copyDir(t, src)
			p := filepath.Join(dir, filepath.Base(lastPath))
			if err := os.Truncate(p, cut); err != nil {
				t.Fatal(err)
			}
			l := openLog(t, dir, SegmentBytes(2000), noSync())
			r := l.Recovery()
			if r.Records != int64(keep) || (keep > 0 && r.LastSeq != uint64(keep)) {
				t.Fatalf("recovered %d records up to %d, want %d: %v", r.Records, r.LastSeq, keep, r)
			}
			if clean {
				if r.Truncated != nil || r.NextSeq != uint64(keep+1) {
					t.Fatalf("clean cut reported %v", r)
				}
			} else {
				tr := r.Truncated
				if tr == nil {
					t.Fatalf("torn tail not reported: %v", r)
				}
				if tr.File != p {
					t.Fatalf("truncation %+v", tr)
				}
				if cut < hdrSize {
					if tr.Offset != 0 || len(tr.Removed) != 1 || tr.Removed[0] != p || tr.BytesDropped != cut {
						t.Fatalf("torn header: %+v", tr)
					}
				} else if tr.Offset != where[keep].off || tr.BytesDropped != cut-where[keep].off || len(tr.Removed) != 0 {
					t.Fatalf("torn record: %+v, want offset %d", tr, where[keep].off)
				}
				if r.NextSeq <= uint64(keep) {
					t.Fatalf("next seq %d reuses a seq", r.NextSeq)
				}
			}
			sameRecords(t, scanAll(t, l), makeRecords(1, keep))
			if recs, err := verifyDir(dir, DefaultCodec); err != nil || len(recs) != keep {
				t.Fatalf("after recovery: %d records, %v", len(recs), err)
			}
			seq, err := l.Append([]byte("new"))
			if err != nil || seq != r.NextSeq {
				t.Fatalf("Append after recovery: %d, %v (next %d)", seq, err, r.NextSeq)
			}
			if seq <= uint64(keep) {
				t.Fatalf("seq %d reused after a truncation", seq)
			}
			l.Close()

			l = openLog(t, dir, SegmentBytes(2000), noSync())
			r2 := l.Recovery()
			if r2.Truncated != nil || r2.Records != int64(keep+1) || r2.LastSeq != seq {
				t.Fatalf("second reopen: %v", r2)
			}
			want := append(makeRecords(1, keep), record{seq, []byte("new")})
			sameRecords(t, scanAll(t, l), want)
			if p, err := l.Read(seq); err != nil || string(p) != "new" {
				t.Fatalf("Read(%d) = %q, %v", seq, p, err)
			}
		})
	}
}

func TestCorruption(t *testing.T) {
	const n = 40
	src, where := buildLog(t, n, 1500)
	paths := segmentPaths(t, src)
	if len(paths) < 4 {
		t.Fatalf("want at least 4 segments, have %d", len(paths))
	}
	// A record in the middle of the second segment.
	var victim int
	var inSecond []int
	for i, w := range where {
		if w.path == paths[1] {
			inSecond = append(inSecond, i)
		}
	}
	victim = inSecond[len(inSecond)/2]
	w := where[victim]
	if w.end-w.off <= frameHeaderSize {
		victim++ // want a record with a payload
		w = where[victim]
	}

	cases := []struct {
		name   string
		off    int64 // byte to flip, relative to the record
		reason string
	}{
		{"length", 1, "length"},
		{"checksum", 5, "checksum"},
		{"seq", 9, "checksum"},
		{"payload", frameHeaderSize, "checksum"},
		{"last payload byte", w.end - w.off - 1, "checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, src)
			p := filepath.Join(dir, filepath.Base(w.path))
			flipByte(t, p, w.off+c.off)
			l := openLog(t, dir, noSync())
			r := l.Recovery()
			if r.Records != int64(victim) || r.LastSeq != uint64(victim) {
				t.Fatalf("recovered %v, want %d records", r, victim)
			}
			tr := r.Truncated
			if tr == nil || tr.File != p || tr.Offset != w.off || !strings.Contains(tr.Reason, c.reason) {
				t.Fatalf("truncation %+v, want %s at %d (%s)", tr, p, w.off, c.reason)
			}
			var removed []string
			for _, q := range paths[2:] {
				removed = append(removed, filepath.Join(dir, filepath.Base(q)))
			}
			if fmt.Sprint(tr.Removed) != fmt.Sprint(removed) {
				t.Fatalf("removed %v, want %v", tr.Removed, removed)
			}
			for _, q := range removed {
				if _, err := os.Stat(q); !os.IsNotExist(err) {
					t.Fatalf("%s not removed", q)
				}
			}
			sameRecords(t, scanAll(t, l), makeRecords(1, victim))
			seq, err := l.Append([]byte("after"))
			if err != nil || seq <= n {
				t.Fatalf("Append after corruption: seq %d (dropped records went to %d), %v", seq, n, err)
			}
			l.Close()
			l = openLog(t, dir, noSync())
			if r := l.Recovery(); r.Truncated != nil || r.Records != int64(victim+1) {
				t.Fatalf("reopen: %v", r)
			}
			if _, err := verifyDir(dir, DefaultCodec); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("segment header", func(t *testing.T) {
		for _, off := range []int64{0, 9, 13, 21, 30} { // magic, version high byte, first, prev, codec
			dir := copyDir(t, src)
			p := filepath.Join(dir, filepath.Base(paths[2]))
			flipByte(t, p, off)
			l, err := Open(dir, noSync())
			if off == 9 {
				if !errors.Is(err, ErrUnknownVersion) {
					t.Fatalf("flipped version: %v", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("offset %d: %v", off, err)
			}
			r := l.Recovery()
			want := 0
			for _, w := range where {
				if w.path < paths[2] {
					want++
				}
			}
			if r.Records != int64(want) || r.Truncated == nil || r.Truncated.File != p || r.Truncated.Offset != 0 || r.Truncated.Removed[0] != p {
				t.Fatalf("offset %d: %v", off, r)
			}
			l.Close()
		}
	})

	t.Run("missing segment", func(t *testing.T) {
		dir := copyDir(t, src)
		if err := os.Remove(filepath.Join(dir, filepath.Base(paths[1]))); err != nil {
			t.Fatal(err)
		}
		l := openLog(t, dir, noSync())
		r := l.Recovery()
		if r.Truncated == nil || !strings.Contains(r.Truncated.Reason, "gap") || r.Records != int64(inSecond[0]) {
			t.Fatalf("report %v", r)
		}
		seq, err := l.Append(nil)
		if err != nil || seq <= n {
			t.Fatalf("Append: %d, %v", seq, err)
		}
	})

	t.Run("garbage after the last record", func(t *testing.T) {
		dir := copyDir(t, src)
		p := filepath.Join(dir, filepath.Base(paths[len(paths)-1]))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(make([]byte, 100)) // a preallocated, zero-filled tail
		f.Close()
		l := openLog(t, dir, noSync())
		if r := l.Recovery(); r.Records != n || r.Truncated == nil || r.Truncated.BytesDropped != 100 {
			t.Fatalf("report %v", r)
		}
	})
}

// flipByte inverts the bits of the byte at off in the file at path.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCrashWhileCreatingSegment(t *testing.T) {
	dir, _ := buildLog(t, 10, 1<<20)
	// A roll that crashed after creating the file, before its header was
	// complete.
	torn := segmentHeader{version: formatVersion, codec: DefaultCodec, first: 11, prev: 10}.marshal()[:20]
	p := filepath.Join(dir, segmentName(11))
	if err := os.WriteFile(p, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, noSync())
	r := l.Recovery()
	if r.Records != 10 || r.Truncated == nil || r.Truncated.File != p || !strings.Contains(r.Truncated.Reason, "short segment header") {
		t.Fatalf("report %v", r)
	}
	if seq, err := l.Append([]byte("x")); err != nil || seq <= 10 {
		t.Fatalf("Append: %d, %v", seq, err)
	}
}

func TestForeignFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"README", "log-1", "log-0000000000000000000x", "log-99999999999999999999"} {
		os.WriteFile(filepath.Join(dir, name), []byte("not a segment"), 0o644)
	}
	l := openLog(t, dir)
	appendN(t, l, 3)
	l.Close()
	l = openLog(t, dir)
	if r := l.Recovery(); r.Records != 3 || r.Truncated != nil {
		t.Fatalf("report %v", r)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "README")); err != nil || string(b) != "not a segment" {
		t.Fatalf("foreign file touched: %q, %v", b, err)
	}
}

func TestCodecMismatch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Codec("avro:Event/1"))
	appendN(t, l, 3)
	l.Close()
	before := snapshotDir(t, dir)
	_, err := Open(dir, Codec("gob"))
	if !errors.Is(err, ErrCodecMismatch) || !strings.Contains(err.Error(), `"avro:Event/1"`) || !strings.Contains(err.Error(), `"gob"`) {
		t.Fatalf("Open with another codec: %v", err)
	}
	sameDir(t, dir, before)
	l = openLog(t, dir, Codec("avro:Event/1"))
	if r := l.Recovery(); r.Records != 3 {
		t.Fatalf("report %v", r)
	}
}

func TestUnknownVersion(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendN(t, l, 3)
	l.Close()
	p := segmentPaths(t, dir)[0]
	b, _ := os.ReadFile(p)
	binary.LittleEndian.PutUint16(b[8:], 7)
	os.WriteFile(p, b, 0o644)
	before := snapshotDir(t, dir)
	_, err := Open(dir)
	if !errors.Is(err, ErrUnknownVersion) || !strings.Contains(err.Error(), "version 7") || !strings.Contains(err.Error(), p) {
		t.Fatalf("Open: %v", err)
	}
	sameDir(t, dir, before)
}

func TestOptionErrors(t *testing.T) {
	for _, opt := range []Option{Codec(""), Codec(strings.Repeat("x", 256)), SegmentBytes(0), MaxRecordBytes(0), MaxRecordBytes(-1)} {
		if _, err := Open(t.TempDir(), opt); err == nil {
			t.Errorf("option accepted")
		}
	}
}

func TestMaxRecordBytes(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, MaxRecordBytes(100))
	if _, err := l.Append(make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append 101 bytes: %v", err)
	}
	if _, err := l.Append(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// An intact record above the limit is not dropped as corruption.
	before := snapshotDir(t, dir)
	if _, err := Open(dir, MaxRecordBytes(50)); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "MaxRecordBytes") {
		t.Fatalf("Open with a smaller limit: %v", err)
	}
	sameDir(t, dir, before)
	// A damaged length above the limit is corruption.
	p := segmentPaths(t, dir)[0]
	b, _ := os.ReadFile(p)
	hdr := len(b) - 116
	binary.LittleEndian.PutUint32(b[hdr:], 1000)
	b = append(b, make([]byte, 1000)...)
	os.WriteFile(p, b, 0o644)
	l = openLog(t, dir, MaxRecordBytes(100))
	if r := l.Recovery(); r.Records != 0 || r.Truncated == nil || !strings.Contains(r.Truncated.Reason, "exceeds the maximum") {
		t.Fatalf("report %v", r)
	}
}

func TestClosed(t *testing.T) {
	l, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(nil); err != ErrClosed {
		t.Errorf("Append: %v", err)
	}
	if _, err := l.Read(1); err != ErrClosed {
		t.Errorf("Read: %v", err)
	}
	if err := l.Scan(0, func(uint64, []byte) error { return nil }); err != ErrClosed {
		t.Errorf("Scan: %v", err)
	}
	if err := l.RemoveBefore(5); err != ErrClosed {
		t.Errorf("RemoveBefore: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSyncFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	var fail atomic.Bool
	boom := errors.New("disk on fire")
	failing := withSync(func(f *os.File) error {
		if fail.Load() {
			return boom
		}
		return f.Sync()
	})
	l, err := Open(dir, failing)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	fail.Store(true)
	if _, err := l.Append([]byte("lost?")); !errors.Is(err, boom) {
		t.Fatalf("Append with failing sync: %v", err)
	}
	fail.Store(false)
	if _, err := l.Append([]byte("later")); !errors.Is(err, boom) {
		t.Fatalf("Append after a failed sync: %v", err)
	}
	if err := l.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v", err)
	}
	l = openLog(t, dir)
	if r := l.Recovery(); r.Records < 3 || r.Truncated != nil {
		t.Fatalf("report %v", r)
	}
}

func TestConcurrentAppendsGroupCommit(t *testing.T) {
	dir := t.TempDir()
	// A slow disk: each fsync takes at least 200µs, as on real hardware,
	// so that writers pile up behind it whatever the test machine's disk.
	l := openLog(t, dir, SegmentBytes(8<<10), withSync(func(f *os.File) error {
		time.Sleep(200 * time.Microsecond)
		return f.Sync()
	}))
	before := l.Stats().Syncs
	const writers, each = 32, 60
	var wg sync.WaitGroup
	seqs := make([][]uint64, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				seq, err := l.Append(fmt.Appendf(nil, "w%d-%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				seqs[w] = append(seqs[w], seq)
			}
		}()
	}
	wg.Wait()
	st := l.Stats()
	syncs := st.Syncs - before
	t.Logf("%d appends, %d fsyncs (%.1f records per fsync), %d segments", writers*each, syncs, float64(writers*each)/float64(syncs), st.Segments)
	if syncs >= writers*each/2 {
		t.Errorf("%d fsyncs for %d concurrent appends: no group commit", syncs, writers*each)
	}
	want := map[uint64]string{}
	for w, ss := range seqs {
		for i, seq := range ss {
			if _, dup := want[seq]; dup {
				t.Fatalf("seq %d given twice", seq)
			}
			want[seq] = fmt.Sprintf("w%d-%d", w, i)
			if i > 0 && seq <= ss[i-1] {
				t.Fatalf("writer %d: seq %d after %d", w, seq, ss[i-1])
			}
		}
	}
	l.Close()
	l = openLog(t, dir)
	recs := scanAll(t, l)
	if len(recs) != writers*each {
		t.Fatalf("recovered %d records, want %d", len(recs), writers*each)
	}
	for i, r := range recs {
		if r.seq != uint64(i+1) || string(r.payload) != want[r.seq] {
			t.Fatalf("record %d: seq %d %q, want %q", i, r.seq, r.payload, want[r.seq])
		}
	}
}

func TestConcurrentReadScanRemove(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, SegmentBytes(2048), noSync())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if _, err := l.Append(concurrentPayload); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Readers check what they can still see.
	check := func(seq uint64, p []byte) error {
		if !bytes.Equal(p, concurrentPayload) {
			return fmt.Errorf("seq %d: wrong payload", seq)
		}
		return nil
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := l.Scan(0, check)
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
					return
				}
				st := l.Stats()
				for seq := st.FirstSeq; seq <= st.LastSeq && seq > 0; seq += 7 {
					p, err := l.Read(seq)
					if err == nil {
						err = check(seq, p)
					}
					if err != nil && !errors.Is(err, ErrNotFound) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := l.RemoveBefore(l.Stats().LastSeq / 2); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for l.Stats().Appends < 1200 && !t.Failed() {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir)
	r := l.Recovery()
	if r.Truncated != nil || r.LastSeq != 1200 {
		t.Fatalf("report %v", r)
	}
}

// concurrentPayload is the payload TestConcurrentReadScanRemove writes.
var concurrentPayload = []byte("concurrent record payload")

func TestCloseWhileAppending(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := l.Append([]byte("x")); err != nil {
					if err != ErrClosed {
						t.Error(err)
					}
					return
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	l = openLog(t, dir)
	// Every acknowledged append is there, and only those: an Append that
	// wrote its record before Close is synced by Close and succeeds.
	if r := l.Recovery(); r.Records != ok.Load() || r.Truncated != nil {
		t.Fatalf("recovered %v, %d appends acknowledged", r, ok.Load())
	}
}

func TestReadDetectsLaterDamage(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	appendN(t, l, 5)
	seg := l.segs[0]
	off := seg.offs[3] + frameHeaderSize // the payload of seq 4
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x5a}, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := l.Read(4); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a damaged record: %v", err)
	}
	if _, err := l.Read(3); err != nil {
		t.Fatalf("Read of an intact record: %v", err)
	}
	n := 0
	err = l.Scan(1, func(uint64, []byte) error { n++; return nil })
	if !errors.Is(err, ErrCorrupt) || n != 3 {
		t.Fatalf("Scan over a damaged record: %v after %d records", err, n)
	}
}

func TestFailedRollIsRetried(t *testing.T) {
	dir := t.TempDir()
	var failDir atomic.Bool
	l := openLog(t, dir, SegmentBytes(100), withSync(func(f *os.File) error {
		if info, err := f.Stat(); err == nil && info.IsDir() && failDir.Load() {
			return errors.New("directory sync failed")
		}
		return f.Sync()
	}))
	appendN(t, l, 2) // two small records in the first segment; the next needs a new one
	failDir.Store(true)
	if _, err := l.Append(make([]byte, 200)); err == nil {
		t.Fatal("Append succeeded though the new segment could not be made durable")
	}
	failDir.Store(false)
	seq, err := l.Append(make([]byte, 200))
	if err != nil || seq != 3 {
		t.Fatalf("Append after a failed roll: %d, %v", seq, err)
	}
	l.Close()
	l = openLog(t, dir)
	if r := l.Recovery(); r.Truncated != nil || r.Records != 3 {
		t.Fatalf("report %v", r)
	}
}
