package dstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A checkpoint file is a small container of named sections:
//
//	magic    "DSCKPT" (6 bytes)
//	version  uint16, big-endian: the format version, checkpointVersion
//	kind     uint8: 1 metadata, 2 state
//	count    uint32: the number of sections
//	count × { nameLen uint16, name, dataLen uint64, data }
//	crc      uint32: CRC-32C (Castagnoli) of every byte before it
//
// The metadata section is JSON; state sections hold the bytes of each
// operator's state codec. A file that is cut short, has a bad checksum or a
// length pointing past its end is corrupt (ErrCheckpointCorrupt); a file of
// another version is refused with ErrCheckpointVersion.

// checkpointVersion is the version of the checkpoint format this build
// writes and reads.
const checkpointVersion = 1

const (
	ckptMagic     = "DSCKPT"
	ckptKindMeta  = 1
	ckptKindState = 2
	// maxSections bounds what a header may announce, so that a corrupt
	// count cannot make the decoder allocate without bound.
	maxSections = 1 << 16
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// section is one named part of a checkpoint file.
type section struct {
	name string
	data []byte
}

// encodeCheckpoint builds a checkpoint file.
func encodeCheckpoint(kind uint8, sections []section) []byte {
	var b bytes.Buffer
	b.WriteString(ckptMagic)
	b.Write(binary.BigEndian.AppendUint16(nil, checkpointVersion))
	b.WriteByte(kind)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(sections))))
	for _, s := range sections {
		b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(s.name))))
		b.WriteString(s.name)
		b.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s.data))))
		b.Write(s.data)
	}
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(b.Bytes(), crcTable)))
	return b.Bytes()
}

// decodeCheckpoint parses a checkpoint file of the given kind. The
// sections' data alias buf.
func decodeCheckpoint(buf []byte, kind uint8) ([]section, error) {
	const head = len(ckptMagic) + 2 + 1 + 4
	if len(buf) < head+4 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCheckpointCorrupt, len(buf))
	}
	if string(buf[:len(ckptMagic)]) != ckptMagic {
		return nil, fmt.Errorf("%w: not a checkpoint file (bad magic)", ErrCheckpointCorrupt)
	}
	if v := binary.BigEndian.Uint16(buf[len(ckptMagic):]); v != checkpointVersion {
		return nil, fmt.Errorf("%w: the file has format version %d; this build reads version %d", ErrCheckpointVersion, v, checkpointVersion)
	}
	body, sum := buf[:len(buf)-4], binary.BigEndian.Uint32(buf[len(buf)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCheckpointCorrupt)
	}
	if k := buf[len(ckptMagic)+2]; k != kind {
		return nil, fmt.Errorf("%w: file kind %d, want %d", ErrCheckpointCorrupt, k, kind)
	}
	n := binary.BigEndian.Uint32(buf[len(ckptMagic)+3:])
	if n > maxSections {
		return nil, fmt.Errorf("%w: %d sections", ErrCheckpointCorrupt, n)
	}
	rest := body[head:]
	out := make([]section, 0, min(int(n), len(rest)/10+1))
	for i := range n {
		if len(rest) < 2 {
			return nil, fmt.Errorf("%w: section %d: truncated name length", ErrCheckpointCorrupt, i)
		}
		nl := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if len(rest) < nl+8 {
			return nil, fmt.Errorf("%w: section %d: truncated name", ErrCheckpointCorrupt, i)
		}
		name := string(rest[:nl])
		dl := binary.BigEndian.Uint64(rest[nl:])
		rest = rest[nl+8:]
		if dl > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: section %q: length %d past the end", ErrCheckpointCorrupt, name, dl)
		}
		out = append(out, section{name: name, data: rest[:dl:dl]})
		rest = rest[dl:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last section", ErrCheckpointCorrupt, len(rest))
	}
	return out, nil
}

// find returns the data of the named section.
func find(sections []section, name string) ([]byte, bool) {
	for _, s := range sections {
		if s.name == name {
			return s.data, true
		}
	}
	return nil, false
}

// errIsCheckpoint reports whether err is a checkpoint format error.
func errIsCheckpoint(err error) bool {
	return errors.Is(err, ErrCheckpointCorrupt) || errors.Is(err, ErrCheckpointVersion)
}
