package kudu_test

import (
	"context"
	"errors"
	"fmt"
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
