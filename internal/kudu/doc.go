// Package kudu is a small, pure-Go, write-only client for Apache Kudu,
// speaking Kudu's RPC protocol (KRPC) directly.
//
// It is an internal package, tested against the protocol test server and
// golden vectors, not a real cluster: it has never talked to a real Kudu
// master or tablet server. Its wire formats were written from Kudu's .proto
// files (field numbers and enum values) and from the behaviour documented
// in Kudu's sources; every message is hand-encoded with protowire.
//
//	c, err := kudu.Open(ctx, []string{"master-1:7051", "master-2:7051"})
//	t, err := c.Table(ctx, "events")
//	op := t.NewUpsert()
//	op.Set("id", int64(42))
//	op.Set("name", "x")
//	rowErrs, err := c.Apply(ctx, t, []*kudu.Operation{op})
//
// # What is supported
//
//   - Connections: the "hrpc" header, negotiation with SASL PLAIN (user
//     from WithUser, default the OS user) over plaintext, call multiplexing
//     with out-of-order responses, per-call timeouts from the context.
//     Servers that require TLS, Kerberos (GSSAPI), token, certificate or
//     JWT authentication are refused with ErrUnsupportedSecurity.
//   - Masters: leader discovery with ConnectToMaster (following
//     NOT_THE_LEADER), GetTableSchema, GetTableLocations with a location
//     cache honouring ttl_millis, CreateTable (hash partitioning and range
//     partitioning with bounds or split rows), IsCreateTableDone,
//     DeleteTable.
//   - Types: int8, int16, int32, int64, bool, float, double, string,
//     binary, varchar, unixtime_micros and date (0001-01-01 to 9999-12-31,
//     Kudu's range: Set refuses a date outside it, as Kudu's clients do).
//     Decimal columns are read from schemas but cannot be set.
//   - Writes: INSERT, UPSERT, UPDATE, DELETE and their *_IGNORE variants,
//     routed by partition key (hash buckets with MurmurHash64A, then the
//     range key) to the leader replica of each tablet, split into requests
//     of at most MaxBatchBytes, tablets written concurrently. Per-row
//     errors are returned per operation. NOT_THE_LEADER, TABLET_NOT_FOUND,
//     broken connections and busy servers are retried with exponential
//     backoff.
//
// # What is not
//
// TLS and any authentication other than SASL PLAIN; scans; ALTER TABLE;
// custom per-range hash schemas; transactions; decimal and array values;
// auto-incrementing columns; sidecars.
package kudu
