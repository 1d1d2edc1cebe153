package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// opInfos collects the OutputOperationInfo of every completed output
// operation, by batch time in milliseconds.
func opInfos(ssc *dstream.Context) func() map[int64]dstream.OutputOperationInfo {
	var mu sync.Mutex
	got := map[int64]dstream.OutputOperationInfo{}
	ssc.AddListener(outputListener(func(o dstream.OutputOperationInfo) {
		mu.Lock()
		defer mu.Unlock()
		got[o.BatchTime.UnixMilli()] = o
	}))
	return func() map[int64]dstream.OutputOperationInfo {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(got)
	}
}

// inTopic is what records hold: their number and the bytes of their keys
// and values, of those whose value keep says to count (nil: all).
func inTopic(rs []*kgo.Record, keep func(value string) bool) dstream.OutputStats {
	var s dstream.OutputStats
	for _, r := range rs {
		if keep != nil && !keep(string(r.Value)) {
			continue
		}
		s.Records++
		s.Bytes += int64(len(r.Key) + len(r.Value))
	}
	return s
}

func prefixed(p string) func(string) bool {
	return func(v string) bool { return strings.HasPrefix(v, p) }
}

// Each batch's Wrote is the records Kafka acknowledged and the bytes of
// their keys and values, as read back from the topic (with
// Transactional, read_committed: a batch whose transaction aborted
// counts nothing); the batches' Wrote add up to the sink's OutputStats.
// An element the Encoder cannot encode is counted by the reason
// "encode".
func TestOutputStatsCountAcknowledgedRecords(t *testing.T) {
	for _, mode := range sinkModes[:2] {
		t.Run(mode.name, func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"t": 3})
			j := newContextJob[string](t)
			enc := Encode(func(s string) ([]byte, error) {
				if strings.Contains(s, "bad") {
					return nil, errors.New("cannot encode")
				}
				return []byte(s), nil
			}).WithKey(func(s string) []byte {
				if strings.HasSuffix(s, "-nokey") {
					return nil
				}
				return []byte("key-" + s[2:])
			})
			opts := []Option{Brokers(c.Addrs...)}
			if mode.committed {
				opts = append(opts, Transactional("stats-"+t.Name(), nil), withHooks(&testHooks{
					beforeCommit: func(_ context.Context, bt time.Time) error {
						if bt.UnixMilli() == 3000 {
							return errors.New("test: the third batch aborts")
						}
						return nil
					},
				}))
			}
			sink := j.writeTo("t", enc, dstream.WriteSpec[string]{DeadLetter: func(string, error) {}}, opts...)
			infos := opInfos(j.ssc)
			j.q.PushPartitions([][]string{
				{"1-a", "1-bad", "1-ccc-nokey", "1-dddd"},
				{"1-eeeee", "1-ff", "1-bad-too", "1-g-nokey"},
			})
			j.q.Push(nil)
			j.q.Push([]string{"3-h", "3-iiiiiiii", "3-j-nokey"})
			j.start()
			j.mustStep()
			j.mustStep()
			err := j.step()
			if mode.committed != (err != nil) {
				t.Fatalf("the third batch: %v; want it to fail only with Transactional (its transaction aborts)", err)
			}
			_ = j.ssc.Stop(context.Background(), dstream.Graceful)

			records := readTopic(t, c, "t", mode.committed)
			got := infos()
			var sum dstream.OutputStats
			for _, ms := range []int64{1000, 2000, 3000} {
				want := inTopic(records, prefixed(string(rune('0'+ms/1000))+"-"))
				if got[ms].Wrote != want {
					t.Errorf("batch %d: Wrote = %+v, the topic holds %+v of it", ms, got[ms].Wrote, want)
				}
				sum = sum.Add(got[ms].Wrote)
			}
			if w := map[string]int64{"encode": 2}; !maps.Equal(got[1000].RejectedBy, w) {
				t.Errorf("batch 1000: RejectedBy = %v, want %v", got[1000].RejectedBy, w)
			}
			all := inTopic(records, nil)
			wantRecords := int64(9) // 6 of batch 1 and 3 of batch 3
			if mode.committed {
				wantRecords = 6
			}
			if all.Records != wantRecords {
				t.Fatalf("%d records in the topic, want %d", all.Records, wantRecords)
			}
			if sum != all {
				t.Errorf("the batches' Wrote add up to %+v, the topic holds %+v", sum, all)
			}
			if total := sink.OutputStats(); total != all {
				t.Errorf("OutputStats = %+v, the topic holds %+v", total, all)
			}
		})
	}
}

// A record too large alone is counted by the reason "too_large" and not
// written, and the records produced again with it are counted once: the
// batches' Wrote and the sink's OutputStats are what the topic holds.
func TestOutputStatsTooLargeRecord(t *testing.T) {
	for _, mode := range sinkModes[:2] {
		for _, tc := range tooLargeCases() {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				c := kafkatest.New(t, map[string]int32{"t": 1})
				if tc.topicLimit != "" {
					setTopicConfig(t, c, "t", "max.message.bytes", tc.topicLimit)
				}
				j := newContextJob[string](t)
				opts := append([]Option{Brokers(c.Addrs...), ClientOptions(kgo.ProducerLinger(50 * time.Millisecond))}, mode.opts(t.Name())...)
				sink := j.writeTo("t", Encoder[string]{}, dstream.WriteSpec[string]{DeadLetter: func(string, error) {}}, opts...)
				infos := opInfos(j.ssc)
				j.q.PushPartitions([][]string{slices.Insert(normal(0, 150), 70, tc.big), normal(150, 300)})
				j.q.Push(normal(300, 350))
				j.start()
				j.mustStep()
				j.mustStep()
				if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
					t.Fatal(err)
				}
				records := readTopic(t, c, "t", mode.committed)
				all := inTopic(records, nil)
				if all.Records != 350 || all.Bytes != 350*100 {
					t.Fatalf("the topic holds %+v, want the 350 normal records of 100 bytes", all)
				}
				got := infos()
				if w := map[string]int64{"too_large": 1}; !maps.Equal(got[1000].RejectedBy, w) {
					t.Errorf("batch 1000: RejectedBy = %v, want %v", got[1000].RejectedBy, w)
				}
				if w := (dstream.OutputStats{Records: 300, Bytes: 300 * 100}); got[1000].Wrote != w {
					t.Errorf("batch 1000: Wrote = %+v, want %+v", got[1000].Wrote, w)
				}
				if sum := got[1000].Wrote.Add(got[2000].Wrote); sum != all {
					t.Errorf("the batches' Wrote add up to %+v, the topic holds %+v", sum, all)
				}
				if total := sink.OutputStats(); total != all {
					t.Errorf("OutputStats = %+v, the topic holds %+v", total, all)
				}
			})
		}
	}
}

// The reason of a rejected element: "encode" for one the Encoder could
// not encode, "too_large" for a record too large alone, "produce" for
// another refusal.
func TestRecordErrorRejectReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&RecordError{Op: "encode", Err: ErrNoTopic}, "encode"},
		{&RecordError{Op: "produce", Err: fmt.Errorf("record of 9 bytes too large: %w", kerr.MessageTooLarge)}, "too_large"},
		{&RecordError{Op: "produce", Err: errors.New("x")}, "produce"},
	} {
		if got := dstream.RejectReasonOf(tc.err); got != tc.want {
			t.Errorf("RejectReasonOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
