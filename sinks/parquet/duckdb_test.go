package parquetsink_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/duckdbtest"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// duckDBResult is what DuckDB prints.
type duckDBResult = duckdbtest.Result

// duckDBModules skips the test (fails it under CI=true) when DuckDB is not
// installed.
func duckDBModules(t *testing.T) { duckdbtest.Require(t) }

// readDuckDB reads dir with DuckDB, ordered by orderBy.
func readDuckDB(t *testing.T, dir, orderBy string) duckDBResult {
	t.Helper()
	return duckdbtest.ReadParquet(t, dir, duckdbtest.Ident(orderBy))
}

// hiveRow is allTypes with two partition columns, which are only in the
// paths.
type hiveRow struct {
	ID      int64            `parquet:"id"`
	I32     int32            `parquet:"i32"`
	F32     float32          `parquet:"f32"`
	F64     float64          `parquet:"f64"`
	Flag    bool             `parquet:"flag"`
	Name    string           `parquet:"name"`
	Blob    []byte           `parquet:"blob"`
	At      time.Time        `parquet:"at,timestamp(millisecond)"`
	AtMicro time.Time        `parquet:"at_us,timestamp(microsecond)"`
	Opt     *int64           `parquet:"opt,optional"`
	OptName *string          `parquet:"opt_name,optional"`
	Tags    []string         `parquet:"tags,list"`
	Attrs   map[string]int32 `parquet:"attrs"`
	Region  string           `parquet:"-"`
	Day     string           `parquet:"-"`
}

// duckRow is a row as DuckDB prints it in JSON.
type duckRow struct {
	ID      string  `json:"id"` // BIGINT prints as a string
	I32     int32   `json:"i32"`
	F32     float32 `json:"f32"`
	F64     float64 `json:"f64"`
	Flag    bool    `json:"flag"`
	Name    string  `json:"name"`
	Blob    string  `json:"blob"`  // \xHH escapes
	At      string  `json:"at"`    // "2006-01-02 15:04:05.999-07"
	AtMicro string  `json:"at_us"` // "2006-01-02 15:04:05.999999-07"
	Opt     *string `json:"opt"`
	OptName *string `json:"opt_name"`
	Tags    []string
	Attrs   []struct {
		Key   string `json:"key"`
		Value int32  `json:"value"`
	} `json:"attrs"`
	Region *string `json:"region"` // NULL for __HIVE_DEFAULT_PARTITION__
	Day    string  `json:"day"`    // a DATE, inferred from the path
}

// Files written by the sink, read by DuckDB with hive_partitioning: the
// same rows, with the same types, and the partition columns recovered
// from the escaped paths.
func TestDuckDBReadsOutput(t *testing.T) {
	duckDBModules(t) // skip before writing anything
	dir := t.TempDir()
	h := newHarness[hiveRow](t, 3)
	regions := []string{"eu/west", "us=1", "", "100% \"q\" 'a' %2F", "ü:#?", "x\ty"}
	err := parquetsink.WritePartitioned(h.s, dir,
		parquetsink.PartitionBy([]string{"region", "day"}, func(r hiveRow) []string { return []string{r.Region, r.Day} }),
		parquetsink.MaxFileRows(3))
	if err != nil {
		t.Fatal(err)
	}
	var rows []hiveRow
	for _, r := range makeAllTypes(0, 30) { // ids < 32: the blobs print as \x escapes only
		rows = append(rows, hiveRow{
			ID: r.ID, I32: r.I32, F32: r.F32, F64: r.F64, Flag: r.Flag, Name: r.Name, Blob: r.Blob,
			At: r.At, AtMicro: r.AtMicro, Opt: r.Opt, OptName: r.OptName, Tags: r.Tags, Attrs: r.Attrs,
			Region: regions[r.ID%int64(len(regions))],
			Day:    fmt.Sprintf("2024-01-%02d", 1+r.ID%4),
		})
	}
	h.q.Push(rows[:17])
	h.q.Push(rows[17:])
	h.start()
	h.mustStep()
	h.mustStep()
	h.stop()

	res := readDuckDB(t, dir, "id")
	types := map[string]string{}
	for _, c := range res.Columns {
		types[c.Name] = c.Type
	}
	wantTypes := map[string]string{
		"id": "BIGINT", "i32": "INTEGER", "f32": "FLOAT", "f64": "DOUBLE", "flag": "BOOLEAN",
		"name": "VARCHAR", "blob": "BLOB", "at": "TIMESTAMP WITH TIME ZONE", "at_us": "TIMESTAMP WITH TIME ZONE",
		"opt": "BIGINT", "opt_name": "VARCHAR", "tags": "VARCHAR[]", "attrs": "MAP(VARCHAR, INTEGER)",
		"region": "VARCHAR", "day": "DATE",
	}
	if !maps.Equal(types, wantTypes) {
		t.Errorf("DuckDB column types:\n got %v\nwant %v", types, wantTypes)
	}
	if len(res.Rows) != len(rows) {
		t.Fatalf("DuckDB read %d rows, want %d", len(res.Rows), len(rows))
	}
	for i, raw := range res.Rows {
		var got duckRow
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("row %d %s: %v", i, raw, err)
		}
		want := rows[i]
		if err := compareDuckRow(got, want); err != nil {
			t.Errorf("row %d: %v\n got %s\nwant %+v", i, err, raw, want)
		}
	}
}

func compareDuckRow(got duckRow, want hiveRow) error {
	ts := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04:05.999999999-07", s)
		if err != nil {
			return time.Time{}
		}
		return v
	}
	blob := ""
	for _, c := range want.Blob {
		blob += fmt.Sprintf(`\x%02X`, c)
	}
	var region *string
	if want.Region != "" {
		region = &want.Region
	}
	var opt *string
	if want.Opt != nil {
		s := strconv.FormatInt(*want.Opt, 10)
		opt = &s
	}
	attrs := map[string]int32{}
	for _, kv := range got.Attrs {
		attrs[kv.Key] = kv.Value
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"id", got.ID, strconv.FormatInt(want.ID, 10)},
		{"i32", got.I32, want.I32},
		{"f32", got.F32, want.F32},
		{"f64", got.F64, want.F64},
		{"flag", got.Flag, want.Flag},
		{"name", got.Name, want.Name},
		{"blob", got.Blob, blob},
		{"at", ts(got.At).UnixMilli(), want.At.UnixMilli()},
		{"at_us", ts(got.AtMicro).UnixMicro(), want.AtMicro.UnixMicro()},
		{"opt", got.Opt, opt},
		{"opt_name", got.OptName, want.OptName},
		{"tags", got.Tags, want.Tags},
		{"attrs", attrs, want.Attrs},
		{"region", got.Region, region},
		{"day", got.Day, want.Day},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			return fmt.Errorf("column %s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
	return nil
}
