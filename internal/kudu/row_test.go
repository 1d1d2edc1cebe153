package kudu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func encodeOps(ops ...*Operation) (rows, indirect []byte) {
	for _, op := range ops {
		rows, indirect = op.appendRow(rows, indirect, op.Type)
	}
	return rows, indirect
}

func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got % x\nwant % x", what, got, want)
	}
}

func TestRowEncodingNoNullable(t *testing.T) {
	s := mustSchema(t, Column{Name: "k", Type: TypeInt32, Key: true}, Column{Name: "s", Type: TypeString})
	op := s.NewOperation(OpUpsert)
	op.Set("k", 1)
	op.Set("s", "hi")
	rows, ind := encodeOps(op)
	checkBytes(t, "rows", rows, []byte{
		5,          // UPSERT
		0x03,       // isset: k, s; no null bitmap (no nullable column)
		1, 0, 0, 0, // k
		0, 0, 0, 0, 0, 0, 0, 0, // s offset 0
		2, 0, 0, 0, 0, 0, 0, 0, // s length 2
	})
	checkBytes(t, "indirect", ind, []byte("hi"))
	if r, i := op.encodedSize(op.Type); r != len(rows) || i != len(ind) {
		t.Errorf("encodedSize = %d,%d, want %d,%d", r, i, len(rows), len(ind))
	}
}

func allTypesSchema(t testing.TB) *Schema {
	return mustSchema(t,
		Column{Name: "k", Type: TypeInt64, Key: true},
		Column{Name: "i8", Type: TypeInt8, Nullable: true},
		Column{Name: "i16", Type: TypeInt16},
		Column{Name: "i32", Type: TypeInt32},
		Column{Name: "b", Type: TypeBool},
		Column{Name: "f", Type: TypeFloat},
		Column{Name: "d", Type: TypeDouble},
		Column{Name: "s", Type: TypeString, Nullable: true},
		Column{Name: "bin", Type: TypeBinary},
		Column{Name: "ts", Type: TypeUnixtimeMicros},
		Column{Name: "dt", Type: TypeDate},
		Column{Name: "vc", Type: TypeVarchar, Length: 5, Nullable: true},
	)
}

func TestRowEncodingAllTypes(t *testing.T) {
	s := allTypesSchema(t)

	ins := s.NewOperation(OpInsert)
	for _, kv := range []struct {
		c string
		v any
	}{
		{"k", int64(-2)}, {"i8", nil}, {"i16", int16(0x0102)}, {"i32", int32(-1)}, {"b", true},
		{"f", float32(1.5)}, {"d", -2.0}, {"s", "ab"}, {"bin", []byte{0, 1, 2}},
		{"ts", time.UnixMicro(1)}, {"dt", time.Date(1970, 1, 2, 23, 0, 0, 0, time.UTC)},
	} {
		if err := ins.Set(kv.c, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	del := s.NewOperation(OpDelete)
	del.Set("k", 7)
	del.Set("s", "zz") // non-key columns are dropped from deletes
	del.Set("i8", nil)
	upd := s.NewOperation(OpUpdate)
	upd.Set("k", int64(8))
	upd.Set("s", nil)
	upd.Set("vc", "héllo")

	for _, op := range []*Operation{ins, del, upd} {
		if err := op.validate(op.Type, DefaultMaxCellBytes); err != nil {
			t.Fatal(err)
		}
	}
	rows, ind := encodeOps(ins, del, upd)
	want := []byte{
		// INSERT
		1,
		0xff, 0x07, // isset: columns 0-10
		0x02, 0x00, // null: i8
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // k = -2
		0x02, 0x01, // i16
		0xff, 0xff, 0xff, 0xff, // i32 = -1
		0x01,                   // b
		0x00, 0x00, 0xc0, 0x3f, // f = 1.5
		0, 0, 0, 0, 0, 0, 0, 0xc0, // d = -2
		0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, // s: offset 0 length 2
		2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, // bin: offset 2 length 3
		1, 0, 0, 0, 0, 0, 0, 0, // ts = 1us
		1, 0, 0, 0, // dt = day 1
		// DELETE: key only
		3,
		0x01, 0x00,
		0x00, 0x00,
		7, 0, 0, 0, 0, 0, 0, 0,
		// UPDATE
		2,
		0x81, 0x08, // isset: k, s, vc
		0x80, 0x00, // null: s
		8, 0, 0, 0, 0, 0, 0, 0,
		5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, // vc: offset 5 length 6
	}
	checkBytes(t, "rows", rows, want)
	checkBytes(t, "indirect", ind, []byte("ab\x00\x01\x02héllo"))
	var nr, ni int
	for _, op := range []*Operation{ins, del, upd} {
		r, i := op.encodedSize(op.Type)
		nr, ni = nr+r, ni+i
	}
	if nr != len(rows) || ni != len(ind) {
		t.Errorf("encodedSize sums %d,%d, want %d,%d", nr, ni, len(rows), len(ind))
	}
}

func TestRowEncodingUpsertIgnoreAndSetAgain(t *testing.T) {
	s := mustSchema(t, Column{Name: "k", Type: TypeInt8, Key: true}, Column{Name: "v", Type: TypeInt16, Nullable: true})
	op := s.NewOperation(OpUpsertIgnore)
	op.Set("k", 3)
	op.Set("v", nil)
	op.Set("v", 9) // clears the null bit
	rows, ind := encodeOps(op)
	checkBytes(t, "rows", rows, []byte{13, 0x03, 0x00, 3, 9, 0})
	if len(ind) != 0 {
		t.Errorf("indirect % x", ind)
	}
}

func TestRangeBoundEncoding(t *testing.T) {
	s := mustSchema(t, Column{Name: "k", Type: TypeInt32, Key: true}, Column{Name: "v", Type: TypeString, Nullable: true})
	lo, hi := s.NewRow(), s.NewRow()
	lo.Set("k", 0)
	hi.Set("k", 100)
	split := s.NewRow()
	split.Set("k", 50)
	b, err := encodeRangeBounds(&PartitionSchema{RangeColumns: []string{"k"},
		RangeBounds: []RangeBound{{Lower: lo, Upper: hi}, {Lower: hi}}, SplitRows: []*Row{split}}, s)
	if err != nil {
		t.Fatal(err)
	}
	rows := []byte{
		6, 0x01, 0x00, 0, 0, 0, 0, // RANGE_LOWER_BOUND k=0
		7, 0x01, 0x00, 100, 0, 0, 0, // RANGE_UPPER_BOUND k=100
		6, 0x01, 0x00, 100, 0, 0, 0, // lower k=100
		7, 0x00, 0x00, // unbounded upper
		4, 0x01, 0x00, 50, 0, 0, 0, // SPLIT_ROW k=50
	}
	want := append([]byte{0x12, byte(len(rows))}, rows...) // field 2 (rows), no indirect data
	checkBytes(t, "RowOperationsPB", b, want)
}

func TestRowValidation(t *testing.T) {
	s := allTypesSchema(t)
	ok := func() *Operation {
		op := s.NewOperation(OpUpsert)
		op.Set("k", 1)
		return op
	}
	for _, tc := range []struct {
		name   string
		op     func() *Operation
		substr string
		is     error
	}{
		{"unset key", func() *Operation { return s.NewOperation(OpUpsert) }, `key column "k" is not set`, ErrInvalidRow},
		{"null key", func() *Operation { op := s.NewOperation(OpDelete); op.Set("k", nil); return op }, `"k" is not nullable`, ErrInvalidRow},
		{"null non-nullable", func() *Operation { op := ok(); op.Set("i16", nil); return op }, `"i16" is not nullable`, ErrInvalidRow},
		{"wrong type", func() *Operation { op := ok(); op.Set("i32", "x"); return op }, `"i32" of type int32 cannot hold string`, ErrInvalidRow},
		{"wrong type bool", func() *Operation { op := ok(); op.Set("b", 1); return op }, `cannot hold int`, ErrInvalidRow},
		{"out of range", func() *Operation { op := ok(); op.Set("i8", 300); return op }, `out of range`, ErrInvalidRow},
		{"unknown column", func() *Operation { op := ok(); op.Set("nope", 1); return op }, `no column "nope"`, ErrInvalidRow},
		{"cell too big", func() *Operation { op := ok(); op.Set("s", strings.Repeat("x", DefaultMaxCellBytes+1)); return op }, `exceeds the cell size limit`, ErrInvalidRow},
		{"varchar too long", func() *Operation { op := ok(); op.Set("vc", "abcdef"); return op }, `more than varchar(5)`, ErrInvalidRow},
	} {
		err := tc.op().validate(OpUpsert, DefaultMaxCellBytes)
		if err == nil || !strings.Contains(err.Error(), tc.substr) || !errors.Is(err, tc.is) {
			t.Errorf("%s: err = %v, want %q (%v)", tc.name, err, tc.substr, tc.is)
		}
	}
	op := ok()
	op.Set("s", strings.Repeat("x", DefaultMaxCellBytes))
	if err := op.validate(OpUpsert, DefaultMaxCellBytes); err != nil {
		t.Errorf("cell at the limit: %v", err)
	}
	if err := op.validate(OpUpsert, 10); err == nil {
		t.Error("configurable cell limit not applied")
	}

	ds := mustSchema(t, Column{Name: "k", Type: TypeInt32, Key: true}, Column{Name: "dec", Type: TypeDecimal64, Precision: 10, Scale: 2, Nullable: true})
	dop := ds.NewOperation(OpUpsert)
	dop.Set("k", 1)
	if err := dop.Set("dec", int64(5)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("decimal set: %v", err)
	}
}

func TestSchemaChecks(t *testing.T) {
	for _, cols := range [][]Column{
		nil,
		{{Name: "v", Type: TypeInt32}},
		{{Name: "v", Type: TypeInt32}, {Name: "k", Type: TypeInt32, Key: true}},
		{{Name: "k", Type: TypeInt32, Key: true, Nullable: true}},
		{{Name: "k", Type: TypeInt32, Key: true}, {Name: "k", Type: TypeInt32}},
		{{Name: "k", Type: Type(99), Key: true}},
	} {
		if _, err := NewSchema(cols); err == nil {
			t.Errorf("NewSchema(%v) accepted", cols)
		}
	}
}

// TestDateRange pins the DATE values Set accepts: days -719162 to 2932896
// since 1970-01-01 (0001-01-01 to 9999-12-31, Kudu's kMinDate and
// kMaxDate), given as an integer or as a time.Time, whose UTC date is the
// value whatever its location. Outside the range Set refuses the value,
// as KuduPartialRow::SetDate does, with an error wrapping ErrInvalidRow
// that names the column, the value and the range; Apply reports it too.
func TestDateRange(t *testing.T) {
	s := mustSchema(t, Column{Name: "k", Type: TypeInt32, Key: true}, Column{Name: "dt", Type: TypeDate})
	east, west := time.FixedZone("UTC+1", 3600), time.FixedZone("UTC-1", -3600)
	utc := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		v    any
		days int32  // the value stored, when accepted
		err  string // a part of the error, when refused
	}{
		{"min int32", int32(-719162), -719162, ""},
		{"max int32", int32(2932896), 2932896, ""},
		{"min int", -719162, -719162, ""},
		{"max uint32", uint32(2932896), 2932896, ""},
		{"epoch", 0, 0, ""},
		{"below min", int32(-719163), 0, "day -719163 out of range"},
		{"above max", int64(2932897), 0, "day 2932897 out of range"},
		{"above max uint32", uint32(2932897), 0, "day 2932897 out of range"},
		{"min int64", int64(math.MinInt64), 0, "day -9223372036854775808 out of range"},
		{"max int32 (int32 but not a date)", int32(math.MaxInt32), 0, "day 2147483647 out of range"},

		{"0001-01-01", utc(1, 1, 1), -719162, ""},
		{"zero time.Time", time.Time{}, -719162, ""},
		{"9999-12-31", utc(9999, 12, 31), 2932896, ""},
		{"9999-12-31 last instant", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), 2932896, ""},
		{"0000-12-31", utc(0, 12, 31), 0, "date 0000-12-31 (the UTC date of 0000-12-31 00:00:00 +0000 UTC, day -719163) out of range"},
		{"0000-12-31 last instant", time.Date(0, 12, 31, 23, 59, 59, 999999999, time.UTC), 0, "date 0000-12-31"},
		{"10000-01-01", utc(10000, 1, 1), 0, "date 10000-01-01"},

		// The UTC date counts, not the local one.
		{"UTC+2 morning is the day before", time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("UTC+2", 7200)), 19722, ""},
		{"UTC-2 evening is the day after", time.Date(2023, 12, 31, 23, 0, 0, 0, time.FixedZone("UTC-2", -7200)), 19723, ""},
		{"local 0001-01-01, UTC 0000-12-31", time.Date(1, 1, 1, 0, 30, 0, 0, east), 0, "date 0000-12-31"},
		{"local 9999-12-31, UTC 10000-01-01", time.Date(9999, 12, 31, 23, 30, 0, 0, west), 0, "date 10000-01-01"},
		{"local 0000-12-31, UTC 0001-01-01", time.Date(0, 12, 31, 23, 30, 0, 0, west), -719162, ""},
		{"local 10000-01-01, UTC 9999-12-31", time.Date(10000, 1, 1, 0, 30, 0, 0, east), 2932896, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := s.NewOperation(OpInsert)
			if err := op.Set("k", 1); err != nil {
				t.Fatal(err)
			}
			err := op.Set("dt", tc.v)
			if tc.err != "" {
				const rng = "Kudu's DATE range is 0001-01-01 to 9999-12-31 (days -719162 to 2932896 since 1970-01-01)"
				if err == nil || !errors.Is(err, ErrInvalidRow) || !strings.Contains(err.Error(), tc.err) ||
					!strings.Contains(err.Error(), `column "dt" of type date`) || !strings.Contains(err.Error(), rng) {
					t.Fatalf("Set(%v) = %v, want an ErrInvalidRow naming %q, the column and the range", tc.v, err, tc.err)
				}
				if op.IsSet(1) {
					t.Error("a refused value set the column")
				}
				// Apply reports the setter's error for the row.
				if verr := op.validate(op.Type, DefaultMaxCellBytes); verr != err {
					t.Errorf("validate = %v, want the Set error", verr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Set(%v): %v", tc.v, err)
			}
			if err := op.validate(op.Type, DefaultMaxCellBytes); err != nil {
				t.Fatal(err)
			}
			rows, _ := encodeOps(op)
			want := append([]byte{byte(OpInsert), 0x03, 1, 0, 0, 0}, binary.LittleEndian.AppendUint32(nil, uint32(tc.days))...)
			checkBytes(t, "rows", rows, want)
		})
	}
	// A split row or range bound of a DATE range column is checked alike.
	r := s.NewRow()
	if err := r.Set("dt", 2932897); !errors.Is(err, ErrInvalidRow) || r.Err() != err {
		t.Errorf("NewRow().Set = %v, Err() = %v", err, r.Err())
	}
}
