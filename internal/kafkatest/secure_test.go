package kafkatest_test

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
)

// A secured cluster's own helpers connect with its credentials; a client
// without them, or without the client certificate, is refused.
func TestNewSecure(t *testing.T) {
	for _, s := range []kafkatest.Secure{
		{TLS: true, Mechanism: "SCRAM-SHA-256", User: "u", Password: "p"},
		{Mechanism: "SCRAM-SHA-512"},
		{TLS: true, Mechanism: "PLAIN", User: "u", Password: "p"},
		{ClientCert: true},
	} {
		c := kafkatest.NewSecure(t, map[string]int32{"t": 2}, s)
		c.Produce(&kgo.Record{Topic: "t", Partition: 1, Value: []byte("x")})
		if got := c.ReadAll("t"); len(got) != 1 || string(got[0].Value) != "x" {
			t.Errorf("%+v: ReadAll = %v", s, got)
		}
		if s.Mechanism != "" && (c.Sec.User == "" || c.Sec.Password == "" || c.Sec.PasswordFile == "") {
			t.Errorf("%+v: no default credentials: %+v", s, c.Sec)
		}
		flags := c.Sec.Flags()
		if (s.TLS || s.ClientCert) != slices.Contains(flags, "-kafka-tls-ca") || (s.Mechanism != "") != slices.Contains(flags, "-kafka-sasl-password-file") ||
			s.ClientCert != slices.Contains(flags, "-kafka-tls-cert") {
			t.Errorf("%+v: Flags() = %q", s, flags)
		}

		// Without the credentials, or the client certificate, the brokers refuse.
		var opts []kgo.Opt
		if c.Sec.TLSConfig != nil {
			cfg := &tls.Config{RootCAs: c.Sec.TLSConfig.RootCAs}
			if !s.ClientCert {
				cfg = c.Sec.TLSConfig.Clone()
			}
			opts = append(opts, kgo.DialTLSConfig(cfg))
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(c.Addrs...))...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := cl.Ping(ctx); err == nil {
			t.Errorf("%+v: a client without the credentials got in", s)
		}
		cancel()
		cl.Close()
	}
}
