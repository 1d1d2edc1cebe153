package spot

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// ParseError is the error of the parsers: the line, or one of its
// columns, is not what the pipeline's tool prints.
type ParseError struct {
	Type   Type   // the pipeline
	Column string // the column at fault, or "" for the line as a whole
	Value  string // the column's text, cut to 64 bytes and "..." when longer
	Reason string // what is wrong
}

func (e *ParseError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s: %s", e.Type, e.Reason)
	}
	return fmt.Sprintf("%s: column %s: %q: %s", e.Type, e.Column, e.Value, e.Reason)
}

const maxErrValue = 64

func rowFieldError(t Type, col, val, reason string) error {
	if len(val) > maxErrValue {
		val = val[:maxErrValue] + "..."
	}
	return &ParseError{Type: t, Column: col, Value: val, Reason: reason}
}

func rowLineError(t Type, format string, args ...any) error {
	return &ParseError{Type: t, Reason: fmt.Sprintf(format, args...)}
}

var errRowNotNumber = errors.New("not a number")

// rowSplitN cuts line at its commas into out, which must hold exactly the
// number of fields expected; it reports the number of fields the line has
// when that is not len(out). One pass over the bytes: the fields are short,
// so a call of IndexByte per field costs more than it saves.
func rowSplitN(line string, out []string) (n int, ok bool) {
	if len(out) == 0 {
		return 0, false
	}
	last := len(out) - 1
	start := 0
	for i := 0; i < len(line); i++ {
		if line[i] != ',' {
			continue
		}
		if n == last {
			return len(out) + strings.Count(line[i+1:], ","), false
		}
		out[n] = line[start:i]
		n++
		start = i + 1
	}
	if n != last {
		return n + 1, false
	}
	out[n] = line[start:]
	return len(out), true
}

// rowParseUint parses a plain decimal: digits only, no sign, at most max.
func rowParseUint(s string, max uint64) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if len(s) > 20 {
		return 0, errors.New("out of range")
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, errRowNotNumber
		}
		if i == 19 && n > (math.MaxUint64-uint64(c))/10 { // only 20 digits can overflow
			return 0, errors.New("out of range")
		}
		n = n*10 + uint64(c)
	}
	if n > max {
		return 0, fmt.Errorf("out of range [0, %d]", max)
	}
	return n, nil
}

// rowParser parses the columns of one line, keeping the first error: once
// it has one, its methods do nothing.
type rowParser struct {
	t   Type
	err error
}

func (p *rowParser) uint(col, s string, hi uint64) uint64 {
	if p.err != nil {
		return 0
	}
	n, err := rowParseUint(s, hi)
	if err != nil {
		p.err = rowFieldError(p.t, col, s, err.Error())
	}
	return n
}

func (p *rowParser) int32(col, s string, lo, hi int32) int32 {
	if p.err != nil {
		return 0
	}
	n, err := rowParseUint(s, uint64(hi))
	if err == nil && n < uint64(lo) {
		err = fmt.Errorf("out of range [%d, %d]", lo, hi)
	}
	if err != nil {
		p.err = rowFieldError(p.t, col, s, err.Error())
		return 0
	}
	return int32(n)
}

func (p *rowParser) int64(col, s string) int64 {
	return int64(p.uint(col, s, math.MaxInt64))
}

// ip checks that s is an IP address (IPv4 or IPv6).
func (p *rowParser) ip(col, s string) string {
	if p.err != nil {
		return s
	}
	if _, err := netip.ParseAddr(s); err != nil {
		p.err = rowFieldError(p.t, col, s, "not an IP address")
	}
	return s
}

func (p *rowParser) nonEmpty(col, s string) string {
	if p.err == nil && s == "" {
		p.err = rowFieldError(p.t, col, s, "empty")
	}
	return s
}

// digits reports whether s is ASCII digits only (and not empty), and
// returns their value; callers bound the length.
func rowDigits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int(c)
	}
	return n, true
}

// daysIn returns the number of days of a month (1-12) of the proleptic
// Gregorian calendar.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// rowCivil is a date and time of day, checked for range.
type rowCivil struct{ year, month, day, hour, min, sec int }

// rowParseDate parses "YYYY-MM-DD"; rowParseClock "HH:MM:SS".
func rowParseDate(s string) (c rowCivil, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return c, false
	}
	var ok1, ok2, ok3 bool
	c.year, ok1 = rowDigits(s[0:4])
	c.month, ok2 = rowDigits(s[5:7])
	c.day, ok3 = rowDigits(s[8:10])
	if !ok1 || !ok2 || !ok3 || c.month < 1 || c.month > 12 || c.day < 1 || c.day > daysIn(c.year, c.month) {
		return c, false
	}
	return c, true
}

func rowParseClock(s string, c *rowCivil) bool {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return false
	}
	var ok1, ok2, ok3 bool
	c.hour, ok1 = rowDigits(s[0:2])
	c.min, ok2 = rowDigits(s[3:5])
	c.sec, ok3 = rowDigits(s[6:8])
	return ok1 && ok2 && ok3 && c.hour < 24 && c.min < 60 && c.sec < 60
}

func (c rowCivil) unix() int64 {
	return time.Date(c.year, time.Month(c.month), c.day, c.hour, c.min, c.sec, 0, time.UTC).Unix()
}
