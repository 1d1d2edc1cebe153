package kudu

import (
	"bytes"
	"math"
	"testing"
)

// Vectors from Kudu's TestMurmurHash.java (Murmur2.hash64).
func TestMurmur2Vectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		seed uint64
		want uint64
	}{
		{"ab", 0, 7115271465109541368},
		{"abcdefg", 0, 2601573339036254301},
		{"quick brown fox", 42, 3575930248840144026},
	} {
		if got := murmur2_64([]byte(tc.in), tc.seed); got != tc.want {
			t.Errorf("murmur2_64(%q, %d) = %d, want %d", tc.in, tc.seed, got, tc.want)
		}
	}
}

func mustSchema(t testing.TB, cols ...Column) *Schema {
	t.Helper()
	s, err := NewSchema(cols)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPartitionKeyEncoding restates TestKeyEncoding.testPartitionKeyEncoding
// (Kudu Java client): schema (a INT32, b STRING, c STRING) all key, hash
// (a, b) 32 buckets seed 0, hash (c) 32 buckets seed 42, range (a, b, c).
func TestPartitionKeyEncoding(t *testing.T) {
	s := mustSchema(t,
		Column{Name: "a", Type: TypeInt32, Key: true},
		Column{Name: "b", Type: TypeString, Key: true},
		Column{Name: "c", Type: TypeString, Key: true})
	p, err := resolvePartitioning(&PartitionSchema{
		Hash: []HashSchema{
			{Columns: []string{"a", "b"}, NumBuckets: 32, Seed: 0},
			{Columns: []string{"c"}, NumBuckets: 32, Seed: 42},
		},
		RangeColumns: []string{"a", "b", "c"},
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a    int32
		b, c string
		want []byte
	}{
		{0, "", "", []byte{0, 0, 0, 0, 0, 0, 0, 0x14, 0x80, 0, 0, 0, 0, 0}},
		{1, "", "", []byte{0, 0, 0, 5, 0, 0, 0, 0x14, 0x80, 0, 0, 1, 0, 0}},
		{0, "b", "c", []byte{0, 0, 0, 0x1A, 0, 0, 0, 0x1D, 0x80, 0, 0, 0, 'b', 0, 0, 'c'}},
		{1, "b", "c", []byte{0, 0, 0, 0, 0, 0, 0, 0x1D, 0x80, 0, 0, 1, 'b', 0, 0, 'c'}},
	} {
		r := s.NewRow()
		r.Set("a", tc.a)
		r.Set("b", tc.b)
		r.Set("c", tc.c)
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		if got := p.appendPartitionKey(nil, r); !bytes.Equal(got, tc.want) {
			t.Errorf("(%d,%q,%q): key % x, want % x", tc.a, tc.b, tc.c, got, tc.want)
		}
	}
}

// Bucket facts from TestKeyEncoding.testPartitionKeyEncodingCustomHashSchema:
// hash(a=1, b="C") in 32 buckets seed 0 is 0x10; hash(c="d") in 3 buckets
// seed 0 is 2.
func TestHashBucketCustomVectors(t *testing.T) {
	s := mustSchema(t,
		Column{Name: "a", Type: TypeInt32, Key: true},
		Column{Name: "b", Type: TypeString, Key: true},
		Column{Name: "c", Type: TypeString, Key: true})
	r := s.NewRow()
	r.Set("a", 1)
	r.Set("b", "C")
	r.Set("c", "D")
	if b, _ := hashBucket(r, &hashDim{cols: []int{0, 1}, numBuckets: 32}, nil); b != 0x10 {
		t.Errorf("hash(1, C) bucket = %d, want 16", b)
	}
	r = s.NewRow()
	r.Set("a", 11)
	r.Set("b", "")
	r.Set("c", "d")
	if b, _ := hashBucket(r, &hashDim{cols: []int{2}, numBuckets: 3}, nil); b != 2 {
		t.Errorf("hash(d) bucket = %d, want 2", b)
	}
	p := &partitioning{hash: []hashDim{{cols: []int{2}, numBuckets: 3}}, rangeCols: []int{0, 1, 2}}
	want := []byte{0, 0, 0, 2, 0x80, 0, 0, 11, 0, 0, 'd'}
	if got := p.appendPartitionKey(nil, r); !bytes.Equal(got, want) {
		t.Errorf("key % x, want % x", got, want)
	}
}

func TestKeyColumnEncoding(t *testing.T) {
	s := mustSchema(t,
		Column{Name: "i8", Type: TypeInt8, Key: true},
		Column{Name: "i16", Type: TypeInt16, Key: true},
		Column{Name: "i32", Type: TypeInt32, Key: true},
		Column{Name: "i64", Type: TypeInt64, Key: true},
		Column{Name: "ts", Type: TypeUnixtimeMicros, Key: true},
		Column{Name: "d", Type: TypeDate, Key: true},
		Column{Name: "s", Type: TypeString, Key: true},
		Column{Name: "bin", Type: TypeBinary, Key: true})
	for _, tc := range []struct {
		col  string
		v    any
		last bool
		want []byte
	}{
		{"i8", int8(-1), false, []byte{0x7f}},
		{"i8", int8(0), false, []byte{0x80}},
		{"i8", int8(math.MinInt8), false, []byte{0x00}},
		{"i8", int8(math.MaxInt8), false, []byte{0xff}},
		{"i16", int16(-2), false, []byte{0x7f, 0xfe}},
		{"i16", int16(258), false, []byte{0x81, 0x02}},
		{"i32", int32(0), false, []byte{0x80, 0, 0, 0}},
		{"i32", int32(-1), false, []byte{0x7f, 0xff, 0xff, 0xff}},
		{"i32", int32(math.MinInt32), false, []byte{0, 0, 0, 0}},
		{"i32", int32(0x01020304), false, []byte{0x81, 2, 3, 4}},
		{"i64", int64(math.MinInt64), false, []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{"i64", int64(1), false, []byte{0x80, 0, 0, 0, 0, 0, 0, 1}},
		{"ts", int64(-1), false, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"d", int32(1), false, []byte{0x80, 0, 0, 1}},
		{"s", "ab", true, []byte("ab")},
		{"s", "ab", false, []byte{'a', 'b', 0, 0}},
		{"s", "a\x00b", false, []byte{'a', 0, 1, 'b', 0, 0}},
		{"s", "a\x00b", true, []byte{'a', 0, 'b'}},
		{"s", "", false, []byte{0, 0}},
		{"s", "", true, []byte{}},
		{"bin", []byte{0, 0}, false, []byte{0, 1, 0, 1, 0, 0}},
	} {
		r := s.NewRow()
		if err := r.Set(tc.col, tc.v); err != nil {
			t.Fatal(err)
		}
		got := appendKeyColumn([]byte{}, r, s.ColumnIndex(tc.col), tc.last)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s=%v last=%v: % x, want % x", tc.col, tc.v, tc.last, got, tc.want)
		}
	}
}

// Encoded keys must sort like the values (the point of the encoding).
func TestKeyEncodingOrder(t *testing.T) {
	s := mustSchema(t, Column{Name: "a", Type: TypeInt64, Key: true}, Column{Name: "b", Type: TypeString, Key: true})
	vals := []struct {
		a int64
		b string
	}{{math.MinInt64, ""}, {-5, "z"}, {-1, ""}, {0, ""}, {0, "\x00"}, {0, "\x00\x00"}, {0, "a"}, {0, "a\x00"}, {0, "b"}, {7, ""}, {math.MaxInt64, "x"}}
	var prev []byte
	for i, v := range vals {
		r := s.NewRow()
		r.Set("a", v.a)
		r.Set("b", v.b)
		k := appendKeyColumns(nil, r, []int{0, 1})
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			t.Errorf("key of %v (% x) does not sort after previous (% x)", v, k, prev)
		}
		prev = k
	}
}
