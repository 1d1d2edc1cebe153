package kafka_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/security"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// secOf returns the security settings that connect to c, the way a
// command's flags give them: the CA file, the password in a file.
func secOf(c *kafkatest.Cluster) security.Kafka {
	s := c.Sec
	return security.Kafka{
		TLS:  security.TLS{CAFile: s.CAFile, CertFile: s.ClientCertFile, KeyFile: s.ClientKeyFile},
		SASL: security.SASL{Mechanism: s.Mechanism, User: s.User, PasswordFile: s.PasswordFile},
	}
}

// clientOptions returns sec's franz-go options, failing the test on error.
func clientOptions(t *testing.T, sec security.Kafka) kafka.Option {
	t.Helper()
	opts, err := sec.KafkaOptions()
	if err != nil {
		t.Fatalf("KafkaOptions: %v", err)
	}
	return kafka.ClientOptions(opts...)
}

// The direct stream reads a secured cluster with the options of package
// security: every record once, and its offsets committed, over SCRAM and
// PLAIN, with and without TLS, and with a client certificate.
func TestDirectStreamSecure(t *testing.T) {
	for _, tc := range []struct {
		name string
		sec  kafkatest.Secure
	}{
		{"SCRAM-SHA-256 over TLS", kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "etl", Password: "scram-256-pw"}},
		{"SCRAM-SHA-512 over TLS", kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-512", User: "etl", Password: "scram-512-pw"}},
		{"PLAIN over TLS", kafkatest.Secure{TLS: true, Mechanism: "PLAIN", User: "etl", Password: "plain-pw"}},
		{"SCRAM-SHA-256 without TLS", kafkatest.Secure{Mechanism: "SCRAM-SHA-256", User: "etl", Password: "scram-256-pw"}},
		{"TLS with a client certificate", kafkatest.Secure{ClientCert: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.NewSecure(t, map[string]int32{"events": 3}, tc.sec)
			want := produceN(c, "events", 3, "e", 60)
			j := newJob(t, kafka.Subscribe("events"), kafka.Brokers(c.Addrs...), kafka.Group("secure"), clientOptions(t, secOf(c)))
			j.start()
			j.stepUntil("60 records", func() bool { return j.count() >= 60 })
			checkOnce(t, j.records(), want)
			if err := j.step(); err != nil { // commits the ranges
				t.Fatal(err)
			}
			if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
				t.Fatal(err)
			}
			ends := c.EndOffsets("events")["events"]
			if got := c.Committed("secure")["events"]; !maps.Equal(got, ends) {
				t.Errorf("committed %v, want the ends %v", got, ends)
			}
		})
	}
}

// A password the brokers refuse, an untrusted CA, a wrong server name, a
// missing client certificate, plaintext to a TLS listener, no SASL where
// it is required: Start fails within seconds with one StartError naming
// the brokers and the cause, not after the start timeout, and without the
// password.
func TestDirectStreamSecureStartFailures(t *testing.T) {
	const password = "correct-horse-battery-staple"
	scram := kafkatest.NewSecure(t, map[string]int32{"events": 1}, kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "etl", Password: password})
	mtls := kafkatest.NewSecure(t, map[string]int32{"events": 1}, kafkatest.Secure{ClientCert: true})
	good := secOf(scram)
	wrongPassword := good
	wrongPassword.SASL.PasswordFile = ""
	wrongPassword.SASL.PasswordEnv = "SECURE_TEST_WRONG_PASSWORD"
	t.Setenv("SECURE_TEST_WRONG_PASSWORD", "not-"+password)
	wrongUser := good
	wrongUser.SASL.User = "mallory"
	untrusted := good
	untrusted.TLS.CAFile = kafkatest.UntrustedCAFile(t)
	wrongName := good
	wrongName.TLS.ServerName = "kafka.example.com"
	plaintext := good
	plaintext.TLS = security.TLS{}
	noSASL := good
	noSASL.SASL = security.SASL{}
	noCert := secOf(mtls)
	noCert.TLS.CertFile, noCert.TLS.KeyFile = "", ""

	for _, tc := range []struct {
		name    string
		cluster *kafkatest.Cluster
		sec     security.Kafka
		want    string // the cause, after "kafka brokers <addr>: "
		is      error
	}{
		{"wrong password", scram, wrongPassword, "SASL authentication failed: invalid credentials (mechanism SCRAM-SHA-256", kerr.SaslAuthenticationFailed},
		{"unknown user", scram, wrongUser, "SASL authentication failed: invalid credentials (mechanism SCRAM-SHA-256", kerr.SaslAuthenticationFailed},
		{"untrusted CA", scram, untrusted, `TLS: certificate signed by unknown authority (the broker's certificate "CN=kafkatest broker" is issued by "CN=kafkatest CA")`, nil},
		{"wrong server name", scram, wrongName, "TLS: certificate is valid for localhost, not kafka.example.com", nil},
		{"plaintext to a TLS listener", scram, plaintext, "broker closed the connection immediately during api versions negotiation", nil},
		{"no SASL where required", scram, noSASL, "broker closed the connection immediately after a request was issued, which often happens when SASL is required but not provided: is SASL missing?", nil},
		{"no client certificate", mtls, noCert, "TLS: the broker refused the handshake: ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet), dstream.WithClock(dstream.NewManualClock(time.UnixMilli(0))))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
			ds := kafka.NewDirectStream(ssc, kafka.Subscribe("events"), kafka.Brokers(tc.cluster.Addrs...), kafka.Group("g"), clientOptions(t, tc.sec))
			ds.Stream().Print()
			began := time.Now()
			err = ssc.Start()
			took := time.Since(began)
			var se *dstream.StartError
			if !errors.As(err, &se) || se.Check != "kafka brokers "+tc.cluster.Addrs[0] {
				t.Fatalf("Start = %v, want a StartError of kafka brokers %s", err, tc.cluster.Addrs[0])
			}
			if prefix := se.Check + ": " + tc.want; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Start = %q\nwant it to start with %q", err, prefix)
			}
			if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), password) {
				t.Errorf("the error is not one line without the password: %q", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("the error does not wrap %v", tc.is)
			}
			if took > 10*time.Second {
				t.Errorf("Start took %v, want within seconds", took)
			}
		})
	}
}

// A broker that answers SaslAuthenticate with SASL_AUTHENTICATION_FAILED
// and a message, as Apache Kafka does, rather than closing the
// connection as kfake does: the error says so, with the broker's message.
func TestDirectStreamSaslAuthenticationFailedCode(t *testing.T) {
	c := kafkatest.NewSecure(t, map[string]int32{"events": 1}, kafkatest.Secure{Mechanism: "PLAIN", User: "etl", Password: "pw"})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("Authentication failed: Invalid username or password")
		return resp, nil, true
	})
	ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet), dstream.WithClock(dstream.NewManualClock(time.UnixMilli(0))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
	ds := kafka.NewDirectStream(ssc, kafka.Subscribe("events"), kafka.Brokers(c.Addrs...), kafka.Group("g"), clientOptions(t, secOf(c)))
	ds.Stream().Print()
	err = ssc.Start()
	want := "kafka brokers " + c.Addrs[0] + ": SASL authentication failed: invalid credentials (mechanism PLAIN): the broker says: Authentication failed: Invalid username or password"
	if err == nil || err.Error() != want || !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("Start = %v\nwant %s", err, want)
	}
}

// Under Assign the stream reads with clients of its own per partition:
// they get the security options too.
func TestDirectStreamAssignSecure(t *testing.T) {
	c := kafkatest.NewSecure(t, map[string]int32{"events": 2}, kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-512", User: "etl", Password: "pw-512"})
	want := produceN(c, "events", 2, "a", 20)
	j := newJob(t, kafka.Assign(kafka.TopicPartition{Topic: "events", Partition: 0}, kafka.TopicPartition{Topic: "events", Partition: 1}),
		kafka.Brokers(c.Addrs...), clientOptions(t, secOf(c)))
	j.start()
	j.stepUntil("20 records", func() bool { return j.count() >= 20 })
	checkOnce(t, j.records(), want)
}
