package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/microbatch-go/microbatch/internal/hdfstest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/internal/testtool"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/microbatch-go/microbatch/storage/hdfs"
)

// stopLimit is how long after SIGTERM a job must have exited, in every
// state (orchestrators send SIGKILL after 30 s; the jobs promise 5 s).
const stopLimit = 5 * time.Second

// atOnce is how long a second signal may take to end the process.
const atOnce = time.Second

var firstBatch = regexp.MustCompile(`(?m)^batch \S+ records=`)

// state is a situation a job is stopped in: setup starts the job, waits
// until it is in the state, and returns it.
type state struct {
	name string
	// slowStop says the first signal's stop takes seconds in this state,
	// so that a second signal arrives while it is under way.
	slowStop bool
	setup    func(t *testing.T) *proctest.Proc
}

// produce sends lines to the topic until stop is closed.
func produce(t *testing.T, c *kafkatest.Cluster, topic string, stop <-chan struct{}) {
	cl := c.Client(kgo.DefaultProduceTopic(topic))
	go func() {
		defer cl.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			cl.Produce(t.Context(), &kgo.Record{Value: []byte("to be or not to be")}, nil)
		}
	}()
}

// produceEvents sends IoT events (metrics, which go to Kudu) to the
// manager's topic until stop is closed.
func produceEvents(t *testing.T, c *kafkatest.Cluster, stop <-chan struct{}) {
	root, ok := testtool.RepoRoot()
	if !ok {
		t.Fatal("no repository root")
	}
	schema, err := avro.ParseFiles(filepath.Join(root, "examples", "iot-manager", "event.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Client(kgo.DefaultProduceTopic("daf-iot-events"))
	go func() {
		defer cl.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			data, err := avro.Marshal(schema, map[string]any{
				"version": int64(1), "id": fmt.Sprintf("e%d", i), "ts": time.Now().UnixMilli(),
				"temporal_granularity": nil, "event_certainty": 1.0, "event_type_id": int32(0),
				"event_subtype_id": "temperature", "event_annotation": nil, "source": fmt.Sprintf("sensor-%d", i%5),
				"location": "", "body": nil, "attributes": map[string]string{"value": "21.5"},
			})
			if err != nil {
				t.Error(err)
				return
			}
			cl.Produce(context.Background(), &kgo.Record{Value: data}, nil)
		}
	}()
}

func states(t *testing.T) []state {
	wordcount := proctest.Build(t, "./examples/wordcount")
	iot := proctest.Build(t, "./examples/iot-manager")
	kafkaJob := func(t *testing.T, c *kafkatest.Cluster, extra ...string) *proctest.Proc {
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		produce(t, c, "words", stop)
		args := append([]string{"-source", "kafka", "-brokers", c.Addrs[0], "-topic", "words", "-group", "wc", "-batch", "200ms"}, extra...)
		p := proctest.Start(t, wordcount, args...)
		p.WaitFor(t, p.Stderr, firstBatch, 30*time.Second)
		return p
	}
	return []state{
		{"running", false, func(t *testing.T) *proctest.Proc {
			return kafkaJob(t, kafkatest.New(t, map[string]int32{"words": 2}))
		}},
		{"broker down", false, func(t *testing.T) *proctest.Proc {
			c := kafkatest.New(t, map[string]int32{"words": 2})
			p := kafkaJob(t, c)
			c.Close()
			time.Sleep(time.Second) // the client is retrying
			return p
		}},
		{"rebalance waiting for a dead member", true, func(t *testing.T) *proctest.Proc {
			c := kafkatest.New(t, map[string]int32{"words": 2})
			first := kafkaJob(t, c)
			first.Kill(t) // still a member until its session times out
			p := proctest.Start(t, wordcount, "-source", "kafka", "-brokers", c.Addrs[0], "-topic", "words", "-group", "wc", "-batch", "200ms")
			time.Sleep(2 * time.Second) // joining: the group waits for the dead member
			return p
		}},
		{"Kudu sink retrying", true, func(t *testing.T) *proctest.Proc {
			kc := kudutest.New(t)
			c := kafkatest.New(t, map[string]int32{"daf-iot-events": 2})
			stop := make(chan struct{})
			t.Cleanup(func() { close(stop) })
			produceEvents(t, c, stop)
			p := proctest.Start(t, iot, "-brokers", c.Addrs[0], "-hdfs-out", filepath.Join(t.TempDir(), "events"),
				"-kudu-masters", strings.Join(kc.MasterAddrs(), ","), "-batch", "200ms")
			p.WaitFor(t, p.Stderr, regexp.MustCompile(`(?m)^batch \S+ records=[1-9]`), 30*time.Second)
			kc.InjectServerTooBusy("Write", 1<<20) // every write is refused and retried
			time.Sleep(time.Second)
			return p
		}},
		{"HDFS output retrying", true, func(t *testing.T) *proctest.Proc {
			h := hdfstest.New(t)
			home, err := h.AddUser("wc") // the job's user, with its home directory
			if err != nil {
				t.Fatal(err)
			}
			c := kafkatest.New(t, map[string]int32{"words": 2})
			p := kafkaJob(t, c, "-out", "hdfs://"+h.Addr()+home+"/counts?user=wc")
			h.DelayComplete(1 << 20) // every file close is retried, up to the close timeout
			time.Sleep(time.Second)
			return p
		}},
	}
}

// SIGTERM in every state: the process exits within stopLimit.
func TestStopPromptly(t *testing.T) {
	n := runs(t)
	for _, st := range states(t) {
		t.Run(st.name, func(t *testing.T) {
			for i := range n {
				p := st.setup(t)
				began := time.Now()
				if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				code := p.ExitCode(t, 30*time.Second)
				took := time.Since(began)
				t.Logf("run %d: exit status %d after %v", i+1, code, took.Round(time.Millisecond))
				if took > stopLimit {
					t.Errorf("run %d: exited %v after SIGTERM; want within %v\n%s", i+1, took, stopLimit, p.Output())
				}
				if strings.Contains(p.Stderr.String(), "did not stop within") {
					t.Errorf("run %d: the job did not stop by itself; the process's last-resort exit ended it\n%s", i+1, p.Output())
				}
				if code != 0 && code != 1 {
					t.Errorf("run %d: exit status %d\n%s", i+1, code, p.Output())
				}
				if !strings.Contains(p.Stderr.String(), p.Name+": terminated: stopping (a second signal exits at once)") {
					t.Errorf("run %d: the stop was not announced\n%s", i+1, p.Output())
				}
			}
		})
	}
}

// A second signal, sent while the first one's stop is under way, exits at
// once with 128 + its number.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	n := runs(t)
	for _, st := range states(t) {
		if !st.slowStop {
			continue // the first signal's stop is over before a second could come
		}
		t.Run(st.name, func(t *testing.T) {
			for i := range n {
				p := st.setup(t)
				if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				// The second signal goes once the first one's stop is
				// under way: on a loaded machine a fixed pause could let
				// both be pending at once, and Go delivers them in either
				// order.
				p.WaitFor(t, p.Stderr, regexp.MustCompile(`terminated: stopping`), 30*time.Second)
				began := time.Now()
				if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatalf("run %d: the second signal: %v (the stop ended before it)\n%s", i+1, err, p.Output())
				}
				code := p.ExitCode(t, 30*time.Second)
				if took := time.Since(began); took > atOnce {
					t.Errorf("run %d: exited %v after the second signal; want at once\n%s", i+1, took, p.Output())
				}
				if code != 130 {
					t.Errorf("run %d: exit status %d, want 130 (128 + SIGINT)\n%s", i+1, code, p.Output())
				}
			}
		})
	}
}
