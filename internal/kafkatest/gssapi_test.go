package kafkatest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
)

// ping asks the cluster for its brokers with a client made of opts.
func ping(t *testing.T, c *kafkatest.Cluster, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs...), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// A GSSAPI cluster's own helpers log in with Kerberos; a client of the
// realm with its keytab is authenticated (its ticket verified with the
// service key) and named; PLAIN, even with kfake's internal superuser's
// name, and no SASL at all are refused; a ticket of another service key
// is refused with SASL_AUTHENTICATION_FAILED naming the cause.
func TestGSSAPI(t *testing.T) {
	realm := krbtest.Start(t)
	c := kafkatest.NewGSSAPI(t, map[string]int32{"t": 2}, realm)
	c.Produce(&kgo.Record{Topic: "t", Partition: 1, Value: []byte("x")})
	if got := c.ReadAll("t"); len(got) != 1 || string(got[0].Value) != "x" {
		t.Fatalf("ReadAll = %v", got)
	}

	principal, kt := c.GSSAPI.User(t, "alice")
	alice := kerberos.Auth{Client: realm.Client(t, principal, kt), Service: "kafka"}.AsMechanism()
	if err := ping(t, c, kgo.SASL(alice)); err != nil {
		t.Fatalf("alice over GSSAPI: %v", err)
	}
	if got := c.GSSAPI.Authenticated(); !slices.Contains(got, principal) || !slices.Contains(got, "kafkatest-admin@"+realm.Realm()) {
		t.Errorf("Authenticated = %v, want alice and the cluster's own client", got)
	}

	if err := ping(t, c, kgo.SASL(plain.Auth{User: "kafkatest-admin", Pass: "x"}.AsMechanism())); !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Errorf("PLAIN: %v, want %v", err, kerr.UnsupportedSaslMechanism)
	}
	if err := ping(t, c); err == nil {
		t.Error("a client without SASL was served")
	}

	// The service re-keyed after the brokers exported their keytab: the
	// tickets the KDC issues now are for a key the brokers do not have.
	realm.Kadmin("cpw -randkey " + kafkatest.GSSAPIService)
	bob, bobKT := c.GSSAPI.User(t, "bob")
	err := ping(t, c, kgo.SASL(kerberos.Auth{Client: realm.Client(t, bob, bobKT), Service: "kafka"}.AsMechanism()))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("a ticket for a key the brokers lack: %v, want %v", err, kerr.SaslAuthenticationFailed)
	}
	t.Logf("stale service key: %v", err)
	if slices.Contains(c.GSSAPI.Authenticated(), bob) {
		t.Errorf("bob authenticated with a ticket the service key cannot decrypt")
	}
}
