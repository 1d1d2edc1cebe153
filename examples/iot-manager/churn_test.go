package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/duckdbtest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

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
	for i := range proctest.Runs(t, "CHURN_RUNS") {
		t.Run(fmt.Sprint("run", i+1), func(t *testing.T) { churn(t, bin) })
	}
}

// lostClaim matches what a copy that lost a commit to another says: the
// one reason a copy may exit on its own.
var lostClaim = regexp.MustCompile(regexp.QuoteMeta(parquetsink.ErrLostClaim.Error()))

func churn(t *testing.T, bin string) {
	const partitions, rounds, perRound = 12, 100, 20 // a round every 200 ms: 20 s of input, 2000 events
	events := genEvents(rounds*perRound, 3)
	datums := avscEncode(t, events)
	hdfs, kudu, kuduDead := expectedRows(events)

	c := kafkatest.New(t, map[string]int32{e2eTopic: partitions})
	kc := kudutest.New(t)
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "events"), filepath.Join(dir, "dead")
	cp := &proctest.Copies{T: t, Bin: bin, Expected: lostClaim, Args: []string{"-brokers", c.Addrs[0], "-group", "churn", "-batch", "200ms",
		"-rotate-interval", "1s", "-session-timeout", "6s", "-rebalance-timeout", "8s",
		"-hdfs-out", out, "-dead-letter", dead, "-kudu-masters", strings.Join(kc.MasterAddrs(), ",")}}

	produced, badMessages := produceRounds(t, c, datums, rounds, perRound, partitions, 200*time.Millisecond)

	proctest.Churn(cp, proctest.ChurnOptions{FirstBatch: regexp.MustCompile(`(?m)^batch .* records=[1-9]`), Paused: 10 * time.Second})
	<-produced
	if t.Failed() {
		return
	}

	// Until the output holds every event: files are committed every
	// second.
	cp.Until(90*time.Second, func() (bool, string) {
		ids, err := countRows(out)
		rows := len(kc.Rows("Events"))
		return err == nil && len(ids) == len(hdfs) && rows == len(kudu),
			fmt.Sprintf("%d of %d events in Parquet (%v), %d of %d Kudu rows", len(ids), len(hdfs), err, rows, len(kudu))
	})
	cp.Sleep(time.Second)
	cp.StopAll(30 * time.Second)
	checkExactlyOnce(t, out, dead, kc, hdfs, kudu, kuduDead, *badMessages)
	t.Logf("%d events (%d for Kudu, %d refused by it), %d bad messages; %d restarts after lost commits",
		len(hdfs), len(kudu), len(kuduDead), *badMessages, cp.Restarts)
}
