package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// Log is an open write-ahead log in one directory. Its methods are safe
// for concurrent use. Only one Log (in one process) may have a directory
// open at a time.
type Log struct {
	// dir is the log's directory.
	dir string
	// opts holds the settings given to Open.
	opts options
	// report describes what Open recovered.
	report Report

	// removeMu serializes RemoveBefore calls, so segment files are always
	// deleted oldest first.
	removeMu sync.Mutex

	// mu guards the fields below it, the segs slice and each segment's
	// offs and size.
	mu sync.Mutex
	// commit is signalled (on mu) when synced, syncing or err change.
	commit *sync.Cond
	// segs are the live segments, oldest first; the last is the one
	// appended to.
	segs []*segment
	// nextSeq is the seq the next Append gets.
	nextSeq uint64
	// written is the highest seq written to its segment file (0 if none).
	written uint64
	// synced is the highest seq known to be durable; every record with a
	// seq up to it is.
	synced uint64
	// syncing is set while a commit leader syncs outside mu.
	syncing bool
	// err, once set, is returned by every later Append: a failed write or
	// fsync leaves the file in an unknown state.
	err error
	// closed is set by Close.
	closed bool

	// filesMu guards each segment's closed flag: readers and syncing
	// leaders hold it shared while they use a segment's file, and Close
	// and RemoveBefore hold it exclusively while they close files.
	filesMu sync.RWMutex

	// appends counts the records appended since Open.
	appends atomic.Uint64
	// syncs counts the fsyncs of segment files made to commit appends
	// (by commit leaders, at segment rolls and by Close).
	syncs atomic.Uint64
}

// segment is one segment file.
type segment struct {
	// path is the file's path.
	path string
	// f is the open file, for reading and (for the last segment) writing.
	f *os.File
	// first is the seq of the segment's first record, from its header.
	first uint64
	// offs[i] is the offset of the record with seq first+i. Guarded by
	// Log.mu; only ever appended to, so a copy of the slice header taken
	// under mu stays valid.
	offs []int64
	// size is the file's length up to the end of its last record. Guarded
	// by Log.mu.
	size int64
	// closed is set when f is closed. Guarded by Log.filesMu.
	closed bool
}

// count returns the number of records in the segment. Call with Log.mu
// held.
func (s *segment) count() uint64 { return uint64(len(s.offs)) }

// last returns the seq of the segment's last record, or first-1 when it
// has none. Call with Log.mu held.
func (s *segment) last() uint64 { return s.first + s.count() - 1 }

// errSegmentClosed reports a read from a segment whose file was closed by
// RemoveBefore or Close.
var errSegmentClosed = errors.New("wal: segment closed")

// segmentReader reads a segment's file while holding the log's filesMu, so
// the file cannot be closed under the read.
type segmentReader struct {
	// l is the log the segment belongs to.
	l *Log
	// seg is the segment read.
	seg *segment
}

// ReadAt implements io.ReaderAt.
func (r segmentReader) ReadAt(p []byte, off int64) (int, error) {
	r.l.filesMu.RLock()
	defer r.l.filesMu.RUnlock()
	if r.seg.closed {
		return 0, errSegmentClosed
	}
	return r.seg.f.ReadAt(p, off)
}

// Open opens the log in dir, creating the directory and an empty log if
// needed, and recovers it: it checks every record of every segment, cuts
// the log at the first record that is torn, damaged or out of sequence
// (see the package documentation), and builds the index that Read uses.
// Recovery reports what it found and dropped.
//
// Open fails, without changing any file, when a segment was written with
// another codec name (ErrCodecMismatch) or a format version this build
// does not read (ErrUnknownVersion), or when an intact record is longer
// than MaxRecordBytes (ErrTooLarge). It also fails on I/O errors.
func Open(dir string, opts ...Option) (*Log, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	l := &Log{dir: dir, opts: o}
	l.commit = sync.NewCond(&l.mu)
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			s.f.Close()
		}
		return nil, err
	}
	return l, nil
}

// Recovery returns what Open recovered and, if anything, dropped.
func (l *Log) Recovery() Report { return l.report }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Append appends one record holding payload and returns its seq once the
// record is durable: written and fsynced, together with every record
// appended before it. Concurrent Appends share fsyncs (group commit): one
// of the waiting callers syncs for all records written so far while the
// others wait, so many writers cost far fewer fsyncs than records.
//
// payload is copied; the caller may reuse it. An empty payload is a valid
// record. A payload longer than MaxRecordBytes gives ErrTooLarge. After a
// failed write or fsync the durability of recent records is unknown, so
// that error is returned by this and every later Append; reopen the log
// to recover. After Close, Append returns ErrClosed.
func (l *Log) Append(payload []byte) (uint64, error) {
	if len(payload) > l.opts.maxRecord {
		return 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(payload), l.opts.maxRecord)
	}
	frame := make([]byte, frameHeaderSize+len(payload))
	copy(frame[frameHeaderSize:], payload)
	pcrc := payloadCRC(payload)

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if l.err != nil {
		return 0, l.err
	}
	seg := l.segs[len(l.segs)-1]
	if seg.count() > 0 && seg.size+int64(len(frame)) > l.opts.segmentBytes {
		if err := l.roll(); err != nil {
			return 0, err
		}
		seg = l.segs[len(l.segs)-1]
	}
	seq := l.nextSeq
	if seq > maxSeq {
		return 0, fmt.Errorf("wal: sequence numbers exhausted")
	}
	putFrameHeader(frame, seq, pcrc)
	if _, err := seg.f.WriteAt(frame, seg.size); err != nil {
		l.fail(err)
		return 0, l.err
	}
	seg.offs = append(seg.offs, seg.size)
	seg.size += int64(len(frame))
	l.nextSeq++
	l.written = seq
	l.appends.Add(1)
	if err := l.waitDurable(seq); err != nil {
		return 0, err
	}
	return seq, nil
}

// waitDurable returns once the record seq is durable, leading a group
// commit when no other caller is syncing. Call with mu held; mu is held
// again on return, though it is released while waiting and syncing.
func (l *Log) waitDurable(seq uint64) error {
	for l.synced < seq {
		if l.err != nil {
			return l.err
		}
		if l.syncing {
			l.commit.Wait()
			continue
		}
		// Lead: sync the current segment for every record written so far.
		// Records in older segments were synced when the log rolled past
		// them.
		l.syncing = true
		target := l.written
		seg := l.segs[len(l.segs)-1]
		l.mu.Unlock()
		err := l.syncSegment(seg)
		l.mu.Lock()
		l.syncing = false
		if err != nil {
			l.fail(err)
		} else if target > l.synced {
			l.synced = target
		}
		l.commit.Broadcast()
	}
	return nil
}

// syncSegment fsyncs a segment's file unless it has been closed (then its
// records were synced before it was).
func (l *Log) syncSegment(seg *segment) error {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	if seg.closed {
		return nil
	}
	l.syncs.Add(1)
	return l.opts.sync(seg.f)
}

// fail records err as the log's sticky error and wakes the waiters. Call
// with mu held.
func (l *Log) fail(err error) {
	if l.err == nil {
		l.err = fmt.Errorf("wal: write-ahead log failed, reopen it to recover: %w", err)
	}
	l.commit.Broadcast()
}

// roll makes every record written so far durable and starts a new
// segment. Call with mu held. A failure to create the new segment is
// returned without failing the log (nothing was written); a failed sync
// fails it.
func (l *Log) roll() error {
	old := l.segs[len(l.segs)-1]
	if err := l.syncSegment(old); err != nil {
		l.fail(err)
		return l.err
	}
	if l.written > l.synced {
		l.synced = l.written
		l.commit.Broadcast()
	}
	seg, err := l.createSegment(l.nextSeq, old.last())
	if err != nil {
		return err
	}
	l.segs = append(l.segs, seg)
	return nil
}

// createSegment creates the segment file for records from first on, whose
// predecessor's last record is prev, writes its header and makes the file
// and its directory entry durable. An existing file of that name is
// replaced (it can only be a remnant that recovery dropped).
func (l *Log) createSegment(first, prev uint64) (*segment, error) {
	path := filepath.Join(l.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	hdr := segmentHeader{version: formatVersion, codec: l.opts.codec, first: first, prev: prev}.marshal()
	_, err = f.WriteAt(hdr, 0)
	if err == nil {
		err = l.opts.sync(f)
	}
	if err == nil {
		err = l.syncDir()
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("wal: creating segment %s: %w", path, err)
	}
	return &segment{path: path, f: f, first: first, size: int64(len(hdr))}, nil
}

// syncDir makes the creation and removal of files in the log's directory
// durable.
func (l *Log) syncDir() error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(l.dir)
	if err != nil {
		return err
	}
	err = l.opts.sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// locate returns the segment holding seq and its index in it, or nil when
// no live segment does. Call with mu held.
func (l *Log) locate(seq uint64) (*segment, int) {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > seq }) - 1
	if i < 0 {
		return nil, 0
	}
	seg := l.segs[i]
	if seq-seg.first >= seg.count() {
		return nil, 0
	}
	return seg, int(seq - seg.first)
}

// Read returns the payload of the durable record seq, with one read from
// its segment file (whose checksum it checks again). It returns
// ErrNotFound for a seq that is not in the log (see ErrNotFound) and
// ErrCorrupt if the record no longer passes its checks.
func (l *Log) Read(seq uint64) ([]byte, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if seq == 0 || seq > l.synced {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: seq %d", ErrNotFound, seq)
	}
	seg, i := l.locate(seq)
	if seg == nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: seq %d", ErrNotFound, seq)
	}
	off, end := seg.offs[i], seg.size
	if i+1 < len(seg.offs) {
		end = seg.offs[i+1]
	}
	l.mu.Unlock()

	frame := make([]byte, end-off)
	if _, err := (segmentReader{l, seg}).ReadAt(frame, off); err != nil {
		return nil, l.readError(seq, seg, err)
	}
	payload, problem := decodeFrame(frame, seq)
	if problem != "" {
		return nil, fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, seg.path, off, problem)
	}
	return payload, nil
}

// readError translates an error met reading seq from seg.
func (l *Log) readError(seq uint64, seg *segment, err error) error {
	if errors.Is(err, errSegmentClosed) {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return ErrClosed
		}
		return fmt.Errorf("%w: seq %d (its segment was removed)", ErrNotFound, seq)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("wal: reading seq %d from %s: %w", seq, seg.path, err)
}

// Scan calls fn with every durable record whose seq is at least from, in
// seq order, up to the last record durable when Scan was called. Records
// already removed are skipped silently (Scan starts at the oldest one
// left). fn gets its own copy of each payload and may call the Log's
// other methods; an error from fn stops the scan and is returned. If
// RemoveBefore deletes a segment Scan has not finished, Scan returns an
// error wrapping ErrNotFound.
func (l *Log) Scan(from uint64, fn func(seq uint64, payload []byte) error) error {
	// part is the run of records to read from one segment.
	type part struct {
		seg      *segment
		seq      uint64 // first seq to read
		n        uint64 // records to read
		off, end int64  // byte range holding them
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	hi := l.synced
	var parts []part
	for _, seg := range l.segs {
		lo := max(from, seg.first)
		last := min(seg.last(), hi)
		if seg.count() == 0 || lo > last {
			continue
		}
		i, j := lo-seg.first, last-seg.first
		end := seg.size
		if j+1 < seg.count() {
			end = seg.offs[j+1]
		}
		parts = append(parts, part{seg: seg, seq: lo, n: j - i + 1, off: seg.offs[i], end: end})
	}
	l.mu.Unlock()

	for _, p := range parts {
		r := io.NewSectionReader(segmentReader{l, p.seg}, p.off, p.end-p.off)
		fr := newFrameReader(r, p.end-p.off, uint32(l.opts.maxRecord), false)
		for k := uint64(0); k < p.n; k++ {
			seq := p.seq + k
			payload, n, problem, err := fr.next(seq)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return l.readError(seq, p.seg, err)
			}
			if problem != "" {
				return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, p.seg.path, p.off, problem)
			}
			p.off += n
			if err := fn(seq, payload); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoveBefore deletes the segment files all of whose records have a seq
// below seq (the engine passes the lowest seq it still needs), oldest
// first. The segment being appended to is never removed, and neither is
// any segment holding a record at or above seq, so some records below seq
// may remain. Reads of removed records return ErrNotFound.
func (l *Log) RemoveBefore(seq uint64) error {
	l.removeMu.Lock()
	defer l.removeMu.Unlock()

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].last() < seq {
		n++
	}
	dead := l.segs[:n:n]
	l.segs = append([]*segment(nil), l.segs[n:]...)
	l.mu.Unlock()
	if n == 0 {
		return nil
	}

	l.filesMu.Lock()
	var err error
	for _, s := range dead {
		if s.closed {
			continue
		}
		s.closed = true
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("wal: %w", cerr)
		}
	}
	l.filesMu.Unlock()

	// Delete oldest first, making each deletion durable before the next,
	// so that a crash leaves the log a contiguous run of segments.
	for _, s := range dead {
		if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return fmt.Errorf("wal: %w", rerr)
		}
		if serr := l.syncDir(); serr != nil {
			return fmt.Errorf("wal: syncing %s: %w", l.dir, serr)
		}
	}
	return err
}

// Stats describes a Log's current state.
type Stats struct {
	// Appends is the number of records appended since Open.
	Appends uint64
	// Syncs is the number of fsyncs of segment files made to commit
	// appends since Open. With concurrent appenders it is far below
	// Appends (group commit).
	Syncs uint64
	// Segments is the number of segment files.
	Segments int
	// FirstSeq and LastSeq are the lowest and highest seqs of the durable
	// records in the log, both 0 when it holds none.
	FirstSeq, LastSeq uint64
	// NextSeq is the seq the next Append will get.
	NextSeq uint64
	// Bytes is the total size of the segment files.
	Bytes int64
}

// Stats returns the log's current statistics.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{
		Appends:  l.appends.Load(),
		Syncs:    l.syncs.Load(),
		Segments: len(l.segs),
		NextSeq:  l.nextSeq,
	}
	for _, s := range l.segs {
		st.Bytes += s.size
		if s.count() > 0 && s.first <= l.synced {
			if st.FirstSeq == 0 {
				st.FirstSeq = s.first
			}
			st.LastSeq = min(s.last(), l.synced)
		}
	}
	return st
}

// Close makes every appended record durable, closes the segment files and
// releases the log. Appends that were waiting for their fsync finish
// first. After Close every method returns ErrClosed; closing again returns
// nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for l.syncing {
		l.commit.Wait()
	}
	var err error
	if l.err == nil && l.written > l.synced {
		if serr := l.syncSegment(l.segs[len(l.segs)-1]); serr != nil {
			l.fail(serr)
		} else {
			l.synced = l.written
		}
	}
	err = l.err
	l.commit.Broadcast()
	segs := l.segs
	l.mu.Unlock()

	l.filesMu.Lock()
	defer l.filesMu.Unlock()
	for _, s := range segs {
		if s.closed {
			continue // RemoveBefore closed it
		}
		s.closed = true
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("wal: %w", cerr)
		}
	}
	return err
}
