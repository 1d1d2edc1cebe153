// Package avsctest encodes and decodes Avro datums with avsc (npm), an
// Avro implementation independent of hamba/avro, so that tests can check
// the bytes our applications write and read against a second reading of
// the specification. Values travel in Avro's JSON encoding
// (https://avro.apache.org/docs/current/specification/#json-encoding):
// unions as {"branch": value}, bytes as strings of code points 0-255.
// scripts/test.sh installs avsc; a test skips when it is missing, and
// fails under CI=true.
package avsctest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/microbatch-go/microbatch/internal/testtool"
)

//go:embed avsc.mjs
var script []byte

// Require skips the test (fails it under CI=true) when node or avsc is
// missing.
func Require(t testing.TB) (node, modules string) {
	t.Helper()
	node = testtool.Require(t, "node", "Debian's nodejs package")
	modules = testtool.NodeModules(t, "AVSC_NODE_MODULES", "avsc", "avsc")
	return node, modules
}

// Encode returns the raw binary datum of each value (in Avro's JSON
// encoding) under schema.
func Encode(t testing.TB, schema string, values []json.RawMessage) [][]byte {
	t.Helper()
	var out [][]byte
	run(t, "encode", schema, values, &out)
	return out
}

// Decoded is one datum as avsc decoded it: its value in Avro's JSON
// encoding, or the error avsc gave.
type Decoded struct {
	Value json.RawMessage
	Err   string
}

// Decode decodes each raw binary datum under schema.
func Decode(t testing.TB, schema string, datums [][]byte) []Decoded {
	t.Helper()
	var raw []json.RawMessage
	run(t, "decode", schema, datums, &raw)
	out := make([]Decoded, len(raw))
	for i, r := range raw {
		var e struct {
			Error *string `json:"error"`
		}
		if json.Unmarshal(r, &e) == nil && e.Error != nil {
			out[i].Err = *e.Error
			continue
		}
		out[i].Value = r
	}
	return out
}

func run(t testing.TB, mode, schema string, in, out any) {
	t.Helper()
	node, modules := Require(t)
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "avsc.mjs")
	schemaPath := filepath.Join(dir, "schema.avsc")
	if err := os.WriteFile(scriptPath, script, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(schemaPath, []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, scriptPath, modules, mode, schemaPath)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("avsc %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("avsc %s printed %q: %v", mode, b, err)
	}
}
