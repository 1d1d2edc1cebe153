package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/microbatch-go/microbatch/internal/krbtest"
)

// NewGSSAPITLS is NewGSSAPI with the brokers listening with TLS, as
// NewSecure's Secure{TLS: true} makes them: a certificate for 127.0.0.1
// and localhost signed by a CA made for the test. Clients must dial with
// TLS trusting that CA, then authenticate with SASL GSSAPI (SASL_SSL in
// Kafka's terms); the GSSAPI exchange runs inside the TLS connection,
// through the same control functions as NewGSSAPI's.
//
// Sec holds the TLS side only (CAFile and TLSConfig; its Flags give
// -kafka-tls-ca): the Kerberos side is GSSAPI's (User, Flags). The
// cluster's Client and its helpers (Produce, ReadAll, ...) dial with TLS
// and log in as the cluster's own principal.
func NewGSSAPITLS(t testing.TB, topics map[string]int32, realm *krbtest.Realm, opts ...kfake.Opt) *Cluster {
	t.Helper()
	sec := &Security{}
	listen := listenTLS(t, t.TempDir(), false, sec)
	c := NewGSSAPI(t, topics, realm, append([]kfake.Opt{listen}, opts...)...)
	c.Sec = sec
	// NewGSSAPI's options hold the SASL mechanism; TLS comes first.
	c.clientOpts = append(sec.ClientOptions(), c.clientOpts...)
	return c
}
