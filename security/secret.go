package security

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what a Secret shows instead of its value.
const redacted = "[redacted]"

// Secret holds a password or another credential that must never be printed
// or logged. Every way of showing it gives "[redacted]": fmt with any verb
// (%v, %+v, %#v, %s, %q, %x), String, GoString, log/slog (LogValue, in
// text and JSON), encoding/json and encoding.TextMarshaler. Only Reveal
// gives the value, for the one call that needs it.
//
// The value sits behind a pointer, so that even a Secret in an unexported
// field of a struct printed with %v, which fmt prints by reflection
// without calling Format, shows an address, not the value.
//
// The zero Secret is empty.
type Secret struct{ p *string }

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret { return Secret{p: &s} }

// Reveal returns the value. Call it only where the value is used, never
// to print it.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// Empty reports whether the Secret holds the empty string.
func (s Secret) Empty() bool { return s.Reveal() == "" }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (s Secret) GoString() string { return redacted }

// Format writes "[redacted]" whatever the verb and flags.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer: "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
