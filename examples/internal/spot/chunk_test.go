package spot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestChunkVectors(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []byte
	}{
		{"two lines", []string{"a,b", "c"}, []byte{0x00, 0x04, 0x06, 0x61, 0x2c, 0x62, 0x02, 0x63, 0x00}},
		{"empty", []string{}, []byte{0x00, 0x00}},
		{"nil is empty", nil, []byte{0x00, 0x00}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncodeChunk(tc.lines)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("EncodeChunk(%q) = % x, want % x", tc.lines, got, tc.want)
			}
			back, err := DecodeChunk(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != len(tc.lines) || !slices.Equal(back, tc.lines) && len(tc.lines) > 0 {
				t.Fatalf("DecodeChunk = %q, want %q", back, tc.lines)
			}
		})
	}
	// null is the union's second branch.
	lines, err := DecodeChunk([]byte{0x02})
	if err != nil || lines != nil {
		t.Fatalf("DecodeChunk(null) = %q, %v; want no lines", lines, err)
	}
}

// The sample segments were encoded by an independent Avro implementation
// from the sample records split by hour: our encoder gives the same bytes.
func TestChunkGoldenSegments(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "flow_records.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	segments := [][]string{lines[:18], lines[18:]}
	for i, seg := range segments {
		golden, err := os.ReadFile(filepath.Join("testdata", "spot_flow_segment-"+string(rune('0'+i))+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := EncodeChunk(seg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, golden) {
			t.Errorf("segment %d: encoded % x\nwant % x", i, got, golden)
		}
		back, err := DecodeChunk(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back, seg) {
			t.Errorf("segment %d decoded to %q, want %q", i, back, seg)
		}
	}
}

func TestDecodeChunkRejects(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty message", nil},
		{"unknown union branch", []byte{0x04}},
		{"truncated string", []byte{0x00, 0x04, 0x06, 0x61}},
		{"trailing bytes", []byte{0x00, 0x02, 0x02, 0x63, 0x00, 0x01}},
		{"huge array count", []byte{0x00, 0xfe, 0xff, 0xff, 0xff, 0x0f}},
		{"huge string length", []byte{0x00, 0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f}},
		{"text", []byte("2016-08-17 10:58:03,2016,8")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := DecodeChunk(tc.in)
			if !errors.Is(err, ErrBadChunk) {
				t.Fatalf("DecodeChunk(% x) = %q, %v; want ErrBadChunk", tc.in, lines, err)
			}
		})
	}
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add([]byte{0x00, 0x04, 0x06, 0x61, 0x2c, 0x62, 0x02, 0x63, 0x00})
	f.Add([]byte{0x02})
	f.Add([]byte{0x00, 0x03, 0x0c, 0x06, 0x61, 0x2c, 0x62, 0x02, 0x63, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := DecodeChunk(b)
		if err != nil {
			if !errors.Is(err, ErrBadChunk) {
				t.Fatalf("error %v does not wrap ErrBadChunk", err)
			}
			return
		}
		// What decodes re-encodes to a datum that decodes the same.
		again, err := EncodeChunk(lines)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeChunk(again)
		if err != nil || !slices.Equal(back, lines) && len(lines) > 0 {
			t.Fatalf("round trip of %q: %q, %v", lines, back, err)
		}
	})
}
