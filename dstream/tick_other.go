//go:build !linux

package dstream

import (
	"context"
	"time"
)

// tickThread reports that ticks cannot be waited for more precisely than
// Go's timers wait here.
func tickThread() bool { return false }

// tickWaiter waits for ticks on the system clock's Go timers.
type tickWaiter struct {
	soon func()
	spin bool
}

// wait waits until t, or until ctx is done.
func (*tickWaiter) wait(ctx context.Context, t time.Time) error {
	return systemClock{}.WaitUntil(ctx, t)
}
