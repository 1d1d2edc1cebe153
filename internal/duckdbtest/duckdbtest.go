// Package duckdbtest runs SQL with DuckDB (the npm package
// @duckdb/node-api, run by node) so that tests can read what the Parquet
// sink and the applications write with an implementation independent of
// parquet-go. scripts/test.sh installs it; a test skips when it is
// missing, and fails under CI=true.
package duckdbtest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/microbatch-go/microbatch/internal/testtool"
)

//go:embed duckdb_query.mjs
var script []byte

// Result is a query's result as DuckDB prints it in JSON.
type Result struct {
	Columns []Column          `json:"columns"`
	Rows    []json.RawMessage `json:"rows"`
}

// Column is a result column with its DuckDB type (BIGINT, VARCHAR, ...).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Require skips the test (fails it under CI=true) when node or
// @duckdb/node-api is missing, before the test does any work.
func Require(t testing.TB) (node, modules string) {
	t.Helper()
	node = testtool.Require(t, "node", "Debian's nodejs package")
	modules = testtool.NodeModules(t, "DUCKDB_NODE_MODULES", "duckdb", "@duckdb/node-api")
	return node, modules
}

// Query runs sql and returns its result; any failure fails the test.
func Query(t testing.TB, sql string) Result {
	t.Helper()
	node, modules := Require(t)
	path := filepath.Join(t.TempDir(), "duckdb_query.mjs")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, path, modules, sql)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb %q: %v\n%s", sql, err, stderr.String())
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("duckdb %q printed %q: %v", sql, out, err)
	}
	return res
}

// ReadParquet returns every row of the Parquet files under dir, read with
// hive_partitioning so that partition columns come back from the paths,
// ordered by the orderBy expression when it is not empty.
func ReadParquet(t testing.TB, dir, orderBy string) Result {
	t.Helper()
	sql := "SELECT * FROM " + ParquetTable(dir)
	if orderBy != "" {
		sql += " ORDER BY " + orderBy
	}
	return Query(t, sql)
}

// ParquetTable is the read_parquet table function over every Parquet file
// under dir, with Hive partitioning, for use in a query.
func ParquetTable(dir string) string {
	return "read_parquet(" + Quote(filepath.Join(dir, "**", "*.parquet")) + ", hive_partitioning = true)"
}

// Quote returns s as an SQL string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Ident returns s as a quoted SQL identifier.
func Ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
