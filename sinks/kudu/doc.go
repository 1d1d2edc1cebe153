// Package kudusink writes streams to Apache Kudu tables, with the
// project's own pure-Go Kudu write client (internal/kudu).
//
// The sink is a dstream.Output. Write registers it for a stream whose
// records map to columns by their struct tags, WriteMapped for records
// mapped by a function; both add the sink's start-up check (the masters
// answer, the table exists or is created):
//
//	err := kudusink.Write(events, []string{"kudu-master:7051"}, "events",
//		kudusink.CreateIfMissing(kudusink.Hash(8, "source")))
//
// New returns the sink for Stream.WriteTo, to give a typed dead-letter
// function or a name in a dstream.WriteSpec; WriteTo registers its
// start-up check (StartCheck) as Write does:
//
//	sink, err := kudusink.New([]string{"kudu-master:7051"}, "events", kudusink.StructTags[Event](),
//		kudusink.CreateIfMissing(kudusink.Hash(8, "source")))
//	...
//	err = events.WriteTo(sink, dstream.WriteSpec[Event]{DeadLetter: func(e Event, err error) { dead.Add(e, err) }})
//
// # Columns
//
// Columns come from struct tags (StructTags, used by Write),
// `kudu:"name"`, `kudu:"name,key"` for primary-key columns (in field
// order) and `kudu:"-"` to skip a field; pointer fields are nullable. Go
// types map to Kudu types: int8–int64, bool, float32 (FLOAT), float64
// (DOUBLE), string (STRING), []byte (BINARY), time.Time (UNIXTIME_MICROS,
// or DATE with `kudu:"name,date"`). Or MapColumns gives a function that
// returns each record's values by column name. Either is a Mapping[T] of
// the stream's record type T: a function of another type does not
// compile.
//
// # Guarantee
//
// Each record becomes a row operation, UPSERT by default. Each partition
// of a batch is written as the engine computes it: its rows are applied
// in chunks of at most MaxBatchBytes of row data (and 32,768 rows), one
// chunk after the other, each sent to the tablet leaders that hold its
// rows. Nothing is staged and Kudu has no multi-row transaction here:
// Commit has nothing left to do and Abort nothing to undo, so a batch that
// fails (a partition's write failed after the client's retries) may leave
// some of its rows in the table, visible to readers, until it is written
// again.
//
// UPSERT makes writes idempotent by primary key: a batch written again,
// by a job restarted from its checkpoint or after the source delivered
// its records again, upserts the same rows with the same values, so the
// table ends as if the batch had been written once (at-least-once writes,
// exactly-once effect). The rows of one partition are applied in their
// order; the partitions of a batch are written concurrently, so when two
// partitions of one batch hold rows with the same key, either may be the
// one stored (partition the stream by key when it matters). With the
// other operations: InsertIgnore is idempotent too; Update applies the
// same change again; Insert rejects the rows a replay writes again
// (ALREADY_PRESENT) and Delete the rows already deleted (NOT_FOUND), as
// dead letters.
//
// # Rejected rows
//
// A record that cannot become a row, or whose row Kudu refuses, is handed
// to the job's dead letters with dstream.Partition.Reject, and the other
// rows of the batch land: the record goes to the WriteSpec's DeadLetter
// function or, without one, to the context's dead-letter handler
// (dstream.WithDeadLetterHandler; by default a WARN line), and is counted
// in the batch's dstream.OutputOperationInfo.Rejected. The reasons are the
// errors: the mapping function's, wrapped as "mapping the record to
// columns: ..."; a column the table lacks ("no column ..."); a value of
// the wrong type for its column, or out of its range (a DATE outside
// 0001-01-01 to 9999-12-31, Kudu's range, which Kudu's own clients
// refuse too); a row the client refuses before sending it (a string or
// binary value over Kudu's 64 KiB cell limit, a null or missing key
// column: "invalid row: ..."); and a row a tablet server refuses (a
// duplicate INSERT, say), with the server's status.
//
// Each rejection names its reason (dstream.RejectReasonOf), which
// metrics count dead letters by: "mapping" (the MapColumns function
// failed), "no_column", "invalid_value" (a value of the wrong type, out
// of range, a DATE outside 0001-01-01 to 9999-12-31 among them, or
// longer than its VARCHAR), "null_value" (a null in a non-nullable
// column, a key column null or missing), "cell_too_large"
// (a string or binary value over 64 KiB), "unsupported" (a column type
// the client cannot write), "non_covered_range" (a row no tablet covers),
// or, for a row a tablet server refuses, its Kudu status in snake_case:
// "already_present", "not_found", "invalid_argument" and so on ("server"
// for a status Kudu does not define).
//
// A rejected row is a property of its record: failing the batch for it
// would fail every replay of the batch too, so there is no option to. A
// configuration error that would reject every row fails instead: a
// column of the struct tags that the table lacks fails the start-up check
// and the batch. A write that fails as a whole (the cluster unreachable
// after the client's retries) fails the batch, which a restarted job
// writes again.
//
// # Counts
//
// The sink counts what it writes (Sink.OutputStats; the engine reports
// each batch's share in dstream.OutputOperationInfo.Wrote): Rows are the
// row operations the tablet servers applied, rejected rows left out, and
// Records the same number (one operation per record); the rows of a
// chunk whose write failed as a whole are not counted. Bytes and Files
// stay zero.
//
// # Security
//
// By default the client authenticates with SASL PLAIN (Credentials) over
// plaintext, as unsecured clusters accept. TLS makes it use TLS with every
// server (the handshake inside Kudu's negotiation, the certificates
// checked against the given CAs), and Kerberos makes it authenticate with
// SASL GSSAPI as a principal of a keytab or ticket cache, as a
// Kerberized cluster (--rpc_authentication=required) demands:
//
//	err := kudusink.Write(events, masters, "events",
//		kudusink.TLS(&tls.Config{RootCAs: kuduCA}),
//		kudusink.Kerberos(krbClient)) // a gokrb5 client, e.g. security.Kerberos.Client()
//
// Over TLS the client checks Kudu's channel bindings, so the Kerberos
// authentication is bound to the TLS connection. When the sink's settings
// do not fit the cluster's (a Kerberized cluster and no Kerberos, TLS
// required by either side and missing on the other), or the credentials
// fail (an untrusted certificate, a keytab the KDC refuses, expired
// tickets, an unknown service principal or realm, a ticket the servers
// refuse), the start-up check fails at once with one line naming the
// masters, the server and the cause, for example "kudu masters
// 10.0.0.1:7051: no leader master among [10.0.0.1:7051]: master
// 10.0.0.1:7051: requires Kerberos authentication (SASL GSSAPI), and this
// client has no Kerberos credentials: ...".
//
// Outside a private network the sink cannot write without TLS and
// Kerberos: even an unsecured Kudu server refuses connections that are not
// encrypted from publicly routable addresses, and unauthenticated ones
// even over TLS (--trusted_subnets, KUDU-1875); the start-up check names
// that refusal. Token, certificate and JWT authentication are not
// implemented.
//
// The client speaks Kudu's RPC protocol itself. It has been tested against
// the protocol test server in internal/kudutest (with a real MIT KDC for
// Kerberos) and Kudu's own golden vectors, not against a real cluster
// (KUDU_MASTERS runs the tests against one).
package kudusink
