package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/runner"
)

// wordcount -exactly-once against brokers with SASL SCRAM-SHA-512 over
// TLS: the topic set-up, the direct stream, the totals table and the
// transactional sink all connect with the security flags; the counts
// produced add up to the words sent, and the password shows nowhere in
// what the job printed.
func TestExactlyOnceSecureKafka(t *testing.T) {
	bin := proctest.Build(t, "./examples/wordcount")
	const password = "Wordcount-pw-b71c0e-never-printed"
	c := kafkatest.NewSecure(t, map[string]int32{"lines": 3, "counts": 3},
		kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-512", User: "wordcount", Password: password})
	want := map[string]int64{}
	var recs []*kgo.Record
	for i := range 300 {
		line := fmt.Sprintf("w%d common w%d", i%17, i%5)
		for _, w := range strings.Fields(line) {
			want[w]++
		}
		recs = append(recs, &kgo.Record{Topic: "lines", Partition: int32(i % 3), Value: []byte(line)})
	}
	c.Produce(recs...)

	p := proctest.Start(t, bin, append([]string{"-source", "kafka", "-brokers", c.Addrs[0], "-topic", "lines", "-group", "secure",
		"-exactly-once", "-out-topic", "counts", "-totals", "-batch", "200ms", "-top", "0"}, c.Sec.Flags()...)...)
	p.WaitFor(t, p.Stderr, regexp.MustCompile(`(?m)^batch .* records=[1-9]`), 60*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	var got map[string]int64
	for {
		got = map[string]int64{}
		for _, r := range c.ReadCommitted("counts") {
			n, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				t.Fatalf("count %q of %q: %v", r.Value, r.Key, err)
			}
			got[string(r.Key)] += n
		}
		if maps.Equal(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.Stop(t, 30*time.Second)
	if !maps.Equal(got, want) {
		t.Errorf("the counts add up to %v, want %v\n%s", got, want, p.Output())
	}
	if out := p.Output(); strings.Contains(out, password) {
		t.Errorf("the password was printed:\n%s", out)
	}
}

// The security flags' usage errors: exit status 2, naming the flag or the
// file; never the password.
func TestSecureKafkaBadFlags(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	t.Setenv("KAFKA_SASL_PASSWORD", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-kafka-tls"}, "-kafka-tls and -kafka-sasl-* need -source kafka"},
		{[]string{"-source", "socket", "-kafka-sasl-mechanism", "PLAIN"}, "-kafka-tls and -kafka-sasl-* need -source kafka"},
		{[]string{"-source", "kafka", "-kafka-tls-ca", missing}, "kafka TLS: -kafka-tls-ca: open " + missing + ": no such file or directory"},
		{[]string{"-source", "kafka", "-kafka-tls-cert", missing}, "kafka TLS: -kafka-tls-cert needs -kafka-tls-key"},
		{[]string{"-source", "kafka", "-kafka-sasl-mechanism", "SCRAM-SHA-256", "-kafka-sasl-user", "u"},
			"kafka SASL: SCRAM-SHA-256 needs a password: -kafka-sasl-password-file, or the environment variable KAFKA_SASL_PASSWORD"},
		{[]string{"-source", "kafka", "-kafka-sasl-mechanism", "SCRAM-SHA-256", "-kafka-sasl-user", "u", "-kafka-sasl-password-file", missing},
			"kafka SASL: -kafka-sasl-password-file: open " + missing},
		{[]string{"-source", "kafka", "-kafka-sasl-mechanism", "DIGEST-MD5"}, `-kafka-sasl-mechanism "DIGEST-MD5": want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		if !runner.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
}
