// Package scaleout holds what the example applications share to run as
// several copies in one Kafka consumer group, exactly once: the flags of
// the Parquet rotation and of the group's timeouts, the direct stream's
// options that make the Parquet files the record of where each partition
// resumes, and dead letters written a file per Kafka message, so that a
// message read again by any copy replaces its own.
package scaleout

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/microbatch-go/microbatch/dstream"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/microbatch-go/microbatch/storage"
)

// Defaults of the group's timeouts: Kafka's.
const (
	DefaultSessionTimeout   = 45 * time.Second
	DefaultRebalanceTimeout = 60 * time.Second
)

// Flags are the flags of running as copies in one group.
type Flags struct {
	// Rotation is when a Kafka partition's Parquet files are committed.
	Rotation parquetsink.Rotation
	// SessionTimeout and RebalanceTimeout are the group's.
	SessionTimeout, RebalanceTimeout time.Duration
	// MaxRatePerPartition caps each partition's records per second of
	// batch (kafka.MaxRatePerPartition); 0: no cap.
	MaxRatePerPartition float64
	// Backpressure adapts the batches' size to the processing rate
	// (dstream.WithBackpressure).
	Backpressure bool
}

// ContextOptions are the context's options for the flags: backpressure.
func (f *Flags) ContextOptions() []dstream.Option {
	if f.Backpressure {
		return []dstream.Option{dstream.WithBackpressure(0)}
	}
	return nil
}

// Register adds -rotate-bytes, -rotate-interval, -rotate-rows,
// -session-timeout, -rebalance-timeout, -max-rate-per-partition and
// -backpressure to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.Int64Var(&f.Rotation.Bytes, "rotate-bytes", parquetsink.DefaultRotateBytes, "commit a Kafka partition's Parquet files once they are about this many bytes (0: no limit)")
	fs.DurationVar(&f.Rotation.Interval, "rotate-interval", parquetsink.DefaultRotateInterval, "commit a Kafka partition's Parquet files once they are this old (0: no limit)")
	fs.Int64Var(&f.Rotation.Rows, "rotate-rows", 0, "commit a Kafka partition's Parquet files once they hold this many rows (0: no limit; all three 0: every batch)")
	f.RegisterGroup(fs)
}

// RegisterGroup registers only the consumer group's flags,
// -session-timeout, -rebalance-timeout, -max-rate-per-partition and
// -backpressure, for jobs that write no files (GroupOptions,
// ContextOptions).
func (f *Flags) RegisterGroup(fs *flag.FlagSet) {
	fs.DurationVar(&f.SessionTimeout, "session-timeout", DefaultSessionTimeout, "the group's session timeout: a copy that stops answering loses its partitions after this long")
	fs.DurationVar(&f.RebalanceTimeout, "rebalance-timeout", DefaultRebalanceTimeout, "how long a rebalance waits for every copy to rejoin (a paused or dead one is dropped after it)")
	fs.BoolVar(&f.Backpressure, "backpressure", false, "size each batch to the rate the job processed recently, within -max-rate-per-partition (Spark's spark.streaming.backpressure.enabled)")
	fs.Float64Var(&f.MaxRatePerPartition, "max-rate-per-partition", 0, "at most this many records per second of batch from each Kafka partition (Spark's spark.streaming.kafka.maxRatePerPartition; 0: no cap, a batch takes the whole backlog)")
}

// Check returns what is wrong with the flags' values, for a usage error.
func (f *Flags) Check() error {
	switch {
	case f.Rotation.Bytes < 0 || f.Rotation.Interval < 0 || f.Rotation.Rows < 0:
		return errors.New("-rotate-bytes, -rotate-interval and -rotate-rows must not be negative")
	case f.SessionTimeout < time.Second:
		return fmt.Errorf("-session-timeout %v: want at least 1s", f.SessionTimeout)
	case f.RebalanceTimeout < time.Second:
		return fmt.Errorf("-rebalance-timeout %v: want at least 1s", f.RebalanceTimeout)
	case f.MaxRatePerPartition < 0:
		return fmt.Errorf("-max-rate-per-partition %v: must not be negative", f.MaxRatePerPartition)
	}
	return nil
}

// ParquetOptions are the Parquet sink's options: Rotate.
func (f *Flags) ParquetOptions() []parquetsink.Option {
	return []parquetsink.Option{parquetsink.Rotate(f.Rotation)}
}

// KafkaOptions are the direct stream's options: each partition resumes
// where store (the Parquet sink) says, with the group's timeouts; a
// rebalance waits for the batches holding revoked partitions within half
// the rebalance timeout.
func (f *Flags) KafkaOptions(store dstream.PositionStore) []kafka.Option {
	return append([]kafka.Option{kafka.ResumeFrom(store)}, f.GroupOptions()...)
}

// GroupOptions are the direct stream's options for the group's timeouts
// (a rebalance waits for the batches holding revoked partitions within
// half the rebalance timeout) and the rate cap.
func (f *Flags) GroupOptions() []kafka.Option {
	return []kafka.Option{
		// Heartbeats every second (franz-go's default is 3 s): a member
		// learns of a rebalance at its next heartbeat, and a cooperative
		// rebalance takes two rounds of them.
		kafka.ClientOptions(kgo.SessionTimeout(f.SessionTimeout), kgo.RebalanceTimeout(f.RebalanceTimeout),
			kgo.HeartbeatInterval(min(time.Second, f.SessionTimeout/3))),
		kafka.RevokeTimeout(min(kafka.DefaultRevokeTimeout, f.RebalanceTimeout/2)),
		kafka.MaxRatePerPartition(f.MaxRatePerPartition),
	}
}

// A Letter is a dead letter of a Kafka message.
type Letter interface {
	// Position returns the message's topic, partition and offset.
	Position() (topic string, partition int32, offset int64)
	// JSON returns the dead letter as one line of JSON.
	JSON() string
}

// DeadFiles writes dead letters a file per Kafka message, with the dead
// letters of the message as JSON lines:
//
//	<dir>/<topic>-<partition, 5 digits>/dead-<offset, 10 digits>.jsonl
//
// A message's dead letters come from one batch, so a message read again
// (after a crash, by another copy in the group, by a zombie) writes the
// same file again, replacing it: each dead letter is in the directory
// once, whichever copies wrote it. Dead letters are few; a flood of bad
// messages makes a file each.
type DeadFiles struct {
	fsys storage.FS
	root string
}

// OpenDeadFiles returns the DeadFiles of the directory dir (a path or a
// storage URI), opened through opener: the job's one storage.Opener, with
// its credentials (a logged-in Kerberos client for hdfs:// on a
// Kerberized cluster). A nil opener opens dir as storage.Open does.
func OpenDeadFiles(opener *storage.Opener, dir string) (*DeadFiles, error) {
	fsys, root, err := opener.Open(dir)
	if err != nil {
		return nil, err
	}
	return &DeadFiles{fsys: fsys, root: root}, nil
}

// deadConcurrency is how many dead-letter files are written at once.
const deadConcurrency = 16

// WriteDead writes letters, grouped by message, each file atomically.
func WriteDead[L Letter](ctx context.Context, d *DeadFiles, letters []L) error {
	type pos struct {
		topic     string
		partition int32
		offset    int64
	}
	byMsg := map[pos]*bytes.Buffer{}
	for _, l := range letters {
		t, p, o := l.Position()
		k := pos{t, p, o}
		b := byMsg[k]
		if b == nil {
			b = new(bytes.Buffer)
			byMsg[k] = b
		}
		b.WriteString(l.JSON())
		b.WriteByte('\n')
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deadConcurrency)
	for k, b := range byMsg {
		name := DeadFileName(d.root, k.topic, k.partition, k.offset)
		data := b.Bytes()
		g.Go(func() error {
			err := storage.WriteFileAtomic(gctx, d.fsys, name, func(w io.Writer) error {
				_, err := w.Write(data)
				return err
			})
			if err != nil {
				return fmt.Errorf("-dead-letter: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// DeadFileName is the name of the dead-letter file of a message under
// root.
func DeadFileName(root, topic string, partition int32, offset int64) string {
	return path.Join(root, fmt.Sprintf("%s-%05d", topic, partition), fmt.Sprintf("dead-%010d.jsonl", offset))
}

// DeadGlob is the pattern of the dead-letter files under a local
// directory, for filepath.Glob.
const DeadGlob = "*/dead-*.jsonl"
