package kafkasink

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/security"
	"github.com/twmb/franz-go/pkg/kerr"
)

// secureOptions returns the sink's ClientOptions that connect to c with
// package security, as a command's flags give them: the CA file, the
// password in a file.
func secureOptions(t *testing.T, c *kafkatest.Cluster, edit func(*security.Kafka)) Option {
	t.Helper()
	s := c.Sec
	sec := security.Kafka{
		TLS:  security.TLS{CAFile: s.CAFile, CertFile: s.ClientCertFile, KeyFile: s.ClientKeyFile},
		SASL: security.SASL{Mechanism: s.Mechanism, User: s.User, PasswordFile: s.PasswordFile},
	}
	if edit != nil {
		edit(&sec)
	}
	opts, err := sec.KafkaOptions()
	if err != nil {
		t.Fatalf("KafkaOptions: %v", err)
	}
	return ClientOptions(opts...)
}

// The sink writes to a secured cluster with the options of package
// security, plainly and in transactions, over SCRAM and PLAIN, with and
// without TLS, and with a client certificate.
func TestWriteSecure(t *testing.T) {
	for _, tc := range []struct {
		name string
		sec  kafkatest.Secure
		txn  bool
	}{
		{"SCRAM-SHA-256 over TLS", kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "etl", Password: "scram-256-pw"}, false},
		{"SCRAM-SHA-256 over TLS, transactional", kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "etl", Password: "scram-256-pw"}, true},
		{"SCRAM-SHA-512 over TLS", kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-512", User: "etl", Password: "scram-512-pw"}, false},
		{"PLAIN without TLS", kafkatest.Secure{Mechanism: "PLAIN", User: "etl", Password: "plain-pw"}, false},
		{"TLS with a client certificate", kafkatest.Secure{ClientCert: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.NewSecure(t, map[string]int32{"out": 2}, tc.sec)
			opts := []Option{Brokers(c.Addrs...), secureOptions(t, c, nil)}
			if tc.txn {
				opts = append(opts, Transactional("secure-txn", nil))
			}
			j := newQueueJob[string](t, "out", opts...)
			j.q.Push([]string{"a", "b", "c"})
			j.q.Push([]string{"d"})
			j.start()
			j.mustStep()
			j.mustStep()
			checkValues(t, "read_committed", readTopic(t, c, "out", true), "a", "b", "c", "d")
		})
	}
}

// A password the brokers refuse or an untrusted CA fails Start within
// seconds, in the sink's start-up check: one StartError naming the brokers
// and the cause, without the password, and nothing logged; brokers that
// cannot be reached still do not (TestOpenClose).
func TestSinkSecureStartFailures(t *testing.T) {
	const password = "sink-s3cret-passw0rd"
	c := kafkatest.NewSecure(t, map[string]int32{"out": 1}, kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "etl", Password: password})
	untrusted := kafkatest.UntrustedCAFile(t)
	t.Setenv("SINK_TEST_WRONG_PASSWORD", "not-"+password)
	for _, tc := range []struct {
		name string
		edit func(*security.Kafka)
		want string
		is   error
	}{
		{"wrong password", func(s *security.Kafka) {
			s.SASL.PasswordFile, s.SASL.PasswordEnv = "", "SINK_TEST_WRONG_PASSWORD"
		}, "SASL authentication failed: invalid credentials (mechanism SCRAM-SHA-256", kerr.SaslAuthenticationFailed},
		{"untrusted CA", func(s *security.Kafka) { s.TLS.CAFile = untrusted }, "TLS: certificate signed by unknown authority", nil},
	} {
		for _, txn := range []bool{false, true} {
			name := tc.name
			if txn {
				name += ", transactional"
			}
			t.Run(name, func(t *testing.T) {
				var log bytes.Buffer
				j := newLoggedContextJob[string](t, slog.New(slog.NewTextHandler(&log, nil)))
				opts := []Option{Brokers(c.Addrs...), secureOptions(t, c, tc.edit)}
				if txn {
					opts = append(opts, Transactional("secure-txn", nil))
				}
				j.writeTo("out", Encoder[string]{}, dstream.WriteSpec[string]{}, opts...)
				began := time.Now()
				err := j.ssc.Start()
				took := time.Since(began)
				var se *dstream.StartError
				if !errors.As(err, &se) || se.Check != "kafka brokers "+c.Addrs[0] {
					t.Fatalf("Start = %v, want a StartError of kafka brokers %s", err, c.Addrs[0])
				}
				if prefix := se.Check + ": " + tc.want; !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("Start = %q\nwant it to start with %q", err, prefix)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("the error does not wrap %v", tc.is)
				}
				if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error()+log.String(), password) {
					t.Errorf("the error is not one line without the password: %q\nlog:\n%s", err, log.String())
				}
				if strings.Contains(log.String(), "level=WARN") || strings.Contains(log.String(), "level=ERROR") {
					t.Errorf("warnings or errors logged besides Start's error:\n%s", log.String())
				}
				if took > 10*time.Second {
					t.Errorf("Start took %v, want within seconds", took)
				}
			})
		}
	}
}

// The sink's start-up check does not wait for brokers that do not
// answer beyond its own limit: the first batch deals with them.
func TestSinkStartCheckBounded(t *testing.T) {
	j := newContextJob[string](t)
	silent := kafkatest.SilentBroker(t)
	j.writeTo("out", Encoder[string]{}, dstream.WriteSpec[string]{}, Brokers(silent))
	began := time.Now()
	j.start()
	if took := time.Since(began); took > startCheckLimit+2*time.Second {
		t.Errorf("Start took %v with a silent broker, over the check's limit %v", took, startCheckLimit)
	}
}
