// Package kafka is the Kafka direct stream of the framework, on franz-go
// (github.com/twmb/franz-go): Spark's createDirectStream without Spark.
//
// A direct stream has no receiver. At every batch time it lists the
// latest offsets of the partitions it reads, and the batch holds one
// OffsetRange per partition, from where the previous batch ended
// (inclusive) to those offsets (exclusive), capped by MaxRatePerPartition.
// Each Kafka partition is one partition of the batch, read in parallel
// when the batch runs from records that a franz-go client fetches ahead
// in the background.
//
//	ks := kafka.NewDirectStream(ssc, kafka.Subscribe("words"),
//		kafka.Brokers("localhost:9092"), kafka.Group("wordcount"))
//	lines := dstream.Map(ks.Stream(), func(r kafka.Record) string { return string(r.Value) })
//
// Partitions come from one of three strategies: Subscribe and
// SubscribePattern join the consumer Group, so Kafka assigns partitions
// (copies of a job in one group share them) and partitions or topics added
// later are picked up; Assign reads fixed partitions. Each may start from
// given offsets (StartingOffsets); otherwise a partition starts at the
// group's committed offset, or else at ResetOffset (Earliest by default).
//
// Offsets are committed to the group after every output operation of a
// batch has succeeded, during the next batch's generation or at Stop, so a
// restarted job resumes after the last successful batch and a failed batch
// is read again: at-least-once, and exactly-once with idempotent or
// transactional output. With ManualCommit the job commits itself
// (CommitAsync, Spark's commitAsync) or keeps the offsets in its own store.
// The auto-commit of the Kafka client is always off.
package kafka
