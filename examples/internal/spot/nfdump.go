package spot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// FlowHeader is the header line of Spot's flow CSV, what Spot's patched
// nfdump (spot-nfdump) prints for -o csv: 27 columns, trm twice (month,
// then minute).
const FlowHeader = "tr,try,trm,trd,trh,trm,trs,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,dtos,dir,ra"

// stockColumns are the columns of stock nfdump's -o csv that Spot's
// layout takes, by name. ts is the flow's start time: it gives tr and the
// split date fields. flg is cut to its last 6 characters; the others are
// copied.
var stockColumns = []string{
	"ts", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd", "stos", "ipkt", "ibyt",
	"opkt", "obyt", "in", "out", "sas", "das", "dtos", "dir", "ra",
}

// Indexes into stockColumns.
const (
	stockColTS = iota
	stockColTD
	stockColSA
	stockColDA
	stockColSP
	stockColDP
	stockColPR
	stockColFLG
	stockColFWD // fwd and everything after it are copied in order
)

// maxNfdumpLine bounds one line of nfdump's output (a record is a few
// hundred bytes), so that garbage input cannot make the converter hold an
// unbounded line.
const maxNfdumpLine = 1 << 20

// noMatchingFlows is what stock nfdump prints instead of records when a
// file has none.
const noMatchingFlows = "No matching flows"

// ConvertNfdumpCSV reads the output of stock nfdump 1.7's -o csv (run with
// TZ=UTC) from r and writes what Spot's patched nfdump prints for the same
// flows to w: FlowHeader, one 27-column record per flow, then nfdump's
// Summary trailer as it is. It returns the number of records written.
//
// Columns are found by their names in nfdump's header, not their
// positions, and fields are trimmed of spaces. Spot's tr and its split
// date fields (year, month, day, hour, minute, second, not zero padded)
// come from the flow's start time ts: stock nfdump's own tr column is the
// time nfdump processed the flow, which is wrong for replayed captures. A
// fractional second in ts is dropped. The flags, 8 characters CEUAPRSF
// in stock nfdump, become Spot's 6 (UAPRSF); the other columns are copied.
//
// Input that already is Spot's layout (its header starts with
// "tr,try,trm") is copied to w unchanged. Empty input writes nothing.
// Errors name the line of the input.
func ConvertNfdumpCSV(r io.Reader, w io.Writer) (records int, err error) {
	lr := nfdLineReader{r: bufio.NewReaderSize(r, 64<<10), max: maxNfdumpLine}
	bw := bufio.NewWriterSize(w, 64<<10)
	// The header is the first line that is not empty.
	var header []byte
	for {
		raw, line, err := lr.next()
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte("tr,try,trm")) {
			if _, err := bw.Write(raw); err != nil {
				return 0, err
			}
			n, err := nfdPassThrough(&lr, bw)
			if err != nil {
				return n, err
			}
			return n, nfdFlush(bw)
		}
		header = line
		break
	}
	idx, err := stockIndexes(header)
	if err != nil {
		return 0, fmt.Errorf("nfdump csv: line %d: %w", lr.n, err)
	}
	if _, err := bw.WriteString(FlowHeader + "\n"); err != nil {
		return 0, err
	}
	fields := make([][]byte, 0, idx.width)
	out := make([]byte, 0, 512)
	for {
		raw, line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return records, err
		}
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 || string(trimmed) == noMatchingFlows {
			continue
		}
		if string(trimmed) == "Summary" {
			// The trailer, copied as it is.
			if _, err := bw.Write(raw); err != nil {
				return records, err
			}
			if _, err := nfdCopyRest(&lr, bw); err != nil {
				return records, err
			}
			break
		}
		fields = nfdSplitComma(fields[:0], line)
		if len(fields) != idx.width {
			return records, fmt.Errorf("nfdump csv: line %d: %d fields, the header has %d", lr.n, len(fields), idx.width)
		}
		out, err = appendSpotRecord(out[:0], fields, idx.cols)
		if err != nil {
			return records, fmt.Errorf("nfdump csv: line %d: %w", lr.n, err)
		}
		if _, err := bw.Write(out); err != nil {
			return records, err
		}
		records++
	}
	return records, nfdFlush(bw)
}

func nfdFlush(bw *bufio.Writer) error {
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("nfdump csv: write: %w", err)
	}
	return nil
}

// stockIndex locates the columns Spot needs in a stock header.
type stockIndex struct {
	cols  [21]int // index in the record of each of stockColumns
	width int     // the header's number of columns
}

func stockIndexes(header []byte) (stockIndex, error) {
	var idx stockIndex
	names := nfdSplitComma(nil, header)
	idx.width = len(names)
	for i, want := range stockColumns {
		idx.cols[i] = -1
		for j, name := range names {
			if string(bytes.TrimSpace(name)) == want {
				idx.cols[i] = j
				break
			}
		}
		if idx.cols[i] < 0 {
			return idx, fmt.Errorf("not a header of nfdump -o csv: no column %q in %.200q", want, header)
		}
	}
	return idx, nil
}

// appendSpotRecord appends the Spot record of the stock record fields,
// with its newline, to out.
func appendSpotRecord(out []byte, fields [][]byte, cols [21]int) ([]byte, error) {
	field := func(c int) []byte { return bytes.TrimSpace(fields[cols[c]]) }
	ts := field(stockColTS)
	d, ok := nfdParseDateTime(ts)
	if !ok {
		return out, fmt.Errorf("ts %.100q is not YYYY-MM-DD HH:MM:SS", ts)
	}
	out = append(out, ts[:19]...)
	for _, v := range [...]int{d.year, d.month, d.day, d.hour, d.minute, d.second} {
		out = append(out, ',')
		out = strconv.AppendInt(out, int64(v), 10)
	}
	for c := stockColTD; c < len(stockColumns); c++ {
		v := field(c)
		if c == stockColFLG {
			switch len(v) {
			case 8: // CEUAPRSF: Spot has no CWR and ECE
				v = v[2:]
			case 6: // already UAPRSF
			default:
				return out, fmt.Errorf("flags %.100q: want 8 characters (CEUAPRSF)", v)
			}
		}
		out = append(out, ',')
		out = append(out, v...)
	}
	return append(out, '\n'), nil
}

// nfdDateTime is a parsed YYYY-MM-DD HH:MM:SS.
type nfdDateTime struct{ year, month, day, hour, minute, second int }

// nfdParseDateTime parses b as YYYY-MM-DD HH:MM:SS with an optional
// fractional second (".ddd"), checking that it is a valid date and time
// (no leap second).
func nfdParseDateTime(b []byte) (nfdDateTime, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return nfdDateTime{}, false
	}
	if len(b) > 19 {
		if b[19] != '.' || len(b) == 20 {
			return nfdDateTime{}, false
		}
		for _, c := range b[20:] {
			if c < '0' || c > '9' {
				return nfdDateTime{}, false
			}
		}
	}
	num := func(s []byte) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	d := nfdDateTime{num(b[0:4]), num(b[5:7]), num(b[8:10]), num(b[11:13]), num(b[14:16]), num(b[17:19])}
	ok := d.year >= 0 && d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= daysIn(d.year, d.month) &&
		d.hour >= 0 && d.hour <= 23 && d.minute >= 0 && d.minute <= 59 && d.second >= 0 && d.second <= 59
	return d, ok
}

// nfdPassThrough copies the rest of a Spot-layout input and counts its
// records: the lines that are not empty, up to the Summary trailer.
func nfdPassThrough(lr *nfdLineReader, w *bufio.Writer) (records int, err error) {
	for {
		raw, line, err := lr.next()
		if err == io.EOF {
			return records, nil
		}
		if err != nil {
			return records, err
		}
		if _, err := w.Write(raw); err != nil {
			return records, err
		}
		trimmed := bytes.TrimSpace(line)
		if string(trimmed) == "Summary" {
			_, err := nfdCopyRest(lr, w)
			return records, err
		}
		if len(trimmed) > 0 {
			records++
		}
	}
}

// nfdCopyRest copies the lines left in lr to w as they are.
func nfdCopyRest(lr *nfdLineReader, w *bufio.Writer) (lines int, err error) {
	for {
		raw, _, err := lr.next()
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
		if _, err := w.Write(raw); err != nil {
			return lines, err
		}
		lines++
	}
}

// nfdSplitComma appends the comma-separated fields of line to dst.
func nfdSplitComma(dst [][]byte, line []byte) [][]byte {
	for {
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}

// nfdLineReader reads lines of at most max bytes and counts them.
type nfdLineReader struct {
	r   *bufio.Reader
	max int
	n   int    // the number of the line last returned, from 1
	buf []byte // holds a line longer than r's buffer
}

var errNfdLongLine = errors.New("line too long")

// next returns the next line as it was read (raw, with its newline if it
// had one) and without its line ending (line, also without a "\r"). They
// are valid until the next call. At the end of the input it returns
// io.EOF.
func (lr *nfdLineReader) next() (raw, line []byte, err error) {
	b, err := lr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		lr.buf = append(lr.buf[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(lr.buf) > lr.max {
				return nil, nil, fmt.Errorf("nfdump csv: line %d: %w (more than %d bytes)", lr.n+1, errNfdLongLine, lr.max)
			}
			b, err = lr.r.ReadSlice('\n')
			lr.buf = append(lr.buf, b...)
		}
		b = lr.buf
	}
	if err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("nfdump csv: read line %d: %w", lr.n+1, err)
	}
	if len(b) == 0 {
		return nil, nil, io.EOF
	}
	if len(b) > lr.max {
		return nil, nil, fmt.Errorf("nfdump csv: line %d: %w (more than %d bytes)", lr.n+1, errNfdLongLine, lr.max)
	}
	lr.n++
	line = bytes.TrimSuffix(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return b, line, nil
}
