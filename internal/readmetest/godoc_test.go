package readmetest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/microbatch-go/microbatch/internal/testtool"
)

// TestGoDocFromTheRoot runs `go doc ./dstream` at the repository's root
// the way a user of a fresh clone does: in the workspace (go.work joins
// the bench module), with no GOWORK set. It must print the package doc
// under its import path and nothing on stderr; go doc lists the
// workspace's modules to find import paths, which fails on a module the
// proxy does not serve unless go.work replaces it.
func TestGoDocFromTheRoot(t *testing.T) {
	root, ok := testtool.RepoRoot()
	if !ok {
		t.Fatal("cannot find the repository root")
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOWORK=") {
			env = append(env, kv)
		}
	}
	for _, args := range [][]string{{"doc", "./dstream"}, {"list", "-m", "all"}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		if args[0] == "doc" {
			first, _, _ := strings.Cut(string(out), "\n")
			if want := `package dstream // import "github.com/microbatch-go/microbatch/dstream"`; first != want {
				t.Errorf("go doc ./dstream starts with %q, want %q", first, want)
			}
		}
	}
}
