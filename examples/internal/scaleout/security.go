package scaleout

import (
	"flag"
	"strings"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/security"
	"github.com/microbatch-go/microbatch/storage"
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

// Storage logs in to Kerberos, once, when the flags give an identity
// (-principal, -keytab or -krb5-ccache; the default ticket cache is not
// used unless -krb5-ccache names it), and returns the job's
// storage.Opener holding that client, through which the job opens every
// storage URI it has (checkpoint, outputs, dead letters, file source),
// and the client, for the other services that authenticate with
// Kerberos (Kudu); the caller destroys the client when the job ends.
// Without an identity it returns the Opener without credentials and a
// nil client.
//
// The login reads krb5.conf and the keytab or ticket cache
// (security.Kerberos.Client) and gets the principal's ticket-granting
// ticket from the KDC (or, from a ticket cache, checks that its tickets
// have not expired). Its failure is a *dstream.StartError (exit status
// 3) of one line naming the principal and the cause: a keytab without
// the principal's key or with an old one, an expired ticket cache, a
// realm that no KDC serves.
func (s *Security) Storage() (*storage.Opener, *client.Client, error) {
	if !s.Kerberos.Enabled() {
		return &storage.Opener{}, nil, nil
	}
	cl, err := s.Kerberos.Client()
	if err != nil {
		return nil, nil, &dstream.StartError{Check: s.kerberosCheck(nil), Err: err}
	}
	if err := cl.Login(); err != nil {
		serr := &dstream.StartError{Check: s.kerberosCheck(cl), Err: newLoginError(cl, err)}
		cl.Destroy()
		return nil, nil, serr
	}
	return &storage.Opener{Kerberos: cl}, cl, nil
}

// kerberosCheck names the Kerberos login in start errors: as the
// client's principal, else the flags', else from the ticket cache.
func (s *Security) kerberosCheck(cl *client.Client) string {
	switch {
	case cl != nil && cl.Credentials != nil && cl.Credentials.UserName() != "":
		return "kerberos login as " + cl.Credentials.UserName() + "@" + cl.Credentials.Domain()
	case s.Kerberos.Principal != "":
		return "kerberos login as " + s.Kerberos.Principal
	}
	return "kerberos login from the ticket cache " + s.Kerberos.CCache
}

// loginError is a failed Kerberos login: its text is the cause in one
// line, and it wraps gokrb5's error.
type loginError struct {
	cause string
	err   error
}

func (e *loginError) Error() string { return e.cause }

// Unwrap returns gokrb5's error.
func (e *loginError) Unwrap() error { return e.err }

// newLoginError words gokrb5's error of cl's login, recognized by its
// text (gokrb5's errors carry no codes to test).
func newLoginError(cl *client.Client, err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	realm := ""
	if cl.Credentials != nil {
		realm = cl.Credentials.Domain()
	}
	var cause string
	switch {
	case strings.Contains(msg, "matching key not found in keytab"), strings.Contains(msg, "Error getting key from keytab"):
		cause = "the keytab holds no key of the principal (the keytab of another principal?)"
	case strings.Contains(msg, "KDC_ERR_PREAUTH_FAILED"), strings.Contains(msg, "KRB_AP_ERR_BAD_INTEGRITY"):
		cause = "the KDC refused the key (KDC_ERR_PREAUTH_FAILED): the keytab does not hold the principal's current key"
	case strings.Contains(msg, "KDC_ERR_C_PRINCIPAL_UNKNOWN"):
		cause = "the KDC of realm " + realm + " does not know the principal (KDC_ERR_C_PRINCIPAL_UNKNOWN)"
	case strings.Contains(msg, "no valid existing session"), strings.Contains(msg, "error getting any existing session"),
		strings.Contains(msg, "TKT_EXPIRED"):
		cause = "the tickets of the ticket cache have expired: run kinit again, or give -keytab"
	case strings.Contains(msg, "no KDCs defined"), strings.Contains(msg, "defined KDCs"), strings.Contains(msg, "Networking_Error"), strings.Contains(msg, "could not get KDC"),
		strings.Contains(msg, "configuration error"):
		cause = "no KDC of realm " + realm + " is configured or answers (check the realm of -principal and the krb5.conf of -krb5-conf)"
	default:
		cause = msg
	}
	return &loginError{cause: cause, err: err}
}
