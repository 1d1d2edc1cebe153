package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/examples/internal/progress"
	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/storage"
)

// deadLetter is a message that did not become an event, or an event that
// did not become a Kudu row or a Parquet row. It is written as one JSON
// object per line.
type deadLetter struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Reason    string `json:"reason"`
	// ID is the event's id, for the dead letters of an event that one of
	// the outputs refused (it is in the other one all the same).
	ID *string `json:"id,omitempty"`
	// ValueBase64 is the message value of a message that is not an
	// Avro Event (not for an oversized one).
	ValueBase64 *string `json:"value_base64,omitempty"`

	// kind is the reason's kind for metrics (deadOversized, ...).
	kind string
}

// Position returns the dead letter's Kafka message (scaleout.Letter).
func (d deadLetter) Position() (string, int32, int64) { return d.Topic, d.Partition, d.Offset }

// JSON returns the dead letter as one line of JSON, with &, < and > as
// they are.
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
	a := []any{"topic", d.Topic, "partition", d.Partition, "offset", d.Offset, "reason", d.Reason}
	if d.ID != nil {
		a = append(a, "id", *d.ID)
	}
	if d.ValueBase64 != nil {
		a = append(a, "value_base64", *d.ValueBase64)
	}
	return a
}

// result is what one Kafka message becomes: an event's rows (ev), a dead
// letter, or both (an event that the Kudu path refuses).
type result struct {
	ev   *converted
	dead *deadLetter
}

// reasonOversized starts the reason of the dead letter of a message over
// -max-message-bytes.
const reasonOversized = "oversized"

// decoder returns the function that turns a Kafka message into its result.
func decoder(maxMessageBytes int, kudu bool) func(kafka.Record) result {
	return func(rec kafka.Record) result {
		from := origin{rec.Topic, rec.Partition, rec.Offset}
		if len(rec.Value) > maxMessageBytes {
			return result{dead: &deadLetter{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, kind: deadOversized,
				Reason: fmt.Sprintf("%s: %d bytes, more than -max-message-bytes %d", reasonOversized, len(rec.Value), maxMessageBytes)}}
		}
		e, err := DecodeEvent(rec.Value)
		if err != nil {
			v := base64.StdEncoding.EncodeToString(rec.Value)
			return result{dead: &deadLetter{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, kind: deadNotAnEvent,
				Reason: err.Error(), ValueBase64: &v}}
		}
		c, why := convert(&e, kudu, from)
		r := result{ev: c}
		if why != "" {
			r.dead = &deadLetter{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Reason: why, ID: &c.hdfs.ID, kind: deadNotAKuduRow}
		}
		return r
	}
}

// counts are what one batch held.
type counts struct {
	events int64 // the Parquet rows: decoded events less those the Parquet sink refused
	kudu   int64 // rows written to Kudu
	dead   int64 // dead letters
}

// newReporter returns the progress reporter of the manager's counts:
// "events=118 kudu=80 dead=5", kudu=off without the Kudu path.
func newReporter(w io.Writer, kuduOn bool) *progress.Reporter[counts] {
	return progress.New(w, func(c counts) string {
		kudu := "off"
		if kuduOn {
			kudu = strconv.FormatInt(c.kudu, 10)
		}
		return fmt.Sprintf("events=%d kudu=%s dead=%d", c.events, kudu, c.dead)
	}, "events=? kudu=? dead=?", func(t, c counts) counts {
		return counts{t.events + c.events, t.kudu + c.kudu, t.dead + c.dead}
	})
}

// rejects collects the rows that a sink refused during one batch's
// output operation, as dead letters. Batches and their output operations
// run one at a time, in order, so the operation after it takes exactly
// that batch's.
type rejects struct {
	mu   sync.Mutex
	dead []deadLetter
}

// kudu is the DeadLetter function of the Kudu output's WriteSpec: a row
// the client or the server rejected.
func (r *rejects) kudu(k KuduEvent, err error) {
	r.add(k.from.deadLetter(k.ID, deadKuduRejected, "kudu: rejected: "+strings.TrimPrefix(err.Error(), "kudu: ")))
}

// parquet is the Parquet sink's DeadLetter function (its WriteSpec's): an
// event whose partition directory cannot be made (a source too long for a
// directory name, say).
func (r *rejects) parquet(h *HdfsEvent, err error) {
	r.add(h.from.deadLetter(h.ID, deadParquetRefuse, "parquet: rejected: "+err.Error()))
}

func (r *rejects) add(d deadLetter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = append(r.dead, d)
}

func (r *rejects) take() []deadLetter {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dead
	r.dead = nil
	return d
}

// pipelineConfig is where the pipeline writes.
type pipelineConfig struct {
	hdfsOut         string       // the Parquet directory (path or URI)
	deadLetter      string       // the dead-letter directory, or "" to log them
	kuduMasters     []string     // the Kudu masters; none: no Kudu path
	kuduTable       string       // the Kudu table
	kuduBuckets     int32        // hash buckets on source of a table created here
	maxMessageBytes int          // larger messages are dead letters
	logger          *slog.Logger // dead letters go here without deadLetter
	// metrics, when not nil, gets the manager's counters (the status
	// page's Registerer).
	metrics prometheus.Registerer
	parquet []parquetsink.Option
	kudu    []kudusink.Option
	// storage opens the dead-letter directory: the job's Opener, with
	// its Kerberos client; nil opens it as storage.Open does.
	storage *storage.Opener
}

// newEventSink returns the Parquet sink of the events, for buildPipeline
// and, with Rotate among cfg.parquet, for kafka.ResumeFrom.
func newEventSink(cfg pipelineConfig) (*parquetsink.Sink[*HdfsEvent], error) {
	sink, err := parquetsink.NewPartitioned(cfg.hdfsOut, parquetsink.PartitionBy(partitionCols, (*HdfsEvent).partition), cfg.parquet...)
	if err != nil {
		return nil, fmt.Errorf("-hdfs-out %s: %w", cfg.hdfsOut, err)
	}
	return sink, nil
}

// buildPipeline adds the manager's job to the context of the direct
// stream ds, writing events to sink (newEventSink):
//
//	records ─Map(decode, convert)→ results ─┬→ events ─→ Parquet, partitioned by source/day, rejected rows → rejects
//	                                         ├→ Kudu rows ─→ Kudu (UPSERT), rejected rows → rejects
//	                                         └→ counts; dead letters and the rejects → JSON lines, a file per Kafka message
//
// results has several consumers, so the engine keeps each of its batches
// while they run instead of decoding it again. The counts of each batch
// go to rep.
func buildPipeline(ds *kafka.DirectStream, sink *parquetsink.Sink[*HdfsEvent], cfg pipelineConfig, rep *progress.Reporter[counts]) error {
	kuduOn := len(cfg.kuduMasters) > 0
	met, err := newManagerMetrics(cfg.metrics)
	if err != nil {
		return err
	}
	results := dstream.Map(ds.Stream(), decoder(cfg.maxMessageBytes, kuduOn))

	events := dstream.Map(results.Filter(func(r result) bool { return r.ev != nil }),
		func(r result) *HdfsEvent { return &r.ev.hdfs })
	prej := &rejects{}
	if err := events.WriteTo(sink, dstream.WriteSpec[*HdfsEvent]{DeadLetter: prej.parquet}); err != nil {
		return fmt.Errorf("-hdfs-out %s: %w", cfg.hdfsOut, err)
	}

	krej := &rejects{}
	if kuduOn {
		rows := dstream.Map(results.Filter(func(r result) bool { return r.ev != nil && r.ev.toKudu }),
			func(r result) KuduEvent { return r.ev.kudu })
		kopts := append([]kudusink.Option{
			kudusink.CreateIfMissing(kudusink.Hash(cfg.kuduBuckets, "source")),
		}, cfg.kudu...)
		sink, err := kudusink.New(cfg.kuduMasters, cfg.kuduTable, kudusink.StructTags[KuduEvent](), kopts...)
		if err != nil {
			return fmt.Errorf("kudu: %w", err)
		}
		if err := rows.WriteTo(sink, dstream.WriteSpec[KuduEvent]{DeadLetter: krej.kudu}); err != nil {
			return fmt.Errorf("kudu: %w", err)
		}
	}

	var dead *scaleout.DeadFiles
	if cfg.deadLetter != "" {
		var err error
		if dead, err = scaleout.OpenDeadFiles(cfg.storage, cfg.deadLetter); err != nil {
			return fmt.Errorf("-dead-letter %s: %w", cfg.deadLetter, err)
		}
	}

	return results.ForEachBatch(func(ctx context.Context, b *dstream.Batch[result]) error {
		var c counts
		var letters []deadLetter
		var messages int64
		for r := range b.All() {
			messages++
			if r.ev != nil {
				c.events++
				if r.ev.toKudu {
					c.kudu++
				}
			}
			if r.dead != nil {
				c.dead++
				letters = append(letters, *r.dead)
			}
		}
		parquetRejected, kuduRejected := prej.take(), krej.take()
		c.events -= int64(len(parquetRejected))
		c.kudu -= int64(len(kuduRejected))
		c.dead += int64(len(parquetRejected) + len(kuduRejected))
		letters = append(append(letters, parquetRejected...), kuduRejected...)
		if dead == nil {
			for _, d := range letters {
				cfg.logger.Warn("dead letter", d.attrs()...)
			}
		} else if err := scaleout.WriteDead(ctx, dead, letters); err != nil {
			return err
		}
		rep.Set(b.Time, c)
		met.add(messages, c, letters)
		return nil
	}, dstream.Name("dead letters and counts"))
}
