// Package kafkasink writes streams to Kafka with a franz-go producer
// (github.com/twmb/franz-go). Its directory is sinks/kafka; the package is
// named kafkasink so that it does not clash with the Kafka source,
// package kafka:
//
//	import kafkasink "github.com/microbatch-go/microbatch/sinks/kafka"
//
//	// Element types with a default encoding ([]byte, string, kafka.Record,
//	// pairs of string and []byte):
//	err := kafkasink.Write(lines, "lines", kafkasink.Brokers("localhost:9092"))
//
//	// Any other element type, with an Encoder of that type:
//	err = kafkasink.WriteEncoded(counts, "word-counts",
//		kafkasink.Encode(func(p dstream.Pair[string, int]) ([]byte, error) { return json.Marshal(p) }).
//			WithKey(func(p dstream.Pair[string, int]) []byte { return []byte(p.Key) }),
//		kafkasink.Brokers("localhost:9092"))
//
// The sink is a dstream.Output (New returns it, for Stream.WriteTo with a
// WriteSpec of one's own); Write and WriteEncoded register it. The
// functions that take the stream's elements (the record's value, key,
// headers and topic) are an Encoder of the element type, and the
// dead-letter function is the WriteSpec's, so a function written for
// another element type does not compile; the other settings are Options.
//
// Every batch, the sink produces the batch's elements as records,
// partitions concurrently and each partition's records in order, and
// waits until Kafka has acknowledged each of them with acks=all before
// the batch completes. The producer is idempotent (franz-go's default),
// so its own retries never duplicate a record.
//
// # Secured clusters
//
// TLS and SASL are franz-go options given with ClientOptions, which
// package security makes (security.Kafka.KafkaOptions), as for the Kafka
// direct stream. The sink checks them at start (Sink.StartCheck): brokers
// that refuse the password or whose certificate is not trusted fail
// Start within seconds, with one error naming the brokers and the cause
// ("kafka brokers kafka-1:9093: SASL authentication failed: invalid
// credentials (mechanism SCRAM-SHA-256)"), instead of the first batch
// failing after the delivery timeout. Brokers that cannot be reached at
// start do not fail it: the sink connects at the first batch.
//
// # Guarantees
//
// The sink is neither idempotent by name nor an upsert: Kafka gives each
// record a new offset, and a record produced twice is in the topic twice
// (the idempotent producer only keeps the client's own retries from
// duplicating). So a replayed batch is produced again in full. Without
// Transactional the sink is at-least-once: every record of a completed
// batch but the poison ones it rejected is in the topic, and those of a
// replayed batch are in it twice. With Transactional it
// is transactional: each batch's records are committed together with the
// source's offsets, which makes a Kafka-to-Kafka job exactly-once for
// read_committed consumers, because a batch whose transaction committed
// is never replayed.
//
// # At-least-once
//
// A record that Kafka does not acknowledge fails the batch, which stops
// the context. The Kafka direct stream commits a batch's offsets only
// after all of its output operations succeeded, so a restarted job reads
// the failed batch again and writes it again: no record is lost, and the
// records of a batch that failed after part of it was written appear
// twice. A batch that a restarted job replays from a checkpoint directory
// is produced again likewise, even if it had been written in full.
//
// A poison record does not stop the job: an element that the Encoder
// cannot encode (its value function returns an error, or it has no
// topic: ErrNoTopic) and one whose record is too large alone (it fails
// with MESSAGE_TOO_LARGE on its own, larger than the client's
// ProducerBatchMaxBytes or, in a record batch of its own, than the
// topic's max.message.bytes; the error wraps kerr.MessageTooLarge and
// names its size and both limits) is not written but rejected to the
// job's dead letters with a *RecordError saying why, through
// dstream.Partition.Reject: to the WriteSpec's DeadLetter function, else
// to the context's dead-letter handler (dstream.WithDeadLetterHandler),
// which by default logs a WARN line; it is counted in
// OutputOperationInfo.Rejected, and the rest of the batch is written. The
// other records of a record batch that the broker refused with a
// too-large one are produced again and written once (see Write). With
// FailOnPoison a poison record fails the batch instead, for jobs where a
// record left out is worse than a stopped job. A record that Kafka
// refuses for another reason always fails the batch.
//
// # Counts and rejection reasons
//
// The sink counts what it writes (Sink.OutputStats; the engine reports
// each batch's share in dstream.OutputOperationInfo.Wrote): Records are
// the records Kafka acknowledged, and Bytes the bytes of their keys and
// values (not their headers, nor the record batches' encoding); with
// Transactional, those of the transactions that committed, counted at the
// commit. Rows and Files stay zero. A rejected element names its reason
// (dstream.RejectReasonOf, from RecordError.RejectReason): "encode" (the
// Encoder failed, or chose no topic) or "too_large" (a record too large
// alone).
//
// # Exactly-once, with transactions
//
// With Transactional, each batch is one Kafka transaction. The sink
// begins it, produces the batch, adds the offsets the batch consumed
// from the source (the direct stream's OffsetRanges: each range's Until)
// to the transaction for the source's consumer group, and commits. If
// anything fails, the transaction is aborted and the batch fails: a
// consumer reading with read_committed isolation never sees its records,
// and the group's offsets do not move. The restarted job reads the batch
// again from the group's offsets and writes it again in a new
// transaction: a replayed batch's records are visible once, from the
// transaction that commits, and a batch whose transaction committed is
// not replayed, since its offsets were committed with it. A
// job reading a Kafka topic with a direct stream and writing through a
// transactional sink so writes each input record exactly once, across
// failures and restarts (a poison record rejected to the dead letters is
// in the dead letters, not in the output, and its offset is committed
// with the rest: use FailOnPoison to stop at it instead):
//
//	ks := kafka.NewDirectStream(ssc, kafka.Subscribe("in"),
//		kafka.Brokers(brokers...), kafka.Group("etl"), kafka.ManualCommit())
//	out := dstream.Map(ks.Stream(), transform)
//	err := kafkasink.Write(out, "out", kafkasink.Brokers(brokers...),
//		kafkasink.Transactional("etl-0", kafkasink.Offsets(ks, "etl")))
//
// For that:
//
//   - The direct stream must be in ManualCommit mode: the sink commits its
//     offsets. Otherwise the stream also commits them after each batch,
//     outside the transaction and possibly after a later batch's
//     transaction, which moves the group back.
//   - On restart the stream must start from the group's committed offsets:
//     no StartingOffsets, and no checkpoint directory, whose saved
//     position wins over the group's and whose pending batches are run
//     again after their transaction may have committed (and would then be
//     written twice).
//   - The sink's stream must follow the direct stream batch by batch
//     (maps, filters, shuffles within the batch), not through windows or
//     state.
//   - Consumers of the output read with read_committed isolation
//     (kgo.FetchIsolationLevel(kgo.ReadCommitted()), kafka.ReadCommitted
//     for a direct stream).
//   - The transactional ID stays the same when the job restarts, so that
//     the new producer fences the old one and aborts the transaction it
//     left open; each copy of a job that runs at once has its own.
//
// A group member that restarts waits for transactions that hold its
// group's offsets to end before it reads them (KIP-447 stable offsets;
// franz-go's group consumer always asks for them). The sink's producer
// initializes its producer ID at the first batch, which aborts the
// transaction its predecessor left open, so the wait is short. A transaction that runs longer than the
// producer's transaction timeout (franz-go's default is 40s) is aborted by
// the broker and its batch fails: raise it with
// ClientOptions(kgo.TransactionTimeout(d)) for long batches.
//
// If the source implements GroupMember, the offsets are committed as its
// group member: a member that a rebalance has fenced cannot commit, and
// its transaction aborts. Otherwise they are committed as a non-member
// (generation -1), which Kafka accepts for transactional commits; the
// transactional ID then does the fencing, which suffices for one copy of
// a job per group.
//
// Transactional needs Kafka 2.5 or later. franz-go adds offsets to a
// transaction only for the group its own client is a member of
// (GroupTransactSession), and here the direct stream's client is the
// member, so the sink sends the AddOffsetsToTxn and TxnOffsetCommit
// requests itself, on its producer's transaction. To keep those requests
// and the client's own consistent, the sink's client uses the transaction
// protocol from before KIP-890 part 2 (it caps EndTxn and TxnOffsetCommit
// at version 4): the producer epoch stays the same across transactions
// and partitions and groups are added to a transaction explicitly. Every
// broker since Kafka 0.11 accepts it, Kafka 4 included, where it runs
// these transactions as transaction.version 1 ones.
package kafkasink
