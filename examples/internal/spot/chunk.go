package spot

import (
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"

	"github.com/microbatch-go/microbatch/examples/internal/avrosize"
)

// ChunkSchemaJSON is the Avro schema of one collector chunk, the value of
// one Kafka message: a record with one field, list, holding the chunk's
// text lines. It is Spot's schema (namespace SPOT.INGEST, name list.avsc)
// with the default written as [] instead of the string "[]", which strict
// Avro parsers reject; the binary encoding is the same.
const ChunkSchemaJSON = `{
  "namespace": "SPOT.INGEST",
  "name": "list.avsc",
  "type": "record",
  "fields": [
    {"name": "list", "type": [{"type": "array", "items": "string"}, "null"], "default": []}
  ]
}`

var chunkSchema = avro.MustParse(ChunkSchemaJSON)

// chunkAPI returns the Avro API for a datum of n bytes: arrays in one
// block with a plain count, as Spot's Python serializer writes them, so
// our bytes equal the original's, and decoding limits that follow the
// message's size.
func chunkAPI(n int) avro.API { return avrosize.API(n) }

// ErrBadChunk is wrapped by every DecodeChunk error: the message is not a
// chunk datum.
var ErrBadChunk = errors.New("spot: not an Avro chunk")

type chunk struct {
	List *[]string `avro:"list"`
}

// EncodeChunk returns the raw Avro binary datum (no container header, no
// schema-registry prefix) of a chunk holding lines, as the collector
// publishes it. Lines must not contain newlines.
func EncodeChunk(lines []string) ([]byte, error) {
	if lines == nil {
		lines = []string{}
	}
	b, err := chunkAPI(0).Marshal(chunkSchema, chunk{List: &lines})
	if err != nil {
		return nil, fmt.Errorf("spot: encode chunk: %w", err)
	}
	return b, nil
}

// DecodeChunk decodes a raw Avro chunk datum to its lines. A null list is
// no lines. Bytes that are not exactly one datum (garbage, a truncated
// datum, trailing bytes) give an error wrapping ErrBadChunk.
func DecodeChunk(b []byte) ([]string, error) {
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(chunkAPI(len(b))))
	r.Reset(b)
	var c chunk
	r.ReadVal(chunkSchema, &c)
	if r.Error != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadChunk, r.Error)
	}
	// A datum that ends early would have failed above; anything left is
	// not part of it.
	var one [1]byte
	if r.Read(one[:]); r.Error == nil {
		return nil, fmt.Errorf("%w: trailing bytes after the datum", ErrBadChunk)
	}
	if c.List == nil {
		return nil, nil
	}
	return *c.List, nil
}
