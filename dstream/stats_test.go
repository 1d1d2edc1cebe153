package dstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// reasonErr is a rejection that names its reason.
type reasonErr string

func (e reasonErr) Error() string        { return "rejected: " + string(e) }
func (e reasonErr) RejectReason() string { return string(e) }

// countingOutput is a recOutput that counts what it committed, as a
// sink's StatsReporter does: records, one file per batch, bytes of the
// records' text.
type countingOutput struct {
	*recOutput[string]
	statsCalls int
}

func (o *countingOutput) OutputStats() OutputStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.statsCalls++
	var s OutputStats
	for _, parts := range o.parts {
		s.Files++
		for _, p := range parts {
			for _, x := range p {
				s.Records++
				s.Rows++
				s.Bytes += int64(len(x))
			}
		}
	}
	return s
}

// The change of an Output's OutputStats over each batch's write is the
// batch's OutputOperationInfo.Wrote, and its rejections are counted by
// the reason their errors name (RejectReasonOf), "other" when they name
// none.
func TestOutputStatsAndRejectReasons(t *testing.T) {
	h := newHarness(t, time.Second)
	in := &fakeInput{parts: map[int]int{1: 3, 2: 2}, interval: time.Second, records: -1}
	out := &countingOutput{recOutput: newRecOutput[string]()}
	out.reject = func(x string) error {
		switch {
		case strings.HasSuffix(x, "/1"):
			return fmt.Errorf("row %s: %w", x, reasonErr("too_long"))
		case strings.HasSuffix(x, "/2"):
			return errors.New("no reason given")
		}
		return nil
	}
	mustNoErr(t, InputStream[string](h.ssc, "src", in).WriteTo(out), "WriteTo")
	var mu sync.Mutex
	var infos []OutputOperationInfo
	h.ssc.AddListener(outputListener(func(o OutputOperationInfo) { mu.Lock(); infos = append(infos, o); mu.Unlock() }))
	h.start()
	h.steps(3)
	_ = h.ssc.Stop(context.Background(), Graceful)
	mu.Lock()
	defer mu.Unlock()
	if len(infos) != 3 {
		t.Fatalf("%d output operation events, want 3", len(infos))
	}
	var sum OutputStats
	for _, oi := range infos {
		ms := oi.BatchTime.UnixMilli()
		var want OutputStats
		if parts, ok := out.parts[ms]; ok {
			want.Files = 1
			for _, p := range parts {
				for _, x := range p {
					want.Records++
					want.Rows++
					want.Bytes += int64(len(x))
				}
			}
		}
		if oi.Wrote != want {
			t.Errorf("batch %d: Wrote = %+v, want %+v", ms, oi.Wrote, want)
		}
		sum = sum.Add(oi.Wrote)
		var wantReasons map[string]int64
		switch ms {
		case 1000: // partitions of 1, 2 and 3 records: 1/1/1, 1/2/1 too long, 1/2/2 no reason
			wantReasons = map[string]int64{"too_long": 2, "other": 1}
		case 2000: // partitions of 1 and 2 records: 2/1/1 too long
			wantReasons = map[string]int64{"too_long": 1}
		}
		if !maps.Equal(oi.RejectedBy, wantReasons) {
			t.Errorf("batch %d: RejectedBy = %v, want %v", ms, oi.RejectedBy, wantReasons)
		}
		var n int64
		for _, c := range oi.RejectedBy {
			n += c
		}
		if n != oi.Rejected {
			t.Errorf("batch %d: RejectedBy sums to %d, Rejected is %d", ms, n, oi.Rejected)
		}
	}
	if total := out.OutputStats(); sum != total {
		t.Errorf("the batches' Wrote add up to %+v, the output counted %+v", sum, total)
	}
	if sum.Records == 0 {
		t.Error("nothing was written")
	}
}

// RejectReasonOf finds the reason anywhere in an error's tree.
func TestRejectReasonOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{reasonErr("encode"), "encode"},
		{fmt.Errorf("row 3: %w", reasonErr("too_large")), "too_large"},
		{errors.Join(errors.New("a"), reasonErr("invalid_value")), "invalid_value"},
		{reasonErr(""), "other"},
		{errors.New("plain"), "other"},
		{nil, "other"},
	} {
		if got := RejectReasonOf(tc.err); got != tc.want {
			t.Errorf("RejectReasonOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// checkpointListener collects CheckpointWrittenListener events.
type checkpointListener struct {
	mu    sync.Mutex
	infos []CheckpointInfo
}

func (l *checkpointListener) OnCheckpointWritten(ci CheckpointInfo) {
	l.mu.Lock()
	l.infos = append(l.infos, ci)
	l.mu.Unlock()
}

// Every checkpoint write is reported with its kind, batch, size and
// duration: a meta checkpoint per generated batch and a state checkpoint
// every checkpoint interval (10 batches here), whose sizes are those of
// the files written.
func TestCheckpointWrittenListener(t *testing.T) {
	dir := t.TempDir()
	log := &memLog{}
	j := newWordJob(t, dir, log, 0, jobShape{})
	l := &checkpointListener{}
	j.h.ssc.AddListener(l)
	j.h.start()
	for k := 1; k <= 10; k++ {
		log.append(batchLines(k)...)
		j.h.step()
	}
	l.mu.Lock()
	infos := slices.Clone(l.infos)
	l.mu.Unlock()
	var metas []int64
	var state *CheckpointInfo
	for i, ci := range infos {
		if ci.Err != nil || ci.Bytes <= 0 || ci.Duration <= 0 {
			t.Errorf("checkpoint %+v: want no error, a size and a duration", ci)
		}
		switch ci.Kind {
		case "meta":
			metas = append(metas, ci.BatchTime.UnixMilli())
		case "state":
			state = &infos[i]
		default:
			t.Errorf("checkpoint kind %q", ci.Kind)
		}
	}
	if want := []int64{1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000}; !slices.Equal(metas, want) {
		t.Errorf("meta checkpoints of batches %v, want %v", metas, want)
	}
	if state == nil || state.BatchTime.UnixMilli() != 10000 {
		t.Fatalf("state checkpoint = %+v, want one of batch 10000", state)
	}
	fi, err := os.Stat(filepath.Join(dir, "state-10000"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(state.Bytes) != fi.Size() {
		t.Errorf("state checkpoint reported %d bytes, the file has %d", state.Bytes, fi.Size())
	}
}
