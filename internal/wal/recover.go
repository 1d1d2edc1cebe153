package wal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Report describes what Open recovered, for the caller to log.
type Report struct {
	// Segments is the number of segment files after recovery.
	Segments int
	// Records is the number of records recovered.
	Records int64
	// FirstSeq and LastSeq are the lowest and highest recovered seqs, both
	// 0 when no record was recovered.
	FirstSeq, LastSeq uint64
	// NextSeq is the seq the next Append gets. After a truncation it skips
	// every seq the dropped bytes might have held.
	NextSeq uint64
	// Truncated describes the data dropped, nil when the log was intact.
	Truncated *Truncation
}

// Truncation describes where recovery cut the log and what it dropped.
type Truncation struct {
	// File is the segment file where the first bad data was found.
	File string
	// Offset is the offset in File of the first bad byte: the file was cut
	// there, or removed whole when the problem is in its header (Offset 0).
	Offset int64
	// Reason says what was wrong.
	Reason string
	// BytesDropped is the number of bytes dropped: the rest of File and
	// every later segment file.
	BytesDropped int64
	// Removed lists the segment files removed whole: File itself if its
	// header was bad, and every later segment (the log stays a contiguous
	// run of records, even when later segments look intact).
	Removed []string
}

// String returns a one-line summary of the report.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "recovered %d records", r.Records)
	if r.Records > 0 {
		fmt.Fprintf(&b, " (seqs %d-%d)", r.FirstSeq, r.LastSeq)
	}
	fmt.Fprintf(&b, " in %d segments, next seq %d", r.Segments, r.NextSeq)
	if t := r.Truncated; t != nil {
		fmt.Fprintf(&b, "; truncated %s at offset %d (%s), dropping %d bytes", t.File, t.Offset, t.Reason, t.BytesDropped)
		if len(t.Removed) > 0 {
			fmt.Fprintf(&b, " and removing %s", strings.Join(t.Removed, ", "))
		}
	}
	return b.String()
}

// segmentFile is a segment file found in the log's directory.
type segmentFile struct {
	// path is the file's path.
	path string
	// seq is the first seq in its name.
	seq uint64
	// size is its length in bytes.
	size int64
}

// badSpot is where recovery found the first bad data.
type badSpot struct {
	// index is the bad segment's index among the segment files.
	index int
	// whole is set when the segment's header is bad, so the whole file goes.
	whole bool
	// off is the offset of the first bad record (when !whole).
	off int64
	// reason says what was wrong.
	reason string
}

// listSegments returns the segment files in dir, in seq order. Files whose
// names are not segment names are ignored.
func listSegments(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(dir) // sorted by name: the seq order, as names have fixed width
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	var files []segmentFile
	for _, e := range entries {
		seq, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("wal: %w", err)
		}
		files = append(files, segmentFile{path: filepath.Join(dir, e.Name()), seq: seq, size: info.Size()})
	}
	return files, nil
}

// recover scans the segment files, keeps the valid prefix of the log in
// l.segs, cuts off the rest and fills l.report. Every check happens before
// any file is changed, so an error leaves the directory as it was.
func (l *Log) recover() error {
	files, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	var bad *badSpot
	for i := range files {
		var prev *segment
		if len(l.segs) > 0 {
			prev = l.segs[len(l.segs)-1]
		}
		seg, spot, err := l.scanSegment(&files[i], prev)
		if seg != nil {
			l.segs = append(l.segs, seg)
		}
		if err != nil {
			return err
		}
		if spot != nil {
			spot.index = i
			bad = spot
			break
		}
	}

	var lastValid uint64
	if n := len(l.segs); n > 0 {
		lastValid = l.segs[n-1].last()
	}
	var trunc *Truncation
	switch {
	case bad != nil:
		t, err := l.cut(files, bad, lastValid)
		if err != nil {
			return err
		}
		trunc = t
	case len(l.segs) == 0:
		seg, err := l.createSegment(1, 0)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, seg)
		l.nextSeq = 1
	default:
		// The last segment may hold records written but never synced by a
		// process that crashed, and its directory entry may not be durable
		// yet; the records are part of the log now, so make them durable.
		last := l.segs[len(l.segs)-1]
		if err := l.opts.sync(last.f); err != nil {
			return fmt.Errorf("wal: syncing %s: %w", last.path, err)
		}
		if err := l.syncDir(); err != nil {
			return fmt.Errorf("wal: syncing %s: %w", l.dir, err)
		}
		l.nextSeq = lastValid + 1
	}
	l.written, l.synced = lastValid, lastValid

	r := Report{Segments: len(l.segs), NextSeq: l.nextSeq, Truncated: trunc}
	for _, s := range l.segs {
		if s.count() == 0 {
			continue
		}
		if r.Records == 0 {
			r.FirstSeq = s.first
		}
		r.Records += int64(s.count())
		r.LastSeq = s.last()
	}
	l.report = r
	return nil
}

// scanSegment opens and checks one segment file whose predecessor (nil for
// the first) is prev. It returns the segment, with its index, unless its
// header is bad; the first bad spot, if any; and an error for problems
// that must stop recovery.
func (l *Log) scanSegment(sf *segmentFile, prev *segment) (*segment, *badSpot, error) {
	f, err := os.OpenFile(sf.path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	sf.size = info.Size()
	buf := make([]byte, min(sf.size, maxHeaderSize))
	if _, err := f.ReadAt(buf, 0); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: reading %s: %w", sf.path, unexpectedEOF(err))
	}
	h, hsize, problem, err := parseHeader(buf)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s", err, sf.path)
	}
	if problem == "" && h.codec != l.opts.codec {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s was written with codec %q, but the log is opened with codec %q", ErrCodecMismatch, sf.path, h.codec, l.opts.codec)
	}
	if problem == "" && h.first != sf.seq {
		problem = fmt.Sprintf("segment header says first seq %d, its name says %d", h.first, sf.seq)
	}
	if problem == "" && prev != nil && h.prev != prev.last() {
		problem = fmt.Sprintf("sequence gap: the segment follows seq %d, the previous segment ends at seq %d", h.prev, prev.last())
	}
	if problem != "" {
		f.Close()
		return nil, &badSpot{whole: true, reason: problem}, nil
	}

	seg := &segment{path: sf.path, f: f, first: h.first, size: int64(hsize)}
	n := sf.size - seg.size
	fr := newFrameReader(io.NewSectionReader(f, seg.size, n), n, uint32(l.opts.maxRecord), true)
	for seq := h.first; ; seq++ {
		_, size, problem, err := fr.next(seq)
		if err == io.EOF {
			return seg, nil, nil
		}
		if err != nil {
			return seg, nil, fmt.Errorf("wal: recovering %s at offset %d: %w", sf.path, seg.size, err)
		}
		if problem != "" {
			return seg, &badSpot{off: seg.size, reason: problem}, nil
		}
		seg.offs = append(seg.offs, seg.size)
		seg.size += size
	}
}

// cut drops everything from the bad spot on and starts a fresh segment
// after it, returning the description of what was dropped. lastValid is
// the seq of the last record kept (0 if none).
//
// The new segment's first seq is above any seq the dropped bytes could
// have held (every record takes at least frameHeaderSize bytes), so no seq
// that an earlier run may have returned from Append is ever reused, even
// when the dropped records were durable and damaged later. The new
// segment is created before anything is cut, so a crash in between leaves
// a log whose next recovery skips at least as far.
func (l *Log) cut(files []segmentFile, bad *badSpot, lastValid uint64) (*Truncation, error) {
	badFile := files[bad.index]
	t := &Truncation{File: badFile.path, Offset: bad.off, Reason: bad.reason}
	next := lastValid + 1
	if !bad.whole {
		d := badFile.size - bad.off
		t.BytesDropped += d
		next = max(next, lastValid+1+uint64(d)/frameHeaderSize+1)
	}
	from := bad.index + 1
	if bad.whole {
		from = bad.index
	}
	for _, f := range files[from:] {
		t.BytesDropped += f.size
		t.Removed = append(t.Removed, f.path)
		next = max(next, f.seq+uint64(f.size)/frameHeaderSize+1)
	}
	if next > maxSeq {
		return nil, fmt.Errorf("wal: sequence numbers exhausted recovering %s", l.dir)
	}

	seg, err := l.createSegment(next, lastValid)
	if err != nil {
		return nil, err
	}
	if !bad.whole {
		cutSeg := l.segs[len(l.segs)-1]
		if err := cutSeg.f.Truncate(bad.off); err != nil {
			seg.f.Close()
			return nil, fmt.Errorf("wal: truncating %s: %w", cutSeg.path, err)
		}
		if err := l.opts.sync(cutSeg.f); err != nil {
			seg.f.Close()
			return nil, fmt.Errorf("wal: syncing %s: %w", cutSeg.path, err)
		}
	}
	l.segs = append(l.segs, seg)
	for _, path := range t.Removed {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("wal: %w", err)
		}
	}
	if err := l.syncDir(); err != nil {
		return nil, fmt.Errorf("wal: syncing %s: %w", l.dir, err)
	}
	l.nextSeq = next
	return t, nil
}
