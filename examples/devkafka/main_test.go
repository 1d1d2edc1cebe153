package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDevKafkaServesTopics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out testtool.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-topics", "words:4,spot-flow:2"}, &out, io.Discard)
	}()

	addrRE := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no listening line; output: %q", out.String())
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("words"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	topics, err := kadm.NewClient(cl).ListTopics(rctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, parts := range map[string]int{"words": 4, "spot-flow": 2} {
		if got := len(topics[name].Partitions); got != parts {
			t.Errorf("topic %s has %d partitions, want %d", name, got, parts)
		}
	}
	if err := cl.ProduceSync(rctx, &kgo.Record{Topic: "words", Value: []byte("hello devkafka")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(rctx)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "hello devkafka" {
		t.Errorf("consumed %v (errors %v), want the produced record", recs, fs.Errors())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("devkafka did not stop when its context ended")
	}
}

func TestParseTopics(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []topic
		wantErr string
	}{
		{"words:4,spot-flow:4", []topic{{"words", 4}, {"spot-flow", 4}}, ""},
		{"a, b:2 ,", []topic{{"a", 1}, {"b", 2}}, ""},
		{"a:0", nil, "positive"},
		{"a:x", nil, "positive"},
		{":3", nil, "empty topic"},
	} {
		got, err := parseTopics(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseTopics(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("parseTopics(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseTopics(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}
