package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// setTopicConfig sets a config of topic on the cluster.
func setTopicConfig(t *testing.T, c *kafkatest.Cluster, topic, name, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(c.Client()).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: &value}}, topic)
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatalf("setting %s=%s on %s: %v", name, value, topic, err)
	}
}

// tooLargeCase is a record too large for the client or for the topic.
type tooLargeCase struct {
	name       string
	topicLimit string   // the topic's max.message.bytes, "" for the default
	big        string   // the record's value
	want       []string // in the error
	// retried is whether the broker's refusal also fails normal records
	// (those of the same record batch), which are produced again.
	retried bool
}

// incompressible returns n random letters and digits, which the
// producer's compression (Snappy by default) cannot shrink much: the
// broker checks compressed record batches against max.message.bytes.
func incompressible(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func tooLargeCases() []tooLargeCase {
	client := "big:" + incompressible(1_200_000)
	topic := "big:" + incompressible(20_000)
	return []tooLargeCase{
		// franz-go fails a record larger than a batch may be
		// (ProducerBatchMaxBytes, 1000012 by default) before sending it.
		{"over the client's batch limit", "", client,
			[]string{fmt.Sprintf("record of %d bytes", len(client)), "ProducerBatchMaxBytes 1000012"}, false},
		// The broker refuses a record batch over the topic's
		// max.message.bytes, with every record in it.
		{"over the topic's max.message.bytes", "10000", topic,
			[]string{fmt.Sprintf("record of %d bytes", len(topic)), "max.message.bytes of topic t 10000"}, true},
	}
}

// normal returns the values of normal records from..to-1, 100 bytes each.
func normal(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("r%04d-%s", i, strings.Repeat("n", 94)))
	}
	return out
}

// sinkModes are the producer modes a too-large record is tested in.
var sinkModes = []struct {
	name      string
	opts      func(name string) []Option
	committed bool // read with read_committed
}{
	{"idempotent", func(string) []Option { return nil }, false},
	{"transactional", func(name string) []Option { return []Option{Transactional("too-large-"+name, nil)} }, true},
	{"not idempotent", func(string) []Option { return []Option{DisableIdempotence()} }, false},
}

// A record too large for the client or for the topic is rejected to the
// dead letters with an error naming its size and the limits, and counted
// in OutputOperationInfo.Rejected; every other
// record of its batch, including those the broker refused with it, is in
// the topic exactly once (committed, with Transactional), and the next
// batch is written.
func TestWriteTooLargeRecordIsDeadLettered(t *testing.T) {
	for _, mode := range sinkModes {
		for _, tc := range tooLargeCases() {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				c := kafkatest.New(t, map[string]int32{"t": 1})
				if tc.topicLimit != "" {
					setTopicConfig(t, c, "t", "max.message.bytes", tc.topicLimit)
				}
				var logs testtool.Buffer
				j := newLoggedContextJob[string](t, slog.New(slog.NewTextHandler(&logs, nil)))
				var mu sync.Mutex
				dead := map[string][]error{}
				opts := append([]Option{Brokers(c.Addrs...),
					// One record batch for the whole batch, so that the
					// broker refuses normal records with the big one.
					ClientOptions(kgo.ProducerLinger(50 * time.Millisecond)),
					Logger(j.ssc.Logger())}, mode.opts(t.Name())...)
				j.writeTo("t", Encoder[string]{}, dstream.WriteSpec[string]{DeadLetter: func(s string, err error) {
					mu.Lock()
					defer mu.Unlock()
					dead[s] = append(dead[s], err)
				}}, opts...)
				rejected := rejectedCounts(j.ssc)
				first := slices.Insert(normal(0, 150), 70, tc.big)
				j.q.PushPartitions([][]string{first, normal(150, 300)})
				j.q.Push(normal(300, 350))
				j.start()
				j.mustStep()
				j.mustStep()
				if got := rejected(); !slices.Equal(got, []int64{1, 0}) {
					t.Errorf("OutputOperationInfo.Rejected per batch = %v, want [1 0]", got)
				}

				got := map[string]int{}
				for _, v := range values(readTopic(t, c, "t", mode.committed)) {
					got[v]++
				}
				for _, v := range normal(0, 350) {
					if got[v] != 1 {
						t.Errorf("record %.5s is in the topic %d times", v, got[v])
					}
				}
				if len(got) != 350 {
					t.Errorf("%d distinct records in the topic, want the 350 normal ones", len(got))
				}
				mu.Lock()
				defer mu.Unlock()
				if len(dead) != 1 || len(dead[tc.big]) != 1 {
					t.Fatalf("dead letters for %d values (%d for the big record), want the big record once", len(dead), len(dead[tc.big]))
				}
				err := dead[tc.big][0]
				t.Logf("dead letter: %.300v", err)
				var re *RecordError
				if !errors.As(err, &re) || re.Partition != 0 || re.Index != 70 || re.Op != "produce" || !errors.Is(err, kerr.MessageTooLarge) {
					t.Errorf("dead letter error %v, want a RecordError for element 70 of partition 0 wrapping MESSAGE_TOO_LARGE", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("dead letter error %q does not say %q", err, w)
					}
				}
				m := regexp.MustCompile(`records failed as too large.* records=(\d+)`).FindStringSubmatch(logs.String())
				if m == nil {
					t.Fatalf("no warning about the records failed as too large:\n%s", logs.String())
				}
				if n, _ := strconv.Atoi(m[1]); tc.retried != (n > 1) {
					t.Errorf("%d records failed as too large at first; want more than the big one: %v", n, tc.retried)
				}
			})
		}
	}
}

// With FailOnPoison, a record too large fails the batch with an error
// naming its size and the limits; with Transactional, nothing of the
// batch is committed.
func TestWriteTooLargeRecordFailsBatchWithFailOnPoison(t *testing.T) {
	for _, mode := range sinkModes[:2] {
		for _, tc := range tooLargeCases() {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				c := kafkatest.New(t, map[string]int32{"t": 1})
				if tc.topicLimit != "" {
					setTopicConfig(t, c, "t", "max.message.bytes", tc.topicLimit)
				}
				opts := append([]Option{Brokers(c.Addrs...), ClientOptions(kgo.ProducerLinger(50 * time.Millisecond)), FailOnPoison()}, mode.opts(t.Name())...)
				j := newQueueJob[string](t, "t", opts...)
				j.q.PushPartitions([][]string{slices.Insert(normal(0, 40), 20, tc.big)})
				j.start()
				err := j.step()
				var re *RecordError
				if !errors.As(err, &re) || re.Index != 20 || !errors.Is(err, kerr.MessageTooLarge) {
					t.Fatalf("batch error %v, want a RecordError for element 20 wrapping MESSAGE_TOO_LARGE", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("batch error %q does not say %q", err, w)
					}
				}
				if mode.committed {
					if got := readTopic(t, c, "t", true); len(got) != 0 {
						t.Errorf("%d records committed by the failed batch", len(got))
					}
				}
			})
		}
	}
}

// halves splits a group of two or more records into two non-empty
// parts, in order, and keeps a record alone.
func TestHalves(t *testing.T) {
	for n := 1; n <= 5; n++ {
		recs := make([]tooLarge[int], n)
		for i := range recs {
			recs[i].index = i
		}
		parts := halves(recs)
		var got []int
		for _, h := range parts {
			if len(h) == 0 {
				t.Errorf("halves of %d: an empty part", n)
			}
			for _, r := range h {
				got = append(got, r.index)
			}
		}
		if wantParts := min(n, 2); len(parts) != wantParts {
			t.Errorf("halves of %d: %d parts, want %d", n, len(parts), wantParts)
		}
		for i, x := range got {
			if x != i {
				t.Errorf("halves of %d: %v, want the records in order", n, got)
				break
			}
		}
		if len(got) != n {
			t.Errorf("halves of %d: %d records", n, len(got))
		}
	}
}
