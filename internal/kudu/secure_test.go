package kudu_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/credentials"

	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/internal/kudu"
	"github.com/microbatch-go/microbatch/internal/kudutest"
)

// These tests run the client's TLS and Kerberos negotiation against the
// test server's, with a real MIT KDC (internal/krbtest) issuing the
// tickets and the service keytab.

const kuduPrincipal = "kudu/127.0.0.1"

// kerberizedCluster starts a realm with the service principal and alice,
// and a cluster that requires TLS and Kerberos with the service's keytab.
func kerberizedCluster(t *testing.T, opts ...kudutest.Option) (*krbtest.Realm, *kudutest.Cluster, string) {
	t.Helper()
	realm := krbtest.Start(t)
	realm.AddPrincipal(kuduPrincipal)
	realm.AddPrincipal("alice")
	svcKT := realm.Keytab("", kuduPrincipal)
	c := kudutest.New(t, append([]kudutest.Option{
		kudutest.WithRequireTLS(), kudutest.WithKerberos(svcKT, kuduPrincipal),
	}, opts...)...)
	return realm, c, realm.Keytab("", "alice")
}

// keytabClient is the gokrb5 client an application makes from a keytab:
// not logged in yet (the Kudu client logs it in when it needs a ticket).
func keytabClient(t *testing.T, realm *krbtest.Realm, principal, keytab string) *client.Client {
	t.Helper()
	cl := client.NewWithKeytab(principal, realm.Realm(), krbtest.LoadKeytab(t, keytab), realm.Config(), client.DisablePAFXFAST(true))
	t.Cleanup(cl.Destroy)
	return cl
}

func tlsTo(c *kudutest.Cluster) *tls.Config {
	return &tls.Config{RootCAs: c.CACertPool(), MinVersion: tls.VersionTLS12}
}

// writeAndCheck creates a table, upserts rows twice (a replay) and checks
// that the cluster holds each row once.
func writeAndCheck(t *testing.T, c *kudutest.Cluster, cl *kudu.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema, err := kudu.NewSchema([]kudu.Column{
		{Name: "id", Type: kudu.TypeInt64, Key: true},
		{Name: "name", Type: kudu.TypeString, Nullable: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cl.CreateTable(ctx, "secure", schema, kudu.PartitionSchema{
		Hash: []kudu.HashSchema{{Columns: []string{"id"}, NumBuckets: 4}},
	}, &kudu.CreateTableOptions{NumReplicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var ops []*kudu.Operation
		for i := range 100 {
			op := tbl.NewUpsert()
			must(t, op.Set("id", int64(i)))
			must(t, op.Set("name", fmt.Sprintf("n%d", i)))
			ops = append(ops, op)
		}
		rowErrs, err := cl.Apply(ctx, tbl, ops)
		if err != nil {
			t.Fatal(err)
		}
		if len(rowErrs) > 0 {
			t.Fatalf("row errors: %v", rowErrs)
		}
	}
	rows := c.Rows("secure")
	if len(rows) != 100 {
		t.Fatalf("%d rows, want 100", len(rows))
	}
	for i, r := range rows {
		if r["id"] != int64(i) || r["name"] != fmt.Sprintf("n%d", i) {
			t.Fatalf("row %d = %v", i, r)
		}
	}
}

func TestTLSAndKerberosEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxTLS   uint16
		authOnly bool
	}{
		{"TLS 1.3", tls.VersionTLS13, false},
		{"TLS 1.2", tls.VersionTLS12, false},
		{"TLS for authentication only", tls.VersionTLS13, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []kudutest.Option
			if tc.authOnly {
				extra = append(extra, kudutest.WithLoopbackTLSAuthOnly())
			}
			realm, c, aliceKT := kerberizedCluster(t, extra...)
			cfg := tlsTo(c)
			cfg.MaxVersion = tc.maxTLS
			opts := []kudu.Option{kudu.WithTLS(cfg), kudu.WithKerberos(keytabClient(t, realm, "alice", aliceKT))}
			if tc.authOnly {
				opts = append(opts, kudu.WithTLSAuthenticationOnlyOnLoopback())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cl, err := kudu.Open(ctx, c.MasterAddrs(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			writeAndCheck(t, c, cl)

			negs := c.Negotiations()
			if len(negs) < 4 { // the master and the three tablet servers
				t.Fatalf("%d connections negotiated, want at least 4: %+v", len(negs), negs)
			}
			want := "alice@" + realm.Realm()
			for _, n := range negs {
				if !n.TLS || n.TLSVersion != tc.maxTLS || n.AuthOnly != tc.authOnly || n.Mechanism != "GSSAPI" ||
					n.User != want || !n.ChannelBindings || !n.Nonce {
					t.Errorf("connection to %s negotiated %+v; want TLS %x (auth only %v), GSSAPI as %s, channel bindings and nonce",
						n.Server, n, tc.maxTLS, tc.authOnly, want)
				}
			}
		})
	}
}

// A client logged in from a ticket cache that kinit wrote.
func TestKerberosFromTicketCache(t *testing.T) {
	realm, c, aliceKT := kerberizedCluster(t)
	cc, err := credentials.LoadCCache(realm.Kinit(t, "alice", aliceKT))
	if err != nil {
		t.Fatal(err)
	}
	krb, err := client.NewFromCCache(cc, realm.Config(), client.DisablePAFXFAST(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kudu.Open(ctx, c.MasterAddrs(), kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(krb))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	writeAndCheck(t, c, cl)
}

// Kerberos without TLS: the nonce, no channel bindings.
func TestKerberosWithoutTLS(t *testing.T) {
	realm := krbtest.Start(t)
	realm.AddPrincipal(kuduPrincipal)
	realm.AddPrincipal("alice")
	c := kudutest.New(t, kudutest.WithKerberos(realm.Keytab("", kuduPrincipal), kuduPrincipal))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kudu.Open(ctx, c.MasterAddrs(), kudu.WithKerberos(realm.Client(t, "alice", realm.Keytab("", "alice"))))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	writeAndCheck(t, c, cl)
	for _, n := range c.Negotiations() {
		if n.TLS || n.Mechanism != "GSSAPI" || n.ChannelBindings || !n.Nonce {
			t.Errorf("negotiated %+v", n)
		}
	}
}

// TLS with SASL PLAIN, and a client that prefers TLS against a cluster
// without it.
func TestTLSWithPlain(t *testing.T) {
	c := kudutest.New(t, kudutest.WithRequireTLS(), kudutest.WithSASLCredentials("bob", "pw"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kudu.Open(ctx, c.MasterAddrs(), kudu.WithTLS(tlsTo(c)), kudu.WithUser("bob"), kudu.WithPassword("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	writeAndCheck(t, c, cl)
	for _, n := range c.Negotiations() {
		if !n.TLS || n.AuthOnly || n.Mechanism != "PLAIN" || n.User != "bob" {
			t.Errorf("negotiated %+v", n)
		}
	}

	plain := kudutest.New(t)
	cl2, err := kudu.Open(ctx, plain.MasterAddrs(), kudu.WithTLSOptional(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if n := plain.Negotiations(); len(n) != 1 || n[0].TLS {
		t.Errorf("negotiated %+v, want one plaintext connection", n)
	}
}

// checkRefusal checks the one-line error of Open against a refusing
// cluster: its kind, that it names the master and says why, and that it
// came at once, without retries.
func checkRefusal(t *testing.T, masters []string, kind error, why string, opts ...kudu.Option) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	cl, err := kudu.Open(ctx, masters, opts...)
	took := time.Since(start)
	if err == nil {
		cl.Close()
		t.Fatal("Open succeeded")
	}
	t.Logf("error: %v", err)
	msg := err.Error()
	if !errors.Is(err, kind) {
		t.Errorf("error does not wrap %v", kind)
	}
	if !strings.Contains(msg, "master "+masters[0]) || !strings.Contains(msg, why) {
		t.Errorf("error does not name master %s and %q", masters[0], why)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error of more than one line")
	}
	if took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestSecurityRefusals(t *testing.T) {
	realm, c, aliceKT := kerberizedCluster(t)
	masters := c.MasterAddrs()
	alice := func(t *testing.T) *client.Client { return keytabClient(t, realm, "alice", aliceKT) }

	t.Run("no credentials", func(t *testing.T) {
		checkRefusal(t, masters, kudu.ErrUnsupportedSecurity,
			"requires Kerberos authentication (SASL GSSAPI), and this client has no Kerberos credentials",
			kudu.WithTLS(tlsTo(c)))
	})
	t.Run("no TLS", func(t *testing.T) {
		checkRefusal(t, masters, kudu.ErrUnsupportedSecurity, "requires TLS",
			kudu.WithKerberos(alice(t)))
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		checkRefusal(t, masters, kudu.ErrAuthentication, "certificate is not trusted",
			kudu.WithTLS(&tls.Config{RootCAs: x509.NewCertPool()}), kudu.WithKerberos(alice(t)))
	})
	t.Run("certificate for another name", func(t *testing.T) {
		checkRefusal(t, masters, kudu.ErrAuthentication, "certificate is not trusted",
			kudu.WithTLS(&tls.Config{RootCAs: c.CACertPool(), ServerName: "kudu.example.com"}), kudu.WithKerberos(alice(t)))
	})
	t.Run("client keytab outdated", func(t *testing.T) {
		realm.AddPrincipal("bob")
		bobKT := realm.Keytab("", "bob")
		realm.Kadmin("cpw -randkey bob") // a new key: the keytab's is stale
		checkRefusal(t, masters, kudu.ErrAuthentication, "the KDC refused the key of bob@"+realm.Realm(),
			kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(keytabClient(t, realm, "bob", bobKT)))
	})
	t.Run("client keytab of another principal", func(t *testing.T) {
		realm.AddPrincipal("carol")
		checkRefusal(t, masters, kudu.ErrAuthentication, "the keytab has no key of carol@"+realm.Realm(),
			kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(keytabClient(t, realm, "carol", aliceKT)))
	})
	t.Run("unknown service principal", func(t *testing.T) {
		checkRefusal(t, masters, kudu.ErrAuthentication, "does not know the service principal impala/127.0.0.1@"+realm.Realm(),
			kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(alice(t)), kudu.WithKerberosService("impala"))
	})
	t.Run("Kerberos client, server without Kerberos", func(t *testing.T) {
		plain := kudutest.New(t, kudutest.WithTLS())
		checkRefusal(t, plain.MasterAddrs(), kudu.ErrUnsupportedSecurity, "does not offer Kerberos authentication",
			kudu.WithTLS(tlsTo(plain)), kudu.WithKerberos(alice(t)))
	})
	t.Run("TLS client, server without TLS", func(t *testing.T) {
		plain := kudutest.New(t)
		checkRefusal(t, plain.MasterAddrs(), kudu.ErrUnsupportedSecurity, "does not offer TLS", kudu.WithTLS(nil))
	})
	t.Run("channel bindings do not match", func(t *testing.T) {
		bad := kudutest.New(t, kudutest.WithRequireTLS(), kudutest.WithBadChannelBindings(),
			kudutest.WithKerberos(realm.Keytab("", kuduPrincipal), kuduPrincipal))
		checkRefusal(t, bad.MasterAddrs(), kudu.ErrAuthentication, "channel bindings that do not match",
			kudu.WithTLS(tlsTo(bad)), kudu.WithKerberos(alice(t)))
	})
}

// The service's keytab is wrong: the server cannot open the ticket.
func TestServiceKeytabRefusals(t *testing.T) {
	realm := krbtest.Start(t)
	realm.AddPrincipal(kuduPrincipal)
	realm.AddPrincipal("other/127.0.0.1")
	realm.AddPrincipal("alice")
	aliceKT := realm.Keytab("", "alice")
	stale := realm.Keytab("", kuduPrincipal)
	realm.Kadmin("cpw -randkey " + kuduPrincipal) // a new kvno: the keytab is stale
	for _, tc := range []struct{ name, keytab string }{
		{"stale kvno", stale},
		{"keytab of another principal", realm.Keytab("", "other/127.0.0.1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kudutest.New(t, kudutest.WithRequireTLS(), kudutest.WithKerberos(tc.keytab, kuduPrincipal))
			checkRefusal(t, c.MasterAddrs(), kudu.ErrAuthentication, "refused Kerberos authentication of alice@"+realm.Realm(),
				kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(keytabClient(t, realm, "alice", aliceKT)))
		})
	}
}

func TestExpiredTicket(t *testing.T) {
	const life = 2 * time.Second
	realm := krbtest.Start(t, krbtest.WithTicketLifetime(life), krbtest.WithRenewableLifetime(life))
	realm.AddPrincipal(kuduPrincipal)
	realm.AddPrincipal("alice")
	c := kudutest.New(t, kudutest.WithRequireTLS(), kudutest.WithKerberos(realm.Keytab("", kuduPrincipal), kuduPrincipal))
	cc, err := credentials.LoadCCache(realm.Kinit(t, "alice", realm.Keytab("", "alice")))
	if err != nil {
		t.Fatal(err)
	}
	krb, err := client.NewFromCCache(cc, realm.Config(), client.DisablePAFXFAST(true))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(life + time.Second)
	checkRefusal(t, c.MasterAddrs(), kudu.ErrAuthentication, "Kerberos tickets of alice@"+realm.Realm()+" have expired",
		kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(krb))
}

func TestWrongRealm(t *testing.T) {
	// The cluster is in realm SERVICE.TEST; the client logs in to
	// CLIENT.TEST, whose KDC does not know kudu/127.0.0.1.
	svc := krbtest.Start(t, krbtest.WithRealm("SERVICE.TEST"))
	svc.AddPrincipal(kuduPrincipal)
	c := kudutest.New(t, kudutest.WithRequireTLS(), kudutest.WithKerberos(svc.Keytab("", kuduPrincipal), kuduPrincipal+"@SERVICE.TEST"))
	cli := krbtest.Start(t, krbtest.WithRealm("CLIENT.TEST"))
	cli.AddPrincipal("alice")
	aliceKT := cli.Keytab("", "alice")
	checkRefusal(t, c.MasterAddrs(), kudu.ErrAuthentication, "the KDC of realm CLIENT.TEST does not know the service principal kudu/127.0.0.1@CLIENT.TEST",
		kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(keytabClient(t, cli, "alice", aliceKT)))

	// CLIENT.TEST has a kudu/127.0.0.1 of its own: the server refuses its
	// ticket.
	cli.AddPrincipal(kuduPrincipal)
	checkRefusal(t, c.MasterAddrs(), kudu.ErrAuthentication, "not for this server's principal kudu/127.0.0.1",
		kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(keytabClient(t, cli, "alice", aliceKT)))
}

// KUDU-1875: from an address outside --trusted_subnets, plaintext and
// unauthenticated connections are refused even by an unsecured cluster;
// TLS with Kerberos gets through.
func TestTrustedSubnets(t *testing.T) {
	untrusted := kudutest.WithTrustedSubnets("10.0.0.0/8")
	plain := kudutest.New(t, untrusted)
	checkRefusal(t, plain.MasterAddrs(), kudu.ErrUnsupportedSecurity, "not in its --trusted_subnets")

	withTLS := kudutest.New(t, untrusted, kudutest.WithTLS())
	checkRefusal(t, withTLS.MasterAddrs(), kudu.ErrUnsupportedSecurity, "not in its --trusted_subnets",
		kudu.WithTLS(tlsTo(withTLS))) // TLS, but SASL PLAIN: unauthenticated

	realm, c, aliceKT := kerberizedCluster(t, untrusted)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kudu.Open(ctx, c.MasterAddrs(), kudu.WithTLS(tlsTo(c)), kudu.WithKerberos(keytabClient(t, realm, "alice", aliceKT)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	writeAndCheck(t, c, cl)
}
