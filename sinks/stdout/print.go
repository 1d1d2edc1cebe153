// Package stdout is a debugging sink: Print writes every record of every
// batch on a line of its own, with the batch time and the partition the
// record is in.
//
//	stdout.Print(counts)                                // [1700000000000 ms p3] (word,3)
//	stdout.Print(events, stdout.JSON(), stdout.MaxRecords(5), stdout.Label("events"))
//
// Records print with fmt's %+v, except that byte slices print as text when
// they are printable UTF-8 and as a quoted Go string otherwise (so a Kafka
// record's key and value are readable), dstream pairs print as
// (key,value) and every line is kept on one line: control characters are
// escaped. With JSON they print as encoding/json marshals them.
//
// Unlike dstream's Print, which shows the first elements of a batch in
// Spark's format, this sink shows where each record is, which helps to
// follow records through shuffles and partitioned writes.
package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/microbatch-go/microbatch/dstream"
)

// DefaultMaxRecords is how many records of a batch Print shows unless
// MaxRecords says otherwise.
const DefaultMaxRecords = 100

// Option configures Print.
type Option func(*config) error

type config struct {
	w          io.Writer
	max        int
	json       bool
	label      string
	timeLayout string
	maxBytes   int
	types      *sync.Map // formatValue's cache of types
}

// Writer sets where the lines go. Default: os.Stdout. Each batch is
// written with a single Write call; writes of one Print are never
// concurrent, but w must be safe to share if other code writes to it
// concurrently.
func Writer(w io.Writer) Option {
	return func(c *config) error {
		if w == nil {
			return fmt.Errorf("%w: stdout: nil writer", dstream.ErrInvalidOption)
		}
		c.w = w
		return nil
	}
}

// MaxRecords shows at most n records of each batch (the first ones, in
// partition order), followed by a line "... N more" when the batch has
// more. A negative n shows every record. Default: DefaultMaxRecords.
func MaxRecords(n int) Option {
	return func(c *config) error {
		c.max = n
		return nil
	}
}

// JSON prints records as encoding/json marshals them instead of with %+v.
// A record that cannot be marshaled prints with %+v, followed by the
// marshaling error.
func JSON() Option {
	return func(c *config) error {
		c.json = true
		return nil
	}
}

// Label starts every line with a name, to tell apart the output of several
// Print calls.
func Label(name string) Option {
	return func(c *config) error {
		c.label = name
		return nil
	}
}

// TimeLayout prints the batch time in UTC with a time.Format layout, such
// as time.RFC3339Nano, instead of in milliseconds since the epoch.
func TimeLayout(layout string) Option {
	return func(c *config) error {
		if layout == "" {
			return fmt.Errorf("%w: stdout: empty time layout", dstream.ErrInvalidOption)
		}
		c.timeLayout = layout
		return nil
	}
}

// MaxBytes shortens byte slices longer than n bytes to their first n
// bytes followed by "...(+N bytes)". 0, the default, prints them whole.
func MaxBytes(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: stdout: MaxBytes %d is negative", dstream.ErrInvalidOption, n)
		}
		c.maxBytes = n
		return nil
	}
}

// Print registers an output operation that writes every record of every
// batch on a line of its own:
//
//	[<batch time> ms p<partition>] <record>
//
// preceded by the Label, if any, with a line "[<batch time> ms] ... N
// more" when MaxRecords cuts the batch short. Empty batches print nothing.
// Every partition is computed to the end, to count what is not shown, but
// only the records shown are formatted. It is New and Stream.WriteTo.
// It returns the stream's build error, or a *dstream.BuildError wrapping
// dstream.ErrInvalidOption for an invalid option. A failed write fails
// the batch.
func Print[T any](s *dstream.Stream[T], opts ...Option) error {
	out, err := New[T](opts...)
	if err != nil {
		return &dstream.BuildError{Op: "stdout.Print", Err: err}
	}
	return s.WriteTo(out, dstream.WriteSpec[T]{Name: "stdout.Print"})
}

// Sink is the dstream.Output of Print.
type Sink[T any] struct {
	cfg config
}

// New returns the Output that Print registers, for Stream.WriteTo.
func New[T any](opts ...Option) (*Sink[T], error) {
	cfg := config{w: os.Stdout, max: DefaultMaxRecords, types: &sync.Map{}}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &Sink[T]{cfg: cfg}, nil
}

// String names the sink in listener events.
func (s *Sink[T]) String() string { return "stdout.Print" }

// Open does nothing: standard output is always there.
func (s *Sink[T]) Open(context.Context) error { return nil }

// Close does nothing.
func (s *Sink[T]) Close() error { return nil }

// Begin starts a batch.
func (s *Sink[T]) Begin(_ context.Context, b dstream.OutputBatch) (dstream.BatchWriter[T], error) {
	return &batch[T]{cfg: &s.cfg, t: b.Time, parts: make([]partLines, b.Partitions)}, nil
}

// batch collects the lines of one batch, written at Commit in partition
// order.
type batch[T any] struct {
	cfg   *config
	t     time.Time
	parts []partLines
}

// partLines are the formatted first records of one partition and its
// record count.
type partLines struct {
	lines []string
	n     int
}

func (b *batch[T]) WritePartition(_ context.Context, p *dstream.Partition[T]) error {
	var pl partLines
	for x := range p.Records() {
		if b.cfg.max < 0 || len(pl.lines) < b.cfg.max {
			pl.lines = append(pl.lines, sanitize(b.cfg.record(x)))
		}
		pl.n++
	}
	b.parts[p.Index] = pl
	return nil
}

func (b *batch[T]) Abort(context.Context, error) {}

func (b *batch[T]) Commit(context.Context) error {
	var buf bytes.Buffer
	b.format(&buf)
	if buf.Len() == 0 {
		return nil
	}
	_, err := b.cfg.w.Write(buf.Bytes())
	return err
}

// format writes the lines of the batch to buf.
func (b *batch[T]) format(buf *bytes.Buffer) {
	c := b.cfg
	total := 0
	for _, pl := range b.parts {
		total += pl.n
	}
	if total == 0 {
		return
	}
	var when string
	if c.timeLayout != "" {
		when = b.t.UTC().Format(c.timeLayout)
	} else {
		when = strconv.FormatInt(b.t.UnixMilli(), 10) + " ms"
	}
	prefix := "["
	if c.label != "" {
		prefix += sanitize(c.label) + " "
	}
	prefix += when
	shown := 0
	for p, pl := range b.parts {
		for _, line := range pl.lines {
			if c.max >= 0 && shown >= c.max {
				break
			}
			buf.WriteString(prefix)
			buf.WriteString(" p")
			buf.WriteString(strconv.Itoa(p))
			buf.WriteString("] ")
			buf.WriteString(line)
			buf.WriteByte('\n')
			shown++
		}
	}
	if shown < total {
		fmt.Fprintf(buf, "%s] ... %d more\n", prefix, total-shown)
	}
}

// record formats one record, without the line's prefix.
func (c *config) record(x any) string {
	if c.json {
		data, err := json.Marshal(x)
		if err == nil {
			return string(data)
		}
		return formatValue(x, c.maxBytes, c.types) + " (JSON: " + err.Error() + ")"
	}
	return formatValue(x, c.maxBytes, c.types)
}

// sanitize keeps s on one line and free of terminal control sequences:
// control characters other than tab are escaped as in Go strings, and so
// are bytes that are not UTF-8.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (r != '\t' && unicode.IsControl(r)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b []byte
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b = fmt.Appendf(b, `\x%02x`, s[i])
		case r == '\t' || !unicode.IsControl(r):
			b = append(b, s[i:i+size]...)
		default:
			q := strconv.QuoteRune(r) // 'x' with x escaped
			b = append(b, q[1:len(q)-1]...)
		}
		i += size
	}
	return string(b)
}
