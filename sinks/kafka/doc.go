// Package kafkasink writes streams to Kafka with a franz-go producer
// (github.com/twmb/franz-go). Its directory is sinks/kafka; the package is
// named kafkasink so that it does not clash with the Kafka source,
// package kafka:
//
//	import kafkasink "github.com/microbatch-go/microbatch/sinks/kafka"
//
//	err := kafkasink.Write(counts, "word-counts",
//		kafkasink.Brokers("localhost:9092"),
//		kafkasink.Value(func(p dstream.Pair[string, int]) ([]byte, error) { return json.Marshal(p) }))
//
// Write is an output operation: every batch, it produces the batch's
// elements as records and waits until Kafka has acknowledged each of them
// with acks=all. The producer is idempotent (franz-go's default), so its
// own retries never duplicate a record.
//
// # At-least-once
//
// A record that cannot be encoded or is not acknowledged fails the batch,
// which stops the context. The Kafka direct stream commits a batch's
// offsets only after all of its output operations succeeded, so a
// restarted job reads the failed batch again and writes it again: no
// record is lost, and records of a batch that failed after part of it was
// written appear twice. An element whose Value fails, and one whose
// record is too large for the client or the topic (MESSAGE_TOO_LARGE),
// can go to a DeadLetter function instead, and the batch goes on: a
// poison record does not stop the job. The other records of a record
// batch that the broker refused with a too-large one are produced again
// and written once (see Write).
//
// # Exactly-once, with transactions
//
// With Transactional, each batch is one Kafka transaction. The sink
// begins it, produces the batch, adds the offsets the batch consumed
// from the source (the direct stream's OffsetRanges: each range's Until)
// to the transaction for the source's consumer group, and commits. If
// anything fails, the transaction is aborted and the batch fails: a
// consumer reading with read_committed isolation never sees its records,
// and the group's offsets do not move. A job reading a Kafka topic with a
// direct stream and writing through a transactional sink so writes each
// input record exactly once, across failures and restarts:
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
//     again after their transaction may have committed.
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
// franz-go's group consumer always asks for them). The sink's producer,
// created at the first batch, aborts the transaction its predecessor left
// open, so the wait is short. A transaction that runs longer than the
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
