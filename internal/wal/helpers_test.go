package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// noSync is an Open option for tests that reopen logs many times: it skips
// fsyncs (which change nothing a test can observe without a power cut).
func noSync() Option { return withSync(func(*os.File) error { return nil }) }

// openLog opens the log in dir or fails the test, and closes it at the end
// of the test.
func openLog(t testing.TB, dir string, opts ...Option) *Log {
	t.Helper()
	l, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// record is a record read back from a log.
type record struct {
	seq     uint64
	payload []byte
}

// scanAll returns every record of the log.
func scanAll(t testing.TB, l *Log) []record {
	t.Helper()
	var recs []record
	if err := l.Scan(0, func(seq uint64, p []byte) error {
		recs = append(recs, record{seq, p})
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return recs
}

// payloadFor returns a deterministic payload for the i-th record of a
// test, of varied sizes including empty.
func payloadFor(i int) []byte {
	sizes := []int{0, 1, 7, 33, 100, 300, 1000, 4096}
	n := sizes[i%len(sizes)]
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(i*31 + j*7)
	}
	return p
}

// appendN appends n records made by payloadFor(0..n-1) and returns their
// seqs.
func appendN(t testing.TB, l *Log, n int) []uint64 {
	t.Helper()
	seqs := make([]uint64, n)
	for i := range n {
		seq, err := l.Append(payloadFor(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		seqs[i] = seq
	}
	return seqs
}

// segmentPaths returns the paths of the segment files in dir, in order.
func segmentPaths(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "log-*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	return paths
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// snapshotDir returns the names and contents of the files in dir.
func snapshotDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

// sameDir fails the test if dir's files differ from the snapshot before.
func sameDir(t testing.TB, dir string, before map[string]string) {
	t.Helper()
	after := snapshotDir(t, dir)
	if len(after) != len(before) {
		t.Fatalf("files changed: %d before, %d after", len(before), len(after))
	}
	for name, b := range before {
		if after[name] != b {
			t.Fatalf("file %s changed", name)
		}
	}
}

// verifyDir decodes every segment file in dir with a decoder written apart
// from the package's, and checks that the directory is a well-formed log:
// every header and record intact, no trailing bytes, seqs going up by one
// within segments and each segment continuing the one before. It returns
// the records.
func verifyDir(dir, codec string) ([]record, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	tab := crc32.MakeTable(crc32.Castagnoli)
	le := binary.LittleEndian
	var recs []record
	var last uint64
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "log-") {
			continue
		}
		nameSeq, err := strconv.ParseUint(strings.TrimPrefix(e.Name(), "log-"), 10, 64)
		if err != nil || len(e.Name()) != 24 {
			return nil, fmt.Errorf("%s: bad name", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if len(b) < 32 || string(b[:8]) != "MBWALSEG" || le.Uint16(b[8:]) != 1 {
			return nil, fmt.Errorf("%s: bad header start", e.Name())
		}
		cl := int(le.Uint16(b[10:]))
		if len(b) < 32+cl || string(b[28:28+cl]) != codec {
			return nil, fmt.Errorf("%s: bad codec", e.Name())
		}
		if crc32.Checksum(b[:28+cl], tab) != le.Uint32(b[28+cl:]) {
			return nil, fmt.Errorf("%s: bad header checksum", e.Name())
		}
		first, prev := le.Uint64(b[12:]), le.Uint64(b[20:])
		if first != nameSeq || prev >= first {
			return nil, fmt.Errorf("%s: header seqs %d %d", e.Name(), first, prev)
		}
		if n > 0 && prev != last {
			return nil, fmt.Errorf("%s: prev %d, last seq before %d", e.Name(), prev, last)
		}
		n++
		last = first - 1
		for rest := b[32+cl:]; len(rest) > 0; {
			if len(rest) < 16 {
				return nil, fmt.Errorf("%s: %d trailing bytes", e.Name(), len(rest))
			}
			length, sum, seq := le.Uint32(rest), le.Uint32(rest[4:]), le.Uint64(rest[8:])
			if uint64(len(rest)-16) < uint64(length) {
				return nil, fmt.Errorf("%s: record runs past the end", e.Name())
			}
			payload := rest[16 : 16+length]
			h := crc32.New(tab)
			h.Write(payload)
			h.Write(rest[0:4])
			h.Write(rest[8:16])
			if h.Sum32() != sum {
				return nil, fmt.Errorf("%s: record %d checksum", e.Name(), seq)
			}
			if seq != last+1 {
				return nil, fmt.Errorf("%s: seq %d after %d", e.Name(), seq, last)
			}
			last = seq
			recs = append(recs, record{seq, bytes.Clone(payload)})
			rest = rest[16+length:]
		}
	}
	if n == 0 {
		return nil, errors.New("no segment files")
	}
	return recs, nil
}

// sameRecords fails the test unless got and want hold the same seqs and
// payloads.
func sameRecords(t testing.TB, got, want []record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].seq != want[i].seq || !bytes.Equal(got[i].payload, want[i].payload) {
			t.Fatalf("record %d: got seq %d (%d bytes), want seq %d (%d bytes)", i, got[i].seq, len(got[i].payload), want[i].seq, len(want[i].payload))
		}
	}
}

// makeRecords returns the records payloadFor(0..n-1) with seqs from first.
func makeRecords(first uint64, n int) []record {
	recs := make([]record, n)
	for i := range recs {
		recs[i] = record{first + uint64(i), payloadFor(i)}
	}
	return recs
}
