package avrosize

import (
	"bytes"
	"testing"

	"github.com/hamba/avro/v2"
)

var listSchema = avro.MustParse(`{"type":"array","items":"string"}`)

func TestOneBlockPlainCount(t *testing.T) {
	b, err := API(0).Marshal(listSchema, []string{"a,b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	// count 2, "a,b", "c", end of array: no negative count, no byte size.
	if want := []byte{0x04, 0x06, 'a', ',', 'b', 0x02, 'c', 0x00}; !bytes.Equal(b, want) {
		t.Fatalf("% x, want % x", b, want)
	}
}

func TestLimitsFollowSize(t *testing.T) {
	// A string length of 4096 in a 7-byte message: more than the message
	// could hold, refused before allocating.
	msg := []byte{0x02, 0x80, 0x40, 'x', 'y', 'z', 0x00}
	var out []string
	if err := API(len(msg)).Unmarshal(listSchema, msg, &out); err == nil {
		t.Fatalf("decoded %q", out)
	}
	// The same length in a message large enough to be plausible is
	// allowed by the limits (and fails only for running out of bytes).
	if API(1<<20) == API(len(msg)) {
		t.Error("one API for every size")
	}
	if API(1000) != API(1024) || API(1025) == API(1024) {
		t.Error("size classes are not powers of two from 1 KiB")
	}
}
