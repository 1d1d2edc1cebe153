package wal

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// castagnoli is the CRC-32C table used for every checksum in the log.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	// magic opens every segment file.
	magic = "MBWALSEG"
	// formatVersion is the only segment format version this package reads
	// and writes.
	formatVersion = 1
	// headerFixedSize is the size of a segment header without the codec
	// name and the trailing checksum: magic, version, codec name length,
	// first seq, prev seq.
	headerFixedSize = 8 + 2 + 2 + 8 + 8
	// maxCodecLen is the longest codec name a header can hold.
	maxCodecLen = 255
	// maxHeaderSize is the size of the largest possible segment header.
	maxHeaderSize = headerFixedSize + maxCodecLen + 4
	// frameHeaderSize is the size of a record's frame before its payload:
	// length, checksum, seq.
	frameHeaderSize = 4 + 4 + 8
	// maxSeq is the highest sequence number the log hands out or accepts
	// in a segment name or header. It leaves room below 2^64 for the
	// arithmetic of recovery.
	maxSeq = 1<<63 - 1
	// segmentPrefix starts every segment file name; the first seq follows
	// as 20 decimal digits.
	segmentPrefix = "log-"
	// segmentNameLen is the length of a segment file name.
	segmentNameLen = len(segmentPrefix) + 20
)

// segmentHeader is the decoded header of a segment file.
type segmentHeader struct {
	// version is the format version.
	version uint16
	// codec is the name of the caller's serializer.
	codec string
	// first is the seq of the segment's first record (the next seq when the
	// segment was created, whether or not a record followed).
	first uint64
	// prev is the seq of the last record before this segment: first-1,
	// unless recovery skipped seqs that dropped bytes may have held.
	prev uint64
}

// size returns the encoded size of the header.
func (h segmentHeader) size() int { return headerFixedSize + len(h.codec) + 4 }

// marshal encodes the header.
func (h segmentHeader) marshal() []byte {
	b := make([]byte, h.size())
	copy(b, magic)
	binary.LittleEndian.PutUint16(b[8:], h.version)
	binary.LittleEndian.PutUint16(b[10:], uint16(len(h.codec)))
	binary.LittleEndian.PutUint64(b[12:], h.first)
	binary.LittleEndian.PutUint64(b[20:], h.prev)
	copy(b[headerFixedSize:], h.codec)
	n := headerFixedSize + len(h.codec)
	binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	return b
}

// parseHeader decodes a segment header from the start of b, which holds
// the first bytes of a segment file (the whole file when it is shorter
// than maxHeaderSize). It returns the header and its size. A header that
// is damaged or incomplete gives a non-empty problem (the segment is
// corrupt from offset 0); a well-formed header of another format version
// gives an error wrapping ErrUnknownVersion, since dropping a newer
// program's data would be wrong.
func parseHeader(b []byte) (h segmentHeader, size int, problem string, err error) {
	if len(b) < 12 {
		return h, 0, fmt.Sprintf("short segment header (%d bytes)", len(b)), nil
	}
	if string(b[:8]) != magic {
		return h, 0, fmt.Sprintf("bad magic %q in segment header", b[:8]), nil
	}
	h.version = binary.LittleEndian.Uint16(b[8:])
	if h.version != formatVersion {
		return h, 0, "", fmt.Errorf("%w %d (this build reads version %d)", ErrUnknownVersion, h.version, formatVersion)
	}
	n := int(binary.LittleEndian.Uint16(b[10:]))
	if n > maxCodecLen {
		return h, 0, fmt.Sprintf("codec name length %d in segment header exceeds %d", n, maxCodecLen), nil
	}
	size = headerFixedSize + n + 4
	if len(b) < size {
		return h, 0, fmt.Sprintf("short segment header (%d of %d bytes)", len(b), size), nil
	}
	want := binary.LittleEndian.Uint32(b[size-4:])
	if got := crc32.Checksum(b[:size-4], castagnoli); got != want {
		return h, 0, fmt.Sprintf("segment header checksum mismatch (stored %08x, computed %08x)", want, got), nil
	}
	h.first = binary.LittleEndian.Uint64(b[12:])
	h.prev = binary.LittleEndian.Uint64(b[20:])
	h.codec = string(b[headerFixedSize : headerFixedSize+n])
	if h.first == 0 || h.first > maxSeq || h.prev >= h.first {
		return h, 0, fmt.Sprintf("segment header has first seq %d after seq %d", h.first, h.prev), nil
	}
	return h, size, "", nil
}

// payloadCRC starts a record's checksum: the CRC-32C of its payload.
func payloadCRC(payload []byte) uint32 { return crc32.Checksum(payload, castagnoli) }

// frameCRC finishes a record's checksum: the CRC-32C of the payload (whose
// CRC is pcrc) followed by the 4-byte length and the 8-byte seq fields,
// little-endian, as they appear in the frame. Checksumming the payload
// first lets Append compute the expensive part before it takes the lock
// that assigns the seq.
func frameCRC(pcrc uint32, length uint32, seq uint64) uint32 {
	var b [12]byte
	binary.LittleEndian.PutUint32(b[0:], length)
	binary.LittleEndian.PutUint64(b[4:], seq)
	return crc32.Update(pcrc, castagnoli, b[:])
}

// putFrameHeader fills the first frameHeaderSize bytes of frame, whose
// payload follows them, for a record with the given seq; pcrc is the
// payload's CRC-32C.
func putFrameHeader(frame []byte, seq uint64, pcrc uint32) {
	length := uint32(len(frame) - frameHeaderSize)
	binary.LittleEndian.PutUint32(frame[0:], length)
	binary.LittleEndian.PutUint32(frame[4:], frameCRC(pcrc, length, seq))
	binary.LittleEndian.PutUint64(frame[8:], seq)
}

// appendFrame appends the frame of one record to dst.
func appendFrame(dst []byte, seq uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize)...)
	dst = append(dst, payload...)
	putFrameHeader(dst[start:], seq, payloadCRC(payload))
	return dst
}

// decodeFrame checks a whole frame read back by Read: its length field
// must match len(frame), its checksum must hold and its seq must be want.
// It returns the payload (a subslice of frame) or a problem description.
func decodeFrame(frame []byte, want uint64) ([]byte, string) {
	if len(frame) < frameHeaderSize {
		return nil, fmt.Sprintf("short record (%d bytes)", len(frame))
	}
	length := binary.LittleEndian.Uint32(frame[0:])
	sum := binary.LittleEndian.Uint32(frame[4:])
	seq := binary.LittleEndian.Uint64(frame[8:])
	if int64(length) != int64(len(frame)-frameHeaderSize) {
		return nil, fmt.Sprintf("record length %d, expected %d", length, len(frame)-frameHeaderSize)
	}
	payload := frame[frameHeaderSize:]
	if got := frameCRC(payloadCRC(payload), length, seq); got != sum {
		return nil, fmt.Sprintf("record checksum mismatch (stored %08x, computed %08x)", sum, got)
	}
	if seq != want {
		return nil, fmt.Sprintf("record has seq %d, expected %d", seq, want)
	}
	return payload, ""
}

// frameReader reads consecutive records from a byte range of a segment,
// checking each one. Recovery and Scan use it.
type frameReader struct {
	// r reads the range from its current position.
	r *bufio.Reader
	// left is the number of bytes of the range not read yet.
	left int64
	// max is the largest payload length accepted.
	max uint32
	// hdr is scratch space for a frame header.
	hdr [frameHeaderSize]byte
	// buf is reused for payloads when reuse is set.
	buf []byte
	// reuse makes next return payloads in buf (valid until the next call)
	// instead of fresh slices.
	reuse bool
}

// newFrameReader returns a frameReader over the n bytes r yields.
func newFrameReader(r io.Reader, n int64, max uint32, reuse bool) *frameReader {
	size := 256 << 10
	if n < int64(size) {
		size = int(max64(n, 16))
	}
	return &frameReader{r: bufio.NewReaderSize(r, size), left: n, max: max, reuse: reuse}
}

// next reads the next record, which must have seq want, and returns its
// payload and frame size. At the end of the range it returns io.EOF. A
// record that is torn, damaged or out of sequence gives a non-empty
// problem, after which the reader must not be used. err is any other
// failure: a read error, or a record longer
// than max that is otherwise intact (ErrTooLarge: it was written with a
// larger limit, and dropping it would lose good data).
func (fr *frameReader) next(want uint64) (payload []byte, n int64, problem string, err error) {
	if fr.left == 0 {
		return nil, 0, "", io.EOF
	}
	if fr.left < frameHeaderSize {
		return nil, 0, fmt.Sprintf("short record header (%d of %d bytes)", fr.left, frameHeaderSize), nil
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return nil, 0, "", unexpectedEOF(err)
	}
	fr.left -= frameHeaderSize
	length := binary.LittleEndian.Uint32(fr.hdr[0:])
	sum := binary.LittleEndian.Uint32(fr.hdr[4:])
	seq := binary.LittleEndian.Uint64(fr.hdr[8:])
	if int64(length) > fr.left {
		return nil, 0, fmt.Sprintf("record length %d runs past the end of the data (%d bytes left)", length, fr.left), nil
	}
	if length > fr.max {
		// Intact but too long for this limit, or a damaged length?
		h := crc32.New(castagnoli)
		if _, err := io.CopyN(h, fr.r, int64(length)); err != nil {
			return nil, 0, "", unexpectedEOF(err)
		}
		fr.left -= int64(length)
		if frameCRC(h.Sum32(), length, seq) == sum && seq == want {
			return nil, 0, "", fmt.Errorf("%w: record %d has %d bytes, more than the limit of %d: reopen with a larger MaxRecordBytes", ErrTooLarge, seq, length, fr.max)
		}
		return nil, 0, fmt.Sprintf("record length %d exceeds the maximum %d", length, fr.max), nil
	}
	if fr.reuse {
		if cap(fr.buf) < int(length) {
			fr.buf = make([]byte, length)
		}
		payload = fr.buf[:length]
	} else {
		payload = make([]byte, length)
	}
	if _, err := io.ReadFull(fr.r, payload); err != nil {
		return nil, 0, "", unexpectedEOF(err)
	}
	fr.left -= int64(length)
	if got := frameCRC(payloadCRC(payload), length, seq); got != sum {
		return nil, 0, fmt.Sprintf("record checksum mismatch (stored %08x, computed %08x)", sum, got), nil
	}
	if seq != want {
		return nil, 0, fmt.Sprintf("record has seq %d, expected %d", seq, want), nil
	}
	return payload, frameHeaderSize + int64(length), "", nil
}

// unexpectedEOF turns io.EOF, met while reading bytes the caller knew to
// exist, into io.ErrUnexpectedEOF (the file shrank under the reader).
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// segmentName returns the file name of the segment whose first seq is
// first.
func segmentName(first uint64) string {
	return fmt.Sprintf("%s%020d", segmentPrefix, first)
}

// parseSegmentName returns the first seq a segment file name holds, and
// whether name is a segment file name at all.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segmentNameLen || name[:len(segmentPrefix)] != segmentPrefix {
		return 0, false
	}
	digits := name[len(segmentPrefix):]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || seq == 0 || seq > maxSeq {
		return 0, false
	}
	return seq, true
}

// max64 returns the larger of a and b.
func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
