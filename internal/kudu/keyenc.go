package kudu

import (
	"encoding/binary"
)

// murmur2_64 is MurmurHash64A (Austin Appleby), which Kudu uses to pick hash
// buckets: 8-byte little-endian blocks, multiplier 0xc6a4a7935bd1e995, shift
// 47.
func murmur2_64(data []byte, seed uint64) uint64 {
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

// appendKeyColumn appends the key encoding of column i of row r: integers
// big-endian with the sign bit flipped (so they sort as unsigned bytes);
// strings raw if last, otherwise with 0x00 escaped as 0x00 0x01 and a 0x00
// 0x00 terminator.
func appendKeyColumn(b []byte, r *Row, i int, last bool) []byte {
	c := &r.schema.cols[i]
	if c.Type.varLen() {
		v := r.varlen[i]
		if last {
			return append(b, v...)
		}
		for _, x := range v {
			b = append(b, x)
			if x == 0 {
				b = append(b, 1)
			}
		}
		return append(b, 0, 0)
	}
	u := r.fixed[i]
	switch c.Type.size() {
	case 1:
		return append(b, byte(u)^0x80)
	case 2:
		return binary.BigEndian.AppendUint16(b, uint16(u)^0x8000)
	case 4:
		return binary.BigEndian.AppendUint32(b, uint32(u)^0x80000000)
	default:
		return binary.BigEndian.AppendUint64(b, u^0x8000000000000000)
	}
}

// appendKeyColumns key-encodes the columns cols of r; "last" is relative to
// this column list.
func appendKeyColumns(b []byte, r *Row, cols []int) []byte {
	for j, i := range cols {
		b = appendKeyColumn(b, r, i, j == len(cols)-1)
	}
	return b
}

// hashBucket returns the bucket of r in hash dimension d:
// MurmurHash64A(key-encoded columns, seed) mod num_buckets, unsigned.
func hashBucket(r *Row, d *hashDim, scratch []byte) (int32, []byte) {
	scratch = appendKeyColumns(scratch[:0], r, d.cols)
	h := murmur2_64(scratch, uint64(d.seed))
	return int32(h % uint64(d.numBuckets)), scratch
}

// partitionKey appends the partition key of r: each hash bucket as a 4-byte
// big-endian integer, then the key-encoded range columns. The key columns
// of r must be set.
func (p *partitioning) appendPartitionKey(b []byte, r *Row) []byte {
	var scratch []byte
	for k := range p.hash {
		var bucket int32
		bucket, scratch = hashBucket(r, &p.hash[k], scratch)
		b = binary.BigEndian.AppendUint32(b, uint32(bucket))
	}
	return appendKeyColumns(b, r, p.rangeCols)
}
