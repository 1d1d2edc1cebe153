// Package parquetsink writes streams to Parquet files, on local disk, HDFS
// or any storage.FS, once per batch in effect: the output operation Write
// is to Parquet what dstream's SaveAsTextFiles is to text.
//
// The package lives in the directory sinks/parquet; it is named
// parquetsink so that it does not clash with parquet-go's package parquet,
// which programs that use it usually import too:
//
//	import (
//		"github.com/parquet-go/parquet-go"
//		parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
//	)
//
//	type Reading struct {
//		Device string    `parquet:"device,dict"`
//		At     time.Time `parquet:"at,timestamp(millisecond)"`
//		Temp   float64   `parquet:"temp"`
//		Day    string    `parquet:"-"` // a partition column: only in the path
//	}
//
//	err := parquetsink.Write(readings, "hdfs://namenode:8020/iot",
//		parquetsink.Compression(&parquet.Zstd),
//		parquetsink.PartitionBy([]string{"day"}, func(r Reading) []string { return []string{r.Day} }))
//
// # Schema
//
// Rows are written with parquet-go's GenericWriter[T], so the Parquet
// schema is T's, from its fields and their parquet struct tags (see
// parquet.SchemaOf): names, optional (pointer fields are optional too),
// timestamp(millisecond|microsecond|nanosecond), date, decimal, list, dict,
// per-column codecs and so on. Fields tagged parquet:"-" are not stored.
//
// # Layout
//
// Each non-empty partition p of the batch at time t becomes one or more
// files
//
//	<dir>/[<col>=<value>/...]<prefix>-<t in ms>-<p, 5 digits>-<n>.parquet
//
// for example out/day=2024-01-02/part-1704153600000-00003-0.parquet. The
// Hive partition directories come from PartitionBy, with names and values
// escaped as Hive and Spark escape them (EscapePathName); n counts the
// files of one partition, split by MaxFileRows or MaxFileBytes. All
// batches write into the same directories, so the whole output reads as
// one table:
//
//	SELECT * FROM read_parquet('out/**/*.parquet', hive_partitioning = true)
//
// # Rows that cannot be placed
//
// A directory name is at most MaxDirNameBytes (255) bytes long on Linux
// file systems and, by default, on HDFS. A row whose partition directory
// cannot be made (a value whose escaped <col>=<value> is longer, a value
// that is not valid UTF-8, or a PartitionBy function that returns the
// wrong number of values) is not written: with DeadLetter, it goes to the
// dead-letter function with an error wrapping ErrPartitionValue that
// names the column and the reason, and the rest of the batch is written;
// without, the batch fails with that error and nothing of it is
// committed. The values of each Hive partition are checked once per batch
// partition, not once per row.
//
// # Exactly once
//
// A batch is committed in steps. Its partitions are written, in parallel,
// to temporary files in the staging directory <dir>/_temporary/<prefix>-<t>/;
// then a manifest there lists the final names of the batch (and those of
// an earlier attempt at the same batch, read from its manifest); then the
// temporary files are renamed to their final names, each rename replacing
// a file of an earlier attempt; then the files that an earlier attempt
// wrote and this one did not are removed, and so are the staging
// directories of earlier batches but the last three, whose manifests are
// kept. A temporary file is removed
// when its write fails; a crash leaves temporary files in the staging
// directory, which the next attempt at the same batch clears.
//
// The names depend only on the batch time, the partition, the Hive
// partition and the rows, so when the engine runs a batch again (a failed
// batch, or the pending batches after a restart from a checkpoint), its
// files replace the earlier attempt's, and files of the earlier attempt
// that are not written again (it had more rows, more partitions, or rows
// in other Hive partitions) are removed: the directory holds each row of
// the batch once. This holds for a batch that failed at any step, and for
// the last three batches that committed (those that a crash before the
// engine's next checkpoint makes run again). An empty batch writes
// nothing, but still removes what an earlier attempt at the same batch
// committed.
//
// What this does not cover:
//
//   - A reader that lists the directory while a batch is being committed
//     can see some of its files and not others, and, while a batch runs
//     again, a mix of the old and the new files. Readers that need a
//     consistent view read batches that are complete.
//   - An older batch that runs again replaces its files by name, but
//     files of its first run that the second does not write stay. The
//     engine's recovery runs a batch again with the same rows, which go
//     to the same names, so only a source that does not replay the same
//     rows, or a partitioning that is not deterministic, can leave any.
//   - Two jobs writing into the same directory need different
//     FilePrefix values.
//
// # Partitions and parallelism
//
// The partitions of a batch are written in parallel, as many at once as
// the context's parallelism (dstream.WithParallelism), each by its own
// parquet-go writer, so the rows of one partition are written in order to
// files of their own. Repartition the stream to change the number of
// files per batch; MaxFileRows and MaxFileBytes bound their size.
package parquetsink
