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
// Under 100 ms batch intervals the ranges end instead at the records the
// background fetches have brought by the batch time, so a batch is cut
// without a request to the brokers and runs without waiting for a fetch;
// the offsets are then listed once a second in the background, for the
// partitions' lag and the health reports below. (At 10 ms batches the
// listing per batch was a hundred requests a second and most of a batch's
// scheduling delay.) A record that a fetch brings just after a tick is in
// the next batch, as a record produced just after the listing is at
// longer intervals.
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
// The auto-commit of the Kafka client is always off. A partition that a
// rebalance takes away and gives back, or that the group forgets (a
// broker restart), resumes after the last range the stream generated for
// it, or at the group's commit if another member has read further, so
// for a job running as one copy the lagging commit never makes a batch be
// read twice.
//
// Start fails with a *dstream.StartError when no seed broker answers
// ("kafka brokers <list>: no broker reachable: ..."), when the brokers
// refuse the client's TLS or SASL settings (below), or when a topic named
// by Subscribe or Assign does not exist ("kafka topic <t>: topic does not
// exist"). While the job runs, a failed offset listing, a missing topic
// or a fetch error is reported with dstream.Context.ReportHealth (so it
// shows in BatchInfo.Degraded) until the next successful listing (at the
// next batch, or within a second under 100 ms intervals), and so
// is a failed offset commit ("kafka commits to group <g>") until the next
// commit succeeds. Stop takes at most StopTimeout, whether or not the
// broker answers. A rebalance that takes partitions away waits up to
// RevokeTimeout for the batches in flight holding them.
//
// # Secured clusters
//
// TLS and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI) are franz-go
// client options, passed with ClientOptions; package security makes them
// from settings named the same way in every command (a CA file, a
// password read from a file or the environment, a Kerberos keytab):
//
//	sec := security.Kafka{
//		TLS:  security.TLS{CAFile: "/etc/kafka/ca.pem"},
//		SASL: security.SASL{Mechanism: security.ScramSHA512, User: "etl", PasswordFile: "/run/secrets/kafka"},
//	}
//	opts, err := sec.KafkaOptions()
//	// ...
//	ks := kafka.NewDirectStream(ssc, kafka.Subscribe("events"),
//		kafka.Brokers("kafka-1:9093"), kafka.Group("etl"), kafka.ClientOptions(opts...))
//
// Every client of the stream uses them (the group member, the readers of
// Assign's partitions, a Table's). Brokers that refuse them fail Start
// within seconds, not after the start timeout, with one error naming the
// brokers and why, such as "kafka brokers kafka-1:9093: SASL
// authentication failed: invalid credentials (mechanism SCRAM-SHA-512)"
// (it wraps kerr.SaslAuthenticationFailed) or "kafka brokers
// kafka-1:9093: TLS: certificate signed by unknown authority (the broker's
// certificate "CN=kafka-1" is issued by "CN=corp CA")".
package kafka
