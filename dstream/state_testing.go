package dstream

// This file lets tests drive a MapWithState function by hand, outside a
// running job: State's fields are unexported, so only this package can
// make one or read what the function did with it. Package dstreamtest
// wraps both functions.

// NewState returns the State of one key as MapWithState hands it to its
// function, for unit tests of such a function outside a running job: the
// key has value as its state if exists is true (otherwise value is
// ignored), and timingOut makes the call the key's last one, whose state
// is being removed for idleness (IsTimingOut reports true; the engine
// passes only existing states so). Use InspectState after the call to see
// what the function did. Jobs never need it.
func NewState[S any](value S, exists, timingOut bool) *State[S] {
	s := &State[S]{}
	if !exists {
		var zero S
		value = zero
	}
	s.wrap(value, exists)
	s.timingOut = timingOut
	return s
}

// InspectState reports what a MapWithState function did with s, a State
// from NewState: whether it set the state (Update, not followed by
// Remove), whether it removed it, and its first misuse of s (Update or
// Remove while timing out or after Remove: ErrStateTimingOut or
// ErrStateRemoved), which in a running job fails the batch. The state's
// value after the call is read with s.GetOption. It is meant for tests.
func InspectState[S any](s *State[S]) (updated, removed bool, misuse error) {
	return s.updated, s.removed, s.misuse
}
