package proctest

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Copies are copies of one program running at once, as the instances of
// a job in one consumer group are: a copy that exits on its own is
// restarted, as a supervisor (systemd's Restart=on-failure) would, but
// only when its standard error matches Expected, the one reason a copy
// may exit by itself; otherwise the test fails.
type Copies struct {
	T        testing.TB
	Bin      string
	Args     []string
	Expected *regexp.Regexp
	// Restarts counts the copies restarted after exiting on their own.
	Restarts int

	procs []*Proc
}

// Start starts copy i (again).
func (c *Copies) Start(i int) {
	c.T.Helper()
	for len(c.procs) <= i {
		c.procs = append(c.procs, nil)
	}
	c.procs[i] = Start(c.T, c.Bin, c.Args...)
}

// Proc returns copy i's process.
func (c *Copies) Proc(i int) *Proc { return c.procs[i] }

// Stop stops copy i with SIGTERM, which must end it cleanly within
// timeout, unless it had failed for the Expected reason (it exits with
// its failure's status then: a copy fenced just before the stop).
func (c *Copies) Stop(i int, timeout time.Duration) {
	c.T.Helper()
	p := c.procs[i]
	c.procs[i] = nil
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-p.done:
		default:
			c.T.Fatalf("SIGTERM to copy %d: %v", i, err)
		}
	}
	code := p.ExitCode(c.T, timeout)
	switch {
	case code == 0 && p.Err() == nil:
	case c.Expected.MatchString(p.Stderr.String()):
		c.T.Logf("copy %d exited with status %d as it was stopped, for %q", i, code, c.Expected)
	default:
		c.T.Errorf("copy %d: %v\n%s", i, p.Err(), p.Output())
	}
}

// Kill kills copy i with SIGKILL.
func (c *Copies) Kill(i int) {
	c.T.Helper()
	c.procs[i].Kill(c.T)
	c.procs[i] = nil
}

// Signal sends sig to copy i.
func (c *Copies) Signal(i int, sig syscall.Signal) {
	c.T.Helper()
	if err := c.procs[i].Cmd.Process.Signal(sig); err != nil {
		c.T.Fatalf("%v to copy %d: %v", sig, i, err)
	}
}

// Supervise restarts the copies that have exited on their own.
func (c *Copies) Supervise() {
	c.T.Helper()
	for i, p := range c.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.Done():
		default:
			continue
		}
		if !c.Expected.MatchString(p.Stderr.String()) {
			c.T.Errorf("copy %d exited on its own (%v), not for %q:\n%s", i, p.Err(), c.Expected, Tail(p.Stderr.String(), 30))
		} else {
			c.T.Logf("copy %d exited for %q (%v); restarting it", i, c.Expected, p.Err())
		}
		c.Restarts++
		c.Start(i)
	}
}

// Sleep waits d, supervising the copies.
func (c *Copies) Sleep(d time.Duration) {
	c.T.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		c.Supervise()
		time.Sleep(50 * time.Millisecond)
	}
}

// StopAll stops every running copy with SIGTERM.
func (c *Copies) StopAll(timeout time.Duration) {
	c.T.Helper()
	for i, p := range c.procs {
		if p != nil {
			c.Stop(i, timeout)
		}
	}
}

// Logs returns the last lines of every copy's standard error but its
// progress lines (those starting with "batch "), for a failure message.
func (c *Copies) Logs() string {
	var b strings.Builder
	for i, p := range c.procs {
		if p == nil {
			continue
		}
		var kept []string
		for _, l := range strings.Split(p.Stderr.String(), "\n") {
			if !strings.HasPrefix(l, "batch ") {
				kept = append(kept, l)
			}
		}
		b.WriteString("copy " + strconv.Itoa(i) + ":\n" + Tail(strings.Join(kept, "\n"), 40) + "\n")
	}
	return b.String()
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ChurnOptions shape Churn.
type ChurnOptions struct {
	// FirstBatch matches the first copy's output once it has processed
	// input; the others start then.
	FirstBatch *regexp.Regexp
	// Paused is how long a copy is stopped with SIGSTOP: longer than the
	// group's session timeout, so that it comes back a zombie.
	Paused time.Duration
}

// Churn runs copies 0 to 2 of c through the churn of a consumer group,
// while input arrives: copy 0 starts; 1 and 2 join; 1 leaves with
// SIGTERM and comes back; 2 is SIGKILLed and restarted; 0 is SIGSTOPped
// for o.Paused and SIGCONTed. It returns with the copies running,
// supervised until then.
func Churn(c *Copies, o ChurnOptions) {
	t := c.T
	t.Helper()
	c.Start(0)
	c.Proc(0).WaitFor(t, c.Proc(0).Stderr, o.FirstBatch, 60*time.Second)
	c.Start(1)
	c.Sleep(2 * time.Second)
	c.Start(2)
	c.Sleep(2 * time.Second)

	t.Log("SIGTERM copy 1, and start it again")
	c.Stop(1, 30*time.Second)
	c.Sleep(time.Second)
	c.Start(1)
	c.Sleep(2 * time.Second)

	t.Log("SIGKILL copy 2, and restart it")
	c.Kill(2)
	c.Start(2)
	c.Sleep(2 * time.Second)

	t.Logf("SIGSTOP copy 0 for %v, past its session timeout", o.Paused)
	c.Signal(0, syscall.SIGSTOP)
	time.Sleep(o.Paused)
	t.Log("SIGCONT copy 0: a zombie")
	c.Signal(0, syscall.SIGCONT)
}

// Runs is how many times a churn or soak test runs: the positive number
// in the environment variable name, else 1 (one pass stays in every test
// run; repetitions are asked for).
func Runs(t testing.TB, name string) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return 1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// Until supervises the copies until done reports true, and fails the
// test, with the copies' logs, when timeout passes first; done's state
// says how far they got.
func (c *Copies) Until(timeout time.Duration, done func() (ok bool, state string)) {
	c.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.Supervise()
		ok, state := done()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.T.Log(c.Logs())
			c.T.Fatalf("the copies did not catch up within %v: %s", timeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
