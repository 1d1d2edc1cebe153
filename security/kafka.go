package security

import (
	"cmp"
	"flag"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka is a Kafka client's security: TLS and SASL. The zero Kafka is a
// plaintext, unauthenticated client.
type Kafka struct {
	// TLS encrypts the connections and checks the brokers' certificates.
	TLS TLS
	// SASL authenticates the client.
	SASL SASL

	flagged bool // set by RegisterFlags: errors name the flags
}

// name says how errors call a field: by its flag after RegisterFlags,
// else by its Go name.
func (k Kafka) name(field string) string {
	if !k.flagged {
		return "Kafka." + field
	}
	switch field {
	case "TLS.Enabled":
		return "-kafka-tls"
	case "TLS.CAFile":
		return "-kafka-tls-ca"
	case "TLS.CertFile":
		return "-kafka-tls-cert"
	case "TLS.KeyFile":
		return "-kafka-tls-key"
	case "TLS.ServerName":
		return "-kafka-tls-server-name"
	case "SASL.Mechanism":
		return "-kafka-sasl-mechanism"
	case "SASL.User":
		return "-kafka-sasl-user"
	case "SASL.PasswordFile":
		return "-kafka-sasl-password-file"
	case "SASL.ServiceName":
		return "-kafka-sasl-service-name"
	}
	return "Kafka." + field
}

// Validate checks the settings without reading any file (see TLS.Validate
// and SASL.Validate).
func (k Kafka) Validate() error {
	if err := k.TLS.validate(k.name); err != nil {
		return fmt.Errorf("kafka %w", err)
	}
	if err := k.SASL.validate(k.name); err != nil {
		return fmt.Errorf("kafka %w", err)
	}
	return nil
}

// KafkaOptions returns the franz-go client options of k:
// kgo.DialTLSConfig when TLS is on, kgo.SASL with a mechanism. It reads
// the CA, the client's key pair, the password or the Kerberos files now,
// so that a missing or bad file is reported at start, naming it; the
// password is kept in the mechanism only. Pass the options to the Kafka
// direct stream and sink with their ClientOptions, and to clients of
// one's own with kgo.NewClient.
func (k Kafka) KafkaOptions() ([]kgo.Opt, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	cfg, err := k.TLS.config(k.name)
	if err != nil {
		return nil, fmt.Errorf("kafka %w", err)
	}
	if cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	m, err := k.SASL.kafkaMechanism(k.name)
	if err != nil {
		return nil, fmt.Errorf("kafka %w", err)
	}
	if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// String describes the settings for a log line, without secrets:
// "plaintext", "TLS", "SASL SCRAM-SHA-256 user alice over TLS", "SASL
// GSSAPI principal etl@EXAMPLE.COM", ...
func (k Kafka) String() string {
	m, _ := k.SASL.mechanism()
	var parts []string
	switch m {
	case "":
	case GSSAPI:
		who := k.SASL.Kerberos.Principal
		if who == "" {
			who = "from the ticket cache"
		}
		parts = append(parts, "SASL "+m+" principal "+who)
	default:
		parts = append(parts, fmt.Sprintf("SASL %s user %s", m, k.SASL.user()))
	}
	switch {
	case k.TLS.On() && len(parts) > 0:
		parts = append(parts, "over TLS")
	case k.TLS.On():
		parts = append(parts, "TLS")
	case len(parts) == 0:
		parts = append(parts, "plaintext")
	}
	return strings.Join(parts, " ")
}

// RegisterFlags adds the flags of k to fs, their values going into k:
//
//	-kafka-tls                   connect with TLS (the other -kafka-tls-* flags imply it)
//	-kafka-tls-ca FILE           PEM file of the CAs of the brokers' certificates (default: the system's)
//	-kafka-tls-cert FILE         PEM file of the client certificate, for brokers that require one
//	-kafka-tls-key FILE          PEM file of its private key
//	-kafka-tls-server-name NAME  the name the brokers' certificates must carry (default: each broker's host)
//	-kafka-sasl-mechanism NAME   PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI (default: no SASL)
//	-kafka-sasl-user NAME        the PLAIN or SCRAM user (default $KAFKA_SASL_USER)
//	-kafka-sasl-password-file FILE
//	                             file holding the PLAIN or SCRAM password (default: $KAFKA_SASL_PASSWORD)
//	-kafka-sasl-service-name NAME
//	                             GSSAPI: the brokers' Kerberos service name (default kafka)
//
// There is no flag for the password itself, whose value any user of the
// machine would see in ps. GSSAPI's identity is the Kerberos flags'
// (Kerberos.RegisterFlags), set into SASL.Kerberos after parsing. After
// RegisterFlags, errors of Validate and KafkaOptions name the flags.
func (k *Kafka) RegisterFlags(fs *flag.FlagSet) {
	k.flagged = true
	fs.BoolVar(&k.TLS.Enabled, "kafka-tls", k.TLS.Enabled, "connect to the Kafka brokers with TLS (the other -kafka-tls-* flags imply it)")
	fs.StringVar(&k.TLS.CAFile, "kafka-tls-ca", k.TLS.CAFile, "PEM `file` of the CAs that sign the Kafka brokers' certificates (default: the system's roots)")
	fs.StringVar(&k.TLS.CertFile, "kafka-tls-cert", k.TLS.CertFile, "PEM `file` of the client certificate, for Kafka brokers that require one (with -kafka-tls-key)")
	fs.StringVar(&k.TLS.KeyFile, "kafka-tls-key", k.TLS.KeyFile, "PEM `file` of the private key of -kafka-tls-cert")
	fs.StringVar(&k.TLS.ServerName, "kafka-tls-server-name", k.TLS.ServerName, "the `name` the Kafka brokers' certificates must carry (default: each broker's host)")
	fs.StringVar(&k.SASL.Mechanism, "kafka-sasl-mechanism", k.SASL.Mechanism, "SASL `mechanism` of the Kafka brokers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, or GSSAPI with the Kerberos identity of -principal and -keytab (or a ticket cache) (default: no SASL)")
	fs.StringVar(&k.SASL.User, "kafka-sasl-user", k.SASL.User, "the SASL `user`, for PLAIN and SCRAM (default $"+DefaultUserEnv+")")
	fs.StringVar(&k.SASL.PasswordFile, "kafka-sasl-password-file", k.SASL.PasswordFile, "`file` holding the SASL password, for PLAIN and SCRAM; one trailing newline is dropped (default: the environment variable "+DefaultPasswordEnv+"; never a flag, whose value shows in ps)")
	fs.StringVar(&k.SASL.ServiceName, "kafka-sasl-service-name", cmp.Or(k.SASL.ServiceName, DefaultServiceName), "GSSAPI: the Kafka brokers' Kerberos service `name`, their principals being <name>/<host>@REALM (Kafka's sasl.kerberos.service.name)")
}

// RegisterFlags adds the flags of k to fs, their values going into k:
//
//	-krb5-conf FILE    krb5.conf (default $KRB5_CONFIG, else /etc/krb5.conf)
//	-principal NAME    the client principal, name@REALM (spark-submit's --principal)
//	-keytab FILE       the principal's keytab (spark-submit's --keytab)
//	-krb5-ccache FILE  a ticket cache to use instead of a keytab
//	                   (default $KRB5CCNAME, else /tmp/krb5cc_<uid>)
//
// After RegisterFlags, errors of Validate and Client name the flags.
func (k *Kerberos) RegisterFlags(fs *flag.FlagSet) {
	k.flagged = true
	fs.StringVar(&k.Krb5Conf, "krb5-conf", k.Krb5Conf, "the Kerberos `krb5.conf` (default $KRB5_CONFIG, else "+DefaultKrb5Conf+")")
	fs.StringVar(&k.Principal, "principal", k.Principal, "the Kerberos `principal`, name@REALM, to log in as (spark-submit's --principal); for Kafka's SASL GSSAPI")
	fs.StringVar(&k.Keytab, "keytab", k.Keytab, "the keytab `file` of -principal (spark-submit's --keytab); without it, the tickets of a ticket cache (kinit)")
	fs.StringVar(&k.CCache, "krb5-ccache", k.CCache, "a Kerberos ticket cache `file` to use instead of a keytab (default $KRB5CCNAME, else /tmp/krb5cc_<uid>)")
}
