// Package parquetsink writes streams to Parquet files, on local disk, HDFS
// or any storage.FS, once per batch in effect: the output operation Write
// is to Parquet what dstream's SaveAsTextFiles is to text. The sink is a
// dstream.Output: New and NewPartitioned return it for Stream.WriteTo,
// and Write and WritePartitioned register it.
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
//	err := parquetsink.WritePartitioned(readings, "hdfs://namenode:8020/iot",
//		parquetsink.PartitionBy([]string{"day"}, func(r Reading) []string { return []string{r.Day} }),
//		parquetsink.Compression(&parquet.Zstd))
//
// or, with a dead-letter function of the output's own:
//
//	sink, err := parquetsink.NewPartitioned("hdfs://namenode:8020/iot",
//		parquetsink.PartitionBy([]string{"day"}, func(r Reading) []string { return []string{r.Day} }))
//	...
//	err = readings.WriteTo(sink, dstream.WriteSpec[Reading]{DeadLetter: func(r Reading, err error) { ... }})
//
// The callbacks typed by the stream's element type, the partition
// function and the dead-letter function, are typed arguments: one of
// another type does not compile. The other settings are Options.
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
// Hive partition directories come from PartitionBy (WritePartitioned,
// NewPartitioned), with names and values
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
// wrong number of values) is not written. It is rejected through the
// output contract (dstream.Partition.Reject) with an error wrapping
// ErrPartitionValue that names the column and the reason: it goes to the
// output's dstream.WriteSpec.DeadLetter or, without one, to the context's
// dead-letter handler (dstream.WithDeadLetterHandler), which by default
// logs it at WARN level; it is counted in the batch's
// dstream.OutputOperationInfo.Rejected, and the rest of the batch is
// written. A rejected row is handed over while its batch is written,
// before the batch is committed, so a batch that fails for another
// reason and runs again rejects its rows again. With
// FailOnInvalidPartition, such a row fails the batch instead, and nothing
// of it is committed. The values of each Hive partition are checked once
// per batch partition, not once per row.
//
// # Counts and rejection reasons
//
// The sink counts what it writes (Sink.OutputStats; the engine reports
// each batch's share in dstream.OutputOperationInfo.Wrote): Records are
// the rows written into files, committed yet or not (with Rotate, the
// rows a batch adds to the open chunks, discarded later or not); Rows,
// Bytes and Files are the rows, the sizes and the number of the data
// files made visible, counted when they are renamed to their final names
// (with Rotate, when a chunk is committed: as a batch completes, which
// the engine reports with the next batch, at Release, or at Close, which
// no batch reports). A batch or chunk written again, whose files replace
// those of its earlier attempt, counts what it wrote again. A rejected
// row names its reason (dstream.RejectReasonOf): "value_count" (the
// PartitionBy function returned the wrong number of values),
// "invalid_utf8" or "name_too_long".
//
// # Exactly once
//
// The guarantee is idempotence by name: each file's name depends only on
// the batch time, the batch partition, the Hive partition and the file's
// place in the partition's rows, and each batch is committed in steps,
// with a manifest, so that a batch written again replaces what it wrote
// before instead of adding to it. It is not transactional (a reader that
// lists the directory while a batch is committed can see part of it; see
// below) and not an upsert (rows are not matched by a key): a replayed
// batch leaves each of its rows once because the engine replays a batch
// with the same rows in the same partitions, which go to the same names.
//
// The engine calls Begin, then WritePartition for each partition, then
// Commit (dstream.Output). Begin clears the staging directory
// <dir>/_temporary/<prefix>-<t>/ of the batch: temporary files of an
// earlier attempt are removed and its manifest, if any, is read. Each
// partition's rows are written to temporary files there as they come.
// Commit writes a manifest there listing the final names of the batch
// (and those of the earlier attempt, read from its manifest); then it
// renames the temporary files to their final names, each rename
// replacing a file of an earlier attempt; then it removes the files that
// an earlier attempt wrote and this one did not, and the staging
// directories of earlier batches but the last three, whose manifests are
// kept. A partition whose write fails removes its temporary files, and
// Abort, called when a partition failed, removes those of the others;
// a crash leaves temporary files in the staging directory, which the
// next attempt at the same batch clears.
//
// So when the engine runs a batch again (a failed batch, or the pending
// batches after a restart from a checkpoint), the replayed batch's files
// replace the earlier attempt's, and files of the earlier attempt that
// are not written again (it had more rows, more partitions, or rows in
// other Hive partitions) are removed: the directory holds each row of
// the batch once. This holds for a batch that failed at any step, and for
// the last three batches that committed (those that a crash before the
// engine's next checkpoint makes run again). An empty batch writes
// nothing, but still removes what an earlier attempt at the same batch
// committed. Rows rejected to the dead letters are rejected again by
// each attempt.
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
// # Many copies of a job: Rotate
//
// Copies of a job reading Kafka in one consumer group cannot name files
// by batch time: they share batch times. With Rotate, the sink writes by
// source range instead, Kafka Connect's HDFS model. Each Kafka partition
// has one writer at a time (its owner in the group), which keeps a chunk
// open over many batches, one file per Hive partition the chunk touches,
// and commits the chunk when its Rotation says (rows, bytes, age), at
// the end of a batch that succeeded in every output. A file's name holds
// the topic, the partition and the first and last offset of its chunk:
//
//	<dir>/<hive dirs>/<prefix>-<topic>-<partition, 5 digits>-<first>-<last>-<n>.parquet
//
// so files of two copies never share a name, and a chunk written again
// replaces its own files. The commit protocol, per partition, in
// <dir>/_temporary/<prefix>-<topic>-<partition>/:
//
//  1. The chunk's files are written to temporary names in the partition's
//     staging directory, under a directory of this writer and chunk.
//  2. At rotation they are closed and synced, then the chunk is claimed:
//     _log/<first offset> is created exclusively (storage.CreateExclusive:
//     one NameNode create; O_EXCL locally), listing the chunk's end offset
//     and each file's temporary and final name. Of two writers holding a
//     chunk from the same offset (the owner, and a zombie: a copy paused
//     past its session that lost the partition without noticing), one
//     creates the claim; the other discards its chunk and fails its
//     batch, so that it restarts from the store. A claim made after a
//     newer one (a writer far behind) is taken back before any rename.
//  3. The files are renamed to their final names.
//
// The next owner of the partition (the direct stream's kafka.ResumeFrom
// calls Resume when the group assigns it) rolls the renames of the
// claims forward, removes claims that are off the chain and temporary
// files of chunks that can no longer be committed, and starts reading at
// the end of the newest claim. The store is the truth, not a checkpoint
// or the group's commit: a chunk still open when its writer crashed is
// read again, once. When a rebalance takes a partition away in order,
// its open chunk is committed first (Release); when the group fences the
// member, the chunk is discarded. A batch that fails discards the chunks
// it wrote into, whole (their earlier batches are read again).
//
// The first chunk of a partition records where it started (_log/start),
// so that a copy that takes over a partition no chunk was committed for
// yet starts there too. Claims are kept for at least ten minutes and the
// newest eight, so that a zombie finds a newer one. Readers that list
// the directory (Hive, Spark, DuckDB's globs for *.parquet) skip
// _temporary. Memory: a chunk holds the rows of each Hive partition it
// touches (up to 8,192 per Hive partition and 65,536 in all); a Hive
// partition with more gets its file and parquet-go writer then, whose row
// group is buffered until RowGroupRows rows or the file ends. The others
// are written at the commit, one after another, by one writer. The size
// that Rotation.Bytes compares is that of the files opened so far.
//
// # Partitions and parallelism
//
// The engine writes the partitions of a batch in parallel, as many at
// once as the context's parallelism (dstream.WithParallelism), and turns
// a panic in one (in a PartitionBy function, say) into the batch's error.
// Each partition is written by its own parquet-go writer, so the rows of
// one partition are written in order to files of their own. Repartition
// the stream to change the number of files per batch; MaxFileRows and
// MaxFileBytes bound their size.
//
// A partition's rows are computed as the sink iterates them
// (dstream.Partition.Records: the narrow operations after the last
// shuffle run straight into the sink) and go to parquet-go through a
// buffer of a few thousand rows, reused, without a copy of the partition.
// With Hive partitions, the rows of the first Hive partition a batch
// partition meets are streamed that way; the rows of the others are kept
// (copied once, in chunks) until the partition's last row, then written
// one Hive partition after another, so that the sink has one parquet-go
// writer per partition being written, whose column buffers take
// PageBufferSize (256 KiB by default) per column, however many Hive
// partitions a batch partition spreads over. A finished file is synced
// and closed in the background, up to eight per partition at once, while
// the partition's next rows are encoded (a sync waits for the disk or the
// DataNodes, and a batch partition with many Hive partitions has a file
// for each); WritePartition returns once they all are, so every file is
// durable before the batch is committed. Writers and buffers are kept
// from one batch to the next while the sink is open, and released by
// Close.
package parquetsink
