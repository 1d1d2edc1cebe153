package parquetsink

import "time"

// Rotation says when the files of an input partition's open chunk are
// committed (Rotate). A zero field is no limit; the zero Rotation commits
// at every batch.
type Rotation struct {
	// Rows commits a chunk once it holds this many rows (Kafka Connect's
	// flush.size).
	Rows int64
	// Bytes commits a chunk once its files are about this many bytes
	// (parquet-go's estimate, encoded and compressed).
	Bytes int64
	// Interval commits a chunk once it has been open this long (Kafka
	// Connect's rotate.interval.ms, by the clock of the machine).
	Interval time.Duration
}

// A rotation for files of a useful size on HDFS: 64 MiB or 10 minutes,
// whichever comes first (Rotation{Bytes: DefaultRotateBytes, Interval:
// DefaultRotateInterval}).
const (
	DefaultRotateBytes    = 64 << 20
	DefaultRotateInterval = 10 * time.Minute
)

// Rotate makes the sink write by source range, for jobs that read Kafka
// with the direct stream and run as several copies in one consumer group,
// exactly once. Each Kafka partition has one writer, which keeps a chunk
// of files open over many batches (one file per Hive partition the chunk
// touches) and commits the chunk when r says, at the end of a batch:
//
//	<dir>/<hive dirs>/<prefix>-<topic>-<partition, 5 digits>-<first offset>-<last offset>-<n>.parquet
//
// with the offsets zero-padded to 10 digits and n = 0, 1, ... when
// MaxFileRows or MaxFileBytes split a file. The sink records each commit
// in the output directory, per partition, and is the authority on where
// the partition's next reader starts: pass it to kafka.ResumeFrom. See
// the package documentation for the protocol. Every batch partition must
// hold the records of one Kafka offset range, with only narrow
// operations (map, filter, flatMap) between the direct stream and the
// sink; the others fail the batch.
func Rotate(r Rotation) Option {
	return optionFunc(func(c *config) {
		if r.Rows < 0 || r.Bytes < 0 || r.Interval < 0 {
			c.fail("negative rotation %+v", r)
			return
		}
		c.rotate = &r
	})
}
