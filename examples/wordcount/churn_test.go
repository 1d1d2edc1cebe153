package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestChurnExactlyOnce runs three copies of wordcount -exactly-once in one
// consumer group on a 12-partition lines topic, with the same flags and
// no -checkpoint, while lines arrive: one starts, two join, one leaves
// with SIGTERM and comes back, one is SIGKILLed and restarted, one is
// SIGSTOPped past its session timeout and SIGCONTed (a zombie). Read with
// read_committed, the per-batch counts add up to each word's count in
// the input, and the last value of every word in the totals topic and of
// every window in the window topic are what one process computes over
// the same input (the totals; the counts of the 4 s windows every 2 s of
// the lines' timestamps); one process then run over the same input
// computes the same totals and windows. A copy that exits on its own must have been
// fenced (a zombie's transaction, or a partition it lost): it is
// restarted, as a supervisor would. Set CHURN_RUNS=5 to run it five
// times.
func TestChurnExactlyOnce(t *testing.T) {
	bin, _ := buildBinaries(t)
	for i := range proctest.Runs(t, "CHURN_RUNS") {
		t.Run(fmt.Sprint("run", i+1), func(t *testing.T) { churnExactlyOnce(t, bin) })
	}
}

// fenced matches what a copy that a rebalance fenced says when its batch
// fails: the one reason a copy may exit on its own.
var fenced = regexp.MustCompile(`ILLEGAL_GENERATION|UNKNOWN_MEMBER_ID|FENCED_INSTANCE_ID|REBALANCE_IN_PROGRESS|INVALID_PRODUCER_EPOCH|PRODUCER_FENCED|does not hold`)

func churnExactlyOnce(t *testing.T, bin string) {
	const partitions, rounds, perRound = 12, 100, 20 // a round every 200 ms: 20 s of input, 2000 lines
	const window, slide = 4 * time.Second, 2 * time.Second
	c := kafkatest.New(t, map[string]int32{"lines": partitions, "counts": partitions, "counts-single": partitions})
	cp := &proctest.Copies{T: t, Bin: bin, Expected: fenced, Args: []string{
		"-source", "kafka", "-brokers", c.Addrs[0], "-topic", "lines", "-group", "churn", "-batch", "200ms",
		"-exactly-once", "-out-topic", "counts", "-totals", "-window", window.String(), "-slide", slide.String(),
		"-session-timeout", "6s", "-rebalance-timeout", "8s", "-top", "0"}}

	// The input: lines of words drawn from a small vocabulary, with
	// timestamps 10 ms apart from a whole second, so the windows they
	// fall in are known.
	rng := rand.New(rand.NewPCG(7, 11))
	vocab := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega")
	base := time.Now().Truncate(time.Second)
	totals := map[string]int64{}
	windows := map[string]int64{}
	var batches [][]*kgo.Record
	for r := range rounds {
		var recs []*kgo.Record
		for i := range perRound {
			ts := base.Add(time.Duration(r*perRound+i) * 10 * time.Millisecond)
			words := make([]string, 1+rng.IntN(8))
			for j := range words {
				w := vocab[min(rng.IntN(len(vocab)), rng.IntN(len(vocab)))] // skewed
				words[j] = w
				totals[w]++
				ms := ts.UnixMilli()
				for start := ms - ms%slide.Milliseconds(); start > ms-window.Milliseconds(); start -= slide.Milliseconds() {
					windows[time.UnixMilli(start).UTC().Format(windowKeyLayout)+" "+w]++
				}
			}
			recs = append(recs, &kgo.Record{Topic: "lines", Partition: int32(rng.IntN(partitions)), Timestamp: ts, Value: []byte(strings.Join(words, " "))})
		}
		batches = append(batches, recs)
	}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Error(err)
			return
		}
		defer cl.Close()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for _, recs := range batches {
			<-tick.C
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				t.Errorf("producing lines: %v", err)
				return
			}
		}
	}()

	proctest.Churn(cp, proctest.ChurnOptions{FirstBatch: regexp.MustCompile(`(?m)^batch .* records=[1-9]`), Paused: 10 * time.Second})
	<-produced
	if t.Failed() {
		return
	}
	last := func(topic string) map[string]int64 {
		out := map[string]int64{}
		for _, r := range c.ReadCommitted(topic) {
			n, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				t.Fatalf("%s: record %q at %d/%d: %v", topic, r.Value, r.Partition, r.Offset, err)
			}
			out[string(r.Key)] = n
		}
		return out
	}
	cp.Until(90*time.Second, func() (bool, string) {
		got := last("churn-totals")
		var sum, want int64
		for _, n := range got {
			sum += n
		}
		for _, n := range totals {
			want += n
		}
		return maps.Equal(got, totals), fmt.Sprintf("totals of %d words add up to %d of %d", len(got), sum, want)
	})
	cp.Sleep(time.Second)
	cp.StopAll(30 * time.Second)

	summed := map[string]int64{}
	for _, r := range c.ReadCommitted("counts") {
		n, err := strconv.ParseInt(string(r.Value), 10, 64)
		if err != nil {
			t.Fatalf("counts: record %q: %v", r.Value, err)
		}
		summed[string(r.Key)] += n
	}
	compare(t, "the per-batch counts, summed", summed, totals)
	compare(t, "the totals topic", last("churn-totals"), totals)
	compare(t, "the window topic", last("churn-window"), windows)

	// One process over the same input, in a group of its own, computes
	// the same totals and windows.
	single := &proctest.Copies{T: t, Bin: bin, Expected: regexp.MustCompile(`^$`), Args: slices.Concat(cp.Args,
		[]string{"-group", "single", "-out-topic", "counts-single"})} // the last of a repeated flag wins
	single.Start(0)
	single.Until(60*time.Second, func() (bool, string) {
		got := last("single-totals")
		return maps.Equal(got, totals), fmt.Sprintf("%d words of %d", len(got), len(totals))
	})
	single.StopAll(30 * time.Second)
	compare(t, "one process's totals against the copies'", last("single-totals"), last("churn-totals"))
	compare(t, "one process's windows against the copies'", last("single-window"), last("churn-window"))
	t.Logf("%d lines, %d words, %d windows; %d restarts after a copy was fenced", rounds*perRound, len(totals), len(windows), cp.Restarts)
}

// compare reports every key whose value in got is not the one in want.
func compare(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	bad := 0
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			if bad++; bad <= 10 {
				t.Errorf("%s: %q is %d, want %d", what, k, got[k], want[k])
			}
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 10 {
				t.Errorf("%s: unexpected %q = %d", what, k, n)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d keys wrong", what, bad, len(want))
	}
}
