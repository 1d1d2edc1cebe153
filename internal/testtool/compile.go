package testtool

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// MustNotCompile checks that the program in dir (a directory under
// testdata, which go build ./... skips) does not compile, and why: the
// compiler must report a type mismatch naming wrongType on every line
// marked with a "// WANT <what>" comment, and no error on any other line.
// It is how a test pins that a callback of the wrong type is a compile
// error rather than a run-time one. It runs the go command, so it is
// skipped with -short.
func MustNotCompile(t *testing.T, dir, wrongType string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the compiler")
	}
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{} // line -> what the line gets wrong
	for i, line := range strings.Split(string(src), "\n") {
		if _, mark, ok := strings.Cut(line, "// WANT "); ok {
			want[i+1] = mark
		}
	}
	if len(want) == 0 {
		t.Fatalf("%s has no line marked // WANT", main)
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, "./"+filepath.ToSlash(dir))
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s compiled:\n%s", dir, out)
	}
	errs := map[int]string{} // line -> the compiler's errors on it
	for _, l := range strings.Split(string(out), "\n") {
		_, rest, ok := strings.Cut(l, "main.go:")
		if !ok {
			continue
		}
		lineNo, msg, _ := strings.Cut(rest, ":")
		if n, err := strconv.Atoi(lineNo); err == nil {
			errs[n] += msg
		}
	}
	for line, mark := range want {
		msg := errs[line]
		mismatch := strings.Contains(msg, "cannot use") || strings.Contains(msg, "does not match") ||
			strings.Contains(msg, "mismatch") || strings.Contains(msg, "does not satisfy") || strings.Contains(msg, "cannot infer")
		if !mismatch || !strings.Contains(msg, wrongType) {
			t.Errorf("line %d (%s): compiler error %q, want a type mismatch naming %s; output:\n%s", line, mark, msg, wrongType, out)
		}
	}
	if got := slices.Sorted(maps.Keys(errs)); len(got) != len(want) {
		t.Errorf("errors on lines %v, want them on the %d WANT lines only; output:\n%s", got, len(want), out)
	}
}
