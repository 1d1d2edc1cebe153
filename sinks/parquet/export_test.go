package parquetsink

import "time"

// SetNow sets the clock that Rotation.Interval is measured on, for tests
// that run hours of batches on a manual clock.
func SetNow[T any](s *Sink[T], now func() time.Time) { s.now = now }
