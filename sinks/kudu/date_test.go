package kudusink_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kudu"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
)

// A DATE outside Kudu's range, 0001-01-01 to 9999-12-31 (as a time.Time,
// whose UTC date counts, or as days since 1970-01-01), is refused by the
// client before anything is sent, as Kudu's own clients refuse it: the
// record goes to the dead letters with the reason invalid_value, and the
// other rows of the batch land, the bounds themselves included.
func TestDateOutOfRangeIsRejected(t *testing.T) {
	c := kudutest.New(t)
	if _, err := c.CreateTable(kudutest.TableSpec{Name: "days", Columns: []kudutest.Column{
		{Name: "source", Type: kudutest.TypeString, Key: true},
		{Name: "ts", Type: kudutest.TypeUnixtimeMicros, Key: true},
		{Name: "metric_id", Type: kudutest.TypeInt64, Key: true},
		{Name: "value", Type: kudutest.TypeDouble},
		{Name: "day", Type: kudutest.TypeDate, Nullable: true},
	}, Hash: []kudutest.HashDimension{{Columns: []string{"source"}, Buckets: 2}}}); err != nil {
		t.Fatal(err)
	}
	first, last := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	// Event.Ignored names the day a record's row gets; the others get the
	// date of their TS.
	days := map[string]any{
		"first": first,
		"last":  int32(2932896),
		"early": time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC),
		"late":  int32(2932897),
		"local": time.Date(1, 1, 1, 0, 30, 0, 0, time.FixedZone("UTC+1", 3600)), // UTC date 0000-12-31
	}
	cols := func(e Event) (map[string]any, error) {
		m := map[string]any{"source": e.Source, "ts": e.TS, "metric_id": e.MetricID, "value": e.Value, "day": e.TS}
		if d, ok := days[e.Ignored]; ok {
			m["day"] = d
		}
		return m, nil
	}
	var mu sync.Mutex
	dead := map[string]error{}
	l := &opInfos{}
	j := startJob(t, nil, func(s *dstream.Stream[Event]) error {
		s.Context().AddListener(l)
		sink, err := kudusink.New(c.MasterAddrs(), "days", kudusink.MapColumns(cols))
		if err != nil {
			return err
		}
		return s.WriteTo(sink, dstream.WriteSpec[Event]{DeadLetter: func(e Event, err error) {
			mu.Lock()
			dead[e.Ignored] = err
			mu.Unlock()
		}})
	})
	b := events(0, 20)
	for i, what := range []string{"first", "last", "early", "late", "local"} {
		b[4*i].Ignored = what
	}
	if err := j.batch(b); err != nil {
		t.Fatalf("the batch failed instead of rejecting the rows: %v", err)
	}
	if o := l.last(); !maps.Equal(o.RejectedBy, map[string]int64{"invalid_value": 3}) || o.Wrote.Rows != 17 {
		t.Errorf("RejectedBy = %v, Wrote = %+v; want 3 invalid_value and the 17 other rows", o.RejectedBy, o.Wrote)
	}
	if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 3 {
		t.Errorf("dead letters %v, want early, late and local", dead)
	}
	for what, part := range map[string]string{"early": "date 0000-12-31", "late": "day 2932897", "local": "date 0000-12-31"} {
		err := dead[what]
		if err == nil || !errors.Is(err, kudu.ErrInvalidRow) || dstream.RejectReasonOf(err) != "invalid_value" ||
			!strings.Contains(err.Error(), part) || !strings.Contains(err.Error(), `column "day" of type date`) ||
			!strings.Contains(err.Error(), "0001-01-01 to 9999-12-31") {
			t.Errorf("%s: dead letter %v (reason %q), want invalid_value naming %q, the column and the range", what, err, dstream.RejectReasonOf(err), part)
		}
	}
	// The server refused nothing: no out-of-range DATE reached it.
	if st := c.Stats(); st.RowErrors != 0 {
		t.Errorf("the server refused %d rows", st.RowErrors)
	}
	got := stored(t, c, "days")
	if len(got) != 17 {
		t.Errorf("%d rows stored, want 17", len(got))
	}
	for _, e := range b {
		r, ok := got[key(e.Source, e.TS, e.MetricID)]
		if _, refused := dead[e.Ignored]; refused {
			if ok {
				t.Errorf("refused row %s stored: %v", e.Ignored, r)
			}
			continue
		}
		want := time.Date(e.TS.Year(), e.TS.Month(), e.TS.Day(), 0, 0, 0, 0, time.UTC)
		switch e.Ignored {
		case "first":
			want = first
		case "last":
			want = last
		}
		if !ok || r["day"] != want {
			t.Errorf("row %v: stored %v, day %v, want %v", e, ok, r["day"], want)
		}
	}
}
