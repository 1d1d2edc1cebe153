//go:build linux

package dstream

import (
	"context"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// tickLead is how long before a tick the batch generator stops waiting on
// a Go timer and sleeps the rest in the kernel. Go's timers wake through
// the network poller, whose waits are whole milliseconds on Linux: a
// timer fires about half a millisecond late on average, and up to one,
// which at 10 ms batches is most of an empty batch's cost.
const tickLead = 2 * time.Millisecond

// tickThread readies the calling goroutine to wait for ticks precisely
// (tickWaiter):
// it keeps the goroutine on its own OS thread, never unlocked, so the
// thread ends with the goroutine, and lowers that thread's timer slack
// from the kernel's default of 50 µs to 1 µs. It reports whether it could.
func tickThread() bool {
	runtime.LockOSThread()
	// A failure leaves the default slack: still far closer than a Go timer.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	return true
}

// tickWaiter waits for ticks on the system clock: on a Go timer until
// tickLead before the tick, then in nanosleep(2) on the calling thread
// (see tickThread), which wakes within microseconds, until spinLead
// before it, then watching the clock. If the clock
// did not move while the thread slept (time is a testing/synctest
// bubble's, which a sleep in the kernel does not advance), it waits on Go
// timers alone from then on.
//
// soon, if not nil, is called about spinLead before each tick, on the
// precise path only: it wakes the batch runner, so that it is running when
// the batch comes.
//
// spin says whether to watch the clock for the last spinLead: only with
// more than one processor (GOMAXPROCS), since the watching thread holds
// one; without it the thread sleeps until the tick.
type tickWaiter struct {
	soon   func()
	spin   bool
	coarse bool
}

// spinLead is how long before a tick tickWaiter stops sleeping: it calls
// soon, then watches the clock until the tick. A thread asleep in the
// kernel takes tens of microseconds to run again once its sleep ends (on
// this project's virtual machines, 35-50 µs), as much as the rest of an
// empty batch; watching costs at most spinLead of CPU per tick, under 1 %
// of a core at 10 ms batches.
const spinLead = 80 * time.Microsecond

// wait waits until t, or until ctx is done.
func (w *tickWaiter) wait(ctx context.Context, t time.Time) error {
	if w.coarse {
		return systemClock{}.WaitUntil(ctx, t)
	}
	if err := (systemClock{}).WaitUntil(ctx, t.Add(-tickLead)); err != nil {
		return err
	}
	wake := t
	if w.spin {
		wake = t.Add(-spinLead)
	}
	for {
		before := time.Now()
		d := wake.Sub(before)
		if d <= 0 {
			break
		}
		ts := unix.NsecToTimespec(int64(d))
		err := unix.Nanosleep(&ts, nil)
		if err != nil && err != unix.EINTR || time.Since(before) < d/2 {
			w.coarse = true
			return systemClock{}.WaitUntil(ctx, t)
		}
	}
	if w.soon != nil {
		w.soon()
	}
	for i := 0; time.Now().Before(t); i++ {
		if i == 1<<20 { // the clock does not move: a synctest bubble
			w.coarse = true
			return systemClock{}.WaitUntil(ctx, t)
		}
	}
	return ctx.Err()
}
