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
//   - Connections: the "hrpc" header, negotiation (see Security), call
//     multiplexing with out-of-order responses, per-call timeouts from the
//     context.
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
// # Security
//
// Negotiation follows Kudu's (rpc/client_negotiation.cc): NEGOTIATE with
// the client's RPC features and SASL; when both sides support TLS
// (WithTLS, WithTLSOptional), a TLS handshake whose records travel in
// TLS_HANDSHAKE negotiation messages, after which the rest of the
// negotiation and every call go through TLS (or, with
// WithTLSAuthenticationOnlyOnLoopback on a loopback connection whose
// server agrees, stay in plaintext: TLS_AUTHENTICATION_ONLY); then SASL
// authentication and the ConnectionContextPB.
//
//   - SASL PLAIN (the default): user from WithUser (default the OS user),
//     password from WithPassword; what unsecured clusters accept.
//   - SASL GSSAPI (Kerberos V5, WithKerberos): a service ticket for
//     kudu/<host>@REALM (WithKerberosService) from a gokrb5 client logged
//     in from a keytab or a ticket cache; the AP-REQ with mutual
//     authentication, the server's AP-REP checked; the RFC 4752 security
//     layer exchange choosing integrity protection, as Kudu requires; over
//     TLS, the tls-server-end-point channel bindings (RFC 5929) that the
//     server sends integrity-protected in SASL_SUCCESS are checked against
//     its certificate, binding the Kerberos authentication to the TLS
//     channel; the server's nonce is returned integrity-protected in the
//     connection context (Kudu's protection against replayed Kerberos
//     authenticators).
//   - The server's certificate is verified against WithTLS's
//     tls.Config (RootCAs, ServerName defaulting to the host dialled).
//     Kudu's own clients do not verify it when they authenticate with
//     SASL; this client does, unless told not to (InsecureSkipVerify).
//
// This path is tested against internal/kudutest's server side with tickets
// and keytabs from a real MIT KDC (internal/krbtest), not against Kudu's
// own (Cyrus SASL, MIT GSS-API, OpenSSL).
//
// A mismatch fails the connection at once, not after retries, with one
// line naming the server and the cause: ErrUnsupportedSecurity when the
// settings do not fit (the server requires TLS or Kerberos and the client
// is not configured for it — "master h:7051: requires Kerberos
// authentication (SASL GSSAPI), and this client has no Kerberos
// credentials" —, or the reverse, or the server chose token, certificate
// or JWT authentication), ErrAuthentication when credentials fail (no
// service ticket: unknown service principal or realm, a keytab the KDC
// refuses, expired tickets; the server refusing the ticket; an untrusted
// certificate; a failed AP-REP or channel bindings check).
//
// Even an unsecured Kudu server (--rpc_authentication and
// --rpc_encryption "optional", the defaults) refuses connections that are
// not encrypted from addresses outside its --trusted_subnets (by default
// the private and loopback blocks, KUDU-1875, server_negotiation.cc), and
// unauthenticated (SASL PLAIN) ones from them even over TLS. So, outside
// a private network, this client reaches a cluster only with WithTLS and
// WithKerberos; without them its connections are refused with
// ErrUnsupportedSecurity naming --trusted_subnets. TLS needs the
// cluster's CA certificate in RootCAs: Kudu signs its servers'
// certificates with its internal CA by default.
//
// # What is not
//
// Token, certificate and JWT authentication (Kudu's clients get an
// authentication token from the master after a Kerberos login and use it
// for the tablet servers; this client uses Kerberos with every server);
// the SASL confidentiality layer (integrity is what Kudu asks for);
// fetching the cluster's CA certificate from the master; scans; ALTER
// TABLE; custom per-range hash schemas; transactions; decimal and array
// values; auto-incrementing columns; sidecars.
package kudu
