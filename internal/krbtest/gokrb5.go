package krbtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Config returns a gokrb5 configuration loaded from the realm's krb5.conf,
// a new one at each call, for client.NewWithKeytab(user, realm.Realm(),
// kt, realm.Config(), client.DisablePAFXFAST(true)) and the like. gokrb5
// logs in to this KDC with or without DisablePAFXFAST; Client passes it,
// as gokrb5's documentation says a client of Active Directory must.
func (r *Realm) Config() *config.Config {
	r.t.Helper()
	cfg, err := r.config()
	if err != nil {
		r.t.Fatalf("krbtest: %v", err)
	}
	return cfg
}

func (r *Realm) config() (*config.Config, error) {
	cfg, err := config.Load(r.krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("loading %s with gokrb5: %w", r.krb5Conf, err)
	}
	return cfg, nil
}

// Client logs principal ("alice", or "alice@REALM" for this realm) in to
// the KDC with gokrb5, with its key from the keytab file at path, and
// returns the client, which is destroyed when t ends. It fails t if the
// login fails.
func (r *Realm) Client(t testing.TB, principal, path string) *client.Client {
	t.Helper()
	user, realm, found := strings.Cut(principal, "@")
	if !found {
		realm = r.name
	}
	kt := LoadKeytab(t, path)
	cfg, err := r.config()
	if err != nil {
		t.Fatalf("krbtest: %v", err)
	}
	cl := client.NewWithKeytab(user, realm, kt, cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("krbtest: gokrb5 login of %s@%s with keytab %s: %v", user, realm, path, err)
	}
	t.Cleanup(cl.Destroy)
	return cl
}

// LoadKeytab reads the keytab file at path with gokrb5, for
// client.NewWithKeytab or service.NewSettings. It fails t if it cannot.
func LoadKeytab(t testing.TB, path string) *keytab.Keytab {
	t.Helper()
	kt, err := keytab.Load(path)
	if err != nil {
		t.Fatalf("krbtest: loading keytab %s: %v", path, err)
	}
	return kt
}

// probe checks that the KDC on the realm's port serves the realm's
// database: it must refuse an AS request for a principal that does not
// exist with "client not found".
func (r *Realm) probe() error {
	cfg, err := r.config()
	if err != nil {
		return err
	}
	cl := client.NewWithPassword("krbtest-no-such-principal", r.name, "x", cfg, client.DisablePAFXFAST(true))
	defer cl.Destroy()
	err = cl.Login()
	if err == nil {
		return fmt.Errorf("a principal that was never created logged in")
	}
	if !strings.Contains(err.Error(), "KDC_ERR_C_PRINCIPAL_UNKNOWN") {
		return fmt.Errorf("an AS request for an unknown principal: %w", err)
	}
	return nil
}
