// Package progress is the per-batch progress line of the example jobs:
// an output operation stores what it counted in a batch, and a listener
// prints it, with the batch's records and processing time, when the
// batch completes, and keeps the totals:
//
//	batch 10:58:30.000 records=120 events=118 kudu=80 dead=5 processing=412ms ok
//
// The counts are the job's own type C; the job says how to format and
// add them. Lines parses the lines back, for tests.
package progress

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// Reporter passes each batch's counts from the output operation that
// takes them (Set) to the line it prints when the batch completes. It is
// a dstream listener (dstream.BatchCompletedListener); its methods are
// safe for concurrent use.
type Reporter[C any] struct {
	w       io.Writer
	format  func(C) string
	unknown string
	add     func(total, c C) C

	mu      sync.Mutex
	pending map[time.Time]C
	total   Total[C]
}

// Total is what the completed batches held.
type Total[C any] struct {
	Batches, Records int64
	Counts           C
}

// New returns a Reporter that writes to w. format gives the counts' part
// of the line ("rows=3 dead=1"); unknown is that part for a batch that
// failed before its counts were set ("rows=? dead=?"); add adds a
// batch's counts to the total.
func New[C any](w io.Writer, format func(C) string, unknown string, add func(total, c C) C) *Reporter[C] {
	return &Reporter[C]{w: w, format: format, unknown: unknown, add: add, pending: map[time.Time]C{}}
}

// Set stores the counts of the batch at t, for its line.
func (r *Reporter[C]) Set(t time.Time, c C) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[t] = c
}

// Take returns and forgets the counts of the batch at t, for a caller
// that drives batches itself (a benchmark) instead of listening.
func (r *Reporter[C]) Take(t time.Time) (C, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.pending[t]
	delete(r.pending, t)
	return c, ok
}

// OnBatchCompleted prints the batch's line and, if it succeeded, adds it
// to the total.
func (r *Reporter[C]) OnBatchCompleted(b dstream.BatchInfo) {
	c, ok := r.Take(b.BatchTime)
	status := Status(b)
	counted := r.unknown
	if ok {
		counted = r.format(c)
	}
	fmt.Fprintf(r.w, "batch %s records=%d %s processing=%v %s\n",
		b.BatchTime.Format("15:04:05.000"), b.NumRecords(), counted, b.ProcessingDelay().Round(time.Millisecond), status)
	if b.Err == nil {
		r.mu.Lock()
		r.total.Batches++
		r.total.Records += b.NumRecords()
		r.total.Counts = r.add(r.total.Counts, c)
		r.mu.Unlock()
	}
}

// Status is the last word of a batch's progress line: "ok", "degraded:
// <component>: <error>[; ...]" for a batch that ran while a dependency was
// away (it may be empty because of it), or "FAILED: <error>".
func Status(b dstream.BatchInfo) string {
	switch {
	case b.Err != nil:
		return "FAILED: " + oneLine(b.Err.Error())
	case len(b.Degraded) > 0:
		parts := make([]string, len(b.Degraded))
		for i, d := range b.Degraded {
			parts[i] = oneLine(d.String())
		}
		return "degraded: " + strings.Join(parts, "; ")
	}
	return "ok"
}

// oneLine keeps a message on its line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// Total returns what the completed batches held.
func (r *Reporter[C]) Total() Total[C] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Line is one parsed progress line.
type Line struct {
	Records int64
	// Fields are the counts' name=value pairs, in order ("?" for a batch
	// that failed before its counts).
	Fields []Field
	// Err is the failure after "FAILED: ", or "" for a batch that
	// succeeded.
	Err string
	// Degraded is what follows "degraded: " for a batch that ran while a
	// dependency was away, or "".
	Degraded string
}

// Field is one name=value pair of a line.
type Field struct{ Name, Value string }

// Int returns the value of the named field as a number, and false when
// the line has no such field or it is not a number.
func (l Line) Int(name string) (int64, bool) {
	for _, f := range l.Fields {
		if f.Name == name {
			n, err := strconv.ParseInt(f.Value, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

var lineRE = regexp.MustCompile(`(?m)^batch \d\d:\d\d:\d\d\.\d\d\d records=(\d+) (.*?) ?processing=\S+ (ok|degraded: .*|FAILED: .*)$`)

// Lines parses the progress lines in text, skipping every other line.
func Lines(text string) []Line {
	var out []Line
	for _, m := range lineRE.FindAllStringSubmatch(text, -1) {
		var l Line
		l.Records, _ = strconv.ParseInt(m[1], 10, 64)
		for _, kv := range strings.Fields(m[2]) {
			name, value, _ := strings.Cut(kv, "=")
			l.Fields = append(l.Fields, Field{name, value})
		}
		switch {
		case strings.HasPrefix(m[3], "FAILED: "):
			l.Err = strings.TrimPrefix(m[3], "FAILED: ")
		case strings.HasPrefix(m[3], "degraded: "):
			l.Degraded = strings.TrimPrefix(m[3], "degraded: ")
		}
		out = append(out, l)
	}
	return out
}
