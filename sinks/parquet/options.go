package parquetsink

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/microbatch-go/microbatch/storage"
)

// Defaults of the options.
const (
	// DefaultRowGroupRows is the most rows a row group holds unless
	// RowGroupRows says otherwise. parquet-go buffers a row group in
	// memory until it is complete, so this bounds the writer's memory
	// per partition.
	DefaultRowGroupRows = 1 << 20
	// DefaultFilePrefix starts the names of the data files unless
	// FilePrefix says otherwise.
	DefaultFilePrefix = "part"
)

// An Option is a setting of the sink that does not depend on the stream's
// element type; New, NewPartitioned, Write and WritePartitioned take
// them. Options are checked there, which return an error for an invalid
// one: no option panics. The settings typed by the element type, the
// Hive partitioning and the dead-letter function, are typed arguments
// instead (PartitionBy, dstream.WriteSpec.DeadLetter), so that a
// mismatch does not compile.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config collects the options.
type config struct {
	errs         []error
	compression  compress.Codec
	rowGroupRows int64
	maxFileRows  int64
	maxFileBytes int64
	prefix       string
	writerOpts   []parquet.WriterOption
	failInvalid  bool // FailOnInvalidPartition
	rotate       *Rotation
	opener       *storage.Opener // Storage; nil: storage.Open
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		compression:  &parquet.Snappy,
		rowGroupRows: DefaultRowGroupRows,
		prefix:       DefaultFilePrefix,
	}
	for _, o := range opts {
		if o == nil {
			c.fail("nil option")
			continue
		}
		o.apply(c)
	}
	return c, errors.Join(c.errs...)
}

// Compression sets the codec of every column: &parquet.Snappy (the
// default), &parquet.Zstd, &parquet.Gzip, &parquet.Lz4Raw, &parquet.Brotli
// or &parquet.Uncompressed, from github.com/parquet-go/parquet-go. A codec
// set on a field by its struct tag (parquet:"name,zstd") takes precedence
// for that column.
func Compression(codec compress.Codec) Option {
	return optionFunc(func(c *config) {
		if codec == nil {
			c.fail("nil compression codec (use &parquet.Uncompressed for none)")
			return
		}
		c.compression = codec
	})
}

// RowGroupRows sets the most rows in a row group (default
// DefaultRowGroupRows). Larger row groups compress better and read faster;
// the writer holds one row group per partition in memory.
func RowGroupRows(n int64) Option {
	return optionFunc(func(c *config) {
		if n <= 0 {
			c.fail("row group rows %d is not positive", n)
			return
		}
		c.rowGroupRows = n
	})
}

// MaxFileRows makes a partition of a batch roll over to a new file once
// its file holds n rows: part-<t>-<p>-0.parquet, part-<t>-<p>-1.parquet,
// ... (default 0: no limit, one file per batch partition and Hive
// partition).
func MaxFileRows(n int64) Option {
	return optionFunc(func(c *config) {
		if n < 0 {
			c.fail("max file rows %d is negative", n)
			return
		}
		c.maxFileRows = n
	})
}

// MaxFileBytes makes a partition of a batch roll over to a new file once
// its file is about n bytes (default 0: no limit). The size is parquet-go's
// estimate of the file so far, encoded and compressed, checked after every
// 1024 rows, so a file can exceed n by the size of that many rows and of
// its footer. Combined with MaxFileRows, whichever limit is reached first
// ends a file.
func MaxFileBytes(n int64) Option {
	return optionFunc(func(c *config) {
		if n < 0 {
			c.fail("max file bytes %d is negative", n)
			return
		}
		c.maxFileBytes = n
	})
}

// FilePrefix sets the start of the data files' names (default
// DefaultFilePrefix, "part"): <prefix>-<batch ms>-<partition>-<n>.parquet.
// Jobs or output operations that write into the same directory need
// different prefixes, or the later one replaces the files of the earlier
// one for the same batch time. The prefix must not be empty, start with
// "." or "_" (readers skip such files), or hold "/" or another character
// that EscapePathName escapes.
func FilePrefix(prefix string) Option {
	return optionFunc(func(c *config) {
		switch {
		case prefix == "":
			c.fail("empty file prefix")
		case strings.HasPrefix(prefix, ".") || strings.HasPrefix(prefix, "_"):
			c.fail("file prefix %q starts with %q, which readers take for a hidden file", prefix, prefix[:1])
		case EscapePathName(prefix) != prefix:
			c.fail("file prefix %q holds '/' or another character that needs escaping", prefix)
		default:
			c.prefix = prefix
		}
	})
}

// Partitioning is how rows of type T are spread over Hive partition
// directories: the columns, and the function giving a row's values. Make
// one with PartitionBy and pass it to NewPartitioned or WritePartitioned,
// whose element type must be T: a Partitioning of another type does not
// compile. Its zero value is no partitioning, which NewPartitioned
// refuses.
type Partitioning[T any] struct {
	cols   []string
	values func(T) []string
	err    error // why cols or values are invalid, reported by NewPartitioned
}

// PartitionBy returns a Hive-style partitioning, as Spark's partitionBy
// makes: values(row) gives the row's value of each of the columns cols,
// in order, and the row is written under
//
//	<dir>/<col1>=<value1>/<col2>=<value2>/...
//
// with names and values escaped as Hive and Spark escape them
// (EscapePathName) and an empty value written as DefaultPartitionName.
// Readers such as Spark, Hive and DuckDB (hive_partitioning) recover the
// columns from the paths. T is inferred from values, and
// NewPartitioned and WritePartitioned take only a Partitioning of their
// element type.
//
// The partition columns are not stored in the files: if T has fields that
// hold them, tag them `parquet:"-"`. NewPartitioned returns an error if a
// column of T's Parquet schema has the name of a partition column.
//
// A row whose values cannot make a directory is not written: values
// returned a slice whose length is not len(cols), or a value is not valid
// UTF-8, or its directory name <col>=<escaped value> is longer than
// MaxDirNameBytes. It is rejected (dstream.Partition.Reject) with an
// error wrapping ErrPartitionValue, so it goes to the job's dead letters
// (the output's dstream.WriteSpec.DeadLetter, else the context's
// dead-letter handler, which logs it) and the other rows of the batch are
// written; with FailOnInvalidPartition, it fails the batch instead. A
// panic in values fails the batch.
//
// cols must be non-empty, distinct (ignoring case, as Hive does), not
// empty strings, valid UTF-8, and short enough that <col>=<one byte>
// fits in MaxDirNameBytes once escaped; values must not be nil.
// NewPartitioned reports a violation.
func PartitionBy[T any](cols []string, values func(T) []string) Partitioning[T] {
	if err := checkColumns(cols); err != nil {
		return Partitioning[T]{err: err}
	}
	if values == nil {
		return Partitioning[T]{err: errors.New("nil partition function")}
	}
	return Partitioning[T]{cols: slices.Clone(cols), values: values}
}

// checkColumns checks the partition columns.
func checkColumns(cols []string) error {
	if len(cols) == 0 {
		return errors.New("no partition columns")
	}
	seen := map[string]bool{}
	for _, col := range cols {
		if col == "" {
			return errors.New("empty partition column name")
		}
		if k := strings.ToLower(col); seen[k] {
			return fmt.Errorf("partition column %q given twice", col)
		} else {
			seen[k] = true
		}
		if !utf8.ValidString(col) {
			return fmt.Errorf("partition column name %q is not valid UTF-8", col)
		}
		if n := len(EscapePathName(col)) + len("=x"); n > MaxDirNameBytes {
			return fmt.Errorf("partition column name %s is too long: its directory names would be at least %d bytes long, more than MaxDirNameBytes (%d)", quoteStart(col), n, MaxDirNameBytes)
		}
	}
	return nil
}

// FailOnInvalidPartition makes a row whose Hive partition directory
// cannot be made (see PartitionBy) fail the batch, with an error wrapping
// ErrPartitionValue, instead of going to the job's dead letters; nothing
// of the failed batch is committed. By default such a row is rejected and
// the rest of the batch is written. Use it when the table must hold
// every row or the job must stop (Spark fails the write in that case): a
// PartitionBy function that returns the wrong number of values is a bug
// that would otherwise send every row to the dead letters, and a
// dead-letter handler that only logs loses the rows. Without PartitionBy,
// every row has a place and it changes nothing.
func FailOnInvalidPartition() Option {
	return optionFunc(func(c *config) { c.failInvalid = true })
}

// WriterOptions passes options to parquet-go's writer, applied after the
// ones this package sets (compression, row group size), so they can
// override them: page buffer size, data page version, key-value metadata,
// bloom filters, sorting columns and so on. Invalid ones make New return
// an error.
func WriterOptions(opts ...parquet.WriterOption) Option {
	return optionFunc(func(c *config) {
		for _, o := range opts {
			if o == nil {
				c.fail("nil parquet writer option")
				return
			}
		}
		c.writerOpts = append(c.writerOpts, opts...)
	})
}

// Storage makes the sink open its directory through opener instead of
// storage.Open: the opener holds the credentials that a URI cannot
// carry, such as the logged-in Kerberos client of an hdfs:// directory
// on a Kerberized cluster. A job opens all its URIs through one Opener.
// A nil opener is storage.Open's default, as without the option.
func Storage(opener *storage.Opener) Option {
	return optionFunc(func(c *config) { c.opener = opener })
}
