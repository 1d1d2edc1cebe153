package kudutest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// MurmurHash64A is Austin Appleby's 64-bit MurmurHash2 (variant 64A), the
// hash Kudu applies to the key-encoded hash columns of a row.
func MurmurHash64A(data []byte, seed uint64) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	h := seed ^ (uint64(len(data)) * m)
	for len(data) >= 8 {
		k := binary.LittleEndian.Uint64(data)
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
		data = data[8:]
	}
	if n := len(data); n > 0 {
		for i := n - 1; i >= 0; i-- {
			h ^= uint64(data[i]) << (8 * uint(i))
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// appendKeyCell appends the key encoding of one cell: integers big-endian
// with the sign bit flipped (so that unsigned byte order is numeric order),
// strings raw when they are the last column of the key and otherwise with
// each 0x00 escaped as 0x00 0x01 and a 0x00 0x00 terminator.
func appendKeyCell(dst []byte, typ DataType, v []byte, last bool) []byte {
	if typ.varlen() {
		if last {
			return append(dst, v...)
		}
		for _, b := range v {
			if b == 0 {
				dst = append(dst, 0, 1)
			} else {
				dst = append(dst, b)
			}
		}
		return append(dst, 0, 0)
	}
	start := len(dst)
	for i := len(v) - 1; i >= 0; i-- {
		dst = append(dst, v[i])
	}
	if len(v) > 0 {
		dst[start] ^= 0x80
	}
	return dst
}

// minCell returns the smallest value of a key column's type (Kudu's type
// minimum: "" for strings, the most negative integer otherwise).
func minCell(c *column) []byte {
	if c.typ.varlen() {
		return nil
	}
	lo, _ := intRange(c)
	return intLE(lo, c.typ.size())
}

// encodeColumns key-encodes the given columns of a row; unset columns are
// encoded as their type's minimum.
func encodeColumns(dst []byte, s *schema, idxs []int, cells []cell) []byte {
	for i, ci := range idxs {
		c := &s.cols[ci]
		v := cells[ci].v
		if !cells[ci].set {
			v = minCell(c)
		}
		dst = appendKeyCell(dst, c.typ, v, i == len(idxs)-1)
	}
	return dst
}

// hashDim is one hash dimension of a partition schema.
type hashDim struct {
	cols    []int // schema indexes, in column id order
	buckets int32
	seed    uint32
}

// partitionSchema is a table's table-wide hash schema and range schema.
type partitionSchema struct {
	hash      []hashDim
	rangeCols []int
}

// bucket returns the bucket a row hashes to in dimension d.
func (d *hashDim) bucket(s *schema, cells []cell) int32 {
	enc := encodeColumns(nil, s, d.cols, cells)
	return int32(MurmurHash64A(enc, uint64(d.seed)) % uint64(d.buckets))
}

// rangeKey returns a row's encoded range key.
func (ps *partitionSchema) rangeKey(s *schema, cells []cell) []byte {
	return encodeColumns(nil, s, ps.rangeCols, cells)
}

// partitionKey returns a row's partition key: each hash bucket as a 4-byte
// big-endian integer, then the range key.
func (ps *partitionSchema) partitionKey(s *schema, cells []cell) ([]int32, []byte) {
	var key []byte
	buckets := make([]int32, len(ps.hash))
	for i := range ps.hash {
		buckets[i] = ps.hash[i].bucket(s, cells)
		key = binary.BigEndian.AppendUint32(key, uint32(buckets[i]))
	}
	return buckets, append(key, ps.rangeKey(s, cells)...)
}

// lookupColumn resolves a PartitionSchemaPB.ColumnIdentifierPB {id=1,
// name=2} against a schema.
// keyColumn resolves a partition schema's column reference (a
// ColumnIdentifierPB in f) to a primary-key column's index; what names the
// partitioning kind in errors.
func keyColumn(s *schema, f field, what string) (int, error) {
	cb, err := f.bytes()
	if err != nil {
		return 0, err
	}
	ci, err := lookupColumn(s, cb)
	if err != nil {
		return 0, err
	}
	if !s.cols[ci].key {
		return 0, fmt.Errorf("%s column %q is not a primary key column", what, s.cols[ci].name)
	}
	return ci, nil
}

func lookupColumn(s *schema, b []byte) (int, error) {
	fs, err := parseFields(b)
	if err != nil {
		return 0, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			id, err := f.int32v()
			if err != nil {
				return 0, err
			}
			for i, c := range s.cols {
				if c.hasID && c.id == id {
					return i, nil
				}
			}
			return 0, fmt.Errorf("unknown column id %d", id)
		case 2:
			name, err := f.bytes()
			if err != nil {
				return 0, err
			}
			if i, ok := s.byName[string(name)]; ok {
				return i, nil
			}
			return 0, fmt.Errorf("unknown column %q", name)
		}
	}
	return 0, errors.New("column identifier has neither id nor name")
}

// decodePartitionSchema decodes a PartitionSchemaPB: hash_schema=1
// {columns=1, num_buckets=2, seed=3, hash_algorithm=4}, range_schema=2
// {columns=1}, custom_hash_schema_ranges=5 (rejected). Without a
// range_schema the range columns are the primary key, as in Kudu.
func decodePartitionSchema(b []byte, s *schema) (*partitionSchema, error) {
	fs, err := parseFields(b)
	if err != nil {
		return nil, err
	}
	ps := &partitionSchema{}
	hasRange := false
	used := map[int]bool{}
	for _, f := range fs {
		switch f.num {
		case 1:
			hb, err := f.bytes()
			if err != nil {
				return nil, err
			}
			hfs, err := parseFields(hb)
			if err != nil {
				return nil, err
			}
			var d hashDim
			hasBuckets := false
			for _, hf := range hfs {
				switch hf.num {
				case 1:
					ci, err := keyColumn(s, hf, "hash")
					if err != nil {
						return nil, err
					}
					if used[ci] {
						return nil, fmt.Errorf("hash bucket schema components must not contain columns in common (%q)", s.cols[ci].name)
					}
					used[ci] = true
					d.cols = append(d.cols, ci)
				case 2:
					if d.buckets, err = hf.int32v(); err != nil {
						return nil, err
					}
					hasBuckets = true
				case 3:
					if d.seed, err = hf.uint32v(); err != nil {
						return nil, err
					}
				case 4:
					v, err := hf.varint()
					if err != nil {
						return nil, err
					}
					if v != 0 && v != 2 { // HashAlgorithm: UNKNOWN=0, MURMUR_HASH_2=2
						return nil, fmt.Errorf("unsupported hash algorithm %d", v)
					}
				}
			}
			if !hasBuckets || d.buckets < 2 {
				return nil, fmt.Errorf("must have at least two hash buckets (got %d)", d.buckets)
			}
			if len(d.cols) == 0 {
				return nil, errors.New("hash bucket schema components must contain at least one column")
			}
			slices.Sort(d.cols) // Kudu sorts a dimension's columns by id
			ps.hash = append(ps.hash, d)
		case 2:
			hasRange = true
			rb, err := f.bytes()
			if err != nil {
				return nil, err
			}
			rfs, err := parseFields(rb)
			if err != nil {
				return nil, err
			}
			seen := map[int]bool{}
			for _, rf := range rfs {
				if rf.num != 1 {
					continue
				}
				ci, err := keyColumn(s, rf, "range")
				if err != nil {
					return nil, err
				}
				if seen[ci] {
					return nil, fmt.Errorf("duplicate range column %q", s.cols[ci].name)
				}
				seen[ci] = true
				ps.rangeCols = append(ps.rangeCols, ci)
			}
		case 5:
			return nil, errors.New("custom hash schema ranges are not supported by kudutest")
		}
	}
	if !hasRange {
		for i := 0; i < s.nkeys; i++ {
			ps.rangeCols = append(ps.rangeCols, i)
		}
	}
	return ps, nil
}

// encodePartitionSchema appends a PartitionSchemaPB naming columns by id,
// as the master does.
func encodePartitionSchema(p *pb, ps *partitionSchema, s *schema) {
	for _, d := range ps.hash {
		p.msg(1, func(q *pb) {
			for _, ci := range d.cols {
				q.msg(1, func(r *pb) { r.int32f(1, s.cols[ci].id) })
			}
			q.int32f(2, d.buckets)
			q.varint(3, uint64(d.seed))
		})
	}
	p.msg(2, func(q *pb) {
		for _, ci := range ps.rangeCols {
			q.msg(1, func(r *pb) { r.int32f(1, s.cols[ci].id) })
		}
	})
}

// partition is one tablet's slice of the key space.
type partition struct {
	buckets          []int32
	rangeLo, rangeHi []byte // encoded range keys; empty = unbounded
	start, end       []byte // partition keys; empty end = unbounded
}

// contains reports whether a row with these buckets and range key belongs
// to the partition (Kudu's PartitionContainsRow).
func (p *partition) contains(buckets []int32, rkey []byte) bool {
	if !slices.Equal(p.buckets, buckets) {
		return false
	}
	if bytes.Compare(rkey, p.rangeLo) < 0 {
		return false
	}
	return len(p.rangeHi) == 0 || bytes.Compare(rkey, p.rangeHi) < 0
}

// keyRange is a range partition [lo, hi) of encoded range keys.
type keyRange struct{ lo, hi []byte }

// createPartitions builds one partition per hash bucket combination and
// range, the first hash dimension outermost. The end key of a partition
// with an unbounded range end is its hash prefix with the last bucket
// incremented, as Kudu's UpdatePartitionBoundaries does.
func (ps *partitionSchema) createPartitions(ranges []keyRange) []partition {
	combos := [][]int32{nil}
	for _, d := range ps.hash {
		var next [][]int32
		for _, c := range combos {
			for b := int32(0); b < d.buckets; b++ {
				next = append(next, append(slices.Clone(c), b))
			}
		}
		combos = next
	}
	var out []partition
	for _, c := range combos {
		var prefix []byte
		for _, b := range c {
			prefix = binary.BigEndian.AppendUint32(prefix, uint32(b))
		}
		for _, r := range ranges {
			p := partition{buckets: c, rangeLo: r.lo, rangeHi: r.hi}
			p.start = append(slices.Clone(prefix), r.lo...)
			if len(r.hi) == 0 && len(c) > 0 {
				p.end = binary.BigEndian.AppendUint32(slices.Clone(prefix[:4*(len(c)-1)]), uint32(c[len(c)-1]+1))
			} else if len(r.hi) > 0 {
				p.end = append(slices.Clone(prefix), r.hi...)
			}
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b partition) int { return bytes.Compare(a.start, b.start) })
	return out
}

// rangesFromOps turns the decoded split rows and range bounds of a
// CreateTable request into sorted, non-overlapping range partitions,
// following Kudu's rules: bounds come in (lower, upper) pairs, exclusive
// lower and inclusive upper bounds are incremented, split rows split the
// bounds and must fall inside them.
func (ps *partitionSchema) rangesFromOps(s *schema, ops []decodedOp) ([]keyRange, error) {
	var splits [][]byte
	var bounds []keyRange
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		switch op.typ {
		case OpSplitRow:
			k, set, err := ps.boundKey(s, op.cells)
			if err != nil {
				return nil, err
			}
			if !set {
				return nil, errors.New("split rows must contain a value for at least one range partition column")
			}
			splits = append(splits, k)
		case OpRangeLowerBound, OpExclusiveRangeLowerBound:
			if i+1 >= len(ops) || (ops[i+1].typ != OpRangeUpperBound && ops[i+1].typ != OpInclusiveRangeUpperBound) {
				return nil, errors.New("missing upper range bound in create table request")
			}
			lower, upper := slices.Clone(op.cells), slices.Clone(ops[i+1].cells)
			if op.typ == OpExclusiveRangeLowerBound {
				if !ps.increment(s, lower) {
					return nil, errors.New("exclusive lower bound range partition key must not have maximum values for all components")
				}
			}
			if ops[i+1].typ == OpInclusiveRangeUpperBound && ps.anySet(upper) {
				if !ps.increment(s, upper) {
					for _, ci := range ps.rangeCols {
						upper[ci] = cell{}
					}
				}
			}
			lo, _, err := ps.boundKey(s, lower)
			if err != nil {
				return nil, err
			}
			hi, _, err := ps.boundKey(s, upper)
			if err != nil {
				return nil, err
			}
			if len(lo) > 0 && len(hi) > 0 && bytes.Compare(lo, hi) >= 0 {
				return nil, errors.New("range partition lower bound must be less than the upper bound")
			}
			bounds = append(bounds, keyRange{lo, hi})
			i++
		default:
			return nil, fmt.Errorf("illegal row operation type in request: %v", op.typ)
		}
	}
	slices.SortFunc(bounds, func(a, b keyRange) int { return bytes.Compare(a.lo, b.lo) })
	for i := 0; i+1 < len(bounds); i++ {
		if len(bounds[i].hi) == 0 || len(bounds[i+1].lo) == 0 || bytes.Compare(bounds[i].hi, bounds[i+1].lo) > 0 {
			return nil, errors.New("overlapping range partitions")
		}
	}
	if len(bounds) == 0 {
		bounds = []keyRange{{}}
	}
	slices.SortFunc(splits, bytes.Compare)
	for i := 0; i+1 < len(splits); i++ {
		if bytes.Equal(splits[i], splits[i+1]) {
			return nil, errors.New("duplicate split row")
		}
	}
	var out []keyRange
	si := 0
	for _, b := range bounds {
		lo := b.lo
		for ; si < len(splits) && (len(b.hi) == 0 || bytes.Compare(splits[si], b.hi) <= 0); si++ {
			sp := splits[si]
			if len(lo) > 0 && bytes.Compare(sp, lo) < 0 {
				return nil, errors.New("split out of bounds")
			}
			if bytes.Equal(sp, lo) || bytes.Equal(sp, b.hi) {
				return nil, errors.New("split matches lower or upper bound")
			}
			out = append(out, keyRange{lo, sp})
			lo = sp
		}
		out = append(out, keyRange{lo, b.hi})
	}
	if si != len(splits) {
		return nil, errors.New("split out of bounds")
	}
	return out, nil
}

// anySet reports whether any range column of a bound is set.
func (ps *partitionSchema) anySet(cells []cell) bool {
	for _, ci := range ps.rangeCols {
		if cells[ci].set {
			return true
		}
	}
	return false
}

// boundKey encodes a split row or range bound: empty when no column is
// set (unbounded); only range columns may be set.
func (ps *partitionSchema) boundKey(s *schema, cells []cell) ([]byte, bool, error) {
	set := false
	for i, c := range cells {
		if !c.set {
			continue
		}
		if !slices.Contains(ps.rangeCols, i) {
			return nil, false, fmt.Errorf("split rows may only contain values for range partition columns (%q)", s.cols[i].name)
		}
		set = true
	}
	if !set {
		return nil, false, nil
	}
	return ps.rangeKey(s, cells), true, nil
}

// increment increments a bound's range key in place, Kudu's
// IncrementRangePartitionKey: from the last range column, a set column is
// incremented (on overflow it is unset and the next column to the left is
// tried), an unset column becomes its minimum plus one. It reports false
// when every column was at its maximum.
func (ps *partitionSchema) increment(s *schema, cells []cell) bool {
	var unset []int
	for i := len(ps.rangeCols) - 1; i >= 0; i-- {
		ci := ps.rangeCols[i]
		c := &s.cols[ci]
		if !cells[ci].set {
			var v []byte
			if c.typ.varlen() {
				v = []byte{0}
			} else {
				lo, _ := intRange(c)
				if c.typ == TypeDecimal32 || c.typ == TypeDecimal64 || c.typ == TypeDecimal128 {
					lo = decimalBound(c.precision, -1)
				}
				v = intLE(lo.Add(lo, big.NewInt(1)), c.typ.size())
			}
			cells[ci] = cell{set: true, v: v}
			for _, u := range unset {
				cells[u] = cell{}
			}
			return true
		}
		if c.typ.varlen() {
			cells[ci] = cell{set: true, v: append(slices.Clone(cells[ci].v), 0)}
			for _, u := range unset {
				cells[u] = cell{}
			}
			return true
		}
		x := leInt(cells[ci].v)
		_, hi := intRange(c)
		if c.typ == TypeDecimal32 || c.typ == TypeDecimal64 || c.typ == TypeDecimal128 {
			hi = decimalBound(c.precision, 1)
		}
		if x.Cmp(hi) < 0 {
			cells[ci] = cell{set: true, v: intLE(x.Add(x, big.NewInt(1)), c.typ.size())}
			for _, u := range unset {
				cells[u] = cell{}
			}
			return true
		}
		unset = append(unset, ci)
	}
	return false
}
