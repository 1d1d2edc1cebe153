package kudusink_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
)

// opInfos collects the OutputOperationInfo of every completed output
// operation, in order.
type opInfos struct {
	mu    sync.Mutex
	infos []dstream.OutputOperationInfo
}

func (l *opInfos) OnOutputOperationCompleted(o dstream.OutputOperationInfo) {
	l.mu.Lock()
	l.infos = append(l.infos, o)
	l.mu.Unlock()
}

func (l *opInfos) last() dstream.OutputOperationInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.infos) == 0 {
		return dstream.OutputOperationInfo{}
	}
	return l.infos[len(l.infos)-1]
}

// startSink starts a job whose queue is written by sink, with listener l
// and rejected records dropped.
func startSink(t *testing.T, sink *kudusink.Sink[Event], l *opInfos) *job {
	t.Helper()
	return startJob(t, nil, func(s *dstream.Stream[Event]) error {
		s.Context().AddListener(l)
		return s.WriteTo(sink, dstream.WriteSpec[Event]{DeadLetter: func(Event, error) {}})
	})
}

// Each batch's Wrote is the rows the tablet servers applied, as many as
// the table gained, rejected rows left out; the batches' Wrote add up to
// the sink's OutputStats and to the rows scanned from the table.
func TestOutputStatsCountAppliedRows(t *testing.T) {
	c := kudutest.New(t, kudutest.WithTabletServers(3))
	sink, err := kudusink.New(c.MasterAddrs(), "events", kudusink.StructTags[Event](),
		kudusink.CreateIfMissing(kudusink.Hash(4, "source")), kudusink.MaxBatchBytes(2<<10))
	if err != nil {
		t.Fatal(err)
	}
	l := &opInfos{}
	j := startSink(t, sink, l)
	b1 := events(0, 120)
	long := strings.Repeat("x", 70<<10)
	b1[7].Tag, b1[90].Tag = &long, &long
	c.InjectRowError(func(op kudutest.RowOp) bool {
		return len(op.Key) > 0 && op.Key[0] == "sensor-4" && op.Row["value"] == 30.0
	}, kudutest.StatusCode(4) /* INVALID_ARGUMENT */, "injected row error", 1)
	var sum dstream.OutputStats
	for i, tc := range []struct {
		batch       []Event
		wantRows    int64
		wantReasons map[string]int64
	}{
		{b1, 117, map[string]int64{"cell_too_large": 2, "invalid_argument": 1}},
		{nil, 0, nil},
		{events(120, 45), 45, nil},
	} {
		before := len(c.Rows("events"))
		if err := j.batch(tc.batch); err != nil {
			t.Fatal(err)
		}
		o := l.last()
		if got := int64(len(c.Rows("events")) - before); got != tc.wantRows || o.Wrote != (dstream.OutputStats{Records: got, Rows: got}) {
			t.Errorf("batch %d: Wrote = %+v, the table gained %d rows, want %d", i+1, o.Wrote, got, tc.wantRows)
		}
		if !maps.Equal(o.RejectedBy, tc.wantReasons) {
			t.Errorf("batch %d: RejectedBy = %v, want %v", i+1, o.RejectedBy, tc.wantReasons)
		}
		sum = sum.Add(o.Wrote)
	}
	if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	rows := int64(len(stored(t, c, "events")))
	if want := (dstream.OutputStats{Records: rows, Rows: rows}); sum != want || rows != 117+45 {
		t.Errorf("the batches' Wrote add up to %+v; the table holds %d rows, want 162", sum, rows)
	}
	if got := sink.OutputStats(); got != sum {
		t.Errorf("OutputStats = %+v, the batches' Wrote add up to %+v", got, sum)
	}
}

// The rows rejected are counted by their reason: the client's check of
// the row by its cause (a cell over the limit, a null or missing value
// where one is needed, a value of the wrong type, a column the table
// lacks, the mapping function's error), a tablet server's refusal by its
// status (a duplicate INSERT is already_present).
func TestRejectReasons(t *testing.T) {
	c := kudutest.New(t)
	// The table, made by a first sink's start-up check.
	create, err := kudusink.New(c.MasterAddrs(), "events", kudusink.StructTags[Event](), kudusink.CreateIfMissing(kudusink.Hash(2, "source")))
	if err != nil {
		t.Fatal(err)
	}
	j := startSink(t, create, &opInfos{})
	if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	// Event.Ignored, which is not a column, says what is wrong with the
	// row the mapping returns.
	cols := func(e Event) (map[string]any, error) {
		m := map[string]any{"source": e.Source, "ts": e.TS, "metric_id": e.MetricID, "value": e.Value}
		switch e.Ignored {
		case "mapping":
			return nil, errors.New("cannot map")
		case "no column":
			m["nope"] = int64(1)
		case "wrong type":
			m["value"] = "not a number"
		case "null value":
			m["value"] = nil
		case "null key":
			m["source"] = nil
		case "missing key":
			delete(m, "ts")
		case "long tag":
			m["tag"] = strings.Repeat("x", 70<<10)
		case "long key":
			m["source"] = strings.Repeat("k", 70<<10)
		}
		return m, nil
	}
	sink, err := kudusink.New(c.MasterAddrs(), "events", kudusink.MapColumns(cols), kudusink.Operation(kudusink.Insert))
	if err != nil {
		t.Fatal(err)
	}
	l := &opInfos{}
	j = startSink(t, sink, l)
	b := events(0, 12)
	for i, what := range []string{"mapping", "no column", "wrong type", "null value", "null key", "missing key", "long tag", "long key"} {
		b[i].Ignored = what
	}
	if err := j.batch(b); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"mapping": 1, "no_column": 1, "invalid_value": 1, "null_value": 3, "cell_too_large": 2}
	if o := l.last(); !maps.Equal(o.RejectedBy, want) || o.Wrote.Rows != 4 {
		t.Errorf("RejectedBy = %v, Wrote = %+v; want %v and the 4 good rows", o.RejectedBy, o.Wrote, want)
	}
	// The good rows inserted again, with two new ones.
	if err := j.batch(append(b[8:], events(12, 2)...)); err != nil {
		t.Fatal(err)
	}
	want = map[string]int64{"already_present": 4}
	if o := l.last(); !maps.Equal(o.RejectedBy, want) || o.Wrote.Rows != 2 {
		t.Errorf("RejectedBy = %v, Wrote = %+v; want %v and the 2 new rows", o.RejectedBy, o.Wrote, want)
	}
	if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	if rows, got := int64(len(c.Rows("events"))), sink.OutputStats(); got != (dstream.OutputStats{Records: rows, Rows: rows}) || rows != 6 {
		t.Errorf("OutputStats = %+v, the table holds %d rows, want 6", got, rows)
	}
}
