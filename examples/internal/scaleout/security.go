package scaleout

import (
	"flag"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/security"
)

// Security are the flags of a secured cluster, the same in every example:
// Kafka's TLS and SASL (security.Kafka.RegisterFlags: -kafka-tls,
// -kafka-tls-ca, -kafka-tls-cert, -kafka-tls-key, -kafka-tls-server-name,
// -kafka-sasl-mechanism, -kafka-sasl-user, -kafka-sasl-password-file,
// -kafka-sasl-service-name) and the Kerberos identity
// (security.Kerberos.RegisterFlags: -krb5-conf, -principal, -keytab,
// -krb5-ccache), which SASL GSSAPI logs in with.
type Security struct {
	Kafka    security.Kafka
	Kerberos security.Kerberos
}

// Register adds the flags to fs.
func (s *Security) Register(fs *flag.FlagSet) {
	s.Kafka.RegisterFlags(fs)
	s.Kerberos.RegisterFlags(fs)
}

// KafkaSecured reports whether the flags ask for TLS or SASL with the
// brokers.
func (s *Security) KafkaSecured() bool {
	return s.Kafka.TLS.On() || s.Kafka.SASL.Mechanism != ""
}

// SpotEnv applies Apache Spot's rule for its commands: with the
// environment variable KRB_AUTH set, log in to Kerberos as KRB_USER with
// the keytab KEYTABPATH, unless -principal, -keytab or -krb5-ccache say
// otherwise (security.Kerberos.SpotEnv), and authenticate to the brokers
// with SASL GSSAPI, unless -kafka-sasl-mechanism names another mechanism.
// getenv is os.Getenv. It returns what is missing, for a usage error.
func (s *Security) SpotEnv(getenv func(string) string) error {
	k, on, err := s.Kerberos.SpotEnv(getenv)
	if err != nil {
		return err
	}
	s.Kerberos = k
	if on && s.Kafka.SASL.Mechanism == "" {
		s.Kafka.SASL.Mechanism = security.GSSAPI
	}
	return nil
}

// KafkaOptions checks the flags, reads the files they name (the CA, the
// client's key pair, the password, the keytab) and returns the franz-go
// options of the Kafka clients. Its errors say which flag or file is
// wrong, for a usage error (exit status 2); a password never shows in
// them.
func (s *Security) KafkaOptions() ([]kgo.Opt, error) {
	k := s.Kafka
	k.SASL.Kerberos = s.Kerberos
	return k.KafkaOptions()
}
