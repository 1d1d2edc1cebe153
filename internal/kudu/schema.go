package kudu

import (
	"errors"
	"fmt"
)

// Type is a Kudu column type; the values are kudu.DataType from
// src/kudu/common/common.proto.
type Type int32

// Column types. Only these have row encoders; DECIMAL columns are read from
// schemas but cannot be set.
const (
	TypeInt8           Type = 1
	TypeInt16          Type = 3
	TypeInt32          Type = 5
	TypeInt64          Type = 7
	TypeString         Type = 8
	TypeBool           Type = 9
	TypeFloat          Type = 10
	TypeDouble         Type = 11
	TypeBinary         Type = 12
	TypeUnixtimeMicros Type = 13 // microseconds since the Unix epoch, int64
	TypeDecimal32      Type = 15
	TypeDecimal64      Type = 16
	TypeDecimal128     Type = 17
	TypeVarchar        Type = 19
	TypeDate           Type = 20 // days since the Unix epoch, int32
)

var typeNames = map[Type]string{
	TypeInt8: "int8", TypeInt16: "int16", TypeInt32: "int32", TypeInt64: "int64",
	TypeString: "string", TypeBool: "bool", TypeFloat: "float", TypeDouble: "double",
	TypeBinary: "binary", TypeUnixtimeMicros: "unixtime_micros", TypeDecimal32: "decimal32",
	TypeDecimal64: "decimal64", TypeDecimal128: "decimal128", TypeVarchar: "varchar", TypeDate: "date",
}

// String returns the type's lower-case Kudu name.
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", int32(t))
}

// size is the number of bytes a value takes in an encoded row: the
// fixed width, or 16 (offset and length) for variable-length types. It is
// 0 for unknown types.
func (t Type) size() int {
	switch t {
	case TypeInt8, TypeBool:
		return 1
	case TypeInt16:
		return 2
	case TypeInt32, TypeFloat, TypeDate, TypeDecimal32:
		return 4
	case TypeInt64, TypeDouble, TypeUnixtimeMicros, TypeDecimal64:
		return 8
	case TypeDecimal128, TypeString, TypeBinary, TypeVarchar:
		return 16
	}
	return 0
}

// varLen reports whether values live in indirect data.
func (t Type) varLen() bool {
	return t == TypeString || t == TypeBinary || t == TypeVarchar
}

// settable reports whether this client can encode values of the type.
func (t Type) settable() bool {
	switch t {
	case TypeDecimal32, TypeDecimal64, TypeDecimal128:
		return false
	}
	return t.size() > 0
}

// keyable reports whether the client can key-encode the type (for
// partition keys).
func (t Type) keyable() bool {
	switch t {
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64, TypeUnixtimeMicros, TypeDate,
		TypeString, TypeBinary, TypeVarchar:
		return true
	}
	return false
}

// Column describes one column (ColumnSchemaPB).
type Column struct {
	Name     string
	Type     Type
	Key      bool
	Nullable bool
	// Length is the VARCHAR length in characters (type_attributes.length).
	Length int32
	// Precision and Scale are DECIMAL type attributes (read only).
	Precision, Scale int32
	// ID is the server-assigned column id; 0 in schemas built by the
	// caller.
	ID uint32
}

// Schema is a table's ordered columns, key columns first.
type Schema struct {
	cols        []Column
	index       map[string]int
	numKeys     int
	hasNullable bool
	hasVarLen   bool
}

// NewSchema checks and builds a schema. Key columns must come first and be
// non-nullable; names must be unique.
func NewSchema(cols []Column) (*Schema, error) {
	s := &Schema{cols: append([]Column(nil), cols...), index: make(map[string]int, len(cols))}
	if len(cols) == 0 {
		return nil, errors.New("kudu: schema has no columns")
	}
	for i, c := range s.cols {
		if c.Name == "" {
			return nil, fmt.Errorf("kudu: column %d has no name", i)
		}
		if _, dup := s.index[c.Name]; dup {
			return nil, fmt.Errorf("kudu: duplicate column %q", c.Name)
		}
		if c.Type.size() == 0 {
			return nil, fmt.Errorf("%w: column %q has type %v", ErrUnsupported, c.Name, c.Type)
		}
		s.index[c.Name] = i
		if c.Key {
			if i != s.numKeys {
				return nil, fmt.Errorf("kudu: key column %q must precede non-key columns", c.Name)
			}
			if c.Nullable {
				return nil, fmt.Errorf("kudu: key column %q cannot be nullable", c.Name)
			}
			s.numKeys++
		}
		if c.Nullable {
			s.hasNullable = true
		}
		if c.Type.varLen() {
			s.hasVarLen = true
		}
	}
	if s.numKeys == 0 {
		return nil, errors.New("kudu: schema has no key column")
	}
	return s, nil
}

// Columns returns a copy of the columns in schema order.
func (s *Schema) Columns() []Column { return append([]Column(nil), s.cols...) }

// Column returns the column at index i.
func (s *Schema) Column(i int) Column { return s.cols[i] }

// NumColumns returns the number of columns.
func (s *Schema) NumColumns() int { return len(s.cols) }

// NumKeyColumns returns the number of primary key columns.
func (s *Schema) NumKeyColumns() int { return s.numKeys }

// ColumnIndex returns the index of the named column, or -1.
func (s *Schema) ColumnIndex(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// bitmapLen is the size of the isset and null bitmaps.
func (s *Schema) bitmapLen() int { return (len(s.cols) + 7) / 8 }

// marshal encodes the schema as a SchemaPB. Column ids are left out (as the
// Java client does for writes and table creation).
func (s *Schema) marshal() []byte {
	var b []byte
	for _, c := range s.cols {
		b = appendMessageField(b, 1, func(m []byte) []byte {
			m = appendStringField(m, 2, c.Name)
			m = appendInt32Field(m, 3, int32(c.Type))
			m = appendBoolField(m, 4, c.Key)
			m = appendBoolField(m, 5, c.Nullable)
			if c.Length > 0 || c.Precision > 0 || c.Scale > 0 {
				m = appendMessageField(m, 11, func(a []byte) []byte {
					if c.Precision > 0 || c.Scale > 0 {
						a = appendInt32Field(a, 1, c.Precision)
						a = appendInt32Field(a, 2, c.Scale)
					}
					if c.Length > 0 {
						a = appendInt32Field(a, 3, c.Length)
					}
					return a
				})
			}
			return m
		})
	}
	return b
}

// parseSchema decodes a SchemaPB.
func parseSchema(b []byte) (*Schema, error) {
	var cols []Column
	err := walkFields(b, func(f field) error {
		if f.num != 1 {
			return nil
		}
		cb, err := f.bytes()
		if err != nil {
			return err
		}
		c, err := parseColumn(cb)
		cols = append(cols, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	s, err := NewSchema(cols)
	if errors.Is(err, ErrUnsupported) {
		return nil, err
	}
	if err != nil {
		return nil, malformed("schema from server: %v", err)
	}
	return s, nil
}

func parseColumn(b []byte) (Column, error) {
	var c Column
	var haveName, haveType bool
	err := walkFields(b, func(f field) error {
		var err error
		switch f.num {
		case 1:
			var v uint64
			v, err = f.varint()
			c.ID = uint32(v)
		case 2:
			c.Name, err = f.str()
			haveName = true
		case 3:
			var t int32
			t, err = f.int32v()
			c.Type = Type(t)
			haveType = true
		case 4:
			c.Key, err = f.boolv()
		case 5:
			c.Nullable, err = f.boolv()
		case 14: // is_auto_incrementing
			var auto bool
			if auto, err = f.boolv(); err == nil && auto {
				err = fmt.Errorf("%w: auto-incrementing column", ErrUnsupported)
			}
		case 15: // nested_type
			err = fmt.Errorf("%w: nested (array) column", ErrUnsupported)
		case 11:
			var ab []byte
			if ab, err = f.bytes(); err != nil {
				return err
			}
			err = walkFields(ab, func(g field) error {
				var err error
				switch g.num {
				case 1:
					c.Precision, err = g.int32v()
				case 2:
					c.Scale, err = g.int32v()
				case 3:
					c.Length, err = g.int32v()
				}
				return err
			})
		}
		return err
	})
	if err == nil && (!haveName || !haveType) {
		err = malformed("column without name or type")
	}
	return c, err
}

// HashSchema is one hash dimension of a partition schema
// (PartitionSchemaPB.HashBucketSchemaPB).
type HashSchema struct {
	Columns    []string
	NumBuckets int32
	Seed       uint32
}

// RangeBound is one range partition [Lower, Upper). A nil row is unbounded.
// Only the range columns of the rows are used.
type RangeBound struct {
	Lower, Upper *Row
}

// PartitionSchema describes how rows map to tablets: zero or more hash
// dimensions followed by range partitioning on RangeColumns (an empty
// RangeColumns means no range partitioning).
type PartitionSchema struct {
	Hash         []HashSchema
	RangeColumns []string
	// RangeBounds and SplitRows are used only by CreateTable. With neither,
	// the table has one unbounded range.
	RangeBounds []RangeBound
	SplitRows   []*Row
}

// partitioning is a resolved partition schema: column indexes into the
// table schema.
type partitioning struct {
	hash      []hashDim
	rangeCols []int
}

type hashDim struct {
	cols       []int
	numBuckets int32
	seed       uint32
}

// marshalPartitionSchema encodes a PartitionSchemaPB with columns named.
func marshalPartitionSchema(ps *PartitionSchema) []byte {
	var b []byte
	for _, h := range ps.Hash {
		b = appendMessageField(b, 1, func(m []byte) []byte {
			for _, c := range h.Columns {
				m = appendMessageField(m, 1, func(x []byte) []byte { return appendStringField(x, 2, c) })
			}
			m = appendInt32Field(m, 2, h.NumBuckets)
			return appendVarintField(m, 3, uint64(h.Seed))
		})
	}
	b = appendMessageField(b, 2, func(m []byte) []byte {
		for _, c := range ps.RangeColumns {
			m = appendMessageField(m, 1, func(x []byte) []byte { return appendStringField(x, 2, c) })
		}
		return m
	})
	return b
}

// parsePartitionSchema decodes a PartitionSchemaPB against schema s.
// Columns may be named by id or by name.
func parsePartitionSchema(b []byte, s *Schema) (*partitioning, *PartitionSchema, error) {
	p := &partitioning{}
	ps := &PartitionSchema{}
	haveRange := false
	err := walkFields(b, func(f field) error {
		switch f.num {
		case 1:
			hb, err := f.bytes()
			if err != nil {
				return err
			}
			var d hashDim
			var names []string
			err = walkFields(hb, func(g field) error {
				var err error
				switch g.num {
				case 1:
					var cb []byte
					if cb, err = g.bytes(); err != nil {
						return err
					}
					var idx int
					idx, err = parseColumnIdentifier(cb, s)
					if err == nil {
						d.cols = append(d.cols, idx)
						names = append(names, s.cols[idx].Name)
					}
				case 2:
					d.numBuckets, err = g.int32v()
				case 3:
					var v uint64
					v, err = g.varint()
					d.seed = uint32(v)
				}
				return err
			})
			if err != nil {
				return err
			}
			if d.numBuckets <= 0 || len(d.cols) == 0 {
				return malformed("hash schema with %d buckets and %d columns", d.numBuckets, len(d.cols))
			}
			p.hash = append(p.hash, d)
			ps.Hash = append(ps.Hash, HashSchema{Columns: names, NumBuckets: d.numBuckets, Seed: d.seed})
		case 2:
			rb, err := f.bytes()
			if err != nil {
				return err
			}
			haveRange = true
			p.rangeCols = p.rangeCols[:0]
			ps.RangeColumns = ps.RangeColumns[:0]
			return walkFields(rb, func(g field) error {
				if g.num != 1 {
					return nil
				}
				cb, err := g.bytes()
				if err != nil {
					return err
				}
				idx, err := parseColumnIdentifier(cb, s)
				if err == nil {
					p.rangeCols = append(p.rangeCols, idx)
					ps.RangeColumns = append(ps.RangeColumns, s.cols[idx].Name)
				}
				return err
			})
		case 5:
			return fmt.Errorf("%w: table has custom per-range hash schemas", ErrUnsupported)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !haveRange { // Kudu's default: range on the primary key columns
		for i := 0; i < s.numKeys; i++ {
			p.rangeCols = append(p.rangeCols, i)
			ps.RangeColumns = append(ps.RangeColumns, s.cols[i].Name)
		}
	}
	for _, d := range p.hash {
		for _, c := range d.cols {
			if !s.cols[c].Type.keyable() {
				return nil, nil, fmt.Errorf("%w: hash column %q of type %v", ErrUnsupported, s.cols[c].Name, s.cols[c].Type)
			}
		}
	}
	for _, c := range p.rangeCols {
		if !s.cols[c].Type.keyable() {
			return nil, nil, fmt.Errorf("%w: range column %q of type %v", ErrUnsupported, s.cols[c].Name, s.cols[c].Type)
		}
	}
	return p, ps, nil
}

// parseColumnIdentifier decodes a ColumnIdentifierPB (id=1 or name=2) into
// a column index of s.
func parseColumnIdentifier(b []byte, s *Schema) (int, error) {
	idx := -1
	err := walkFields(b, func(f field) error {
		switch f.num {
		case 1:
			id, err := f.int32v()
			if err != nil {
				return err
			}
			for i, c := range s.cols {
				if int64(c.ID) == int64(id) {
					idx = i
				}
			}
			if idx < 0 {
				return malformed("partition schema names unknown column id %d", id)
			}
		case 2:
			name, err := f.str()
			if err != nil {
				return err
			}
			if idx = s.ColumnIndex(name); idx < 0 {
				return malformed("partition schema names unknown column %q", name)
			}
		}
		return nil
	})
	if err == nil && idx < 0 {
		err = malformed("empty column identifier")
	}
	return idx, err
}

// resolvePartitioning maps a caller-built PartitionSchema onto s.
func resolvePartitioning(ps *PartitionSchema, s *Schema) (*partitioning, error) {
	p := &partitioning{}
	lookup := func(name string) (int, error) {
		i := s.ColumnIndex(name)
		if i < 0 {
			return 0, fmt.Errorf("kudu: partition column %q not in schema", name)
		}
		if !s.cols[i].Key {
			return 0, fmt.Errorf("kudu: partition column %q is not a key column", name)
		}
		if !s.cols[i].Type.keyable() {
			return 0, fmt.Errorf("%w: partition column %q of type %v", ErrUnsupported, name, s.cols[i].Type)
		}
		return i, nil
	}
	for _, h := range ps.Hash {
		if h.NumBuckets < 2 || len(h.Columns) == 0 {
			return nil, fmt.Errorf("kudu: hash partitioning needs columns and at least 2 buckets")
		}
		d := hashDim{numBuckets: h.NumBuckets, seed: h.Seed}
		for _, c := range h.Columns {
			i, err := lookup(c)
			if err != nil {
				return nil, err
			}
			d.cols = append(d.cols, i)
		}
		p.hash = append(p.hash, d)
	}
	for _, c := range ps.RangeColumns {
		i, err := lookup(c)
		if err != nil {
			return nil, err
		}
		p.rangeCols = append(p.rangeCols, i)
	}
	return p, nil
}
