package kafkatest_test

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/security"
)

// A cluster with GSSAPI over TLS: its own helpers dial with TLS and log in
// with Kerberos; a client configured through package security (the CA
// file, a principal's keytab, the realm's krb5.conf) is authenticated over
// TLS; the same Kerberos login without TLS, TLS without SASL, and GSSAPI
// over TLS trusting another CA are refused.
func TestGSSAPITLS(t *testing.T) {
	realm := krbtest.Start(t)
	c := kafkatest.NewGSSAPITLS(t, map[string]int32{"t": 2}, realm)
	c.Produce(&kgo.Record{Topic: "t", Partition: 1, Value: []byte("x")})
	if got := c.ReadAll("t"); len(got) != 1 || string(got[0].Value) != "x" {
		t.Fatalf("ReadAll = %v", got)
	}
	if c.Sec == nil || c.Sec.CAFile == "" || c.Sec.TLSConfig == nil || !slices.Contains(c.Sec.Flags(), "-kafka-tls-ca") {
		t.Fatalf("Sec = %+v, want the CA file and the TLS configuration", c.Sec)
	}

	principal, kt := c.GSSAPI.User(t, "alice")
	sk := security.Kafka{
		TLS:  security.TLS{CAFile: c.Sec.CAFile},
		SASL: security.SASL{Mechanism: "GSSAPI", Kerberos: security.Kerberos{Principal: principal, Keytab: kt, Krb5Conf: realm.Krb5Conf()}},
	}
	opts, err := sk.KafkaOptions()
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(t, c, opts...); err != nil {
		t.Fatalf("alice over GSSAPI and TLS: %v", err)
	}
	if got := c.GSSAPI.Authenticated(); !slices.Contains(got, principal) || !slices.Contains(got, "kafkatest-admin@"+realm.Realm()) {
		t.Errorf("Authenticated = %v, want alice and the cluster's own client", got)
	}

	alice := kgo.SASL(kerberos.Auth{Client: realm.Client(t, principal, kt), Service: "kafka"}.AsMechanism())
	if err := ping(t, c, alice); err == nil {
		t.Error("GSSAPI without TLS was served")
	}
	if err := ping(t, c, kgo.DialTLSConfig(c.Sec.TLSConfig.Clone())); err == nil {
		t.Error("TLS without SASL was served")
	}
	untrusted := security.TLS{CAFile: kafkatest.UntrustedCAFile(t)}
	cfg, err := untrusted.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := ping(t, c, alice, kgo.DialTLSConfig(cfg)); err == nil {
		t.Error("a client trusting another CA was served")
	}
}
