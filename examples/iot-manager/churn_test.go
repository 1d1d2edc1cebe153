package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/duckdbtest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/proctest"
)

// churnRuns is how many times TestChurn runs: CHURN_RUNS (default 1).
func churnRuns(t *testing.T) int {
	n := 1
	if s := os.Getenv("CHURN_RUNS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("CHURN_RUNS=%q: want a positive number", s)
		}
	}
	return n
}

// TestChurn runs three copies of the manager in one consumer group on a
// 12-partition topic, with the same flags (no -checkpoint, no per-copy
// output), while events arrive: one starts, two join, one leaves with
// SIGTERM and comes back, one is SIGKILLed and restarted, one is
// SIGSTOPped past its session timeout and SIGCONTed (a zombie). DuckDB
// must find every event in the Parquet output once, the Kudu table must
// hold exactly the expected rows and every dead letter must be written
// once. A copy that exits on its own must have lost a commit to another
// copy (a zombie's or its own stale chunk): it is restarted, as a
// supervisor would. Set CHURN_RUNS=5 to run it five times.
func TestChurn(t *testing.T) {
	duckdbtest.Require(t)
	bin := buildManager(t)
	for i := range churnRuns(t) {
		t.Run(fmt.Sprint("run", i+1), func(t *testing.T) { churn(t, bin) })
	}
}

// copies are the running copies of a job, restarted when they exit on
// their own.
type copies struct {
	t        *testing.T
	bin      string
	args     []string
	procs    []*proctest.Proc
	restarts int
}

func (c *copies) start(i int) {
	for len(c.procs) <= i {
		c.procs = append(c.procs, nil)
	}
	c.procs[i] = proctest.Start(c.t, c.bin, c.args...)
}

// lostClaim matches what a copy that lost a commit to another says.
var lostClaim = regexp.MustCompile(`another writer committed this partition's offsets first`)

// supervise restarts the copies that have exited on their own; such an
// exit must be a lost commit.
func (c *copies) supervise() {
	for i, p := range c.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.Done():
		default:
			continue
		}
		if !lostClaim.MatchString(p.Stderr.String()) {
			c.t.Errorf("copy %d exited on its own (%v), not for a lost commit:\n%s", i, p.Err(), tail(p.Stderr.String(), 30))
		} else {
			c.t.Logf("copy %d exited after losing a commit to another copy (%v); restarting it", i, p.Err())
		}
		c.restarts++
		c.start(i)
	}
}

// nonProgress drops the progress lines of a copy's stderr.
func nonProgress(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "batch ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// sleep waits d, supervising the copies.
func (c *copies) sleep(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		c.supervise()
		time.Sleep(50 * time.Millisecond)
	}
}

func churn(t *testing.T, bin string) {
	const partitions, rounds, perRound = 12, 100, 20 // a round every 200 ms: 20 s of input, 2000 events
	events := genEvents(rounds*perRound, 3)
	datums := avscEncode(t, events)
	hdfs, kudu, kuduDead := expectedRows(events)

	c := kafkatest.New(t, map[string]int32{e2eTopic: partitions})
	kc := kudutest.New(t)
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "events"), filepath.Join(dir, "dead")
	cp := &copies{t: t, bin: bin, args: []string{"-brokers", c.Addrs[0], "-group", "churn", "-batch", "200ms",
		"-rotate-interval", "1s", "-session-timeout", "6s", "-rebalance-timeout", "8s",
		"-hdfs-out", out, "-dead-letter", dead, "-kudu-masters", strings.Join(kc.MasterAddrs(), ",")}}

	produced, badMessages := produceRounds(t, c, datums, rounds, perRound, partitions, 200*time.Millisecond)

	cp.start(0)
	cp.procs[0].WaitFor(t, cp.procs[0].Stderr, regexp.MustCompile(`(?m)^batch .* records=[1-9]`), 60*time.Second)
	cp.start(1)
	cp.sleep(2 * time.Second)
	cp.start(2)
	cp.sleep(2 * time.Second)

	t.Log("SIGTERM copy 1")
	cp.procs[1].Stop(t, 30*time.Second)
	cp.procs[1] = nil
	cp.sleep(time.Second)
	cp.start(1)
	cp.sleep(2 * time.Second)

	t.Log("SIGKILL copy 2, and restart it")
	cp.procs[2].Kill(t)
	cp.procs[2] = nil
	cp.start(2)
	cp.sleep(2 * time.Second)

	t.Log("SIGSTOP copy 0 past its session timeout")
	if err := cp.procs[0].Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	t.Log("SIGCONT copy 0: a zombie")
	if err := cp.procs[0].Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	<-produced
	if t.Failed() {
		return
	}

	// Until the output holds every event: files are committed every
	// second.
	deadline := time.Now().Add(90 * time.Second)
	for {
		cp.supervise()
		ids, err := countRows(out)
		if err == nil && len(ids) == len(hdfs) && len(kc.Rows("Events")) == len(kudu) {
			break
		}
		if time.Now().After(deadline) {
			for i, p := range cp.procs {
				t.Logf("copy %d:\n%s", i, tail(nonProgress(p.Stderr.String()), 40))
			}
			t.Fatalf("the copies did not catch up within 90 s: %d of %d events (%v)", len(ids), len(hdfs), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cp.sleep(time.Second)
	for _, p := range cp.procs {
		p.Stop(t, 30*time.Second)
	}
	checkExactlyOnce(t, out, dead, kc, hdfs, kudu, kuduDead, *badMessages)
	t.Logf("%d events (%d for Kudu, %d refused by it), %d bad messages; %d restarts after lost commits",
		len(hdfs), len(kudu), len(kuduDead), *badMessages, cp.restarts)
}
