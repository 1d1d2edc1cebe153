// Package proctest builds the project's commands and runs them as
// subprocesses in tests: the acceptance tests of the example applications
// drive the real binaries, with their flags, signals and exit statuses.
package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/testtool"
)

var (
	mu     sync.Mutex
	built  = map[string]string{} // package -> binary
	binDir string
)

// Build builds the command in pkg (a path relative to the repository
// root, like "./examples/wordcount") once per test process and returns the
// binary's path. The binaries go to a temporary directory that is removed
// when the process exits through Main.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	goBin, err := exec.LookPath("go") // scripts/test.sh puts it on PATH
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	root, ok := testtool.RepoRoot()
	if !ok {
		t.Fatal("cannot find the repository root (go.mod) above the working directory")
	}
	if binDir == "" {
		if binDir, err = os.MkdirTemp("", "proctest-bin-"); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(binDir, filepath.Base(pkg))
	cmd := exec.Command(goBin, "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s build -o %s %s: %v\n%s", goBin, bin, pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// Main runs the tests and removes the binaries Build made; call it from
// TestMain: func TestMain(m *testing.M) { proctest.Main(m) }.
func Main(m interface{ Run() int }) {
	code := m.Run()
	mu.Lock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	mu.Unlock()
	os.Exit(code)
}

// Proc is a running subprocess.
type Proc struct {
	Name           string
	Cmd            *exec.Cmd
	Stdout, Stderr *testtool.Buffer
	done           chan struct{} // closed when it has exited; err is then set
	err            error
}

// Start starts bin with args; the test's cleanup kills it if it is still
// running.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, exec.Command(bin, args...))
}

// StartCmd starts cmd (whose Stdout and Stderr it sets) like Start.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Name: filepath.Base(cmd.Path), Cmd: cmd, Stdout: new(testtool.Buffer), Stderr: new(testtool.Buffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	t.Logf("started %s %s", p.Name, strings.Join(cmd.Args[1:], " "))
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.Cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Run runs bin with args to its end and returns its stdout, stderr and
// exit status (-1 when it was killed after timeout, which fails the test).
func Run(t testing.TB, timeout time.Duration, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := Start(t, bin, args...)
	code = p.ExitCode(t, timeout)
	return p.Stdout.String(), p.Stderr.String(), code
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the error of the process's Wait; valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Output returns what the process printed, for failure messages.
func (p *Proc) Output() string {
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", p.Stdout.String(), p.Stderr.String())
}

// WaitFor polls b (the process's Stdout or Stderr) until re matches its
// contents and returns the submatches; it fails the test after timeout or
// when the process ends without printing it.
func (p *Proc) WaitFor(t testing.TB, b *testtool.Buffer, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(b.String()); m != nil {
				return m
			}
			t.Fatalf("%s exited (%v) before printing %q\n%s", p.Name, p.err, re, p.Output())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v\n%s", p.Name, re, timeout, p.Output())
		}
	}
}

// Wait waits for the process to exit by itself and fails the test, after
// killing it, if it has not within timeout or if it did not exit with
// status 0.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) {
	t.Helper()
	p.ExitCode(t, timeout)
	if p.err != nil {
		t.Fatalf("%s: %v\n%s", p.Name, p.err, p.Output())
	}
}

// Stop sends SIGTERM and waits, like Wait, for a clean exit.
func (p *Proc) Stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-p.done: // already gone; Wait reports how it ended
		default:
			t.Fatalf("SIGTERM to %s: %v", p.Name, err)
		}
	}
	p.Wait(t, timeout)
}

// Kill kills the process with SIGKILL and waits for it to be gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	p.Cmd.Process.Kill()
	<-p.done
}

// ExitCode waits up to timeout for the process to exit by itself and
// returns its exit status; it fails the test, after killing it, if it is
// still running then.
func (p *Proc) ExitCode(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s still running after %v; killed\n%s", p.Name, timeout, p.Output())
	}
	return p.Cmd.ProcessState.ExitCode()
}

// RunKilled starts bin with args, kills it with SIGKILL after the given
// time, as a crash would, and returns what it had printed on standard
// error.
func RunKilled(t testing.TB, after time.Duration, bin string, args ...string) (stderr string) {
	t.Helper()
	p := Start(t, bin, args...)
	time.Sleep(after)
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		select {
		case <-p.done: // it had already exited; its output tells why
		default:
			t.Fatalf("SIGKILL to %s: %v", p.Name, err)
		}
	}
	<-p.done
	return p.Stderr.String()
}
