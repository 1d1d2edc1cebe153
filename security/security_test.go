package security_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/security"
)

// pw is the password of the tests: distinctive, so that a leak is found.
const pw = "Tr0ub4dor&3-never-print-me"

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certFiles writes a CA and a client key pair it signed.
func certFiles(t *testing.T) (ca, cert, key string) {
	t.Helper()
	dir := t.TempDir()
	c := kafkatest.NewCA(t)
	ca = c.WriteCert(t, filepath.Join(dir, "ca.pem"))
	cert, key = kafkatest.WriteKeyPair(t, c.Issue(t, "client", true), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	return ca, cert, key
}

func TestTLSConfig(t *testing.T) {
	ca, cert, key := certFiles(t)
	notPEM := writeFile(t, "ca.txt", "not a certificate\n")
	missing := filepath.Join(t.TempDir(), "missing.pem")

	if cfg, err := (security.TLS{}).Config(); cfg != nil || err != nil {
		t.Errorf("TLS off: Config() = %v, %v; want nil, nil", cfg, err)
	}
	cfg, err := security.TLS{Enabled: true}.Config()
	if err != nil || cfg == nil || cfg.RootCAs != nil || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLS on, no files: %+v, %v; want the system roots and TLS 1.2 at least", cfg, err)
	}
	cfg, err = security.TLS{CAFile: ca, CertFile: cert, KeyFile: key, ServerName: "kafka-1"}.Config()
	if err != nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "kafka-1" || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("CA, key pair and server name: %+v, %v", cfg, err)
	}
	if !(security.TLS{CAFile: ca}).On() || (security.TLS{}).On() {
		t.Error("On: a CA file turns TLS on; the zero TLS is off")
	}

	for _, tc := range []struct {
		tls  security.TLS
		want string
		is   error
	}{
		{security.TLS{CAFile: missing}, "TLS: TLS.CAFile: open " + missing + ": no such file or directory", fs.ErrNotExist},
		{security.TLS{CAFile: notPEM}, "TLS: TLS.CAFile " + notPEM + " holds no PEM certificate", nil},
		{security.TLS{CertFile: cert}, "TLS: TLS.CertFile needs TLS.KeyFile, the client certificate's private key", nil},
		{security.TLS{KeyFile: key}, "TLS: TLS.KeyFile needs TLS.CertFile, the client certificate", nil},
		{security.TLS{CertFile: missing, KeyFile: key}, "TLS: TLS.CertFile: open " + missing + ": no such file or directory", fs.ErrNotExist},
		{security.TLS{CertFile: cert, KeyFile: missing}, "TLS: TLS.KeyFile: open " + missing + ": no such file or directory", fs.ErrNotExist},
		{security.TLS{CertFile: cert, KeyFile: ca}, "TLS: client certificate " + cert + " and key " + ca + ": tls: ", nil},
	} {
		cfg, err := tc.tls.Config()
		if cfg != nil || err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: Config() = %v, %v\nwant an error starting %q", tc.tls, cfg, err, tc.want)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%+v: the error does not wrap %v", tc.tls, tc.is)
		}
	}
}

func TestPassword(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{pw + "\n", pw},
		{pw + "\r\n", pw},
		{pw, pw},
		{pw + "\n\n", pw + "\n"}, // one newline only
		{" " + pw + " \n", " " + pw + " "},
	} {
		got, err := security.SASL{Mechanism: "PLAIN", User: "u", PasswordFile: writeFile(t, "pw", tc.file)}.Password()
		if err != nil || got.Reveal() != tc.want {
			t.Errorf("password file %q: %q, %v; want %q", tc.file, got.Reveal(), err, tc.want)
		}
	}

	t.Setenv(security.DefaultPasswordEnv, pw)
	got, err := security.SASL{Mechanism: "PLAIN", User: "u"}.Password()
	if err != nil || got.Reveal() != pw {
		t.Errorf("from $%s: %q, %v", security.DefaultPasswordEnv, got.Reveal(), err)
	}
	t.Setenv("OTHER_PASSWORD", "other-"+pw)
	got, err = security.SASL{Mechanism: "PLAIN", User: "u", PasswordEnv: "OTHER_PASSWORD"}.Password()
	if err != nil || got.Reveal() != "other-"+pw {
		t.Errorf("from $OTHER_PASSWORD: %q, %v", got.Reveal(), err)
	}
	got, err = security.SASL{Mechanism: "PLAIN", User: "u", PasswordFile: writeFile(t, "pw", "file-"+pw)}.Password()
	if err != nil || got.Reveal() != "file-"+pw {
		t.Errorf("the file wins over the environment: %q, %v", got.Reveal(), err)
	}

	t.Setenv(security.DefaultPasswordEnv, "")
	missing := filepath.Join(t.TempDir(), "nope")
	var k security.Kafka
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	k.RegisterFlags(fs)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-kafka-sasl-mechanism", "scram-sha-256", "-kafka-sasl-user", "u"},
			"kafka SASL: SCRAM-SHA-256 needs a password: -kafka-sasl-password-file, or the environment variable KAFKA_SASL_PASSWORD"},
		{[]string{"-kafka-sasl-password-file", writeFile(t, "empty", "\n")}, "is empty"},
		{[]string{"-kafka-sasl-password-file", missing}, "kafka SASL: -kafka-sasl-password-file: open " + missing + ": no such file or directory"},
	} {
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		_, err := k.KafkaOptions()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: KafkaOptions() = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// Every way of printing, logging or marshalling a Secret, alone or inside
// a struct (in an exported field or not), shows "[redacted]", never the
// value.
func TestSecretRedaction(t *testing.T) {
	s := security.NewSecret(pw)
	type creds struct {
		User     string
		Password security.Secret
		hidden   security.Secret
	}
	c := creds{User: "etl", Password: s, hidden: s}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%T"} {
		out = append(out, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c), fmt.Sprintf(verb, []any{s, c}))
	}
	out = append(out, fmt.Sprint(s, c), fmt.Sprintln(s, c), s.String(), s.GoString())
	if got := fmt.Sprint(s); got != "[redacted]" {
		t.Errorf("fmt.Sprint(secret) = %q", got)
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		l := slog.New(h(&b))
		l.Info("login", "password", s, "creds", c, "ptr", &c, slog.Group("g", "pw", s), slog.Any("list", []security.Secret{s}))
		l.With("password", s).Error("failed", "err", fmt.Errorf("login with %v failed", s))
		out = append(out, b.String())
		if !strings.Contains(b.String(), "[redacted]") {
			t.Errorf("the log does not show [redacted]:\n%s", b.String())
		}
	}
	j, err := json.Marshal(map[string]any{"s": s, "c": c, "list": []security.Secret{s}})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	if want := `{"c":{"User":"etl","Password":"[redacted]"},"list":["[redacted]"],"s":"[redacted]"}`; string(j) != want {
		t.Errorf("json: %s, want %s", j, want)
	}
	text, _ := s.MarshalText()
	out = append(out, string(text))
	for _, o := range out {
		if strings.Contains(o, pw) || strings.Contains(o, fmt.Sprintf("%x", pw)) || strings.Contains(o, fmt.Sprintf("%X", pw)) {
			t.Errorf("the secret leaks: %s", o)
		}
	}
	if s.Reveal() != pw || (security.Secret{}).Reveal() != "" || !(security.Secret{}).Empty() || s.Empty() {
		t.Error("Reveal or Empty")
	}
}

// The flags: registered with their defaults and the environment
// variables in the usage, no flag for a password, and errors that name
// the flags.
func TestFlags(t *testing.T) {
	newFlags := func() (*flag.FlagSet, *security.Kafka, *security.Kerberos) {
		fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
		var k security.Kafka
		var krb security.Kerberos
		k.RegisterFlags(fs)
		krb.RegisterFlags(fs)
		return fs, &k, &krb
	}
	fs, _, _ := newFlags()
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	for _, want := range []string{"-kafka-tls\n", "-kafka-tls-ca file", "-kafka-tls-cert file", "-kafka-tls-key file", "-kafka-tls-server-name name",
		"-kafka-sasl-mechanism mechanism", "-kafka-sasl-user user", "-kafka-sasl-password-file file", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_USER",
		"-kafka-sasl-service-name name", `(default "kafka")`, "-krb5-conf krb5.conf", "-principal principal", "-keytab file", "-krb5-ccache file"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("the usage lacks %q:\n%s", want, usage.String())
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if strings.Contains(f.Name, "password") && f.Name != "kafka-sasl-password-file" {
			t.Errorf("flag -%s takes a password on the command line", f.Name)
		}
	})

	ca, cert, key := certFiles(t)
	pwFile := writeFile(t, "pw", pw+"\n")
	t.Setenv(security.DefaultUserEnv, "")
	for _, tc := range []struct {
		args []string
		want string // the error; "" none
		opts int    // the number of franz-go options
		desc string // Kafka.String
	}{
		{nil, "", 0, "plaintext"},
		{[]string{"-kafka-tls"}, "", 1, "TLS"},
		{[]string{"-kafka-tls-ca", ca, "-kafka-sasl-mechanism", "SCRAM-SHA-512", "-kafka-sasl-user", "etl", "-kafka-sasl-password-file", pwFile}, "", 2, "SASL SCRAM-SHA-512 user etl over TLS"},
		{[]string{"-kafka-sasl-mechanism", "plain", "-kafka-sasl-user", "etl", "-kafka-sasl-password-file", pwFile}, "", 1, "SASL PLAIN user etl"},
		{[]string{"-kafka-tls-cert", cert, "-kafka-tls-key", key}, "", 1, "TLS"},
		{[]string{"-kafka-tls-cert", cert}, "kafka TLS: -kafka-tls-cert needs -kafka-tls-key, the client certificate's private key", 0, ""},
		{[]string{"-kafka-tls-key", key}, "kafka TLS: -kafka-tls-key needs -kafka-tls-cert, the client certificate", 0, ""},
		{[]string{"-kafka-sasl-mechanism", "OAUTHBEARER"}, `kafka SASL: -kafka-sasl-mechanism "OAUTHBEARER": want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI`, 0, ""},
		{[]string{"-kafka-sasl-mechanism", "SCRAM-SHA-256", "-kafka-sasl-password-file", pwFile}, "kafka SASL: SCRAM-SHA-256 needs a user: -kafka-sasl-user or $KAFKA_SASL_USER", 0, ""},
		{[]string{"-kafka-sasl-user", "etl"}, "kafka SASL: -kafka-sasl-user and -kafka-sasl-password-file need -kafka-sasl-mechanism", 0, ""},
		{[]string{"-kafka-sasl-mechanism", "GSSAPI", "-kafka-sasl-user", "etl"}, "kafka SASL: GSSAPI logs in as the Kerberos principal, without -kafka-sasl-user or -kafka-sasl-password-file", 0, ""},
		{[]string{"-kafka-sasl-mechanism", "GSSAPI", "-keytab", "/k"}, "kafka SASL: GSSAPI: kerberos: -keytab needs -principal, the keytab's principal (name@REALM)", 0, ""},
		{[]string{"-kafka-sasl-mechanism", "GSSAPI", "-principal", "etl@R", "-keytab", "/k", "-krb5-ccache", "/c"}, "kafka SASL: GSSAPI: kerberos: give -keytab or -krb5-ccache, not both", 0, ""},
		{[]string{"-kafka-sasl-mechanism", "GSSAPI", "-principal", "etl@"}, `kafka SASL: GSSAPI: kerberos: -principal "etl@": want name@REALM`, 0, ""},
	} {
		fs, k, krb := newFlags()
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		k.SASL.Kerberos = *krb
		opts, err := k.KafkaOptions()
		if tc.want != "" {
			if err == nil || err.Error() != tc.want {
				t.Errorf("%q: KafkaOptions() error %v\nwant %s", tc.args, err, tc.want)
			}
			if verr := k.Validate(); verr == nil || verr.Error() != tc.want { // all checks without the files
				t.Errorf("%q: Validate() = %v, want the same error", tc.args, verr)
			}
			continue
		}
		if err != nil || len(opts) != tc.opts {
			t.Errorf("%q: KafkaOptions() = %d options, %v; want %d", tc.args, len(opts), err, tc.opts)
		}
		if got := k.String(); got != tc.desc {
			t.Errorf("%q: String() = %q, want %q", tc.args, got, tc.desc)
		}
	}
}

// Errors of values not set by flags name the Go fields instead.
func TestErrorsNameFields(t *testing.T) {
	err := security.Kafka{SASL: security.SASL{User: "etl"}}.Validate()
	if want := "kafka SASL: Kafka.SASL.User and Kafka.SASL.PasswordFile need Kafka.SASL.Mechanism"; err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
	err = security.Kerberos{Keytab: "/k"}.Validate()
	if want := "kerberos: Kerberos.Keytab needs Kerberos.Principal, the keytab's principal (name@REALM)"; err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
}

// The mechanisms franz-go gets, by name, with the password read at start
// and never shown.
func TestKafkaMechanisms(t *testing.T) {
	t.Setenv(security.DefaultPasswordEnv, pw)
	for _, m := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		k := security.Kafka{TLS: security.TLS{Enabled: true}, SASL: security.SASL{Mechanism: strings.ToLower(m), User: "etl"}}
		opts, err := k.KafkaOptions()
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
		dial, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
		cl.Close()
		if len(ms) != 1 || ms[0].Name() != m || dial == nil {
			t.Errorf("%s: mechanisms %v, TLS %v", m, ms, dial)
		}
		if s := fmt.Sprintf("%v %+v %#v", k, k, opts); strings.Contains(s, pw) {
			t.Errorf("%s: the password shows in the printed settings or options: %s", m, s)
		}
	}
}

// krb5Conf writes a krb5.conf of realm EXAMPLE.COM, with default_realm
// when def.
func krb5Conf(t *testing.T, def bool) string {
	t.Helper()
	conf := "[libdefaults]\n"
	if def {
		conf += "  default_realm = EXAMPLE.COM\n"
	}
	conf += "  dns_lookup_kdc = false\n[realms]\n  EXAMPLE.COM = {\n    kdc = 127.0.0.1:88\n  }\n"
	return writeFile(t, "krb5.conf", conf)
}

// keytabFile writes a keytab holding principal's keys.
func keytabFile(t *testing.T, principal string) string {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(principal, "EXAMPLE.COM", "keytab-password", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "etl.keytab", string(b))
}

// GSSAPI: the mechanism is made from a keytab and krb5.conf, without
// contacting the KDC (the KDC-backed test lives with the test realm);
// bad files are errors naming them, never panics.
func TestGSSAPI(t *testing.T) {
	conf, noDefault := krb5Conf(t, true), krb5Conf(t, false)
	kt := keytabFile(t, "etl")
	for _, principal := range []string{"etl@EXAMPLE.COM", "etl"} {
		k := security.Kafka{SASL: security.SASL{Mechanism: "GSSAPI", Kerberos: security.Kerberos{Krb5Conf: conf, Principal: principal, Keytab: kt}}}
		opts, err := k.KafkaOptions()
		if err != nil || len(opts) != 1 {
			t.Fatalf("%s: KafkaOptions() = %d, %v", principal, len(opts), err)
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
		cl.Close()
		if len(ms) != 1 || ms[0].Name() != "GSSAPI" {
			t.Errorf("mechanisms %v, want GSSAPI", ms)
		}
		if want := "SASL GSSAPI principal " + principal; k.String() != want {
			t.Errorf("String() = %q, want %q", k.String(), want)
		}
		kc, err := k.SASL.Kerberos.Client()
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := kc.IsConfigured(); !ok || kc.Credentials.Domain() != "EXAMPLE.COM" || kc.Credentials.UserName() != "etl" {
			t.Errorf("%s: client of %s@%s, configured %v %v", principal, kc.Credentials.UserName(), kc.Credentials.Domain(), ok, err)
		}
	}

	missing := filepath.Join(t.TempDir(), "missing")
	garbage := writeFile(t, "garbage", "\x05\x02\x00\x00\x00\x10garbage")
	truncated := writeFile(t, "truncated", "\x05")
	t.Setenv("KRB5CCNAME", "")
	for _, tc := range []struct {
		krb  security.Kerberos
		want string
	}{
		{security.Kerberos{Krb5Conf: missing, Principal: "etl", Keytab: kt}, "kerberos: krb5.conf " + missing + ": "},
		{security.Kerberos{Krb5Conf: conf, Principal: "etl@EXAMPLE.COM", Keytab: missing}, "kerberos: Kerberos.Keytab " + missing + ": open " + missing},
		{security.Kerberos{Krb5Conf: conf, Principal: "etl@EXAMPLE.COM", Keytab: garbage}, "kerberos: Kerberos.Keytab " + garbage + ": not a keytab: "},
		{security.Kerberos{Krb5Conf: conf, Principal: "etl@EXAMPLE.COM", Keytab: truncated}, "kerberos: Kerberos.Keytab " + truncated + ": not a keytab: "},
		{security.Kerberos{Krb5Conf: noDefault, Principal: "etl", Keytab: kt}, `kerberos: Kerberos.Principal "etl" has no realm and ` + noDefault + " sets no default_realm: give name@REALM"},
		{security.Kerberos{Krb5Conf: conf, CCache: missing}, "kerberos: ticket cache " + missing + ": open " + missing},
		{security.Kerberos{Krb5Conf: conf, CCache: garbage}, "kerberos: ticket cache " + garbage + ": not a ticket cache: "},
		{security.Kerberos{Krb5Conf: conf, CCache: truncated}, "kerberos: ticket cache " + truncated + ": not a ticket cache: "},
		{security.Kerberos{Krb5Conf: conf, CCache: kt}, "kerberos: ticket cache " + kt + ": not a ticket cache: "},
	} {
		_, err := tc.krb.Client()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: Client() = %v\nwant an error starting %q", tc.krb, err, tc.want)
		}
	}
	t.Setenv("KRB5CCNAME", "KEYRING:persistent:1000")
	if _, err := (security.Kerberos{Krb5Conf: conf}).Client(); err == nil || !strings.Contains(err.Error(), "only FILE: ticket caches can be read") {
		t.Errorf("a KEYRING cache: %v", err)
	}
	t.Setenv("KRB5CCNAME", "FILE:"+missing)
	if p, err := (security.Kerberos{}).CCachePath(); p != missing || err != nil {
		t.Errorf("CCachePath() with KRB5CCNAME=FILE:%s = %q, %v", missing, p, err)
	}
	t.Setenv("KRB5_CONFIG", conf+":/etc/krb5.conf")
	if p := (security.Kerberos{}).Krb5ConfPath(); p != conf {
		t.Errorf("Krb5ConfPath() = %q, want the first of $KRB5_CONFIG", p)
	}
}

// KRB_AUTH, as Apache Spot's ingest reads it; the flags win.
func TestSpotEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	spot := map[string]string{"KRB_AUTH": "1", "KRB_USER": "spot@EXAMPLE.COM", "KEYTABPATH": "/etc/spot.keytab", "KINITPATH": "/usr/bin/kinit", "KINITOPTS": "-kt"}
	flagged := func(args ...string) security.Kerberos {
		var k security.Kerberos
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		k.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, tc := range []struct {
		name string
		in   security.Kerberos
		env  map[string]string
		want security.Kerberos
		on   bool
		err  string
	}{
		{"unset", flagged("-principal", "a@B"), map[string]string{"KRB_USER": "x", "KEYTABPATH": "/x"}, flagged("-principal", "a@B"), false, ""},
		{"set", flagged(), spot, flagged("-principal", "spot@EXAMPLE.COM", "-keytab", "/etc/spot.keytab"), true, ""},
		{"the flags win", flagged("-principal", "etl@EXAMPLE.COM", "-keytab", "/etc/etl.keytab"), spot, flagged("-principal", "etl@EXAMPLE.COM", "-keytab", "/etc/etl.keytab"), true, ""},
		{"a ticket cache instead of the keytab", flagged("-krb5-ccache", "/tmp/cc"), spot, flagged("-principal", "spot@EXAMPLE.COM", "-krb5-ccache", "/tmp/cc"), true, ""},
		{"missing", flagged(), map[string]string{"KRB_AUTH": "true"}, flagged(), true,
			"kerberos: KRB_AUTH is set but KRB_USER (or -principal) and KEYTABPATH (or -keytab) are missing: the login needs a principal and its keytab"},
		{"no keytab", flagged("-principal", "a@B"), map[string]string{"KRB_AUTH": "true"}, flagged("-principal", "a@B"), true,
			"kerberos: KRB_AUTH is set but KEYTABPATH (or -keytab) is missing: the login needs a principal and its keytab"},
	} {
		got, on, err := tc.in.SpotEnv(env(tc.env))
		if (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
		if err == nil && (got != tc.want || on != tc.on) {
			t.Errorf("%s: %+v, %v; want %+v, %v", tc.name, got, on, tc.want, tc.on)
		}
	}
}
