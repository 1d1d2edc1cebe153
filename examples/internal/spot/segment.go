package spot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// RequestOverhead is the part of a Kafka produce request that is not the
// chunk: the request header (sizes, API key and version, correlation id,
// client id), acks and timeout, the topic (its name is at most 249
// bytes) and partition, the record batch header (61 bytes) and the
// record's own header (length, attributes, timestamp and offset deltas,
// key and value lengths). That is under 400 bytes; RequestOverhead keeps
// a margin over it. A chunk whose Avro encoding takes at most
// ChunkBudget(maxRequestBytes) bytes travels in a produce request (and a
// record batch) of at most maxRequestBytes.
const RequestOverhead = 512

// ChunkBudget returns the most bytes a chunk's Avro encoding may take so
// that it travels in a produce request of at most maxRequestBytes.
func ChunkBudget(maxRequestBytes int) int {
	return maxRequestBytes - RequestOverhead
}

// ChunkSize returns the size of EncodeChunk(lines) without encoding them.
func ChunkSize(lines []string) int {
	payload := 0
	for _, l := range lines {
		payload += segItemSize(len(l))
	}
	return segChunkSize(len(lines), payload)
}

// segChunkSize is the size of an encoded chunk of n strings whose items
// (length prefix and bytes) take payload bytes: the union branch, then
// one block (its count, the items) and the empty block that ends the
// array.
func segChunkSize(n, payload int) int {
	if n == 0 {
		return 2
	}
	return 1 + segVarintSize(int64(n)) + payload + 1
}

// segItemSize is the size of one string of n bytes in the array: its Avro
// long length prefix, then its bytes.
func segItemSize(n int) int { return segVarintSize(int64(n)) + n }

// segVarintSize is the size of v as an Avro long (zigzag varint).
func segVarintSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// LineTime returns the time of a line of a converted file of type t, as
// the collector reads it, and false when the line has none (a header, a
// trailer, garbage): such lines are not sent.
//
//   - flow: CSV field 0 is YYYY-MM-DD HH:MM:SS (nfdump run with TZ=UTC),
//     taken as UTC;
//   - proxy: the first two space-separated tokens are YYYY-MM-DD and
//     HH:MM:SS, taken as UTC (Bluecoat logs in UTC);
//   - dns: CSV field 2 is tshark's frame.time_epoch, seconds since the
//     epoch with up to 9 decimals (1470567483.124456000); fields 0 and 1
//     are frame.time, which holds a comma.
func LineTime(t Type, line string) (time.Time, bool) {
	switch t {
	case Flow:
		f0, _, _ := strings.Cut(line, ",")
		return segDateTime(f0)
	case Proxy:
		date, rest, ok := strings.Cut(line, " ")
		if !ok || len(date) != 10 {
			return time.Time{}, false
		}
		clock, _, _ := strings.Cut(rest, " ")
		if len(clock) != 8 {
			return time.Time{}, false
		}
		var b [19]byte
		copy(b[:], date)
		b[10] = ' '
		copy(b[11:], clock)
		return segDateTime(string(b[:]))
	case DNS:
		_, rest, ok := strings.Cut(line, ",")
		if !ok {
			return time.Time{}, false
		}
		if _, rest, ok = strings.Cut(rest, ","); !ok {
			return time.Time{}, false
		}
		f2, _, _ := strings.Cut(rest, ",")
		return segEpoch(f2)
	}
	return time.Time{}, false
}

// segDateTime parses exactly YYYY-MM-DD HH:MM:SS as a valid UTC time.
func segDateTime(s string) (time.Time, bool) {
	if len(s) != 19 {
		return time.Time{}, false
	}
	d, ok := nfdParseDateTime([]byte(s))
	if !ok {
		return time.Time{}, false
	}
	return time.Date(d.year, time.Month(d.month), d.day, d.hour, d.minute, d.second, 0, time.UTC), true
}

// segEpoch parses seconds since the epoch with an optional fraction of
// up to 9 digits.
func segEpoch(s string) (time.Time, bool) {
	secs, frac, hasFrac := strings.Cut(s, ".")
	if len(secs) == 0 || len(secs) > 12 || hasFrac && (len(frac) == 0 || len(frac) > 9) {
		return time.Time{}, false
	}
	var sec, nsec int64
	for _, c := range []byte(secs) {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		sec = sec*10 + int64(c-'0')
	}
	for i := range 9 {
		nsec *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			nsec += int64(c - '0')
		}
	}
	return time.Unix(sec, nsec).UTC(), true
}

// segHour numbers the UTC hour of t.
func segHour(t time.Time) int64 {
	s := t.Unix()
	h := s / 3600
	if s%3600 < 0 {
		h--
	}
	return h
}

// A Segment is one chunk of a converted file, the value of one Kafka
// message: consecutive lines of the same UTC hour.
type Segment struct {
	Index int       // its position among the file's segments, from 0
	Time  time.Time // the time of its first line: the Kafka record's timestamp
	Lines []string  // in the file's order, without line endings
}

// SplitStats counts what Split read.
type SplitStats struct {
	Lines    int // lines that were not empty
	Segments int // segments made
	Sent     int // lines in the segments
	Skipped  int // lines without a timestamp (headers, trailers, garbage)
	Rejected int // lines too large for a chunk even alone
}

// ErrLineTooLarge is returned by Split for a line that does not fit in a
// chunk even alone when the Splitter has no OnReject.
var ErrLineTooLarge = errors.New("spot: line too large for a chunk")

// A Splitter cuts a converted file into segments, as Spot's collector
// does: lines are read in order, empty lines are dropped, and lines
// without a timestamp (LineTime) are skipped and counted. A segment
// grows while its lines are of the same UTC hour and its Avro encoding
// fits in Budget bytes.
type Splitter struct {
	Type Type
	// Budget is the most bytes a chunk's encoding may take; see
	// ChunkBudget.
	Budget int
	// OnSegment receives each segment, in order; it owns its Lines. An
	// error stops Split, which returns it.
	OnSegment func(Segment) error
	// OnReject receives each line that does not fit in a chunk of Budget
	// bytes even alone, with its line number (from 1, counting empty
	// lines), so that it is kept, not lost; such a line is not in any
	// segment. An error stops Split, which returns it. When OnReject is
	// nil, such a line is an error wrapping ErrLineTooLarge.
	OnReject func(lineNo int, line string) error
}

// Split reads r to its end and passes its segments to OnSegment. Every
// line that is not empty ends up in exactly one of a segment, Skipped or
// OnReject.
func (s Splitter) Split(r io.Reader) (SplitStats, error) {
	var st SplitStats
	if _, err := ParseType(string(s.Type)); err != nil {
		return st, err
	}
	if s.OnSegment == nil {
		return st, errors.New("spot: Splitter without OnSegment")
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		cur     Segment
		payload int   // the item bytes of cur's lines
		hour    int64 // cur's hour
		lineNo  int
	)
	flush := func() error {
		if len(cur.Lines) == 0 {
			return nil
		}
		seg := cur
		st.Segments++
		st.Sent += len(seg.Lines)
		cur, payload = Segment{}, 0
		return s.OnSegment(seg)
	}
	for {
		text, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return st, fmt.Errorf("spot: read line %d: %w", lineNo+1, err)
		}
		if text == "" && err == io.EOF {
			break
		}
		lineNo++
		text = strings.TrimSuffix(text, "\n")
		text = strings.TrimSuffix(text, "\r")
		if text == "" {
			continue
		}
		st.Lines++
		t, ok := LineTime(s.Type, text)
		if !ok {
			st.Skipped++
			continue
		}
		item := segItemSize(len(text))
		if segChunkSize(1, item) > s.Budget {
			st.Rejected++
			if s.OnReject == nil {
				return st, fmt.Errorf("line %d (%d bytes, a chunk may take %d): %w", lineNo, len(text), s.Budget, ErrLineTooLarge)
			}
			if err := s.OnReject(lineNo, text); err != nil {
				return st, err
			}
			continue
		}
		h := segHour(t)
		if len(cur.Lines) > 0 && (h != hour || segChunkSize(len(cur.Lines)+1, payload+item) > s.Budget) {
			if err := flush(); err != nil {
				return st, err
			}
		}
		if len(cur.Lines) == 0 {
			cur.Index, cur.Time, hour = st.Segments, t, h
		}
		cur.Lines = append(cur.Lines, text)
		payload += item
	}
	return st, flush()
}
