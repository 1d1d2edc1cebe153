package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

// genFlowLine returns flow record id, unique by its packet count (id+1),
// at a time that walks from 10:50 across 11:00 on 2016-08-17.
func genFlowLine(id int) string {
	ts := time.Date(2016, 8, 17, 10, 50, 0, 0, time.UTC).Add(time.Duration(id) * 200 * time.Millisecond)
	return fmt.Sprintf("%s,%d,%d,%d,%d,%d,%d,%.3f,10.1.%d.%d,198.51.100.%d,%d,443,TCP,.AP.SF,0,0,%d,%d,0,0,2,3,0,64496,0,0,10.0.0.1",
		ts.Format(time.DateTime), ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(),
		float64(id%5000)/1000, id/256%256, id%256, id%200, 1024+id%60000, id+1, 40*(id+1))
}

// countRows reads the committed Parquet files under dir and returns how
// often each packet count (record id + 1) occurs. Files that vanish while
// it reads (a batch being replaced) make it return an error.
func countRows(dir string) (map[int64]int, error) {
	ids := map[int64]int{}
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
		rows, err := parquet.ReadFile[spot.FlowRow](p)
		if err != nil {
			return err
		}
		for _, r := range rows {
			// The row must be in its hour's directory.
			if want := fmt.Sprintf("h=%d", r.TrHour); filepath.Base(filepath.Dir(p)) != want {
				return fmt.Errorf("%s holds a row of %s", p, r.TReceived)
			}
			ids[r.IPkt]++
		}
		return nil
	})
	return ids, err
}

// TestCrashCheckpoint kills the listener (-checkpoint, -dead-letter) with
// SIGKILL at random moments while the collector's chunks keep arriving,
// restarting it each time, then lets a last run catch up and stops it with
// SIGTERM. Every line must be in the Parquet table exactly once, and every
// dead letter in the dead-letter files exactly once.
func TestCrashCheckpoint(t *testing.T) {
	bin := buildListener(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	c := kafkatest.New(t, map[string]int32{"spot-flow": 4})
	dir := t.TempDir()
	out, ckpt, dead := filepath.Join(dir, "flow"), filepath.Join(dir, "ckpt"), filepath.Join(dir, "dead")
	args := []string{"-type", "flow", "-brokers", c.Addrs[0], "-group", "crash", "-instance", "crash-test",
		"-batch", "200ms", "-rotate-interval", "500ms", "-out", out, "-checkpoint", ckpt, "-dead-letter", dead}

	// The collector: a chunk of 50 lines to each of the 4 partitions every
	// 100 ms for 6 s; every 7th chunk holds a bad line, and every 40th
	// message is not a chunk.
	produced, tally := produceChunks(t, c, 4, 60, 100*time.Millisecond)

	resumed := 0
	for i := range 4 {
		stderr := proctest.RunKilled(t, time.Duration(600+rng.IntN(1400))*time.Millisecond, bin, args...)
		if strings.Contains(stderr, "resuming from the checkpoint") {
			resumed++
		}
		t.Logf("run %d killed after %d batches", i+1, len(progressLine.FindAllString(stderr, -1)))
	}
	<-produced
	if t.Failed() {
		return
	}

	// The last run: until the table holds every line.
	p := proctest.Start(t, bin, args...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ids, err := countRows(out)
		if err == nil && len(ids) == tally.lines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last run did not catch up within 60 s: %d of %d lines (%v)\nstderr:\n%s", len(ids), tally.lines, err, p.Stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// And until the batch that wrote the last rows has completed.
	time.Sleep(500 * time.Millisecond)
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if status := p.ExitCode(t, 30*time.Second); status != 0 {
		t.Fatalf("status %d after SIGTERM\nstderr:\n%s", status, p.Stderr.String())
	}
	if strings.Contains(p.Stderr.String(), "resuming from the checkpoint") {
		resumed++
	}

	checkTable(t, out, dead, tally)
	if resumed < 3 {
		t.Errorf("only %d of 5 runs resumed from the checkpoint", resumed)
	}
	t.Logf("%d lines, %d bad lines, %d bad messages; %d runs resumed", tally.lines, tally.badLines, tally.badMessages, resumed)
}

// chunkTally counts what produceChunks produced; final once it is done.
type chunkTally struct {
	lines, badLines, badMessages int
}

// produceChunks plays the collector in the background: a chunk of 50 flow
// lines to each of parts partitions of spot-flow every pause, rounds
// times; every 7th chunk holds a bad line, and every 40th message is not
// a chunk. The channel is closed when it is done.
func produceChunks(t *testing.T, c *kafkatest.Cluster, parts int32, rounds int, pause time.Duration) (<-chan struct{}, *chunkTally) {
	const perChunk = 50
	tally := &chunkTally{}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
		id, msg := 0, 0
		for range rounds {
			var recs []*kgo.Record
			for p := range parts {
				msg++
				if msg%40 == 0 {
					recs = append(recs, &kgo.Record{Topic: "spot-flow", Partition: p, Value: []byte("not a chunk")})
					tally.badMessages++
					continue
				}
				var ls []string
				for range perChunk {
					ls = append(ls, genFlowLine(id))
					id++
				}
				if msg%7 == 0 {
					ls = append(ls, fmt.Sprintf("bad line %d", msg))
					tally.badLines++
				}
				v, err := spot.EncodeChunk(ls)
				if err != nil {
					t.Error(err)
					return
				}
				recs = append(recs, &kgo.Record{Topic: "spot-flow", Partition: p, Value: v})
				tally.lines += perChunk
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
	return produced, tally
}

// checkTable checks that the table under out holds every line of tally
// once and that the dead letters under dead are its bad lines and bad
// messages, once each.
func checkTable(t *testing.T, out, dead string, tally *chunkTally) {
	t.Helper()
	ids, err := countRows(out)
	if err != nil {
		t.Fatal(err)
	}
	missing, twice := 0, 0
	for id := range tally.lines {
		switch n := ids[int64(id+1)]; {
		case n == 0:
			if missing++; missing <= 10 {
				t.Errorf("line %d is not in the table", id)
			}
		case n > 1:
			if twice++; twice <= 10 {
				t.Errorf("line %d is in the table %d times", id, n)
			}
		}
	}
	if len(ids) != tally.lines || missing > 0 || twice > 0 {
		t.Errorf("%d lines produced: %d distinct rows, %d missing, %d more than once", tally.lines, len(ids), missing, twice)
	}
	seen := map[string]int{}
	for _, d := range readDeadLetters(t, dead, true) {
		key := fmt.Sprintf("%d/%d", d.Partition, d.Offset)
		if d.Index != nil {
			key += fmt.Sprintf("/%d", *d.Index)
		}
		seen[key]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("dead letter %s written %d times", k, n)
		}
	}
	if len(seen) != tally.badLines+tally.badMessages {
		t.Errorf("%d dead letters, want %d bad lines and %d bad messages", len(seen), tally.badLines, tally.badMessages)
	}
}
