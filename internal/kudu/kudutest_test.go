package kudu_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/kudu"
	"github.com/microbatch-go/microbatch/internal/kudutest"
)

// These tests run the client against internal/kudutest, a server written
// independently from the same protocol facts: each checks the other.

func eventsSchema(t *testing.T) *kudu.Schema {
	t.Helper()
	s, err := kudu.NewSchema([]kudu.Column{
		{Name: "source", Type: kudu.TypeString, Key: true},
		{Name: "ts", Type: kudu.TypeUnixtimeMicros, Key: true},
		{Name: "metric_id", Type: kudu.TypeInt64, Key: true},
		{Name: "value", Type: kudu.TypeDouble},
		{Name: "tag", Type: kudu.TypeString, Nullable: true},
		{Name: "ok", Type: kudu.TypeBool, Nullable: true},
		{Name: "small", Type: kudu.TypeInt8, Nullable: true},
		{Name: "raw", Type: kudu.TypeBinary, Nullable: true},
		{Name: "day", Type: kudu.TypeDate, Nullable: true},
		{Name: "f", Type: kudu.TypeFloat, Nullable: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientAgainstTestServer(t *testing.T) {
	c := kudutest.New(t, kudutest.WithMasters(3), kudutest.WithLeaderMaster(2), kudutest.WithTabletServers(3))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kudu.Open(ctx, c.MasterAddrs(), kudu.WithBackoff(time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tbl, err := cl.CreateTable(ctx, "events", eventsSchema(t), kudu.PartitionSchema{
		Hash: []kudu.HashSchema{{Columns: []string{"source"}, NumBuckets: 4}},
	}, &kudu.CreateTableOptions{NumReplicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Tablets("events")); n != 4 {
		t.Fatalf("%d tablets, want 4", n)
	}
	ts0 := time.UnixMicro(1_700_000_000_000_000).UTC()
	var ops []*kudu.Operation
	for i := range 200 {
		op := tbl.NewUpsert()
		must(t, op.Set("source", fmt.Sprintf("sensor-%d", i%17)))
		must(t, op.Set("ts", ts0.Add(time.Duration(i)*time.Second)))
		must(t, op.Set("metric_id", int64(i%3)))
		must(t, op.Set("value", float64(i)/2))
		if i%2 == 0 {
			must(t, op.Set("tag", "even"))
			must(t, op.Set("ok", true))
			must(t, op.Set("small", int8(-i%100)))
			must(t, op.Set("raw", []byte{0, byte(i)}))
			must(t, op.Set("day", ts0))
			must(t, op.Set("f", float32(i)))
		} else {
			must(t, op.SetNull("tag"))
		}
		ops = append(ops, op)
	}
	// Faults on the way: the leader moves, a tablet is briefly not found.
	tablets := c.Tablets("events")
	must(t, c.MoveLeader(tablets[0].ID, (tablets[0].Leader+1)%3))
	c.InjectTabletNotFound(tablets[1].ID, 1)
	c.InjectServerTooBusy("Write", 2)
	rowErrs, err := cl.Apply(ctx, tbl, ops)
	if err != nil || len(rowErrs) > 0 {
		t.Fatalf("Apply: %v, row errors %v", err, rowErrs)
	}
	// Replaying the batch (UPSERT) leaves no duplicates.
	if rowErrs, err := cl.Apply(ctx, tbl, ops); err != nil || len(rowErrs) > 0 {
		t.Fatalf("replay: %v, %v", err, rowErrs)
	}
	rows := c.Rows("events")
	if len(rows) != 200 {
		t.Fatalf("%d rows stored, want 200", len(rows))
	}
	got := map[string]kudutest.Row{}
	for _, r := range rows {
		got[fmt.Sprintf("%s/%d/%d", r["source"], r["ts"].(time.Time).UnixMicro(), r["metric_id"])] = r
	}
	for i := range 200 {
		key := fmt.Sprintf("sensor-%d/%d/%d", i%17, ts0.Add(time.Duration(i)*time.Second).UnixMicro(), i%3)
		r, ok := got[key]
		if !ok {
			t.Fatalf("row %s missing", key)
		}
		if r["value"] != float64(i)/2 {
			t.Errorf("row %s value %v", key, r["value"])
		}
		if i%2 == 1 && r["tag"] != nil {
			t.Errorf("row %s tag %v, want NULL", key, r["tag"])
		}
		if i%2 == 0 && (r["tag"] != "even" || r["ok"] != true || r["small"] != int8(-i%100) || r["f"] != float32(i)) {
			t.Errorf("row %s = %v", key, r)
		}
		// The tablet the server computes for the key holds rows (the
		// server refuses a row sent to a tablet whose range lacks it).
		ti, err := c.TabletOf("events", fmt.Sprintf("sensor-%d", i%17), ts0.Add(time.Duration(i)*time.Second), int64(i%3))
		if err != nil {
			t.Fatal(err)
		}
		if ti.Rows == 0 {
			t.Errorf("row %s: its tablet %s holds no rows", key, ti.ID)
		}
	}

	// Per-row errors: INSERT of an existing key, and an injected error;
	// the other rows land.
	dup := tbl.NewInsert()
	must(t, dup.Set("source", "sensor-0"))
	must(t, dup.Set("ts", ts0))
	must(t, dup.Set("metric_id", int64(0)))
	must(t, dup.Set("value", 1.0))
	fresh := tbl.NewInsert()
	must(t, fresh.Set("source", "new"))
	must(t, fresh.Set("ts", ts0))
	must(t, fresh.Set("metric_id", int64(9)))
	must(t, fresh.Set("value", 2.0))
	long := tbl.NewUpsert()
	must(t, long.Set("source", "long"))
	must(t, long.Set("ts", ts0))
	must(t, long.Set("metric_id", int64(1)))
	must(t, long.Set("value", 3.0))
	must(t, long.Set("tag", string(make([]byte, 70<<10))))
	rowErrs, err = cl.Apply(ctx, tbl, []*kudu.Operation{dup, fresh, long})
	if err != nil {
		t.Fatal(err)
	}
	if len(rowErrs) != 2 || rowErrs[0].Index != 0 || rowErrs[1].Index != 2 {
		t.Fatalf("row errors %v, want rows 0 (already present) and 2 (cell too long)", rowErrs)
	}
	var se *kudu.StatusError
	if !errors.As(rowErrs[0].Err, &se) {
		t.Errorf("row 0 error %v is not a server status", rowErrs[0].Err)
	}
	if len(c.Rows("events")) != 201 {
		t.Errorf("%d rows, want 201 (the fresh row landed)", len(c.Rows("events")))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDateBoundsAgainstTestServer writes DATE values at Kudu's bounds
// (0001-01-01 and 9999-12-31) as key, range split, hash input and plain
// column, given as time.Time (in and out of UTC) and as days, and checks
// that the test server's independent decoder reads back those dates and
// routes the rows to the tablets it computes; a value one day outside is
// refused by Set and Apply before anything is sent, and the other rows
// land.
func TestDateBoundsAgainstTestServer(t *testing.T) {
	c := kudutest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kudu.Open(ctx, c.MasterAddrs(), kudu.WithBackoff(time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := kudu.NewSchema([]kudu.Column{
		{Name: "day", Type: kudu.TypeDate, Key: true},
		{Name: "id", Type: kudu.TypeInt32, Key: true},
		{Name: "other", Type: kudu.TypeDate, Nullable: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	first, last := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	split := s.NewRow()
	must(t, split.Set("day", last))
	tbl, err := cl.CreateTable(ctx, "dates", s, kudu.PartitionSchema{
		Hash:         []kudu.HashSchema{{Columns: []string{"day"}, NumBuckets: 3}},
		RangeColumns: []string{"day"},
		SplitRows:    []*kudu.Row{split},
	}, &kudu.CreateTableOptions{NumReplicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Tablets("dates")); n != 6 {
		t.Fatalf("%d tablets, want 6 (3 buckets, split at 9999-12-31)", n)
	}
	east, west := time.FixedZone("UTC+1", 3600), time.FixedZone("UTC-1", -3600)
	type row struct {
		day, other any
		stored     [2]any // day and other as the server reads them back
	}
	rows := []row{
		{first, int32(2932896), [2]any{first, last}},
		{time.Date(10000, 1, 1, 0, 30, 0, 0, east), int32(-719162), [2]any{last, first}}, // UTC date 9999-12-31
		{-719162, time.Date(0, 12, 31, 23, 30, 0, 0, west), [2]any{first, first}},        // UTC date 0001-01-01
		{int64(2932896), nil, [2]any{last, nil}},
		{first, int32(2932897), [2]any{}},                                         // refused: other is 10000-01-01
		{time.Date(1, 1, 1, 0, 30, 0, 0, east), nil, [2]any{}},                    // refused: UTC date 0000-12-31
		{time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 0, west), [2]any{}}, // refused: other is 10000-01-01 in UTC
	}
	refused := map[int]bool{4: true, 5: true, 6: true}
	var ops []*kudu.Operation
	for i, r := range rows {
		op := tbl.NewInsert()
		must(t, op.Set("id", int32(i)))
		errDay, errOther := op.Set("day", r.day), op.Set("other", r.other)
		if got := errDay != nil || errOther != nil; got != refused[i] {
			t.Errorf("row %d: Set errors %v, %v; want refused=%v", i, errDay, errOther, refused[i])
		}
		ops = append(ops, op)
	}
	rowErrs, err := cl.Apply(ctx, tbl, ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(rowErrs) != len(refused) {
		t.Errorf("row errors %v, want rows 4, 5 and 6", rowErrs)
	}
	for _, re := range rowErrs {
		var se *kudu.StatusError
		if !refused[re.Index] || !errors.Is(re.Err, kudu.ErrInvalidRow) || errors.As(re.Err, &se) {
			t.Errorf("row %d: error %v, want the client's ErrInvalidRow", re.Index, re.Err)
		}
	}
	// Nothing out of range reached the server, whose decoder refuses it.
	if st := c.Stats(); st.RowErrors != 0 {
		t.Errorf("the server refused %d rows", st.RowErrors)
	}
	got := map[int32]kudutest.Row{}
	for _, r := range c.Rows("dates") {
		got[r["id"].(int32)] = r
	}
	if len(got) != len(rows)-len(refused) {
		t.Errorf("%d rows stored, want %d", len(got), len(rows)-len(refused))
	}
	for i, r := range rows {
		if refused[i] {
			continue
		}
		g, ok := got[int32(i)]
		if !ok {
			t.Errorf("row %d missing", i)
			continue
		}
		if g["day"] != r.stored[0] || g["other"] != r.stored[1] {
			t.Errorf("row %d read back as day %v, other %v; want %v, %v", i, g["day"], g["other"], r.stored[0], r.stored[1])
		}
		ti, err := c.TabletOf("dates", r.stored[0], int32(i))
		if err != nil || ti.Rows == 0 {
			t.Errorf("row %d: tablet %+v, %v", i, ti, err)
		}
	}

	// A split row out of range fails CreateTable before anything is sent.
	bad := s.NewRow()
	if err := bad.Set("day", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, kudu.ErrInvalidRow) {
		t.Fatalf("Set 10000-01-01 = %v", err)
	}
	calls := c.Stats().Calls["CreateTable"]
	if calls == 0 {
		t.Fatal("the server counted no CreateTable call")
	}
	_, err = cl.CreateTable(ctx, "bad_dates", s, kudu.PartitionSchema{RangeColumns: []string{"day"}, SplitRows: []*kudu.Row{bad}},
		&kudu.CreateTableOptions{NumReplicas: 1})
	if !errors.Is(err, kudu.ErrInvalidRow) || !strings.Contains(err.Error(), "10000-01-01") {
		t.Errorf("CreateTable with a split row at 10000-01-01: %v", err)
	}
	if n := c.Stats().Calls["CreateTable"]; n != calls {
		t.Errorf("CreateTable was sent (%d calls, %d before)", n, calls)
	}
}
