package main

import (
	"context"
	"encoding/base64"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"

	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// secured is a fully secured deployment of the manager's dependencies:
// one Kerberos realm issuing the NameNode's (nn/127.0.0.1), the Kudu
// servers' (kudu/127.0.0.1) and the manager's (iot) principals; brokers
// with SASL SCRAM-SHA-256 over TLS; a Kerberized NameNode with
// permissions on, where the administrator made /iot for the user iot;
// and Kudu servers that require TLS and Kerberos.
type secured struct {
	realm    *krbtest.Realm
	kafka    *kafkatest.Cluster
	hdfs     *hdfstest.Cluster
	kudu     *kudutest.Cluster
	kuduCA   string // the PEM file of the Kudu cluster's CA
	keytab   string // the manager's keytab (iot)
	password string // the SCRAM password
	base     string // hdfs://nn/iot
}

func newSecured(t *testing.T, realmOpts ...krbtest.Option) *secured {
	t.Helper()
	s := &secured{password: "IoT-krb-scram-pw-5d1e07-never-printed"}
	s.realm = krbtest.Start(t, realmOpts...)
	s.realm.AddPrincipal("nn/127.0.0.1")
	s.realm.AddPrincipal("kudu/127.0.0.1")
	s.realm.AddPrincipal("iot")
	s.hdfs = hdfstest.New(t, hdfstest.WithBlockSize(256<<10),
		hdfstest.WithKerberos(s.realm.Keytab("", "nn/127.0.0.1"), "nn/127.0.0.1@"+s.realm.Realm()))
	if err := s.hdfs.Mkdir("/iot", 0o755, "iot", ""); err != nil {
		t.Fatal(err)
	}
	s.kudu = kudutest.New(t, kudutest.WithRequireTLS(),
		kudutest.WithKerberos(s.realm.Keytab("", "kudu/127.0.0.1"), "kudu/127.0.0.1"))
	s.kuduCA = filepath.Join(t.TempDir(), "kudu-ca.pem")
	if err := os.WriteFile(s.kuduCA, s.kudu.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	s.kafka = kafkatest.NewSecure(t, map[string]int32{e2eTopic: e2ePartitions},
		kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "daf-iot", Password: s.password})
	s.keytab = s.realm.Keytab("", "iot")
	s.base = "hdfs://" + s.hdfs.Addr() + "/iot"
	return s
}

// args are the manager's flags for the deployment, without the Kerberos
// identity (see identity).
func (s *secured) args() []string {
	a := []string{"-brokers", s.kafka.Addrs[0], "-hdfs-out", s.base + "/events", "-dead-letter", s.base + "/dead",
		"-checkpoint", s.base + "/checkpoint", "-batch", "500ms",
		"-kudu-masters", strings.Join(s.kudu.MasterAddrs(), ","), "-kudu-buckets", "4", "-kudu-tls-ca", s.kuduCA,
		"-max-message-bytes", strconv.Itoa(e2eMaxMessage), "-krb5-conf", s.realm.Krb5Conf()}
	return append(a, s.kafka.Sec.Flags()...)
}

// identity are the flags of the manager's principal and keytab.
func (s *secured) identity() []string {
	return []string{"-principal", "iot@" + s.realm.Realm(), "-keytab", s.keytab}
}

// TestEndToEndKerberos is the end-to-end run on a fully secured
// deployment (newSecured): SCRAM over TLS with the brokers, Kerberos with
// the NameNode (the Parquet output, the dead letters and the checkpoint
// on hdfs://) and TLS and Kerberos with Kudu, the manager logging in once
// with -principal and -keytab. Every event lands once, as in the
// unsecured run: the same Parquet rows on HDFS, owned by the principal's
// short name, the same Kudu rows and dead letters, the offsets committed.
// Neither the SCRAM password nor the keytab (raw or in base64) shows in
// what the manager printed nor in anything its status page serves.
func TestEndToEndKerberos(t *testing.T) {
	in := newE2EInput(t)
	s := newSecured(t)
	args := append(append(s.args(), s.identity()...), "-ui", "127.0.0.1:0")
	var pages string
	recs, stderr := runManagerThen(t, s.kafka, in, func(p *proctest.Proc) {
		url := p.WaitFor(t, p.Stderr, regexp.MustCompile(`msg="status page" url=(\S+)`), 10*time.Second)[1]
		pages = testtool.StatusPageText(t, url)
	}, args...)

	s.realm.AddPrincipal("analyst")
	reader := &storage.Opener{Kerberos: s.realm.Client(t, "analyst", s.realm.Keytab("", "analyst"))}
	fsys, root, err := reader.Open(s.base)
	if err != nil {
		t.Fatal(err)
	}
	checkHDFSRun(t, s.hdfs, in, recs, fsys, root, stderr)
	if hf, ok := fsys.(*storagehdfs.FS); ok {
		for _, d := range []string{"events", "dead", "checkpoint"} {
			fi, err := hf.Client().Stat(path.Join(root, d))
			if err != nil {
				t.Errorf("stat %s: %v", d, err)
				continue
			}
			if owner := fi.(*gohdfs.FileInfo).Owner(); owner != "iot" {
				t.Errorf("/iot/%s belongs to %q, want iot (the principal's short name)", d, owner)
			}
		}
	}
	if _, err := fsys.Stat(context.Background(), path.Join(root, "checkpoint", "lock")); err == nil {
		t.Error("the checkpoint's lock is still there after the manager stopped")
	}
	checkKudu(t, s.kudu, "Events", in.kudu)
	negs := s.kudu.Negotiations()
	if len(negs) == 0 {
		t.Error("no connection to Kudu was negotiated")
	}
	for _, n := range negs {
		if !n.TLS || n.Mechanism != "GSSAPI" || n.User != "iot@"+s.realm.Realm() {
			t.Errorf("Kudu connection to %s negotiated %+v, want TLS and GSSAPI as iot", n.Server, n)
		}
	}
	ends := s.kafka.EndOffsets(e2eTopic)[e2eTopic]
	if got := s.kafka.Committed("daf-iot-manager")[e2eTopic]; !maps.Equal(got, ends) {
		t.Errorf("committed offsets %v, want the ends %v", got, ends)
	}

	if !strings.Contains(pages, "microbatch_streaming_records_processed_total") {
		t.Errorf("the status page's text lacks its metrics:\n%s", pages)
	}
	kt, err := os.ReadFile(s.keytab)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{s.password, string(kt), base64.StdEncoding.EncodeToString(kt), base64.RawStdEncoding.EncodeToString(kt)}
	testtool.NoSecrets(t, "the status page", pages, secrets...)
	testtool.NoSecrets(t, "the manager's output", stderr, secrets...)
}

// TestKerberosFailuresAtStart: a secured deployment that the manager's
// identity or trust does not fit stops it at start, with exit status 3
// within seconds and one line naming what failed and why.
func TestKerberosFailuresAtStart(t *testing.T) {
	const life = 3 * time.Second
	s := newSecured(t, krbtest.WithTicketLifetime(life))
	s.realm.AddPrincipal("other")
	otherKT := s.realm.Keytab("", "other")
	ccache := s.realm.Kinit(t, "iot@"+s.realm.Realm(), s.keytab)
	expires := time.Now().Add(life + time.Second)
	bin := buildManager(t)
	realm := s.realm.Realm()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"keytab of another principal", []string{"-principal", "iot@" + realm, "-keytab", otherKT},
			[]string{"kerberos login as iot@" + realm + ": the keytab holds no key of the principal"}},
		{"expired ticket cache", []string{"-krb5-ccache", ccache},
			[]string{"kerberos login as iot@" + realm + ": the tickets of the ticket cache have expired"}},
		{"wrong realm", []string{"-principal", "iot@NO.SUCH.REALM", "-keytab", s.keytab},
			[]string{"kerberos login as iot@NO.SUCH.REALM", "no KDC of realm NO.SUCH.REALM"}},
		{"untrusted Kudu certificate", append(s.identity(), "-kudu-tls-ca", s.kafka.Sec.CAFile),
			[]string{"kudu", "certificate is not trusted"}},
		{"no credentials for the Kerberized NameNode", nil,
			[]string{"refused SIMPLE authentication: the cluster requires Kerberos; give -principal and -keytab (or a ticket cache)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "expired") {
				time.Sleep(time.Until(expires))
			}
			began := time.Now()
			p := proctest.Start(t, bin, append(append(s.args(), tc.args...), "-start-timeout", "20s")...)
			code := p.ExitCode(t, 40*time.Second)
			took := time.Since(began)
			if code != 3 {
				t.Fatalf("exit status %d, want 3\n%s", code, p.Output())
			}
			if took > 10*time.Second {
				t.Errorf("took %v to exit; want within seconds", took)
			}
			stderr := p.Stderr.String()
			var lines []string
			for l := range strings.Lines(stderr) {
				if strings.Contains(l, "cannot start") {
					lines = append(lines, strings.TrimSpace(l))
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d lines say it cannot start, want one:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("the line does not say %q:\n%s", w, lines[0])
				}
			}
			t.Logf("after %v: %s", took.Round(time.Millisecond), lines[0])
			testtool.NoSecrets(t, "the manager's output", p.Output(), s.password)
		})
	}
}
