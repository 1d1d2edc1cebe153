// Package kudutest is an in-process Apache Kudu cluster for tests: one or
// more masters and two or more tablet servers written in Go that speak
// KRPC on loopback ports, so that a Kudu write client can be tested
// without a Kudu installation.
//
//	c := kudutest.New(t, kudutest.WithTabletServers(3))
//	... point the client at c.MasterAddrs(), create a table, write ...
//	rows := c.Rows("metrics") // []kudutest.Row, sorted by primary key
//
// It is an independent implementation: every message is hand-decoded with
// protowire from the field numbers of Kudu's .proto files, and the row
// and partition key encodings are written from Kudu's documented layout
// and checked against Kudu's published test vectors (MurmurHash64A and
// TestKeyEncoding.testPartitionKeyEncoding). It has never been compared
// byte for byte with a real Kudu server.
//
// # Protocol
//
// Connections start with "hrpc" 9 0 0, then frames of a 4-byte big-endian
// length, a varint-delimited RequestHeader and a varint-delimited body.
// Negotiation uses call id -33: NEGOTIATE (the server answers with
// APPLICATION_FEATURE_FLAGS, TLS when it has a certificate,
// TLS_AUTHENTICATION_ONLY to loopback peers with WithLoopbackTLSAuthOnly,
// SASL authentication and its mechanism: PLAIN, or GSSAPI with
// WithKerberos); when both sides support TLS, a TLS handshake whose
// records travel in TLS_HANDSHAKE messages, after which the negotiation
// and the calls go through TLS (unless both advertised
// TLS_AUTHENTICATION_ONLY); the trusted-subnets check (KUDU-1875,
// WithTrustedSubnets); SASL_INITIATE with a PLAIN token (answered
// SASL_SUCCESS) or a Kerberos AP-REQ (see WithKerberos: AP-REP, the RFC
// 4752 security layer with integrity required, SASL_SUCCESS with a nonce
// and channel bindings); then a ConnectionContextPB with call id -3 that
// gets no answer (with GSSAPI, it must return the nonce). Refusals are
// FATAL_UNAUTHORIZED answers worded as Kudu's. Negotiations reports what
// each connection negotiated. Later call ids must increase; calls are
// served concurrently and may be answered out of order. RPC-level failures
// are ErrorStatusPB answers: FATAL_* ones close the connection.
//
// The master serves kudu.master.MasterService ConnectToMaster, Ping,
// CreateTable (hash dimensions, range schema, split rows and range bounds
// as RowOperationsPB), IsCreateTableDone, GetTableSchema,
// GetTableLocations (paged by partition key, interned or inline replica
// infos), ListTables and DeleteTable. Tablet servers serve
// kudu.tserver.TabletServerService Write and Ping.
//
// # Write rules
//
// A Write is checked as Kudu checks it: the tablet must be hosted
// (TABLET_NOT_FOUND) and led (NOT_THE_LEADER) by the server; the client
// schema must carry no column ids (INVALID_SCHEMA) and match the table
// (MISMATCHED_SCHEMA); the row block must decode exactly — op type, isset
// bitmap, null bitmap iff the client schema has a nullable column,
// fixed-width cells, (offset, length) slices inside indirect_data, no
// trailing bytes (MISMATCHED_SCHEMA with CORRUPTION, NOT_SUPPORTED or
// INVALID_ARGUMENT); every row must fall in the tablet's partition
// (UNKNOWN_ERROR with NOT_FOUND "Row not in tablet partition", nothing
// applied). Per-row errors (INVALID_ARGUMENT) cover missing or NULL keys,
// NULL in non-nullable columns, missing required columns, updates without
// a column, deletes with one and cells over the size limit; applying gives
// ALREADY_PRESENT for INSERT of an existing key and NOT_FOUND for UPDATE or
// DELETE of a missing one (the _IGNORE variants skip instead). UPSERT and
// UPDATE change only the columns the operation sets.
//
// One rule is stricter than Kudu, for the client under test: a DATE value
// outside Kudu's range, 0001-01-01 to 9999-12-31 (days -719162 to 2932896
// since the epoch), which Kudu's clients refuse to set but a tablet server
// would store, fails its row with INVALID_ARGUMENT, and fails CreateTable
// in a split row, a range bound or a column default. A client that lets
// one through fails its tests instead of passing silently.
//
// # Faults
//
// InjectNotTheLeader, InjectTabletNotFound, MoveLeader, InjectServerTooBusy,
// InjectDelay, InjectRowError, DropConnections, DropNextConnectionAfter,
// SetLeaderMaster (with WithMasters), WithRequireTLS, WithOnlyGSSAPI,
// WithSASLCredentials, WithTrustedSubnets, WithTLSCertificate (a
// certificate clients do not trust) and WithBadChannelBindings.
//
// # Not implemented
//
// Token, certificate and JWT authentication; the SASL confidentiality
// layer (the servers offer integrity only, where Kudu's also offer
// confidentiality); client certificates; scans; AlterTable; custom
// per-range hash schemas; auto-incrementing, immutable-attribute and array
// columns; transactions; authz token checks; replication between replicas
// (followers only answer NOT_THE_LEADER; data lives with the tablet).
package kudutest
