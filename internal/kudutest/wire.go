package kudutest

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file holds the small protobuf toolkit the servers use: a field
// iterator for decoding and a builder for encoding. Every Kudu message is
// hand-decoded from the field numbers in Kudu's .proto files; no generated
// code is involved.

// field is one decoded protobuf field. Scalar values are in u (varint,
// fixed32 and fixed64 wire types), length-delimited ones in b.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// errWireType is returned when a field has an unexpected wire type.
var errWireType = errors.New("unexpected wire type")

// parseFields splits a serialized message into its fields. Groups are
// rejected: no Kudu message uses them.
func parseFields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("bad tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			f.u, b = v, b[n:]
		case protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			f.u, b = uint64(v), b[n:]
		case protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			f.u, b = v, b[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			f.b, b = v, b[n:]
		default:
			return nil, fmt.Errorf("field %d: unsupported wire type %d", num, typ)
		}
		out = append(out, f)
	}
	return out, nil
}

// varint returns a varint field's value.
func (f field) varint() (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, fmt.Errorf("field %d: %w %d (want varint)", f.num, errWireType, f.typ)
	}
	return f.u, nil
}

// int32v returns an int32/enum field's value, checking the range.
func (f field) int32v() (int32, error) {
	v, err := f.varint()
	if err != nil {
		return 0, err
	}
	i := int64(v)
	if i < -1<<31 || i > 1<<31-1 {
		return 0, fmt.Errorf("field %d: value %d out of int32 range", f.num, i)
	}
	return int32(i), nil
}

// uint32v returns a uint32 field's value, checking the range.
func (f field) uint32v() (uint32, error) {
	v, err := f.varint()
	if err != nil {
		return 0, err
	}
	if v > 1<<32-1 {
		return 0, fmt.Errorf("field %d: value %d out of uint32 range", f.num, v)
	}
	return uint32(v), nil
}

// boolv returns a bool field's value.
func (f field) boolv() (bool, error) {
	v, err := f.varint()
	return v != 0, err
}

// bytes returns a length-delimited field's contents.
func (f field) bytes() ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, fmt.Errorf("field %d: %w %d (want bytes)", f.num, errWireType, f.typ)
	}
	return f.b, nil
}

// fixed64 returns a fixed64 field's value.
func (f field) fixed64() (uint64, error) {
	if f.typ != protowire.Fixed64Type {
		return 0, fmt.Errorf("field %d: %w %d (want fixed64)", f.num, errWireType, f.typ)
	}
	return f.u, nil
}

// pb builds a serialized message.
type pb struct{ b []byte }

func (p *pb) varint(n protowire.Number, v uint64) {
	p.b = protowire.AppendTag(p.b, n, protowire.VarintType)
	p.b = protowire.AppendVarint(p.b, v)
}

// int32f appends an int32 or enum field (negative values take 10 bytes).
func (p *pb) int32f(n protowire.Number, v int32) { p.varint(n, uint64(int64(v))) }

func (p *pb) boolf(n protowire.Number, v bool) {
	p.varint(n, protowire.EncodeBool(v))
}

func (p *pb) bytesf(n protowire.Number, v []byte) {
	p.b = protowire.AppendTag(p.b, n, protowire.BytesType)
	p.b = protowire.AppendBytes(p.b, v)
}

func (p *pb) str(n protowire.Number, v string) {
	p.b = protowire.AppendTag(p.b, n, protowire.BytesType)
	p.b = protowire.AppendString(p.b, v)
}

func (p *pb) fixed64(n protowire.Number, v uint64) {
	p.b = protowire.AppendTag(p.b, n, protowire.Fixed64Type)
	p.b = protowire.AppendFixed64(p.b, v)
}

// msg appends a nested message built by fn.
func (p *pb) msg(n protowire.Number, fn func(*pb)) {
	var q pb
	fn(&q)
	p.bytesf(n, q.b)
}

// packedInt32 appends a packed repeated int32 field.
func (p *pb) packedInt32(n protowire.Number, vs []int32) {
	var q []byte
	for _, v := range vs {
		q = protowire.AppendVarint(q, uint64(int64(v)))
	}
	p.bytesf(n, q)
}
