package krbtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/types"
)

const kafkaSPN = "kafka/127.0.0.1"

// apReq builds the AP-REQ a client sends to the service spn with a
// service ticket from the KDC, and returns it as the service receives it:
// marshalled and parsed again.
func apReq(t *testing.T, cl *client.Client, spn string) *messages.APReq {
	t.Helper()
	tkt, key, err := cl.GetServiceTicket(spn)
	if err != nil {
		t.Fatalf("service ticket for %s: %v", spn, err)
	}
	auth, err := types.NewAuthenticator(cl.Credentials.Domain(), cl.Credentials.CName())
	if err != nil {
		t.Fatal(err)
	}
	req, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		t.Fatalf("AP-REQ: %v", err)
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatalf("marshalling the AP-REQ: %v", err)
	}
	var got messages.APReq
	if err := got.Unmarshal(b); err != nil {
		t.Fatalf("unmarshalling the AP-REQ: %v", err)
	}
	return &got
}

// verify checks the AP-REQ as the service does, with its keytab.
func verify(req *messages.APReq, kt *keytab.Keytab, settings ...func(*service.Settings)) (*credentials.Credentials, error) {
	ok, creds, err := service.VerifyAPREQ(req, service.NewSettings(kt, settings...))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("AP-REQ not valid, and no error")
	}
	return creds, nil
}

// wantErr checks that err is an error whose text has every one of want.
func wantErr(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one with %q", what, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: error %q, want it to say %q", what, err, w)
		}
	}
	t.Logf("%s: %v", what, err)
}

func TestKinitPasswordThenKlist(t *testing.T) {
	t.Parallel()
	realm := Start(t)
	realm.AddUser("alice", `pass word with "quotes"`)
	cc := realm.KinitPassword(t, "alice", `pass word with "quotes"`)
	if !realm.Klist(cc) {
		t.Fatalf("klist -s %s: no valid ticket after kinit", cc)
	}
	if realm.Klist(filepath.Join(t.TempDir(), "none")) {
		t.Fatal("klist -s of a missing cache succeeded")
	}
	// The ticket came from this realm's KDC, which logged issuing it.
	if log := realm.Log(); !strings.Contains(log, "ISSUE") || !strings.Contains(log, "alice@"+DefaultRealm+" for krbtgt/"+DefaultRealm) {
		t.Fatalf("the KDC log has no AS exchange for alice:\n%s", log)
	}
	if v := os.Getenv("KRB5_CONFIG"); v == realm.Krb5Conf() {
		t.Fatal("Start changed the test binary's KRB5_CONFIG")
	}
}

func TestKeytabLoginServiceTicketVerified(t *testing.T) {
	t.Parallel()
	realm := Start(t)
	realm.AddPrincipal(kafkaSPN)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("alice")
	svcKT := realm.Keytab("", kafkaSPN)
	nnKT := realm.Keytab(filepath.Join(t.TempDir(), "nn.keytab"), "nn/127.0.0.1")
	userKT := realm.Keytab("", "alice")

	cl := realm.Client(t, "alice", userKT)
	creds, err := verify(apReq(t, cl, kafkaSPN), LoadKeytab(t, svcKT))
	if err != nil {
		t.Fatalf("the service rejects a ticket from the KDC: %v", err)
	}
	if creds.UserName() != "alice" || creds.Domain() != realm.Realm() {
		t.Fatalf("the service sees %s@%s, want alice@%s", creds.UserName(), creds.Domain(), realm.Realm())
	}

	// Another service's key cannot read the ticket.
	_, err = verify(apReq(t, cl, kafkaSPN), LoadKeytab(t, nnKT))
	wantErr(t, "kafka's ticket checked with nn's keytab", err, "KRB_AP_ERR_NOKEY")

	// Exporting the service again (keys unchanged) keeps the first
	// keytab good, and the second verifies too.
	svcKT2 := realm.Keytab("", kafkaSPN)
	for _, kt := range []string{svcKT, svcKT2} {
		if _, err := verify(apReq(t, cl, kafkaSPN), LoadKeytab(t, kt)); err != nil {
			t.Fatalf("after a second export, keytab %s: %v", kt, err)
		}
	}
	// So does a kinit from the client's keytab, and a gokrb5 login from
	// a keytab with both client and service keys in it.
	if cc := realm.Kinit(t, "alice", userKT); !realm.Klist(cc) {
		t.Fatal("klist -s: no valid ticket after kinit -k")
	}
	both := realm.Keytab("", "alice", kafkaSPN)
	realm.Client(t, "alice@"+realm.Realm(), both)
	if _, err := verify(apReq(t, cl, kafkaSPN), LoadKeytab(t, both)); err != nil {
		t.Fatalf("keytab with alice and kafka: %v", err)
	}
}

// gokrb5 logs in to the KDC with its default settings too, not only with
// the DisablePAFXFAST(true) that Client passes.
func TestGokrb5DefaultSettings(t *testing.T) {
	t.Parallel()
	realm := Start(t)
	realm.AddPrincipal("alice")
	kt := LoadKeytab(t, realm.Keytab("", "alice"))
	cl := client.NewWithKeytab("alice", realm.Realm(), kt, realm.Config())
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		t.Fatalf("gokrb5 login with default settings: %v", err)
	}
}

// With PACs on (MIT 1.20's default), gokrb5's service side rejects the
// ticket unless told not to decode the PAC: why Start turns them off.
func TestPAC(t *testing.T) {
	t.Parallel()
	realm := Start(t, WithPAC())
	realm.AddPrincipal(kafkaSPN)
	realm.AddPrincipal("alice")
	svc := LoadKeytab(t, realm.Keytab("", kafkaSPN))
	cl := realm.Client(t, "alice", realm.Keytab("", "alice"))
	_, err := verify(apReq(t, cl, kafkaSPN), svc)
	wantErr(t, "a ticket with an MIT PAC, default service settings", err, "KerbValidationInfo")
	if _, err := verify(apReq(t, cl, kafkaSPN), svc, service.DecodePAC(false)); err != nil {
		t.Fatalf("a ticket with an MIT PAC, DecodePAC(false): %v", err)
	}
}

func TestWrongPasswordAndForeignKeytab(t *testing.T) {
	t.Parallel()
	realm := Start(t)
	realm.AddUser("alice", "right password")
	other := Start(t, WithRealm("OTHER.TEST"))
	other.AddPrincipal("alice")
	otherKT := other.Keytab("", "alice")
	// A realm of the same name on another KDC: the same principal, a
	// different key.
	twin := Start(t)
	twin.AddPrincipal("alice")
	twinKT := twin.Keytab("", "alice")

	_, err := realm.kinitPassword(t, "alice", "wrong password")
	wantErr(t, "kinit, wrong password", err, "kinit: Password incorrect")
	cl := client.NewWithPassword("alice", realm.Realm(), "wrong password", realm.Config(), client.DisablePAFXFAST(true))
	wantErr(t, "gokrb5, wrong password", cl.Login(), "KDC_ERR_PREAUTH_FAILED")
	_, err = realm.kinitPassword(t, "nobody", "x")
	wantErr(t, "kinit, unknown principal", err, "not found in Kerberos database")

	_, err = realm.kinit(t, "", "-k", "-t", otherKT, "alice")
	wantErr(t, "kinit, keytab of OTHER.TEST", err, "no suitable keys for alice@"+DefaultRealm)
	cl = client.NewWithKeytab("alice", realm.Realm(), LoadKeytab(t, otherKT), realm.Config(), client.DisablePAFXFAST(true))
	wantErr(t, "gokrb5, keytab of OTHER.TEST", cl.Login(), "matching key not found in keytab", "realm: "+DefaultRealm)

	_, err = realm.kinit(t, "", "-k", "-t", twinKT, "alice")
	wantErr(t, "kinit, keytab of the twin realm", err, "Preauthentication failed")
	cl = client.NewWithKeytab("alice", realm.Realm(), LoadKeytab(t, twinKT), realm.Config(), client.DisablePAFXFAST(true))
	wantErr(t, "gokrb5, keytab of the twin realm", cl.Login(), "KDC_ERR_PREAUTH_FAILED")

	// The keytab of OTHER.TEST is good in its own realm.
	other.Client(t, "alice", otherKT)
}

func TestKinitCCacheLoadsInGokrb5(t *testing.T) {
	t.Parallel()
	realm := Start(t)
	realm.AddPrincipal(kafkaSPN)
	realm.AddUser("bob", "bob's password")
	realm.AddPrincipal("carol")
	svc := LoadKeytab(t, realm.Keytab("", kafkaSPN))
	carolKT := realm.Keytab("", "carol")

	for _, c := range []struct{ user, cc string }{
		{"bob", realm.KinitPassword(t, "bob", "bob's password")},
		{"carol", realm.Kinit(t, "carol", carolKT)},
	} {
		ccache, err := credentials.LoadCCache(c.cc)
		if err != nil {
			t.Fatalf("loading %s's cache written by kinit: %v", c.user, err)
		}
		if got := ccache.GetClientPrincipalName().PrincipalNameString(); got != c.user || ccache.GetClientRealm() != realm.Realm() {
			t.Fatalf("cache of %s holds %s@%s", c.user, got, ccache.GetClientRealm())
		}
		cl, err := client.NewFromCCache(ccache, realm.Config(), client.DisablePAFXFAST(true))
		if err != nil {
			t.Fatalf("gokrb5 client from %s's cache: %v", c.user, err)
		}
		// The TGT from the cache gets a service ticket the service takes.
		creds, err := verify(apReq(t, cl, kafkaSPN), svc)
		if err != nil {
			t.Fatalf("%s's service ticket from the cache's TGT: %v", c.user, err)
		}
		if creds.UserName() != c.user {
			t.Fatalf("the service sees %s, want %s", creds.UserName(), c.user)
		}
		cl.Destroy()
	}
}

func TestShortTicketLifetime(t *testing.T) {
	t.Parallel()
	const life = 3 * time.Second
	realm := Start(t, WithTicketLifetime(life), WithRenewableLifetime(10*time.Second))
	realm.AddUser("dave", "dave's password")
	cc := realm.KinitPassword(t, "dave", "dave's password")
	ccache, err := credentials.LoadCCache(cc)
	if err != nil {
		t.Fatal(err)
	}
	var end time.Time
	for _, e := range ccache.GetEntries() {
		if got := e.EndTime.Sub(e.StartTime); got > life {
			t.Fatalf("ticket for %s lives %v, want at most %v", e.Server.PrincipalName.PrincipalNameString(), got, life)
		}
		end = e.EndTime
	}
	if !realm.Klist(cc) {
		t.Fatal("klist -s: no valid ticket right after kinit")
	}
	time.Sleep(time.Until(end) + time.Second)
	if realm.Klist(cc) {
		t.Fatalf("klist -s: the ticket is still valid after it expired at %v", end)
	}
}

func TestTwoRealmsAtOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	addrs := map[string]string{} // realm's KDC address -> subtest
	t.Run("group", func(t *testing.T) {
		for i := range 2 {
			name := fmt.Sprintf("realm%d", i)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				realm := Start(t) // both named MICROBATCH.TEST
				mu.Lock()
				addrs[realm.KDCAddr()] = name
				mu.Unlock()
				realm.AddUser("erin", "password of "+name)
				realm.AddPrincipal(kafkaSPN)
				svc := LoadKeytab(t, realm.Keytab("", kafkaSPN))
				for j := range 2 {
					pw := fmt.Sprintf("password of realm%d", j)
					cc, err := realm.kinitPassword(t, "erin", pw)
					if j != i {
						wantErr(t, "the other realm's password", err, "Password incorrect")
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					ccache, err := credentials.LoadCCache(cc)
					if err != nil {
						t.Fatal(err)
					}
					cl, err := client.NewFromCCache(ccache, realm.Config(), client.DisablePAFXFAST(true))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := verify(apReq(t, cl, kafkaSPN), svc); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	})
	switch {
	case t.Failed():
	case len(addrs) == 0:
		t.Skip("both realms were skipped")
	case len(addrs) != 2:
		t.Fatalf("two realms, KDC addresses %v: want two different ones", addrs)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	realm := Start(t)
	realm.AddPrincipal(kafkaSPN)
	realm.AddUser("frank", "frank's password")
	cc := realm.KinitPassword(t, "frank", "frank's password")
	realm.Stop()
	realm.Stop()
	_, err := realm.kinitPassword(t, "frank", "frank's password")
	wantErr(t, "kinit with the KDC stopped", err, "Cannot contact any KDC")
	// A cached TGT is good without the KDC, but getting a service ticket
	// with it needs the KDC.
	if !realm.Klist(cc) {
		t.Fatal("klist -s: the cached ticket is gone after the KDC stopped")
	}
	ccache, err := credentials.LoadCCache(cc)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.NewFromCCache(ccache, realm.Config(), client.DisablePAFXFAST(true))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = cl.GetServiceTicket(kafkaSPN)
	wantErr(t, "service ticket with the KDC stopped", err, realm.KDCAddr())
}

// recorder is a testing.TB that records Skipf and Fatalf instead of
// ending the test, to check the missing-tool rule.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestMissingTools checks the rule for a machine without MIT Kerberos:
// skip, but fail under CI=true. Not parallel: it changes PATH, CI and
// KRBTEST_SBIN_DIRS for its duration.
func TestMissingTools(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	t.Setenv("KRBTEST_SBIN_DIRS", empty)
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		rec := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			findTools(rec)
		}()
		<-done
		got := rec.skipped
		if ci == "true" {
			got = rec.failed
		}
		if !strings.Contains(got, "krb5kdc is not installed") || !strings.Contains(got, "krb5-kdc krb5-admin-server krb5-user") {
			t.Fatalf("CI=%q: skipped %q, failed %q; want the %s to name krb5kdc and the packages", ci, rec.skipped, rec.failed,
				map[bool]string{true: "failure", false: "skip"}[ci == "true"])
		}
		if (ci == "true") == (rec.skipped != "") {
			t.Fatalf("CI=%q: skipped %q, failed %q", ci, rec.skipped, rec.failed)
		}
	}
}
