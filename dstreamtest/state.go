package dstreamtest

import "github.com/microbatch-go/microbatch/dstream"

// NewState returns the state of a key that has value as its state, as
// dstream.MapWithState hands it to its function, for calling the function
// directly in a unit test. ReadState then tells what the function did.
func NewState[S any](value S) *dstream.State[S] {
	return dstream.NewState(value, true, false)
}

// NoState returns the state of a key that has none yet: its first value.
func NoState[S any]() *dstream.State[S] {
	var zero S
	return dstream.NewState(zero, false, false)
}

// TimingOutState returns the state of a key that timed out with value as
// its state, for the function's last call for the key, which has no
// value: IsTimingOut reports true, and Update and Remove are errors.
func TimingOutState[S any](value S) *dstream.State[S] {
	return dstream.NewState(value, true, true)
}

// StateResult is what a MapWithState function left in its state, as
// ReadState reports it. It is comparable when S is.
type StateResult[S any] struct {
	// Exists and Value are the key's state after the call: Value is the
	// zero value when !Exists.
	Exists bool
	Value  S
	// Updated reports whether the function set the state with Update
	// (and did not remove it afterwards).
	Updated bool
	// Removed reports whether the function removed the state.
	Removed bool
	// TimingOut reports whether the call was the key's last, for a
	// timed-out state (TimingOutState).
	TimingOut bool
	// Err is the function's first misuse of the state, which fails the
	// batch in a running job: dstream.ErrStateTimingOut for Update or
	// Remove while timing out, dstream.ErrStateRemoved for either after
	// Remove. Nil when there was none.
	Err error
}

// ReadState returns what a MapWithState function did with s, a state from
// NewState, NoState or TimingOutState, after the call.
func ReadState[S any](s *dstream.State[S]) StateResult[S] {
	updated, removed, err := dstream.InspectState(s)
	v := s.GetOption()
	return StateResult[S]{
		Exists:    v.Valid,
		Value:     v.Value,
		Updated:   updated,
		Removed:   removed,
		TimingOut: s.IsTimingOut(),
		Err:       err,
	}
}
