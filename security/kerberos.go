package security

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// DefaultKrb5Conf is the krb5.conf read when neither Kerberos.Krb5Conf
// nor the environment variable KRB5_CONFIG names one, as MIT Kerberos
// does.
const DefaultKrb5Conf = "/etc/krb5.conf"

// Kerberos is a Kerberos identity: a principal with its keytab, or a
// ticket cache that kinit filled, and the krb5.conf that names the realm's
// KDCs. The IoT manager's original ran as spark2-submit --principal
// name@REALM --keytab file, whence the flags' names (RegisterFlags).
//
// With a Keytab, the client logs in itself (and again when its ticket
// expires); with a ticket cache, it uses the tickets there, which someone
// must renew (kinit -R, or k5start). The zero Kerberos uses the default
// ticket cache, as kinit leaves it.
type Kerberos struct {
	// Krb5Conf is the path of krb5.conf. Empty: $KRB5_CONFIG, else
	// DefaultKrb5Conf.
	Krb5Conf string
	// Principal is the client principal, name@REALM or name/instance@REALM;
	// without @REALM, krb5.conf's default_realm. Required with Keytab;
	// with a ticket cache, the cache's principal must be this one.
	Principal string
	// Keytab is the path of the principal's keytab.
	Keytab string
	// CCache is the path of a ticket cache (a FILE: cache). Empty, and no
	// Keytab: $KRB5CCNAME, else /tmp/krb5cc_<uid>.
	CCache string

	flagged bool // set by RegisterFlags: errors name the flags
}

// Enabled reports whether any of Principal, Keytab and CCache is set: a
// Kerberos identity was asked for.
func (k Kerberos) Enabled() bool { return k.Principal != "" || k.Keytab != "" || k.CCache != "" }

// name says how errors call a field: by its flag after RegisterFlags.
func (k Kerberos) name(field string) string {
	if k.flagged {
		switch field {
		case "Krb5Conf":
			return "-krb5-conf"
		case "Principal":
			return "-principal"
		case "Keytab":
			return "-keytab"
		case "CCache":
			return "-krb5-ccache"
		}
	}
	return "Kerberos." + field
}

// Validate checks the settings without reading the files: a keytab needs
// its principal, a keytab and a ticket cache exclude each other, and a
// principal is name or name@REALM.
func (k Kerberos) Validate() error {
	switch {
	case k.Keytab != "" && k.CCache != "":
		return fmt.Errorf("kerberos: give %s or %s, not both", k.name("Keytab"), k.name("CCache"))
	case k.Keytab != "" && k.Principal == "":
		return fmt.Errorf("kerberos: %s needs %s, the keytab's principal (name@REALM)", k.name("Keytab"), k.name("Principal"))
	}
	if k.Principal != "" {
		name, realm, hasRealm := splitPrincipal(k.Principal)
		if name == "" || hasRealm && realm == "" || strings.ContainsAny(k.Principal, " \t\r\n") {
			return fmt.Errorf("kerberos: %s %q: want name@REALM", k.name("Principal"), k.Principal)
		}
	}
	return nil
}

// splitPrincipal splits name@REALM at its last @.
func splitPrincipal(p string) (name, realm string, hasRealm bool) {
	i := strings.LastIndexByte(p, '@')
	if i < 0 {
		return p, "", false
	}
	return p[:i], p[i+1:], true
}

// Krb5ConfPath returns the krb5.conf that Client reads: Krb5Conf, else
// the first file of $KRB5_CONFIG, else DefaultKrb5Conf.
func (k Kerberos) Krb5ConfPath() string {
	if k.Krb5Conf != "" {
		return k.Krb5Conf
	}
	if env := os.Getenv("KRB5_CONFIG"); env != "" {
		first, _, _ := strings.Cut(env, ":")
		return first
	}
	return DefaultKrb5Conf
}

// CCachePath returns the ticket cache that Client reads when there is no
// Keytab: CCache, else $KRB5CCNAME (a FILE: cache), else
// /tmp/krb5cc_<uid>.
func (k Kerberos) CCachePath() (string, error) {
	if k.CCache != "" {
		return k.CCache, nil
	}
	env := os.Getenv("KRB5CCNAME")
	if env == "" {
		return "/tmp/krb5cc_" + strconv.Itoa(os.Getuid()), nil
	}
	typ, path, ok := strings.Cut(env, ":")
	switch {
	case !ok:
		return env, nil
	case typ == "FILE":
		return path, nil
	}
	return "", fmt.Errorf("kerberos: $KRB5CCNAME %s: only FILE: ticket caches can be read; give %s", env, k.name("CCache"))
}

// Client returns a gokrb5 client of the identity. It reads krb5.conf and
// the keytab or ticket cache now, and reports which file is missing or
// bad; it does not contact the KDC: the client logs in when it first
// needs a ticket (franz-go's GSSAPI mechanism, at the first connection to
// a broker), so a KDC that refuses the login fails there. PA-FX-FAST is
// off, as Active Directory and most MIT KDCs need.
func (k Kerberos) Client() (*client.Client, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	confPath := k.Krb5ConfPath()
	cfg, err := config.Load(confPath)
	var unsupported config.UnsupportedDirective
	if err != nil && !errors.As(err, &unsupported) { // unsupported directives are skipped
		return nil, fmt.Errorf("kerberos: krb5.conf %s: %w", confPath, err)
	}
	if k.Keytab != "" {
		kt, err := loadKeytab(k.Keytab)
		if err != nil {
			return nil, fmt.Errorf("kerberos: %s %s: %w", k.name("Keytab"), k.Keytab, err)
		}
		name, realm, _ := splitPrincipal(k.Principal)
		if realm == "" {
			realm = cfg.LibDefaults.DefaultRealm
		}
		if realm == "" {
			return nil, fmt.Errorf("kerberos: %s %q has no realm and %s sets no default_realm: give name@REALM", k.name("Principal"), k.Principal, confPath)
		}
		return client.NewWithKeytab(name, realm, kt, cfg, client.DisablePAFXFAST(true)), nil
	}
	path, err := k.CCachePath()
	if err != nil {
		return nil, err
	}
	cc, err := loadCCache(path)
	if err != nil {
		return nil, fmt.Errorf("kerberos: ticket cache %s: %w (run kinit, or give %s and %s)", path, err, k.name("Principal"), k.name("Keytab"))
	}
	cached := cc.DefaultPrincipal.PrincipalName.PrincipalNameString() + "@" + cc.DefaultPrincipal.Realm
	if k.Principal != "" {
		want := k.Principal
		if _, _, hasRealm := splitPrincipal(want); !hasRealm {
			want += "@" + cfg.LibDefaults.DefaultRealm
		}
		if want != cached {
			return nil, fmt.Errorf("kerberos: ticket cache %s holds the tickets of %s, not of %s %s", path, cached, k.name("Principal"), k.Principal)
		}
	}
	cl, err := client.NewFromCCache(cc, cfg, client.DisablePAFXFAST(true))
	if err != nil {
		return nil, fmt.Errorf("kerberos: ticket cache %s of %s: %w (run kinit again)", path, cached, err)
	}
	return cl, nil
}

// loadKeytab reads a keytab, with a panic of the parser on a damaged
// file turned into an error.
func loadKeytab(path string) (kt *keytab.Keytab, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty file")
	}
	kt = keytab.New()
	err = parseSafely(func() error { return kt.Unmarshal(b) })
	if err != nil {
		return nil, fmt.Errorf("not a keytab: %w", err)
	}
	return kt, nil
}

// loadCCache reads a ticket cache, with a panic of the parser on a
// damaged file turned into an error.
func loadCCache(path string) (*credentials.CCache, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 {
		return nil, errors.New("not a ticket cache: too short")
	}
	cc := new(credentials.CCache)
	if err := parseSafely(func() error { return cc.Unmarshal(b) }); err != nil {
		return nil, fmt.Errorf("not a ticket cache: %w", err)
	}
	return cc, nil
}

// parseSafely runs a parser of untrusted bytes, whose index errors on a
// truncated input panic, and returns such a panic as an error.
func parseSafely(parse func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged or truncated (%v)", r)
		}
	}()
	return parse()
}

// The environment variables of Apache Spot's ingest
// (spot-ingest/common/kerberos.py): when KRB_AUTH is set, the collector
// ran "$KINITPATH $KINITOPTS $KEYTABPATH $KRB_USER" (KINITOPTS being -kt)
// before it started.
const (
	EnvKRBAuth    = "KRB_AUTH"
	EnvKinitPath  = "KINITPATH"
	EnvKinitOpts  = "KINITOPTS"
	EnvKeytabPath = "KEYTABPATH"
	EnvKRBUser    = "KRB_USER"
)

// SpotEnv applies Apache Spot's rule to k: when the environment variable
// KRB_AUTH is set (not empty), log in as KRB_USER with the keytab
// KEYTABPATH. What k sets already wins: a Principal is kept, and a Keytab
// or a CCache is kept instead of KEYTABPATH. Without a kinit program to
// run (the login is in the process), KINITPATH and KINITOPTS are not
// needed and not used. getenv is os.Getenv, or a stand-in in tests.
//
// It returns the identity, whether KRB_AUTH is set, and an error naming
// what is missing when KRB_AUTH is set but neither the environment nor k
// gives a principal and a keytab (or a ticket cache), as Spot stopped
// then ("some environment variables are missing").
func (k Kerberos) SpotEnv(getenv func(string) string) (Kerberos, bool, error) {
	if getenv(EnvKRBAuth) == "" {
		return k, false, nil
	}
	if k.Principal == "" {
		k.Principal = getenv(EnvKRBUser)
	}
	if k.Keytab == "" && k.CCache == "" {
		k.Keytab = getenv(EnvKeytabPath)
	}
	var missing []string
	if k.Principal == "" {
		missing = append(missing, fmt.Sprintf("%s (or %s)", EnvKRBUser, k.name("Principal")))
	}
	if k.Keytab == "" && k.CCache == "" {
		missing = append(missing, fmt.Sprintf("%s (or %s)", EnvKeytabPath, k.name("Keytab")))
	}
	switch len(missing) {
	case 1:
		return k, true, fmt.Errorf("kerberos: %s is set but %s is missing: the login needs a principal and its keytab", EnvKRBAuth, missing[0])
	case 2:
		return k, true, fmt.Errorf("kerberos: %s is set but %s and %s are missing: the login needs a principal and its keytab", EnvKRBAuth, missing[0], missing[1])
	}
	return k, true, k.Validate()
}
