package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fuzzRecords are the valid records the fuzzed logs start with.
var fuzzRecords = [][]byte{[]byte("first record"), {}, bytes.Repeat([]byte{0xab}, 40)}

// validSegment returns a segment file with the given first and prev seqs
// holding fuzzRecords.
func validSegment(first, prev uint64) []byte {
	b := segmentHeader{version: formatVersion, codec: DefaultCodec, first: first, prev: prev}.marshal()
	for i, p := range fuzzRecords {
		b = appendFrame(b, first+uint64(i), p)
	}
	return b
}

// fuzzMode is how FuzzRecover lays out its input in the log directory.
const (
	// modeRaw: the input is the whole first segment file.
	modeRaw = iota
	// modeAfterHeader: a valid header, then the input.
	modeAfterHeader
	// modeAfterRecords: a valid segment with records, then the input.
	modeAfterRecords
	// modeSecondSegment: a valid segment, then a second one made of a
	// valid header and the input.
	modeSecondSegment
	// modeOverwrite: a valid segment with bytes XORed with the input at
	// the offset its first two bytes give.
	modeOverwrite
	// numModes is the number of modes.
	numModes
)

// writeFuzzLog lays out a log directory for FuzzRecover. It returns the
// number of valid records written before the input, which recovery must
// keep.
func writeFuzzLog(t *testing.T, dir string, mode byte, data []byte) int {
	write := func(first uint64, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, segmentName(first)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hdr := segmentHeader{version: formatVersion, codec: DefaultCodec, first: 1}.marshal()
	n := len(fuzzRecords)
	switch mode % numModes {
	case modeRaw:
		write(1, data)
		return 0
	case modeAfterHeader:
		write(1, append(hdr, data...))
		return 0
	case modeAfterRecords:
		write(1, append(validSegment(1, 0), data...))
		return n
	case modeSecondSegment:
		write(1, validSegment(1, 0))
		second := segmentHeader{version: formatVersion, codec: DefaultCodec, first: uint64(n + 1), prev: uint64(n)}.marshal()
		write(uint64(n+1), append(second, data...))
		return n
	default: // modeOverwrite
		b := validSegment(1, 0)
		if len(data) < 2 {
			write(1, b)
			return n
		}
		off := int(binary.LittleEndian.Uint16(data)) % len(b)
		for i, x := range data[2:] {
			if off+i < len(b) {
				b[off+i] ^= x
			}
		}
		write(1, b)
		return 0 // the damage may be anywhere
	}
}

func FuzzRecover(f *testing.F) {
	valid := validSegment(1, 0)
	for _, mode := range []byte{modeRaw, modeAfterHeader, modeAfterRecords, modeSecondSegment} {
		f.Add(mode, []byte{})
		f.Add(mode, valid)
		f.Add(mode, valid[len(valid)-30:])
		for cut := 0; cut < len(valid); cut += 7 {
			f.Add(mode, valid[:cut])
		}
		f.Add(mode, appendFrame(nil, 4, []byte("next")))
		f.Add(mode, appendFrame(nil, 9, []byte("gap")))
		f.Add(mode, make([]byte, 64))
	}
	for _, off := range []uint16{0, 9, 12, 20, 33, 40, 45, 53, 60, 70, 100} {
		f.Add(byte(modeOverwrite), binary.LittleEndian.AppendUint16(nil, off)[:2:2])
		f.Add(byte(modeOverwrite), append(binary.LittleEndian.AppendUint16(nil, off), 0x01))
		f.Add(byte(modeOverwrite), append(binary.LittleEndian.AppendUint16(nil, off), 0xff, 0xff, 0xff, 0xff))
	}
	other := segmentHeader{version: formatVersion, codec: "other", first: 1}.marshal()
	f.Add(byte(modeRaw), other)
	f.Add(byte(modeRaw), segmentHeader{version: 2, codec: DefaultCodec, first: 1}.marshal())
	big := appendFrame(nil, 1, make([]byte, 70_000))
	f.Add(byte(modeAfterHeader), big)

	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		dir := t.TempDir()
		kept := writeFuzzLog(t, dir, mode, data)
		before := snapshotDir(t, dir)
		opts := []Option{noSync(), MaxRecordBytes(1 << 16)}
		l, err := Open(dir, opts...)
		if err != nil {
			if !errors.Is(err, ErrUnknownVersion) && !errors.Is(err, ErrCodecMismatch) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Open: unexpected error %v", err)
			}
			sameDir(t, dir, before)
			return
		}
		defer l.Close()
		r := l.Recovery()
		recs, err := verifyDir(dir, DefaultCodec)
		if err != nil {
			t.Fatalf("log after recovery is not well-formed: %v (report %v)", err, r)
		}
		if int64(len(recs)) != r.Records {
			t.Fatalf("report says %d records, the files hold %d", r.Records, len(recs))
		}
		sameRecords(t, scanAll(t, l), recs)
		if len(recs) < kept {
			t.Fatalf("recovery dropped valid records: %d of %d left (%v)", len(recs), kept, r)
		}
		for i := range kept {
			if !bytes.Equal(recs[i].payload, fuzzRecords[i]) {
				t.Fatalf("record %d changed", i)
			}
		}
		if len(recs) > 0 && (r.LastSeq != recs[len(recs)-1].seq || r.NextSeq <= r.LastSeq) {
			t.Fatalf("report %v", r)
		}
		if r.Truncated == nil {
			// Nothing was dropped, so every byte is part of the log.
			sameDir(t, dir, before)
		}

		seq, err := l.Append([]byte("after"))
		if err != nil || seq != r.NextSeq {
			t.Fatalf("Append after recovery: seq %d, %v (report %v)", seq, err, r)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(dir, opts...)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l.Close()
		r2 := l.Recovery()
		if r2.Truncated != nil || r2.Records != r.Records+1 || r2.LastSeq != seq {
			t.Fatalf("reopen after append: %v (first recovery: %v)", r2, r)
		}
		if p, err := l.Read(seq); err != nil || string(p) != "after" {
			t.Fatalf("Read(%d) = %q, %v", seq, p, err)
		}
	})
}

func FuzzReadRecord(f *testing.F) {
	var valid []byte
	for i, p := range fuzzRecords {
		valid = appendFrame(valid, 5+uint64(i), p)
	}
	f.Add(valid, uint64(5))
	f.Add(valid, uint64(6))
	for cut := 0; cut < len(valid); cut += 5 {
		f.Add(valid[:cut], uint64(5))
	}
	f.Add(appendFrame(nil, 1, make([]byte, 300)), uint64(1)) // above the fuzzed limit
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, uint64(1))

	const max = 256
	f.Fuzz(func(t *testing.T, data []byte, want uint64) {
		// Whole frames, as Read checks them.
		if payload, problem := decodeFrame(data, want); problem == "" {
			if !bytes.Equal(appendFrame(nil, want, payload), data) {
				t.Fatalf("decodeFrame accepted a frame that does not re-encode to itself")
			}
		}
		// Streams of frames, as recovery and Scan read them.
		for _, reuse := range []bool{false, true} {
			fr := newFrameReader(bytes.NewReader(data), int64(len(data)), max, reuse)
			pos := int64(0)
			for seq := want; ; seq++ {
				payload, n, problem, err := fr.next(seq)
				if err == io.EOF {
					if pos != int64(len(data)) {
						t.Fatalf("EOF at %d of %d bytes", pos, len(data))
					}
					break
				}
				if err != nil {
					if !errors.Is(err, ErrTooLarge) {
						t.Fatalf("next: %v", err)
					}
					break
				}
				if problem != "" {
					break
				}
				if len(payload) > max || n != int64(frameHeaderSize+len(payload)) {
					t.Fatalf("record of %d bytes, frame %d", len(payload), n)
				}
				if !bytes.Equal(appendFrame(nil, seq, payload), data[pos:pos+n]) {
					t.Fatalf("record %d does not re-encode to its bytes", seq)
				}
				pos += n
			}
		}
	})
}

func FuzzSegmentHeader(f *testing.F) {
	h := segmentHeader{version: formatVersion, codec: DefaultCodec, first: 7, prev: 6}.marshal()
	f.Add(h)
	f.Add(h[:len(h)-1])
	f.Add(h[:12])
	f.Add(segmentHeader{version: formatVersion, codec: "", first: 1}.marshal())
	f.Add(segmentHeader{version: 3, codec: "x", first: 1}.marshal())
	f.Add(append(segmentHeader{version: formatVersion, codec: "avro:Event/2", first: 1 << 40, prev: 5}.marshal(), 1, 2, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, size, problem, err := parseHeader(data)
		if err != nil {
			if !errors.Is(err, ErrUnknownVersion) || problem != "" {
				t.Fatalf("parseHeader: %v, %q", err, problem)
			}
			return
		}
		if problem != "" {
			return
		}
		if size != h.size() || size > len(data) || h.first == 0 || h.first > maxSeq || h.prev >= h.first {
			t.Fatalf("header %+v of size %d from %d bytes", h, size, len(data))
		}
		if !bytes.Equal(h.marshal(), data[:size]) {
			t.Fatalf("header %+v does not re-encode to its bytes", h)
		}
	})
}
