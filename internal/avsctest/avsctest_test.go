package avsctest_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/microbatch-go/microbatch/internal/avsctest"
)

const listSchema = `{"type":"record","name":"list","fields":[{"name":"list","type":[{"type":"array","items":"string"},"null"]}]}`

// The chunk test vector of the samples, both ways, and a datum avsc
// rejects: the helper itself can fail.
func TestVectors(t *testing.T) {
	want := []byte{0x00, 0x04, 0x06, 0x61, 0x2c, 0x62, 0x02, 0x63, 0x00}
	got := avsctest.Encode(t, listSchema, []json.RawMessage{json.RawMessage(`{"list":{"array":["a,b","c"]}}`)})
	if len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("Encode = % x, want % x", got, want)
	}
	dec := avsctest.Decode(t, listSchema, [][]byte{want, {0x02}, {0x00, 0x04, 0x06}, append(want, 0)})
	if string(dec[0].Value) != `{"list":{"array":["a,b","c"]}}` || dec[0].Err != "" {
		t.Errorf("decode vector: %+v", dec[0])
	}
	if string(dec[1].Value) != `{"list":null}` {
		t.Errorf("decode null: %+v", dec[1])
	}
	if dec[2].Err == "" || dec[3].Err == "" {
		t.Errorf("truncated and trailing datums decoded: %+v, %+v", dec[2], dec[3])
	}
}
