//go:build !unix

package dstream

// processGone reports whether no process with the id pid runs on this
// host. Without a portable way to tell, it says no, and a lock left by
// a crashed job is taken over once its heartbeat is older than the lock
// timeout.
func processGone(pid int) bool { return false }
