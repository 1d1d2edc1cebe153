// Package readmetest runs the README's library example as printed.
package readmetest

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/internal/testtool"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// exampleBlock returns the first Go code block after the "## Example"
// heading of the README.
func exampleBlock(t *testing.T, readme string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n## Example\n")
	if !ok {
		t.Fatal("the README has no \"## Example\" section")
	}
	_, code, ok := strings.Cut(after, "```go\n")
	if !ok {
		t.Fatal("the README's Example section has no Go code block")
	}
	code, _, ok = strings.Cut(code, "```")
	if !ok {
		t.Fatal("the README's Go code block does not end")
	}
	if !strings.HasPrefix(code, "package main\n") {
		t.Fatalf("the README's example is not a whole program (package main):\n%s", code)
	}
	return code
}

// The README's example, saved as printed, builds and counts the words of
// the lines a TCP server sends, in windows, until SIGINT stops it with
// status 0.
func TestReadmeExample(t *testing.T) {
	root, ok := testtool.RepoRoot()
	if !ok {
		t.Fatal("cannot find the repository root")
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	code := exampleBlock(t, string(readme))
	// Inside the module, so that its imports resolve to this checkout;
	// testdata is left out of ./... patterns.
	parent := filepath.Join(root, "internal", "readmetest", "testdata")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(parent, "example-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	bin := proctest.Build(t, "./"+filepath.ToSlash(rel))

	// The server the example reads: "a b a" every 100 ms.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		w := bufio.NewWriter(conn)
		for {
			if _, err := w.WriteString("a b a\n"); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	p := proctest.Start(t, bin, ln.Addr().String())
	// Spark's print format, (word,count) lines under a "Time: <ms> ms"
	// header. A batch holds about 10 lines, 20 a's: 100 or more a's are
	// the window summing batches.
	p.WaitFor(t, p.Stdout, regexp.MustCompile(`(?m)^Time: \d+ ms\n-+\n(\(\w,\d+\)\n)?\(a,[1-9]\d{2,}\)$`), 30*time.Second)
	if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if status := p.ExitCode(t, 20*time.Second); status != 0 {
		t.Fatalf("the example exited with status %d after SIGINT\n%s", status, p.Output())
	}
}
