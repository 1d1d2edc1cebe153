// Package file is the file source: streams of the files that appear in
// directories, like Spark Streaming's textFileStream, fileStream and
// binaryRecordsStream. It has no receiver: every batch it lists the
// directories and the batch holds the new files, one partition per file,
// read in parallel when the batch runs. Each partition's
// dstream.Lineage source is the storage.FileInfo of its file.
//
//	lines := file.TextStream(ssc, "hdfs://namenode:8020/logs/*/in")
//	words := dstream.FlatMap(lines, strings.Fields)
//
// The directory is a path or URI for storage.Open (local disk, file://,
// or a registered scheme such as hdfs:// once its driver package is
// imported), and may be a path.Match pattern matching several
// directories. Only the files directly in those directories are read, not
// their subdirectories.
//
// # Which files a batch holds
//
// The batch at time T holds every file of the monitored directories that
//
//   - is not a directory and passes the filter (by default, its name does
//     not start with "."; see Filter),
//   - has ignoreThreshold < modification time <= T, and
//   - was not selected by a remembered batch,
//
// where ignoreThreshold = max(the start time, T - rememberWindow). The
// start time is the clock's time when the context started, or the zero
// time with NewFilesOnly(false); rememberWindow is MinRememberDuration
// (60 s by default) rounded up to a whole number of batch intervals. These
// are the rules of Spark's FileInputDStream, and they have the same
// consequences:
//
//   - Files must appear atomically, with their final contents and
//     modification time: write them elsewhere (or under a name starting
//     with ".", as storage.WriteFileAtomic does) and rename them into the
//     directory. A file is read when its batch runs; data appended later
//     is not read, and a file that is changed or appended to is not read
//     again while its batch is remembered.
//   - A file whose modification time is after T waits for a later batch.
//   - A file whose modification time is at or before the threshold is
//     never read: one copied in with an old modification time (a rename
//     keeps it) must arrive within the remember window; inside it, it is
//     read even though batches after its modification time have passed.
//   - The files a batch selected are remembered until the batch one
//     remember window plus one interval later has been generated (Spark
//     forgets them when the batch one window later completes), then
//     forgotten. By then their old modification times are below the
//     threshold, so they are not read again, but a file whose modification
//     time was updated to within the window after that is read again.
//
// A listing that fails is logged as a warning and gives an empty batch;
// the files it missed are picked up by a later batch while they are inside
// the window. A listing that takes longer than the batch interval is
// logged as a warning too. A file that fails to be read fails its batch,
// with an error naming the file.
//
// Each batch's InputInfo metadata has "files", the sorted paths of the
// files it holds; its record count is that of the records read.
//
// # Clocks
//
// The rules compare modification times with the job's clock, so they
// assume that the clock that stamped the files agrees with it. On local
// disk it is the same host's. On HDFS the NameNode stamps them, and its
// host's clock may be ahead of or behind the job's: behind, files written
// just after the start would look older than the start and never be read;
// ahead, files from before the start would look new, and new ones would
// wait. So when the storage can read its own clock (storage/hdfs.FS.Now,
// which writes and removes an empty file in /tmp or the user's home
// directory), the stream measures the offset once, when it generates its
// first batch, and compares each modification time minus that offset; the measure errs towards
// files looking newer, by the round trip and a millisecond, so that none
// is lost. The files' FileInfo keep the storage's times. If the clock
// cannot be read, a warning is logged and the times are compared as they
// are, as Spark does.
//
// The source follows the context's clock (dstream.WithClock), so tests
// drive it with a dstream.ManualClock and files whose modification times
// they set.
package file

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/storage"
)

// ReadFunc reads the records of one file: f describes it (as listed) and r
// reads its contents. It is called once per selected file, concurrently
// for different files of a batch; an error fails the batch. The engine
// owns the returned slice.
type ReadFunc[T any] func(f storage.FileInfo, r io.Reader) ([]T, error)

// Errors of the records of a file, reported by the failed batch. Compare
// with errors.Is.
var (
	// ErrLineTooLong is the cause of the error of a TextStream batch with
	// a line longer than MaxLineBytes.
	ErrLineTooLong = errors.New("file: line too long")

	// ErrPartialRecord is the cause of the error of a BinaryRecordsStream
	// batch with a file whose size is not a multiple of the record length.
	ErrPartialRecord = errors.New("file: file size is not a multiple of the record length")
)

// Stream returns a stream of the records that read makes of the new files
// in dir (Spark's fileStream). dir is a path or URI for storage.Open, or
// a path in the FS given with WithFS, and may be a path.Match pattern.
//
// An invalid option, a nil read function or a dir that cannot be opened
// makes the stream invalid: Context.Start and the stream's output
// operations report a *dstream.BuildError wrapping
// dstream.ErrInvalidOption.
func Stream[T any](c *dstream.Context, dir string, read ReadFunc[T], opts ...Option) *dstream.Stream[T] {
	return newStream(c, "fileStream", dir, opts, false, func(*config) (ReadFunc[T], error) {
		if read == nil {
			return nil, fmt.Errorf("%w: nil read function (%w)", dstream.ErrInvalidOption, dstream.ErrNilFunc)
		}
		return read, nil
	})
}

// TextStream returns a stream of the lines of the new files in dir
// (Spark's textFileStream). Lines end with "\n", and a "\r" before it is
// removed; a last line without a "\n" is a line too, so a file of
// "a\r\nb" has the lines "a" and "b". Lines up to MaxLineBytes long are
// read (64 MiB by default); a longer one fails the batch with an error
// wrapping ErrLineTooLong. See Stream for dir and the options.
func TextStream(c *dstream.Context, dir string, opts ...Option) *dstream.Stream[string] {
	return newStream(c, "textFileStream", dir, opts, true, func(cfg *config) (ReadFunc[string], error) {
		return readLines(cfg.maxLineBytes), nil
	})
}

// BinaryRecordsStream returns a stream of the fixed-length records of the
// new files in dir (Spark's binaryRecordsStream): each file is cut into
// records of recordLen bytes. A file whose size is not a multiple of
// recordLen fails its batch with an error wrapping ErrPartialRecord, as in
// Spark. The records of one file share one backing array. recordLen must
// be positive. See Stream for dir and the options.
func BinaryRecordsStream(c *dstream.Context, dir string, recordLen int, opts ...Option) *dstream.Stream[[]byte] {
	return newStream(c, "binaryRecordsStream", dir, opts, false, func(*config) (ReadFunc[[]byte], error) {
		if recordLen <= 0 {
			return nil, fmt.Errorf("%w: record length %d must be positive", dstream.ErrInvalidOption, recordLen)
		}
		return readRecords(recordLen), nil
	})
}

// newStream builds the input stream of kind op. text says whether
// MaxLineBytes applies; reader makes the read function from the options.
func newStream[T any](c *dstream.Context, op, dir string, opts []Option, text bool,
	reader func(*config) (ReadFunc[T], error)) *dstream.Stream[T] {
	in := &input[T]{c: c}
	s := dstream.InputStream[T](c, op, in)
	in.s = s
	if err := in.configure(dir, opts, text, reader); err != nil {
		return dstream.FailStream(s, err)
	}
	return s
}

// readLines returns the ReadFunc of TextStream.
func readLines(maxLine int) ReadFunc[string] {
	return func(_ storage.FileInfo, r io.Reader) ([]string, error) {
		br := bufio.NewReaderSize(r, 64<<10)
		var lines []string
		var long []byte // the start of a line longer than br's buffer
		for n := 1; ; n++ {
			chunk, err := br.ReadSlice('\n')
			for err == bufio.ErrBufferFull {
				long = append(long, chunk...)
				if len(long)-1 > maxLine { // -1: a "\r" that would be removed
					return nil, fmt.Errorf("%w: line %d is longer than MaxLineBytes (%d bytes)", ErrLineTooLong, n, maxLine)
				}
				chunk, err = br.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			line := chunk
			if long != nil {
				line = append(long, chunk...)
				long = nil
			}
			if err == io.EOF && len(line) == 0 {
				return lines, nil
			}
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if len(line) > maxLine {
				return nil, fmt.Errorf("%w: line %d is longer than MaxLineBytes (%d bytes)", ErrLineTooLong, n, maxLine)
			}
			lines = append(lines, string(line))
			if err == io.EOF {
				return lines, nil
			}
		}
	}
}

// readRecords returns the ReadFunc of BinaryRecordsStream.
func readRecords(recordLen int) ReadFunc[[]byte] {
	return func(f storage.FileInfo, r io.Reader) ([][]byte, error) {
		var buf bytes.Buffer
		if f.Size > 0 && f.Size < 1<<40 {
			buf.Grow(int(f.Size) + bytes.MinRead) // ReadFrom wants MinRead spare to see EOF
		}
		if _, err := buf.ReadFrom(r); err != nil {
			return nil, err
		}
		data := buf.Bytes()
		if len(data)%recordLen != 0 {
			return nil, fmt.Errorf("%w: %d bytes is not a multiple of the record length %d", ErrPartialRecord, len(data), recordLen)
		}
		recs := make([][]byte, len(data)/recordLen)
		for i := range recs {
			recs[i] = data[i*recordLen : (i+1)*recordLen : (i+1)*recordLen]
		}
		return recs, nil
	}
}
