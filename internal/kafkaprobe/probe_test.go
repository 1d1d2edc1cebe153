package kafkaprobe_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/microbatch-go/microbatch/internal/kafkaprobe"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
)

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// failing is a SASL mechanism that fails on the client's side before
// sending anything, as a Kerberos login that the KDC refuses does (kfake
// has no GSSAPI: the failing mechanism takes another name).
type failing struct{ name string }

func (f failing) Name() string { return f.name }
func (failing) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return nil, nil, errors.New("KDC has no support for encryption type")
}

func TestMetadata(t *testing.T) {
	c := kafkatest.NewSecure(t, map[string]int32{"t": 1}, kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "u", Password: "right"})
	dead := deadAddr(t)
	tlsOpt := kgo.DialTLSConfig(c.Sec.TLSConfig.Clone())
	scramAs := func(pw string) kgo.Opt { return kgo.SASL(scram.Auth{User: "u", Pass: pw}.AsSha256Mechanism()) }
	for _, tc := range []struct {
		name    string
		opts    []kgo.Opt
		want    string // "": an answer
		refused bool
	}{
		{"right", []kgo.Opt{kgo.SeedBrokers(c.Addrs...), tlsOpt, scramAs("right")}, "", false},
		{"a dead seed and a good one", []kgo.Opt{kgo.SeedBrokers(dead, c.Addrs[0]), tlsOpt, scramAs("right")}, "", false},
		{"wrong password", []kgo.Opt{kgo.SeedBrokers(c.Addrs...), tlsOpt, scramAs("wrong")},
			"SASL authentication failed: invalid credentials (mechanism SCRAM-SHA-256; the broker closed the connection)", true},
		{"a dead seed and a refusing one", []kgo.Opt{kgo.SeedBrokers(dead, c.Addrs[0]), tlsOpt, scramAs("wrong")},
			"SASL authentication failed: invalid credentials", true},
		{"the mechanism fails on the client", []kgo.Opt{kgo.SeedBrokers(c.Addrs...), tlsOpt, kgo.SASL(failing{"PLAIN"})},
			"SASL PLAIN: KDC has no support for encryption type", true},
		{"a mechanism the brokers do not enable", []kgo.Opt{kgo.SeedBrokers(c.Addrs...), tlsOpt, kgo.SASL(failing{"GSSAPI"})},
			"SASL authentication failed: the brokers do not enable mechanism GSSAPI", true},
		{"unreachable", []kgo.Opt{kgo.SeedBrokers(dead), tlsOpt, scramAs("right")},
			"no broker reachable: dial tcp " + dead + ": connect: connection refused", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			md, err := kafkaprobe.Metadata(ctx, tc.opts, []string{"t"})
			if tc.want == "" {
				if err != nil || md == nil || len(md.Topics) != 1 {
					t.Fatalf("Metadata = %v, %v", md, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || kafkaprobe.Refused(err) != tc.refused {
				t.Fatalf("Metadata error %v (refused %v)\nwant %q (refused %v)", err, kafkaprobe.Refused(err), tc.want, tc.refused)
			}
			if strings.Contains(err.Error(), "invalid credentials") && !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("%v does not wrap kerr.SaslAuthenticationFailed", err)
			}
		})
	}
}
