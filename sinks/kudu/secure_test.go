package kudusink_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
)

// secureCluster starts a realm and a cluster that requires TLS and
// Kerberos, and returns a gokrb5 client of alice made from her keytab, as
// an application makes it (not logged in yet).
func secureCluster(t *testing.T) (*krbtest.Realm, *kudutest.Cluster, *client.Client) {
	t.Helper()
	realm := krbtest.Start(t)
	realm.AddPrincipal("kudu/127.0.0.1")
	realm.AddPrincipal("alice")
	c := kudutest.New(t, kudutest.WithTabletServers(3), kudutest.WithRequireTLS(),
		kudutest.WithKerberos(realm.Keytab("", "kudu/127.0.0.1"), "kudu/127.0.0.1"))
	kt := krbtest.LoadKeytab(t, realm.Keytab("", "alice"))
	cl := client.NewWithKeytab("alice", realm.Realm(), kt, realm.Config(), client.DisablePAFXFAST(true))
	t.Cleanup(cl.Destroy)
	return realm, c, cl
}

func TestSinkOverTLSAndKerberos(t *testing.T) {
	realm, c, alice := secureCluster(t)
	j := newJob(t, c.MasterAddrs(), "events",
		kudusink.CreateIfMissing(kudusink.Hash(4, "source")),
		kudusink.TLS(&tls.Config{RootCAs: c.CACertPool()}),
		kudusink.Kerberos(alice))
	b1, b2 := events(0, 300), events(300, 200)
	for _, b := range [][]Event{b1, b2, b2} { // b2 twice: a replay
		if err := j.batch(b); err != nil {
			t.Fatal(err)
		}
	}
	checkStored(t, c, "events", append(b1, b2...))
	negs := c.Negotiations()
	if len(negs) < 2 {
		t.Fatalf("%d connections", len(negs))
	}
	for _, n := range negs {
		if !n.TLS || n.AuthOnly || n.Mechanism != "GSSAPI" || n.User != "alice@"+realm.Realm() || !n.ChannelBindings {
			t.Errorf("connection to %s negotiated %+v, want TLS and GSSAPI as alice", n.Server, n)
		}
	}
}

// The start-up check fails at once, with one line naming the masters and
// the cause, when the sink's security does not fit the cluster's.
func TestSinkSecurityStartCheck(t *testing.T) {
	realm, c, alice := secureCluster(t)
	trusted := &tls.Config{RootCAs: c.CACertPool()}
	realm.AddPrincipal("bob")
	bobKT := realm.Keytab("", "bob")
	realm.Kadmin("cpw -randkey bob")
	bob := client.NewWithKeytab("bob", realm.Realm(), krbtest.LoadKeytab(t, bobKT), realm.Config(), client.DisablePAFXFAST(true))
	t.Cleanup(bob.Destroy)
	masters := c.MasterAddrs()
	for _, tc := range []struct {
		name string
		opts []kudusink.Option
		want string
	}{
		{"no credentials", []kudusink.Option{kudusink.TLS(trusted)},
			"requires Kerberos authentication (SASL GSSAPI), and this client has no Kerberos credentials"},
		{"no TLS", []kudusink.Option{kudusink.Kerberos(alice)}, "requires TLS"},
		{"untrusted certificate", []kudusink.Option{kudusink.TLS(&tls.Config{RootCAs: x509.NewCertPool()}), kudusink.Kerberos(alice)},
			"certificate is not trusted"},
		{"outdated keytab", []kudusink.Option{kudusink.TLS(trusted), kudusink.Kerberos(bob)},
			"the KDC refused the key of bob@" + realm.Realm()},
		{"unknown service", []kudusink.Option{kudusink.TLS(trusted), kudusink.Kerberos(alice), kudusink.KerberosService("nokudu")},
			"does not know the service principal nokudu/127.0.0.1@" + realm.Realm()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := dstream.NewManualClock(time.UnixMilli(0))
			ssc, err := dstream.NewContext(time.Second, dstream.WithClock(clk), dstream.WithLogger(quiet),
				dstream.WithStartTimeout(20*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
			if err := kudusink.Write(dstream.QueueStream(ssc, dstream.NewQueue[Event]()), masters, "events",
				append(tc.opts, kudusink.CreateIfMissing(kudusink.Hash(2, "source")))...); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			err = ssc.Start()
			took := time.Since(began)
			var se *dstream.StartError
			if !errors.As(err, &se) {
				t.Fatalf("Start = %v, want a *StartError", err)
			}
			msg := err.Error()
			t.Logf("Start: %s", msg)
			if !strings.Contains(msg, "kudu masters "+masters[0]+": ") || !strings.Contains(msg, "master "+masters[0]) ||
				!strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("Start = %q; want one line naming the masters and %q", msg, tc.want)
			}
			if took > 5*time.Second {
				t.Errorf("Start took %v", took)
			}
		})
	}
}

func TestSinkSecurityOptions(t *testing.T) {
	if _, err := kudusink.New([]string{"m"}, "t", kudusink.StructTags[Event](), kudusink.Kerberos(nil)); !errors.Is(err, dstream.ErrInvalidOption) {
		t.Errorf("Kerberos(nil): %v", err)
	}
	for _, bad := range []string{"", "kudu/x", "a@b"} {
		if _, err := kudusink.New([]string{"m"}, "t", kudusink.StructTags[Event](), kudusink.KerberosService(bad)); !errors.Is(err, dstream.ErrInvalidOption) {
			t.Errorf("KerberosService(%q): %v", bad, err)
		}
	}
	if _, err := kudusink.New([]string{"m"}, "t", kudusink.StructTags[Event](), kudusink.TLS(nil)); err != nil {
		t.Errorf("TLS(nil): %v", err)
	}
}
