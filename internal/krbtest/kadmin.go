package krbtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Kadmin runs one kadmin.local query against the realm's database, like
// "modprinc -maxlife 5s alice" or "cpw -randkey kafka/127.0.0.1", and
// returns its output. kadmin.local exits with status 0 even when the query
// fails; Kadmin fails the test when the query reports an error.
func (r *Realm) Kadmin(query string) string {
	r.t.Helper()
	out, err := r.kadmin("", query)
	if err != nil {
		r.t.Fatalf("krbtest: %v", err)
	}
	return out
}

// kadmin runs a kadmin.local query with stdin as its input.
func (r *Realm) kadmin(stdin, query string) (string, error) {
	stdout, stderr, err := r.run2(stdin, nil, r.tools.kadmin, "-r", r.name, "-q", query)
	if err != nil {
		return "", fmt.Errorf("kadmin.local -q %q: %w\n%s%s", query, err, stdout, stderr)
	}
	// Errors go to standard error, and so does one notice.
	var problems []string
	for _, line := range strings.Split(stderr, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "No policy specified for ") {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("kadmin.local -q %q: %s", query, strings.Join(problems, "; "))
	}
	return stdout, nil
}

// AddPrincipal creates the principal name (in this realm unless name
// says "@REALM") with a random key, as a service or a client that logs in
// from a keytab: "kafka/127.0.0.1", "nn/127.0.0.1", "alice".
func (r *Realm) AddPrincipal(name string) {
	r.t.Helper()
	if err := checkWord("principal", name); err != nil {
		r.t.Fatalf("krbtest: %v", err)
	}
	if _, err := r.kadmin("", "addprinc -randkey "+name); err != nil {
		r.t.Fatalf("krbtest: adding principal %s: %v", name, err)
	}
}

// AddUser creates the principal name with a key derived from password, a
// user who logs in with kinit or client.NewWithPassword. The password is
// given to kadmin.local on its standard input, so any characters but a
// line break may be in it.
func (r *Realm) AddUser(name, password string) {
	r.t.Helper()
	if err := checkWord("principal", name); err != nil {
		r.t.Fatalf("krbtest: %v", err)
	}
	if password == "" || strings.ContainsAny(password, "\r\n") {
		r.t.Fatalf("krbtest: AddUser(%q): want a non-empty password without a line break", name)
	}
	if _, err := r.kadmin(password+"\n"+password+"\n", "addprinc "+name); err != nil {
		r.t.Fatalf("krbtest: adding user %s: %v", name, err)
	}
}

// Keytab exports the keys of principals to the keytab file path and
// returns the path; an empty path names a new file in the realm's
// directory. The keys are exported as they are (ktadd -norandkey): a
// principal exported to several keytabs, or exported after a kinit,
// keeps its key, and every keytab stays good. Exporting to an existing
// keytab adds to it.
func (r *Realm) Keytab(path string, principals ...string) string {
	r.t.Helper()
	if len(principals) == 0 {
		r.t.Fatal("krbtest: Keytab: no principal to export")
	}
	for _, p := range principals {
		if err := checkWord("principal", p); err != nil {
			r.t.Fatalf("krbtest: %v", err)
		}
	}
	if path == "" {
		d, err := os.MkdirTemp(r.dir, "keytab-")
		if err != nil {
			r.t.Fatalf("krbtest: %v", err)
		}
		path = filepath.Join(d, "krb5.keytab")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		r.t.Fatalf("krbtest: keytab path %q: %v", path, err)
	}
	if strings.ContainsAny(abs, "\"\r\n") {
		r.t.Fatalf("krbtest: keytab path %q: want one without a double quote or a line break", abs)
	}
	query := fmt.Sprintf("ktadd -k %q -norandkey %s", abs, strings.Join(principals, " "))
	if _, err := r.kadmin("", query); err != nil {
		r.t.Fatalf("krbtest: exporting %v to %s: %v", principals, abs, err)
	}
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		r.t.Fatalf("krbtest: kadmin.local wrote no keytab %s (%v)", abs, err)
	}
	return abs
}

// Kinit logs principal in with its key from keytab using MIT's kinit and
// returns the ticket cache it wrote, a new file in a temporary directory
// of t: a process reads it with KRB5CCNAME=FILE:<path>, gokrb5 with
// credentials.LoadCCache(path). It fails t if kinit fails.
func (r *Realm) Kinit(t testing.TB, principal, keytab string) string {
	t.Helper()
	cc, err := r.kinit(t, "", "-k", "-t", keytab, principal)
	if err != nil {
		t.Fatalf("krbtest: %v", err)
	}
	return cc
}

// KinitPassword logs principal in with password using MIT's kinit, which
// reads it on its standard input, and returns the ticket cache it wrote,
// as Kinit does. It fails t if kinit fails.
func (r *Realm) KinitPassword(t testing.TB, principal, password string) string {
	t.Helper()
	cc, err := r.kinitPassword(t, principal, password)
	if err != nil {
		t.Fatalf("krbtest: %v", err)
	}
	return cc
}

func (r *Realm) kinitPassword(t testing.TB, principal, password string) (string, error) {
	if strings.ContainsAny(password, "\r\n") {
		return "", errors.New("kinit: a password with a line break cannot be typed")
	}
	return r.kinit(t, password+"\n", principal)
}

// kinit runs kinit with args, writing a new ticket cache, and returns
// the cache's path; an error carries kinit's message.
func (r *Realm) kinit(t testing.TB, stdin string, args ...string) (string, error) {
	cc := filepath.Join(t.TempDir(), "krb5.ccache")
	args = append([]string{"-c", "FILE:" + cc}, args...)
	out, err := r.run(stdin, r.tools.kinit, args...)
	if err != nil {
		// Drop the password prompt before kinit's message.
		if i := strings.Index(out, "kinit: "); i >= 0 {
			out = out[i:]
		}
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(out))
	}
	return cc, nil
}

// Klist reports whether the ticket cache at path holds a ticket that has
// not expired, as `klist -s` tells.
func (r *Realm) Klist(path string) bool {
	r.t.Helper()
	_, err := r.run("", r.tools.klist, "-s", "FILE:"+path)
	return err == nil
}

// checkWord checks that s can be one word of a kadmin.local query.
func checkWord(what, s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"'\\") {
		return fmt.Errorf("%s %q: want a non-empty name without spaces, quotes or backslashes", what, s)
	}
	return nil
}
