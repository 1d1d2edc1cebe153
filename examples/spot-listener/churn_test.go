package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// TestChurn runs three copies of the listener in one consumer group on a
// 12-partition topic, with the same flags (no -checkpoint, no per-copy
// output), through proctest.Churn while chunks arrive: every line must be
// in the table once, and every dead letter written once. A copy that
// exits on its own must have lost a commit to another (ErrLostClaim),
// and is restarted. CHURN_RUNS=5 runs it five times.
func TestChurn(t *testing.T) {
	bin := buildListener(t)
	for i := range proctest.Runs(t, "CHURN_RUNS") {
		t.Run(fmt.Sprint("run", i+1), func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"spot-flow": 12})
			dir := t.TempDir()
			out, dead := filepath.Join(dir, "flow"), filepath.Join(dir, "dead")
			cp := &proctest.Copies{T: t, Bin: bin, Expected: regexp.MustCompile(regexp.QuoteMeta(parquetsink.ErrLostClaim.Error())),
				Args: []string{"-type", "flow", "-brokers", c.Addrs[0], "-group", "churn", "-batch", "200ms",
					"-rotate-interval", "1s", "-session-timeout", "6s", "-rebalance-timeout", "8s", "-out", out, "-dead-letter", dead}}
			// 12 chunks of 50 lines every 200 ms for 20 s: about 58,500 lines.
			produced, tally := produceChunks(t, c, 12, 100, 200*time.Millisecond)
			proctest.Churn(cp, proctest.ChurnOptions{FirstBatch: regexp.MustCompile(`(?m)^batch .* lines=[1-9]`), Paused: 10 * time.Second})
			<-produced
			if t.Failed() {
				return
			}
			cp.Until(90*time.Second, func() (bool, string) {
				ids, err := countRows(out)
				return err == nil && len(ids) == tally.lines, fmt.Sprintf("%d of %d lines (%v)", len(ids), tally.lines, err)
			})
			cp.Sleep(time.Second)
			cp.StopAll(30 * time.Second)
			checkTable(t, out, dead, tally)
			t.Logf("%d lines, %d bad lines, %d bad messages; %d restarts after lost commits",
				tally.lines, tally.badLines, tally.badMessages, cp.Restarts)
		})
	}
}
