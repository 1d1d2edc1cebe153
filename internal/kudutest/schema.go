package kudutest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
)

// column is one column of a schema (ColumnSchemaPB).
type column struct {
	name      string
	typ       DataType
	key       bool
	nullable  bool
	id        int32
	hasID     bool
	precision int32 // DECIMAL*: ColumnTypeAttributesPB.precision
	scale     int32 // DECIMAL*: ColumnTypeAttributesPB.scale
	length    int32 // VARCHAR: ColumnTypeAttributesPB.length
	def       []byte
	hasDef    bool // write_default_value is set: def is the raw cell
}

// schema is a table's or a client's schema (SchemaPB).
type schema struct {
	cols     []column
	nkeys    int
	nullable bool // any nullable column: row operations carry a null bitmap
	byName   map[string]int
}

// decodeSchema decodes a SchemaPB {columns=1}.
func decodeSchema(b []byte) (*schema, error) {
	fs, err := parseFields(b)
	if err != nil {
		return nil, err
	}
	s := &schema{byName: map[string]int{}}
	for _, f := range fs {
		if f.num != 1 {
			continue
		}
		cb, err := f.bytes()
		if err != nil {
			return nil, err
		}
		c, err := decodeColumn(cb)
		if err != nil {
			return nil, err
		}
		s.cols = append(s.cols, c)
	}
	return s, s.index()
}

// index fills in the derived fields and checks the structural rules every
// schema follows: unique non-empty names, key columns first, known types.
func (s *schema) index() error {
	s.byName = make(map[string]int, len(s.cols))
	s.nkeys, s.nullable = 0, false
	for i, c := range s.cols {
		if c.name == "" {
			return errors.New("column name must not be empty")
		}
		if _, dup := s.byName[c.name]; dup {
			return fmt.Errorf("duplicate column name %q", c.name)
		}
		s.byName[c.name] = i
		if c.typ.size() == 0 {
			return fmt.Errorf("column %q: unsupported type %v", c.name, c.typ)
		}
		if c.key {
			if i != s.nkeys {
				return fmt.Errorf("key column %q must come before non-key columns", c.name)
			}
			s.nkeys++
		}
		if c.nullable {
			s.nullable = true
		}
	}
	return nil
}

// validateTable checks the extra rules of a table schema (CreateTable):
// a primary key of keyable non-null columns, valid decimal attributes,
// and (kudutest's own rule, see dateOutOfRange) no DATE default outside
// Kudu's range.
func (s *schema) validateTable() error {
	if len(s.cols) == 0 {
		return errors.New("schema has no columns")
	}
	if s.nkeys == 0 {
		return errors.New("must specify at least one key column")
	}
	for _, c := range s.cols {
		if c.hasID {
			return errors.New("user requests should not have Column IDs")
		}
		if c.key && c.nullable {
			return fmt.Errorf("key column %q must not be nullable", c.name)
		}
		if c.key && !c.typ.keyable() {
			return fmt.Errorf("key column %q may not have type %v", c.name, c.typ)
		}
		switch c.typ {
		case TypeDecimal32, TypeDecimal64, TypeDecimal128:
			maxP := map[DataType]int32{TypeDecimal32: 9, TypeDecimal64: 18, TypeDecimal128: 38}[c.typ]
			if c.precision < 1 || c.precision > maxP || c.scale < 0 || c.scale > c.precision {
				return fmt.Errorf("column %q: invalid decimal precision %d / scale %d for %v", c.name, c.precision, c.scale, c.typ)
			}
		case TypeVarchar:
			if c.length < 1 || c.length > 65535 {
				return fmt.Errorf("column %q: invalid varchar length %d", c.name, c.length)
			}
		}
		if c.hasDef && !c.typ.varlen() && len(c.def) != c.typ.size() {
			return fmt.Errorf("column %q: default value has %d bytes, want %d", c.name, len(c.def), c.typ.size())
		}
		if c.hasDef {
			if msg := dateOutOfRange(&c, c.def); msg != "" {
				return errors.New("default " + msg)
			}
		}
	}
	return nil
}

// decodeColumn decodes a ColumnSchemaPB: id=1, name=2, type=3, is_key=4,
// is_nullable=5, read_default_value=6, write_default_value=7,
// type_attributes=11 {precision=1, scale=2, length=3},
// is_auto_incrementing=14, nested_type=15.
func decodeColumn(b []byte) (column, error) {
	fs, err := parseFields(b)
	if err != nil {
		return column{}, err
	}
	var c column
	var hasName, hasType bool
	for _, f := range fs {
		switch f.num {
		case 1:
			v, err := f.uint32v()
			if err != nil {
				return c, err
			}
			c.id, c.hasID = int32(v), true
		case 2:
			v, err := f.bytes()
			if err != nil {
				return c, err
			}
			c.name, hasName = string(v), true
		case 3:
			v, err := f.int32v()
			if err != nil {
				return c, err
			}
			c.typ, hasType = DataType(v), true
		case 4:
			if c.key, err = f.boolv(); err != nil {
				return c, err
			}
		case 5:
			if c.nullable, err = f.boolv(); err != nil {
				return c, err
			}
		case 7:
			v, err := f.bytes()
			if err != nil {
				return c, err
			}
			c.def, c.hasDef = append([]byte(nil), v...), true
		case 11:
			ab, err := f.bytes()
			if err != nil {
				return c, err
			}
			afs, err := parseFields(ab)
			if err != nil {
				return c, err
			}
			for _, af := range afs {
				v, err := af.int32v()
				if err != nil {
					return c, err
				}
				switch af.num {
				case 1:
					c.precision = v
				case 2:
					c.scale = v
				case 3:
					c.length = v
				}
			}
		case 14:
			if v, err := f.boolv(); err != nil || v {
				return c, errors.New("auto-incrementing columns are not supported by kudutest")
			}
		case 15:
			return c, errors.New("nested (array) columns are not supported by kudutest")
		}
	}
	if !hasName || !hasType {
		return c, errors.New("column schema is missing required name or type")
	}
	return c, nil
}

// encodeSchema appends a SchemaPB's columns; ids are included when withIDs.
func encodeSchema(p *pb, s *schema, withIDs bool) {
	for _, c := range s.cols {
		p.msg(1, func(q *pb) {
			if withIDs {
				q.varint(1, uint64(uint32(c.id)))
			}
			q.str(2, c.name)
			q.int32f(3, int32(c.typ))
			q.boolf(4, c.key)
			q.boolf(5, c.nullable)
			if c.hasDef {
				q.bytesf(6, c.def)
				q.bytesf(7, c.def)
			}
			switch c.typ {
			case TypeDecimal32, TypeDecimal64, TypeDecimal128:
				q.msg(11, func(a *pb) {
					a.int32f(1, c.precision)
					a.int32f(2, c.scale)
				})
			case TypeVarchar:
				q.msg(11, func(a *pb) { a.int32f(3, c.length) })
			}
		})
	}
}

// equalsType reports whether two columns have the same type, nullability
// and type attributes, the condition Kudu puts on a client's column.
func (c *column) equalsType(o *column) bool {
	if c.typ != o.typ || c.nullable != o.nullable {
		return false
	}
	switch c.typ {
	case TypeDecimal32, TypeDecimal64, TypeDecimal128:
		return c.precision == o.precision && c.scale == o.scale
	case TypeVarchar:
		return c.length == o.length
	}
	return true
}

// cell is one column's value in a decoded row: raw little-endian bytes for
// fixed-width types, the data itself for STRING, BINARY and VARCHAR.
type cell struct {
	set  bool
	null bool
	v    []byte
}

// Decimal is the value of a DECIMAL column: Unscaled × 10^-Scale.
type Decimal struct {
	Unscaled *big.Int
	Scale    int32
}

// String formats the decimal in plain notation.
func (d Decimal) String() string {
	if d.Unscaled == nil {
		return "<nil>"
	}
	r := new(big.Rat).SetFrac(d.Unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil))
	return r.FloatString(int(d.Scale))
}

// leInt reads a little-endian two's complement integer of any width.
func leInt(v []byte) *big.Int {
	be := make([]byte, len(v))
	for i := range v {
		be[len(v)-1-i] = v[i]
	}
	x := new(big.Int).SetBytes(be)
	if len(v) > 0 && v[len(v)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(v))))
	}
	return x
}

// intLE writes x as a little-endian two's complement integer of size bytes.
func intLE(x *big.Int, size int) []byte {
	y := new(big.Int).Set(x)
	if y.Sign() < 0 {
		y.Add(y, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
	}
	be := y.Bytes()
	out := make([]byte, size)
	for i := 0; i < len(be) && i < size; i++ {
		out[i] = be[len(be)-1-i]
	}
	return out
}

// Date bounds (days since the epoch) of Kudu's DATE type: 0001-01-01 and
// 9999-12-31.
const (
	minDate = -719162
	maxDate = 2932896
)

// goValue converts a cell to the Go value Rows reports.
func goValue(c *column, v cell) any {
	if !v.set || v.null {
		return nil
	}
	b := v.v
	switch c.typ {
	case TypeInt8:
		return int8(b[0])
	case TypeInt16:
		return int16(binary.LittleEndian.Uint16(b))
	case TypeInt32:
		return int32(binary.LittleEndian.Uint32(b))
	case TypeInt64:
		return int64(binary.LittleEndian.Uint64(b))
	case TypeBool:
		return b[0] != 0
	case TypeFloat:
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case TypeDouble:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case TypeString, TypeVarchar:
		return string(b)
	case TypeBinary:
		return append([]byte{}, b...)
	case TypeUnixtimeMicros:
		return time.UnixMicro(int64(binary.LittleEndian.Uint64(b))).UTC()
	case TypeDate:
		return time.Unix(int64(int32(binary.LittleEndian.Uint32(b)))*86400, 0).UTC()
	case TypeDecimal32, TypeDecimal64, TypeDecimal128:
		return Decimal{Unscaled: leInt(b), Scale: c.scale}
	}
	return nil
}

// cellOf converts a Go value to a cell of the column's type. Integer
// columns accept any Go integer type that fits; UNIXTIME_MICROS and DATE
// accept time.Time; decimals accept Decimal, *big.Int (unscaled) or an
// integer (unscaled).
func cellOf(c *column, x any) ([]byte, error) {
	if c.typ.varlen() {
		switch v := x.(type) {
		case string:
			return []byte(v), nil
		case []byte:
			return v, nil
		}
		return nil, fmt.Errorf("column %q (%v): cannot use %T", c.name, c.typ, x)
	}
	switch c.typ {
	case TypeBool:
		if v, ok := x.(bool); ok {
			if v {
				return []byte{1}, nil
			}
			return []byte{0}, nil
		}
		return nil, fmt.Errorf("column %q (BOOL): cannot use %T", c.name, x)
	case TypeFloat:
		if v, ok := x.(float32); ok {
			return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)), nil
		}
		return nil, fmt.Errorf("column %q (FLOAT): cannot use %T", c.name, x)
	case TypeDouble:
		if v, ok := x.(float64); ok {
			return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)), nil
		}
		return nil, fmt.Errorf("column %q (DOUBLE): cannot use %T", c.name, x)
	}
	var n *big.Int
	switch v := x.(type) {
	case time.Time:
		switch c.typ {
		case TypeUnixtimeMicros:
			n = big.NewInt(v.UnixMicro())
		case TypeDate:
			n = big.NewInt(int64(math.Floor(float64(v.Unix()) / 86400)))
		}
	case Decimal:
		n = v.Unscaled
	case *big.Int:
		n = v
	case int:
		n = big.NewInt(int64(v))
	case int8:
		n = big.NewInt(int64(v))
	case int16:
		n = big.NewInt(int64(v))
	case int32:
		n = big.NewInt(int64(v))
	case int64:
		n = big.NewInt(v)
	case uint8:
		n = big.NewInt(int64(v))
	case uint16:
		n = big.NewInt(int64(v))
	case uint32:
		n = big.NewInt(int64(v))
	}
	if n == nil {
		return nil, fmt.Errorf("column %q (%v): cannot use %T", c.name, c.typ, x)
	}
	lo, hi := intRange(c)
	if n.Cmp(lo) < 0 || n.Cmp(hi) > 0 {
		return nil, fmt.Errorf("column %q (%v): value %v out of range", c.name, c.typ, n)
	}
	return intLE(n, c.typ.size()), nil
}

// intRange returns the smallest and largest value of an integer-like type
// (the full width for decimals: Kudu's type minimum ignores precision).
func intRange(c *column) (*big.Int, *big.Int) {
	switch c.typ {
	case TypeDate:
		return big.NewInt(minDate), big.NewInt(maxDate)
	case TypeDecimal32:
		return decimalBound(9, -1), decimalBound(9, 1)
	case TypeDecimal64:
		return decimalBound(18, -1), decimalBound(18, 1)
	case TypeDecimal128:
		return decimalBound(38, -1), decimalBound(38, 1)
	}
	bits := uint(8 * c.typ.size())
	hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits-1), big.NewInt(1))
	lo := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), bits-1))
	return lo, hi
}

// decimalBound returns ±(10^p - 1).
func decimalBound(p int32, sign int64) *big.Int {
	x := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)
	x.Sub(x, big.NewInt(1))
	return x.Mul(x, big.NewInt(sign))
}
