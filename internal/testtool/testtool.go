// Package testtool finds the outside tools some tests need (kcat, nfdump,
// DuckDB, chromium). A missing tool skips the test with a message saying
// how to install it, except when CI=true, where it fails the test: the
// README's test command installs every tool, so CI always runs everything.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of the named program, or skips (fails under
// CI=true) the test when it is not installed. hint says how to install it.
func Require(t testing.TB, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (%s); under CI=true the tests need every tool", name, hint)
	}
	t.Skipf("%s is not installed (%s); run the README's test command to install it", name, hint)
	return ""
}
