package kudu

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is wrapped by every error caused by bytes from the network
// that do not decode: truncated frames, bad varints, wrong wire types,
// missing required fields.
var ErrMalformed = errors.New("kudu: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// field is one decoded protobuf field. Only the member matching typ is set.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64 // varint, fixed32, fixed64
	b   []byte // bytes (aliases the input)
}

// walkFields calls fn for every field of the protobuf message in b. It
// never panics on garbage input; it returns an error wrapping ErrMalformed.
func walkFields(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return malformed("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (f field) wrongType() error {
	return malformed("field %d has wire type %d", f.num, f.typ)
}

// varint returns a varint field's value.
func (f field) varint() (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, f.wrongType()
	}
	return f.u, nil
}

// int32v returns an int32/enum field (negative values are sign-extended
// 10-byte varints on the wire).
func (f field) int32v() (int32, error) {
	v, err := f.varint()
	return int32(int64(v)), err
}

func (f field) boolv() (bool, error) {
	v, err := f.varint()
	return v != 0, err
}

func (f field) bytes() ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType()
	}
	return f.b, nil
}

func (f field) str() (string, error) {
	b, err := f.bytes()
	return string(b), err
}

func (f field) fixed64() (uint64, error) {
	if f.typ != protowire.Fixed64Type {
		return 0, f.wrongType()
	}
	return f.u, nil
}

// varints returns the values of a repeated scalar field occurrence, packed
// or not.
func (f field) varints() ([]uint64, error) {
	switch f.typ {
	case protowire.VarintType:
		return []uint64{f.u}, nil
	case protowire.BytesType:
		var out []uint64
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, malformed("packed field %d: %v", f.num, protowire.ParseError(n))
			}
			out = append(out, v)
			b = b[n:]
		}
		return out, nil
	}
	return nil, f.wrongType()
}

// Encoding helpers. Each appends one field to b.

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendInt32Field encodes an int32/enum the way protobuf does: negative
// values are sign-extended to 64 bits (10-byte varint).
func appendInt32Field(b []byte, num protowire.Number, v int32) []byte {
	return appendVarintField(b, num, uint64(int64(v)))
}

func appendBoolField(b []byte, num protowire.Number, v bool) []byte {
	return appendVarintField(b, num, protowire.EncodeBool(v))
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendStringField(b []byte, num protowire.Number, v string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendFixed64Field(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

// appendMessageField appends a nested message built by fn.
func appendMessageField(b []byte, num protowire.Number, fn func([]byte) []byte) []byte {
	return appendBytesField(b, num, fn(nil))
}
