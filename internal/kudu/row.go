package kudu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// OpType is RowOperationsPB.Type (src/kudu/common/row_operations.proto).
type OpType uint8

// Row operation types.
const (
	OpInsert       OpType = 1
	OpUpdate       OpType = 2
	OpDelete       OpType = 3
	OpUpsert       OpType = 5
	OpInsertIgnore OpType = 10
	OpUpdateIgnore OpType = 11
	OpDeleteIgnore OpType = 12
	OpUpsertIgnore OpType = 13

	opSplitRow        OpType = 4
	opRangeLowerBound OpType = 6 // inclusive
	opRangeUpperBound OpType = 7 // exclusive
)

var opNames = map[OpType]string{
	OpInsert: "INSERT", OpUpdate: "UPDATE", OpDelete: "DELETE", OpUpsert: "UPSERT",
	OpInsertIgnore: "INSERT_IGNORE", OpUpdateIgnore: "UPDATE_IGNORE",
	OpDeleteIgnore: "DELETE_IGNORE", OpUpsertIgnore: "UPSERT_IGNORE",
	opSplitRow: "SPLIT_ROW", opRangeLowerBound: "RANGE_LOWER_BOUND", opRangeUpperBound: "RANGE_UPPER_BOUND",
}

// String returns the Kudu name of the operation type.
func (t OpType) String() string {
	if n, ok := opNames[t]; ok {
		return n
	}
	return fmt.Sprintf("op(%d)", uint8(t))
}

func (t OpType) isDelete() bool { return t == OpDelete || t == OpDeleteIgnore }

// ErrInvalidRow is wrapped by client-side row validation errors: a value of
// the wrong type or out of its type's range (a DATE outside 0001-01-01 to
// 9999-12-31), a null in a non-nullable column, an unset key column, a
// cell above the size limit.
var ErrInvalidRow = errors.New("kudu: invalid row")

// ErrUnsupported is wrapped by errors about Kudu features this client does
// not implement (decimal values, custom per-range hash schemas, ...).
var ErrUnsupported = errors.New("kudu: unsupported")

// Row holds column values for one row of a schema. Values are checked
// against the column type when set. A Row is not safe for concurrent
// mutation.
type Row struct {
	schema *Schema
	isset  []byte // bitmap, bit i%8 of byte i/8
	null   []byte // bitmap, nil if the schema has no nullable column
	fixed  []uint64
	varlen [][]byte
	err    error // first error from a setter
}

// NewRow returns an empty row of the schema (used for range bounds and
// split rows in CreateTable; use Table.NewUpsert etc. for writes).
func (s *Schema) NewRow() *Row {
	r := &Row{schema: s}
	r.init()
	return r
}

func (r *Row) init() {
	s := r.schema
	n := s.bitmapLen()
	if s.hasNullable {
		bm := make([]byte, 2*n)
		r.isset, r.null = bm[:n:n], bm[n:]
	} else {
		r.isset = make([]byte, n)
	}
	r.fixed = make([]uint64, len(s.cols))
	if s.hasVarLen {
		r.varlen = make([][]byte, len(s.cols))
	}
}

// Schema returns the row's schema.
func (r *Row) Schema() *Schema { return r.schema }

// Err returns the first error any setter returned, or nil.
func (r *Row) Err() error { return r.err }

func (r *Row) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return err
}

// IsSet reports whether column i has been set (possibly to null).
func (r *Row) IsSet(i int) bool { return r.isset[i/8]&(1<<(i%8)) != 0 }

// IsNull reports whether column i is set to null.
func (r *Row) IsNull(i int) bool { return r.null != nil && r.null[i/8]&(1<<(i%8)) != 0 }

// Set sets the named column. See SetIndex for accepted Go types.
func (r *Row) Set(name string, v any) error {
	i := r.schema.ColumnIndex(name)
	if i < 0 {
		return r.fail(fmt.Errorf("%w: no column %q", ErrInvalidRow, name))
	}
	return r.SetIndex(i, v)
}

// SetNull sets the named column to null.
func (r *Row) SetNull(name string) error { return r.Set(name, nil) }

// SetIndex sets column i. Accepted values, by column type:
//
//   - int8/16/32/64: any Go integer type, if the value fits
//   - bool: bool
//   - float: float32, or float64
//   - double: float64 or float32
//   - string, varchar: string or []byte
//   - binary: []byte or string
//   - unixtime_micros: time.Time, or an integer of microseconds
//   - date: time.Time (its UTC date), or an integer of days since 1970-01-01,
//     from 0001-01-01 to 9999-12-31 (days -719162 to 2932896), the range
//     of Kudu's DATE type
//   - nil: null (nullable columns only)
//
// []byte values are not copied; do not modify them until Apply returns. An
// error is also remembered and reported by Apply for this row.
func (r *Row) SetIndex(i int, v any) error {
	s := r.schema
	if i < 0 || i >= len(s.cols) {
		return r.fail(fmt.Errorf("%w: column index %d out of range", ErrInvalidRow, i))
	}
	c := &s.cols[i]
	bit := byte(1) << (i % 8)
	if v == nil {
		if !c.Nullable {
			return r.fail(fmt.Errorf("%w: column %q is not nullable", ErrInvalidRow, c.Name))
		}
		r.isset[i/8] |= bit
		r.null[i/8] |= bit
		if r.varlen != nil {
			r.varlen[i] = nil
		}
		return nil
	}
	if c.Type.varLen() {
		var b []byte
		switch x := v.(type) {
		case string:
			b = []byte(x)
		case []byte:
			if x == nil {
				x = []byte{}
			}
			b = x
		default:
			return r.fail(typeError(c, v))
		}
		r.varlen[i] = b
	} else {
		u, err := fixedValue(c, v)
		if err != nil {
			return r.fail(err)
		}
		r.fixed[i] = u
	}
	r.isset[i/8] |= bit
	if r.null != nil {
		r.null[i/8] &^= bit
	}
	return nil
}

func typeError(c *Column, v any) error {
	return fmt.Errorf("%w: column %q of type %v cannot hold %T", ErrInvalidRow, c.Name, c.Type, v)
}

// asInt64 converts any Go integer to int64; ok is false for other types
// and for uint64 values above MaxInt64.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	}
	return 0, false
}

// The range of Kudu's DATE type, in days since 1970-01-01: 0001-01-01 to
// 9999-12-31 (kMinDate and kMaxDate in Kudu's types.h). Kudu's
// KuduPartialRow::SetDate refuses a value outside it; a tablet server
// stores one, which Kudu's Java client then cannot read back.
const (
	minDate = -719162
	maxDate = 2932896
)

// dateRange states the DATE range in errors.
const dateRange = "Kudu's DATE range is 0001-01-01 to 9999-12-31 (days -719162 to 2932896 since 1970-01-01)"

// fixedValue converts v to the bits stored for a fixed-width column.
func fixedValue(c *Column, v any) (uint64, error) {
	intIn := func(lo, hi int64) (uint64, error) {
		n, ok := asInt64(v)
		if !ok {
			return 0, typeError(c, v)
		}
		if n < lo || n > hi {
			return 0, fmt.Errorf("%w: value %d out of range for column %q of type %v", ErrInvalidRow, n, c.Name, c.Type)
		}
		return uint64(n), nil
	}
	switch c.Type {
	case TypeInt8:
		return intIn(math.MinInt8, math.MaxInt8)
	case TypeInt16:
		return intIn(math.MinInt16, math.MaxInt16)
	case TypeInt32:
		return intIn(math.MinInt32, math.MaxInt32)
	case TypeInt64:
		return intIn(math.MinInt64, math.MaxInt64)
	case TypeUnixtimeMicros:
		if t, ok := v.(time.Time); ok {
			return uint64(t.UnixMicro()), nil
		}
		return intIn(math.MinInt64, math.MaxInt64)
	case TypeDate:
		if t, ok := v.(time.Time); ok {
			y, m, d := t.UTC().Date()
			days := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
			if days < minDate || days > maxDate {
				return 0, fmt.Errorf("%w: date %04d-%02d-%02d (the UTC date of %v, day %d) out of range for column %q of type %v: %s",
					ErrInvalidRow, y, int(m), d, t, days, c.Name, c.Type, dateRange)
			}
			return uint64(days), nil
		}
		n, ok := asInt64(v)
		if !ok {
			return 0, typeError(c, v)
		}
		if n < minDate || n > maxDate {
			return 0, fmt.Errorf("%w: day %d out of range for column %q of type %v: %s",
				ErrInvalidRow, n, c.Name, c.Type, dateRange)
		}
		return uint64(n), nil
	case TypeBool:
		if b, ok := v.(bool); ok {
			if b {
				return 1, nil
			}
			return 0, nil
		}
	case TypeFloat:
		switch x := v.(type) {
		case float32:
			return uint64(math.Float32bits(x)), nil
		case float64:
			return uint64(math.Float32bits(float32(x))), nil
		}
	case TypeDouble:
		switch x := v.(type) {
		case float64:
			return math.Float64bits(x), nil
		case float32:
			return math.Float64bits(float64(x)), nil
		}
	default:
		return 0, fmt.Errorf("%w: column %q of type %v cannot be set by this client", ErrUnsupported, c.Name, c.Type)
	}
	return 0, typeError(c, v)
}

// validate checks the row for an operation before it is sent.
func (r *Row) validate(op OpType, maxCell int) error {
	if r.err != nil {
		return r.err
	}
	s := r.schema
	for i := 0; i < s.numKeys; i++ {
		if !r.IsSet(i) {
			return fmt.Errorf("%w: key column %q is not set", ErrInvalidRow, s.cols[i].Name)
		}
		if r.IsNull(i) {
			return fmt.Errorf("%w: key column %q is null", ErrInvalidRow, s.cols[i].Name)
		}
	}
	if op.isDelete() {
		return nil // only the key is sent
	}
	for i := range s.cols {
		c := &s.cols[i]
		if !r.IsSet(i) {
			continue
		}
		if r.IsNull(i) {
			if !c.Nullable {
				return fmt.Errorf("%w: column %q is not nullable", ErrInvalidRow, c.Name)
			}
			continue
		}
		if !c.Type.settable() {
			return fmt.Errorf("%w: column %q of type %v", ErrUnsupported, c.Name, c.Type)
		}
		if c.Type.varLen() {
			v := r.varlen[i]
			if maxCell > 0 && len(v) > maxCell {
				return fmt.Errorf("%w: column %q value of %d bytes exceeds the cell size limit of %d bytes",
					ErrInvalidRow, c.Name, len(v), maxCell)
			}
			if c.Type == TypeVarchar && c.Length > 0 && utf8.RuneCount(v) > int(c.Length) {
				return fmt.Errorf("%w: column %q value has %d characters, more than varchar(%d)",
					ErrInvalidRow, c.Name, utf8.RuneCount(v), c.Length)
			}
		}
	}
	return nil
}

// encodedSize returns the bytes the row takes in rows and in indirect data.
func (r *Row) encodedSize(op OpType) (rows, indirect int) {
	s := r.schema
	n := s.bitmapLen()
	rows = 1 + n
	if s.hasNullable {
		rows += n
	}
	last := len(s.cols)
	if op.isDelete() {
		last = s.numKeys
	}
	for i := 0; i < last; i++ {
		if !r.IsSet(i) || r.IsNull(i) {
			continue
		}
		t := s.cols[i].Type
		rows += t.size()
		if t.varLen() {
			indirect += len(r.varlen[i])
		}
	}
	return rows, indirect
}

// appendRow appends the row operation to rows and its variable-length
// values to indirect (offsets are relative to the start of indirect):
//
//	op byte | isset bitmap | null bitmap (if any column is nullable) |
//	values of set, non-null columns in schema order (fixed width little-endian;
//	string/binary as uint64 offset + uint64 length into indirect)
//
// DELETE operations carry only the key columns.
func (r *Row) appendRow(rows, indirect []byte, op OpType) ([]byte, []byte) {
	s := r.schema
	rows = append(rows, byte(op))
	last := len(s.cols)
	if op.isDelete() {
		last = s.numKeys
		start := len(rows)
		rows = append(rows, r.isset...)
		clearFrom(rows[start:], last)
		if s.hasNullable {
			start = len(rows)
			rows = append(rows, r.null...)
			clearFrom(rows[start:], last)
		}
	} else {
		rows = append(rows, r.isset...)
		if s.hasNullable {
			rows = append(rows, r.null...)
		}
	}
	for i := 0; i < last; i++ {
		if !r.IsSet(i) || r.IsNull(i) {
			continue
		}
		t := s.cols[i].Type
		if t.varLen() {
			v := r.varlen[i]
			rows = binary.LittleEndian.AppendUint64(rows, uint64(len(indirect)))
			rows = binary.LittleEndian.AppendUint64(rows, uint64(len(v)))
			indirect = append(indirect, v...)
			continue
		}
		u := r.fixed[i]
		switch t.size() {
		case 1:
			rows = append(rows, byte(u))
		case 2:
			rows = binary.LittleEndian.AppendUint16(rows, uint16(u))
		case 4:
			rows = binary.LittleEndian.AppendUint32(rows, uint32(u))
		case 8:
			rows = binary.LittleEndian.AppendUint64(rows, u)
		}
	}
	return rows, indirect
}

// clearFrom clears bits from bit n on in bitmap bm.
func clearFrom(bm []byte, n int) {
	for i := n; i < len(bm)*8; i++ {
		bm[i/8] &^= 1 << (i % 8)
	}
}

// Operation is one row write: a Row plus the operation type. Build with
// Table.NewUpsert, NewInsert, ... and set values with the Row setters.
type Operation struct {
	Row
	Type OpType
}

// NewOperation returns an empty operation of type t for table schema s.
func (s *Schema) NewOperation(t OpType) *Operation {
	op := &Operation{Type: t}
	op.schema = s
	op.init()
	return op
}
