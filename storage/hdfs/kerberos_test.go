package hdfs_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// kerberizedCluster starts a realm with nn/127.0.0.1 and alice, and a
// Kerberized cluster where alice has a home; it returns alice's keytab.
func kerberizedCluster(t *testing.T) (*krbtest.Realm, *hdfstest.Cluster, string) {
	t.Helper()
	realm := krbtest.Start(t)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("alice")
	c := hdfstest.New(t, hdfstest.WithKerberos(realm.Keytab("", "nn/127.0.0.1"), "nn/127.0.0.1@"+realm.Realm()))
	if _, err := c.AddUser("alice"); err != nil {
		t.Fatal(err)
	}
	return realm, c, realm.Keytab("", "alice")
}

// oneLine fails t unless err is a single line that says each of want.
func oneLine(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: error of several lines: %q", what, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not say %q", what, err, w)
		}
	}
}

func TestKerberosOpenerReadWrite(t *testing.T) {
	realm, c, aliceKT := kerberizedCluster(t)
	o := &storage.Opener{Kerberos: realm.Client(t, "alice", aliceKT)}
	fsys, dir, err := o.Open("hdfs://" + c.Addr() + "/user/alice/out")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := storage.WriteFileAtomic(ctx, fsys, dir+"/part-0", func(w io.Writer) error { _, err := io.WriteString(w, "kerberized"); return err }); err != nil {
		t.Fatal(err)
	}
	r, err := fsys.Open(ctx, dir+"/part-0")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != "kerberized" {
		t.Fatalf("read %q, %v", got, err)
	}
	if h, ok := fsys.(*storagehdfs.FS); ok && h.Client().User() != "alice" {
		t.Errorf("client user %q, want alice", h.Client().User())
	}
	// Another Opener's identity does not share the connection.
	realm.AddPrincipal("bob")
	bob := &storage.Opener{Kerberos: realm.Client(t, "bob", realm.Keytab("", "bob"))}
	bfs, _, err := bob.Open("hdfs://" + c.Addr() + "/user/alice/out")
	if err != nil {
		t.Fatal(err)
	}
	if bfs == fsys {
		t.Error("two principals share one FS")
	}
	if _, err := bfs.Create(ctx, dir+"/bob"); err == nil {
		t.Error("bob wrote in alice's directory")
	}
}

func TestKerberosRequiredSimpleRefused(t *testing.T) {
	_, c, _ := kerberizedCluster(t)
	start := time.Now()
	fsys, dir, err := storage.Open("hdfs://" + c.Addr() + "/user/alice?user=alice")
	if err == nil {
		_, err = fsys.Stat(context.Background(), dir)
	}
	oneLine(t, "SIMPLE client", err, "storage/hdfs: "+c.Addr()+" refused SIMPLE authentication: the cluster requires Kerberos; give -principal and -keytab (or a ticket cache)")
	if !errors.Is(err, storagehdfs.ErrKerberosRequired) {
		t.Errorf("%v does not wrap ErrKerberosRequired", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestKerberosLoginFailures(t *testing.T) {
	realm, c, aliceKT := kerberizedCluster(t)
	uri := "hdfs://" + c.Addr() + "/user/alice"
	stat := func(cl *client.Client) error {
		fsys, dir, err := (&storage.Opener{Kerberos: cl}).Open(uri)
		if err != nil {
			return err
		}
		_, err = fsys.Stat(context.Background(), dir)
		return err
	}
	kt := krbtest.LoadKeytab(t, aliceKT)

	// A keytab whose key is no longer the principal's.
	realm.Kadmin("cpw -randkey alice")
	start := time.Now()
	err := stat(client.NewWithKeytab("alice", realm.Realm(), kt, realm.Config(), client.DisablePAFXFAST(true)))
	oneLine(t, "stale keytab", err, "hdfs "+c.Addr(), "alice@"+realm.Realm(), "KDC_ERR_PREAUTH_FAILED")
	if !errors.Is(err, storagehdfs.ErrKerberosLogin) {
		t.Errorf("%v does not wrap ErrKerberosLogin", err)
	}

	// A realm no KDC serves.
	err = stat(client.NewWithKeytab("alice", "NOWHERE.TEST", kt, realm.Config(), client.DisablePAFXFAST(true)))
	oneLine(t, "unknown realm", err, "alice@NOWHERE.TEST", "no KDC")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}
