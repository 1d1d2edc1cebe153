package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/sources/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

type event struct {
	User  string
	Kind  string
	Count int
}

func TestWriteRecordsWithKeysValuesHeadersAndTopics(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"events": 3, "alerts": 1})
	j := newEncodedJob(t, "events",
		Encode(func(e event) ([]byte, error) { return fmt.Appendf(nil, "%s:%d", e.Kind, e.Count), nil }).
			WithKey(func(e event) []byte { return []byte(e.User) }).
			WithHeaders(func(e event) []kgo.RecordHeader { return []kgo.RecordHeader{{Key: "kind", Value: []byte(e.Kind)}} }).
			WithTopic(func(e event) string {
				if e.Kind == "alert" {
					return "alerts"
				}
				return "" // the default topic
			}),
		Brokers(c.Addrs...),
	)
	j.q.PushPartitions([][]event{
		{{"ann", "click", 1}, {"bob", "click", 2}},
		{{"ann", "alert", 3}, {"cid", "view", 4}},
	})
	j.q.PushPartitions([][]event{{{"bob", "view", 5}}})
	j.start()
	j.mustStep()
	j.mustStep()

	events := readTopic(t, c, "events", false)
	got := map[string]string{}
	partOf := map[string]int32{}
	for _, r := range events {
		if len(r.Headers) != 1 || r.Headers[0].Key != "kind" || !strings.HasPrefix(string(r.Value), string(r.Headers[0].Value)+":") {
			t.Errorf("record %q has headers %v", r.Value, r.Headers)
		}
		got[string(r.Value)] = string(r.Key)
		if p, ok := partOf[string(r.Key)]; ok && p != r.Partition {
			t.Errorf("key %q went to partitions %d and %d", r.Key, p, r.Partition)
		}
		partOf[string(r.Key)] = r.Partition
	}
	want := map[string]string{"click:1": "ann", "click:2": "bob", "view:4": "cid", "view:5": "bob"}
	if len(events) != 4 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events: got %v (%d records), want %v", got, len(events), want)
	}
	alerts := readTopic(t, c, "alerts", false)
	if len(alerts) != 1 || string(alerts[0].Key) != "ann" || string(alerts[0].Value) != "alert:3" {
		t.Errorf("alerts: %v", alerts)
	}
	// Without transactions, the records are visible to read_committed
	// consumers too.
	if n := len(readTopic(t, c, "events", true)); n != 4 {
		t.Errorf("read_committed sees %d records, want 4", n)
	}
}

func TestWriteKeepsPartitionOrder(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	j := newQueueJob[string](t, "t", Brokers(c.Addrs...), ClientOptions(kgo.ProducerLinger(0)))
	var parts [][]string
	for p := range 2 {
		var part []string
		for i := range 500 {
			part = append(part, fmt.Sprintf("p%d-%03d", p, i))
		}
		parts = append(parts, part)
	}
	j.q.PushPartitions(parts)
	j.start()
	j.mustStep()
	got := values(readTopic(t, c, "t", false))
	if len(got) != 1000 {
		t.Fatalf("got %d records, want 1000", len(got))
	}
	for p := range 2 {
		var mine []string
		for _, v := range got {
			if strings.HasPrefix(v, fmt.Sprintf("p%d-", p)) {
				mine = append(mine, v)
			}
		}
		if !slices.IsSorted(mine) || len(mine) != 500 {
			t.Errorf("partition %d's records are out of order or missing (%d)", p, len(mine))
		}
	}
}

func TestWriteDefaultEncodings(t *testing.T) {
	ts := time.UnixMilli(1_700_000_000_123)
	for _, tc := range []struct {
		name  string
		write func(ssc *dstream.Context, brokers []string) error
		key   string
		value string
	}{
		{"bytes", func(ssc *dstream.Context, b []string) error {
			return Write(pushed(ssc, []byte("v")), "t", Brokers(b...))
		}, "", "v"},
		{"string", func(ssc *dstream.Context, b []string) error {
			return Write(pushed(ssc, "v"), "t", Brokers(b...))
		}, "", "v"},
		{"string pair", func(ssc *dstream.Context, b []string) error {
			return Write(pushed(ssc, dstream.KV("k", "v")), "t", Brokers(b...))
		}, "k", "v"},
		{"bytes pair", func(ssc *dstream.Context, b []string) error {
			return Write(pushed(ssc, dstream.KV([]byte("k"), []byte("v"))), "t", Brokers(b...))
		}, "k", "v"},
		{"mixed pair", func(ssc *dstream.Context, b []string) error {
			return Write(pushed(ssc, dstream.KV("k", []byte("v"))), "t", Brokers(b...))
		}, "k", "v"},
		{"mixed pair 2", func(ssc *dstream.Context, b []string) error {
			return Write(pushed(ssc, dstream.KV([]byte("k"), "v")), "t", Brokers(b...))
		}, "k", "v"},
		{"kafka record", func(ssc *dstream.Context, b []string) error {
			r := kafka.Record{Topic: "source", Partition: 7, Offset: 9, Key: []byte("k"), Value: []byte("v"),
				Headers: []kafka.Header{{Key: "h", Value: []byte("hv")}}, Timestamp: ts}
			return Write(pushed(ssc, r), "t", Brokers(b...))
		}, "k", "v"},
		{"override", func(ssc *dstream.Context, b []string) error {
			return WriteEncoded(pushed(ssc, dstream.KV("k", "v")), "t",
				Encode(func(p dstream.Pair[string, string]) ([]byte, error) { return []byte(p.Value + "!"), nil }).
					WithKey(func(p dstream.Pair[string, string]) []byte { return []byte(p.Key + "!") }),
				Brokers(b...))
		}, "k!", "v!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"t": 1, "source": 8})
			j := newContextJob[int](t)
			if err := tc.write(j.ssc, c.Addrs); err != nil {
				t.Fatalf("Write: %v", err)
			}
			j.start()
			j.mustStep()
			rs := readTopic(t, c, "t", false)
			if len(rs) != 1 || string(rs[0].Key) != tc.key || string(rs[0].Value) != tc.value {
				t.Fatalf("records %v, want one with key %q value %q", rs, tc.key, tc.value)
			}
			if tc.name == "kafka record" {
				r := rs[0]
				if len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "hv" || !r.Timestamp.Equal(ts) {
					t.Errorf("record headers %v timestamp %v: the source record's were not kept", r.Headers, r.Timestamp)
				}
			}
		})
	}
}

// pushed returns a queue stream of ssc with one batch holding x.
func pushed[T any](ssc *dstream.Context, x T) *dstream.Stream[T] {
	q := dstream.NewQueue[T]()
	q.Push([]T{x})
	return dstream.QueueStream(ssc, q)
}

func TestWriteOptionErrors(t *testing.T) {
	ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	events := dstream.QueueStream(ssc, dstream.NewQueue[event]())
	strs := dstream.QueueStream(ssc, dstream.NewQueue[string]())
	b := Brokers("127.0.0.1:1")
	val := Encode(func(e event) ([]byte, error) { return nil, nil })
	// A function of another element type than the stream's does not
	// compile: see TestWrongTypesDoNotCompile.
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no brokers", Write(strs, "t"), "no brokers"},
		{"no value", Write(events, "t", b), "no default encoding: use WriteEncoded with Encode"},
		{"no value, encoded", WriteEncoded(events, "t", Encoder[event]{}.WithKey(func(event) []byte { return nil }), b), "no default encoding"},
		{"nil function", WriteEncoded(events, "t", Encode[event](nil), b), "Encode: nil function"},
		{"nil key function", WriteEncoded(events, "t", val.WithKey(nil), b), "WithKey: nil function"},
		{"nil headers function", WriteEncoded(events, "t", val.WithHeaders(nil), b), "WithHeaders: nil function"},
		{"nil topic function", WriteEncoded(events, "t", val.WithTopic(nil), b), "WithTopic: nil function"},
		{"nil logger", Write(strs, "t", b, Logger(nil)), "nil logger"},
		{"no topic", Write(strs, "", b), "no topic"},
		{"empty broker", Write(strs, "t", Brokers("")), "empty address"},
		{"txn without idempotence", Write(strs, "t", b, DisableIdempotence(), Transactional("x", nil)), "idempotent"},
		{"empty txn id", Write(strs, "t", b, Transactional("", nil)), "empty transactional ID"},
		{"source without group", Write(strs, "t", b, Transactional("x", newFakeSource(""))), "no consumer group"},
		{"bad delivery timeout", Write(strs, "t", b, DeliveryTimeout(0)), "DeliveryTimeout"},
		{"auto-committing source", Write(strs, "t", b, Transactional("x", autoSource{newFakeSource("g")})), "use kafka.ManualCommit"},
		{"auto-committing source, wrapped", Write(strs, "t", b, Transactional("x", Offsets(autoSource{newFakeSource("g")}, "g"))), "use kafka.ManualCommit"},
	} {
		var be *dstream.BuildError
		if !errors.As(tc.err, &be) || !errors.Is(tc.err, dstream.ErrInvalidOption) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: Write = %v, want a BuildError wrapping ErrInvalidOption mentioning %q", tc.name, tc.err, tc.want)
		}
	}
	// A topic function alone is enough.
	if err := WriteEncoded(strs, "", Encoder[string]{}.WithTopic(func(s string) string { return s }), b); err != nil {
		t.Errorf("WriteEncoded with WithTopic and no topic: %v", err)
	}
	// New reports the same errors, without a BuildError.
	if _, err := New("t", Encoder[event]{}, b); !errors.Is(err, dstream.ErrInvalidOption) || !strings.Contains(err.Error(), "no default encoding") {
		t.Errorf("New without an encoding = %v", err)
	}
	var nilStream *dstream.Stream[string]
	if err := Write(nilStream, "t", b); !errors.Is(err, dstream.ErrNilStream) {
		t.Errorf("Write(nil) = %v", err)
	}
}

// failProduce makes the cluster answer every produce request with code.
func failProduce(c *kafkatest.Cluster, code int16) {
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Version = req.Version
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

func TestWriteUnacknowledgedRecordFailsBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int16
		want error
	}{
		// acks=all cannot be met: franz-go retries until the delivery
		// timeout.
		{"not enough replicas", kerr.NotEnoughReplicas.Code, context.DeadlineExceeded},
		// An error that is not retried fails at once.
		{"invalid record", kerr.InvalidRecord.Code, kerr.InvalidRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"t": 2})
			j := newQueueJob[string](t, "t", Brokers(c.Addrs...), DeliveryTimeout(time.Second))
			j.q.Push([]string{"a", "b", "c"})
			failProduce(c, tc.code)
			j.start()
			start := time.Now()
			err := j.step()
			var be *dstream.BatchError
			if !errors.As(err, &be) || !errors.Is(err, tc.want) {
				t.Fatalf("batch error = %v, want a BatchError wrapping %v", err, tc.want)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("the batch failed after %v", d)
			}
			t.Logf("error: %v", err)
		})
	}
}

// With FailOnPoison, an element that cannot be encoded fails the batch.
func TestWriteValueErrorFailsBatchNamingTheElement(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	boom := errors.New("cannot encode")
	j := newEncodedJob(t, "t",
		Encode(func(s string) ([]byte, error) {
			if s == "bad" {
				return nil, boom
			}
			return []byte(s), nil
		}),
		Brokers(c.Addrs...), FailOnPoison())
	j.q.PushPartitions([][]string{{"a", "b"}, {"c", "bad", "d"}})
	j.start()
	err := j.step()
	var re *RecordError
	if !errors.As(err, &re) || !errors.Is(err, boom) || re.Partition != 1 || re.Index != 1 || re.Op != "encode" {
		t.Fatalf("batch error = %v, want element 1 of partition 1 failing to encode", err)
	}
	if !strings.Contains(err.Error(), "element 1 of partition 1: encode: cannot encode") {
		t.Errorf("error text %q does not name the element", err)
	}
}

// Elements that cannot be encoded are rejected to the WriteSpec's
// DeadLetter, counted, and the rest of the batch is written.
func TestWriteDeadLetter(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	var mu sync.Mutex
	dead := map[string]error{}
	j := newContextJob[string](t)
	j.writeTo("t",
		Encode(func(s string) ([]byte, error) {
			if strings.HasPrefix(s, "bad") {
				return nil, errors.New("invalid " + s)
			}
			return []byte(s), nil
		}),
		dstream.WriteSpec[string]{DeadLetter: func(s string, err error) {
			mu.Lock()
			defer mu.Unlock()
			dead[s] = err
		}},
		Brokers(c.Addrs...))
	rejected := rejectedCounts(j.ssc)
	j.q.PushPartitions([][]string{{"a", "bad1", "b"}, {"bad2", "c"}})
	j.start()
	j.mustStep()
	if got := rejected(); !slices.Equal(got, []int64{2}) {
		t.Errorf("OutputOperationInfo.Rejected = %v, want [2]", got)
	}
	if got := values(readTopic(t, c, "t", false)); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"a", "b", "c"}) {
		t.Errorf("written: %v, want a b c", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 2 {
		t.Fatalf("dead letters: %v", dead)
	}
	var re *RecordError
	if err := dead["bad1"]; !errors.As(err, &re) || re.Partition != 0 || re.Index != 1 || !strings.Contains(err.Error(), "invalid bad1") {
		t.Errorf("dead letter of bad1: %v", err)
	}
	if err := dead["bad2"]; !errors.As(err, &re) || re.Partition != 1 || re.Index != 0 {
		t.Errorf("dead letter of bad2: %v", err)
	}
}

func TestWriteNoTopicIsDeadLettered(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	var dead []string
	var mu sync.Mutex
	j := newContextJob[string](t)
	j.writeTo("",
		Encoder[string]{}.WithTopic(func(s string) string {
			if s == "nowhere" {
				return ""
			}
			return "t"
		}),
		dstream.WriteSpec[string]{DeadLetter: func(s string, err error) {
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrNoTopic) {
				dead = append(dead, s)
			}
		}},
		Brokers(c.Addrs...))
	j.q.Push([]string{"x", "nowhere"})
	j.start()
	j.mustStep()
	if got := values(readTopic(t, c, "t", false)); !slices.Equal(got, []string{"x"}) {
		t.Errorf("written %v", got)
	}
	if !slices.Equal(dead, []string{"nowhere"}) {
		t.Errorf("dead letters %v", dead)
	}
}

func TestWritePanicFailsBatch(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	j := newEncodedJob(t, "t", Encode(func(s string) ([]byte, error) { panic("oops " + s) }), Brokers(c.Addrs...))
	j.q.Push([]string{"x"})
	j.start()
	if err := j.step(); err == nil || !strings.Contains(err.Error(), "panic: oops x") {
		t.Fatalf("batch error = %v, want the panic", err)
	}
}

func TestWriteHardStopCancelsProduce(t *testing.T) {
	c := kafkatest.New(t, map[string]int32{"t": 1})
	// The broker does not answer produce requests until the test ends.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	j := newQueueJob[string](t, "t", Brokers(c.Addrs...))
	j.q.Push([]string{"x"})
	j.start()
	j.clk.Advance(time.Second)
	time.Sleep(200 * time.Millisecond) // the batch is waiting for its ack
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := j.ssc.Stop(ctx, dstream.Hard); err != nil {
		t.Fatalf("a hard stop did not interrupt the write: %v", err)
	}
}

func TestCapTxnVersions(t *testing.T) {
	vs := kversion.Stable()
	capped := capTxnVersions(vs)
	if !txnVersionsCapped(capped) || txnVersionsCapped(vs) {
		t.Fatalf("capTxnVersions did not cap: stable capped=%v", txnVersionsCapped(vs))
	}
	if v, _ := vs.LookupMaxKeyVersion(int16(kmsg.EndTxn)); v <= maxTxnVersion {
		t.Fatalf("capTxnVersions modified its argument")
	}
	pv, _ := vs.LookupMaxKeyVersion(int16(kmsg.Produce))
	if cv, _ := capped.LookupMaxKeyVersion(int16(kmsg.Produce)); cv != pv {
		t.Errorf("Produce max %d, want %d kept", cv, pv)
	}
	old := kversion.V2_5_0()
	if !txnVersionsCapped(old) {
		t.Errorf("Kafka 2.5's versions count as uncapped")
	}
}

// autoSource is a source that commits its offsets itself.
type autoSource struct{ *fakeSource }

func (autoSource) AutoCommit() bool { return true }
