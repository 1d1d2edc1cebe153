// Package krbtest runs a throwaway MIT Kerberos realm for tests: a real
// KDC (krb5kdc from Debian's krb5-kdc), its database made with kdb5_util,
// principals and keytabs made with kadmin.local, and ticket caches written
// by the real kinit. Every authenticated path in the secure-cluster tests
// gets its tickets from such a KDC, not from a fake.
//
// A test starts a realm, adds the principals it needs and exports their
// keys:
//
//	realm := krbtest.Start(t)
//	realm.AddPrincipal("kafka/127.0.0.1")        // a service, random key
//	realm.AddPrincipal("alice")                  // a client, random key
//	svcKT := realm.Keytab("", "kafka/127.0.0.1") // the service's keytab
//	userKT := realm.Keytab("", "alice")
//	cl := realm.Client(t, "alice", userKT)       // gokrb5, logged in
//	ccache := realm.Kinit(t, "alice", userKT)    // or a ticket cache from kinit
//	kt := krbtest.LoadKeytab(t, svcKT)           // for service.NewSettings(kt)
//
// Go clients use the realm's gokrb5 configuration (Config); processes a
// test starts use its environment (Env), which points KRB5_CONFIG at the
// realm's krb5.conf. No Kerberos configuration, database, ticket cache,
// keytab or replay cache outside the test's temporary directory is used:
// not /etc/krb5.conf, not /etc/krb5kdc, not the user's default ticket
// cache, not /etc/krb5.keytab; and the test binary's own environment is
// never changed (each program gets its environment through exec.Cmd). The KDC listens on 127.0.0.1 only, on a port of its own for
// both UDP and TCP, and it is stopped when the test ends; its log is
// printed when the test fails. Realms share nothing, so a test may run
// several at once, each with its own name, KDC and database.
//
// The programs come from MIT Kerberos: krb5kdc, kdb5_util and
// kadmin.local (Debian's krb5-kdc and krb5-admin-server, in /usr/sbin,
// which is searched even when it is not on PATH) and kinit and klist
// (krb5-user). The README's test command (scripts/test.sh) installs them
// when they are missing. A test whose programs are missing is skipped with
// a message saying how to install them, except under CI=true, where it
// fails: CI always runs everything. The environment variable
// KRBTEST_SBIN_DIRS, when set (even to nothing), replaces the list of
// directories searched besides PATH (/usr/sbin, /usr/local/sbin, /sbin);
// it exists so that the missing-tool path itself can be tested.
//
// What MIT allows for short tickets (checked against MIT 1.20): the KDC
// takes max_life and max_renewable_life of a few seconds in kdc.conf
// (WithTicketLifetime, WithRenewableLifetime) and enforces no minimum; a
// kinit -l of 1s is honoured too. Because max_life caps every ticket the
// KDC issues (the realm's krbtgt and each principal get it as their own
// maximum when they are created), a realm started with
// WithTicketLifetime(3*time.Second) hands out tickets that expire three
// seconds later, which is how a test gets an expired ticket or ticket
// cache without touching the clock. One principal's tickets are shortened
// with Kadmin("modprinc -maxlife 5s alice").
package krbtest
