package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

// kafkaPassword is the brokers' password: distinctive, so that a leak is
// found in any output.
const kafkaPassword = "Kafka-pw-7f3b9c-never-printed"

// Every command against brokers with SASL SCRAM over TLS that refuse its
// password, or whose certificate it does not trust: exit status 3 within
// seconds (well inside the start timeout), exactly one line naming the
// brokers and the cause, no other warning or error, and neither the right
// password nor the wrong one anywhere in the output.
func TestSecureKafkaRefusedAtStart(t *testing.T) {
	wordcount := proctest.Build(t, "./examples/wordcount")
	iot := proctest.Build(t, "./examples/iot-manager")
	listener := proctest.Build(t, "./examples/spot-listener")
	collector := proctest.Build(t, "./examples/spot-collector")
	c := kafkatest.NewSecure(t, map[string]int32{"words": 2, "daf-iot-events": 2, "spot-flow": 2, "spot-proxy": 2},
		kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "ingest", Password: kafkaPassword})
	addr := c.Addrs[0]
	untrusted := kafkatest.UntrustedCAFile(t)
	const wrong = "Wrong-pw-1d8e44-never-printed"

	// The password from $KAFKA_SASL_PASSWORD (wrong), or from the file
	// (right) with a CA the brokers' certificate is not signed by.
	wrongPassword := func(args ...string) ([]string, []string) {
		return append(args, "-kafka-tls-ca", c.Sec.CAFile, "-kafka-sasl-mechanism", "SCRAM-SHA-256", "-kafka-sasl-user", "ingest"),
			[]string{"KAFKA_SASL_PASSWORD=" + wrong}
	}
	untrustedCA := func(args ...string) ([]string, []string) {
		return append(args, "-kafka-tls-ca", untrusted, "-kafka-sasl-mechanism", "SCRAM-SHA-256", "-kafka-sasl-user", "ingest",
			"-kafka-sasl-password-file", c.Sec.PasswordFile), nil
	}
	const (
		sasl = ": SASL authentication failed: invalid credentials (mechanism SCRAM-SHA-256"
		tls  = `: TLS: certificate signed by unknown authority (the broker's certificate "CN=kafkatest broker" is issued by "CN=kafkatest CA")`
	)
	watch := t.TempDir()
	if err := os.WriteFile(filepath.Join(watch, "access-0001.log"), []byte("2016-08-17 10:55:00 12 10.0.0.1 - - - OBSERVED x - 200 TCP_HIT GET text/html http example.com 80 / - - Mozilla 10.0.0.2 100 200 - - -\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	to := "-start-timeout=" + startTimeout.String()
	type args func(...string) ([]string, []string)
	for _, tc := range []struct {
		name   string
		bin    string
		secure args
		base   []string
		want   string
	}{
		{"wordcount, wrong password", wordcount, wrongPassword, []string{"-source", "kafka", "-brokers", addr, "-topic", "words", to}, sasl},
		{"wordcount, untrusted certificate", wordcount, untrustedCA, []string{"-source", "kafka", "-brokers", addr, "-topic", "words", to}, tls},
		{"wordcount -exactly-once, wrong password", wordcount, wrongPassword, []string{"-source", "kafka", "-exactly-once", "-brokers", addr, "-topic", "words", to}, sasl},
		{"wordcount -out-topic, untrusted certificate", wordcount, untrustedCA, []string{"-source", "kafka", "-out-topic", "counts", "-brokers", addr, "-topic", "words", to}, tls},
		{"iot-manager, wrong password", iot, wrongPassword, []string{"-brokers", addr, "-hdfs-out", filepath.Join(t.TempDir(), "out"), to}, sasl},
		{"iot-manager, untrusted certificate", iot, untrustedCA, []string{"-brokers", addr, "-hdfs-out", filepath.Join(t.TempDir(), "out"), to}, tls},
		{"spot-listener, wrong password", listener, wrongPassword, []string{"-type", "flow", "-brokers", addr, "-out", filepath.Join(t.TempDir(), "flow"), to}, sasl},
		{"spot-listener, untrusted certificate", listener, untrustedCA, []string{"-type", "flow", "-brokers", addr, "-out", filepath.Join(t.TempDir(), "flow"), to}, tls},
		{"spot-collector, wrong password", collector, wrongPassword, []string{"-type", "proxy", "-watch", watch, "-staging", filepath.Join(t.TempDir(), "staging"), "-brokers", addr, "-once"}, sasl},
		{"spot-collector, untrusted certificate", collector, untrustedCA, []string{"-type", "proxy", "-watch", watch, "-staging", filepath.Join(t.TempDir(), "staging"), "-brokers", addr}, tls},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, env := tc.secure(tc.base...)
			cmd := exec.Command(tc.bin, args...)
			cmd.Env = append(os.Environ(), env...)
			began := time.Now()
			p := proctest.StartCmd(t, cmd)
			code := p.ExitCode(t, startTimeout+slack+10*time.Second)
			took := time.Since(began)
			stdout, stderr := p.Stdout.String(), p.Stderr.String()
			if code != exitUnavailable {
				t.Fatalf("exit status %d, want %d\n%s", code, exitUnavailable, p.Output())
			}
			if took > startTimeout+slack {
				t.Errorf("took %v to exit; want within seconds", took)
			}
			var lines []string
			for _, l := range strings.Split(stderr, "\n") {
				if strings.Contains(l, "cannot start") {
					lines = append(lines, l)
				}
			}
			want := ": cannot start: kafka brokers " + addr + tc.want
			if len(lines) != 1 || !strings.Contains(lines[0], want) {
				t.Fatalf("want one line with %q; stderr:\n%s", want, stderr)
			}
			t.Logf("after %v: %s", took.Round(time.Millisecond), lines[0])
			for _, l := range strings.Split(stderr, "\n") {
				if !strings.Contains(l, "cannot start") && (strings.Contains(l, "WARN") || strings.Contains(l, "ERROR")) {
					t.Errorf("a warning or error besides the one line: %s", l)
				}
			}
			for _, pw := range []string{kafkaPassword, wrong} {
				if strings.Contains(stdout+stderr, pw) {
					t.Errorf("a password was printed:\n%s", p.Output())
				}
			}
		})
	}
}

// The Spot commands honour KRB_AUTH as Spot's collector does: without the
// principal and keytab it names (KRB_USER, KEYTABPATH) nor the flags, a
// usage error naming what is missing; -kafka-sasl-* flags of one's own
// still win over the GSSAPI it implies.
func TestSpotKRBAuth(t *testing.T) {
	listener := proctest.Build(t, "./examples/spot-listener")
	collector := proctest.Build(t, "./examples/spot-collector")
	watch := t.TempDir()
	for _, tc := range []struct {
		bin  string
		args []string
	}{
		{listener, []string{"-type", "flow", "-out", filepath.Join(t.TempDir(), "flow")}},
		{collector, []string{"-type", "flow", "-watch", watch, "-staging", filepath.Join(t.TempDir(), "staging")}},
	} {
		cmd := exec.Command(tc.bin, tc.args...)
		cmd.Env = append(os.Environ(), "KRB_AUTH=true", "KRB_USER=", "KEYTABPATH=")
		p := proctest.StartCmd(t, cmd)
		const want = "kerberos: KRB_AUTH is set but KRB_USER (or -principal) and KEYTABPATH (or -keytab) are missing"
		if code := p.ExitCode(t, 30*time.Second); code != 2 || !strings.Contains(p.Stderr.String(), want) {
			t.Errorf("%s with KRB_AUTH alone: status %d, want 2 and %q\n%s", filepath.Base(tc.bin), code, want, p.Output())
		}
		// The keytab named by KEYTABPATH is read at start: a missing one is
		// a usage error naming it.
		missing := filepath.Join(t.TempDir(), "spot.keytab")
		cmd = exec.Command(tc.bin, tc.args...)
		cmd.Env = append(os.Environ(), "KRB_AUTH=true", "KRB_USER=spot@EXAMPLE.COM", "KEYTABPATH="+missing)
		p = proctest.StartCmd(t, cmd)
		want2 := "kafka SASL: GSSAPI: kerberos: "
		if code := p.ExitCode(t, 30*time.Second); code != 2 || !strings.Contains(p.Stderr.String(), want2) {
			t.Errorf("%s with KRB_AUTH and a missing keytab: status %d, want 2 and %q\n%s", filepath.Base(tc.bin), code, want2, p.Output())
		}
	}
}
