package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strings"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/examples/internal/progress"
	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	"github.com/microbatch-go/microbatch/examples/internal/spot"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/storage"
)

// deadLetter is an input that did not become a row: a line that does not
// parse, or a message that is not a chunk. It is written as one JSON
// object per line.
type deadLetter struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Index is the line's position in its chunk, from 0; absent for a
	// message that is not a chunk.
	Index  *int   `json:"index,omitempty"`
	Reason string `json:"reason"`
	// Line is the text line that did not parse; ValueBase64 the whole
	// message value when it is not a valid chunk. Exactly one is set.
	Line        *string `json:"line,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

// Position returns the dead letter's Kafka message (scaleout.Letter).
func (d deadLetter) Position() (string, int32, int64) { return d.Topic, d.Partition, d.Offset }

// JSON returns the dead letter as one line of JSON, with &, < and > as
// they are (proxy lines are full of them).
func (d deadLetter) JSON() string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil { // strings and numbers only: cannot happen
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// attrs are the dead letter's fields for the log.
func (d deadLetter) attrs() []any {
	a := []any{"topic", d.Topic, "partition", d.Partition, "offset", d.Offset}
	if d.Index != nil {
		a = append(a, "index", *d.Index)
	}
	a = append(a, "reason", d.Reason)
	if d.Line != nil {
		a = append(a, "line", *d.Line)
	}
	if d.ValueBase64 != nil {
		a = append(a, "value_base64", *d.ValueBase64)
	}
	return a
}

// result is what one line (or one bad message) becomes: a row, or a dead
// letter when dead is not nil. The row lives in a block of its chunk's
// rows: results stay small, so the engine moves 16 bytes per line, not a
// whole row, when it collects and caches them.
type result[R any] struct {
	row  *R
	dead *deadLetter
}

// parseRecord returns the function that turns a Kafka record, a
// collector chunk, into the results of its lines.
func parseRecord[R any](table spot.Table[R]) func(kafka.Record) iter.Seq[result[R]] {
	return func(rec kafka.Record) iter.Seq[result[R]] {
		return func(yield func(result[R]) bool) {
			lines, err := spot.DecodeChunk(rec.Value)
			if err != nil {
				v := base64.StdEncoding.EncodeToString(rec.Value)
				yield(result[R]{dead: &deadLetter{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
					Reason: err.Error(), ValueBase64: &v}})
				return
			}
			rows := make([]R, len(lines))
			for i, line := range lines {
				row, err := table.Parse(line)
				var r result[R]
				if err != nil {
					r.dead = &deadLetter{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
						Index: &i, Reason: err.Error(), Line: &line}
				} else {
					rows[i] = row
					r.row = &rows[i]
				}
				if !yield(r) {
					return
				}
			}
		}
	}
}

// counts are what one batch held.
type counts struct {
	lines, rows, dead int64
}

// newReporter returns the progress reporter of the listener's counts.
func newReporter(w io.Writer) *progress.Reporter[counts] {
	return progress.New(w, func(c counts) string {
		return fmt.Sprintf("lines=%d rows=%d dead=%d", c.lines, c.rows, c.dead)
	}, "lines=? rows=? dead=?", func(total, c counts) counts {
		return counts{total.lines + c.lines, total.rows + c.rows, total.dead + c.dead}
	})
}

// pipelineConfig is where the pipeline writes.
type pipelineConfig struct {
	out        string       // the Parquet directory (path or URI)
	deadLetter string       // the dead-letter directory, or "" to log them
	logger     *slog.Logger // dead letters go here without deadLetter
	parquet    []parquetsink.Option
	// storage opens the dead-letter directory: the job's Opener, with its
	// Kerberos client; nil opens it as storage.Open does.
	storage *storage.Opener
}

// newTableSink returns the Parquet sink of table's rows under cfg.out,
// with cfg.parquet.
func newTableSink[R any](table spot.Table[R], cfg pipelineConfig) (*parquetsink.Sink[R], error) {
	sink, err := parquetsink.NewPartitioned(cfg.out, parquetsink.PartitionBy(table.PartitionCols, table.Partition), cfg.parquet...)
	if err != nil {
		return nil, fmt.Errorf("-out %s: %w", cfg.out, err)
	}
	return sink, nil
}

// buildPipeline adds the listener's job to the context of records,
// writing rows to sink (newTableSink):
//
//	records ─FlatMap(decode chunk, parse lines)→ results ─┬→ rows ─→ Parquet, partitioned by y/m/d/h
//	                                                      └→ counts; dead letters → JSON lines, a file per Kafka message (or the log)
//
// results has several consumers, so the engine keeps each of its batches
// while they run instead of parsing it again. The counts of each batch
// go to rep, for the batch's progress line.
func buildPipeline[R any](records *dstream.Stream[kafka.Record], table spot.Table[R], sink *parquetsink.Sink[R], cfg pipelineConfig, rep *progress.Reporter[counts]) error {
	results := dstream.FlatMapSeq(records, parseRecord(table))
	rows := dstream.Map(results.Filter(func(r result[R]) bool { return r.dead == nil }),
		func(r result[R]) R { return *r.row })
	if err := rows.WriteTo(sink); err != nil {
		return fmt.Errorf("-out %s: %w", cfg.out, err)
	}
	var dead *scaleout.DeadFiles
	if cfg.deadLetter != "" {
		var err error
		if dead, err = scaleout.OpenDeadFiles(cfg.storage, cfg.deadLetter); err != nil {
			return fmt.Errorf("-dead-letter %s: %w", cfg.deadLetter, err)
		}
	}
	logDead := cfg.deadLetter == ""
	err := results.ForEachBatch(func(ctx context.Context, b *dstream.Batch[result[R]]) error {
		var c counts
		var letters []deadLetter
		for r := range b.All() {
			switch {
			case r.dead == nil:
				c.rows++
				c.lines++
			default:
				c.dead++
				if r.dead.Index != nil {
					c.lines++
				}
				if logDead {
					cfg.logger.Warn("dead letter", r.dead.attrs()...)
				} else {
					letters = append(letters, *r.dead)
				}
			}
		}
		if dead != nil {
			if err := scaleout.WriteDead(ctx, dead, letters); err != nil {
				return err
			}
		}
		rep.Set(b.Time, c)
		return nil
	}, dstream.Name("dead letters and counts"))
	return err
}
