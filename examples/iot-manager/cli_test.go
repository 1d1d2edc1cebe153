package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/scaleout"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

// The exit statuses of the binary: 2 for a usage error (also a bad
// configuration file), 0 for -h, 1 for a failure.
func TestCLIExitStatus(t *testing.T) {
	bin := buildManager(t)
	badConf := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(badConf, []byte("kafka {\n  topic = \"x\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{}, 2, "iot-manager: -hdfs-out is required"},
		{[]string{"-hdfs-out", "/x", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"-config", badConf}, 2, "iot-manager: -config: " + badConf + ":2:11: unterminated string"},
		{[]string{"-config", "testdata/application.conf", "-kudu-buckets", "0"}, 2, "-kudu-buckets 0"},
		{[]string{"-h"}, 0, "Usage of iot-manager"},
		{[]string{"-hdfs-out", "nosuch://x"}, 1, "iot-manager: -hdfs-out nosuch://x"},
		{[]string{"-hdfs-out", "/x", "-kudu-masters", "kudu1:7051,u:s3cr3t-pw@kudu2:7051"}, 2, "iot-manager: -kudu-masters: an address holds user info"},
		{[]string{"-hdfs-out", "/x", "-ui", ":0", "-ui-tls-cert", "cert.pem"}, 2, "iot-manager: -ui-tls-cert and -ui-tls-key go together"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Dir = "." // for testdata/
		p := proctest.StartCmd(t, cmd)
		if got := p.ExitCode(t, 30*time.Second); got != tc.status || !strings.Contains(p.Stderr.String(), tc.stderr) {
			t.Errorf("iot-manager %q: status %d, stderr:\n%s\nwant status %d and %q", tc.args, got, p.Stderr.String(), tc.status, tc.stderr)
		}
		if strings.Contains(p.Output(), "s3cr3t-pw") {
			t.Errorf("iot-manager %q: the password is in the output:\n%s", tc.args, p.Output())
		}
	}
}

// The demo runs with one command: -demo -duration 5s exits 0 after
// writing Parquet (and Kudu rows and dead letters) into a new directory
// under $TMPDIR, and says where.
func TestDemo(t *testing.T) {
	bin := buildManager(t)
	tmp := t.TempDir()
	cmd := exec.Command(bin, "-demo", "-duration", "5s", "-batch", "1s", "-rate", "100")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	p := proctest.StartCmd(t, cmd)
	if status := p.ExitCode(t, 60*time.Second); status != 0 {
		t.Fatalf("status %d\n%s", status, p.Output())
	}
	stderr := p.Stderr.String()
	m := regexp.MustCompile(`(?m)^demo: Parquet under (\S+)$`).FindStringSubmatch(stderr)
	if m == nil || !strings.HasPrefix(m[1], tmp) {
		t.Fatalf("the demo does not say where the output is:\n%s", stderr)
	}
	ids, err := countRows(m[1])
	if err != nil || len(ids) == 0 {
		t.Errorf("no Parquet rows under %s: %v", m[1], err)
	}
	sum, failed := sumProgress(stderr)
	if len(failed) > 0 || sum[0] == 0 || sum[1] == 0 || sum[2] == 0 || sum[1] != len(ids) {
		t.Errorf("progress %v (failed %v), %d distinct events in Parquet\n%s", sum, failed, len(ids), stderr)
	}
	// Every row written to Kudu is one row of the table: the generator
	// gives every event its own key.
	if m := regexp.MustCompile(`demo: the Kudu table Events held (\d+) rows`).FindStringSubmatch(stderr); m == nil || m[1] != strconv.Itoa(sum[2]) {
		t.Errorf("Kudu rows: %v, want %d\n%s", m, sum[2], stderr)
	}
	if dead, _ := filepath.Glob(filepath.Join(filepath.Dir(m[1]), "dead", scaleout.DeadGlob)); len(dead) == 0 {
		t.Errorf("no dead-letter output next to %s", m[1])
	}
	if !strings.Contains(stderr, "bad on purpose") {
		t.Errorf("the demo does not say its bad messages are deliberate:\n%s", stderr)
	}
}
