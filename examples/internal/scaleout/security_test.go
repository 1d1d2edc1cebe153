package scaleout

import (
	"flag"
	"strings"
	"testing"
)

// KRB_AUTH makes the Spot commands log in with KRB_USER and KEYTABPATH
// and use SASL GSSAPI with the brokers; the flags win over both.
func TestSecuritySpotEnv(t *testing.T) {
	env := map[string]string{"KRB_AUTH": "yes", "KRB_USER": "spot@EXAMPLE.COM", "KEYTABPATH": "/etc/spot.keytab"}
	getenv := func(k string) string { return env[k] }
	parse := func(args ...string) *Security {
		var s Security
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		s.Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	s := parse()
	if err := s.SpotEnv(getenv); err != nil {
		t.Fatal(err)
	}
	if s.Kafka.SASL.Mechanism != "GSSAPI" || s.Kerberos.Principal != "spot@EXAMPLE.COM" || s.Kerberos.Keytab != "/etc/spot.keytab" || !s.KafkaSecured() {
		t.Errorf("KRB_AUTH: %+v", s)
	}
	s = parse("-kafka-sasl-mechanism", "SCRAM-SHA-256", "-kafka-sasl-user", "spot", "-principal", "other@EXAMPLE.COM")
	if err := s.SpotEnv(getenv); err != nil {
		t.Fatal(err)
	}
	if s.Kafka.SASL.Mechanism != "SCRAM-SHA-256" || s.Kerberos.Principal != "other@EXAMPLE.COM" {
		t.Errorf("the flags do not win: %+v", s)
	}
	s = parse()
	if err := s.SpotEnv(func(string) string { return "" }); err != nil || s.KafkaSecured() {
		t.Errorf("without KRB_AUTH: %v, %+v", err, s)
	}
	opts, err := s.KafkaOptions()
	if err != nil || len(opts) != 0 {
		t.Errorf("no flags: %d options, %v", len(opts), err)
	}
	// The keytab is read by KafkaOptions, and a missing one named.
	s = parse()
	if err := s.SpotEnv(getenv); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KafkaOptions(); err == nil || !strings.HasPrefix(err.Error(), "kafka SASL: GSSAPI: kerberos: ") {
		t.Errorf("KafkaOptions with a missing keytab: %v", err)
	}
}
