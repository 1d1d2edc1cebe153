package parquetsink

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
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

// An Option configures Write. Options are checked by Write, which returns
// an error for an invalid one: no option panics.
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

	partitionCols []string
	partitionFn   any          // a func(T) []string, checked against T by Write
	partitionType reflect.Type // T of the PartitionBy function, for messages

	deadLetter     any          // a func(T, error), checked against T by Write
	deadLetterType reflect.Type // T of the DeadLetter function, for messages
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

// PartitionBy writes the rows in Hive-style partition directories, as
// Spark's partitionBy does: values(row) gives the row's value of each of
// the columns cols, in order, and the row is written under
//
//	<dir>/<col1>=<value1>/<col2>=<value2>/...
//
// with names and values escaped as Hive and Spark escape them
// (EscapePathName) and an empty value written as DefaultPartitionName.
// Readers such as Spark, Hive and DuckDB (hive_partitioning) recover the
// columns from the paths.
//
// The partition columns are not stored in the files: if T has fields that
// hold them, tag them `parquet:"-"`. Write returns an error if a column of
// T's Parquet schema has the name of a partition column, or if values is
// not a func(T) []string for the stream's element type T.
//
// A row whose values cannot make a directory is not written: values
// returned a slice whose length is not len(cols), or a value is not valid
// UTF-8, or its directory name <col>=<escaped value> is longer than
// MaxDirNameBytes. It goes to the DeadLetter function with an error
// wrapping ErrPartitionValue, and the other rows of the batch are
// written; without DeadLetter, it fails the batch with that error. A
// panic in values fails the batch.
//
// cols must be non-empty, distinct (ignoring case, as Hive does), not
// empty strings, valid UTF-8, and short enough that <col>=<one byte>
// fits in MaxDirNameBytes once escaped.
func PartitionBy[T any](cols []string, values func(T) []string) Option {
	return optionFunc(func(c *config) {
		switch {
		case values == nil:
			c.fail("nil partition function")
			return
		case len(cols) == 0:
			c.fail("no partition columns")
			return
		}
		seen := map[string]bool{}
		for _, col := range cols {
			if col == "" {
				c.fail("empty partition column name")
				return
			}
			if k := strings.ToLower(col); seen[k] {
				c.fail("partition column %q given twice", col)
				return
			} else {
				seen[k] = true
			}
			if !utf8.ValidString(col) {
				c.fail("partition column name %q is not valid UTF-8", col)
				return
			}
			if n := len(EscapePathName(col)) + len("=x"); n > MaxDirNameBytes {
				c.fail("partition column name %s is too long: its directory names would be at least %d bytes long, more than MaxDirNameBytes (%d)", quoteStart(col), n, MaxDirNameBytes)
				return
			}
		}
		c.partitionCols = append([]string(nil), cols...)
		c.partitionFn = values
		c.partitionType = reflect.TypeFor[T]()
	})
}

// DeadLetter hands f the rows that cannot be placed in a Hive partition
// directory (see PartitionBy), each with an error wrapping
// ErrPartitionValue that says which column and why, instead of failing
// the batch: the other rows of the batch are written. f runs while the
// batch is written, before its files are committed, and may be called
// concurrently for rows of different partitions of the batch, so it must
// be safe for concurrent use and should not block for long; a batch that
// fails for another reason and runs again hands f its rows again. A
// panic in f fails the batch.
//
// Write returns an error if f is not a func(T, error) for the stream's
// element type T. Without PartitionBy, every row has a place and f is
// never called.
func DeadLetter[T any](f func(row T, err error)) Option {
	return optionFunc(func(c *config) {
		if f == nil {
			c.fail("nil dead letter function")
			return
		}
		c.deadLetter = f
		c.deadLetterType = reflect.TypeFor[T]()
	})
}

// WriterOptions passes options to parquet-go's writer, applied after the
// ones this package sets (compression, row group size), so they can
// override them: page buffer size, data page version, key-value metadata,
// bloom filters, sorting columns and so on. Invalid ones make Write return
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
