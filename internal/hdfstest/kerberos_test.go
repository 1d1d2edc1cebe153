package hdfstest

import (
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/colinmarc/hdfs/v2"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/microbatch-go/microbatch/internal/krbtest"
)

// kerberized starts a realm with the NameNode's principal, alice and bob,
// and a Kerberized cluster; it returns the realm, the cluster and alice's
// keytab.
func kerberized(t *testing.T) (*krbtest.Realm, *Cluster, string) {
	t.Helper()
	realm := krbtest.Start(t)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("alice")
	realm.AddPrincipal("bob")
	nnKT := realm.Keytab("", "nn/127.0.0.1")
	aliceKT := realm.Keytab("", "alice")
	c := New(t, WithKerberos(nnKT, "nn/127.0.0.1@"+realm.Realm()))
	for _, u := range []string{"alice", "bob"} {
		if _, err := c.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	return realm, c, aliceKT
}

// krbClient connects colinmarc's client with a gokrb5 client.
func krbClient(t *testing.T, c *Cluster, cl *client.Client) *hdfs.Client {
	t.Helper()
	hc, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()},
		KerberosClient: cl, KerberosServicePrincipleName: "nn/_HOST"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hc.Close() })
	return hc
}

// roundTrip writes and reads a file as alice, checks that it belongs to
// alice (the principal's short name), and that alice's permissions apply.
func roundTrip(t *testing.T, c *Cluster, hc *hdfs.Client) {
	t.Helper()
	w, err := hc.Create("/user/alice/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "secure data"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := hc.ReadFile("/user/alice/f")
	if err != nil || string(got) != "secure data" {
		t.Fatalf("read back %q, %v", got, err)
	}
	fi, err := hc.Stat("/user/alice/f")
	if err != nil {
		t.Fatal(err)
	}
	if owner := fi.(*hdfs.FileInfo).Owner(); owner != "alice" {
		t.Errorf("owner %q, want alice (the principal's short name)", owner)
	}
	err = hc.Mkdir("/user/bob/x", 0o755)
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("mkdir in bob's home as alice: %v, want a permission error", err)
	}
}

func TestKerberosKeytabClient(t *testing.T) {
	realm, c, aliceKT := kerberized(t)
	roundTrip(t, c, krbClient(t, c, realm.Client(t, "alice", aliceKT)))
}

func TestKerberosTicketCacheClient(t *testing.T) {
	realm, c, aliceKT := kerberized(t)
	cc, err := credentials.LoadCCache(realm.Kinit(t, "alice", aliceKT))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.NewFromCCache(cc, realm.Config(), client.DisablePAFXFAST(true))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, krbClient(t, c, cl))
}

// TestKerberosRefusesSimple: a SIMPLE client gets Hadoop's refusal and
// the connection closes, before it can send anything else.
func TestKerberosRefusesSimple(t *testing.T) {
	_, c, _ := kerberized(t)
	r := dialRaw(t, c.Addr(), authNone, "alice")
	hdr, _ := r.recv("")
	wantException(t, "SIMPLE client", hdr, exAccessControl)
	if got, want := getStr(hdr, "errorMsg"), "SIMPLE authentication is not enabled.  Available:[KERBEROS]"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if getInt(hdr, "status") != 2 || int32(getUint(hdr, "callId")) != saslCallID {
		t.Errorf("status %d call id %d, want FATAL (2) on call id -33", getInt(hdr, "status"), int32(getUint(hdr, "callId")))
	}
	r.wantClosed("after refusing SIMPLE")

	// colinmarc's client with SIMPLE authentication fails its first call.
	hc, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()}, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if _, err := hc.Stat("/"); err == nil {
		t.Error("stat as a SIMPLE client: no error")
	}

	// A SASL client that initiates SIMPLE is refused the same way.
	r = dialRaw(t, c.Addr(), authSASL, "")
	r.send(r.header(saslCallID), build(pbRPCSasl, "state", "NEGOTIATE"))
	_, neg := r.recv(pbRPCSasl)
	if auths := saslAuths(neg); len(auths) != 1 || auths[0] != [2]string{"KERBEROS", "GSSAPI"} {
		t.Errorf("negotiate offers %v", auths)
	}
	if a := neg.Get(field(neg, "auths")).List().Get(0).Message(); getStr(a, "protocol") != "nn" || getStr(a, "serverId") != "127.0.0.1" {
		t.Errorf("negotiate: protocol %q serverId %q", getStr(a, "protocol"), getStr(a, "serverId"))
	}
	r.send(r.header(saslCallID), build(pbRPCSasl, "state", "INITIATE",
		"auths", []any{build(pbRPCSaslAuth, "method", "SIMPLE", "mechanism", "")}))
	hdr, _ = r.recv("")
	wantException(t, "SASL INITIATE of SIMPLE", hdr, exAccessControl)
	if got := getStr(hdr, "errorMsg"); !strings.HasPrefix(got, "SIMPLE authentication is not enabled.") {
		t.Errorf("message %q", got)
	}
	r.wantClosed("after INITIATE of SIMPLE")

	// A garbage GSS token is refused, not a panic.
	r = dialRaw(t, c.Addr(), authSASL, "")
	r.send(r.header(saslCallID), build(pbRPCSasl, "state", "NEGOTIATE"))
	r.recv(pbRPCSasl)
	r.send(r.header(saslCallID), build(pbRPCSasl, "state", "INITIATE", "token", []byte{0x60, 0x01, 0x02},
		"auths", []any{build(pbRPCSaslAuth, "method", "KERBEROS", "mechanism", "GSSAPI")}))
	hdr, _ = r.recv("")
	wantException(t, "garbage GSS token", hdr, exAccessControl)
	r.wantClosed("after a garbage token")
}

// TestKerberosWrongServiceKey: a ticket the NameNode's keytab
// cannot decrypt (another NameNode principal's) fails the negotiation.
func TestKerberosWrongServiceKey(t *testing.T) {
	realm := krbtest.Start(t)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("alice")
	aliceKT := realm.Keytab("", "alice")
	stale := realm.Keytab("", "nn/127.0.0.1")
	realm.Kadmin("cpw -randkey nn/127.0.0.1") // the keytab now holds old keys
	c := New(t, WithKerberos(stale, "nn/127.0.0.1@"+realm.Realm()))
	hc, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{c.Addr()},
		KerberosClient: realm.Client(t, "alice", aliceKT), KerberosServicePrincipleName: "nn/_HOST"})
	if err == nil {
		defer hc.Close()
		_, err = hc.Stat("/")
	}
	if err == nil || !strings.Contains(err.Error(), "FATAL_UNAUTHORIZED (org.apache.hadoop.security.AccessControlException)") {
		t.Errorf("with a stale NameNode keytab: %v, want a FATAL_UNAUTHORIZED AccessControlException", err)
	}
}

func TestWithKerberosBadSettings(t *testing.T) {
	if _, err := Start(WithKerberos(t.TempDir()+"/none", "nn/127.0.0.1@R")); err == nil {
		t.Error("missing keytab: no error")
	}
	if _, err := Start(WithKerberos("x", "nn@R")); err == nil || !strings.Contains(err.Error(), "service/host@REALM") {
		t.Errorf("bad principal: %v", err)
	}
}
