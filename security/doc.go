// Package security names the credentials of a secured cluster the same way
// in every application and connector: a Kerberos identity (a principal and
// a keytab, or a ticket cache, and a krb5.conf), Kafka's SASL (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI) and TLS (the CA, a client
// certificate and key, the server name).
//
// Passwords never come from a flag, whose value any user of the machine
// sees in ps: a SASL password is read at start from a file (its trailing
// newline dropped) or from an environment variable, and held as a Secret,
// which prints, logs and marshals as "[redacted]".
//
// A command registers the flags and turns them into franz-go options for
// the Kafka connectors, which take them through their ClientOptions:
//
//	var sec security.Kafka
//	var krb security.Kerberos
//	sec.RegisterFlags(fs) // -kafka-tls, -kafka-tls-ca, ..., -kafka-sasl-mechanism, ...
//	krb.RegisterFlags(fs) // -krb5-conf, -principal, -keytab, -krb5-ccache
//	// ... parse ...
//	sec.SASL.Kerberos = krb // for GSSAPI
//	opts, err := sec.KafkaOptions() // reads the CA, the key pair and the password now
//	if err != nil {
//		return runner.Usage(err)
//	}
//	ds := kafka.NewDirectStream(ssc, kafka.Subscribe("events"),
//		kafka.Brokers(brokers...), kafka.Group("job"), kafka.ClientOptions(opts...))
//
// The Kafka direct stream and sink check the brokers at start with these
// options, so a password the brokers refuse or a certificate the client
// does not trust fails Start within seconds, with one error naming the
// brokers and the cause ("kafka brokers 10.0.0.1:9093: SASL
// authentication failed: invalid credentials (mechanism SCRAM-SHA-256)",
// "kafka brokers 10.0.0.1:9093: TLS: certificate signed by unknown
// authority").
//
// Apache Spot's ingest logs in to Kerberos when the environment variable
// KRB_AUTH is set, with the keytab KEYTABPATH and the principal KRB_USER;
// Kerberos.SpotEnv does the same for the Spot commands, the flags winning
// over the environment.
//
// The types are plain values with no hidden state but the flag names that
// RegisterFlags records, so that errors name the flags; nothing in the
// package is global.
package security
