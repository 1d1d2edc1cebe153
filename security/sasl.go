package security

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL mechanisms of Kafka that SASL supports.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	GSSAPI      = "GSSAPI"
)

// Defaults of SASL.
const (
	// DefaultPasswordEnv is the environment variable that holds the SASL
	// password when SASL.PasswordFile is not set.
	DefaultPasswordEnv = "KAFKA_SASL_PASSWORD"
	// DefaultUserEnv is the environment variable that holds the SASL user
	// when SASL.User is not set.
	DefaultUserEnv = "KAFKA_SASL_USER"
	// DefaultServiceName is the Kerberos service name of Kafka brokers
	// (Kafka's sasl.kerberos.service.name): their principals are
	// kafka/<host>@REALM.
	DefaultServiceName = "kafka"
)

// SASL is a Kafka client's SASL authentication. PLAIN and SCRAM take a
// user and a password; GSSAPI takes the Kerberos identity.
//
// The password is never a field: it is read when the mechanism is made
// (KafkaMechanism, Kafka.KafkaOptions), from PasswordFile, else from the
// environment variable PasswordEnv, and kept as a Secret.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI (any
	// case); empty: no SASL.
	Mechanism string
	// User is the PLAIN or SCRAM user. Empty: $KAFKA_SASL_USER.
	User string
	// PasswordFile is a file holding the PLAIN or SCRAM password; one
	// trailing newline is dropped. Empty: the environment variable
	// PasswordEnv.
	PasswordFile string
	// PasswordEnv names the environment variable holding the password
	// when PasswordFile is empty. Empty: DefaultPasswordEnv.
	PasswordEnv string
	// Kerberos is the identity of GSSAPI.
	Kerberos Kerberos
	// ServiceName is the brokers' Kerberos service name, for GSSAPI.
	// Empty: DefaultServiceName.
	ServiceName string
}

// mechanism returns Mechanism in upper case, and whether it is known.
func (s SASL) mechanism() (string, bool) {
	m := strings.ToUpper(strings.TrimSpace(s.Mechanism))
	switch m {
	case "", Plain, ScramSHA256, ScramSHA512, GSSAPI:
		return m, true
	}
	return m, false
}

// user returns User, else $KAFKA_SASL_USER.
func (s SASL) user() string {
	if s.User != "" {
		return s.User
	}
	return os.Getenv(DefaultUserEnv)
}

// passwordEnv returns the environment variable of the password.
func (s SASL) passwordEnv() string {
	if s.PasswordEnv != "" {
		return s.PasswordEnv
	}
	return DefaultPasswordEnv
}

// Validate checks the settings without reading the password: a known
// mechanism; PLAIN and SCRAM with a user, GSSAPI without one (its
// identity is Kerberos's); no user or password file without a
// mechanism.
func (s SASL) Validate() error { return s.validate(goName("")) }

func (s SASL) validate(name func(string) string) error {
	m, ok := s.mechanism()
	if !ok {
		return fmt.Errorf("SASL: %s %q: want %s, %s, %s or %s", name("SASL.Mechanism"), s.Mechanism, Plain, ScramSHA256, ScramSHA512, GSSAPI)
	}
	switch m {
	case "":
		if s.User != "" || s.PasswordFile != "" {
			return fmt.Errorf("SASL: %s and %s need %s", name("SASL.User"), name("SASL.PasswordFile"), name("SASL.Mechanism"))
		}
	case GSSAPI:
		if s.User != "" || s.PasswordFile != "" {
			return fmt.Errorf("SASL: %s logs in as the Kerberos principal, without %s or %s", GSSAPI, name("SASL.User"), name("SASL.PasswordFile"))
		}
		if err := s.Kerberos.Validate(); err != nil {
			return fmt.Errorf("SASL: %s: %w", GSSAPI, err)
		}
	default:
		if s.user() == "" {
			return fmt.Errorf("SASL: %s needs a user: %s or $%s", m, name("SASL.User"), DefaultUserEnv)
		}
	}
	return nil
}

// Password reads the PLAIN or SCRAM password: the contents of
// PasswordFile without one trailing newline, else the environment
// variable PasswordEnv. An empty password is an error, which names where
// it looked, never the value.
func (s SASL) Password() (Secret, error) { return s.password(goName("")) }

func (s SASL) password(name func(string) string) (Secret, error) {
	if s.PasswordFile != "" {
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return Secret{}, fmt.Errorf("SASL: %s: %w", name("SASL.PasswordFile"), err)
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pw == "" {
			return Secret{}, fmt.Errorf("SASL: %s %s is empty", name("SASL.PasswordFile"), s.PasswordFile)
		}
		return NewSecret(pw), nil
	}
	env := s.passwordEnv()
	pw := os.Getenv(env)
	if pw == "" {
		return Secret{}, fmt.Errorf("SASL: %s needs a password: %s, or the environment variable %s", strings.ToUpper(s.Mechanism), name("SASL.PasswordFile"), env)
	}
	return NewSecret(pw), nil
}

// KafkaMechanism returns the franz-go mechanism, or nil without
// Mechanism. It reads the password, or the Kerberos files, now.
func (s SASL) KafkaMechanism() (sasl.Mechanism, error) { return s.kafkaMechanism(goName("")) }

func (s SASL) kafkaMechanism(name func(string) string) (sasl.Mechanism, error) {
	if err := s.validate(name); err != nil {
		return nil, err
	}
	m, _ := s.mechanism()
	switch m {
	case "":
		return nil, nil
	case GSSAPI:
		kc, err := s.Kerberos.Client()
		if err != nil {
			return nil, fmt.Errorf("SASL: %s: %w", GSSAPI, err)
		}
		service := s.ServiceName
		if service == "" {
			service = DefaultServiceName
		}
		// One client for every connection of every franz-go client made
		// with the options: it keeps its ticket and renews it. It is not
		// destroyed when a franz-go client closes, since others share it.
		m := kerberos.Auth{Client: kc, Service: service}.AsMechanism()
		if s.Kerberos.Keytab == "" {
			path, _ := s.Kerberos.CCachePath() // Client read it
			return ccacheMechanism{Mechanism: m, path: path}, nil
		}
		return m, nil
	}
	pw, err := s.password(name)
	if err != nil {
		return nil, err
	}
	user := s.user()
	switch m {
	case Plain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			return plain.Auth{User: user, Pass: pw.Reveal()}, nil
		}), nil
	case ScramSHA256:
		return scram.Sha256(func(context.Context) (scram.Auth, error) {
			return scram.Auth{User: user, Pass: pw.Reveal()}, nil
		}), nil
	default: // ScramSHA512
		return scram.Sha512(func(context.Context) (scram.Auth, error) {
			return scram.Auth{User: user, Pass: pw.Reveal()}, nil
		}), nil
	}
}

// ccacheMechanism is GSSAPI logged in from a ticket cache: a login that
// fails because the cache's tickets have expired says so, which gokrb5
// does not ("no valid existing session").
type ccacheMechanism struct {
	sasl.Mechanism
	path string
}

// Authenticate implements sasl.Mechanism.
func (m ccacheMechanism) Authenticate(ctx context.Context, host string) (sasl.Session, []byte, error) {
	s, b, err := m.Mechanism.Authenticate(ctx, host)
	if err != nil {
		if end, ok := ticketsEnd(m.path); ok && time.Now().After(end) {
			return nil, nil, fmt.Errorf("kerberos: the ticket in ticket cache %s expired at %s (run kinit again): %w", m.path, end.UTC().Format(time.RFC3339), err)
		}
	}
	return s, b, err
}

// ticketsEnd returns when the ticket-granting ticket of the ticket cache
// at path ends, if it holds one.
func ticketsEnd(path string) (time.Time, bool) {
	cc, err := loadCCache(path)
	if err != nil {
		return time.Time{}, false
	}
	for _, c := range cc.GetEntries() {
		if len(c.Server.PrincipalName.NameString) > 0 && c.Server.PrincipalName.NameString[0] == "krbtgt" {
			return c.EndTime, true
		}
	}
	return time.Time{}, false
}
