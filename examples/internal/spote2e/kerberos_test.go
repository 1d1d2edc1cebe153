package spote2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/parquet-go/parquet-go"

	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/microbatch-go/microbatch/storage"
	storagehdfs "github.com/microbatch-go/microbatch/storage/hdfs"
)

// The proxy pipeline against brokers with SASL SCRAM-SHA-512 over TLS,
// the listener writing its Parquet output, dead letters and checkpoint
// to a Kerberized NameNode as the principal spot, logged in with
// -principal and -keytab: one row per log entry, as without security,
// in files of the user spot; no dead letters; neither the password nor
// the keytab shows in what either command printed.
func TestProxyEndToEndKerberosHDFS(t *testing.T) {
	collector, listener, _ := tools(t)
	const password = "Spot-krb-scram-pw-77a0c4-never-printed"
	realm := krbtest.Start(t)
	realm.AddPrincipal("nn/127.0.0.1")
	realm.AddPrincipal("spot")
	realm.AddPrincipal("analyst")
	h := hdfstest.New(t, hdfstest.WithKerberos(realm.Keytab("", "nn/127.0.0.1"), "nn/127.0.0.1@"+realm.Realm()))
	if err := h.Mkdir("/spot", 0o755, "spot", ""); err != nil {
		t.Fatal(err)
	}
	keytab := realm.Keytab("", "spot")
	cluster := kafkatest.NewSecure(t, map[string]int32{"spot-proxy": 2},
		kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-512", User: "spot", Password: password})
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	text, entries := proxyLog(200)
	if err := os.WriteFile(filepath.Join(logs, "access-0001.log"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	cout, cerr, code := proctest.Run(t, 2*time.Minute, collector, append([]string{"-type", "proxy", "-watch", logs,
		"-staging", filepath.Join(dir, "staging"), "-brokers", cluster.Addrs[0], "-topic", "spot-proxy",
		"-max-request-bytes", strconv.Itoa(maxRequestBytes), "-once"}, cluster.Sec.Flags()...)...)
	if code != 0 {
		t.Fatalf("collector exited with status %d:\n%s", code, cerr)
	}

	base := "hdfs://" + h.Addr() + "/spot"
	p := proctest.Start(t, listener, append([]string{"-type", "proxy", "-brokers", cluster.Addrs[0], "-topic", "spot-proxy",
		"-group", "e2e", "-batch", "500ms", "-rotate-interval", "1s", "-out", base + "/proxy", "-dead-letter", base + "/dead",
		"-checkpoint", base + "/checkpoint", "-principal", "spot@" + realm.Realm(), "-keytab", keytab, "-krb5-conf", realm.Krb5Conf()},
		cluster.Sec.Flags()...)...)

	reader := &storage.Opener{Kerberos: realm.Client(t, "analyst", realm.Keytab("", "analyst"))}
	fsys, root, err := reader.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	rows := func(sub string) (n int, names []string) {
		t.Helper()
		ctx := context.Background()
		var walk func(string)
		walk = func(d string) {
			entries, err := fsys.List(ctx, d)
			if err != nil {
				return // not there yet
			}
			for _, e := range entries {
				switch {
				case e.IsDir && strings.HasPrefix(e.Name, "_"):
				case e.IsDir:
					walk(e.Path)
				default:
					names = append(names, e.Path)
					if !strings.HasSuffix(e.Name, ".parquet") {
						continue
					}
					r, err := fsys.Open(ctx, e.Path)
					if err != nil {
						t.Fatal(err)
					}
					data, err := io.ReadAll(r)
					r.Close()
					if err != nil {
						t.Fatal(err)
					}
					f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
					if err != nil {
						t.Fatalf("%s: %v", e.Path, err)
					}
					n += int(f.NumRows())
				}
			}
		}
		walk(root + "/" + sub)
		return n, names
	}
	deadline := time.Now().Add(90 * time.Second)
	for n, _ := rows("proxy"); n != len(entries); n, _ = rows("proxy") {
		if n > len(entries) {
			t.Fatalf("%d rows in Parquet on HDFS, want %d", n, len(entries))
		}
		select {
		case <-p.Done():
			t.Fatalf("listener exited (%v) with %d of %d rows written\n%s", p.Err(), n, len(entries), p.Output())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows in Parquet on HDFS after 90 s\n%s", n, len(entries), p.Output())
		}
	}
	p.Stop(t, 30*time.Second)
	if n, _ := rows("proxy"); n != len(entries) {
		t.Fatalf("after the stop, %d rows in Parquet on HDFS, want %d", n, len(entries))
	}
	if _, dead := rows("dead"); len(dead) > 0 {
		t.Errorf("valid input produced dead letters: %v", dead)
	}
	if hf, ok := fsys.(*storagehdfs.FS); ok {
		fi, err := hf.Client().Stat(root + "/proxy")
		if err != nil {
			t.Fatal(err)
		}
		if owner := fi.(*gohdfs.FileInfo).Owner(); owner != "spot" {
			t.Errorf("/spot/proxy belongs to %q, want spot (the principal's short name)", owner)
		}
	}
	if _, ckpt := rows("checkpoint"); len(ckpt) == 0 {
		t.Errorf("no checkpoint on HDFS\n%s", p.Output())
	}

	kt, err := os.ReadFile(keytab)
	if err != nil {
		t.Fatal(err)
	}
	printed := cout + cerr + p.Stdout.String() + p.Stderr.String()
	testtool.NoSecrets(t, "what the commands printed", printed, password, string(kt), base64.StdEncoding.EncodeToString(kt))
	if !strings.Contains(printed, "kafka_security=\"SASL SCRAM-SHA-512 user spot over TLS\"") {
		t.Errorf("the commands do not say how they connect:\n%s", printed)
	}
}
