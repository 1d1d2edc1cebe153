package kudu

import (
	"crypto/tls"
	"errors"

	"github.com/jcmturner/gokrb5/v8/client"
)

// DefaultKerberosService is the service part of Kudu servers' Kerberos
// principals: a server on host h is kudu/h@REALM (Kudu's --principal,
// "kudu/_HOST").
const DefaultKerberosService = "kudu"

// ErrAuthentication is wrapped by the errors of connections whose
// authentication failed: the server refused the client's credentials, the
// client could not get a Kerberos service ticket (no such service
// principal, an expired ticket, a key the KDC does not accept), the
// server's TLS certificate is not trusted, or the server failed to prove
// its identity (Kerberos mutual authentication, channel bindings). Such
// errors are not retried.
var ErrAuthentication = errors.New("kudu: authentication failed")

// tlsMode says whether a client offers TLS and whether it insists.
type tlsMode int

const (
	tlsOff      tlsMode = iota // never offer TLS
	tlsOptional                // offer it, use it when the server does
	tlsRequired                // offer it, refuse servers without it
)

// WithTLS makes every connection use TLS, as a Kudu client with
// --rpc_encryption=required does: the client offers TLS in the NEGOTIATE
// step, runs the TLS handshake inside TLS_HANDSHAKE negotiation messages,
// and sends the rest of the negotiation and every call through TLS. A
// server that does not offer TLS is refused with ErrUnsupportedSecurity.
//
// cfg verifies the servers' certificates: its RootCAs (nil: the system's
// roots) and ServerName (empty: the host of the address dialled, a name or
// an IP address, which the certificate must carry). A certificate that
// does not verify fails the connection with ErrAuthentication. Kudu's own
// clients skip this check when they authenticate with SASL, relying on
// Kerberos channel bindings instead; this client checks unless
// cfg.InsecureSkipVerify is set, and with Kerberos it checks the channel
// bindings too. A Kudu cluster's certificates are signed by its internal
// CA by default: give that CA's certificate in RootCAs. cfg may be nil,
// and is not modified.
//
// TLS is what lets a client reach a cluster from outside a private
// network: even an unsecured Kudu server refuses plaintext connections
// from publicly routable addresses (see the package documentation).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tls, c.tlsMode = cloneTLS(cfg), tlsRequired }
}

// WithTLSOptional is WithTLS for a cluster that may not have TLS, as a
// Kudu client with --rpc_encryption=optional (the default) behaves: TLS
// when the server offers it, plaintext when it does not.
func WithTLSOptional(cfg *tls.Config) Option {
	return func(c *config) { c.tls, c.tlsMode = cloneTLS(cfg), tlsOptional }
}

// WithTLSAuthenticationOnlyOnLoopback makes the client advertise Kudu's
// TLS_AUTHENTICATION_ONLY feature on loopback connections: when the server
// advertises it too (as Kudu does for loopback peers unless
// --rpc_encrypt_loopback_connections is set), TLS serves only the
// handshake's authentication and the calls go in plaintext on the socket.
// Without this option every TLS connection stays encrypted.
func WithTLSAuthenticationOnlyOnLoopback() Option {
	return func(c *config) { c.tlsAuthOnly = true }
}

// WithKerberos makes the client authenticate with SASL GSSAPI (Kerberos
// V5, RFC 4752) as the principal of cl, a gokrb5 client made from a keytab
// or a ticket cache; it logs in when it first needs a ticket, if it has
// not already. The servers' principal is service/host@REALM for the host
// of the address dialled (see WithKerberosService), its realm from cl's
// krb5.conf. A server that does not offer GSSAPI is refused with
// ErrUnsupportedSecurity: a client given credentials never falls back to
// unauthenticated PLAIN. A ticket the KDC will not issue, or that the
// server refuses, fails the connection with ErrAuthentication.
//
// Like Kudu's own clients, this one asks for mutual authentication and
// SASL integrity protection, checks the server's AP-REP, and, over TLS,
// the tls-server-end-point channel bindings (RFC 5929) that the server
// sends integrity-protected in its SASL_SUCCESS message; it returns the
// server's nonce, integrity-protected, in the connection context.
func WithKerberos(cl *client.Client) Option {
	return func(c *config) { c.krb = cl }
}

// WithKerberosService sets the service part of the servers' Kerberos
// principals (DefaultKerberosService, "kudu", when not set).
func WithKerberosService(name string) Option {
	return func(c *config) { c.krbService = name }
}

func cloneTLS(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return cfg.Clone()
}

// securityError reports whether err is a security failure that another
// attempt would meet again.
func securityError(err error) bool {
	return errors.Is(err, ErrUnsupportedSecurity) || errors.Is(err, ErrAuthentication)
}
