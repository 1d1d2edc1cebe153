package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/examples/internal/progress"
	"github.com/microbatch-go/microbatch/internal/duckdbtest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

// countRows reads the committed Parquet files under dir with parquet-go
// and returns how often each event id occurs. Files that vanish while it
// reads (a batch being replaced) make it return an error.
func countRows(dir string) (map[string]int, error) {
	ids := map[string]int{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "_") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return nil
		}
		rows, err := parquet.ReadFile[HdfsEvent](p)
		if err != nil {
			return err
		}
		for _, r := range rows {
			ids[r.ID]++
		}
		return nil
	})
	return ids, err
}

// TestCrashCheckpoint kills the manager (-checkpoint, -dead-letter, Kudu
// on) with SIGKILL at random moments while events keep arriving,
// restarting it each time, then lets a last run catch up and stops it with
// SIGTERM. DuckDB must find every valid event in the Parquet output
// exactly once, the Kudu table must hold exactly the expected rows, and
// every dead letter must be written exactly once.
func TestCrashCheckpoint(t *testing.T) {
	duckdbtest.Require(t)
	bin := buildManager(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	const rounds, perRound = 60, 24 // a round every 100 ms: 6 s of input
	events := genEvents(rounds*perRound, 2)
	datums := avscEncode(t, events)
	hdfs, kudu, kuduDead := expectedRows(events)

	c := kafkatest.New(t, map[string]int32{e2eTopic: 4})
	kc := kudutest.New(t)
	dir := t.TempDir()
	out, ckpt, dead := filepath.Join(dir, "events"), filepath.Join(dir, "ckpt"), filepath.Join(dir, "dead")
	// Files rotated every 500 ms: a rotation spans a few batches, so
	// kills land in open files and in commits.
	args := []string{"-brokers", c.Addrs[0], "-group", "crash", "-instance", "crash-test", "-batch", "200ms", "-rotate-interval", "500ms",
		"-hdfs-out", out, "-checkpoint", ckpt, "-dead-letter", dead, "-kudu-masters", strings.Join(kc.MasterAddrs(), ",")}

	// The producer: a round of events over the 4 partitions every 100 ms;
	// every 10th round also a message that is not an event.
	produced, badMessages := produceRounds(t, c, datums, rounds, perRound, 4, 100*time.Millisecond)

	resumed := 0
	for i := range 3 {
		stderr := proctest.RunKilled(t, time.Duration(700+rng.IntN(1300))*time.Millisecond, bin, args...)
		if strings.Contains(stderr, "resuming from the checkpoint") {
			resumed++
		}
		t.Logf("run %d killed after %d batches", i+1, len(progress.Lines(stderr)))
	}
	<-produced
	if t.Failed() {
		return
	}

	// The last run: until the output holds every event, and the batch
	// that wrote the last of them has completed.
	p := proctest.Start(t, bin, args...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ids, err := countRows(out)
		if err == nil && len(ids) == len(hdfs) && len(kc.Rows("Events")) == len(kudu) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last run did not catch up within 60 s: %d of %d events (%v)\n%s", len(ids), len(hdfs), err, p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	p.Stop(t, 30*time.Second)
	if strings.Contains(p.Stderr.String(), "resuming from the checkpoint") {
		resumed++
	}

	checkExactlyOnce(t, out, dead, kc, hdfs, kudu, kuduDead, *badMessages)
	if resumed < 2 {
		t.Errorf("only %d of 4 runs resumed from the checkpoint", resumed)
	}
	t.Logf("%d events (%d for Kudu, %d refused by it), %d bad messages; %d runs resumed", len(hdfs), len(kudu), len(kuduDead), *badMessages, resumed)
}

// checkExactlyOnce checks the outputs of a run: DuckDB finds every event
// of hdfs once in the Parquet files under out, in its Hive partitions;
// the Kudu table holds exactly kudu; the dead letters under dead are the
// bad messages and the events the Kudu path refused, once each.
func checkExactlyOnce(t *testing.T, out, dead string, kc *kudutest.Cluster, hdfs map[string]HdfsEvent, kudu map[string]KuduEvent, kuduDead map[string]string, badMessages int) {
	t.Helper()
	// DuckDB: every event once, in its partitions.
	res := duckdbtest.Query(t, "SELECT id, count(*)::INTEGER AS n, min(source) AS source, min(day) AS day FROM read_parquet("+
		duckdbtest.Quote(filepath.Join(out, "**", "*.parquet"))+", hive_partitioning = true, hive_types_autocast = false) GROUP BY id")
	missing, twice := len(hdfs), 0
	for _, raw := range res.Rows {
		var r struct {
			ID     string `json:"id"`
			N      int    `json:"n"`
			Source string `json:"source"`
			Day    string `json:"day"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		w, ok := hdfs[r.ID]
		switch {
		case !ok:
			t.Errorf("unexpected event %s", r.ID)
			continue
		case r.N > 1:
			if twice++; twice <= 10 {
				t.Errorf("event %s is in the output %d times", r.ID, r.N)
			}
		case r.Source != w.Source || r.Day != w.Day:
			t.Errorf("event %s in source=%s/day=%s, want %s/%s", r.ID, r.Source, r.Day, w.Source, w.Day)
		}
		missing--
	}
	if missing > 0 || twice > 0 {
		t.Errorf("%d events: %d missing from the Parquet output, %d more than once", len(hdfs), missing, twice)
	}

	checkKudu(t, kc, "Events", kudu)

	seen := map[string]int{}
	for _, d := range readDeadLetters(t, dead) {
		seen[deadKey(d)]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("dead letter %s written %d times", k, n)
		}
	}
	if len(seen) != badMessages+len(kuduDead) {
		t.Errorf("%d dead letters, want %d bad messages and %d refused by the Kudu path", len(seen), badMessages, len(kuduDead))
	}
}

// produceRounds produces datums to the e2e topic in the background, a
// round of perRound events over parts partitions every pause, and every
// 10th round also a message that is not an event. The channel is closed
// when it is done; the count of bad messages is final then.
func produceRounds(t *testing.T, c *kafkatest.Cluster, datums [][]byte, rounds, perRound int, parts int32, pause time.Duration) (<-chan struct{}, *int) {
	bad := new(int)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
		for r := range rounds {
			var recs []*kgo.Record
			for i := range perRound {
				n := r*perRound + i
				recs = append(recs, &kgo.Record{Topic: e2eTopic, Partition: int32(n) % parts, Value: datums[n]})
			}
			if r%10 == 5 {
				recs = append(recs, &kgo.Record{Topic: e2eTopic, Partition: int32(r) % parts, Value: []byte(fmt.Sprintf("not an event %d", r))})
				*bad++
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(pause)
		}
	}()
	return done, bad
}
