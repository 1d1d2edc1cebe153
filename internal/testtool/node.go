package testtool

import (
	"os"
	"path/filepath"
	"testing"
)

// NodeModules returns the node_modules directory holding the npm package
// pkg, which scripts/test.sh installs under .tools/<tool>/node_modules in
// the repository and names in the environment variable env. It skips the
// test when the package is not installed, and fails it under CI=true.
func NodeModules(t testing.TB, env, tool, pkg string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv(env); d != "" {
		dirs = append(dirs, d)
	}
	if root, ok := RepoRoot(); ok {
		dirs = append(dirs, filepath.Join(root, ".tools", tool, "node_modules"))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, filepath.FromSlash(pkg), "package.json")); err == nil {
			abs, err := filepath.Abs(d)
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	hint := "npm install --prefix .tools/" + tool + " " + pkg + ", as scripts/test.sh does"
	if os.Getenv("CI") == "true" {
		t.Fatalf("npm package %s is not installed in %q (%s); under CI=true the tests need every tool", pkg, dirs, hint)
	}
	t.Skipf("npm package %s is not installed in %q (%s); run the README's test command to install it", pkg, dirs, hint)
	return ""
}

// RepoRoot finds the repository root, the directory holding go.mod,
// walking up from the working directory (a test's package directory).
func RepoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
