package wal

import (
	"errors"
	"fmt"
	"os"
)

// Errors the log returns. Errors with more detail wrap one of these, so
// test them with errors.Is.
var (
	// ErrClosed is returned by every method of a Log after Close.
	ErrClosed = errors.New("wal: log closed")
	// ErrNotFound is returned by Read for a seq that was never appended,
	// is not durable yet, was skipped by recovery, or lies in a segment
	// that RemoveBefore deleted.
	ErrNotFound = errors.New("wal: no such record")
	// ErrTooLarge is returned by Append for a payload longer than
	// MaxRecordBytes, and by Open for an intact record longer than it.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrCorrupt is returned by Read and Scan for a record that fails its
	// checks when read back after recovery (the disk changed under the
	// log).
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrCodecMismatch is returned by Open when the log was written with
	// another codec name than the one given with Codec.
	ErrCodecMismatch = errors.New("wal: codec mismatch")
	// ErrUnknownVersion is returned by Open for a segment of a format
	// version this build does not read.
	ErrUnknownVersion = errors.New("wal: unknown segment format version")
)

const (
	// DefaultSegmentBytes is the default segment size, after which the log
	// starts a new segment file.
	DefaultSegmentBytes = 16 << 20
	// DefaultMaxRecordBytes is the default limit on a payload's length.
	DefaultMaxRecordBytes = 64 << 20
	// DefaultCodec is the codec name used when Codec is not given.
	DefaultCodec = "bytes"
)

// Option configures Open.
type Option func(*options)

// options holds the settings of a Log.
type options struct {
	// codec is the serializer name stored in every segment header.
	codec string
	// segmentBytes is the size past which a new segment is started.
	segmentBytes int64
	// maxRecord is the largest payload accepted.
	maxRecord int
	// sync makes a file's (or directory's) contents durable. Tests replace
	// it to count, slow down or fail syncs.
	sync func(*os.File) error
}

// Codec names the serializer that encoded the payloads (for example
// "avro:Event/3" or "gob"). It is stored in every segment header, and Open
// refuses a log written with another name, so a program never decodes
// records with the wrong serializer. At most 255 bytes; the default is
// DefaultCodec.
func Codec(name string) Option { return func(o *options) { o.codec = name } }

// SegmentBytes sets the size past which the log starts a new segment file
// (default DefaultSegmentBytes). A segment always holds at least one
// record, so one larger than n makes a segment of its own. RemoveBefore
// deletes whole segments, so smaller segments free disk space sooner.
func SegmentBytes(n int64) Option { return func(o *options) { o.segmentBytes = n } }

// MaxRecordBytes sets the longest payload Append accepts (default
// DefaultMaxRecordBytes, at most 4 GiB-1). On recovery a record length
// above it counts as corruption, unless the record is intact, in which
// case Open fails with ErrTooLarge rather than drop it: reopen a log with
// a limit at least as large as the one it was written with.
func MaxRecordBytes(n int) Option { return func(o *options) { o.maxRecord = n } }

// withSync replaces the function that syncs files and directories (tests).
func withSync(fn func(*os.File) error) Option { return func(o *options) { o.sync = fn } }

// buildOptions applies opts over the defaults and checks the result.
func buildOptions(opts []Option) (options, error) {
	o := options{
		codec:        DefaultCodec,
		segmentBytes: DefaultSegmentBytes,
		maxRecord:    DefaultMaxRecordBytes,
		sync:         (*os.File).Sync,
	}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.codec == "" || len(o.codec) > maxCodecLen:
		return o, fmt.Errorf("wal: codec name must have 1 to %d bytes, not %d", maxCodecLen, len(o.codec))
	case o.segmentBytes <= 0:
		return o, fmt.Errorf("wal: SegmentBytes must be positive, not %d", o.segmentBytes)
	case o.maxRecord <= 0 || int64(o.maxRecord) > 1<<32-1:
		return o, fmt.Errorf("wal: MaxRecordBytes must be between 1 and %d, not %d", int64(1<<32-1), o.maxRecord)
	case o.sync == nil:
		o.sync = (*os.File).Sync
	}
	return o, nil
}
