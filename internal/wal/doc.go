// Package wal is the receivers' write-ahead log: an append-only log of
// opaque records (blocks of records already encoded by the caller) that
// are durable before Append returns, so a receiver can acknowledge its
// source only once a block is safe, and the engine can replay after a
// crash the blocks no completed batch covered. The model is the
// write-ahead log of Apache NiFi's FlowFile repository: transaction ids
// from a global counter, a serializer name in every file, checksummed
// records, recovery that ignores what was not completely written.
//
//	log, err := wal.Open(dir, wal.Codec("gob:Block/1"))
//	if r := log.Recovery(); r.Truncated != nil {
//		slog.Warn("receiver log truncated", "report", r)
//	}
//	seq, err := log.Append(block)          // durable on return
//	err = log.Scan(lowestNeeded, replay)   // after a restart
//	err = log.RemoveBefore(lowestNeeded)   // as batches complete
//
// # Guarantees
//
//   - Each record gets a sequence number (seq) one above the previous
//     one's. Seqs are never reused, across restarts too: after a recovery
//     that dropped data, the next seq skips every seq the dropped bytes
//     could have held, so a seq that an earlier run returned, whose record
//     was damaged on disk later, never names different data.
//   - Append returns only after the record, and every record appended
//     before it, is written and fsynced; new segment files and removals
//     are made durable by syncing the directory. Concurrent Appends share
//     fsyncs (group commit).
//   - Records are immutable. Read and Scan see only durable records and
//     check each record's checksum again.
//   - After a crash, Open recovers a prefix of the log: the records up to
//     the first torn or damaged one. Everything from there on, including
//     later segment files that look intact, is dropped, so the log never
//     has holes; Recovery reports what was cut (file, offset, bytes,
//     reason). Damage never makes Open panic or fail, but a codec name or
//     format version that does not match, or an intact record above the
//     size limit, does fail it, without changing any file.
//
// # Format
//
// A log is a directory of segment files named "log-" and the seq of the
// segment's first record as 20 decimal digits (log-00000000000000000001),
// so names sort in log order. Other files are ignored. All integers are
// little-endian; checksums are CRC-32C (Castagnoli). A segment starts with
// a header:
//
//	offset  size  field
//	0       8     magic "MBWALSEG"
//	8       2     format version, 1
//	10      2     n, the length of the codec name (at most 255)
//	12      8     first: the seq of the segment's first record
//	20      8     prev: the seq of the last record before the segment
//	28      n     codec name, as given with Codec
//	28+n    4     checksum of bytes 0 to 28+n
//
// and goes on with records, each one
//
//	offset  size  field
//	0       4     length of the payload
//	4       4     checksum of the payload followed by bytes 0-4 and 8-16
//	8       8     seq
//	16      length  payload
//
// Within a segment seqs go up by one from first. prev is first-1, except in
// the segment recovery starts after dropping data, where the skipped seqs
// lie in between; recovery checks that each segment's prev is the last
// seq of the segment before it, so a missing segment file counts as
// damage like any other. The log starts a new segment when the next
// record would take the current one past SegmentBytes.
//
// Recovery reads every segment in order and stops at the first problem: a
// header that is short, has the wrong magic, a bad checksum, a first seq
// that does not match the file name or a prev that does not continue the
// previous segment; or a record whose header is short, whose length runs
// past the end of the file or above MaxRecordBytes, whose checksum does
// not match, or whose seq is not the next one. The file is truncated at
// that record (or removed, for a bad header) and later files are removed.
// A fresh segment then starts at the skipped-to seq. Otherwise appending
// continues in the last segment.
//
// # Compaction
//
// RemoveBefore deletes the oldest segment files whose records are all
// below a seq, one at a time and each deletion made durable before the
// next, so a crash leaves a contiguous log. Blocks are replayed once and
// then dropped as whole segments; rewriting live records into a new
// segment (NiFi's checkpoint) is not needed.
package wal
