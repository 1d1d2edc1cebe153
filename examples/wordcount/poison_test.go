package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A word too long for the output topic's max.message.bytes is a poison
// record for -out-topic: its count is dead-lettered with a WARN line, the
// other counts of its batch are produced, and the job goes on and exits 0.
// (The sink rejects it to the WriteSpec's DeadLetter, which logs the line;
// with kafkasink.FailOnPoison the batch would fail and the job stop with
// status 1.)
func TestCLIKafkaOutputPoisonRecord(t *testing.T) {
	wordcount, _ := buildBinaries(t)
	c := kafkatest.New(t, map[string]int32{"words": 2, "counts": 2})
	const limit = 2000
	setTopicConfig(t, c, "counts", "max.message.bytes", strconv.Itoa(limit))

	rng := rand.New(rand.NewPCG(5, 6))
	// Random letters, so that compression does not bring the record under
	// the limit.
	pb := make([]byte, 3*limit)
	for i := range pb {
		pb[i] = 'a' + byte(rng.IntN(26))
	}
	poison := string(pb)
	want := make(map[string]int)
	var recs []*kgo.Record
	for i := range 600 {
		line := genLine(rng)
		if i == 150 {
			line += " " + poison // in an early batch, among ordinary words
		}
		countWords(want, line)
		recs = append(recs, &kgo.Record{Topic: "words", Partition: int32(i % 2), Value: []byte(line)})
	}
	c.Produce(recs...)
	delete(want, poison)

	out := filepath.Join(t.TempDir(), "counts")
	p := start(t, wordcount, append([]string{"-source", "kafka", "-brokers", strings.Join(c.Addrs, ","),
		"-topic", "words", "-group", "poison-test", "-out-topic", "counts", "-out", out}, cliArgs...)...)
	p.Wait(t, exitTimeout)
	stderr := p.Stderr.String()
	checkProgress(t, stderr, len(recs))

	dead := regexp.MustCompile(`(?m)^.*level=WARN msg="wordcount: dead letter: a count not produced" topic=counts word_bytes=(\d+) word_prefix=[a-z]+\.\.\. count=1 err=.*$`).FindAllStringSubmatch(stderr, -1)
	if len(dead) != 1 || dead[0][1] != strconv.Itoa(len(poison)) {
		t.Fatalf("want one dead-letter line for the word of %d bytes, got %q\n%s", len(poison), dead, stderr)
	}
	if !strings.Contains(dead[0][0], "MESSAGE_TOO_LARGE") {
		t.Errorf("the dead-letter line does not name the broker's error: %s", dead[0][0])
	}

	produced := make(map[string]int)
	for _, r := range c.ReadAll("counts") {
		n, err := strconv.Atoi(string(r.Value))
		if err != nil {
			t.Fatalf("record %q: value %q is not a count", r.Key, r.Value)
		}
		produced[string(r.Key)] += n
	}
	compareCounts(t, produced, want)
	saved, _ := savedCounts(t, out) // the text output still has every word
	want[poison] = 1
	compareCounts(t, saved, want)
}

// setTopicConfig sets one configuration entry of a topic.
func setTopicConfig(t *testing.T, c *kafkatest.Cluster, topic, name, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(c.Client()).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: &value}}, topic)
	for _, r := range res {
		err = errors.Join(err, r.Err)
	}
	if err != nil {
		t.Fatalf("setting %s=%s on %s: %v", name, value, topic, err)
	}
}
