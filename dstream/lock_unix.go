//go:build unix

package dstream

import (
	"errors"
	"syscall"
)

// processGone reports whether no process with the id pid runs on this
// host: signal 0 checks that it exists without sending anything. A
// process of another user (EPERM) exists.
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
